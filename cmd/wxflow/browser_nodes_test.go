package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestBrowserNodes: a serve on PostgreSQL shows the database's nodes in
// the console: the admin logs in, the menu leads to Nodes, this server's
// nodes are marked and hold every lane, and the page reads the nodes
// again by itself: another node that joins shows without a reload. The
// database's password shows nowhere.
func TestBrowserNodes(t *testing.T) {
	chromium := browserExec(t)
	s, database, token := pgServe(t)
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
