package triggers

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:             "follow",
		Summary:          "Someone follows the account.",
		Input:            "`subscribe` event",
		Arg:              flows.Glob,
		ArgDoc:           "optional scene glob: only follows that came through a QR code whose scene matches",
		Interaction:      "event",
		InterruptDefault: true,
		Inputs:           globInputs("qrscene"),
		Example: `- follow
- follow: store_*`,
	})
}
