package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// TestBatchInFewRoundTrips: the store's transactions do a batch's work
// set-based (engine.BatchTx): 200 follow events recorded with their
// contacts read in one round trip, and each one's contact, session, run
// and message written at the commit, cost a handful of round trips, not
// one or more per event.
func TestBatchInFewRoundTrips(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	const n = 200
	now := time.Unix(1700000000, 0)
	before := s.WriterStats()
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		b, ok := tx.(engine.BatchTx)
		if !ok {
			t.Fatalf("the store's Tx (%T) is not an engine.BatchTx", tx)
		}
		recs := make([]*engine.EventRecord, n)
		for i := range recs {
			ev := channels.Event{Account: "a", Contact: fmt.Sprintf("u%d", i), Kind: channels.Follow, At: now}
			recs[i] = &engine.EventRecord{Key: ev.DedupeKey(), Event: ev, ReceivedAt: now}
		}
		added, err := b.AddEvents(recs)
		if err != nil {
			return err
		}
		for i, r := range recs {
			if !added[i] {
				t.Errorf("event %d not added", i)
			}
			c := r.Event.Contact
			if _, err := tx.Contact("a", c); err != engine.ErrNotFound {
				return fmt.Errorf("contact %s: %v, want ErrNotFound", c, err)
			}
			if runs, err := tx.Runs(engine.RunFilter{Account: "a", Contact: c, Active: true}); err != nil || len(runs) != 0 {
				return fmt.Errorf("active runs of %s: %d, %v", c, len(runs), err)
			}
			if err := tx.PutContact(&engine.Contact{Account: "a", ID: c, Followed: true, FirstSeen: now, LastSeen: now}); err != nil {
				return err
			}
			if err := tx.PutSession("a", c, channels.Session{Followed: true, Last: now, Kind: channels.EventInteraction}); err != nil {
				return err
			}
			id, err := tx.NewRunID()
			if err != nil {
				return err
			}
			run := &engine.Run{ID: id, Account: "a", Contact: c, Flow: "welcome", Version: "v", Status: engine.RunCompleted, Pos: "1",
				StartedAt: now, UpdatedAt: now, EndedAt: now}
			if err := tx.InsertRun(run); err != nil {
				return err
			}
			o := &engine.OutboxEntry{RunID: id, Account: "a", Contact: c, Message: channels.Message{Type: "text", Text: "Welcome!"},
				Status: engine.OutboxPending, CreatedAt: now, UpdatedAt: now}
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	trips := s.WriterStats().RoundTrips - before.RoundTrips
	// AddEvents (with BEGIN), a block of run ids, a block of outbox ids,
	// the writes with COMMIT.
	if trips > 4 {
		t.Errorf("%d round trips for a batch of %d follows, want at most 4", trips, n)
	}
	err = s.View(context.Background(), func(tx engine.ReadTx) error {
		counts, err := tx.Counts()
		if err != nil {
			return err
		}
		for _, table := range []string{"events", "contacts", "sessions", "runs", "outbox"} {
			if counts[table] != n {
				t.Errorf("%s: %d rows, want %d", table, counts[table], n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
