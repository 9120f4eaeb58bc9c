package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// TestLeaseMetrics: a node's lease renewals by result and the time its
// lease is known to hold; none of them on a store of one process
// (SQLite), where a 0 would read as a lease about to end.
func TestLeaseMetrics(t *testing.T) {
	stats := engine.Stats{Lanes: engine.LaneCount}
	m := New(func() engine.Stats { return stats })
	out := scrape(t, m.Registry)
	for _, name := range []string{"wxflow_lease_renewals_total", "wxflow_lease_remaining_seconds"} {
		if !strings.Contains(out, "# TYPE "+name+" ") {
			t.Errorf("%s is not described:\n%s", name, out)
		}
		if strings.Contains(out, "\n"+name+"{") || strings.Contains(out, "\n"+name+" ") {
			t.Errorf("%s has a sample without a lease:\n%s", name, out)
		}
	}

	stats = engine.Stats{Lanes: 128, Node: true, LeaseRenewals: 41, LeaseRenewFailures: 3, LeaseLeft: []time.Duration{4200 * time.Millisecond, 4900 * time.Millisecond}}
	out = scrape(t, m.Registry)
	for _, want := range []string{
		`wxflow_lease_renewals_total{result="ok"} 41` + "\n",
		`wxflow_lease_renewals_total{result="failed"} 3` + "\n",
		`wxflow_lease_remaining_seconds{writer="1"} 4.2` + "\n",
		`wxflow_lease_remaining_seconds{writer="2"} 4.9` + "\n",
		"wxflow_node_lanes 128\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// Past the lease: 0, not a negative time.
	stats.LeaseLeft[0] = -700 * time.Millisecond
	if out = scrape(t, m.Registry); !strings.Contains(out, `wxflow_lease_remaining_seconds{writer="1"} 0`+"\n") {
		t.Errorf("past the lease:\n%s", out)
	}
}
