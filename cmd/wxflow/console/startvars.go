package console

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/flows"
)

// VarView is a variable a flow declares under `vars:`: what the start
// forms and the start API take.
type VarView struct {
	Name string        `json:"name"`
	Type flows.VarType `json:"type"`
}

// varViews are a flow's declared variables, in file order.
func varViews(f *flows.Flow) []VarView {
	out := make([]VarView, len(f.VarDecls))
	for i, d := range f.VarDecls {
		out[i] = VarView{Name: d.Name, Type: d.Type}
	}
	return out
}

// Placeholder is what the flow page's input for the variable shows
// before anything is typed: how a value of its type is written.
func (v VarView) Placeholder() string {
	switch v.Type {
	case flows.VarText:
		return "text"
	case flows.VarNumber:
		return "a number: 3, 2.5"
	case flows.VarTime:
		return "2027-01-31T09:30:00+08:00"
	case flows.VarList:
		return "a list: [a, b]"
	case flows.VarMap:
		return "a map: {size: L, qty: 2}"
	}
	return "any value: text, 3, [a, b], {k: v}"
}

// varsSummary says what a flow declares in a line ("order: text, n:
// number"), or "" when it declares nothing.
func varsSummary(f *flows.Flow) string {
	parts := make([]string, len(f.VarDecls))
	for i, d := range f.VarDecls {
		parts[i] = d.Name + ": " + string(d.Type)
	}
	return strings.Join(parts, ", ")
}

// typedVar makes what an operator typed for a variable of type t a value
// of that type: text as typed; a number parsed; true or false (yes, no);
// a time as its text, which flows.FitVar reads as RFC 3339; a list, a
// map or any value read as YAML (JSON is YAML).
func typedVar(t flows.VarType, s string) (any, error) {
	switch t {
	case flows.VarText:
		return s, nil
	case flows.VarNumber:
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("expects a number (3, 2.5, -1e3), not %q", s)
		}
		return n, nil
	case flows.VarBool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes":
			return true, nil
		case "false", "no":
			return false, nil
		}
		return nil, fmt.Errorf("expects true or false, not %q", s)
	case flows.VarTime:
		return strings.TrimSpace(s), nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		return nil, fmt.Errorf("expects %s written in YAML or JSON: %s", t.Phrase(), yamlProblem(err))
	}
	if len(n.Content) == 0 {
		return nil, nil
	}
	return nodeValue(n.Content[0])
}

// nodeValue is a YAML value as JSON would carry it: maps with text keys.
func nodeValue(n *yaml.Node) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("cannot be read: %s", yamlProblem(err))
	}
	return flows.JSONShape(v), nil
}

// yamlProblem is a YAML error without its "yaml: " prefix.
func yamlProblem(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// startVars makes what an operator typed for each variable (name to
// text; an empty text is no value) the flow's variables, each converted
// as its declaration says (typedVar) and checked by the flow
// (flows.FitVars). A name the flow does not declare is an error listing
// what it declares; every problem names its variable.
func startVars(f *flows.Flow, typed map[string]string) (map[string]any, error) {
	vars := map[string]any{}
	var problems []string
	for _, name := range sortedKeys(typed) {
		s := typed[name]
		if strings.TrimSpace(s) == "" {
			continue
		}
		t, ok := declaredType(f, name)
		if !ok {
			vars[name] = s // FitVars says what the flow declares
			continue
		}
		v, err := typedVar(t, s)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if v != nil {
			vars[name] = v
		}
	}
	return fitVars(f, vars, problems)
}

// fitVars checks vars with the flow's FitVars, with the problems found
// converting them before (each "name: what is wrong"); nil when no
// variable is given.
func fitVars(f *flows.Flow, vars map[string]any, problems []string) (map[string]any, error) {
	fit, err := f.FitVars(vars)
	if err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), "variables of flow "+f.Name+": "))
	}
	if len(problems) > 0 {
		return nil, badRequest("variables of flow %s: %s", f.Name, strings.Join(problems, "; "))
	}
	if len(fit) == 0 {
		return nil, nil
	}
	return fit, nil
}

// varsBoxExample is how the conversation page's Variables box is written.
const varsBoxExample = "order: A17"

// boxVars reads the conversation page's Variables box for flow f: one
// `name: value` per line, a YAML map. A value written as one plain or
// quoted word is converted as the flow page's input for the variable is
// (typedVar: `order: 17` is the text "17" for a text variable, the
// number 17 for a number); a list or a map written in YAML is taken as
// written. The values are checked as the flow page's (startVars).
func boxVars(f *flows.Flow, box string) (map[string]any, error) {
	if strings.TrimSpace(box) == "" {
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(box), &doc); err != nil {
		return nil, badRequest("Variables: write one name: value per line (%s): %s", varsBoxExample, yamlProblem(err))
	}
	if len(doc.Content) == 0 {
		return nil, nil // comments only
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, badRequest("Variables: write one name: value per line (%s), not %q", varsBoxExample, strings.TrimSpace(box))
	}
	vars := map[string]any{}
	var problems []string
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name := k.Value
		if k.Kind != yaml.ScalarNode || name == "" {
			problems = append(problems, fmt.Sprintf("line %d: a variable's name is a word, like order", k.Line))
			continue
		}
		if line, ok := seen[name]; ok {
			problems = append(problems, fmt.Sprintf("%s is given twice (lines %d and %d)", name, line, k.Line))
			continue
		}
		seen[name] = k.Line
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue // `name:` with nothing: no value, as an empty input
		}
		t, declared := declaredType(f, name)
		var val any
		var err error
		switch {
		case declared && v.Kind == yaml.ScalarNode && t != flows.VarList && t != flows.VarMap && t != flows.VarAny:
			val, err = typedVar(t, v.Value)
		default:
			val, err = nodeValue(v)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if val != nil {
			vars[name] = val
		}
	}
	return fitVars(f, vars, problems)
}

// declaredType is the type of the variable the flow declares by name.
func declaredType(f *flows.Flow, name string) (flows.VarType, bool) {
	for _, d := range f.VarDecls {
		if d.Name == name {
			return d.Type, true
		}
	}
	return "", false
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
