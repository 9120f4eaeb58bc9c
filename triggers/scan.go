package triggers

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:             "scan",
		Summary:          "Someone scans a QR code with a scene (followers, and new followers who came through one).",
		Input:            "`SCAN` event, and `subscribe` whose EventKey is `qrscene_...`",
		Arg:              flows.Glob,
		ArgRequired:      true,
		ArgDoc:           "a scene glob, e.g. store_*",
		Interaction:      "event",
		InterruptDefault: true,
		Inputs:           globInputs("qrscene"),
		Example:          `- scan: store_*`,
	})
}
