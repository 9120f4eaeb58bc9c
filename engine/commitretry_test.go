package engine_test

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
)

// deadlockErr is what PostgreSQL answers a transaction it chose to end
// in a deadlock.
type deadlockErr struct{}

func (deadlockErr) Error() string    { return "ERROR: deadlock detected (SQLSTATE 40P01)" }
func (deadlockErr) SQLState() string { return "40P01" }

// uniqueErr is what PostgreSQL answers an insert of a row already there
// (the PostgreSQL store inserts a contact it read absent without ON
// CONFLICT).
type uniqueErr struct{}

func (uniqueErr) Error() string {
	return `ERROR: duplicate key value violates unique constraint "contacts_pkey" (SQLSTATE 23505)`
}
func (uniqueErr) SQLState() string { return "23505" }

// conflictOnce fails one commit with err (a deadlock, a row inserted
// meanwhile): the transaction's writes are rolled back.
type conflictOnce struct {
	*gatedStore
	arm atomic.Bool
	err error
}

func (c *conflictOnce) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	if !c.arm.Load() {
		return c.gatedStore.Update(ctx, fn)
	}
	return c.gatedStore.Update(ctx, func(tx engine.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if c.arm.CompareAndSwap(true, false) {
			return c.err
		}
		return nil
	})
}

// TestBatchLosingADeadlockRunsItsJobsAlone: a batch whose commit lost to
// a conflict (40P01) stored nothing; its jobs run again one by one and
// each event is accepted, instead of every job of the batch failing.
func TestBatchLosingADeadlockRunsItsJobsAlone(t *testing.T) {
	batchLosingRunsAlone(t, deadlockErr{})
}

// TestBatchFindingARowInsertedRunsItsJobsAlone: the same for a batch
// whose commit found a row it inserts already there (23505).
func TestBatchFindingARowInsertedRunsItsJobsAlone(t *testing.T) {
	batchLosingRunsAlone(t, uniqueErr{})
}

func batchLosingRunsAlone(t *testing.T, conflict error) {
	ctx := context.Background()
	st, err := openStore(t, ctx, filepath.Join(t.TempDir(), "wxflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	c := &conflictOnce{gatedStore: g, err: conflict}
	e, err := engine.New(engine.Config{Store: c, Channel: sim.New(nil, wechat.Settings{}), Clock: engine.NewVirtualClock(t0), Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(); st.Close() })
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	g.hold.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	ingest := func(contact string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.Ingest(ctx, channels.Event{Account: "main", Contact: contact, Kind: channels.Follow, At: t0})
		}()
	}
	ingest("first")
	<-g.entered
	for i, contact := range []string{"a", "b", "c"} {
		ingest(contact)
		for e.Stats().EventQueue < i+1 {
			runtime.Gosched()
		}
	}
	c.arm.Store(true) // the batch of a, b and c loses
	g.hold.Store(false)
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("an event of the batch that lost a deadlock: %v", err)
		}
	}
	if c.arm.Load() {
		t.Fatal("no commit lost: the test proves nothing")
	}
	for _, id := range []string{"a", "b", "c"} {
		err := st.View(ctx, func(tx engine.ReadTx) error { _, err := tx.Contact("main", id); return err })
		if err != nil {
			t.Fatalf("contact %s: %v", id, err)
		}
	}
}
