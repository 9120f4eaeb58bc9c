package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
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
	h.lastAt = ev.At
	return h.ingestReply(ev)
}

// ingestReply ingests ev through IngestReply with a second to answer.
func (h *harness) ingestReply(ev channels.Event) *engine.Reply {
	h.t.Helper()
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

// A passive reply WeChat cannot have got (not written, or too late) goes
// by the API, before the contact's other messages, spending quota.
func TestPassiveReplyNotWrittenGoesByTheAPI(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": passiveFlows})
	r := h.replyTo(channels.Event{Kind: channels.Follow})
	if r == nil {
		t.Fatal("no passive reply")
	}
	if err := h.e.FinishReply(h.ctx, r, false); err != nil {
		t.Fatal(err)
	}
	h.sync()
	h.wantTranscript("Welcome! | Here is our menu. | Your name?")
	got := h.ch.DeliveredTo("main", "alice")
	if len(got) != 3 || got[0].Message.Text != "Welcome!" || got[1].Message.Text != "Here is our menu." {
		t.Fatalf("the API got %+v, want the reply first, then the others", got)
	}
	if o := h.outbox()[0]; o.Status != engine.OutboxSent || !strings.Contains(o.Detail, "sent by the API") {
		t.Errorf("the reply's entry is %s %q", o.Status, o.Detail)
	}
	h.view(func(tx engine.ReadTx) error {
		s, _, err := tx.Session("main", "alice")
		if s.Used != 3 {
			t.Errorf("session used %d replies, want 3", s.Used)
		}
		return err
	})
	// A retry of the callback now gets no passive reply: the API has it.
	if r := h.replay(); r != nil {
		t.Fatalf("a retry got the reply the API sent: %+v", r)
	}
}

// replay ingests the follow of replyTo again, as a platform retry (same
// time, same contact).
func (h *harness) replay() *engine.Reply {
	h.t.Helper()
	return h.ingestReply(channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: h.lastAt})
}

// WeChat retries a callback only when it did not get the answer: a retry
// of a callback answered with a passive reply gets the same reply, and
// nothing runs twice.
func TestPassiveReplyRetryGetsTheSameReply(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": passiveFlows})
	r := h.replyTo(channels.Event{Kind: channels.Follow})
	if r == nil {
		t.Fatal("no passive reply")
	}
	if err := h.e.FinishReply(h.ctx, r, true); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(5 * time.Second)
	r2 := h.replay()
	if r2 == nil || r2.Message.Text != "Welcome!" {
		t.Fatalf("the retry got %+v, want the reply Welcome! again", r2)
	}
	// This attempt's answer was lost too: nothing changes (another
	// attempt may have delivered it).
	if err := h.e.FinishReply(h.ctx, r2, false); err != nil {
		t.Fatal(err)
	}
	r3 := h.replay()
	if r3 == nil || r3.Message.Text != "Welcome!" {
		t.Fatalf("the third attempt got %+v, want the reply again", r3)
	}
	if err := h.e.FinishReply(h.ctx, r3, true); err != nil {
		t.Fatal(err)
	}
	h.sync()
	h.wantTranscript("Welcome! | Here is our menu. | Your name?")
	if got := h.ch.DeliveredTo("main", "alice"); len(got) != 2 {
		t.Fatalf("the API got %d messages, want 2 (the reply went passively)", len(got))
	}
	if o := h.outbox()[0]; o.Status != engine.OutboxSent || o.Detail != engine.PassiveDetail {
		t.Errorf("the reply's entry is %s %q", o.Status, o.Detail)
	}
	if runs := h.runs("welcome"); len(runs) != 1 {
		t.Errorf("the retries started %d runs", len(runs))
	}
	// Long after, a replay is not a retry.
	h.clock.Advance(time.Hour)
	if r := h.replay(); r != nil {
		t.Errorf("a replay an hour later got the reply: %+v", r)
	}
}

// holdChannel holds every send until released.
type holdChannel struct {
	channels.Channel
	release chan struct{}
}

