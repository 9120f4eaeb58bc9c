package console

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
)

// pausedChannel is a channel whose every send is paused.
type pausedChannel struct {
	*sim.Channel
	until time.Time
}

func (p *pausedChannel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	return &channels.Paused{Until: p.until, Cause: "WeChat answered -1 (system busy)"}
}

// TestConsoleShowsPause: while an account's sends are paused, /messages
// says so and /metrics has the breaker's state, the held messages and
// the pauses.
func TestConsoleShowsPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := engine.NewVirtualClock(t0)
	e, err := engine.New(engine.Config{Store: st, Channel: &pausedChannel{Channel: sim.New(nil, wechat.Settings{}), until: t0.Add(time.Minute)}, Clock: clock, Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	f, diags := flows.LoadFile("w.yaml", []byte("name: w\ntriggers: [follow]\nsteps:\n  - send: \"hi\"\n  - send: \"there\"\n"), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if err := e.Load(ctx, &flows.Set{Flows: []*flows.Flow{f}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: "amy", Kind: channels.Follow, At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t}
	c, err := New(Config{Engine: e, Accounts: []string{"main"}, Metrics: metrics.New(e.Stats)})
	if err != nil {
		t.Fatal(err)
	}
	fx.c = c
	fx.srv = httptest.NewServer(c)
	defer fx.srv.Close()
	_, body, _ := fx.do("GET", "/messages", "", "")
	if !strings.Contains(body, "Sending to WeChat paused for account <b>main</b> until 2026-12-01 10:01:00 UTC (WeChat answered -1 (system busy)); 2 messages wait") {
		t.Errorf("/messages does not show the pause:\n%s", body)
	}
	_, body, _ = fx.do("GET", "/metrics", "", "")
	for _, want := range []string{`wxflow_send_breaker_state{account="main"} 1`, `wxflow_send_held{account="main"} 2`, `wxflow_send_pauses_total{account="main"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}
