package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/flows"
)

// awayStore is a PostgreSQL node whose write transactions fail while the
// database is "away" (as during a restart of the server); its lease is
// kept on connections of its own, as the real one's.
type awayStore struct {
	*postgres.Store
	away atomic.Bool
}

var errAway = errors.New("the database system is shutting down (injected)")

func (s *awayStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	if s.away.Load() {
		return errAway
	}
	return s.Store.Update(ctx, fn)
}

// heldChannel holds the first send until released, and tells when it
// started.
type heldChannel struct {
	*sim.Channel
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (c *heldChannel) Send(ctx context.Context, account, contact string, m *channels.Message) error {
	first := false
	c.once.Do(func() { first = true })
	if first {
		close(c.started)
		<-c.release
	}
	return c.Channel.Send(ctx, account, contact, m)
}

// TestNodeSendsAfterDatabaseBlip: on a node, a send whose outcome could
// not be recorded because the database was away for a moment (shorter
// than the lease), and the messages whose start could not be recorded
// then, are recorded and sent once the database is back. They used to
// stay claimed by the node, `sending` or `pending`, for as long as it
// lived: five immediate retries, then nobody sent them (the multi-node
// test found it with a restart of PostgreSQL).
func TestNodeSendsAfterDatabaseBlip(t *testing.T) {
	if !onPostgres(t) {
		if os.Getenv("WXFLOW_PG_URL") == "" && os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatal("WXFLOW_REQUIRE_PG=1 but WXFLOW_PG_URL is not set")
		}
		if os.Getenv("WXFLOW_PG_URL") == "" {
			t.Skip("WXFLOW_PG_URL is not set")
		}
		t.Setenv("WXFLOW_ENGINE_STORE", "postgres")
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := openStore(t, ctx, filepath.Join(dir, "blip.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	store := &awayStore{Store: st.(*postgres.Store)}
	ch := &heldChannel{Channel: sim.New(nil, wechat.Settings{}), started: make(chan struct{}), release: make(chan struct{})}
	e, err := engine.New(engine.Config{Store: store, Channel: ch, Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	flowDir := filepath.Join(dir, "flows")
	os.MkdirAll(flowDir, 0o755)
	os.WriteFile(filepath.Join(flowDir, "three.yaml"), []byte(`name: three
triggers: [follow]
steps:
  - send: one
  - send: two
  - send: three
`), 0o644)
	set, err := flows.LoadDir(flowDir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("flows: %v %v", err, set.Diags.Err())
	}
	if err := e.Load(ctx, set); err != nil {
		t.Fatal(err)
	}
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no send started")
	}
	// The database goes away while "one" is on the wire, and comes back
	// well within the lease.
	store.away.Store(true)
	close(ch.release)
	back := time.AfterFunc(300*time.Millisecond, func() { store.away.Store(false) })
	defer back.Stop()

	deadline := time.Now().Add(3 * postgres.DefaultLease)
	for {
		var out []*engine.OutboxEntry
		err := st.View(ctx, func(tx engine.ReadTx) error {
			var err error
			out, err = tx.Outbox(engine.OutboxFilter{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		sent := 0
		for _, o := range out {
			if o.Status == engine.OutboxSent {
				sent++
			}
		}
		if len(out) == 3 && sent == 3 {
			break
		}
		if time.Now().After(deadline) {
			var states []string
			for _, o := range out {
				states = append(states, o.Message.Text+" "+string(o.Status))
			}
			t.Fatalf("after %v: the outbox is %v, want the three sent", 3*postgres.DefaultLease, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for _, d := range ch.Delivered() {
		got = append(got, d.Message.Text)
	}
	if len(got) != 3 || got[0] != "one" || got[1] != "two" || got[2] != "three" {
		t.Errorf("the channel got %q, want one, two, three once each", got)
	}
}
