package engine_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// gatedStore holds the writer's next transaction while hold is set, until
// release is closed, so that a test can queue jobs that then share one
// batch.
type gatedStore struct {
	engine.Store
	hold    atomic.Bool
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (g *gatedStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	if g.hold.Load() {
		g.once.Do(func() { close(g.entered) })
		<-g.release
	}
	return g.Store.Update(ctx, fn)
}

// TestBatchJobsSeeEarlierJobsWrites: the jobs of one batch (one
// transaction, whose events the writer records together on a store that
// does set-based work) see what the jobs before them wrote: a follow
// starts an ask, and the contact's answer in the same batch answers it; a
// retry of the answer in the same batch is a duplicate.
func TestBatchJobsSeeEarlierJobsWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := openStore(t, ctx, filepath.Join(dir, "wxflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	clock := engine.NewVirtualClock(t0)
	ch := sim.New(nil, wechat.Settings{})
	e, err := engine.New(engine.Config{Store: g, Channel: ch, Clock: clock, Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(); st.Close() })
	f, diags := flows.LoadFile(filepath.Join(dir, "welcome.yaml"), []byte(`name: welcome
triggers: [follow]
steps:
  - ask: "Your name?"
    save: contact.fields.name
  - send: "Hi ${contact.fields.name}"
`), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if err := e.Load(ctx, &flows.Set{Flows: []*flows.Flow{f}}); err != nil {
		t.Fatal(err)
	}
	at := clock.Now()
	events := []channels.Event{
		{Account: "main", Contact: "alice", Kind: channels.Follow, At: at},
		{Account: "main", Contact: "bob", Kind: channels.Follow, At: at},
		{Account: "main", Contact: "alice", Kind: channels.Text, Text: "Alice", MsgID: "1", At: at},
		{Account: "main", Contact: "alice", Kind: channels.Text, Text: "Alice", MsgID: "1", At: at},
		{Account: "main", Contact: "bob", Kind: channels.Text, Text: "Bob", MsgID: "2", At: at},
	}
	// Nothing else may queue meanwhile: the dispatcher's first round
	// (started with the engine) is over.
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// The writer takes a first event and waits in its transaction while
	// the others queue, in order; they then share the next batch.
	g.hold.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, len(events)+1)
	ingest := func(ev channels.Event) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.Ingest(ctx, ev)
		}()
	}
	ingest(channels.Event{Account: "main", Contact: "carol", Kind: channels.Text, Text: "first", MsgID: "0", At: at})
	<-g.entered
	for i, ev := range events {
		ingest(ev)
		// Events only: the dispatcher's and the timers' jobs may queue
		// meanwhile.
		for e.Stats().EventQueue < i+1 {
			runtime.Gosched()
		}
	}
	g.hold.Store(false)
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for contact, want := range map[string]string{"alice": "Your name?|Hi Alice", "bob": "Your name?|Hi Bob"} {
		var got []string
		for _, d := range ch.DeliveredTo("main", contact) {
			got = append(got, d.Message.Text)
		}
		if strings.Join(got, "|") != want {
			t.Errorf("%s got %q, want %q", contact, strings.Join(got, "|"), want)
		}
	}
	if d := e.Stats().Duplicates; d != 1 {
		t.Errorf("%d duplicates, want 1", d)
	}
}
