package steps

import "github.com/wxflow/wxflow/flows"

func init() {
	register("end", endStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:     "end",
		Summary:  "Ends the run.",
		Terminal: true,
		Example: `- end
- id: done
  end:`,
	})
}

// StatusCompleted is the status of a run that ended normally.
const StatusCompleted = "completed"

// endStep ends the run as completed.
type endStep struct{}

// Run ends the run.
func (endStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	return Outcome{Kind: End, Status: StatusCompleted}, nil
}
