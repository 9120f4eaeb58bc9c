package steps

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "untag",
		Summary:     "Removes tags from the contact.",
		Arg:         flows.ListOf(flows.Text, true),
		ArgRequired: true,
		ArgDoc:      "a list of tags",
		Check:       checkTags,
		Example:     `- untag: [wants_human]`,
	})
}
