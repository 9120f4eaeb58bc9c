package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
)

// pgServe starts a serve on a fresh PostgreSQL schema (skipped without
// WXFLOW_PG_URL), its console on the callback server's address behind
// an admin token, and returns it with its database and token.
func pgServe(t *testing.T) (s *server, database, token string) {
	t.Helper()
	database = pgDatabase(t)
	return pgNodes(t, database, 1, convFlows, "", "")[0], database, pgAdminToken
}

// pgAdminToken is the admin token of pgNodes' consoles.
const pgAdminToken = "nodes-admin-token-0123456789"

// pgNodes starts n serves (nodes) on database, with the same config
// (nodeConfig).
func pgNodes(t *testing.T, database string, n int, flows map[string]string, account, extra string) []*server {
	t.Helper()
	path := nodeConfig(t, database, flows, account, extra)
	var nodes []*server
	for range n {
		nodes = append(nodes, startServer(t, loadNodeConfig(t, path)))
	}
	return nodes
}

// nodeConfig writes the config of a serve on database and returns its
// path: the flows, the account main (WXFLOW_CONV_SECRET and
// WXFLOW_CONV_TOKEN), the console on the callback address behind
// pgAdminToken; account is added to the account's keys (indented by four
// spaces), and extra at the config's end.
func nodeConfig(t *testing.T, database string, flows map[string]string, account, extra string) string {
	t.Helper()
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "flows"), flows)
	path := filepath.Join(dir, "wxflow.yaml")
	yml := fmt.Sprintf("listen: 127.0.0.1:0\ndatabase: %q\nflows: flows\naccounts:\n  - id: main\n    app_id: wx0123456789abcdef\n    app_secret: ${WXFLOW_CONV_SECRET}\n    token: ${WXFLOW_CONV_TOKEN}\n%sadmin:\n  token: %s\n%s", database, account, pgAdminToken, extra)
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadNodeConfig loads a config of nodeConfig, with the console on the
// callback server's address.
func loadNodeConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.Listen = cfg.Listen
	return cfg
}

// amyNodes starts two nodes on a fresh database with the flow help
// (the keyword help assigns amy), the operator amy (her token amyToken)
// and a fake WeChat API, waits until they share the lanes, and returns
// them with the API and a contact (prefix0, prefix1, ...) whose lane the
// second holds, and the lanes' holders.
func amyNodes(t *testing.T, amyToken, prefix string) (a, b *server, api *wechattest.Server, contact string, holder func(string) *server) {
	t.Helper()
	database := pgDatabase(t)
	t.Setenv("WXFLOW_AMY_TOKEN", amyToken)
	flows := map[string]string{"help.yaml": "name: help\ntriggers:\n  - keyword: [help]\nsteps:\n  - assign: amy\n"}
	api = wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp("wx0123456789abcdef", "conv-secret-0123456789")
	nodes := pgNodes(t, database, 2, flows, "    api_base: "+api.URL()+"\n", "operators:\n  amy:\n    token: ${WXFLOW_AMY_TOKEN}\n")
	waitBalanced(t, nodes)
	holder = laneHolders(t, database, nodes)
	return nodes[0], nodes[1], api, contactOf(holder, nodes[1], prefix), holder
}

// waitBalanced waits until the nodes hold every lane between them, each
// some.
func waitBalanced(t *testing.T, nodes []*server) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		total, each := 0, true
		for _, s := range nodes {
			n := s.engine.Stats().Lanes
			total += n
			each = each && n > 0
		}
		if each && total == engine.LaneCount {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not share the lanes within 20 s (%d held)", total)
		}
		time.Sleep(20 * time.Millisecond) // polls the lanes' balancing, in real time
	}
}

// laneHolders returns a function that says which of the nodes holds a
// contact's lane (of the account main), read from the database.
func laneHolders(t *testing.T, database string, nodes []*server) func(contact string) *server {
	conn := pgConn(t, database)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return func(contact string) *server {
		t.Helper()
		var owner string
		if err := conn.QueryRow(context.Background(), `SELECT owner FROM lanes WHERE lane = $1`, engine.LaneOf("main", contact)).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		for _, s := range nodes {
			if slices.Contains(s.nodeIDs(), owner) {
				return s
			}
		}
		return nil
	}
}

// contactOf is the first contact prefix0, prefix1, ... whose lane node
// s holds.
func contactOf(holder func(string) *server, s *server, prefix string) string {
	for i := 0; ; i++ {
		if c := fmt.Sprint(prefix, i); holder(c) == s {
			return c
		}
	}
}

// startServer starts a serve of cfg in the test process, shut down at the
// test's end.
func startServer(t *testing.T, cfg *config.Config) *server {
	t.Helper()
	s, _ := serveUntil(t, cfg)
	return s
}

// serveUntil starts a serve of cfg in the test process and returns it
// with a stop that shuts it down (once; also at the test's end).
func serveUntil(t *testing.T, cfg *config.Config) (*server, func()) {
	t.Helper()
	s, err := newServer(context.Background(), cfg, serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// TestServeLeaseMetrics: a serve on PostgreSQL says at /metrics how its
// leases' renewals went, how long each writer's lease is known to hold,
// and which wxflow it runs, as its nodes do in the nodes table.
func TestServeLeaseMetrics(t *testing.T) {
	s, _, token := pgServe(t)
	writers := len(s.nodeIDs())
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequest("GET", s.ConsoleURL()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := string(b)
		ok := strings.Contains(out, `wxflow_lease_renewals_total{result="failed"} 0`+"\n") && !strings.Contains(out, `wxflow_lease_renewals_total{result="ok"} 0`+"\n")
		for w := 1; w <= writers; w++ {
			ok = ok && strings.Contains(out, fmt.Sprintf(`wxflow_lease_remaining_seconds{writer="%d"} `, w))
		}
		if ok && writers > 0 && !strings.Contains(out, fmt.Sprintf(`wxflow_lease_remaining_seconds{writer="%d"} `, writers+1)) {
			if want := fmt.Sprintf(`wxflow_build_info{version=%q,go_version=%q} 1`+"\n", build.Version, runtime.Version()); !strings.Contains(out, want) {
				t.Errorf("/metrics lacks %q:\n%s", want, out)
			}
			// Each of the serve's nodes says which wxflow it runs.
			n, err := s.store.(*postgres.Store).Nodes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, node := range n.Nodes {
				if node.Version != build.Version || build.Version == "" {
					t.Errorf("node %s runs wxflow %q, want %q", node.ID, node.Version, build.Version)
				}
			}
			if len(n.Nodes) != writers {
				t.Errorf("%d nodes, want %d", len(n.Nodes), writers)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lease renewal (and a lease per writer, %d) at /metrics within 10 s:\n%s", writers, out)
		}
		time.Sleep(50 * time.Millisecond) // polls for the first renewal, a second after the start in real time
	}
}
