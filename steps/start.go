package steps

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "start",
		Summary:     "Starts another flow for the contact; this run goes on.",
		Arg:         flows.FlowRef,
		ArgRequired: true,
		ArgDoc:      "the name of a flow",
		Example:     `- start: survey`,
	})
}
