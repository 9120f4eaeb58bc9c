package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// The cases of engine.BatchTx, the set-based work of a batch, for stores
// whose Tx implements it (they skip for the others), and of the writes of
// one row in one transaction, which a store that sends writes together
// must keep in order.

// batchTx returns the transaction as an engine.BatchTx, skipping the test
// when the store does not do set-based work.
func batchTx(t *testing.T, tx engine.Tx) engine.BatchTx {
	t.Helper()
	b, ok := tx.(engine.BatchTx)
	if !ok {
		t.Skip("the store's Tx is not an engine.BatchTx")
	}
	return b
}

func batchEvent(key, contact string) *engine.EventRecord {
	return &engine.EventRecord{Key: key, Event: channels.Event{Account: "a", Contact: contact, Kind: channels.Text, MsgID: key, Text: "hi " + key, At: at(0)}, ReceivedAt: at(time.Second)}
}

// testAddEventsDedupe: AddEvents records as AddEvent one after the other
// would: an event recorded before, or earlier in the same call, is not
// added; later AddEvent calls see the events it added.
func testAddEventsDedupe(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		_, err := tx.AddEvent(batchEvent("k1", "alice"))
		return err
	})
	update(t, s, func(tx engine.Tx) error {
		b := batchTx(t, tx)
		added, err := b.AddEvents([]*engine.EventRecord{
			batchEvent("k1", "alice"), batchEvent("k2", "alice"), batchEvent("k2", "alice"), batchEvent("k3", "bob"),
		})
		if err != nil {
			return err
		}
		if want := []bool{false, true, false, true}; !slices.Equal(added, want) {
			t.Errorf("AddEvents = %v, want %v", added, want)
		}
		for key, want := range map[string]bool{"k3": false, "k4": true} {
			got, err := tx.AddEvent(batchEvent(key, "carol"))
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("AddEvent(%s) after AddEvents: added = %v, want %v", key, got, want)
			}
		}
		// The reply of an event AddEvents added can be set.
		return tx.SetEventReply("k2", 7)
	})
	checkCounts(t, s, map[string]int{"events": 4})
	view(t, s, func(tx engine.ReadTx) error {
		id, err := tx.EventReply("k2")
		if err != nil || id != 7 {
			t.Errorf("EventReply(k2) = %d, %v; want 7", id, err)
		}
		return nil
	})
	// A transaction that fails keeps none of the events it added.
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if _, err := batchTx(t, tx).AddEvents([]*engine.EventRecord{batchEvent("k5", "dave")}); err != nil {
			return err
		}
		return errors.New("fail")
	})
	if err == nil {
		t.Fatal("Update that failed: err = nil")
	}
	checkCounts(t, s, map[string]int{"events": 4})
}

