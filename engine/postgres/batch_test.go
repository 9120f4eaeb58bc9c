package postgres_test

import (
	"context"
	"errors"
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
			if err := insertPending(tx, id, c, "Welcome!", now); err != nil {
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

// insertPending inserts a pending text message of a run for a contact of
// account a.
func insertPending(tx engine.Tx, runID int64, contact, text string, now time.Time) error {
	return tx.InsertOutbox(&engine.OutboxEntry{RunID: runID, Account: "a", Contact: contact, Message: channels.Message{Type: "text", Text: text},
		Status: engine.OutboxPending, CreatedAt: now, UpdatedAt: now})
}

// TestIDBlocksTakenAhead: a transaction that leaves few ids of a block
// takes the next block with its commit, so that the next transactions
// find their run and outbox ids without a round trip for them; the ids
// stay unique and in order, and a run id a caller chose is never given,
// even when the block holding it was asked for before it was chosen.
func TestIDBlocksTakenAhead(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	now := time.Unix(1700000000, 0)
	var last int64
	seen := map[int64]bool{}
	insert := func(tx engine.Tx, id int64) error {
		run := &engine.Run{ID: id, Account: "a", Contact: "c", Flow: "f", Version: "v", Status: engine.RunCompleted, Pos: "1",
			StartedAt: now, UpdatedAt: now, EndedAt: now}
		return tx.InsertRun(run)
	}
	// batch takes n run ids and outbox ids in a transaction, inserting
	// a run with an id of its own choosing (last given + ahead) after
	// the first at of them when ahead is set; it returns its round
	// trips.
	batch := func(n, at int, ahead int64) int64 {
		t.Helper()
		before := s.WriterStats()
		err := s.Update(context.Background(), func(tx engine.Tx) error {
			for i := range n {
				if ahead != 0 && i == at {
					chosen := last + ahead
					if err := insert(tx, chosen); err != nil {
						return err
					}
					seen[chosen] = true
				}
				id, err := tx.NewRunID()
				if err != nil {
					return err
				}
				if id <= last || seen[id] {
					t.Errorf("run id %d given after %d, or chosen before", id, last)
				}
				last = id
				seen[id] = true
				if err := insert(tx, id); err != nil {
					return err
				}
				if err := insertPending(tx, id, "c", "hi", now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return s.WriterStats().RoundTrips - before.RoundTrips
	}
	// The first takes a block of each (two round trips) and, past
	// half of them, the next blocks with its commit.
	if trips := batch(150, 0, 0); trips != 3 {
		t.Errorf("first transaction: %d round trips, want 3", trips)
	}
	for i := range 9 {
		at, ahead := 0, int64(0)
		switch i {
		case 1:
			// Chosen while the next block is asked for and not yet
			// answered (after 100 ids, fewer than half a block are
			// left): the block holds it.
			at, ahead = 100, 300
		case 3:
			// Chosen in the block taken ahead by the last transaction.
			at, ahead = 0, 100
		}
		// A chosen id drops the ids kept before it: that transaction
		// or the next may take a block for itself.
		if trips := batch(150, at, ahead); trips != 1 && (i < 1 || i > 4) {
			t.Errorf("transaction %d: %d round trips, want 1 (its commit)", i+2, trips)
		}
	}
}

// TestFreshRowsInsertedPlain: a batch reads each event's contact and
// session, either of them absent, and writes them back whichever way:
// those it read absent by a plain insert, the others by an upsert. A
// contact someone else inserted between the read and the commit (which
// lanes rule out) fails the commit, which stores nothing; with an
// upsert, the commit would have gone through.
func TestFreshRowsInsertedPlain(t *testing.T) {
	dsn := freshSchema(t)
	s := open(t, dsn)
	defer s.Close()
	ctx := context.Background()
	now := time.Unix(1700000000, 0)
	later := now.Add(time.Hour)
	events := func(ids ...string) []*engine.EventRecord {
		recs := make([]*engine.EventRecord, len(ids))
		for i, id := range ids {
			ev := channels.Event{Account: "a", Contact: id, Kind: channels.Text, Text: "hi", MsgID: "m-" + id, At: later}
			recs[i] = &engine.EventRecord{Key: ev.DedupeKey(), Event: ev, ReceivedAt: later}
		}
		return recs
	}
	// old has a contact and a session, bare a contact only, loose a
	// session only, and new neither.
	err := s.Update(ctx, func(tx engine.Tx) error {
		for _, id := range []string{"old", "bare"} {
			if err := tx.PutContact(&engine.Contact{Account: "a", ID: id, Followed: true, FirstSeen: now, LastSeen: now}); err != nil {
				return err
			}
		}
		for _, id := range []string{"old", "loose"} {
			if err := tx.PutSession("a", id, channels.Session{Followed: true, Last: now, Kind: channels.EventInteraction, Used: 2}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"old", "bare", "loose", "new"}
	err = s.Update(ctx, func(tx engine.Tx) error {
		if _, err := tx.(engine.BatchTx).AddEvents(events(ids...)); err != nil {
			return err
		}
		for _, id := range ids {
			_, found, err := tx.Session("a", id)
			if err != nil {
				return err
			}
			if want := id == "old" || id == "loose"; found != want {
				t.Errorf("session of %s read with the events: found %v, want %v", id, found, want)
			}
			_, err = tx.Contact("a", id)
			if want := id == "old" || id == "bare"; (err == nil) != want {
				t.Errorf("contact %s read with the events: %v, want found %v", id, err, want)
			}
			if err := tx.PutContact(&engine.Contact{Account: "a", ID: id, Followed: true, FirstSeen: now, LastSeen: later}); err != nil {
				return err
			}
			if err := tx.PutSession("a", id, channels.Session{Followed: true, Last: later, Kind: channels.MessageInteraction, Used: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the batch of old, bare, loose and new contacts: %v", err)
	}
	err = s.View(ctx, func(tx engine.ReadTx) error {
		for _, id := range ids {
			c, err := tx.Contact("a", id)
			if err != nil {
				return err
			}
			sess, found, err := tx.Session("a", id)
			if err != nil {
				return err
			}
			if !c.LastSeen.Equal(later) || !found || !sess.Last.Equal(later) || sess.Used != 1 || sess.Kind != channels.MessageInteraction {
				t.Errorf("%s after the batch: contact last seen %v, session %+v (found %v); want both at %v, 1 used", id, c.LastSeen, sess, found, later)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	other := open(t, dsn)
	defer other.Close()
	err = s.Update(ctx, func(tx engine.Tx) error {
		if _, err := tx.(engine.BatchTx).AddEvents(events("racer")); err != nil {
			return err
		}
		err := other.Update(ctx, func(o engine.Tx) error {
			return o.PutContact(&engine.Contact{Account: "a", ID: "racer", Followed: true, FirstSeen: now, LastSeen: now})
		})
		if err != nil {
			t.Fatalf("the other store's insert: %v", err)
		}
		return tx.PutContact(&engine.Contact{Account: "a", ID: "racer", Followed: true, FirstSeen: later, LastSeen: later})
	})
	var coded interface{ SQLState() string }
	if !errors.As(err, &coded) || coded.SQLState() != "23505" {
		t.Fatalf("a contact read absent and inserted meanwhile: commit %v, want a unique violation (23505)", err)
	}
	stop := errors.New("rolled back")
	err = s.Update(ctx, func(tx engine.Tx) error {
		added, err := tx.(engine.BatchTx).AddEvents(events("racer"))
		if err != nil {
			return err
		}
		if !added[0] {
			t.Error("the failed commit stored the racer's event")
		}
		if c, err := tx.Contact("a", "racer"); err != nil || !c.LastSeen.Equal(now) {
			t.Errorf("the racer's contact after the failed commit: %+v, %v; want the other store's", c, err)
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
}
