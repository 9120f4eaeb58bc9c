package flows

import (
	"fmt"
	"time"
)

// Edge labels with a meaning for the WeChat analysis.
const (
	labelNext = "next"
	labelSkip = "skip"
)

// cfg is a flow's control-flow graph: one node per step, edges for going
// on, skipping (`if:`), entering nested lists and jumping.
type cfg struct {
	steps []*Step
	index map[*Step]int
	edges [][]cfgEdge
	entry int
}

type cfgEdge struct {
	to    int // -1: the run ends
	label string
	jump  bool // a goto or on_* jump by id
}

const endNode = -1

// buildCFG builds the graph of a flow whose references all resolve.
func buildCFG(f *Flow) *cfg {
	g := &cfg{index: map[*Step]int{}, entry: endNode}
	ids := map[string]int{}
	f.Walk(func(s *Step) {
		g.index[s] = len(g.steps)
		if s.ID != "" {
			ids[s.ID] = len(g.steps)
		}
		g.steps = append(g.steps, s)
	})
	g.edges = make([][]cfgEdge, len(g.steps))
	if len(f.Steps) > 0 {
		g.entry = 0
	}
	var link func(list []*Step, cont int)
	link = func(list []*Step, cont int) {
		for i, s := range list {
			next := cont
			if i+1 < len(list) {
				next = g.index[list[i+1]]
			}
			n := g.index[s]
			if s.If != nil {
				g.edges[n] = append(g.edges[n], cfgEdge{to: next, label: labelSkip})
			}
			for _, ch := range s.Children() {
				switch {
				case ch.Ref != "":
					if to, ok := ids[string(ch.Ref)]; ok {
						g.edges[n] = append(g.edges[n], cfgEdge{to: to, label: ch.Label, jump: true})
					}
				case len(ch.Steps) > 0:
					g.edges[n] = append(g.edges[n], cfgEdge{to: g.index[ch.Steps[0]], label: ch.Label})
					link(ch.Steps, next)
				default:
					g.edges[n] = append(g.edges[n], cfgEdge{to: next, label: ch.Label})
				}
			}
			if !s.Spec.Terminal && (s.Spec.Exhaustive == nil || !s.Spec.Exhaustive(s)) {
				g.edges[n] = append(g.edges[n], cfgEdge{to: next, label: labelNext})
			}
		}
	}
	link(f.Steps, endNode)
	return g
}

// analyse runs the checks that need the whole flow: unreachable steps,
// loops that never wait, and WeChat's window and quota rules.
func analyse(p *parser, f *Flow) {
	if len(f.Steps) == 0 {
		return
	}
	g := buildCFG(f)
	reached := g.reachable()
	if !p.unresolved {
		// A jump to an id no step has may be meant for a step that then
		// looks unreached: that warning would only repeat the error.
		checkUnreachable(p, g, f.Steps, reached)
	}
	checkLoops(p, g)
	checkWeChat(p, f, g, reached)
}

func (g *cfg) reachable() []bool {
	seen := make([]bool, len(g.steps))
	stack := []int{g.entry}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == endNode || seen[n] {
			continue
		}
		seen[n] = true
		for _, e := range g.edges[n] {
			stack = append(stack, e.to)
		}
	}
	return seen
}

// checkUnreachable warns once per stretch of steps no path leads to, and
// at every step with an id in such a stretch: an id is given to be jumped
// to, so a step that has one starts a stretch of its own.
func checkUnreachable(p *parser, g *cfg, list []*Step, reached []bool) {
	for i, s := range list {
		n := g.index[s]
		if !reached[n] {
			switch {
			case s.ID != "":
				p.report(SeverityWarning, s.Pos, fmt.Sprintf("it comes after a goto or end and no step that runs jumps to %q; jump to it (goto: %s), or remove it", s.ID, s.ID), "step is never reached")
			case i == 0 || reached[g.index[list[i-1]]]:
				p.report(SeverityWarning, s.Pos, "it comes after a goto or end and no jump leads here; give it an id and jump to it, or remove it", "step is never reached")
			}
			continue
		}
		for _, ch := range s.Children() {
			checkUnreachable(p, g, ch.Steps, reached)
		}
	}
}

