package engine

import (
	"fmt"
	"strconv"
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

// startedByAPI is the first trail entry of a run the admin token started
// (the API or the console); startedByPrefix and an Action's by() that of
// a run an operator (or the API on their behalf) started.
const (
	startedByAPI    = "started through the admin API or the console"
	startedByPrefix = "started by "
)

// StartedFromOutside tells whether the run was started through the admin
// API, the console or by an operator's start, not by an event, a
// schedule, a conversation trigger or another flow: what no scenario
// action plays. It reads the trail's first entry, and says false when
// that entry was dropped.
func (r *Run) StartedFromOutside() bool {
	if r.State.TrailDropped > 0 || len(r.State.Trail) == 0 {
		return false
	}
	e := r.State.Trail[0]
	if e.Step != "" {
		return false
	}
	return e.What == startedByAPI || e.What == startedByPrefix+"api" || strings.HasPrefix(e.What, startedByPrefix+"operator ")
}

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

// Trail is a run's trail. Its JSON is written and read by hand with the
// run's state (see AppendState), with the field names and formats of
// encoding/json.
type Trail []TrailEntry

// MarshalJSON implements json.Marshaler.
func (t Trail) MarshalJSON() ([]byte, error) {
	if t == nil {
		return []byte("null"), nil
	}
	return t.appendJSON(make([]byte, 0, 96*len(t)+2)), nil
}

// appendJSON appends the trail's JSON array.
func (t Trail) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, e := range t {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"at":"`...)
		b = e.At.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		if e.Step != "" {
			b = append(b, `,"step":`...)
			b = AppendJSONString(b, e.Step)
		}
		if e.Kind != "" {
			b = append(b, `,"kind":`...)
			b = AppendJSONString(b, e.Kind)
		}
		b = append(b, `,"what":`...)
		b = AppendJSONString(b, e.What)
		if len(e.Messages) > 0 {
			b = append(b, `,"messages":[`...)
			for j, id := range e.Messages {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, id, 10)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// AppendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as encoding/json writes it.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
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
	case steps.WaitSent:
		return "waits for the message's outcome (on_fail)"
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
			return fmt.Sprintf("answered %q", cut(ev.Text, 60))
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
		case r.Status >= 300 && r.Status < 400 && r.Headers["Location"] != "":
			return fmt.Sprintf("the call answered %d, a redirect to %s (not followed: write that address in the step)", r.Status, clip(r.Headers["Location"], 120))
		default:
			return fmt.Sprintf("the call answered %d", r.Status)
		}
	case steps.Sent:
		if in.Failed {
			return "the message failed (" + in.Reason + ")"
		}
		if in.Reason == string(OutboxUnknown) {
			return "the message's outcome is unknown (not a failure)"
		}
		return "the message went out"
	}
	return in.Kind.String()
}

// when writes a time of a trail or a note in the server's zone, with its
// offset (the reader may be in another), or "forever" for none.
func when(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return "forever"
	}
	return t.In(zone).Format("2006-01-02 15:04:05 -07:00")
}

// clip cuts s to at most n runes, ending with "…" when it cut, its
// runs of spaces and line breaks made one space.
func clip(s string, n int) string {
	return cut(strings.Join(strings.Fields(s), " "), n)
}

// cut cuts s to at most n runes, ending with "…" when it cut; unlike
// clip it keeps the spaces as they are, for a text quoted as the contact
// wrote it (%q shows its line breaks).
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// stepOf names the step that reserved an outbox entry, when the trail
// still has it ("" when not).
func (t Trail) stepOf(outboxID int64) string {
	for i := len(t) - 1; i >= 0; i-- {
		for _, id := range t[i].Messages {
			if id == outboxID {
				return t[i].Step
			}
		}
	}
	return ""
}
