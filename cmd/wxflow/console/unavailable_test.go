package console

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
)

// TestDatabaseUnavailable runs the console on a PostgreSQL node whose
// database stops answering (a proxy that freezes), then goes down (the
// proxy refuses connections): its pages and API answer 503 with
// Retry-After and a message that says what happened, not 500 "internal
// error", and the log has the detail; they work again once the database
// answers. On the code before, both were 500.
func TestDatabaseUnavailable(t *testing.T) {
	dsn, _ := pgtest.Schema(t, "wxconsole_")
	stall, via := pgtest.NewStall(t, dsn)
	ctx := context.Background()
	st, err := postgres.Open(ctx, via, postgres.Options{TxTimeout: 300 * time.Millisecond, NodeName: "console-test"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Store: st, Channel: sim.New(nil, wechat.Settings{}), Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		st.Close()
	})
	logs := &lockedLog{}
	c, err := New(Config{Engine: e, Token: testToken, Accounts: []string{"main"}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	f := &fixture{t: t, c: c, srv: srv}

	paths := []string{"/api/contacts", "/contacts", "/api/runs", "/runs", "/api/messages", "/messages"}
	check := func(when string, want int) {
		t.Helper()
		for _, p := range paths {
			start := time.Now()
			status, body, h := f.do("GET", p, testToken, "")
			took := time.Since(start)
			if status != want {
				t.Errorf("%s: GET %s: %d, want %d\n%s", when, p, status, want, body)
				continue
			}
			if want == http.StatusOK {
				continue
			}
			if h.Get("Retry-After") != "5" {
				t.Errorf("%s: GET %s: Retry-After %q, want 5", when, p, h.Get("Retry-After"))
			}
			if strings.HasPrefix(p, "/api/") {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != errNoDatabase.Error() {
					t.Errorf("%s: GET %s: %v %q, want the error %q", when, p, err, body, errNoDatabase)
				}
			} else if !strings.Contains(body, "cannot reach its database") || strings.Contains(body, "internal error") {
				t.Errorf("%s: GET %s: the page does not say the database cannot be reached:\n%s", when, p, body)
			}
			if strings.Contains(body, "ci-only-secret") || strings.Contains(body, "127.0.0.1") {
				t.Errorf("%s: GET %s shows the database's address or password:\n%s", when, p, body)
			}
			if took > 20*time.Second {
				t.Errorf("%s: GET %s took %v (TxTimeout 300ms)", when, p, took)
			}
		}
	}
	check("with the database", http.StatusOK)
	stall.Freeze(true)
	check("while the database does not answer", http.StatusServiceUnavailable)
	stall.Freeze(false)
	check("once it answers again", http.StatusOK)
	stall.Cut()
	check("once it is down", http.StatusServiceUnavailable)
	if l := logs.String(); !strings.Contains(l, "the database is unavailable") || !strings.Contains(l, "context deadline exceeded") ||
		!strings.Contains(l, "connect") {
		t.Errorf("the log lacks the errors' detail:\n%s", l)
	}
	if strings.Contains(logs.String(), "ci-only-secret") {
		t.Errorf("the log shows the database's password:\n%s", logs.String())
	}
}
