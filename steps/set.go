package steps

import (
	"fmt"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// Assignment is one `target: value` of a set step; Value is a JSON value
// whose strings are templates.
type Assignment struct {
	Target string
	Value  any
	// Pos is where the target is written.
	Pos flows.Pos
}

func init() {
	register("set", setStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "set",
		Summary:     "Sets run variables or contact fields.",
		ArgRequired: true,
		ArgDoc:      "a map of target (vars.x, contact.fields.x) to value",
		Arg: flows.Refine(flows.MapOf(flows.JSON), "assignments", "A map of `vars.<name>` or `contact.fields.<name>` to a value.",
			func(v any, at flows.Pos, r *flows.Reporter) (any, bool) {
				o := v.(*flows.Object)
				if len(o.Keys) == 0 {
					r.Errorf(at, "write set: { vars.x: value }", "set has nothing to set")
					return nil, false
				}
				var out []Assignment
				ok := true
				for _, k := range o.Keys {
					if !flows.IsSavePath(k) {
						r.Errorf(o.KeyPos[k], flows.SavePathHint(k), "cannot set %q", k)
						ok = false
						continue
					}
					out = append(out, Assignment{Target: k, Value: o.Get(k), Pos: o.KeyPos[k]})
				}
				return out, ok
			}),
		Writes: func(s *flows.Step) []flows.VarWrite {
			assignments, _ := s.Arg.([]Assignment)
			var out []flows.VarWrite
			for _, a := range assignments {
				if name, ok := strings.CutPrefix(a.Target, "vars."); ok {
					out = append(out, flows.VarWrite{Name: name, Type: flows.VarTypeOf(a.Value), Pos: a.Pos, Value: a.Value})
				}
			}
			return out
		},
		Example: `- set:
    vars.attempts: 0
    contact.fields.city: "${answer}"`,
	})
}

// setStep stores values in run variables and contact fields.
type setStep struct{}

// Run evaluates each assignment in order and saves it, so that a later
// value can use an earlier one. A value that is exactly one `${expr}`
// keeps the expression's type; maps and lists are rendered item by item.
func (setStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	assignments, _ := s.Arg.([]Assignment)
	for _, a := range assignments {
		v, err := renderValue(rt.Env(), a.Value)
		if err != nil {
			return Outcome{}, fmt.Errorf("set: %s: %w", a.Target, err)
		}
		if err := rt.Save(a.Target, v); err != nil {
			return Outcome{}, fmt.Errorf("set: %s: %w", a.Target, err)
		}
	}
	return Outcome{Kind: Next}, nil
}
