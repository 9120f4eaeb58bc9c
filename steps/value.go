package steps

import (
	"fmt"

	"github.com/wxflow/wxflow/flows"
)

// renderValue evaluates a JSON value of a flow (set:'s values, http's
// json:) in env: its templates are rendered, a template that is exactly
// one `${expr}` keeping the expression's type; maps and lists are rendered
// item by item into map[string]any and []any; other values are kept.
func renderValue(env *flows.Env, v any) (any, error) {
	switch v := v.(type) {
	case *flows.Template:
		if v == nil {
			return nil, nil
		}
		return v.Eval(env)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			r, err := renderValue(env, x)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case *flows.Object:
		if v == nil {
			return nil, nil
		}
		out := make(map[string]any, len(v.Keys))
		for _, k := range v.Keys {
			r, err := renderValue(env, v.Values[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			r, err := renderValue(env, x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// refOr returns Goto ref when ref is set, and otherwise.
func refOr(ref flows.StepRef, otherwise Outcome) Outcome {
	if ref != "" {
		return Outcome{Kind: Goto, Target: ref}
	}
	return otherwise
}