// checkLoops warns about cycles of steps with no ask or wait inside: such a
// run jumps until it is stopped as `looping`.
func checkLoops(p *parser, g *cfg) {
	// Tarjan's strongly connected components over the steps that do not
	// suspend the run.
	n := len(g.steps)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	counter := 0
	comp := make([]int, n)
	for i := range comp {
		comp[i] = -1
	}
	ncomp := 0
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range g.edges[v] {
			w := e.to
			if w == endNode || g.steps[w].Spec.Suspends {
				continue
			}
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = ncomp
				if w == v {
					break
				}
			}
			ncomp++
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 && !g.steps[v].Spec.Suspends {
			strong(v)
		}
	}
	reported := map[int]bool{}
	for v := 0; v < n; v++ {
		if g.steps[v].Spec.Suspends || reported[comp[v]] {
			continue
		}
		for _, e := range g.edges[v] {
			if e.to == endNode || !e.jump || comp[e.to] != comp[v] || g.steps[e.to].Spec.Suspends {
				continue
			}
			reported[comp[v]] = true
			target := g.steps[e.to]
			p.report(SeverityWarning, g.steps[v].Pos,
				"the run is stopped as looping after 100 jumps; put an ask or a wait inside the loop",
				fmt.Sprintf("%s jumps back to %q with no ask or wait in between", e.label, target.ID))
			break
		}
	}
}

// windowState is what the WeChat analysis knows on a path: the quota of
// the interaction that opened the window, the messages sent since, and
// the time passed since.
type windowState struct {
	quota   int
	sent    int
	elapsed time.Duration
	opener  string
}

