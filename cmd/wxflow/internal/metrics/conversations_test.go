package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// TestConversationMetrics: open conversations by team (read at each
// scrape; a team with none left reads 0, a failed read keeps the last
// counts), first response and resolution histograms by team, refused
// replies by reason.
func TestConversationMetrics(t *testing.T) {
	// 45 s and 3 days to the first reply; 2 h open.
	fr := engine.Histogram{Counts: make([]uint64, len(engine.ConvBuckets)+1), Sum: 45 + 3*86400}
	fr.Counts[1], fr.Counts[len(engine.ConvBuckets)] = 1, 1
	res := engine.Histogram{Counts: make([]uint64, len(engine.ConvBuckets)+1), Sum: 7200}
	res.Counts[7] = 1
	stats := engine.Stats{
		FirstResponse:  map[string]*engine.Histogram{"support": &fr},
		Resolution:     map[string]*engine.Histogram{"": &res},
		RepliesRefused: map[channels.Reason]uint64{channels.ReasonWindowClosed: 2, channels.ReasonQuotaExhausted: 1},
	}
	m := New(func() engine.Stats { return stats })
	counts := map[string]int{"support": 3, "": 1}
	var readErr error
	m.CountOpenConversations(func(ctx context.Context) (map[string]int, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the read has no deadline")
		}
		return counts, readErr
	})
	out := scrape(t, m.Registry)
	for _, want := range []string{
		"# TYPE wxflow_conversations_open gauge\n",
		`wxflow_conversations_open{team=""} 1` + "\n",
		`wxflow_conversations_open{team="support"} 3` + "\n",
		"# TYPE wxflow_conversation_first_response_seconds histogram\n",
		`wxflow_conversation_first_response_seconds_bucket{team="support",le="30"} 0` + "\n",
		`wxflow_conversation_first_response_seconds_bucket{team="support",le="60"} 1` + "\n",
		`wxflow_conversation_first_response_seconds_bucket{team="support",le="172800"} 1` + "\n",
		`wxflow_conversation_first_response_seconds_bucket{team="support",le="+Inf"} 2` + "\n",
		`wxflow_conversation_first_response_seconds_sum{team="support"} 259245` + "\n",
		`wxflow_conversation_first_response_seconds_count{team="support"} 2` + "\n",
		`wxflow_conversation_resolution_seconds_bucket{team="",le="3600"} 0` + "\n",
		`wxflow_conversation_resolution_seconds_bucket{team="",le="7200"} 1` + "\n",
		`wxflow_conversation_resolution_seconds_count{team=""} 1` + "\n",
		`wxflow_replies_refused_total{reason="quota_exhausted"} 1` + "\n",
		`wxflow_replies_refused_total{reason="window_closed"} 2` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	counts = map[string]int{"": 2}
	out = scrape(t, m.Registry)
	if !strings.Contains(out, `wxflow_conversations_open{team="support"} 0`+"\n") || !strings.Contains(out, `wxflow_conversations_open{team=""} 2`+"\n") {
		t.Errorf("after support's closed:\n%s", out)
	}
	counts, readErr = nil, errors.New("store down")
	out = scrape(t, m.Registry)
	if !strings.Contains(out, `wxflow_conversations_open{team=""} 2`+"\n") {
		t.Errorf("a failed read should keep the last counts:\n%s", out)
	}
}

// TestHistogramVecChecks: a snapshot of the wrong length is refused, and
// the label cannot be le.
func TestHistogramVecChecks(t *testing.T) {
	r := NewRegistry()
	h := r.HistogramVec("x_seconds", "x", "team", []float64{1, 2})
	if err := h.SetCounts("a", []uint64{1, 2}, 3); err == nil {
		t.Error("2 counts for 2 bounds accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("label le accepted")
		}
	}()
	r.HistogramVec("y_seconds", "y", "le", []float64{1})
}
