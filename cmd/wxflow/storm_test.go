package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine"
)

// restartWith is restart with other server options.
func (b *srvBundle) restartWith(o serverOptions) {
	b.t.Helper()
	cfg := b.s.cfg
	if err := b.s.Shutdown(context.Background()); err != nil {
		b.t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, o)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.s = s
	b.url = "http://" + s.Addr()
	b.t.Cleanup(func() { s.Shutdown(context.Background()) })
}

// TestServeStorm: serve's accounts have the circuit breaker. After
// WeChat's -1 the account's next messages wait, pending, without a
// request, and /metrics says so; a restart while they wait sends each of
// them once.
func TestServeStorm(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	// A breaker that opens at the first failure, for an hour.
	b.restartWith(serverOptions{Synchronous: "NORMAL", Breaker: wechat.BreakerSettings{Threshold: 1, Pause: time.Hour}})
	ctx := context.Background()
	b.api.FailNext(wechattest.PathSend, -1, -1, -1, -1) // every attempt of one send
	for _, c := range []string{"o_a", "o_b", "o_c", "o_d"} {
		if code, _ := b.post(followXML(c, time.Now().Unix()), false); code != 200 {
			t.Fatalf("follow of %s: %d", c, code)
		}
		if err := b.s.engine.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.api.Calls(wechattest.PathSend); got != 4 {
		t.Fatalf("%d send requests, want the 4 attempts of the first message only", got)
	}
	status := map[string]string{}
	for _, o := range b.outbox() {
		status[o.Contact] = string(o.Status) + " " + string(o.Reason)
	}
	// WeChat refused o_a's: it waits with the others (it never reached
	// the contact).
	want := map[string]string{"o_a": "pending paused", "o_b": "pending paused", "o_c": "pending paused", "o_d": "pending paused"}
	for c, w := range want {
		if status[c] != w {
			t.Errorf("%s's welcome is %q, want %q", c, status[c], w)
		}
	}
	rec := httptest.NewRecorder()
	b.s.metrics.Registry.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{`wxflow_send_breaker_state{account="main"} 1`, `wxflow_send_held{account="main"} 4`, `wxflow_send_pauses_total{account="main"} 1`} {
		if !strings.Contains(rec.Body.String(), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	// A restart: the waiting messages go, once each.
	b.restart()
	sent := b.waitSent(4)
	if len(sent) != 4 {
		t.Fatalf("WeChat got %d messages, want 4", len(sent))
	}
	seen := map[string]int{}
	for _, s := range sent {
		seen[s.ToUser]++
	}
	for _, o := range b.outbox() {
		wantStatus := engine.OutboxSent
		if o.Status != wantStatus || (o.Status == engine.OutboxSent && seen[o.Contact] != 1) {
			t.Errorf("%s's welcome is %s %s after the restart (WeChat got it %d times)", o.Contact, o.Status, o.Reason, seen[o.Contact])
		}
		if o.Reason == channels.ReasonPaused {
			t.Errorf("%s's welcome still says paused", o.Contact)
		}
	}
}