// testAddEventsReadsOwnWrites: after AddEvents (which may read the events'
// contacts ahead), reads of those contacts, their sessions and their
// active runs see the transaction's writes, made before or after it, and
// not those of a savepoint rolled back.
func testAddEventsReadsOwnWrites(t *testing.T, s engine.Store) {
	alice := sampleContact("a", "alice")
	waiting := numberedRun(1, "a", "alice", "survey", engine.RunWaitingReply)
	update(t, s, func(tx engine.Tx) error {
		if err := tx.PutContact(alice); err != nil {
			return err
		}
		if err := tx.PutSession("a", "alice", channels.Session{Followed: true, Last: at(time.Minute), Kind: channels.MessageInteraction, Used: 1}); err != nil {
			return err
		}
		if err := tx.InsertRun(waiting); err != nil {
			return err
		}
		return tx.InsertRun(numberedRun(2, "a", "alice", "done", engine.RunCompleted))
	})
	activeIDs := func(tx engine.ReadTx, contact string) []int64 {
		t.Helper()
		runs, err := tx.Runs(engine.RunFilter{Account: "a", Contact: contact, Active: true})
		if err != nil {
			t.Fatalf("Runs: %v", err)
		}
		var ids []int64
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	update(t, s, func(tx engine.Tx) error {
		// A write before AddEvents.
		carol := sampleContact("a", "carol")
		carol.Tags = []string{"before"}
		if err := tx.PutContact(carol); err != nil {
			return err
		}
		b := batchTx(t, tx)
		if _, err := b.AddEvents([]*engine.EventRecord{batchEvent("e1", "alice"), batchEvent("e2", "bob"), batchEvent("e3", "carol")}); err != nil {
			return err
		}
		if c, err := tx.Contact("a", "carol"); err != nil || !c.HasTag("before") {
			t.Errorf("Contact(carol) written before AddEvents = %+v, %v", c, err)
		}
		c, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkContact(t, c, alice)
		if sess, ok, err := tx.Session("a", "alice"); err != nil || !ok || sess.Used != 1 {
			t.Errorf("Session(alice) = %+v, %v, %v; want the stored one", sess, ok, err)
		}
		if got := activeIDs(tx, "alice"); !slices.Equal(got, []int64{1}) {
			t.Errorf("active runs of alice = %v, want [1]", got)
		}
		if _, err := tx.Contact("a", "bob"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Contact(bob) = %v, want ErrNotFound", err)
		}
		if got := activeIDs(tx, "bob"); len(got) != 0 {
			t.Errorf("active runs of bob = %v, want none", got)
		}
		// Writes after AddEvents are read back.
		bob := sampleContact("a", "bob")
		bob.Tags = []string{"new"}
		if err := tx.PutContact(bob); err != nil {
			return err
		}
		if err := tx.PutSession("a", "bob", channels.Session{Followed: true, Used: 2}); err != nil {
			return err
		}
		if c, err := tx.Contact("a", "bob"); err != nil || !c.HasTag("new") {
			t.Errorf("Contact(bob) after PutContact = %+v, %v", c, err)
		}
		if sess, ok, err := tx.Session("a", "bob"); err != nil || !ok || sess.Used != 2 {
			t.Errorf("Session(bob) after PutSession = %+v, %v, %v", sess, ok, err)
		}
		bobRun := numberedRun(3, "a", "bob", "welcome", engine.RunWaitingTime)
		if err := tx.InsertRun(bobRun); err != nil {
			return err
		}
		newer := numberedRun(4, "a", "alice", "other", engine.RunRunning)
		if err := tx.InsertRun(newer); err != nil {
			return err
		}
		if got := activeIDs(tx, "bob"); !slices.Equal(got, []int64{3}) {
			t.Errorf("active runs of bob after InsertRun = %v, want [3]", got)
		}
		if got := activeIDs(tx, "alice"); !slices.Equal(got, []int64{4, 1}) {
			t.Errorf("active runs of alice after InsertRun = %v, want [4 1] (newest first)", got)
		}
		// An update that keeps a run active is read back; one that ends
		// it drops it from the active runs.
		newer.Step, newer.Seq = "moved on", 9
		if err := tx.UpdateRun(newer); err != nil {
			return err
		}
		waiting.Status, waiting.EndedAt, waiting.Seq = engine.RunInterrupted, at(time.Hour), 4
		if err := tx.UpdateRun(waiting); err != nil {
			return err
		}
		runs, err := tx.Runs(engine.RunFilter{Account: "a", Contact: "alice", Active: true})
		if err != nil {
			return err
		}
		if len(runs) != 1 {
			t.Fatalf("active runs of alice after UpdateRun = %d runs, want 1", len(runs))
		}
		checkRun(t, runs[0], newer)
		// A savepoint rolled back: its writes are not read.
		tx.Savepoint(func() error {
			undone := sampleContact("a", "alice")
			undone.Tags = []string{"undone"}
			tx.PutContact(undone)
			tx.InsertRun(numberedRun(5, "a", "alice", "undone", engine.RunRunning))
			tx.UpdateRun(&engine.Run{ID: 4, Account: "a", Contact: "alice", Status: engine.RunFailed, EndedAt: at(time.Hour)})
			return errors.New("undo")
		})
		if c, err := tx.Contact("a", "alice"); err != nil || c.HasTag("undone") {
			t.Errorf("Contact(alice) after a rolled-back savepoint = %+v, %v", c, err)
		}
		if got := activeIDs(tx, "alice"); !slices.Equal(got, []int64{4}) {
			t.Errorf("active runs of alice after a rolled-back savepoint = %v, want [4]", got)
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		if got := activeIDs(tx, "alice"); !slices.Equal(got, []int64{4}) {
			t.Errorf("committed active runs of alice = %v, want [4]", got)
		}
		if got := activeIDs(tx, "bob"); !slices.Equal(got, []int64{3}) {
			t.Errorf("committed active runs of bob = %v, want [3]", got)
		}
		r, err := tx.Run(4)
		if err != nil {
			return err
		}
		checkRun(t, r, numberedRunStep(4, "moved on", 9))
		if c, err := tx.Contact("a", "bob"); err != nil || !c.HasTag("new") {
			t.Errorf("committed Contact(bob) = %+v, %v", c, err)
		}
		return nil
	})
	checkCounts(t, s, map[string]int{"contacts": 3, "sessions": 2, "runs": 4, "events": 3})
}

func numberedRunStep(id int64, step string, seq int64) *engine.Run {
	r := numberedRun(id, "a", "alice", "other", engine.RunRunning)
	r.Step, r.Seq = step, seq
	return r
}

// testWritesOfOneRowInOrder: several writes of one row in a transaction
// take effect in the order they were made (a store that sends writes
// together must keep it): a timer set then deleted is gone and one
// deleted then set is there; a run inserted then updated, or updated
// twice, is the last update; a message's start after its outcome changes
// nothing, an outcome after a start is the outcome, a message held back
// then started is one whose sending started (unknown at a recovery), and
// one started then held back (in a later transaction) is not.
func testWritesOfOneRowInOrder(t *testing.T, s engine.Store) {
	var ids [5]int64
	update(t, s, func(tx engine.Tx) error {
		for i := range ids {
			o := &engine.OutboxEntry{RunID: 1, Account: "a", Contact: "alice", Message: channels.Message{Type: "text", Text: "m"},
				Status: engine.OutboxPending, CreatedAt: at(0), UpdatedAt: at(0)}
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids[i] = o.ID
		}
		if err := tx.SetTimer(engine.Timer{RunID: 2, Seq: 1, Due: at(time.Hour), Account: "a", Contact: "alice"}); err != nil {
			return err
		}
		return tx.InsertRun(numberedRun(1, "a", "alice", "f", engine.RunRunning))
	})
	update(t, s, func(tx engine.Tx) error {
		for _, err := range []error{
			tx.SetTimer(engine.Timer{RunID: 1, Seq: 1, Due: at(time.Hour), Account: "a", Contact: "alice"}),
			tx.DeleteTimer(1),
			tx.DeleteTimer(2),
			tx.SetTimer(engine.Timer{RunID: 2, Seq: 5, Due: at(2 * time.Hour), Account: "a", Contact: "alice"}),
			tx.InsertRun(numberedRun(2, "a", "alice", "g", engine.RunRunning)),
			tx.UpdateRun(numberedRun(2, "a", "alice", "g", engine.RunCompleted)),
			tx.UpdateRun(numberedRun(1, "a", "alice", "f", engine.RunWaitingTime)),
			tx.UpdateRun(numberedRun(1, "a", "alice", "f", engine.RunTimedOut)),
			// Outcome, then start: the start finds it not pending.
			tx.FinishOutbox(ids[0], engine.OutboxSent, "", 0, "", at(time.Minute)),
			tx.StartOutbox([]int64{ids[0]}, at(2*time.Minute)),
			// Start, then outcome.
			tx.StartOutbox([]int64{ids[1]}, at(time.Minute)),
			tx.FinishOutbox(ids[1], engine.OutboxFailed, channels.ReasonAPIError, 45015, "no", at(2*time.Minute)),
			// Held back (pending, paused), then started.
			tx.FinishOutbox(ids[2], engine.OutboxPending, channels.ReasonPaused, 0, "", at(time.Minute)),
			tx.StartOutbox([]int64{ids[2]}, at(2*time.Minute)),
			// Started twice, then sent.
			tx.StartOutbox([]int64{ids[3]}, at(time.Minute)),
			tx.StartOutbox([]int64{ids[3]}, at(2*time.Minute)),
			tx.FinishOutbox(ids[3], engine.OutboxSent, "", 0, "", at(3*time.Minute)),
			// Started here, held back in the next transaction.
			tx.StartOutbox([]int64{ids[4]}, at(time.Minute)),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx engine.Tx) error {
		return tx.FinishOutbox(ids[4], engine.OutboxPending, channels.ReasonPaused, 0, "", at(3*time.Minute))
	})
	update(t, s, func(tx engine.Tx) error {
		n, err := tx.RecoverOutbox(at(time.Hour))
		if err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("RecoverOutbox = %d, want 1 (the message held back, then started)", n)
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		due, err := tx.DueTimers(at(24*time.Hour), 10)
		if err != nil {
			return err
		}
		if len(due) != 1 || due[0].RunID != 2 || due[0].Seq != 5 {
			t.Errorf("timers = %+v, want run 2's (seq 5) only", due)
		}
		for id, want := range map[int64]engine.RunStatus{1: engine.RunTimedOut, 2: engine.RunCompleted} {
			r, err := tx.Run(id)
			if err != nil {
				return err
			}
			checkRun(t, r, numberedRun(id, "a", "alice", map[int64]string{1: "f", 2: "g"}[id], want))
		}
		for i, want := range []engine.OutboxStatus{engine.OutboxSent, engine.OutboxFailed, engine.OutboxUnknown, engine.OutboxSent, engine.OutboxPending} {
			o, err := tx.OutboxEntry(ids[i])
			if err != nil {
				return err
			}
			if o.Status != want {
				t.Errorf("message %d = %s (%s), want %s", i, o.Status, o.Reason, want)
			}
		}
		return nil
	})
}
