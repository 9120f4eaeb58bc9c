package engine_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// errRolledBack is what a rollbackStore fails a transaction with.
var errRolledBack = errors.New("rolled back on purpose")

// rollbackStore is an engine.Store that, while armed with an event's
// dedupe key, fails every transaction that adds that event: after the
// whole job ran, so the job counted everything it would have.
type rollbackStore struct {
	engine.Store
	mu  sync.Mutex
	key string
	n   int // transactions failed so far
}

func (s *rollbackStore) arm(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

func (s *rollbackStore) failed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *rollbackStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error {
		rt := &rollbackTx{Tx: tx, s: s}
		if err := fn(rt); err != nil {
			return err
		}
		if rt.hit {
			s.mu.Lock()
			s.n++
			s.mu.Unlock()
			return errRolledBack
		}
		return nil
	})
}

type rollbackTx struct {
	engine.Tx
	s   *rollbackStore
	hit bool
}

func (t *rollbackTx) AddEvent(e *engine.EventRecord) (bool, error) {
	t.s.mu.Lock()
	if t.s.key != "" && e.Key == t.s.key {
		t.hit = true
	}
	t.s.mu.Unlock()
	return t.Tx.AddEvent(e)
}

// statsFlows: a welcome that sends, waits past the 48h window and tries
// again; a burst of six messages for a quota of five.
var statsFlows = map[string]string{
	"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: "Welcome"
  - wait: 49h
  - send: "Still there?"
`,
	"burst.yaml": `name: burst
triggers:
  - keyword: [burst]
steps:
  - send: "1"
  - send: "2"
  - send: "3"
  - send: "4"
  - send: "5"
  - send: "6"
`,
}

func sum(xs []uint64) uint64 {
	var n uint64
	for _, x := range xs {
		n += x
	}
	return n
}

func wantCounts[K comparable](t *testing.T, what string, got, want map[K]uint64) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestStatsCountWhatHappened: the engine's counters after follows, texts,
// a platform retry, sends the policy refused (window, quota) and one the
// platform left unknown, timers that fired late, an unfollow.
func TestStatsCountWhatHappened(t *testing.T) {
	t.Parallel()
	h := newHarness(t, statsFlows)
	ingests := 0
	send := func(ev channels.Event) {
		t.Helper()
		ingests++
		h.send(ev)
	}

	if st := h.e.Stats(); len(st.Events) != 0 || st.RunsStarted != nil || sum(st.IngestCounts) != 0 || len(st.IngestCounts) != len(engine.IngestBuckets)+1 {
		t.Fatalf("a new engine's stats = %+v", st)
	}

	send(channels.Event{Kind: channels.Follow, Contact: "alice"})                         // welcome: sent; waits
	send(channels.Event{Kind: channels.Follow, Contact: "bob"})                           // welcome: sent; waits
	send(channels.Event{Kind: channels.Text, Contact: "bob", Text: "burst", MsgID: "b1"}) // 5 sent, 1 over quota
	send(channels.Event{Kind: channels.Text, Contact: "bob", Text: "burst", MsgID: "b1"}) // a platform retry
	send(channels.Event{Kind: channels.Text, Contact: "alice", Text: "hello", MsgID: "a1"})
	h.ch.FailNext(1, fmt.Errorf("timeout: %w", channels.ErrUnknown))
	send(channels.Event{Kind: channels.Follow, Contact: "carol"}) // welcome: unknown; waits
	send(channels.Event{Kind: channels.Unfollow, Contact: "carol"})
	// The clock jumps 50h at once: alice's timer (due at follow+49h) and
	// bob's, a second later, fire an hour late; the windows are closed.
	bobFollow := t0.Add(2 * time.Second) // each event without a MsgID moves the clock 1s
	h.advance(bobFollow.Add(50 * time.Hour).Sub(h.clock.Now()))

	st := h.e.Stats()
	wantCounts(t, "Events", st.Events, map[channels.Kind]uint64{channels.Follow: 3, channels.Text: 2, channels.Unfollow: 1})
	if st.Duplicates != 1 {
		t.Errorf("Duplicates = %d, want 1", st.Duplicates)
	}
	wantCounts(t, "RunsStarted", st.RunsStarted, map[string]uint64{"welcome": 3, "burst": 1})
	wantCounts(t, "RunsEnded", st.RunsEnded, map[engine.RunStatus]uint64{engine.RunCompleted: 3, engine.RunUnfollowed: 1})
	wantCounts(t, "Messages", st.Messages, map[engine.MessageKey]uint64{
		{Status: engine.OutboxSent}:                                          7,
		{Status: engine.OutboxUnknown}:                                       1,
		{Status: engine.OutboxFailed, Reason: channels.ReasonQuotaExhausted}: 1,
		{Status: engine.OutboxFailed, Reason: channels.ReasonWindowClosed}:   2,
	})
	if st.TimersFired != 2 {
		t.Errorf("TimersFired = %d, want 2 (carol's timer went with her run)", st.TimersFired)
	}
	if want := h.clock.Now().Sub(bobFollow.Add(49 * time.Hour)); st.TimerLag != want || want != time.Hour {
		t.Errorf("TimerLag = %s, want %s (the last timer fired, bob's)", st.TimerLag, want)
	}
	if got := sum(st.IngestCounts); got != uint64(ingests) {
		t.Errorf("IngestCounts sum to %d, want %d (one per Ingest)", got, ingests)
	}
	if st.IngestSum <= 0 {
		t.Errorf("IngestSum = %v, want > 0", st.IngestSum)
	}
	if st.WriterQueue != 0 || st.OutboxQueue != 0 {
		t.Errorf("queues after Sync: writer %d, outbox %d; want 0", st.WriterQueue, st.OutboxQueue)
	}
	// The counters agree with the store.
	h.wantTranscript("Welcome | Still there? [failed window_closed]")
}

// TestStatsSkipRolledBackWork: a job whose transaction is rolled back
// counts nothing, though it ran to its end; the same event taken again
// counts once.
func TestStatsSkipRolledBackWork(t *testing.T) {
	t.Parallel()
	var rs *rollbackStore
	h := newHarnessWith(t, statsFlows, opts{tune: func(c *engine.Config) {
		rs = &rollbackStore{Store: c.Store}
		c.Store = rs
	}})
	h.send(channels.Event{Kind: channels.Follow, Contact: "dave"})
	before := h.e.Stats()

	ev := channels.Event{Account: "main", Contact: "dave", Kind: channels.Text, Text: "burst", MsgID: "d1"}
	rs.arm(ev.DedupeKey())
	if err := h.e.Ingest(h.ctx, ev); !errors.Is(err, errRolledBack) {
		t.Fatalf("Ingest = %v, want the store's failure", err)
	}
	h.sync()
	if rs.failed() == 0 {
		t.Fatal("no transaction was rolled back")
	}
	after := h.e.Stats()
	wantCounts(t, "Events after a rollback", after.Events, before.Events)
	wantCounts(t, "RunsStarted after a rollback", after.RunsStarted, before.RunsStarted)
	wantCounts(t, "RunsEnded after a rollback", after.RunsEnded, before.RunsEnded)
	wantCounts(t, "Messages after a rollback", after.Messages, before.Messages)
	if after.Duplicates != before.Duplicates {
		t.Errorf("Duplicates after a rollback = %d, want %d", after.Duplicates, before.Duplicates)
	}
	if got := h.runsOf("dave", "burst"); len(got) != 0 {
		t.Fatalf("the rolled-back job left runs: %s", statuses(got))
	}
	// Latency is a measure of the call, failed or not.
	if got, want := sum(after.IngestCounts), sum(before.IngestCounts)+1; got != want {
		t.Errorf("IngestCounts sum = %d, want %d", got, want)
	}

	rs.arm("")
	h.ingest(ev)
	st := h.e.Stats()
	wantCounts(t, "Events", st.Events, map[channels.Kind]uint64{channels.Follow: 1, channels.Text: 1})
	if st.Duplicates != 0 {
		t.Errorf("Duplicates = %d, want 0: the rolled-back event was never recorded", st.Duplicates)
	}
	wantCounts(t, "RunsStarted", st.RunsStarted, map[string]uint64{"welcome": 1, "burst": 1})
	wantCounts(t, "RunsEnded", st.RunsEnded, map[engine.RunStatus]uint64{engine.RunCompleted: 1})
	wantCounts(t, "Messages", st.Messages, map[engine.MessageKey]uint64{
		{Status: engine.OutboxSent}: 6, // welcome's and five of the burst
		{Status: engine.OutboxFailed, Reason: channels.ReasonQuotaExhausted}: 1,
	})
	if got := statuses(h.runsOf("dave", "burst")); got != "burst:completed" {
		t.Errorf("dave's burst runs: %s", got)
	}
}
