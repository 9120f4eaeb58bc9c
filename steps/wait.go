package steps

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:    "wait",
		Summary: "Pauses the run for a duration, or until a time.",
		Arg:     flows.Duration,
		ArgDoc:  "a duration (10m, 2h, 3d); or nothing, with until:",
		Keys: []flows.Field{
			{Name: "until", Type: flows.TimeExpr, Doc: "An expression giving the time to wait until, instead of a duration."},
		},
		Suspends: true,
		Check: func(s *flows.Step, r *flows.Reporter) {
			switch {
			case s.HasArg && s.Args.Given("until"):
				r.Errorf(s.Args.KeyPos["until"], "use one of them", "wait has both a duration and until:")
			case !s.HasArg && !s.Args.Given("until"):
				r.Errorf(s.Pos, "write wait: 2h, or wait: with until: an expression", "wait needs a duration or until:")
			}
		},
		Example: `- wait: 2h
- wait:
  until: vars.appointment.Add(duration("-1h"))`,
	})
}
