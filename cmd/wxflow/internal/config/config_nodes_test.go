package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConfigNodes checks nodes: (a PostgreSQL node's lease): its
// defaults, a renewal defaulting to a fifth of the lease, and the
// refusals at their line and column.
func TestConfigNodes(t *testing.T) {
	t.Parallel()
	got, err := Parse("", []byte(minimal), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got.Nodes != (NodesConfig{}) || got.Nodes.LeaseFor() != 5*time.Second || got.Nodes.RenewEvery() != time.Second || got.Nodes.WritersFor() != 2 {
		t.Errorf("default nodes = %+v (renew every %s, %d writers), want a lease of 5s renewed every 1s, 2 writers", got.Nodes, got.Nodes.RenewEvery(), got.Nodes.WritersFor())
	}
	for src, want := range map[string]int{"nodes:\n  writers: 1\n": 1, "nodes:\n  writers: 4\n  lease: 10s\n": 4, "nodes:\n  writers: 16\n": 16} {
		got, err := Parse("", []byte(src+minimal), envOf(testEnv))
		if err != nil || got.Nodes.WritersFor() != want {
			t.Errorf("%q: %v writers, error %v; want %d", src, got.Nodes.WritersFor(), err, want)
		}
	}
	for _, c := range []struct {
		src   string
		lease time.Duration
		renew time.Duration
	}{
		{"nodes:\n  lease: 15s\n  renew: 2s\n", 15 * time.Second, 2 * time.Second},
		{"nodes:\n  lease: 20s\n", 20 * time.Second, 4 * time.Second},
		{"nodes:\n  renew: 500ms\n", 5 * time.Second, 500 * time.Millisecond},
		{"nodes:\n  renew: 2s\n  lease: 5s\n", 5 * time.Second, 2 * time.Second},
	} {
		got, err := Parse("", []byte(c.src+minimal), envOf(testEnv))
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		if got.Nodes.LeaseFor() != c.lease || got.Nodes.RenewEvery() != c.renew {
			t.Errorf("%q: lease %s renewed every %s, want %s and %s", c.src, got.Nodes.LeaseFor(), got.Nodes.RenewEvery(), c.lease, c.renew)
		}
	}
	for _, c := range []struct{ name, src, want string }{
		{"renew of half the lease", "nodes:\n  lease: 4s\n  renew: 2s\n", "wxflow.yaml:3:10: error: nodes renew (2s) must be less than half the lease (4s), so that a failed renewal is tried again before the lease ends (a fifth of the lease leaves room for retries: renew: 800ms)"},
		{"renew before the lease", "nodes:\n  renew: 3s\n  lease: 5s\n", "wxflow.yaml:2:10: error: nodes renew (3s) must be less than half the lease (5s)"},
		{"renew against the default lease", "nodes:\n  renew: 2500ms\n", "wxflow.yaml:2:10: error: nodes renew (2.5s) must be less than half the lease (5s)"},
		{"short lease", "nodes:\n  lease: 500ms\n", "wxflow.yaml:2:10: error: nodes lease must be at least 1s"},
		{"long lease", "nodes:\n  lease: 1h\n", "wxflow.yaml:2:10: error: nodes lease must be at most 10m"},
		{"short renew", "nodes:\n  renew: 10ms\n", "wxflow.yaml:2:10: error: nodes renew must be at least 100ms"},
		{"no writer", "nodes:\n  writers: 0\n", "wxflow.yaml:2:12: error: nodes writers must be a whole number from 1 to 16 (2 (the default) suits"},
		{"too many writers", "nodes:\n  writers: 17\n", "wxflow.yaml:2:12: error: nodes writers must be a whole number from 1 to 16"},
		{"writers not a number", "nodes:\n  writers: two\n", "wxflow.yaml:2:12: error: nodes writers must be a whole number"},
		{"writers a list", "nodes:\n  writers: [2]\n", "wxflow.yaml:2:12: error: nodes writers must be a whole number"},
		{"zero", "nodes:\n  lease: 0\n", "wxflow.yaml:2:10: error: lease must be longer than zero"},
		{"no unit", "nodes:\n  renew: 1\n", "wxflow.yaml:2:10: error: renew needs a unit"},
		{"unknown key", "nodes:\n  leases: 5s\n", `wxflow.yaml:2:3: error: unknown key "leases"`},
		{"misplaced", "lease: 5s\n", "lease goes under nodes:"},
	} {
		_, err := Parse("wxflow.yaml", []byte(c.src+minimal), envOf(testEnv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error\n%v\nwant it to contain\n%s", c.name, err, c.want)
		}
	}
}

// TestConfigNodesDocs checks that docs/config.md has a row for every key
// of nodes:.
func TestConfigNodesDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]string{"nodes"}, nodesKeys...) {
		if !regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(k) + "` \\|").Match(doc) {
			t.Errorf("docs/config.md has no table row for `%s`", k)
		}
	}
}
