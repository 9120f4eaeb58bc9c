package scenario

import (
	"fmt"
	"io"
	"strings"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// The trail's words this file reads (engine/trail.go writes them).
const (
	trailSkipped   = "skipped: its if: is false"
	trailJump      = "jumps to "
	trailEnter     = "goes into its nested steps"
	trailEmpty     = "nothing to run; goes on"
	trailDone      = "done"
	trailNoAnswer  = "no answer in time"
	labelOnTimeout = "on_timeout"
	noCaseMatched  = "(no case matched)"
)

// Coverage collects which steps and branches of a set of flows the
// scenarios reached, read from the trails of their runs. A branch is a
// way out of a step other than the next step: each nested list or jump
// of a step (a branch's cases and else, an ask's on_timeout and
// on_invalid, an http step's on_error, hours' when_open and when_closed),
// the case where no case of a branch without else matched, and both
// outcomes of a step's if:.
type Coverage struct {
	flows     []*FlowCoverage
	byVersion map[string]*FlowCoverage
}

// NewCoverage returns an empty coverage.
func NewCoverage() *Coverage {
	return &Coverage{byVersion: map[string]*FlowCoverage{}}
}

// FlowCoverage is the coverage of one flow: every step and branch, in
// document order, and whether a scenario reached it.
type FlowCoverage struct {
	Flow  *flows.Flow
	Items []*CoverItem
	// Truncated is set when a run's trail had dropped entries: what it
	// did first is not counted.
	Truncated bool

	byName map[string]*stepCover
}

// CoverItem is a step or a branch of a flow.
type CoverItem struct {
	// Branch is false for a step.
	Branch bool
	// Pos is where the step, or the branch's list or jump, is written.
	Pos flows.Pos
	// What names it: "send", "ask menu", "on_timeout of ask menu", ...
	What    string
	Reached bool
}

// stepCover is a step with its branches.
type stepCover struct {
	step *flows.Step
	item *CoverItem
	// branches are the step's children that are branches, in order,
	// with their items; ifTrue, ifFalse and noMatch the extra ones.
	children                 []flows.Child
	branches                 []*CoverItem
	ifTrue, ifFalse, noMatch *CoverItem
}

// AddFlows adds the flows of a set; runs of flow versions not added are
// not counted. Adding a version twice keeps the first.
func (c *Coverage) AddFlows(set *flows.Set) {
	for _, f := range set.Flows {
		if _, ok := c.byVersion[f.File+"\x00"+f.Version]; ok {
			continue
		}
		fc := newFlowCoverage(f)
		c.flows = append(c.flows, fc)
		c.byVersion[f.File+"\x00"+f.Version] = fc
		if _, ok := c.byVersion[f.Version]; !ok {
			c.byVersion[f.Version] = fc
		}
	}
}

// StepName names a step as the engine's trail does: its id, or its kind
// and line.
func StepName(s *flows.Step) string {
	if s.ID != "" {
		return s.ID
	}
	return fmt.Sprintf("%s (line %d)", s.Kind, s.Pos.Line)
}

func newFlowCoverage(f *flows.Flow) *FlowCoverage {
	fc := &FlowCoverage{Flow: f, byName: map[string]*stepCover{}}
	var walk func(list []*flows.Step)
	walk = func(list []*flows.Step) {
		for _, s := range list {
			name := StepName(s)
			sc := &stepCover{step: s, item: &CoverItem{Pos: s.Pos, What: "step " + name}}
			fc.byName[name] = sc
			fc.Items = append(fc.Items, sc.item)
			if s.If != nil {
				sc.ifTrue = &CoverItem{Branch: true, Pos: s.If.Pos, What: fmt.Sprintf("if: %s of step %s is true", s.If.Src, name)}
				sc.ifFalse = &CoverItem{Branch: true, Pos: s.If.Pos, What: fmt.Sprintf("if: %s of step %s is false", s.If.Src, name)}
				fc.Items = append(fc.Items, sc.ifTrue, sc.ifFalse)
			}
			children := s.Children()
			if s.Kind != "goto" {
				hasElse := false
				for _, ch := range children {
					hasElse = hasElse || ch.Label == "else"
					sc.children = append(sc.children, ch)
					it := &CoverItem{Branch: true, Pos: ch.Pos, What: branchWords(ch, name)}
					sc.branches = append(sc.branches, it)
					fc.Items = append(fc.Items, it)
				}
				if s.Kind == "branch" && !hasElse {
					sc.noMatch = &CoverItem{Branch: true, Pos: s.Pos, What: fmt.Sprintf("%s of step %s", noCaseMatched, name)}
					fc.Items = append(fc.Items, sc.noMatch)
				}
			}
			for _, ch := range children {
				walk(ch.Steps)
			}
		}
	}
	walk(f.Steps)
	return fc
}

// branchWords names a branch for people.
func branchWords(ch flows.Child, step string) string {
	label := ch.Label
	if label != "else" && label != "" && !isKey(label) {
		label = "case " + label
	}
	s := fmt.Sprintf("%s of step %s", label, step)
	switch {
	case ch.Ref != "":
		s += " (to " + string(ch.Ref) + ")"
	case len(ch.Steps) == 0:
		s += " (empty)"
	}
	return s
}

// isKey reports whether a child's label is a key (on_timeout) rather
// than a case's condition.
func isKey(label string) bool {
	for _, r := range label {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Record counts what runs did, from their trails. set is the folder the
// runs ran on: a run counts for its flow's file there, so that two
// folders holding identical files (one per account) are each counted
// for their own runs; runs of versions the set does not hold count for
// the first file added with that version.
func (c *Coverage) Record(set *flows.Set, runs []*engine.Run) {
	files := map[string]string{}
	if set != nil {
		for _, f := range set.Flows {
			files[f.Version] = f.File
		}
	}
	for _, r := range runs {
		fc, ok := c.byVersion[files[r.Version]+"\x00"+r.Version]
		if !ok {
			fc, ok = c.byVersion[r.Version]
		}
		if !ok {
			continue
		}
		if r.State.TrailDropped > 0 {
			fc.Truncated = true
		}
		fc.record(r.State.Trail)
	}
}

func (fc *FlowCoverage) record(trail engine.Trail) {
	for i, e := range trail {
		sc, ok := fc.byName[e.Step]
		if !ok {
			continue
		}
		if e.What == trailSkipped {
			if sc.ifFalse != nil {
				sc.ifFalse.Reached = true
			}
			continue
		}
		sc.item.Reached = true
		if sc.ifTrue != nil {
			sc.ifTrue.Reached = true
		}
		switch {
		case strings.HasPrefix(e.What, trailJump):
			target := flows.StepRef(strings.TrimPrefix(e.What, trailJump))
			timedOut := i > 0 && trail[i-1].Step == e.Step && trail[i-1].What == trailNoAnswer
			sc.mark(func(ch flows.Child) bool { return ch.Ref == target }, func(ch flows.Child) bool {
				return (ch.Label == labelOnTimeout) == timedOut
			})
		case e.What == trailEnter && i+1 < len(trail):
			next := trail[i+1].Step
			sc.mark(func(ch flows.Child) bool { return len(ch.Steps) > 0 && StepName(ch.Steps[0]) == next }, nil)
		case e.What == trailEmpty:
			sc.mark(func(ch flows.Child) bool { return len(ch.Steps) == 0 && ch.Ref == "" }, nil)
		case e.What == trailDone && sc.noMatch != nil:
			sc.noMatch.Reached = true
		}
	}
}

// mark marks the branches that match; when several do, prefer narrows
// them (when it leaves any).
func (sc *stepCover) mark(match, prefer func(flows.Child) bool) {
	var hit []int
	for k, ch := range sc.children {
		if match(ch) {
			hit = append(hit, k)
		}
	}
	if len(hit) > 1 && prefer != nil {
		var narrow []int
		for _, k := range hit {
			if prefer(sc.children[k]) {
				narrow = append(narrow, k)
			}
		}
		if len(narrow) > 0 {
			hit = narrow
		}
	}
	for _, k := range hit {
		sc.branches[k].Reached = true
	}
}

// Counts returns how many steps and branches the flow has and how many
// of each were reached.
func (fc *FlowCoverage) Counts() (steps, stepsReached, branches, branchesReached int) {
	for _, it := range fc.Items {
		if it.Branch {
			branches++
			if it.Reached {
				branchesReached++
			}
			continue
		}
		steps++
		if it.Reached {
			stepsReached++
		}
	}
	return
}

// Flows returns the coverage of each flow added, in the order added.
func (c *Coverage) Flows() []*FlowCoverage { return c.flows }

// Percent returns the share of all steps and branches reached, 0 to 100
// (100 when there are none).
func (c *Coverage) Percent() float64 {
	var n, reached int
	for _, fc := range c.flows {
		s, sr, b, br := fc.Counts()
		n += s + b
		reached += sr + br
	}
	return percent(reached, n)
}

func percent(reached, n int) float64 {
	if n == 0 {
		return 100
	}
	return 100 * float64(reached) / float64(n)
}

// WriteReport writes, per flow, how many steps and branches the
// scenarios reached and the place of each one they did not, then the
// total.
func (c *Coverage) WriteReport(w io.Writer) {
	fmt.Fprintln(w, "coverage: steps and branches the scenarios reached")
	var n, reached int
	for _, fc := range c.flows {
		s, sr, b, br := fc.Counts()
		n += s + b
		reached += sr + br
		fmt.Fprintf(w, "  %s (%s): %d/%d steps, %d/%d branches: %.1f%%\n", fc.Flow.Name, fc.Flow.File, sr, s, br, b, percent(sr+br, s+b))
		for _, it := range fc.Items {
			if !it.Reached {
				fmt.Fprintf(w, "    not reached: %s:%d:%d: %s\n", fc.Flow.File, it.Pos.Line, it.Pos.Col, it.What)
			}
		}
		if fc.Truncated {
			fmt.Fprintf(w, "    (a run's trail dropped its oldest entries: what it did first is not counted)\n")
		}
	}
	fmt.Fprintf(w, "coverage: %.1f%% of steps and branches (%d of %d)\n", percent(reached, n), reached, n)
}
