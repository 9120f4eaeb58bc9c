package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// program is a loaded flow version, ready to run: its steps addressed by
// position. A position is a path of indexes: the step's index in the
// flow's list, then, for a nested list, the child's index among the
// step's Children and the step's index in that list, and so on.
type program struct {
	flow     *flows.Flow
	ids      map[flows.StepRef][]int
	children map[*flows.Step][]flows.Child
	// times are the flow's variables of type time (flows.TimeVars).
	times []string
	// declared are the types of the variables the flow declares.
	declared map[string]flows.VarType
	// steps counts the flow's steps, nested ones too.
	steps int
}

func newProgram(f *flows.Flow) *program {
	p := &program{flow: f, ids: map[flows.StepRef][]int{}, children: map[*flows.Step][]flows.Child{}, times: f.TimeVars(), declared: map[string]flows.VarType{}}
	for _, d := range f.VarDecls {
		p.declared[d.Name] = d.Type
	}
	var walk func(list []*flows.Step, prefix []int)
	walk = func(list []*flows.Step, prefix []int) {
		for i, s := range list {
			path := append(append([]int(nil), prefix...), i)
			p.steps++
			if s.ID != "" {
				p.ids[flows.StepRef(s.ID)] = path
			}
			ch := s.Children()
			p.children[s] = ch
			for c, child := range ch {
				if len(child.Steps) > 0 {
					walk(child.Steps, append(append([]int(nil), path...), c))
				}
			}
		}
	}
	walk(f.Steps, nil)
	return p
}

// serves refuses to start the flow for a contact of another account
// than the one it names (account:), if it names one.
func (p *program) serves(account string) error {
	if a := p.flow.Account; a != "" && a != account {
		return fmt.Errorf("flow %q serves account %s, not %s", p.flow.Name, a, account)
	}
	return nil
}

// at returns the step at path, or nil when the path is past the end of
// the flow (or does not fit it).
func (p *program) at(path []int) *flows.Step {
	list := p.flow.Steps
	var s *flows.Step
	for k := 0; k < len(path); k += 2 {
		if path[k] < 0 || path[k] >= len(list) {
			return nil
		}
		s = list[path[k]]
		if k+1 < len(path) {
			ch := p.children[s]
			c := path[k+1]
			if c < 0 || c >= len(ch) {
				return nil
			}
			list = ch[c].Steps
		}
	}
	return s
}

// list returns the step list the last index of path points into.
func (p *program) list(path []int) []*flows.Step {
	list := p.flow.Steps
	for k := 0; k+2 < len(path); k += 2 {
		list = p.children[list[path[k]]][path[k+1]].Steps
	}
	return list
}

// next returns the position after path's step: the next step of its
// list, or, past the end of a nested list, the step after the one that
// holds it. It returns nil past the end of the flow.
func (p *program) next(path []int) []int {
	out := append([]int(nil), path...)
	for len(out) > 0 {
		out[len(out)-1]++
		if out[len(out)-1] < len(p.list(out)) {
			return out
		}
		if len(out) < 3 {
			return nil
		}
		out = out[:len(out)-2]
	}
	return nil
}

// enter returns the position of the first step of list, a nested list of
// the step at path; ok is false when list is not one of its children.
func (p *program) enter(path []int, s *flows.Step, list []*flows.Step) ([]int, bool) {
	if len(list) == 0 {
		return nil, false
	}
	for c, ch := range p.children[s] {
		if len(ch.Steps) > 0 && &ch.Steps[0] == &list[0] {
			return append(append([]int(nil), path...), c, 0), true
		}
	}
	return nil, false
}

// describe names the step at path for people: its id, or its kind and line.
func (p *program) describe(path []int) string {
	s := p.at(path)
	if s == nil {
		return "end"
	}
	if s.ID != "" {
		return s.ID
	}
	return fmt.Sprintf("%s (line %d)", s.Kind, s.Pos.Line)
}

func formatPos(path []int) string {
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

func parsePos(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, "/")
	out := make([]int, len(parts))
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("invalid position %q", s)
		}
		out[i] = n
	}
	return out, nil
}
