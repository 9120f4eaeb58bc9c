package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
)

// cacheStep runs a transaction of node s that records an event of
// contact c (AddEvents: what a batch of the engine does first) and then
// fn, and returns the contact's tags as the transaction read them right
// after the event.
func cacheStep(t *testing.T, s *postgres.Store, c string, at time.Time, fn func(tx engine.Tx) error) (tags string, err error) {
	t.Helper()
	err = s.Update(context.Background(), func(tx engine.Tx) error {
		ev := channels.Event{Account: "a", Contact: c, Kind: channels.Text, Text: fmt.Sprint(at.UnixNano()), At: at}
		if _, err := tx.(engine.BatchTx).AddEvents([]*engine.EventRecord{{Key: ev.DedupeKey(), Event: ev, ReceivedAt: at}}); err != nil {
			return err
		}
		got, err := tx.Contact("a", c)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return err
		}
		if got != nil {
			tags = strings.Join(got.Tags, ",")
		}
		if fn != nil {
			return fn(tx)
		}
		return nil
	})
	return tags, err
}

// putTags writes contact c with tags.
func putTags(tx engine.Tx, c string, at time.Time, tags ...string) error {
	return tx.PutContact(&engine.Contact{Account: "a", ID: c, Followed: true, FirstSeen: at, LastSeen: at, Tags: tags})
}

// TestNodeCacheKeepsContactsAcrossTransactions: a node reads a contact
// it wrote from its cache in its next transactions (shown here by a
// change made behind its back, which only the database has), and reads
// the database again after anything that could make the cache wrong: a
// transaction that did not commit, a write of the contact by a
// transaction that had not read it ahead, other lanes to work on. A
// transaction that wrote the contact reads its own write, never the
// cache's older copy.
func TestNodeCacheKeepsContactsAcrossTransactions(t *testing.T) {
	dsn, _, a := soleNode(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	behind := func(tags string) {
		t.Helper()
		if _, err := conn.Exec(ctx, `UPDATE contacts SET tags = $1 WHERE account = 'a' AND id = 'x'`, `["`+tags+`"]`); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	step := func(want string, fn func(tx engine.Tx) error) {
		t.Helper()
		at = at.Add(time.Second)
		got, err := cacheStep(t, a, "x", at, fn)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("the transaction read tags %q, want %q", got, want)
		}
	}
	write := func(tags string) func(tx engine.Tx) error {
		return func(tx engine.Tx) error { return putTags(tx, "x", at, tags) }
	}

	step("", write("one")) // a new contact, written
	behind("db1")          // the database changes behind the node
	step("one", nil)       // the cache answers
	step("one", write("two"))
	step("two", nil)

	// A transaction that fails: the next one reads the database.
	behind("db2")
	failed := errors.New("the job failed")
	if _, err := cacheStep(t, a, "x", at.Add(time.Second), func(tx engine.Tx) error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("the failing transaction returned %v", err)
	}
	step("db2", write("three"))
	step("three", nil)

	// A transaction that writes the contact without reading it ahead
	// drops it from the cache.
	if err := a.Update(ctx, func(tx engine.Tx) error { return putTags(tx, "x", at, "four") }); err != nil {
		t.Fatal(err)
	}
	behind("db4")
	step("db4", write("five"))
	step("five", nil)

	// So does one that writes it while reading ahead another contact.
	at = at.Add(time.Second)
	if _, err := cacheStep(t, a, "y", at, func(tx engine.Tx) error { return putTags(tx, "x", at, "five and a half") }); err != nil {
		t.Fatal(err)
	}
	behind("db5")
	step("db5", write("five"))
	step("five", nil)

	// Within a transaction that wrote the contact, a savepoint rolled
	// back and the contact read again: the transaction's own write.
	step("five", func(tx engine.Tx) error {
		if err := putTags(tx, "x", at, "six"); err != nil {
			return err
		}
		if err := tx.Savepoint(func() error {
			if err := putTags(tx, "x", at, "seven"); err != nil {
				return err
			}
			return failed
		}); !errors.Is(err, failed) {
			return fmt.Errorf("savepoint: %v", err)
		}
		ev := channels.Event{Account: "a", Contact: "x", Kind: channels.Text, Text: "again", At: at}
		if _, err := tx.(engine.BatchTx).AddEvents([]*engine.EventRecord{{Key: ev.DedupeKey(), Event: ev, ReceivedAt: at}}); err != nil {
			return err
		}
		c, err := tx.Contact("a", "x")
		if err != nil {
			return err
		}
		if got := strings.Join(c.Tags, ","); got != "six" {
			return fmt.Errorf("after the savepoint the transaction read tags %q, want its own write six", got)
		}
		return nil
	})
	step("six", nil)

	// Other lanes to work on: the database again.
	behind("db6")
	a.Work([]int{engine.LaneOf("a", "x")})
	step("db6", nil)
}

// TestNodeCacheAfterALaneMovesAwayAndBack: a contact a node cached is
// read from the database once its lane went to another node, which
// wrote it, and came back.
func TestNodeCacheAfterALaneMovesAwayAndBack(t *testing.T) {
	dsn, clock, a := soleNode(t)
	lane := engine.LaneOf("a", "x")
	at := clock.now()
	step := func(s *postgres.Store, want string, tags string) {
		t.Helper()
		at = at.Add(time.Second)
		got, err := cacheStep(t, s, "x", at, func(tx engine.Tx) error {
			if tags == "" {
				return nil
			}
			return putTags(tx, "x", at, tags)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("the transaction read tags %q, want %q", got, want)
		}
	}
	step(a, "", "on a")
	step(a, "on a", "")

	// a gives b the half of the lanes that holds x's.
	b := openNode(t, dsn, "b", clock)
	balance(t, b)
	var half []int
	for l := range engine.LaneCount {
		if l/(engine.LaneCount/2) == lane/(engine.LaneCount/2) {
			half = append(half, l)
		}
	}
	if err := a.Release(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, b); !slices.Contains(got.Lanes, lane) {
		t.Fatalf("b took lanes %v, not %d", got.Lanes, lane)
	}
	step(b, "on a", "on b")

	if err := b.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, a); !slices.Contains(got.Lanes, lane) {
		t.Fatalf("a took lanes %v, not %d back", got.Lanes, lane)
	}
	step(a, "on b", "")
}
