package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// failStartStore fails the second time a transaction records that sends
// start (the dispatcher's marks ahead of the sends), once.
type failStartStore struct {
	engine.Store
	calls *atomic.Int32
}

func (s *failStartStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error { return fn(&failStartTx{Tx: tx, s: s}) })
}

type failStartTx struct {
	engine.Tx
	s *failStartStore
}

func (t *failStartTx) StartOutbox(ids []int64, at time.Time) error {
	if t.s.calls.Add(1) == 2 {
		return errors.New("recording the start failed (test)")
	}
	return t.Tx.StartOutbox(ids, at)
}

// TestFailedStartMarkSendsNothingAfterIt: when recording that a message's
// send starts fails, no later message of its contact goes before it (the
// rest of the round waits too); they go, in order, when it is sent.
func TestFailedStartMarkSendsNothingAfterIt(t *testing.T) {
	t.Parallel()
	calls := new(atomic.Int32) // across the restart: it fails once
	h := newHarnessWith(t, map[string]string{
		"three.yaml": "name: three\ntriggers: [message]\nsteps:\n  - send: one\n  - send: two\n  - send: three\n  - send: four\n",
	}, opts{tune: func(c *engine.Config) { c.Store = &failStartStore{Store: c.Store, calls: calls} }})
	h.say("hi")
	delivered := func() string {
		var got []string
		for _, d := range h.ch.DeliveredTo("main", "alice") {
			got = append(got, d.Message.Text)
		}
		return strings.Join(got, " ")
	}
	if got := delivered(); got != "one" {
		t.Fatalf("delivered %q after the failed mark, want only %q", got, "one")
	}
	// The next start (the store is the truth) sends the rest, in order.
	h.restart(map[string]string{"three.yaml": "name: three\ntriggers: [message]\nsteps:\n  - send: one\n"})
	if got := delivered(); got != "one two three four" {
		t.Fatalf("delivered %q, want one two three four", got)
	}
}
