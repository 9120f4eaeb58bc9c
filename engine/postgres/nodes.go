package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine"
)

// NodeInfo is a node of the database as its lease and the lanes show it.
type NodeInfo struct {
	// ID is the node's id: its name and a random suffix, new at each
	// start.
	ID string `json:"id"`
	// Name is host:pid (or nodes: name); a process of several writers
	// has a node of that name per writer.
	Name string `json:"name"`
	// Version is the version of wxflow the node runs ("" for a wxflow
	// from before nodes said so).
	Version string    `json:"version"`
	Joined  time.Time `json:"joined"`
	// Expires is when its lease ends unless renewed, by the database's
	// clock.
	Expires time.Time `json:"expires"`
	// Live is set when the lease had not ended when the nodes were
	// read; a node whose lease ended holds its lanes until a live node
	// takes them.
	Live bool `json:"live"`
	// Lanes is how many lanes it holds.
	Lanes int `json:"lanes"`
	// Queued is how many items (events other nodes received, firings,
	// flows started through the API) wait in the queue for its lanes.
	Queued int `json:"queued"`
	// Claimed is how many messages it took to send and has not
	// finished.
	Claimed int `json:"claimed"`
}

// Nodes are the nodes of a database and its lanes, read in one
// snapshot.
type Nodes struct {
	// At is the database's clock when they were read.
	At time.Time `json:"at"`
	// Nodes are the nodes with a row (a lease not yet reaped), by name.
	Nodes []NodeInfo `json:"nodes"`
	// Lanes is the number of lanes (engine.LaneCount).
	Lanes int `json:"lanes"`
	// Free is how many lanes no node holds (never taken, given back, or
	// whose holder's lease was reaped), and FreeQueued how many queued
	// items wait for them.
	Free       int `json:"free"`
	FreeQueued int `json:"free_queued"`
}

// Unheld returns how many lanes no live node holds: free lanes and those
// of nodes whose lease ended. Their contacts' events are queued until a
// live node takes them.
func (n *Nodes) Unheld() int {
	unheld := n.Free
	for _, node := range n.Nodes {
		if !node.Live {
			unheld += node.Lanes
		}
	}
	return unheld
}

// Nodes reads the nodes of the database with their leases, lanes, queued
// items and claimed messages, for `wxflow nodes`. It writes nothing, and
// works on a store opened read-only.
func (s *Store) Nodes(ctx context.Context) (*Nodes, error) {
	out := &Nodes{Lanes: engine.LaneCount}
	err := s.View(ctx, func(tx engine.ReadTx) error {
		t := tx.(*pgTx)
		var now int64
		if err := t.queryRow(`SELECT `+nowExpr("$1"), []any{s.nowArg()}, &now); err != nil {
			return err
		}
		out.At = engine.FromUnixNanos(now)
		byID := map[string]*NodeInfo{}
		var joined, expires int64
		var n NodeInfo
		err := t.each(`SELECT id, name, version, joined, expires FROM nodes ORDER BY name, id`, []any{&n.ID, &n.Name, &n.Version, &joined, &expires}, func() error {
			n.Joined, n.Expires, n.Live = engine.FromUnixNanos(joined), engine.FromUnixNanos(expires), expires > now
			out.Nodes = append(out.Nodes, n)
			return nil
		})
		if err != nil {
			return err
		}
		for i := range out.Nodes {
			byID[out.Nodes[i].ID] = &out.Nodes[i]
		}
		owners := make([]string, engine.LaneCount)
		var lane int32
		var owner string
		err = t.each(`SELECT lane, owner FROM lanes`, []any{&lane, &owner}, func() error {
			if lane < 0 || int(lane) >= engine.LaneCount {
				return fmt.Errorf("lane %d is out of range", lane)
			}
			owners[lane] = owner
			return nil
		})
		if err != nil {
			return err
		}
		for _, o := range owners {
			if node, ok := byID[o]; ok {
				node.Lanes++
			} else {
				out.Free++
			}
		}
		var count int
		err = t.each(`SELECT lane, count(*) FROM queue GROUP BY lane`, []any{&lane, &count}, func() error {
			if lane < 0 || int(lane) >= engine.LaneCount {
				return fmt.Errorf("a queued item's lane %d is out of range", lane)
			}
			if node, ok := byID[owners[lane]]; ok {
				node.Queued += count
			} else {
				out.FreeQueued += count
			}
			return nil
		})
		if err != nil {
			return err
		}
		// The open messages only (outbox_open): not the whole outbox.
		err = t.each(`SELECT claimed_by, count(*) FROM outbox WHERE status IN ('pending', 'sending') AND claimed_by <> '' GROUP BY claimed_by`, []any{&owner, &count}, func() error {
			if node, ok := byID[owner]; ok {
				node.Claimed += count
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the nodes: %w", err)
	}
	return out, nil
}

// each runs a query (with the statements queued before it) and calls fn
// after scanning each row into scans.
func (t *pgTx) each(sql string, scans []any, fn func() error) error {
	return t.query(sql, nil, func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, scans, fn)
		return err
	})
}
