package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/engine"
)

// NodesConfig says how a node on PostgreSQL keeps its lease (nodes:):
// how long it lasts without renewal, and how often it is renewed, as
// written (zero: the default); and how many writers it runs. SQLite has
// no lease, and one writer.
type NodesConfig struct {
	// Lease is how long a node's lease lasts without renewal (zero:
	// DefaultLease): a node that stops renewing (killed, paused, cut off
	// from the database) loses its lanes this long after its last
	// renewal.
	Lease time.Duration
	// Renew is how often the lease is renewed (zero: a fifth of the
	// lease); less than half of it.
	Renew time.Duration
	// Writers is how many writers the node runs (zero:
	// engine.DefaultNodeWriters), each holding a share of its lanes
	// with a connection and transactions of its own (engine
	// Config.Writers).
	Writers int
}

// The limits and defaults of nodes:.
const (
	DefaultLease = 5 * time.Second
	// minLease is the shortest lease accepted: shorter, a pause of the
	// garbage collector or a slow commit of the server would cost a
	// node its lanes.
	minLease = time.Second
	// minRenew is the shortest renewal interval accepted.
	minRenew = 100 * time.Millisecond
	// maxWriters is the most writers a node runs: each is a node of the
	// database's with connections of its own.
	maxWriters = 16
)

// nodesKeys are the keys of nodes:.
var nodesKeys = []string{"lease", "renew", "writers"}

// LeaseFor returns the lease: Lease, or DefaultLease.
func (n NodesConfig) LeaseFor() time.Duration {
	if n.Lease > 0 {
		return n.Lease
	}
	return DefaultLease
}

// RenewEvery returns how often the lease is renewed: Renew, or a fifth
// of the lease.
func (n NodesConfig) RenewEvery() time.Duration {
	if n.Renew > 0 {
		return n.Renew
	}
	return n.LeaseFor() / 5
}

// nodes walks nodes:. The renewal interval must be less than half the
// lease, so that a renewal that failed is tried again before the lease
// ends.
func (p *parser) nodes(n *yaml.Node, c *NodesConfig) {
	var renewNode *yaml.Node
	p.section(n, "nodes", nodesKeys, func(key string, v *yaml.Node) {
		if key == "writers" {
			p.writers(v, c)
			return
		}
		d, given, ok := p.duration(key, v, false)
		if !ok || !given {
			return
		}
		switch key {
		case "lease":
			switch {
			case d < minLease:
				p.errorf(v, "5s (the default) suits most nodes; a longer lease rides out a starved machine, and moves a dead node's lanes later", "nodes lease must be at least %s", minLease)
			case d > 10*time.Minute:
				p.errorf(v, "a dead node's lanes wait this long for another node; 5s to 1m is usual", "nodes lease must be at most 10m")
			default:
				c.Lease = d
			}
		case "renew":
			if d < minRenew {
				p.errorf(v, "", "nodes renew must be at least %s", minRenew)
				return
			}
			c.Renew, renewNode = d, v
		}
	})
	if lease := c.LeaseFor(); renewNode != nil && 2*c.Renew >= lease {
		p.errorf(renewNode, fmt.Sprintf("a fifth of the lease leaves room for retries: renew: %s", fmtDuration(lease/5)),
			"nodes renew (%s) must be less than half the lease (%s), so that a failed renewal is tried again before the lease ends", fmtDuration(c.Renew), fmtDuration(lease))
		c.Renew = 0
	}
}

// writers reads nodes: writers:, a whole number from 1 to maxWriters.
func (p *parser) writers(v *yaml.Node, c *NodesConfig) {
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil || n < 1 || n > maxWriters {
		p.errorf(v, "2 (the default) suits a node on 2 to 4 cores; 1 writes in one transaction at a time, as a SQLite store does",
			"nodes writers must be a whole number from 1 to %d", maxWriters)
		return
	}
	c.Writers = n
}

// WritersFor returns how many writers a node runs: Writers, or
// engine.DefaultNodeWriters.
func (n NodesConfig) WritersFor() int {
	if n.Writers > 0 {
		return n.Writers
	}
	return engine.DefaultNodeWriters
}

// fmtDuration writes a duration as the config does (5s, 1m30s, 250ms).
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
