package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
)

// TestBrowserNodes: a serve on PostgreSQL shows the database's nodes in
// the console: the admin logs in, the menu leads to Nodes, this server's
// nodes are marked and hold every lane, and the page reads the nodes
// again by itself: another node that joins shows without a reload. The
// database's password shows nowhere.
func TestBrowserNodes(t *testing.T) {
	chromium := browserExec(t)
	database := pgDatabase(t)
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	const token = "nodes-admin-token-0123456789"
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "flows"), convFlows)
	path := filepath.Join(dir, "wxflow.yaml")
	yml := fmt.Sprintf("listen: 127.0.0.1:0\ndatabase: %q\nflows: flows\naccounts:\n  - id: main\n    app_id: wx0123456789abcdef\n    app_secret: ${WXFLOW_CONV_SECRET}\n    token: ${WXFLOW_CONV_TOKEN}\nadmin:\n  token: %s\n", database, token)
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.Listen = cfg.Listen
	s, err := newServer(context.Background(), cfg, serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	u, err := url.Parse(database)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()

	b := newBrowser(t, chromium, s.ConsoleURL())
	b.open("/login?next=%2Fnodes")
	b.typeInto(`form.login input[name=token]`, token)
	b.submit("log in", `form.login button`, 200)
	if p := b.path(); p != "/nodes" {
		t.Fatalf("logging in leads to %s, want /nodes", p)
	}
	if n := b.count(`nav a[href="/nodes"].here`); n != 1 {
		t.Fatalf("the menu has %d current links to the nodes page, want 1", n)
	}
	b.wantText("#nodes-held", "All 256 lanes are held by live nodes.")
	own := len(s.nodeIDs())
	if rows, marked := b.count("#nodes-table tbody tr"), b.count("#nodes-table .self-badge"); own == 0 || rows != own || marked != own {
		t.Fatalf("the nodes page lists %d nodes, %d marked as this server's; want this server's %d", rows, marked, own)
	}
	for _, id := range s.nodeIDs() {
		if n := b.count(fmt.Sprintf(`tr[data-node=%q] .self-badge`, id)); n != 1 {
			t.Fatalf("node %s is not marked as this server's", id)
		}
	}
	if password != "" && strings.Contains(b.html(), password) {
		t.Fatal("the nodes page shows the database's password")
	}
	b.shot("nodes")

	// Another node joins: the page shows it by itself, not marked.
	b.waitFor("the page reads the nodes again by itself", `document.body.getAttribute("data-live") === "on"`)
	browserEval[bool](b, `window.__notReloaded = true`)
	joinNode(t, database, "web-2")
	b.waitFor("the other node shows", `document.querySelector('tr[data-node^="web-2/"]') !== null`)
	if n := b.count(`tr[data-node^="web-2/"] .self-badge`); n != 0 {
		t.Fatal("another node is marked as this server's")
	}
	if !browserEval[bool](b, `window.__notReloaded === true`) {
		t.Fatal("the page was reloaded to show the other node")
	}
	b.shot("nodes-two")
}
