package steps

import (
	"fmt"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("untag", untagStep{})
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

// untagStep removes the contact tags its templates render to.
type untagStep struct{}

// Run renders the tags and removes them; empty ones are skipped.
func (untagStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	tags, err := renderTags(rt.Env(), s)
	if err != nil {
		return Outcome{}, fmt.Errorf("untag: %w", err)
	}
	if len(tags) > 0 {
		rt.Untag(tags...)
	}
	return Outcome{Kind: Next}, nil
}
