package flows_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// TestRequiredFieldsHaveExamples checks that every required key of the
// flow, of a step or of a trigger, however deep, has an Example: the
// error for a missing one shows it in its hint ("add team:, e.g. team:
// support").
func TestRequiredFieldsHaveExamples(t *testing.T) {
	seen := map[*flows.Type]bool{}
	var walkType func(where string, ty *flows.Type)
	walkFields := func(where string, fields []flows.Field) {
		for _, f := range fields {
			if f.Required && f.Example == "" {
				t.Errorf("%s: required key %q has no Example", where, f.Name)
			}
			walkType(where+"."+f.Name, f.Type)
		}
	}
	walkType = func(where string, ty *flows.Type) {
		if ty == nil || seen[ty] {
			return
		}
		seen[ty] = true
		walkFields(where, ty.Fields)
		walkType(where, ty.Elem)
		for _, a := range ty.Alts {
			walkType(where, a)
		}
	}
	walkFields("flow", flows.FlowKeys())
	for _, s := range flows.StepSpecs() {
		walkType(s.Kind, s.Arg)
		walkFields(s.Kind, s.Keys)
	}
	for _, tr := range flows.TriggerSpecs() {
		walkType(tr.Kind, tr.Arg)
		walkFields(tr.Kind, tr.Keys)
	}
}

// TestStepsNestedTooDeep: steps nested past the limit are reported at
// the innermost list with a hint on flattening them; there was no hint.
func TestStepsNestedTooDeep(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: deep\ntriggers: [follow]\nsteps:\n")
	indent := "  "
	for i := 0; i < 70; i++ {
		fmt.Fprintf(&b, "%s- branch:\n%s    - if: true\n%s      then:\n", indent, indent, indent)
		indent += "        "
	}
	fmt.Fprintf(&b, "%s- send: hi\n", indent)
	_, diags := flows.LoadFile("flow.yaml", []byte(b.String()), flows.Options{})
	for _, d := range diags {
		if strings.Contains(d.Message, "nested more than") {
			if !strings.Contains(d.Hint, "goto:") {
				t.Errorf("no hint on flattening: %s", d)
			}
			return
		}
	}
	t.Errorf("no diagnostic on the nesting: %v", diags)
}
