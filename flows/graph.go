package flows

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Label lengths in the graph: texts (send, ask), URLs and conditions are
// cut to these many characters and end with "…".
const (
	graphTextLen = 40
	graphCondLen = 50
)

// Mermaid renders a flow as a Mermaid flowchart: a node per trigger and per
// step (nested steps included), with edges for going on to the next step,
// skipping a step whose `if:` is false, entering nested lists (branch
// cases, when_open, when_closed) and jumping by id (goto, on_timeout,
// on_invalid, on_fail, on_error; dotted). Triggers are t0, t1, ... and
// steps s0, s1, ... in document order, so the ids are stable; `exit`
// stands for the end of the flow when a path runs off its last step.
//
// The flow should have loaded without errors: jumps to unknown ids are
// left out.
func Mermaid(f *Flow) string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	if f == nil {
		return b.String()
	}
	if f.Name != "" {
		fmt.Fprintf(&b, "    %%%% flow: %s\n", f.Name)
	}
	g := buildFlowGraph(f)
	for _, n := range g.nodes {
		open, close := mermaidShape(n)
		fmt.Fprintf(&b, "    %s%s\"%s\"%s\n", n.id, open, mermaidLabel(n.lines...), close)
	}
	for _, e := range g.edges {
		from, to := g.nodes[e.from].id, g.nodes[e.to].id
		arrow := "-->"
		if e.jump {
			arrow = "-.->"
		}
		if e.label == "" {
			fmt.Fprintf(&b, "    %s %s %s\n", from, arrow, to)
		} else {
			fmt.Fprintf(&b, "    %s %s|\"%s\"| %s\n", from, arrow, mermaidLabel(e.label), to)
		}
	}
	return b.String()
}

// What a node of the graph stands for.
const (
	graphStep = iota
	graphTrigger
	graphExit
)

// flowGraph is what Mermaid and SVG draw: the nodes and edges of a flow,
// labelled, in a stable order.
type flowGraph struct {
	nodes []graphNode
	edges []graphEdge
}

// graphNode is a trigger (t0, t1, ...), a step (s0, s1, ...) or the end of
// the flow (exit).
type graphNode struct {
	id    string
	lines []string // the label, one entry per line (entries may hold newlines)
	role  int      // graphStep, graphTrigger or graphExit
	// kind is the step's or the trigger's kind ("" for the stand-in of
	// no trigger and for the exit).
	kind    string
	step    *Step    // nil unless a step
	trigger *Trigger // nil unless a trigger (and for the stand-in of none)
}

// graphEdge goes from one node to another (indexes into flowGraph.nodes).
type graphEdge struct {
	from, to int
	label    string
	jump     bool // drawn dotted: a goto or on_* jump by id
}

// buildFlowGraph lists the nodes and edges of a flow: triggers, then steps
// in document order, then the end of the flow if a path gets there; the
// edges of the triggers, then those of each step in order. A flow with
// nil steps or steps without a spec (never one that LoadFile returns) gets
// its nodes but no edges between steps.
func buildFlowGraph(f *Flow) *flowGraph {
	g := &flowGraph{}
	if f == nil {
		return g
	}
	for i, t := range f.Triggers {
		lines, kind := []string{"trigger"}, ""
		if t != nil {
			lines, kind = triggerLabel(t), t.Kind
		}
		g.nodes = append(g.nodes, graphNode{id: fmt.Sprintf("t%d", i), lines: lines, role: graphTrigger, kind: kind, trigger: t})
	}
	if len(f.Triggers) == 0 {
		g.nodes = append(g.nodes, graphNode{id: "t0", lines: []string{"started by another flow (start:)"}, role: graphTrigger})
	}
	triggers := len(g.nodes)
	addStep := func(i int, s *Step) {
		lines := []string{stepLabel(s)}
		if s.ID != "" {
			lines = append(lines, "id: "+s.ID)
		}
		g.nodes = append(g.nodes, graphNode{id: fmt.Sprintf("s%d", i), lines: lines, role: graphStep, kind: s.Kind, step: s})
	}
	if steps, ok := graphableSteps(f); !ok {
		for i, s := range steps {
			addStep(i, s)
		}
		if len(steps) > 0 {
			for i := 0; i < triggers; i++ {
				g.edges = append(g.edges, graphEdge{from: i, to: triggers})
			}
		}
		return g
	}

	c := buildCFG(f)
	for i, s := range c.steps {
		addStep(i, s)
	}
	exits := c.entry == endNode
	for _, es := range c.edges {
		for _, e := range es {
			exits = exits || e.to == endNode
		}
	}
	exit := -1
	if exits {
		exit = len(g.nodes)
		g.nodes = append(g.nodes, graphNode{id: "exit", lines: []string{"end of flow"}, role: graphExit})
	}
	node := func(n int) int {
		if n == endNode {
			return exit
		}
		return triggers + n
	}
	for i := 0; i < triggers; i++ {
		g.edges = append(g.edges, graphEdge{from: i, to: node(c.entry)})
	}
	for i, s := range c.steps {
		others := false
		for _, e := range c.edges[i] {
			others = others || (e.label != labelNext && e.label != labelSkip)
		}
		for _, e := range c.edges[i] {
			g.edges = append(g.edges, graphEdge{from: triggers + i, to: node(e.to), label: edgeLabel(s, e, others), jump: e.jump})
		}
	}
	return g
}

