package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// maxTrail is how many entries a run's trail keeps: the oldest go first,
// counted in TrailDropped, so a looping run cannot grow its row without
// bound.
const maxTrail = 100

// TrailEntry is one thing a run did: the steps it ran, what each led to,
// and the messages they reserved. The console draws a run's timeline from
// it; the messages' statuses are read from the outbox.
type TrailEntry struct {
	At time.Time `json:"at"`
	// Step names the step (its id, or kind and line); "" for what
	// happened to the run itself (started, ended by another run).
	Step string `json:"step,omitempty"`
	// Kind is the step's kind.
	Kind string `json:"kind,omitempty"`
	// What says what happened, in words.
	What string `json:"what"`
	// Messages are the outbox IDs of the messages the step reserved.
	Messages []int64 `json:"messages,omitempty"`
}

// trail appends an entry to the run's trail.
func (r *Run) trail(e TrailEntry) {
	t := &r.State
	if len(t.Trail) >= maxTrail {
		n := len(t.Trail) - maxTrail + 1
		t.Trail = append(t.Trail[:0], t.Trail[n:]...)
		t.TrailDropped += n
	}
	t.Trail = append(t.Trail, e)
}

// note records what a step of the run did, with the messages it reserved
// since the last note.
func (x *runner) note(s *flows.Step, what string) {
	e := TrailEntry{At: x.w.now, Step: x.prog.describe(x.path), What: what, Messages: x.msgs}
	if s != nil {
		e.Kind = s.Kind
	}
	x.msgs = nil
	x.run.trail(e)
}

// outcomeWords says what a step's outcome does to the run.
func outcomeWords(out steps.Outcome, zone *time.Location) string {
	switch out.Kind {
	case steps.Next:
		return "done"
	case steps.Goto:
		return "jumps to " + string(out.Target)
	case steps.Enter:
		if len(out.Steps) == 0 {
			return "nothing to run; goes on"
		}
		return "goes into its nested steps"
	case steps.WaitReply:
		if out.Attempts > 0 {
			return fmt.Sprintf("asks again (attempt %d); waits for an answer until %s", out.Attempts+1, when(out.Until, zone))
		}
		return "waits for an answer until " + when(out.Until, zone)
	case steps.WaitUntil:
		return "waits until " + when(out.Until, zone)
	case steps.Call:
		if out.Request != nil {
			return fmt.Sprintf("calls %s %s", out.Request.Method, out.Request.URL)
		}
		return "calls"
	case steps.End:
		return "ends the run"
	}
	return out.Kind.String()
}

// inputWords says what resumed a suspended step.
func inputWords(in steps.Input, ev *flows.EventEnv) string {
	switch in.Kind {
	case steps.Answer:
		if ev == nil {
			return "answered"
		}
		if ev.Text != "" {
			return fmt.Sprintf("answered %q", clip(ev.Text, 60))
		}
		return "answered with " + ev.Type
	case steps.Timeout:
		return "no answer in time"
	case steps.Elapsed:
		return "the wait is over"
	case steps.Response:
		switch r := in.Response; {
		case r == nil:
			return "the call came back"
		case r.Err != "":
			return "the call failed: " + clip(r.Err, 120)
		default:
			return fmt.Sprintf("the call answered %d", r.Status)
		}
	}
	return in.Kind.String()
}

func when(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return "forever"
	}
	return t.In(zone).Format("2006-01-02 15:04:05")
}

// clip cuts s to at most n runes, ending with "…" when it cut.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
