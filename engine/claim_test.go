package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// wireChannel blocks the first send for ever (a process that dies while
// that request is on the wire) and counts every send it was asked for.
type wireChannel struct {
	*sim.Channel
	mu      sync.Mutex
	asked   int
	started chan struct{}
	stuck   chan struct{}
}

func (c *wireChannel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	c.mu.Lock()
	c.asked++
	first := c.asked == 1
	c.mu.Unlock()
	if first {
		close(c.started)
		select {
		case <-c.stuck:
		case <-ctx.Done():
		}
		return channels.ErrUnknown
	}
	return c.Channel.Send(ctx, account, contact, msg)
}

// A process that dies with a claimed batch leaves `unknown` only the
// message whose request was on the wire; the rest of the batch, claimed
// and never started, is sent once by the next process (found from
// outside: one kill -9 turned a claimed batch of 512 unknown, and 432 of
// them had never reached WeChat).
func TestCrashLeavesUnknownOnlyWhatStarted(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "wxflow.db")
	set := loadFlows(t, filepath.Join(t.TempDir(), "flows"), map[string]string{"welcome.yaml": "name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Welcome!\"\n"})
	clock := engine.NewVirtualClock(t0)
	open := func(ch channels.Channel) (*engine.Engine, engine.Store) {
		st, err := sqlite.Open(ctx, db, sqlite.Options{Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(engine.Config{Store: st, Channel: ch, Clock: clock, Zone: time.UTC, SendWorkers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.Load(ctx, set); err != nil {
			t.Fatal(err)
		}
		return e, st
	}
	// The first process: its dispatcher claims every welcome in one
	// batch (one sender) and dies in the first request.
	first := &wireChannel{Channel: sim.New(nil, wechat.Settings{}), started: make(chan struct{}), stuck: make(chan struct{})}
	defer close(first.stuck)
	e1, _ := open(first)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e1.Ingest(ctx, channels.Event{Account: "main", Contact: fmt.Sprintf("c%02d", i), Kind: channels.Follow, At: clock.Now()}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	<-first.started
	// The next process starts on the same database while the first is
	// stuck in its request (as after kill -9: the first never records
	// anything again).
	next := sim.New(nil, wechat.Settings{})
	e2, st2 := open(next)
	defer func() { e2.Stop(); st2.Close() }()
	if err := e2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var out []*engine.OutboxEntry
	err := st2.View(ctx, func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Outbox(engine.OutboxFilter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	count := map[engine.OutboxStatus]int{}
	for _, o := range out {
		count[o.Status]++
	}
	// Unknown: the message on the wire, and at most the next one, whose
	// start the sender records while that one is on the wire.
	unknown := count[engine.OutboxUnknown]
	if len(out) != n || unknown < 1 || unknown > 2 || count[engine.OutboxSent] != n-unknown {
		t.Fatalf("after the takeover: %v of %d; want 1 or 2 unknown (the request on the wire, the next one marked) and the rest sent", count, len(out))
	}
	if got := len(next.Delivered()); got != n-unknown {
		t.Fatalf("the next process sent %d messages, want %d (each once)", got, n-unknown)
	}
	seen := map[string]int{}
	for _, d := range next.Delivered() {
		seen[d.Contact]++
	}
	for c, k := range seen {
		if k != 1 {
			t.Errorf("%s got %d welcomes", c, k)
		}
	}
}
