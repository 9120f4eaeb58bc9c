package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// bundle is what a test needs: an engine on a fresh store, the simulated
// channel and a virtual clock.
type bundle struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	db    string
	store engine.Store
	ch    *sim.Channel
	clock *engine.VirtualClock
	e     *engine.Engine
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// setup starts an engine with the given flow files (name -> YAML).
func setup(t *testing.T, files map[string]string) *bundle {
	t.Helper()
	dir := t.TempDir()
	flowDir := filepath.Join(dir, "flows")
	if err := os.MkdirAll(flowDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(flowDir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &bundle{t: t, ctx: context.Background(), dir: flowDir, db: filepath.Join(dir, "wxflow.db"), clock: engine.NewVirtualClock(t0)}
	b.ch = sim.New(nil, wechat.Settings{})
	b.open()
	set, err := flows.LoadDir(flowDir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		t.Fatalf("flows: %v", set.Diags.Err())
	}
	if err := b.e.Load(b.ctx, set); err != nil {
		t.Fatal(err)
	}
	return b
}

// open opens the store and starts an engine on it (again, after stop).
func (b *bundle) open() {
	b.t.Helper()
	st, err := openStore(b.t, b.ctx, b.db)
	if err != nil {
		b.t.Fatal(err)
	}
	b.store = st
	more := openWriters(b.t, b.ctx, b.db)
	e, err := engine.New(engine.Config{Store: st, Channel: b.ch, Clock: b.clock, Zone: time.UTC, Writers: more})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := e.Start(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.e = e
	b.t.Cleanup(func() { e.Stop(); st.Close(); closeAll(more) })
}

func (b *bundle) ingest(ev channels.Event) {
	b.t.Helper()
	if ev.Account == "" {
		ev.Account = "main"
	}
	if ev.Contact == "" {
		ev.Contact = "alice"
	}
	if err := b.e.Ingest(b.ctx, ev); err != nil {
		b.t.Fatal(err)
	}
	b.sync()
}

func (b *bundle) sync() {
	b.t.Helper()
	if err := b.e.Sync(b.ctx); err != nil {
		b.t.Fatal(err)
	}
}

// texts returns the texts delivered to alice so far.
func (b *bundle) texts() []string {
	var out []string
	for _, d := range b.ch.DeliveredTo("main", "alice") {
		out = append(out, d.Message.Text)
	}
	return out
}

func TestWelcomeAsk(t *testing.T) {
	b := setup(t, map[string]string{"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: "Welcome!"
  - ask: "Your name?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: done
  - send: "Hi ${contact.fields.name}"
  - id: done
    end:
`})
	b.ingest(channels.Event{Kind: channels.Follow})
	b.ingest(channels.Event{Kind: channels.Text, Text: "Alice", MsgID: "1"})
	got := strings.Join(b.texts(), "|")
	if got != "Welcome!|Your name?|Hi Alice" {
		t.Fatalf("got %q", got)
	}
}
