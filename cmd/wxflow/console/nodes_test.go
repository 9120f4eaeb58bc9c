package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
)

func TestNodesOnSQLite(t *testing.T) {
	f := newFixtureWith(t, testToken, func(c *Config) { c.Database, c.Version = "wxflow.db", "v1.2.0" })
	status, body, _ := f.do("GET", "/nodes", testToken, "")
	if status != http.StatusOK || !strings.Contains(body, `id="nodes-sqlite"`) || !strings.Contains(body, "holds all 256 lanes") || !strings.Contains(body, "<code>wxflow.db</code>") ||
		!strings.Contains(body, "This server (wxflow <code>v1.2.0</code>)") {
		t.Errorf("GET /nodes on SQLite: %d\n%s", status, body)
	}
	// Not in the menu (shown on the open console): nothing to watch.
	open := newFixture(t, "")
	if _, home, _ := open.do("GET", "/flows", "", ""); !strings.Contains(home, `href="/messages"`) || strings.Contains(home, `href="/nodes"`) {
		t.Errorf("the menu on SQLite, want no nodes page:\n%s", home)
	}
	status, body, _ = f.do("GET", "/api/nodes", testToken, "")
	var v NodesView
	if err := json.Unmarshal([]byte(body), &v); err != nil || status != http.StatusOK {
		t.Fatalf("GET /api/nodes: %d %v\n%s", status, err, body)
	}
	if v.Store != "sqlite" || v.Lanes != engine.LaneCount || v.Unheld != 0 || v.Nodes == nil || len(v.Nodes) != 0 || v.Database != "wxflow.db" || len(v.Versions) != 1 || v.Versions[0] != "v1.2.0" {
		t.Errorf("GET /api/nodes on SQLite: %+v", v)
	}
}

func TestNodesOnPostgres(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 4, 11, 0, time.UTC)
	nodes := &postgres.Nodes{At: at, Lanes: engine.LaneCount, Free: 6, FreeQueued: 3, Nodes: []postgres.NodeInfo{
		{ID: "web-1:10/aa", Name: "web-1:10", Version: "v1.2.0", Joined: at.Add(-2 * time.Hour), Expires: at.Add(4100 * time.Millisecond), Live: true, Lanes: 100, Queued: 2, Claimed: 17},
		{ID: "web-1:10/bb", Name: "web-1:10", Version: "v1.2.0", Joined: at.Add(-2 * time.Hour), Expires: at.Add(4 * time.Second), Live: true, Lanes: 100},
		{ID: "web-2:20/cc", Name: "web-2:20", Joined: at.Add(-time.Minute), Expires: at.Add(-12 * time.Second), Live: false, Lanes: 50, Queued: 5},
	}}
	var readErr error
	// The open console: its menu shows (behind a token, it shows to who
	// logged in).
	f := newFixtureWith(t, "", func(c *Config) {
		c.Database = "postgres://wxflow:xxxxx@db/wxflow"
		c.Nodes = func(context.Context) (*postgres.Nodes, error) { return nodes, readErr }
		c.Self = func() []string { return []string{"web-1:10/aa", "web-1:10/bb"} }
	})
	status, body, _ := f.do("GET", "/nodes", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /nodes: %d\n%s", status, body)
	}
	for _, want := range []string{
		`href="/nodes" class="here"`,
		"<code>postgres://wxflow:xxxxx@db/wxflow</code>",
		"56 of 256 lanes have no live node", // 6 free and the 50 of the ended lease
		`<tr data-node="web-1:10/aa"><td><code>web-1:10/aa</code> <span class="self-badge">this server</span></td><td class="version"><code>v1.2.0</code></td><td>ends in 4.1s</td><td>2h0m0s</td><td>100</td><td>2</td><td>17</td></tr>`,
		`<tr data-node="web-2:20/cc" class="bad"><td><code>web-2:20/cc</code></td><td class="version"><code>?</code></td><td>ENDED 12s ago</td><td>48s</td><td>50</td><td>5</td><td>0</td></tr>`,
		"Free lanes (no node holds them): 6, with 3 queued items.",
		`data-refresh="5"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /nodes lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "nodes-versions") {
		t.Errorf("GET /nodes says the nodes run several versions; the live ones run one:\n%s", body)
	}
	if strings.Count(body, "this server") != 2 {
		t.Errorf("GET /nodes marks %d nodes as this server's, want 2:\n%s", strings.Count(body, "this server"), body)
	}
	status, body, _ = f.do("GET", "/api/nodes", "", "")
	var v struct {
		NodesView
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || status != http.StatusOK {
		t.Fatalf("GET /api/nodes: %d %v\n%s", status, err, body)
	}
	if len(v.Versions) != 1 || v.Versions[0] != "v1.2.0" {
		t.Errorf("GET /api/nodes: the live nodes' versions %q, want v1.2.0 (not the ended node's)", v.Versions)
	}
	if n := v.Nodes[0]; n["version"] != "v1.2.0" {
		t.Errorf("GET /api/nodes, a node's version: %v", n)
	}
	if v.Store != "postgres" || v.Unheld != 56 || v.Free != 6 || v.FreeQueued != 3 || !v.At.Equal(at) || len(v.Nodes) != 3 {
		t.Errorf("GET /api/nodes: %s", body)
	}
	if n := v.Nodes[2]; n["id"] != "web-2:20/cc" || n["self"] != false || n["live"] != false || n["lanes"] != 50.0 || n["queued"] != 5.0 {
		t.Errorf("GET /api/nodes, the ended node: %v", n)
	}
	if n := v.Nodes[0]; n["self"] != true || n["claimed"] != 17.0 {
		t.Errorf("GET /api/nodes, this server's node: %v", n)
	}

	// Every lane held: no alarm.
	nodes.Nodes, nodes.Free, nodes.FreeQueued = nodes.Nodes[:2], 0, 0
	nodes.Nodes[0].Lanes, nodes.Nodes[1].Lanes = 128, 128
	if _, body, _ = f.do("GET", "/nodes", "", ""); !strings.Contains(body, "All 256 lanes are held by live nodes.") || strings.Contains(body, "no live node") || strings.Contains(body, "Free lanes") {
		t.Errorf("GET /nodes with every lane held:\n%s", body)
	}

	// An upgrade rolling through: two versions live.
	nodes.Nodes[1].Version = "v1.3.0"
	if _, body, _ = f.do("GET", "/nodes", "", ""); !strings.Contains(body, "The live nodes run 2 versions of wxflow (<code>v1.2.0</code>, <code>v1.3.0</code>)") {
		t.Errorf("GET /nodes with two versions:\n%s", body)
	}

	// A database that cannot be read: said, without its error's detail.
	readErr = errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")
	status, body, h := f.do("GET", "/nodes", "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "the database could not be read") || strings.Contains(body, "10.0.0.5") || h.Get("Retry-After") == "" {
		t.Errorf("GET /nodes, database down: %d %v\n%s", status, h, body)
	}
	status, body, h = f.do("GET", "/api/nodes", "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"error": "the database could not be read`) || strings.Contains(body, "10.0.0.5") || h.Get("Retry-After") == "" {
		t.Errorf("GET /api/nodes, database down: %d %v\n%s", status, h, body)
	}
}
