package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// TestTimeVariablesStayTimesAcrossAWait: a run's state keeps a time as
// text; a variable of type time is a time again when the run goes on
// after waiting (the docs' reminder: wait until an hour before it).
func TestTimeVariablesStayTimesAcrossAWait(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, map[string]string{
		"book.yaml": `name: book
triggers: [{keyword: [book]}]
steps:
  - set: { vars.booked: "${now}" }
  - start: { flow: appt, vars: { appointment: "${now.Add(duration('5h'))}" } }
  - ask: "Note?"
    save: vars.note
  - send: "${vars.booked <= now ? 'booked before' : 'booked later'}"
`,
		"appt.yaml": `name: appt
vars: { appointment: time }
steps:
  - send: "Booked"
  - wait: { until: 'vars.appointment.Add(duration("-1h"))' }
  - send: "Reminder: ${vars.appointment.Sub(now).Hours()}h to go"
`}, opts{})
	h.say("book")
	h.say("a note")
	h.advance(3 * time.Hour)
	h.wantTranscript("Note? | Booked | booked before")
	h.advance(time.Hour + time.Minute)
	h.wantTranscript("Note? | Booked | booked before | Reminder: 0.9833333333333333h to go")
	for _, r := range append(h.runs("appt"), h.runs("book")...) {
		if r.Status == engine.RunFailed {
			t.Fatalf("run %d of %s failed: %s", r.ID, r.Flow, r.State.Error)
		}
	}
}

// TestStartFlowFitsTheDeclaredTypes: the admin API's variables are
// checked against the flow's declarations: a time in RFC 3339 text
// becomes a time; an undeclared name or a value of another type is
// refused (ErrBadEvent: 400), and nothing starts.
func TestStartFlowFitsTheDeclaredTypes(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, map[string]string{"remind.yaml": `name: remind
vars: { when: time, n: number }
steps:
  - send: "${vars.when.Add(duration('1h')).Format('15:04')} x${vars.n * 2}"
  - wait: 1h
  - send: "${vars.when.Before(now) ? 'past' : 'ahead'}"
`}, opts{})
	h.follow("")
	run, err := h.e.StartFlow(h.ctx, "main", "alice", "remind", map[string]any{"when": "2030-01-02T08:30:00Z", "n": 21})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := run.State.Vars["when"].(time.Time); !ok {
		t.Fatalf("when is %T, want a time", run.State.Vars["when"])
	}
	h.sync()
	h.advance(time.Hour)
	out := h.transcript()
	if !strings.HasSuffix(out, "x42 | ahead") {
		t.Fatalf("transcript %q", out)
	}
	for _, tt := range []struct {
		vars map[string]any
		want string
	}{
		{map[string]any{"n": "abc"}, `n: expects a number, but is text "abc"`},
		{map[string]any{"when": "tomorrow"}, `when: expects a time, written as RFC 3339`},
		{map[string]any{"extra": 1}, `remind declares no variable "extra" (it declares when: time, n: number)`},
	} {
		_, err := h.e.StartFlow(h.ctx, "main", "alice", "remind", tt.vars)
		if !errors.Is(err, engine.ErrBadEvent) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "bad event") {
			t.Errorf("vars %v: error %v, want ErrBadEvent with %q (and no \"bad event\": it is not an event)", tt.vars, err, tt.want)
		}
	}
	if n := len(h.runs("remind")); n != 1 {
		t.Fatalf("%d runs of remind, want the first only", n)
	}
}

// TestAValueOfAnotherTypeFailsAtTheWrite: a declared variable given a
// value of another type when the flow runs (a start: step's variable
// from an answer, a set: from one, through variables declared any, which
// validation cannot follow) fails the step that writes it, saying so,
// instead of a later step that reads it.
func TestAValueOfAnotherTypeFailsAtTheWrite(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, map[string]string{
		"p.yaml": `name: p
triggers: [{keyword: [p]}]
vars: { txt: any }
steps:
  - ask: "A number?"
    save: vars.txt
  - start: { flow: sub, vars: { n: "${vars.txt}" } }
  - send: "started"
`,
		"q.yaml": `name: q
triggers: [{keyword: [q]}]
vars: { n: number, any: any }
steps:
  - ask: "Anything?"
    save: vars.any
  - set: { vars.n: "${vars.any}" }
  - send: "${vars.n * 2}"
`,
		"sub.yaml": `name: sub
vars: { n: number }
steps:
  - send: "sub ${vars.n}"
`}, opts{})
	h.say("p")
	h.say("abc")
	h.say("q")
	h.say("xyz")
	h.wantTranscript("A number? | Anything?")
	p, q := h.only("p"), h.only("q")
	if p.Status != engine.RunFailed || !strings.HasSuffix(p.State.Error, `: start: sub: variables of flow sub: n: expects a number, but is text "abc"`) {
		t.Errorf("p: %s %q", p.Status, p.State.Error)
	}
	if q.Status != engine.RunFailed || !strings.Contains(q.State.Error, `vars.n is declared number: expects a number, but is text "xyz"`) {
		t.Errorf("q: %s %q", q.Status, q.State.Error)
	}
}

// TestStartOnlyFlowsOfTheRunsAccount: a flow that names an account is
// started only for that account's contacts: by a start: step (the step
// fails, saying so) or the admin API (ErrBadEvent); before, it ran for
// the other account's contact.
func TestStartOnlyFlowsOfTheRunsAccount(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, map[string]string{
		"p.yaml": `name: p
triggers: [{keyword: [p]}]
steps:
  - start: other-only
  - send: "started"
`,
		"other-only.yaml": `name: other-only
account: other
steps:
  - send: "for other"
`}, opts{})
	h.say("p")
	h.wantTranscript("")
	if r := h.only("p"); r.Status != engine.RunFailed || !strings.HasSuffix(r.State.Error, `: start: other-only: flow "other-only" serves account other, not main`) {
		t.Fatalf("p: %s %q", r.Status, r.State.Error)
	}
	_, err := h.e.StartFlow(h.ctx, "main", "alice", "other-only", nil)
	if !errors.Is(err, engine.ErrBadEvent) || !strings.Contains(err.Error(), "serves account other, not main") {
		t.Fatalf("StartFlow: %v", err)
	}
	if n := len(h.runs("other-only")); n != 0 {
		t.Fatalf("%d runs of other-only", n)
	}
}

// TestAMessageOfAnotherTypeOpensTheWindow: a message of a type wxflow
// does not act on (a mini program card, a file) opens the reply window,
// as a message of any type does (WECHAT.md), and a bare message trigger
// sees it; before, it was stored as a platform event, the contact had no
// window, and every reply failed window_closed.
func TestAMessageOfAnotherTypeOpensTheWindow(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, map[string]string{"any.yaml": `name: any
triggers: [ { message: } ]
steps:
  - send: "Got your ${event.type}"
`}, opts{})
	h.send(channels.Event{Kind: channels.OtherMessage, Name: "miniprogrampage", MsgID: "77"})
	h.wantTranscript("Got your other_message")
	if o := h.outbox(); len(o) != 1 || o[0].Status != engine.OutboxSent {
		t.Fatalf("outbox %+v", o)
	}
}
