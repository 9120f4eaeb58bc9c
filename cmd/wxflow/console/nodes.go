package console

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
)

// nodesRefresh is how often the nodes page reads the nodes again (with
// JavaScript), in seconds: about a lease renewal's pace.
const nodesRefresh = 5

// NodesView is the nodes page and GET /api/nodes: the nodes sharing the
// database as the database shows them, which of them are this server's
// (one per writer), and how many lanes no live node holds.
type NodesView struct {
	// Store is "postgres" or "sqlite".
	Store string `json:"store"`
	// Database names the database without its password.
	Database string `json:"database"`
	// At is when the nodes were read, by the database's clock (by this
	// server's on SQLite).
	At time.Time `json:"at"`
	// Lanes is the number of lanes; Unheld how many no live node holds
	// (their contacts' events are queued until a live node takes them);
	// Free how many no node holds at all, with FreeQueued queued items.
	Lanes      int `json:"lanes"`
	Unheld     int `json:"unheld"`
	Free       int `json:"free"`
	FreeQueued int `json:"free_queued"`
	// Nodes are the nodes with a lease row, by name (none on SQLite: one
	// serve holds every lane).
	Nodes []NodeView `json:"nodes"`
	// Versions are the versions of wxflow the live nodes run, sorted
	// (this server's on SQLite): more than one while an upgrade rolls
	// through the nodes. A node from before nodes said so counts as "".
	Versions []string `json:"versions"`
}

// NodeView is one node of the nodes page.
type NodeView struct {
	postgres.NodeInfo
	// Self is set for this server's own nodes.
	Self bool `json:"self"`
	// Lease says when the lease ends ("ends in 4.1s") or ended ("ENDED
	// 12s ago"), and Up how long the node has run (an ended node, until
	// its lease ended), both to the database's clock.
	Lease string `json:"-"`
	Up    string `json:"-"`
}

// nodesView reads the nodes: on SQLite (no Nodes in the config) this
// server alone, holding every lane.
func (c *Console) nodesView(ctx context.Context) (*NodesView, error) {
	v := &NodesView{Store: "sqlite", Database: c.cfg.Database, Lanes: engine.LaneCount, Nodes: []NodeView{}, Versions: []string{c.cfg.Version}}
	if c.cfg.Nodes == nil {
		v.At = c.now()
		return v, nil
	}
	n, err := c.cfg.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var self []string
	if c.cfg.Self != nil {
		self = c.cfg.Self()
	}
	return ViewNodes(n, self, c.cfg.Database), nil
}

// ViewNodes is the view of the nodes as read (for the nodes page, the
// API and wxflow nodes): self are the ids of the nodes to mark as this
// server's, database names the database without its password.
func ViewNodes(n *postgres.Nodes, self []string, database string) *NodesView {
	v := &NodesView{Store: "postgres", Database: database, At: n.At, Lanes: n.Lanes, Free: n.Free, FreeQueued: n.FreeQueued,
		Unheld: n.Unheld(), Nodes: []NodeView{}, Versions: []string{}}
	for _, node := range n.Nodes {
		if node.Live && !slices.Contains(v.Versions, node.Version) {
			v.Versions = append(v.Versions, node.Version)
		}
		// An ended node ran until its lease ended, at the latest.
		last := n.At
		if !node.Live && node.Expires.Before(last) {
			last = node.Expires
		}
		nv := NodeView{NodeInfo: node, Self: slices.Contains(self, node.ID), Up: roundDuration(last.Sub(node.Joined))}
		if node.Live {
			nv.Lease = "ends in " + roundDuration(node.Expires.Sub(n.At))
		} else {
			nv.Lease = "ENDED " + roundDuration(n.At.Sub(node.Expires)) + " ago"
		}
		v.Nodes = append(v.Nodes, nv)
	}
	slices.Sort(v.Versions)
	return v
}

// roundDuration prints a duration to the tenth of a second below a
// minute, to the second above (as wxflow nodes does).
func roundDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// nodesPage shows the nodes. A database that cannot be read is a page
// that says so (503), not an internal error: it is what an operator
// comes to this page to find out.
func (c *Console) nodesPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.nodesView(r.Context())
	if err != nil {
		c.log.Error("console: read the nodes", "err", err)
		// As every page while the database cannot be read.
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		c.render(w, r, "nodes", "Nodes", map[string]any{"Error": "the database could not be read (see the server's log)", "Refresh": nodesRefresh})
		return
	}
	c.render(w, r, "nodes", "Nodes", map[string]any{"View": v, "Refresh": nodesRefresh})
}

// apiNodes is GET /api/nodes.
func (c *Console) apiNodes(w http.ResponseWriter, r *http.Request) {
	v, err := c.nodesView(r.Context())
	if err != nil {
		c.log.Error("console: read the nodes", "err", err)
		w.Header().Set("Retry-After", "5")
		apiError(w, http.StatusServiceUnavailable, "the database could not be read (see the server's log)")
		return
	}
	writeJSON(w, http.StatusOK, v)
}
