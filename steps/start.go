package steps

import (
	"errors"
	"fmt"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("start", startStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:    "start",
		Summary: "Starts another flow for the contact; this run goes on. The started flow begins once this run waits (a `wait`, an `ask`) or ends, so its messages come after this run's up to there; when it reaches an `ask` it takes the conversation over, and an `ask` of this run waiting then ends as interrupted: end this run with the `start`, or `ask` in the started flow. The started run gets the variables given in `vars:`, which that flow must declare.",
		Arg: flows.OneOf("flow to start", flows.FlowRef, flows.ObjectOf("start", "start step",
			flows.Field{Name: "flow", Type: flows.FlowRef, Required: true, Example: "welcome", Doc: "The name of the flow to start."},
			flows.Field{Name: "vars", Type: flows.MapOf(flows.JSON), Doc: "Values for variables the started flow declares under `vars:` (`name: value`; texts are templates, evaluated in this run)."},
		)),
		ArgRequired: true,
		ArgDoc:      "the name of a flow, or a map of flow: and vars:",
		Example: `- start: survey
- start:
    flow: order-status
    vars: { order_id: "${vars.order}" }`,
	})
}

// startStep starts another flow for the contact and goes on.
type startStep struct{}

// Run evaluates the variables to give, asks the runtime to start the
// flow with them, then goes on.
func (startStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	name, vars := flows.StartTarget(s)
	if name == "" {
		return Outcome{}, errors.New("start: no flow name")
	}
	var values map[string]any
	if vars != nil {
		v, err := renderValue(rt.Env(), vars)
		if err != nil {
			return Outcome{}, fmt.Errorf("start: %s: vars: %w", name, err)
		}
		values, _ = v.(map[string]any)
	}
	if err := rt.Start(name, values); err != nil {
		return Outcome{}, fmt.Errorf("start: %s: %w", name, err)
	}
	return Outcome{Kind: Next}, nil
}
