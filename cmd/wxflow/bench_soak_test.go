package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine"
)

// TestBenchSoak: --duration plays rounds of the same followers (with
// location reports) and samples the store's size; the soak's books
// balance.
func TestBenchSoak(t *testing.T) {
	rep, r := benchJSON(t, "--duration", "2s", "--sample", "500ms", "--followers", "20", "--locations", "2", "--retention", "1m", "--scenario", "mixed")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if rep.Books.Checked != "soak" || !rep.Books.Balanced {
		t.Errorf("books %+v, want a balanced soak", rep.Books)
	}
	if rep.Rounds < 1 || rep.Duration < 2 || rep.Retention != "1m0s" {
		t.Errorf("rounds %d in %.1fs, retention %q", rep.Rounds, rep.Duration, rep.Retention)
	}
	if rep.Events["location_report"] != 2*20*rep.Rounds || rep.Events["follow"] != 20*rep.Rounds {
		t.Errorf("events %v in %d rounds of 20 followers with 2 location reports", rep.Events, rep.Rounds)
	}
	if len(rep.StoreSizes) < 4 || rep.StoreSizes[0].Seconds != 0 {
		t.Errorf("store sizes %v, want one at the start and every 500ms", rep.StoreSizes)
	}
	for i, s := range rep.StoreSizes {
		if s.Bytes <= 0 || (i > 0 && s.Seconds < rep.StoreSizes[i-1].Seconds) {
			t.Errorf("store sizes %v", rep.StoreSizes)
			break
		}
	}
	if rep.MessagesDelivered == 0 || rep.Acked != rep.Callbacks {
		t.Errorf("delivered %d, acked %d of %d", rep.MessagesDelivered, rep.Acked, rep.Callbacks)
	}
	text := runCLI(t, "bench", "--duration", "1s", "--followers", "5")
	if text.code != exitOK || !strings.Contains(text.stdout, "store size") || !strings.Contains(text.stdout, "the server kept its default retention") {
		t.Errorf("exit %d, the text report:\n%s\nstderr:\n%s", text.code, text.stdout, text.stderr)
	}
}

func TestBenchSoakUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--duration", "-1s"},
		{"--sample", "1s"},
		{"--retention", "30s"},
		{"--locations", "-1"},
		{"--url", "http://127.0.0.1:1", "--token", "x", "--duration", "1m"},
		{"--url", "http://127.0.0.1:1", "--token", "x", "--retention", "1m"},
	} {
		r := runCLI(t, append([]string{"bench"}, args...)...)
		if r.code != exitUsage {
			t.Errorf("bench %v: exit %d, want %d\nstderr:\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
}

// TestBenchSoakCounters: the soak reads the messages sent and the rows
// pruned from /metrics.
func TestBenchSoakCounters(t *testing.T) {
	m := metrics.New(func() engine.Stats {
		return engine.Stats{
			Messages: map[engine.MessageKey]uint64{{Status: engine.OutboxSent}: 41, {Status: engine.OutboxFailed, Reason: channels.ReasonWindowClosed}: 2},
			Pruned:   map[string]uint64{"events": 7, "locations": 300},
		}
	})
	var text bytes.Buffer
	if _, err := m.Registry.WriteTo(&text); err != nil {
		t.Fatal(err)
	}
	c, err := parseBenchCounters(&text)
	if err != nil {
		t.Fatal(err)
	}
	if c.sent != 41 || c.pruned["events"] != 7 || c.pruned["locations"] != 300 || len(c.pruned) != 2 {
		t.Errorf("sent %d, pruned %v; want 41 and events 7, locations 300", c.sent, c.pruned)
	}
}

func TestBenchGrowthLastHalf(t *testing.T) {
	for _, c := range []struct {
		samples []storeSample
		want    float64
	}{
		{nil, 0},
		{[]storeSample{{0, 100}}, 0},
		{[]storeSample{{0, 100}, {10, 200}, {20, 300}, {30, 300}, {40, 300}}, 0},
		{[]storeSample{{0, 100}, {10, 200}, {20, 400}, {30, 500}, {40, 600}}, 50},
	} {
		if got := growthLastHalf(c.samples); got != c.want {
			t.Errorf("growthLastHalf(%v) = %v, want %v", c.samples, got, c.want)
		}
	}
}