func (c holdChannel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	select {
	case <-c.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.Channel.Send(ctx, account, contact, msg)
}

// A passive reply never overtakes a message of the contact still on its
// way through the API: the callback is answered `success` and its reply
// goes by the API, after it.
func TestNoPassiveReplyWhileMessagesAreOnTheirWay(t *testing.T) {
	release := make(chan struct{})
	h := newHarnessWith(t, map[string]string{"welcome.yaml": passiveFlows, "hi.yaml": `name: hi
triggers:
  - keyword: [hi]
    interrupt: true
steps:
  - send: "Hello again"
`}, opts{tune: func(c *engine.Config) { c.Channel = holdChannel{c.Channel, release} }})
	r := h.replyTo(channels.Event{Kind: channels.Follow})
	if r == nil || r.Message.Text != "Welcome!" {
		t.Fatalf("IngestReply = %+v", r)
	}
	if err := h.e.FinishReply(h.ctx, r, true); err != nil {
		t.Fatal(err)
	}
	// "Here is our menu." and "Your name?" are held at the API.
	if r := h.replyTo(channels.Event{Kind: channels.Text, Text: "hi", MsgID: "7"}); r != nil {
		t.Fatalf("the text got the passive reply %q while two messages were on their way", r.Message.Text)
	}
	close(release)
	h.sync()
	var got []string
	for _, d := range h.ch.DeliveredTo("main", "alice") {
		got = append(got, d.Message.Text)
	}
	if strings.Join(got, " | ") != "Here is our menu. | Your name? | Hello again" {
		t.Fatalf("the API got %q", got)
	}
	// Nothing on its way now: the next callback may be answered.
	if r := h.replyTo(channels.Event{Kind: channels.Text, Text: "hi", MsgID: "8"}); r == nil {
		t.Fatal("no passive reply with nothing on its way")
	} else if err := h.e.FinishReply(h.ctx, r, true); err != nil {
		t.Fatal(err)
	}
}

// failingStore fails every write once broken, like a full disk.
type failingStore struct {
	engine.Store
	broken *atomic.Bool
}

func (s failingStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	if s.broken.Load() {
		return errors.New("database or disk is full")
	}
	return s.Store.Update(ctx, fn)
}

func TestCheckWriteReportsAFailingStore(t *testing.T) {
	var broken atomic.Bool
	h := newHarnessWith(t, nil, opts{tune: func(c *engine.Config) { c.Store = failingStore{c.Store, &broken} }})
	if err := h.e.CheckWrite(h.ctx); err != nil {
		t.Fatalf("a healthy store: %v", err)
	}
	broken.Store(true)
	if err := h.e.CheckWrite(h.ctx); err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("a store that takes no writes: %v", err)
	}
	broken.Store(false)
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

// pauseOnce answers the first send with a pause of the account's sends,
// as the WeChat channel's breaker does in an error storm.
type pauseOnce struct {
	channels.Channel
	clock engine.Clock
	mu    sync.Mutex
	until time.Time
}

func (c *pauseOnce) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	c.mu.Lock()
	now := c.clock.Now()
	if c.until.IsZero() {
		c.until = now.Add(time.Minute)
	}
	until := c.until
	c.mu.Unlock()
	if now.Before(until) {
		return &channels.Paused{Until: until, Cause: "WeChat answered -1 (system busy) 5 times in a row"}
	}
	return c.Channel.Send(ctx, account, contact, msg)
}

// A passive reply going by the API while the account's sends are paused
// waits with the account's messages, first, and goes once when the pause
// is over.
func TestPassiveReplyByTheAPIWaitsOutAPause(t *testing.T) {
	var ch *pauseOnce
	h := newHarnessWith(t, map[string]string{"welcome.yaml": passiveFlows}, opts{tune: func(c *engine.Config) {
		ch = &pauseOnce{Channel: c.Channel, clock: c.Clock}
		c.Channel = ch
	}})
	r := h.replyTo(channels.Event{Kind: channels.Follow})
	if r == nil {
		t.Fatal("no passive reply")
	}
	if err := h.e.FinishReply(h.ctx, r, false); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if got := h.ch.DeliveredTo("main", "alice"); len(got) != 0 {
		t.Fatalf("sent while paused: %+v", got)
	}
	if o := h.outbox()[0]; o.Status != engine.OutboxPending || o.Reason != channels.ReasonPaused {
		t.Fatalf("the reply is %s %s %q while paused, want pending, paused", o.Status, o.Reason, o.Detail)
	}
	h.advance(2 * time.Minute)
	h.sync()
	var got []string
	for _, d := range h.ch.DeliveredTo("main", "alice") {
		got = append(got, d.Message.Text)
	}
	if strings.Join(got, " | ") != "Welcome! | Here is our menu. | Your name?" {
		t.Fatalf("after the pause the API got %q", got)
	}
	if o := h.outbox()[0]; o.Status != engine.OutboxSent {
		t.Errorf("the reply is %s %q", o.Status, o.Detail)
	}
}
