package engine

import "fmt"

// BatchTx is a Tx that does a batch's work set-based. A store whose calls
// each cost a round trip (PostgreSQL) implements it, so that the writer
// records the events of a batch, and reads their contacts, in one round
// trip instead of one per event; a store whose calls are cheap (SQLite, in
// the process) need not. The writer uses it when the Tx that Store.Update
// gives implements it, for batches of more than one job.
type BatchTx interface {
	Tx
	// AddEvents records events by their dedupe keys, as AddEvent called
	// for each in turn would: added[i] is false when an event with
	// recs[i]'s key was recorded before, earlier in recs included. The
	// store may read the events' contacts (with their sessions and active
	// runs) together, so that the transaction's reads of them that follow
	// (Contact, Session, Runs of a contact's active runs) cost no round
	// trip; those reads still see every write the transaction made.
	AddEvents(recs []*EventRecord) (added []bool, err error)
}

// recordedEvent is what the writer recorded, ahead of a job, of the
// job's event: its dedupe key and whether it was added.
type recordedEvent struct {
	key   string
	added bool
}

// recordEvents records the events of a batch's ingest jobs in one call
// when the store's transaction can (BatchTx), each with its job's time
// (works[i].now) as when it is received, and hands each work what was
// recorded of its event. Events without a time are left to their jobs
// (their dedupe key depends on the time the job gives them), and so are
// those the job would not handle itself (see work.direct): it queues
// them for their lane's node. A batch of one job leaves its event to
// the job too, unless alone is set (the take of the queue waits to go
// with it: takeAhead).
func recordEvents(tx Tx, batch []*job, works []*work, alone bool) error {
	btx, ok := tx.(BatchTx)
	if !ok || (len(batch) < 2 && !alone) {
		return nil
	}
	var recs []*EventRecord
	var idx []int
	for i, j := range batch {
		if j.ev == nil || j.ev.At.IsZero() || !works[i].direct(j.ev.Account, j.ev.Contact) {
			continue
		}
		recs = append(recs, &EventRecord{Key: j.ev.DedupeKey(), Event: *j.ev, ReceivedAt: works[i].now})
		idx = append(idx, i)
	}
	if len(recs) == 0 {
		return nil
	}
	added, err := btx.AddEvents(recs)
	if err != nil {
		return err
	}
	if len(added) != len(recs) {
		return fmt.Errorf("add events: the store answered %d of %d", len(added), len(recs))
	}
	for k, i := range idx {
		works[i].recorded = &recordedEvent{key: recs[k].Key, added: added[k]}
	}
	return nil
}
