package steps

import (
	"strings"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "tag",
		Summary:     "Adds tags to the contact.",
		Arg:         flows.ListOf(flows.Text, true),
		ArgRequired: true,
		ArgDoc:      "a list of tags",
		Check:       checkTags,
		Example:     `- tag: [vip, "store_${event.scene}"]`,
	})
}

// checkTags refuses empty tag names (tag and untag).
func checkTags(s *flows.Step, r *flows.Reporter) {
	tags, _ := s.Arg.([]any)
	for _, t := range tags {
		if tt, ok := t.(*flows.Template); ok && strings.TrimSpace(tt.Src) == "" {
			r.Errorf(s.ArgPos, "remove the empty tag", "empty tag name")
		}
	}
}
