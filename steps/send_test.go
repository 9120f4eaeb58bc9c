package steps_test

import (
	"strings"
	"testing"

	"github.com/wxflow/wxflow/steps"
)

// TestSendResume: a send with on_fail resumed with its message's outcome
// goes to on_fail when it failed, and on when it was sent or its outcome
// is unknown.
func TestSendResume(t *testing.T) {
	t.Parallel()
	s := load(t, "  - send: hi\n    on_fail: fallback\n")
	tests := []struct {
		name string
		in   steps.Input
		want steps.Outcome
	}{
		{"failed", steps.Input{Kind: steps.Sent, Failed: true, Reason: "api_error"}, gotoRef("fallback")},
		{"sent", steps.Input{Kind: steps.Sent}, next},
		{"unknown", steps.Input{Kind: steps.Sent, Reason: "unknown"}, next},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			got, err := resume(t, rt, s, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
			if len(rt.sent) != 0 {
				t.Fatalf("resume sent %q", rt.sent)
			}
		})
	}
	if _, err := resume(t, newRuntime(), s, steps.Input{Kind: steps.Elapsed}); err == nil || !strings.HasPrefix(err.Error(), "send: ") {
		t.Fatalf("error = %v", err)
	}
}
