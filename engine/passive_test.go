package engine_test

import (
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

const passiveFlows = `name: welcome
triggers: [follow]
steps:
  - send: "Welcome!"
  - send: "Here is our menu."
  - ask: "Your name?"
    save: contact.fields.name
  - send: "Thanks ${contact.fields.name}"
`

// replyTo ingests a follow of alice through IngestReply.
func (h *harness) replyTo(ev channels.Event) *engine.Reply {
	h.t.Helper()
	if ev.Contact == "" {
		ev.Account, ev.Contact = "main", "alice"
	}
	h.clock.Advance(time.Second)
	ev.At = h.clock.Now()
	r, err := h.e.IngestReply(h.ctx, ev, h.clock.Now().Add(time.Second))
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func TestPassiveReplyIsTheStartedRunsFirstMessage(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": passiveFlows})
	r := h.replyTo(channels.Event{Kind: channels.Follow})
	if r == nil || r.Message.Text != "Welcome!" {
		t.Fatalf("IngestReply = %+v, want the reply Welcome!", r)
	}
	// The other messages wait for the passive reply to go out.
	if err := h.e.FinishReply(h.ctx, r, true); err != nil {
		t.Fatal(err)
	}
	h.sync()
	h.wantTranscript("Welcome! | Here is our menu. | Your name?")
	got := h.ch.DeliveredTo("main", "alice")
	if len(got) != 2 || got[0].Message.Text != "Here is our menu." {
		t.Fatalf("the API got %+v, want the two messages after the passive reply", got)
	}
	if o := h.outbox()[0]; o.Detail != engine.PassiveDetail {
		t.Errorf("passive entry detail = %q", o.Detail)
	}
	// The passive reply spent none of the 3 replies an event allows.
	h.view(func(tx engine.ReadTx) error {
		s, _, err := tx.Session("main", "alice")
		if s.Used != 2 {
			t.Errorf("session used %d replies, want 2", s.Used)
		}
		return err
	})
	// An answer resumes a run: no passive reply.
	if r := h.replyTo(channels.Event{Kind: channels.Text, Text: "Ann", MsgID: "1"}); r != nil {
		t.Errorf("an answer got a passive reply: %+v", r)
	}
	h.sync()
	h.wantTranscript("Welcome! | Here is our menu. | Your name? | Thanks Ann")
}

func TestPassiveReplyNotWrittenIsUnknown(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": passiveFlows})
	r := h.replyTo(channels.Event{Kind: channels.Follow})
	if r == nil {
		t.Fatal("no passive reply")
	}
	if err := h.e.FinishReply(h.ctx, r, false); err != nil {
		t.Fatal(err)
	}
	h.sync()
	h.wantTranscript("Welcome! [unknown] | Here is our menu. | Your name?")
}

func TestPassiveReplyInterruptedIsUnknownAfterRestart(t *testing.T) {
	files := map[string]string{"welcome.yaml": passiveFlows}
	h := newHarness(t, files)
	if r := h.replyTo(channels.Event{Kind: channels.Follow}); r == nil {
		t.Fatal("no passive reply")
	}
	// The process stops before the answer is written (the messages held
	// back behind the passive reply may go out as the engine stops).
	h.e.Stop()
	h.restart(files)
	h.sync()
	out := h.outbox()
	if len(out) != 3 || out[0].Status != engine.OutboxUnknown || out[0].Detail == engine.PassiveDetail {
		t.Fatalf("after restart: %s", h.transcript())
	}
}

func TestNoPassiveReplyWhenNothingStartsOrMenuFirst(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send:
      menu:
        items: [{ id: a, text: A }]
  - send: "after"
`})
	if r := h.replyTo(channels.Event{Kind: channels.Follow}); r != nil {
		t.Errorf("a message menu became a passive reply: %+v", r)
	}
	if r := h.replyTo(channels.Event{Kind: channels.Scan, Scene: "x"}); r != nil {
		t.Errorf("an event that starts nothing got a passive reply: %+v", r)
	}
	h.sync()
	h.wantTranscript("menu: | after")
}

func TestNoPassiveReplyPastTheDeadline(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": passiveFlows})
	h.clock.Advance(time.Second)
	ev := channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: h.clock.Now()}
	r, err := h.e.IngestReply(h.ctx, ev, h.clock.Now().Add(-time.Millisecond))
	if err != nil || r != nil {
		t.Fatalf("IngestReply past its deadline = %+v, %v; want no reply", r, err)
	}
	h.sync()
	h.wantTranscript("Welcome! | Here is our menu. | Your name?")
}
