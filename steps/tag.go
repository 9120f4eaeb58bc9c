package steps

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "tag",
		Summary:     "Adds tags to the contact.",
		Arg:         flows.ListOf(flows.Text, true),
		ArgRequired: true,
		ArgDoc:      "a list of tags",
		Example:     `- tag: [vip, "store_${event.scene}"]`,
	})
}
