package steps

import (
	"errors"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("goto", gotoStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "goto",
		Summary:     "Jumps to the step with this id; a run that jumps 100 times without waiting (`ask`, `wait`) stops as `looping`.",
		Arg:         flows.Ref,
		ArgRequired: true,
		ArgDoc:      "a step id",
		Terminal:    true,
		Example:     `- goto: menu`,
	})
}

// gotoStep jumps to a step id; the engine counts the jumps.
type gotoStep struct{}

// Run jumps to the step id.
func (gotoStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	ref, _ := s.Arg.(flows.StepRef)
	if ref == "" {
		return Outcome{}, errors.New("goto: no step id")
	}
	return Outcome{Kind: Goto, Target: ref}, nil
}
