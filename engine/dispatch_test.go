package engine

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
	"github.com/wxflow/wxflow/flows"
)

// gatedChannel holds every send until the gate opens.
type gatedChannel struct {
	*sim.Channel
	gate chan struct{}
}

func (g *gatedChannel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Channel.Send(ctx, account, contact, msg)
}

// TestOutboxBacklog: while the dispatcher is held, more messages are
// committed than the in-memory queue holds. The dispatcher then claims
// the backlog from the store until its claims reach the queue, and takes
// the queue again from there: every message is sent exactly once, and
// the backlog ends while messages still arrive.
func TestOutboxBacklog(t *testing.T) {
	ctx := context.Background()
	st, err := openTestStore(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ch := &gatedChannel{Channel: sim.New(nil, wechat.Settings{}), gate: make(chan struct{})}
	clock := NewVirtualClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	e, err := New(Config{Store: st, Channel: ch, Clock: clock, Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	// A smaller queue, overflowed the same way in less time.
	e.queueCap = 4096
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	f, diags := flows.LoadFile("welcome.yaml", []byte("name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Welcome!\"\n"), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if err := e.Load(ctx, &flows.Set{Flows: []*flows.Flow{f}}); err != nil {
		t.Fatal(err)
	}
	follow := func(from, to int) {
		var wg sync.WaitGroup
		for c := 0; c < 16; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := from + c; i < to; i += 16 {
					if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: fmt.Sprintf("u%d", i), Kind: channels.Follow, At: clock.Now()}); err != nil {
						t.Error(err)
						return
					}
				}
			}(c)
		}
		wg.Wait()
	}
	// Past the queue's bound while nothing is sent.
	total := e.queueCap + 2*sendBatch
	follow(0, total)
	e.outMu.Lock()
	backlog := e.backlog
	e.outMu.Unlock()
	if !backlog {
		t.Fatal("the queue overflowed without a backlog")
	}
	close(ch.gate)
	// More messages while the dispatcher works through the backlog.
	follow(total, total+2*sendBatch)
	total += 2 * sendBatch
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(ch.Delivered()); got != total {
		t.Fatalf("%d messages delivered for %d follows", got, total)
	}
	for i := 0; i < total; i++ {
		if got := len(ch.DeliveredTo("main", fmt.Sprintf("u%d", i))); got != 1 {
			t.Fatalf("u%d got %d messages, want 1", i, got)
		}
	}
	e.outMu.Lock()
	backlog, queued := e.backlog, len(e.outq)
	e.outMu.Unlock()
	if backlog || queued != 0 {
		t.Errorf("after the sends: backlog %v, %d queued; want no backlog and an empty queue", backlog, queued)
	}
	var pending int
	err = st.View(ctx, func(tx ReadTx) error {
		out, err := tx.Outbox(OutboxFilter{Status: OutboxPending})
		pending = len(out)
		return err
	})
	if err != nil || pending != 0 {
		t.Fatalf("%d messages still pending (%v)", pending, err)
	}
}

// TestClaimedEndsBacklog: a claim from the store ends the backlog once it
// reaches the queue's first message, and not before; a queue dropped and
// started again after the claim keeps the backlog.
func TestClaimedEndsBacklog(t *testing.T) {
	entries := func(from, to int64) []*OutboxEntry {
		var out []*OutboxEntry
		for id := from; id <= to; id++ {
			out = append(out, &OutboxEntry{ID: id, Status: OutboxPending})
		}
		return out
	}
	e := &Engine{backlog: true, queueCap: maxQueuedOutbox}
	e.queueOutbox(entries(100, 110))
	e.claimed(entries(1, 99))
	if !e.backlog || len(e.outq) != 11 {
		t.Fatalf("claims up to 99: backlog %v, %d queued; want the backlog and 11 queued", e.backlog, len(e.outq))
	}
	e.claimed(entries(99, 102))
	if e.backlog || len(e.outq) != 8 || e.outq[0].ID != 103 {
		t.Fatalf("claims up to 102: backlog %v, queue from %d (%d); want no backlog, 103..110", e.backlog, e.outq[0].ID, len(e.outq))
	}
	// The queue overflows: dropped, then the newest messages again.
	e.queueOutbox(entries(111, 111+int64(e.queueCap)))
	if !e.backlog || len(e.outq) != 0 {
		t.Fatalf("overflow: backlog %v, %d queued", e.backlog, len(e.outq))
	}
	e.queueOutbox(entries(20000, 20001))
	e.claimed(entries(103, 614))
	if !e.backlog || len(e.outq) != 2 {
		t.Fatalf("a claim short of the new queue: backlog %v, %d queued", e.backlog, len(e.outq))
	}
	e.claimed(entries(19999, 20000))
	if e.backlog || len(e.outq) != 1 || e.outq[0].ID != 20001 {
		t.Fatalf("a claim into the new queue: backlog %v, %d queued", e.backlog, len(e.outq))
	}
}

// steppedChannel tells of each send as it starts and holds it until
// released.
type steppedChannel struct {
	*sim.Channel
	arrived chan string
	release chan struct{}
}

func (s *steppedChannel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	s.arrived <- msg.Text
	<-s.release
	return s.Channel.Send(ctx, account, contact, msg)
}

// TestStopStartsNoNewSend: once the engine stops, the send under way
// finishes and is recorded, and the contact's next messages are not
// sent: they stay pending, unmarked, and the next start sends them.
// Before, the sender went on through its round after the stop (past
// shutdown_timeout with a slow API), and the messages marked ahead were
// `unknown` at the next start though never attempted.
func TestStopStartsNoNewSend(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "w.db")
	st, err := openTestStore(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	ch := &steppedChannel{Channel: sim.New(nil, wechat.Settings{}), arrived: make(chan string, 8), release: make(chan struct{})}
	clock := NewVirtualClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	f, diags := flows.LoadFile("multi.yaml", []byte("name: multi\ntriggers: [{keyword: [multi]}]\nsteps:\n  - send: m1\n  - send: m2\n  - send: m3\n"), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	start := func(st Store, c channels.Channel) *Engine {
		e, err := New(Config{Store: st, Channel: c, Clock: clock, Zone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.Load(ctx, &flows.Set{Flows: []*flows.Flow{f}}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start(st, ch)
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: "alice", Kind: channels.Text, Text: "multi", MsgID: "1", At: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := <-ch.arrived; got != "m1" {
		t.Fatalf("first send %q", got)
	}
	stopped := make(chan struct{})
	go func() { e.Stop(); close(stopped) }()
	<-e.sendStop // the stop has begun
	close(ch.release)
	<-stopped
	select {
	case got := <-ch.arrived:
		t.Fatalf("%q was sent after the stop", got)
	default:
	}
	st.Close()

	st, err = openTestStore(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sim2 := sim.New(nil, wechat.Settings{})
	e = start(st, sim2)
	defer e.Stop()
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range sim2.Delivered() {
		got = append(got, o.Message.Text)
	}
	if fmt.Sprint(got) != "[m2 m3]" {
		st.View(ctx, func(tx ReadTx) error {
			out, _ := tx.Outbox(OutboxFilter{})
			for _, o := range out {
				t.Logf("%s: %s %s", o.Message.Text, o.Status, o.Detail)
			}
			return nil
		})
		t.Fatalf("sent after the restart: %v, want [m2 m3]", got)
	}
	err = st.View(ctx, func(tx ReadTx) error {
		out, err := tx.Outbox(OutboxFilter{})
		for _, o := range out {
			if o.Status != OutboxSent {
				t.Errorf("%s: %s %s", o.Message.Text, o.Status, o.Detail)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
