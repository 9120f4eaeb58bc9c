package steps

import (
	"fmt"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("open", openStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:    "open",
		Summary: "Opens the contact's conversation; nothing happens when it is open.",
		Example: `- open`,
	})
}

// openStep opens the contact's conversation.
type openStep struct{}

// Run opens the conversation and goes on.
func (openStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	if err := rt.OpenConversation(); err != nil {
		return Outcome{}, fmt.Errorf("open: %w", err)
	}
	return Outcome{Kind: Next}, nil
}
