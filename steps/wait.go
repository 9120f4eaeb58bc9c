package steps

import (
	"errors"
	"fmt"
	"time"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("wait", waitStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:    "wait",
		Summary: "Pauses the run for a duration, or until a time.",
		Arg: flows.OneOf("duration or until map", flows.Duration, flows.ObjectOf("wait until", "wait step",
			flows.Field{Name: "until", Type: flows.TimeExpr, Required: true, Example: `now.Add(duration("2h"))`, Doc: "An expression giving the time to wait until."},
		)),
		ArgDoc: "a duration (10m, 2h, 3d); or a map with until: (wait: {until: EXPR}); or nothing, with until: beside it",
		Keys: []flows.Field{
			{Name: "until", Type: flows.TimeExpr, Doc: "An expression giving the time to wait until, instead of a duration."},
		},
		Suspends: true,
		Check: func(s *flows.Step, r *flows.Reporter) {
			switch {
			case s.HasArg && s.Args.Given("until"):
				if _, isMap := s.Arg.(*flows.Object); isMap {
					r.Errorf(s.Args.KeyPos["until"], "keep the one inside wait:", "wait has until: both inside and beside it")
					break
				}
				r.Errorf(s.Args.KeyPos["until"], "use one of them", "wait has both a duration and until:")
			case !s.HasArg && !s.Args.Given("until"):
				r.Errorf(s.Pos, "write wait: 2h, or wait: {until: EXPR}", "wait needs a duration or until:")
			}
		},
		Example: `- wait: 2h
- wait: { until: vars.appointment.Add(duration("-1h")) }
- wait:
  until: vars.appointment.Add(duration("-1h"))`,
	})
}

// waitStep suspends the run for a duration or until a time.
type waitStep struct{}

// Run returns WaitUntil now plus the duration, or the time until: gives;
// a time that is not after now goes straight on.
func (waitStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	now := rt.Now()
	if d, ok := s.Arg.(time.Duration); ok {
		return Outcome{Kind: WaitUntil, Until: now.Add(d)}, nil
	}
	e := s.Args.Expr("until")
	if o, ok := s.Arg.(*flows.Object); ok {
		e = o.Expr("until")
	}
	if e == nil {
		return Outcome{}, errors.New("wait: no duration and no until:")
	}
	v, err := e.Eval(rt.Env())
	if err != nil {
		return Outcome{}, fmt.Errorf("wait: %w", err)
	}
	until, ok := v.(time.Time)
	if !ok {
		return Outcome{}, fmt.Errorf("wait: until: %q gave %s, want a time", e.Src, describe(v))
	}
	if !until.After(now) {
		return Outcome{Kind: Next}, nil
	}
	return Outcome{Kind: WaitUntil, Until: until}, nil
}

// Resume goes on once the time has come.
func (waitStep) Resume(rt Runtime, s *flows.Step, in Input) (Outcome, error) {
	if in.Kind != Elapsed {
		return Outcome{}, fmt.Errorf("wait: resumed with %s, want elapsed", in.Kind)
	}
	return Outcome{Kind: Next}, nil
}

// describe names a value's type for an error message.
func describe(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T %v", v, v)
}