// checkWeChat follows every path of the flow from its triggers and warns
// where a message would exceed the reply quota or come after the window.
func checkWeChat(p *parser, f *Flow, g *cfg, reached []bool) {
	session := p.opts.sessionFor(f.Account)
	window := session.window()
	intl, why := p.opts.internationalFor(f.Account)
	for _, s := range g.steps {
		if s.Kind == "ask" {
			if d := s.Args.Duration("timeout", DefaultAskTimeout); d > window {
				p.report(SeverityWarning, s.Args.At("timeout"),
					fmt.Sprintf("an answer after %s opens a new window, but on_timeout can no longer send anything", FormatDuration(window)),
					fmt.Sprintf("ask waits %s, longer than WeChat's %s window", FormatDuration(d), FormatDuration(window)))
			}
		}
		if m, ok := s.Arg.(*Message); ok && intl && (m.Type == "voice" || m.Type == "video") {
			p.report(SeverityWarning, m.Media.Pos, "use an image, or send it from an account registered in Mainland China",
				fmt.Sprintf("an international account cannot send %s by API%s", m.Type, why))
		}
	}
	onlyUnfollow := len(f.Triggers) > 0
	for _, t := range f.Triggers {
		onlyUnfollow = onlyUnfollow && t.Kind == "unfollow"
	}
	if onlyUnfollow {
		for _, s := range g.steps {
			if s.Spec.Sends && reached[g.index[s]] {
				p.report(SeverityWarning, s.Pos, "an unfollow flow can only update tags and fields, or call http",
					"this flow starts on unfollow, and nothing can be sent to a contact who unfollowed; it will fail as unfollowed")
			}
		}
		return
	}
	start := windowState{}
	for _, t := range f.Triggers {
		var q int
		switch t.Spec.Interaction {
		case "event":
			q = session.eventQuota()
			if start.quota == 0 || q < start.quota {
				start = windowState{quota: q, opener: "a follow, scan or menu click"}
			}
		case "message":
			q = session.messageQuota()
			if start.quota == 0 || q < start.quota {
				start = windowState{quota: q, opener: "a message"}
			}
		}
	}
	if start.quota == 0 {
		return // no interaction opens the window: nothing to check statically
	}
	warnedQuota := map[int]bool{}
	// late are the steps that send after the window on some path, with
	// the time waited (the shortest such wait found); early those that
	// send within it on another (a loop through a timeout): the warning
	// says which.
	late, early := map[int]time.Duration{}, map[int]bool{}
	seen := map[[2]any]bool{}
	visits := 0
	// waited is the time the path has waited with no reply, which st
	// holds only up to a bound: the warning says the real wait.
	var walk func(n int, st windowState, waited time.Duration)
	walk = func(n int, st windowState, waited time.Duration) {
		if n == endNode || visits > 200000 {
			return
		}
		if st.elapsed > 4*window { // bound the states; any such path is past the window
			st.elapsed = 4 * window
		}
		if st.sent > st.quota+1 {
			st.sent = st.quota + 1
		}
		key := [2]any{n, st}
		if seen[key] {
			return
		}
		seen[key] = true
		visits++
		s := g.steps[n]
		before := st
		if s.Spec.Sends {
			st.sent++
			switch {
			case st.elapsed >= window:
				if w, ok := late[n]; !ok || waited < w {
					late[n] = waited
				}
			case st.elapsed < window && st.sent > st.quota && !warnedQuota[n]:
				warnedQuota[n] = true
				hint := "ask a question first, or send fewer messages; the extra ones fail as quota_exhausted"
				if s.Kind == "ask" {
					hint = "send fewer messages before this question; a question asked again unanswered (on_timeout, a jump back) counts too; the extra ones fail as quota_exhausted"
				}
				p.report(SeverityWarning, s.Pos, hint,
					fmt.Sprintf("message %d in a row, but WeChat allows %d replies after %s", st.sent, st.quota, st.opener))
			}
			if st.elapsed < window {
				early[n] = true
			}
		}
		reset := windowState{quota: session.messageQuota(), opener: "a message"}
		for _, e := range g.edges[n] {
			next, nextWaited := st, waited
			var d time.Duration
			switch {
			case e.label == labelSkip:
				next = before
			case s.Kind == "ask" && (e.label == labelNext || e.label == "on_invalid"):
				next, nextWaited = reset, 0
			case s.Kind == "ask" && e.label == "on_timeout":
				d = s.Args.Duration("timeout", DefaultAskTimeout)
			case s.Kind == "wait":
				d, _ = s.Arg.(time.Duration)
			}
			next.elapsed += d
			walk(e.to, next, nextWaited+min(d, maxWaited-nextWaited))
		}
	}
	walk(g.entry, start, 0)
	for n := range g.steps {
		waited, ok := late[n]
		if !ok {
			continue
		}
		s := g.steps[n]
		if early[n] {
			p.report(SeverityWarning, s.Pos,
				fmt.Sprintf("%s of waiting with no reply from the contact comes before it on that path (a timeout or a wait the run comes back through); there it fails as window_closed", FormatDuration(waited)),
				fmt.Sprintf("on some paths this message comes after WeChat's %s window has closed", FormatDuration(window)))
			continue
		}
		p.report(SeverityWarning, s.Pos,
			fmt.Sprintf("%s of waiting with no reply from the contact comes before it; it will fail as window_closed", FormatDuration(waited)),
			fmt.Sprintf("this message can only be sent after WeChat's %s window has closed", FormatDuration(window)))
	}
}

// maxWaited bounds the wait a warning adds up (a loop through a wait
// would add without end): about 146 years, the longest duration.
const maxWaited = time.Duration(1<<63 - 1)

// DefaultAskTimeout is how long an `ask` waits when it has no `timeout:`.
const DefaultAskTimeout = 24 * time.Hour

// FormatDuration writes a duration the way flows do: 3d, 48h, 90m, 30s.
func FormatDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d > 48*time.Hour:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d > time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute) // 23h59m, not 1439m
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