// graphableSteps reports whether every step of the flow, nested ones
// included, is there (not nil), has a spec and appears once, as in every
// flow LoadFile returns; it returns the steps it found in document order.
func graphableSteps(f *Flow) ([]*Step, bool) {
	var out []*Step
	seen := map[*Step]bool{}
	ok := true
	var walk func(list []*Step)
	walk = func(list []*Step) {
		for _, s := range list {
			if s == nil || seen[s] {
				ok = false
				continue
			}
			seen[s] = true
			out = append(out, s)
			if s.Spec == nil {
				ok = false
			}
			for _, ch := range s.Children() {
				walk(ch.Steps)
			}
		}
	}
	walk(f.Steps)
	return out, ok
}

// mermaidShape returns the Mermaid brackets of a node.
func mermaidShape(n graphNode) (open, close string) {
	switch n.role {
	case graphTrigger:
		return "([", "])"
	case graphExit:
		return "((", "))"
	}
	return stepShape(n.kind)
}

// edgeLabel names an edge of the graph: the condition of a branch case or
// of a skipped step, the key of a nested list or jump, or what the plain
// way on means when the step has other ways out.
func edgeLabel(s *Step, e cfgEdge, others bool) string {
	switch e.label {
	case labelSkip:
		return "skip unless " + truncate(condText(s.If), graphCondLen)
	case labelNext:
		if !others {
			return ""
		}
		switch s.Kind {
		case "ask":
			return "answer"
		case "branch":
			return "no case true"
		case "hours":
			if !s.Args.Has("when_open") {
				return "open"
			}
			return "closed"
		}
		return "ok"
	case s.Kind:
		// The kind key itself jumps (goto): the node already says where.
		return ""
	}
	return truncate(e.label, graphCondLen)
}

func condText(e *Expr) string {
	if e == nil {
		return ""
	}
	return e.Src
}

// stepShape returns the Mermaid brackets of a step kind's node: decisions
// (ask, branch, hours) as diamonds and hexagons, end as a circle.
func stepShape(kind string) (open, close string) {
	switch kind {
	case "ask", "branch":
		return "{", "}"
	case "hours":
		return "{{", "}}"
	case "end":
		return "((", "))"
	case "wait":
		return "(", ")"
	case "http":
		return "[/", "/]"
	case "goto":
		return ">", "]"
	case "start":
		return "[[", "]]"
	}
	return "[", "]"
}

