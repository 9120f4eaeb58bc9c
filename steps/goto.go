package steps

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "goto",
		Summary:     "Jumps to the step with this id; a run stops as `looping` after 100 jumps.",
		Arg:         flows.Ref,
		ArgRequired: true,
		ArgDoc:      "a step id",
		Terminal:    true,
		Example:     `- goto: menu`,
	})
}
