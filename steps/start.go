package steps

import (
	"errors"
	"fmt"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("start", startStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "start",
		Summary:     "Starts another flow for the contact; this run goes on.",
		Arg:         flows.FlowRef,
		ArgRequired: true,
		ArgDoc:      "the name of a flow",
		Example:     `- start: survey`,
	})
}

// startStep starts another flow for the contact and goes on.
type startStep struct{}

// Run asks the runtime to start the flow, then goes on.
func (startStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	name, _ := s.Arg.(string)
	if name == "" {
		return Outcome{}, errors.New("start: no flow name")
	}
	if err := rt.Start(name); err != nil {
		return Outcome{}, fmt.Errorf("start: %s: %w", name, err)
	}
	return Outcome{Kind: Next}, nil
}
