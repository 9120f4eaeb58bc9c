package steps

import "github.com/wxflow/wxflow/flows"

// Assignment is one `target: value` of a set step; Value is a JSON value
// whose strings are templates.
type Assignment struct {
	Target string
	Value  any
}

func init() {
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
						r.Errorf(o.KeyPos[k], "use vars.<name> or contact.fields.<name>", "cannot set %q", k)
						ok = false
						continue
					}
					out = append(out, Assignment{Target: k, Value: o.Get(k)})
				}
				return out, ok
			}),
		Example: `- set:
    vars.attempts: 0
    contact.fields.city: "${answer}"`,
	})
}
