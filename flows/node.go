package flows

import "go.yaml.in/yaml/v3"

// ParseValue checks one YAML value against t outside a flow file (a team's
// hours in the server's configuration or in a test scenario's header) and
// returns the value the loader would give a step's argument. check, which
// may be nil, then checks rules that span several keys, as a spec's Check
// does; like it, it also sees a value that had errors, as far as it was
// parsed. The diagnostics have no File: their lines and columns are the
// node's own, so the caller sets File on each to place them. A nil node is
// a value that was not given: (nil, nil). The value is nil when there is
// any error.
//
// It is meant for plain values (maps, lists, scalars, dates, time zones):
// templates and expressions inside t are compiled, but their positions
// inside the value cannot be exact without the file's text.
func ParseValue(t *Type, n *yaml.Node, check func(v any, r *Reporter)) (any, Diagnostics) {
	if n == nil {
		return nil, nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	p := newParser("", nil, &Options{})
	n, ok := p.deref(n)
	if !ok {
		return nil, p.diags
	}
	v, ok := t.parse(p, n)
	if check != nil && v != nil {
		check(v, &Reporter{p: p})
	}
	if !ok && !p.diags.HasErrors() {
		p.errorAt(n, "", "invalid %s", t.Name)
	}
	if p.diags.HasErrors() {
		v = nil
	}
	return v, p.diags
}
