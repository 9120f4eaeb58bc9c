package storetest

import (
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// testEventNotes: a contact's notes come back newest first, up to the
// limit, only theirs; a second note for an event replaces the first; the
// notes of events received before a cut go with the last batch of
// PruneEvents.
func testEventNotes(t *testing.T, s engine.Store) {
	note := func(key, contact string, kind channels.Kind, d time.Duration, why string) *engine.EventNote {
		return &engine.EventNote{Key: key, Account: "main", Contact: contact, Kind: kind, At: at(d), Why: why}
	}
	update(t, s, func(tx engine.Tx) error {
		for _, n := range []*engine.EventNote{
			note("k1", "alice", channels.Text, 0, "no trigger matched text \"hi\""),
			note("k2", "alice", channels.MenuClick, time.Minute, "unknown menu key \"M\""),
			note("k3", "bob", channels.Text, time.Minute, "bob's"),
			note("k4", "alice", channels.Follow, time.Hour, "first version"),
			note("k4", "alice", channels.Follow, time.Hour, "no trigger matched follow"),
		} {
			if err := tx.AddEventNote(n); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(contact string, limit int) []*engine.EventNote {
		var out []*engine.EventNote
		view(t, s, func(tx engine.ReadTx) error {
			var err error
			out, err = tx.EventNotes("main", contact, limit)
			return err
		})
		return out
	}
	got := list("alice", 10)
	var keys, whys []string
	for _, n := range got {
		keys, whys = append(keys, n.Key), append(whys, n.Why)
		if n.Account != "main" || n.Contact != "alice" {
			t.Errorf("note %s of %s/%s", n.Key, n.Account, n.Contact)
		}
	}
	mustEqual(t, "alice's notes", keys, []string{"k4", "k2", "k1"})
	mustEqual(t, "their whys", whys, []string{"no trigger matched follow", "unknown menu key \"M\"", "no trigger matched text \"hi\""})
	if len(got) == 3 {
		mustEqual(t, "kind", got[1].Kind, channels.MenuClick)
		checkTime(t, "at", got[1].At, at(time.Minute))
	}
	mustEqual(t, "limit 1", len(list("alice", 1)), 1)
	mustEqual(t, "carol's notes", len(list("carol", 10)), 0)

	// The notes of events before 2m go a batch at a time: all at once,
	// a year's notes held the writer for half a minute. (They went with
	// PruneEvents' last batch.)
	var pruned []int
	for range 3 {
		update(t, s, func(tx engine.Tx) error {
			n, err := tx.PruneEventNotes(at(2*time.Minute), 2)
			pruned = append(pruned, n)
			return err
		})
	}
	mustEqual(t, "notes pruned a batch of 2 at a time", pruned, []int{2, 1, 0})
	keys = nil
	for _, n := range list("alice", 10) {
		keys = append(keys, n.Key)
	}
	mustEqual(t, "alice's notes after pruning", keys, []string{"k4"})
	mustEqual(t, "bob's notes after pruning", len(list("bob", 10)), 0)
}