// triggerLabel describes a trigger: its kind and argument, then its
// sibling keys, priority, condition and interrupt when they are given.
func triggerLabel(t *Trigger) []string {
	first := t.Kind
	arg := ""
	if o, ok := t.Arg.(*Object); ok && o.Has("cron") {
		arg = summarize(o.Get("cron"))
	} else {
		arg = summarize(t.Arg)
	}
	if arg != "" {
		first += ": " + truncate(arg, graphTextLen)
	}
	lines := []string{first}
	if t.Args != nil {
		for _, k := range t.Args.Keys {
			lines = append(lines, k+": "+truncate(summarize(t.Args.Get(k)), graphTextLen))
		}
	}
	if t.Priority != 0 {
		lines = append(lines, fmt.Sprintf("priority %d", t.Priority))
	}
	if t.If != nil {
		lines = append(lines, "if "+truncate(t.If.Src, graphCondLen))
	}
	if t.Spec != nil && t.Interrupt != t.Spec.InterruptDefault {
		lines = append(lines, fmt.Sprintf("interrupt: %t", t.Interrupt))
	}
	return lines
}

// stepLabel is a step's kind and a short summary of what it does.
func stepLabel(s *Step) string {
	sum := stepSummary(s)
	if sum == "" {
		return s.Kind
	}
	return s.Kind + ": " + sum
}

func stepSummary(s *Step) string {
	switch s.Kind {
	case "branch", "end":
		return ""
	case "wait":
		if s.Arg == nil && s.Args.Has("until") {
			return "until " + truncate(condText(s.Args.Expr("until")), graphCondLen)
		}
		if o, ok := s.Arg.(*Object); ok && o.Has("until") {
			return "until " + truncate(condText(o.Expr("until")), graphCondLen)
		}
	case "set":
		return truncate(setTargets(s.Arg), graphTextLen)
	case "http":
		if o, ok := s.Arg.(*Object); ok {
			method := o.String("method")
			if method == "" {
				method = "GET"
				if o.Has("json") || o.Has("body") {
					method = "POST"
				}
			}
			url := ""
			if t := o.Template("url"); t != nil {
				url = t.Src
			}
			return method + " " + truncate(url, graphTextLen)
		}
	case "start":
		if flow, vars := StartTarget(s); vars != nil && len(vars.Keys) > 0 {
			return truncate(flow+" ("+strings.Join(vars.Keys, ", ")+")", graphTextLen)
		} else if flow != "" {
			return truncate(flow, graphTextLen)
		}
	case "hours":
		if o, ok := s.Arg.(*Object); ok {
			out := openHoursText(o.Get("open"))
			if tz := summarize(o.Get("timezone")); tz != "" {
				out = strings.TrimSpace(out + " (" + tz + ")")
			}
			return out
		}
	}
	return truncate(summarize(s.Arg), graphTextLen)
}

// setTargets lists what a set step sets, from its parsed assignments
// (values with a Target field) or its map.
func setTargets(arg any) string {
	if o, ok := arg.(*Object); ok {
		return strings.Join(o.Keys, ", ")
	}
	v := reflect.ValueOf(arg)
	if v.Kind() != reflect.Slice {
		return summarize(arg)
	}
	var out []string
	for i := 0; i < v.Len(); i++ {
		e := reflect.Indirect(v.Index(i))
		if e.Kind() == reflect.Struct {
			if t := e.FieldByName("Target"); t.IsValid() && t.Kind() == reflect.String {
				out = append(out, t.String())
			}
		}
	}
	return strings.Join(out, ", ")
}

var weekOrder = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// openHoursText describes a week of opening ranges (an array of 7 lists of
// {Start, End} minutes, indexed by time.Weekday) as "mon-fri 09:00-18:00";
// other values are summarised as they are.
func openHoursText(open any) string {
	v := reflect.ValueOf(open)
	if v.Kind() != reflect.Array || v.Len() != 7 {
		return summarize(open)
	}
	day := func(d time.Weekday) string {
		var ranges []string
		list := v.Index(int(d))
		if list.Kind() != reflect.Slice {
			return ""
		}
		for i := 0; i < list.Len(); i++ {
			r := reflect.Indirect(list.Index(i))
			if r.Kind() != reflect.Struct {
				continue
			}
			start, end := r.FieldByName("Start"), r.FieldByName("End")
			if !start.CanInt() || !end.CanInt() {
				continue
			}
			ranges = append(ranges, clock(int(start.Int()))+"-"+clock(int(end.Int())))
		}
		return strings.Join(ranges, ", ")
	}
	short := func(d time.Weekday) string { return strings.ToLower(d.String()[:3]) }
	var parts []string
	for i := 0; i < len(weekOrder); {
		hours := day(weekOrder[i])
		j := i + 1
		for j < len(weekOrder) && day(weekOrder[j]) == hours {
			j++
		}
		if hours != "" {
			days := short(weekOrder[i])
			if j-i > 1 {
				days += "-" + short(weekOrder[j-1])
			}
			parts = append(parts, days+" "+hours)
		}
		i = j
	}
	if len(parts) == 0 {
		return "always closed"
	}
	return strings.Join(parts, "; ")
}

