// Package plan compares a flows folder with what a store knows (the flow
// versions loaded, the runs still active and where they wait) and says
// what reloading the folder would do: flows added, removed and changed,
// and for each changed flow the steps that changed or are gone and how
// many runs wait at each. Runs keep the version they started with, so a
// run waiting at a step that changed goes on as it was: the change does
// not reach it. `wxflow plan` prints it; the console's flow page shows a
// flow's part before a reload takes effect.
package plan

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// Input is what a plan is made from.
type Input struct {
	// Folder is the flows folder as loaded now.
	Folder *flows.Set
	// Stored are the flow versions the store keeps (engine.
	// FlowVersionLister), the most recently stored first.
	Stored []*engine.FlowVersion
	// Active counts the active runs by flow, version and step
	// (engine.ReadTx.ActiveSteps).
	Active []engine.StepCount
	// Running names the version of each flow the server runs now, when
	// known (the console knows it). Without it the most recently stored
	// version of each flow counts as running: the store keeps every
	// version ever loaded, and not which of them is loaded now.
	Running map[string]string
	// Options load the stored versions' sources (the folder's options).
	Options flows.Options
}

// Plan is what reloading the folder would do.
type Plan struct {
	Added, Removed, Changed []*Flow
	// Unchanged names the flows whose version stays, with runs on older
	// versions counted in Older.
	Unchanged []*Flow
	// AtRisk counts the runs on a running version that wait at a step
	// that changed or is gone, or in a flow that is removed.
	AtRisk int
	// Errors are the folder's errors: a folder with errors is not loaded.
	Errors flows.Diagnostics
}

// Flow is what happens to one flow.
type Flow struct {
	Name string
	// File is the folder's file (the stored one for a removed flow).
	File string
	// From is the running version ("" for an added flow); To the
	// folder's ("" for a removed one).
	From, To string
	// Versions are the versions runs wait on (the running one first,
	// when runs wait on it), each compared with the folder's.
	Versions []*Version
	// Added are the steps of the folder's version no version had.
	Added []*Step
	// Runs counts the flow's active runs; AtRisk those on the running
	// version waiting at a step that changed or is gone (all of them for
	// a removed flow).
	Runs, AtRisk int
}

// Version is a stored version of a flow compared with the folder's.
type Version struct {
	Version string
	// Running is set for the version the server runs now.
	Running bool
	// Steps are its steps that changed or are gone, and those where
	// runs wait, in document order.
	Steps []*Step
	// Runs counts the runs on it; AtRisk those at a step that changed
	// or is gone.
	Runs, AtRisk int
	// Unreadable says why the stored source could not be compared.
	Unreadable string
}

// Step is a step of a stored version and what the folder's version does
// with it.
type Step struct {
	// Name is the step's name in its version (its id, or kind and line),
	// as runs show it.
	Name string
	Line int
	// Change is "changed", "gone", "same" or, in Flow.Added, "added".
	Change string
	// NewLine is its line in the folder's version (0 when gone).
	NewLine int
	// Waiting counts the runs waiting at it.
	Waiting int
}

