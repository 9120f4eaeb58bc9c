package steps

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("comment", commentStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "comment",
		Summary:     "Adds an internal note to the contact's conversation, for the operators; the contact never sees it.",
		Arg:         flows.Text,
		ArgRequired: true,
		ArgDoc:      "the note's text",
		Check: func(s *flows.Step, r *flows.Reporter) {
			if t, ok := s.Arg.(*flows.Template); ok && strings.TrimSpace(t.Src) == "" {
				r.Errorf(s.ArgPos, "write the note, e.g. comment: \"asked for a refund\"", "empty comment")
			}
		},
		Example: `- comment: "Order ${vars.order}: asked for a refund"`,
	})
}

// commentStep adds an internal note to the conversation.
type commentStep struct{}

// Run renders the note and adds it; a note that renders empty is left
// out.
func (commentStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	t, _ := s.Arg.(*flows.Template)
	if t == nil {
		return Outcome{}, errors.New("comment: no text")
	}
	text, err := t.Render(rt.Env())
	if err != nil {
		return Outcome{}, fmt.Errorf("comment: %w", err)
	}
	if text = strings.TrimSpace(text); text != "" {
		if err := rt.Comment(text); err != nil {
			return Outcome{}, fmt.Errorf("comment: %w", err)
		}
	}
	return Outcome{Kind: Next}, nil
}
