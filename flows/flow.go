package flows

import (
	"time"
)

// Flow is one loaded and validated flow file.
type Flow struct {
	Name        string
	Description string
	Account     string
	Cooldown    time.Duration
	// Reentry is "ignore" or "restart".
	Reentry string
	// VarDecls are the variables declared under `vars:`, in file order.
	VarDecls []VarDecl
	Triggers []*Trigger
	Steps    []*Step
	// File is the path the flow was loaded from.
	File string
	// Source is the file's content.
	Source []byte
	// Version identifies the flow's content: "sha256:" and the first 16 hex
	// digits of the SHA-256 of the file. Runs keep the version they started
	// with.
	Version string
	// NamePos is where the flow's name is written.
	NamePos Pos
	// cooldownPos is where the cooldown is written.
	cooldownPos Pos
	// Diags are the problems found in this file.
	Diags Diagnostics

	// parsedSteps are the steps that parsed, nested ones included, in
	// document order, and parsedTriggers the triggers that parsed without
	// error: in a file with errors, Steps and Triggers are nil when one
	// of them has an error, but the checks between flows still see these.
	parsedSteps    []*Step
	parsedTriggers []*Trigger
	// menuUnsure is set when a trigger that did not parse may be a menu
	// trigger: no menu key is then said to have no flow.
	menuUnsure bool
}

// Step is one parsed step of a flow.
type Step struct {
	// Kind is the step's kind key (`send`, `ask`, ...).
	Kind string
	// ID is the step's `id:`, or "".
	ID string
	// If is the step's `if:` condition, or nil.
	If *Expr
	// Arg is the parsed value of the kind key (nil when it has none).
	Arg any
	// HasArg reports whether the kind key was given a value (even an
	// invalid one).
	HasArg bool
	// Args holds the step's other keys.
	Args *Object
	// Pos is where the step starts; ArgPos where the kind key's value is.
	Pos, ArgPos Pos
	// Spec is the kind's registered spec.
	Spec *StepSpec
}

// Trigger is one parsed trigger of a flow.
type Trigger struct {
	// Kind is the trigger's kind key (`follow`, `keyword`, ...).
	Kind string
	// Arg is the parsed value of the kind key (nil when it has none).
	Arg any
	// If is the trigger's `if:` guard, or nil.
	If *Expr
	// Priority orders flows that match the same input (default 0).
	Priority int
	// Interrupt says whether the trigger may start its flow while the
	// contact's run waits for an answer.
	Interrupt bool
	// Args holds the trigger's kind-specific sibling keys.
	Args *Object
	// Pos is where the trigger starts; ArgPos where its argument is.
	Pos, ArgPos Pos
	// Spec is the kind's registered spec.
	Spec *TriggerSpec
}

// Walk calls fn for every step of the flow, nested ones included, in
// document order.
func (f *Flow) Walk(fn func(s *Step)) { walkSteps(f.Steps, fn) }

func walkSteps(steps []*Step, fn func(s *Step)) {
	for _, s := range steps {
		fn(s)
		for _, child := range s.Children() {
			walkSteps(child.Steps, fn)
		}
	}
}

// Child is a nested step list of a step, or a jump it may take, with the
// label the graph and the analysis give it ("then", "on_timeout", ...).
type Child struct {
	Label string
	Steps []*Step
	Ref   StepRef
	Pos   Pos
}

// Children returns the step's nested step lists and jumps, in document
// order: every []*Step, *Target and StepRef found in its values.
func (s *Step) Children() []Child {
	var out []Child
	var visit func(label string, v any, pos Pos)
	visit = func(label string, v any, pos Pos) {
		switch v := v.(type) {
		case []*Step:
			out = append(out, Child{Label: label, Steps: v, Pos: pos})
		case *Target:
			if v.Ref != "" {
				out = append(out, Child{Label: label, Ref: v.Ref, Pos: v.Pos})
			} else {
				out = append(out, Child{Label: label, Steps: v.Steps, Pos: v.Pos})
			}
		case StepRef:
			out = append(out, Child{Label: label, Ref: v, Pos: pos})
		case []any:
			for _, e := range v {
				visit(label, e, pos)
			}
		case *Object:
			if v == nil {
				return
			}
			// A case of a branch: {if: cond, then: [...]} is labelled by its
			// condition.
			sub := label
			if e := v.Expr("if"); e != nil {
				sub = e.Src
			}
			for _, k := range v.Keys {
				l := k
				if k == "then" || k == "goto" {
					l = sub
				}
				visit(l, v.Values[k], v.At(k))
			}
		}
	}
	visit(s.Kind, s.Arg, s.ArgPos)
	if s.Args != nil {
		for _, k := range s.Args.Keys {
			visit(k, s.Args.Values[k], s.Args.At(k))
		}
	}
	return out
}