// Make compares the folder with the store.
func Make(in Input) *Plan {
	p := &Plan{}
	if in.Folder != nil {
		for _, d := range in.Folder.Diags {
			if d.Severity == flows.SeverityError {
				p.Errors = append(p.Errors, d)
			}
		}
	}
	stored := map[string]*engine.FlowVersion{}
	running := map[string]string{} // flow name -> version
	for _, v := range in.Stored {
		stored[v.Version] = v
		if in.Running == nil {
			if _, ok := running[v.Name]; !ok {
				running[v.Name] = v.Version
			}
		}
	}
	for name, v := range in.Running {
		running[name] = v
	}
	waiting := map[string]map[string]map[string]int{} // flow -> version -> step -> runs
	for _, c := range in.Active {
		if waiting[c.Flow] == nil {
			waiting[c.Flow] = map[string]map[string]int{}
		}
		if waiting[c.Flow][c.Version] == nil {
			waiting[c.Flow][c.Version] = map[string]int{}
		}
		waiting[c.Flow][c.Version][c.Step] += c.N
	}
	folder := map[string]*flows.Flow{}
	if in.Folder != nil {
		for _, f := range in.Folder.Flows {
			folder[f.Name] = f
		}
	}
	names := map[string]bool{}
	for n := range folder {
		names[n] = true
	}
	for n := range running {
		names[n] = true
	}
	for n := range waiting {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	parsed := map[string]*flows.Flow{}
	parse := func(version string) (*flows.Flow, string) {
		if f, ok := parsed[version]; ok {
			return f, ""
		}
		v, ok := stored[version]
		if !ok {
			return nil, "the store does not have this version"
		}
		f, diags := flows.LoadFile(v.File, v.Source, in.Options)
		if f == nil {
			return nil, fmt.Sprintf("its stored source does not load: %v", diags.Err())
		}
		parsed[version] = f
		return f, ""
	}
	for _, name := range sorted {
		newF := folder[name]
		fl := &Flow{Name: name, From: running[name]}
		if newF != nil {
			fl.File, fl.To = newF.File, newF.Version
		} else if v := stored[fl.From]; v != nil {
			fl.File = v.File
		}
		versions := map[string]bool{}
		var order []string
		if fl.From != "" {
			versions[fl.From] = true
			order = append(order, fl.From)
		}
		var others []string
		for v := range waiting[name] {
			if !versions[v] {
				versions[v] = true
				others = append(others, v)
			}
		}
		sort.Strings(others)
		order = append(order, others...)
		for _, ver := range order {
			w := waiting[name][ver]
			if ver == fl.To && len(w) == 0 {
				continue
			}
			vc := &Version{Version: ver, Running: ver == fl.From}
			for _, n := range w {
				vc.Runs += n
			}
			if ver == fl.To {
				// Runs on the folder's own version: nothing changes.
				if len(w) > 0 {
					fl.Runs += vc.Runs
				}
				continue
			}
			old, why := parse(ver)
			switch {
			case old == nil:
				vc.Unreadable = why
				for step, n := range w {
					vc.Steps = append(vc.Steps, &Step{Name: step, Change: "unknown", Waiting: n})
				}
				sort.Slice(vc.Steps, func(i, j int) bool { return vc.Steps[i].Name < vc.Steps[j].Name })
				if newF == nil {
					vc.AtRisk = vc.Runs
				}
			case newF == nil:
				vc.Steps = stepsWaiting(old, w)
				vc.AtRisk = vc.Runs
			default:
				vc.Steps = compare(old, newF, w)
				for _, s := range vc.Steps {
					if s.Change != "same" {
						vc.AtRisk += s.Waiting
					}
				}
			}
			fl.Runs += vc.Runs
			if vc.Running {
				// Runs on older versions were left behind by an
				// earlier reload: this one changes nothing for them.
				fl.AtRisk += vc.AtRisk
			}
			fl.Versions = append(fl.Versions, vc)
		}
		p.AtRisk += fl.AtRisk
		switch {
		case newF == nil && fl.From == "" && fl.Runs == 0:
			// Nothing to say.
		case newF == nil:
			p.Removed = append(p.Removed, fl)
		case fl.From == "":
			fl.Added = allSteps(newF)
			p.Added = append(p.Added, fl)
		case fl.From != fl.To:
			if old, _ := parse(fl.From); old != nil {
				fl.Added = addedSteps(old, newF)
			}
			p.Changed = append(p.Changed, fl)
		default:
			p.Unchanged = append(p.Unchanged, fl)
		}
	}
	return p
}

// Flow returns what happens to one flow, or nil when the plan does not
// name it.
func (p *Plan) Flow(name string) *Flow {
	for _, list := range [][]*Flow{p.Changed, p.Removed, p.Added, p.Unchanged} {
		for _, f := range list {
			if f.Name == name {
				return f
			}
		}
	}
	return nil
}

// OK reports whether nothing is at risk and the folder loads.
func (p *Plan) OK() bool { return p.AtRisk == 0 && len(p.Errors) == 0 }

// Write prints the plan for people.
func (p *Plan) Write(w io.Writer) {
	if len(p.Errors) > 0 {
		// Nothing of the folder would load: a diff of what it holds
		// would describe a reload that does not happen.
		fmt.Fprintf(w, "The folder has %d %s: a reload keeps the flows running as they are.\n", len(p.Errors), plural(len(p.Errors), "error", "errors"))
		for _, d := range p.Errors {
			fmt.Fprintln(w, "  "+d.String())
		}
		fmt.Fprintln(w, "Fix them, then run wxflow plan again to see what the reload changes.")
		return
	}
	for _, f := range p.Added {
		fmt.Fprintf(w, "+ %s (%s): added, %s\n", f.Name, f.File, short(f.To))
	}
	for _, f := range p.Removed {
		fmt.Fprintf(w, "- %s (%s): removed", f.Name, f.File)
		if f.Runs > 0 {
			fmt.Fprintf(w, "; %s in it, on the version they started with", waitWords(f.Runs))
		}
		fmt.Fprintln(w)
		f.writeVersions(w)
	}
	for _, f := range p.Changed {
		fmt.Fprintf(w, "~ %s (%s): %s -> %s\n", f.Name, f.File, short(f.From), short(f.To))
		f.writeVersions(w)
		for _, s := range f.Added {
			fmt.Fprintf(w, "    added    %s\n", lineName(s.Name, s.NewLine))
		}
	}
	var same []string
	for _, f := range p.Unchanged {
		same = append(same, f.Name)
		if len(f.Versions) > 0 {
			fmt.Fprintf(w, "= %s (%s): unchanged, %s; runs on older versions:\n", f.Name, f.File, short(f.To))
			f.writeVersions(w)
		}
	}
	if len(same) > 0 {
		fmt.Fprintf(w, "unchanged: %s\n", strings.Join(same, ", "))
	}
	if len(p.Added)+len(p.Removed)+len(p.Changed) == 0 && len(p.Errors) == 0 {
		fmt.Fprintln(w, "No flow changes.")
	}
	if p.AtRisk > 0 {
		fmt.Fprintf(w, "At risk: %s at a step that changed or is gone, or in a removed flow. They keep the version they started with: the change does not reach them.\n", waitWords(p.AtRisk))
	} else {
		fmt.Fprintln(w, "Nothing at risk: no run waits at a step that changes.")
	}
}

func (f *Flow) writeVersions(w io.Writer) {
	for _, v := range f.Versions {
		label := "version " + short(v.Version)
		if !v.Running {
			label = "older version " + short(v.Version)
		}
		if v.Runs > 0 {
			fmt.Fprintf(w, "    %s: %s\n", label, waitWords(v.Runs))
		} else if len(v.Steps) > 0 {
			fmt.Fprintf(w, "    %s:\n", label)
		}
		if v.Unreadable != "" {
			fmt.Fprintf(w, "      (cannot compare: %s)\n", v.Unreadable)
		}
		for _, s := range v.Steps {
			line := fmt.Sprintf("      %-8s %s", s.Change, s.Name)
			switch {
			case s.Change == "changed" || s.Change == "same" && s.NewLine != s.Line && s.NewLine != 0:
				line += fmt.Sprintf(" (now line %d)", s.NewLine)
			}
			if s.Waiting > 0 {
				line += ": " + waitWords(s.Waiting) + " here"
			}
			fmt.Fprintln(w, line)
		}
	}
}

// lineName names a step with its line, once.
func lineName(name string, line int) string {
	if strings.HasSuffix(name, fmt.Sprintf("(line %d)", line)) {
		return name
	}
	return fmt.Sprintf("%s (line %d)", name, line)
}

func waitWords(n int) string {
	if n == 1 {
		return "1 run waits"
	}
	return fmt.Sprintf("%d runs wait", n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// short cuts a version to its first 12 hex digits, as the console does.
func short(v string) string {
	if len(v) > len("sha256:")+12 {
		return v[:len("sha256:")+12]
	}
	return v
}

// stepInfo is a step with its place and own text.
type stepInfo struct {
	step *flows.Step
	name string
	path string
	text string
}

func infos(f *flows.Flow) []*stepInfo {
	lines := strings.Split(string(f.Source), "\n")
	var out []*stepInfo
	var walk func(list []*flows.Step, prefix string)
	walk = func(list []*flows.Step, prefix string) {
		for i, s := range list {
			path := fmt.Sprintf("%s%d", prefix, i)
			out = append(out, &stepInfo{step: s, name: stepName(s), path: path, text: ownText(lines, s)})
			for c, ch := range s.Children() {
				if len(ch.Steps) > 0 {
					walk(ch.Steps, fmt.Sprintf("%s/%d/", path, c))
				}
			}
		}
	}
	walk(f.Steps, "")
	return out
}

// stepName names a step as runs do: its id, or kind and line.
func stepName(s *flows.Step) string {
	if s.ID != "" {
		return s.ID
	}
	return fmt.Sprintf("%s (line %d)", s.Kind, s.Pos.Line)
}

// ownText is a step's source without its nested steps, comments and
// blank lines, dedented: what makes it this step.
func ownText(lines []string, s *flows.Step) string {
	start, col := s.Pos.Line-1, s.Pos.Col-1
	if start < 0 || start >= len(lines) {
		return s.Kind
	}
	end := blockEnd(lines, start, col)
	skip := map[int]bool{}
	for _, ch := range s.Children() {
		for _, c := range ch.Steps {
			cs := c.Pos.Line - 1
			for l := cs; l < blockEnd(lines, cs, c.Pos.Col-1); l++ {
				skip[l] = true
			}
		}
	}
	var b strings.Builder
	for l := start; l < end; l++ {
		if skip[l] {
			continue
		}
		text := lines[l]
		if l == start && col < len(text) {
			text = strings.Repeat(" ", col) + text[col:]
		}
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if len(text) >= col && strings.TrimSpace(text[:col]) == "" {
			text = text[col:]
		}
		b.WriteString(strings.TrimRight(text, " \t\r") + "\n")
	}
	return b.String()
}

// blockEnd returns the line after a step's block: the step starts at
// line start (0-based), its keys at column col (0-based); the block goes
// on while lines are blank, comments, or indented to col or more.
func blockEnd(lines []string, start, col int) int {
	l := start + 1
	for ; l < len(lines); l++ {
		text := lines[l]
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(text) - len(strings.TrimLeft(text, " "))
		if indent < col {
			break
		}
	}
	return l
}

// compare matches the steps of an old version with the new version's
// and returns those that changed or are gone, and those where runs
// wait, in the old version's order.
func compare(oldF, newF *flows.Flow, waiting map[string]int) []*Step {
	olds, news := infos(oldF), infos(newF)
	match := matchSteps(olds, news)
	var out []*Step
	for i, o := range olds {
		s := &Step{Name: o.name, Line: o.step.Pos.Line, Waiting: waiting[o.name]}
		switch n := match[i]; {
		case n == nil:
			s.Change = "gone"
		case n.text != o.text:
			s.Change, s.NewLine = "changed", n.step.Pos.Line
		default:
			s.Change, s.NewLine = "same", n.step.Pos.Line
		}
		if s.Change != "same" || s.Waiting > 0 {
			out = append(out, s)
		}
	}
	return out
}

// matchSteps pairs each old step with a new one: by id; then by kind
// and text (the same step, maybe moved); then by place and kind (the
// same step, changed). An old step without a pair is gone.
func matchSteps(olds, news []*stepInfo) []*stepInfo {
	match := make([]*stepInfo, len(olds))
	used := map[*stepInfo]bool{}
	for i, o := range olds {
		if o.step.ID == "" {
			continue
		}
		for _, n := range news {
			if n.step.ID == o.step.ID && !used[n] {
				match[i], used[n] = n, true
				break
			}
		}
	}
	pass := func(ok func(o, n *stepInfo) bool) {
		for i, o := range olds {
			if match[i] != nil {
				continue
			}
			var best *stepInfo
			for _, n := range news {
				if used[n] || n.step.Kind != o.step.Kind || !ok(o, n) {
					continue
				}
				if best == nil || n.path == o.path {
					best = n
				}
			}
			if best != nil {
				match[i], used[best] = best, true
			}
		}
	}
	noIDs := func(o, n *stepInfo) bool { return o.step.ID == "" || n.step.ID == "" }
	pass(func(o, n *stepInfo) bool { return n.text == o.text && noIDs(o, n) })
	// A step between two that matched, of the same kind, is the same
	// step changed.
	index := map[*stepInfo]int{}
	for j, n := range news {
		index[n] = j
	}
	for i, o := range olds {
		if match[i] != nil {
			continue
		}
		var cands []*stepInfo
		if i > 0 && match[i-1] != nil && index[match[i-1]]+1 < len(news) {
			cands = append(cands, news[index[match[i-1]]+1])
		}
		if i+1 < len(olds) && match[i+1] != nil && index[match[i+1]] > 0 {
			cands = append(cands, news[index[match[i+1]]-1])
		}
		if i == 0 && len(news) > 0 {
			cands = append(cands, news[0])
		}
		for _, n := range cands {
			if !used[n] && n.step.Kind == o.step.Kind && noIDs(o, n) {
				match[i], used[n] = n, true
				break
			}
		}
	}
	pass(func(o, n *stepInfo) bool { return n.path == o.path && noIDs(o, n) })
	return match
}

// addedSteps returns the new version's steps no old step matched.
func addedSteps(oldF, newF *flows.Flow) []*Step {
	olds, news := infos(oldF), infos(newF)
	used := map[*stepInfo]bool{}
	for _, n := range matchSteps(olds, news) {
		if n != nil {
			used[n] = true
		}
	}
	var out []*Step
	for _, n := range news {
		if !used[n] {
			out = append(out, &Step{Name: n.name, Change: "added", NewLine: n.step.Pos.Line})
		}
	}
	return out
}

func allSteps(f *flows.Flow) []*Step {
	var out []*Step
	for _, n := range infos(f) {
		out = append(out, &Step{Name: n.name, Change: "added", NewLine: n.step.Pos.Line})
	}
	return out
}

// stepsWaiting lists the steps of a removed flow's version where runs
// wait.
func stepsWaiting(f *flows.Flow, waiting map[string]int) []*Step {
	var out []*Step
	for _, n := range infos(f) {
		if w := waiting[n.name]; w > 0 {
			out = append(out, &Step{Name: n.name, Line: n.step.Pos.Line, Change: "gone", Waiting: w})
		}
	}
	return out
}
