package steps

import (
	"fmt"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("tag", tagStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "tag",
		Summary:     "Adds tags to the contact.",
		Arg:         flows.ListOf(flows.Text, true),
		ArgRequired: true,
		ArgDoc:      "a list of tags",
		Check:       checkTags,
		Example:     `- tag: [vip, "store_${event.scene}"]`,
	})
}

// checkTags refuses empty tag names, and a tag that is wholly a list or
// a map, which would be one tag named by its JSON (tag and untag).
func checkTags(s *flows.Step, r *flows.Reporter) {
	tags, _ := s.Arg.([]any)
	for _, t := range tags {
		tt, ok := t.(*flows.Template)
		if !ok {
			continue
		}
		if strings.TrimSpace(tt.Src) == "" {
			r.Errorf(s.ArgPos, "remove the empty tag", "empty tag name")
		}
		if vt := flows.VarTypeOf(tt); vt == flows.VarList || vt == flows.VarMap {
			r.Errorf(s.ArgPos, "a tag is one text: list the tags, each its own item ([vip, \"store_${event.scene}\"])",
				"%s gives a %s, which would be one tag named by its JSON", tt.Src, vt)
		}
	}
}

// tagStep adds the contact tags its templates render to.
type tagStep struct{}

// Run renders the tags and adds them; empty ones are skipped.
func (tagStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	tags, err := renderTags(rt.Env(), s)
	if err != nil {
		return Outcome{}, fmt.Errorf("tag: %w", err)
	}
	if len(tags) > 0 {
		rt.Tag(tags...)
	}
	return Outcome{Kind: Next}, nil
}

// renderTags renders the tag templates of a tag or untag step, trimmed,
// without the empty ones.
func renderTags(env *flows.Env, s *flows.Step) ([]string, error) {
	items, _ := s.Arg.([]any)
	var out []string
	for _, it := range items {
		t, ok := it.(*flows.Template)
		if !ok || t == nil {
			continue
		}
		name, err := t.Render(env)
		if err != nil {
			return nil, err
		}
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out, nil
}