func clock(minutes int) string { return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60) }

// summarize turns a parsed value into short text for a label.
func summarize(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case StepRef:
		return string(v)
	case *Template:
		if v == nil {
			return ""
		}
		return v.Src
	case *Expr:
		return condText(v)
	case *Message:
		return messageSummary(v)
	case *Cron:
		if v == nil {
			return ""
		}
		return v.Src
	case time.Duration:
		return FormatDuration(v)
	case *time.Location:
		if v == nil {
			return ""
		}
		return v.String()
	case *regexp.Regexp:
		if v == nil {
			return ""
		}
		return "/" + v.String() + "/"
	case *Object:
		if v == nil {
			return ""
		}
		var parts []string
		for _, k := range v.Keys {
			parts = append(parts, k+": "+summarize(v.Get(k)))
		}
		return strings.Join(parts, ", ")
	case []any:
		var parts []string
		for _, e := range v {
			parts = append(parts, summarize(e))
		}
		return strings.Join(parts, ", ")
	case fmt.Stringer:
		return v.String()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return ""
		}
		return summarize(rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		var parts []string
		for i := 0; i < rv.Len(); i++ {
			if s := summarize(rv.Index(i).Interface()); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	case reflect.Struct:
		// A kind's own parsed argument (keywords: words or a pattern):
		// the non-empty exported fields.
		var parts []string
		for i := 0; i < rv.NumField(); i++ {
			if !rv.Type().Field(i).IsExported() || rv.Field(i).IsZero() {
				continue
			}
			if s := summarize(rv.Field(i).Interface()); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// messageSummary describes what a send or ask sends: the text, or the kind
// of message and what identifies it.
func messageSummary(m *Message) string {
	if m == nil {
		return ""
	}
	switch m.Type {
	case "text":
		return summarize(m.Text)
	case "image", "voice", "video":
		return m.Type + " " + mediaName(m.Media)
	case "news":
		if m.News != nil {
			return "news " + summarize(m.News.Title)
		}
	case "menu":
		if m.Menu != nil {
			if m.Menu.Head != nil {
				return summarize(m.Menu.Head)
			}
			return fmt.Sprintf("menu of %d items", len(m.Menu.Items))
		}
	}
	return m.Type
}

func mediaName(m *Media) string {
	switch {
	case m == nil:
		return ""
	case m.MediaID != "":
		return "media_id " + m.MediaID
	case m.URL != "":
		return m.URL
	}
	return filepath.Base(m.Path)
}

// truncate cuts s to n characters, ending it with "…" when it was longer.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n]), " ") + "…"
}

// mermaidLabel escapes text for a quoted Mermaid label ("..."): quotes,
// `#`, `&`, `<`, `>` and backquotes become entity codes (#quot;, #35;, ...),
// so that nothing in the text is read as Mermaid syntax, HTML or
// Markdown; lines (and newlines inside them) are joined with <br/>.
func mermaidLabel(lines ...string) string {
	var b strings.Builder
	for i, line := range lines {
		if i > 0 {
			b.WriteString("<br/>")
		}
		for _, r := range line {
			switch r {
			case '"':
				b.WriteString("#quot;")
			case '#':
				b.WriteString("#35;")
			case '&':
				b.WriteString("#amp;")
			case '<':
				b.WriteString("#lt;")
			case '>':
				b.WriteString("#gt;")
			case '`':
				b.WriteString("#96;")
			case '\n':
				b.WriteString("<br/>")
			case '\r':
			case '\t':
				b.WriteByte(' ')
			default:
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
