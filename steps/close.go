package steps

import (
	"fmt"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("close", closeStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:    "close",
		Summary: "Closes the contact's conversation, which clears its assignee and team; nothing happens when it is closed.",
		Arg: flows.ObjectOf("closing", "close step",
			flows.Field{Name: "note", Type: flows.Text, Doc: "A closing note, kept with the conversation."},
			flows.Field{Name: "category", Type: flows.Text, Doc: "A category for the close (`solved`, `spam`, ...), kept with the conversation."},
		),
		ArgDoc: "a map with `note:` and/or `category:`",
		Example: `- close
- close: { note: "solved by the bot", category: "${vars.topic}" }`,
	})
}

// closeStep closes the contact's conversation.
type closeStep struct{}

// Run renders the note and category, closes the conversation and goes
// on.
func (closeStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	var note, category string
	if o, _ := s.Arg.(*flows.Object); o != nil {
		for _, f := range []struct {
			key string
			to  *string
		}{{"note", &note}, {"category", &category}} {
			t := o.Template(f.key)
			if t == nil {
				continue
			}
			v, err := t.Render(rt.Env())
			if err != nil {
				return Outcome{}, fmt.Errorf("close: %s: %w", f.key, err)
			}
			*f.to = strings.TrimSpace(v)
		}
	}
	if err := rt.CloseConversation(note, category); err != nil {
		return Outcome{}, fmt.Errorf("close: %w", err)
	}
	return Outcome{Kind: Next}, nil
}
