package steps

import (
	"fmt"

	"github.com/wxflow/wxflow/flows"
)

var branchCase = flows.ObjectOf("branch case", "branch case",
	flows.Field{Name: "if", Type: flows.BoolExpr, Doc: "The case is taken when this is true."},
	flows.Field{Name: "then", Type: flows.Steps, Doc: "The steps to run."},
	flows.Field{Name: "goto", Type: flows.Ref, Doc: "Or: the step to go to."},
	flows.Field{Name: "else", Type: flows.StepsOrRef, Doc: "The last case: steps, or a step id, when no case is true."},
)

func init() {
	register("branch", branchStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "branch",
		Summary:     "Runs the first case whose condition is true; without a true case and an else, goes on.",
		Arg:         flows.ListOf(branchCase, true),
		ArgRequired: true,
		ArgDoc:      "a list of {if: condition, then: [steps]} or {if: condition, goto: id}, and a last {else: [steps]} or {else: id}",
		Check:       checkBranch,
		Exhaustive: func(s *flows.Step) bool {
			cases, _ := s.Arg.([]any)
			if len(cases) == 0 {
				return false
			}
			last, _ := cases[len(cases)-1].(*flows.Object)
			return last.Has("else")
		},
		Example: `- branch:
    - if: contact.fields.city == "Shanghai"
      then:
        - send: "See you at our Nanjing Road store!"
    - if: "'vip' in contact.tags"
      goto: vip
    - else:
        - send: "Find your nearest store: https://example.com/stores"`,
	})
}

func checkBranch(s *flows.Step, r *flows.Reporter) {
	cases, _ := s.Arg.([]any)
	for i, c := range cases {
		o, ok := c.(*flows.Object)
		if !ok || o == nil {
			continue
		}
		switch {
		case o.Given("else"):
			if o.Given("if") || o.Given("then") || o.Given("goto") {
				r.Errorf(o.KeyPos["else"], "write else: as a case of its own: - else: [...]", "else: stands alone, without if:, then: or goto:")
			}
			if i != len(cases)-1 && !o.Given("if") {
				r.Errorf(o.KeyPos["else"], "move it to the end", "else: must be the last case of a branch")
			}
		case !o.Given("if"):
			r.Errorf(o.Pos, "add if: condition, or make it the else: case", "branch case has no if:")
		case o.Given("then") && o.Given("goto"):
			r.Errorf(o.KeyPos["goto"], "use then: or goto:, not both", "branch case has both then: and goto:")
		case !o.Given("then") && !o.Given("goto"):
			r.Errorf(o.Pos, "add then: [steps] or goto: step_id", "branch case has no then: or goto:")
		}
	}
}

// branchStep runs the first case whose condition is true.
type branchStep struct{}

// Run evaluates the cases in order: the first true one's then: steps are
// entered, or its goto: taken; else: when none is true; Next without it.
func (branchStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	cases, _ := s.Arg.([]any)
	for i, c := range cases {
		o, _ := c.(*flows.Object)
		if o == nil {
			continue
		}
		if o.Has("else") {
			t, _ := o.Get("else").(*flows.Target)
			return TargetOutcome(t), nil
		}
		e := o.Expr("if")
		if e == nil {
			return Outcome{}, fmt.Errorf("branch: case %d has no condition", i+1)
		}
		ok, err := e.EvalBool(rt.Env())
		if err != nil {
			return Outcome{}, fmt.Errorf("branch: %w", err)
		}
		if !ok {
			continue
		}
		if ref := o.Ref("goto"); ref != "" {
			return Outcome{Kind: Goto, Target: ref}, nil
		}
		steps, _ := o.Get("then").([]*flows.Step)
		return Outcome{Kind: Enter, Steps: steps}, nil
	}
	return Outcome{Kind: Next}, nil
}
