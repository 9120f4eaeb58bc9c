package flows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// TestWholeNumberErrors: a whole number the validator cannot take says
// why: too large, or written in a form other than decimal digits (it
// said "expected a whole number, got the number 99999999999999999999").
func TestWholeNumberErrors(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		"99999999999999999999": "4:15: error: priority: the number 99999999999999999999 is too large (use a smaller number)",
		"0x10":                 "4:15: error: priority: expected a whole number in decimal, got 0x10 (write it in decimal digits)",
		"1_000":                "4:15: error: priority: expected a whole number in decimal, got 1_000 (write it in decimal digits)",
		"1.5":                  "4:15: error: priority: expected a whole number, got the number 1.5",
		"abc":                  `4:15: error: priority: expected a whole number, got "abc"`,
	} {
		_, diags := load(t, fmt.Sprintf("name: a\ntriggers:\n  - follow:\n    priority: %s\nsteps: [end]\n", v), flows.Options{})
		if strings.Join(diags, "\n") != want {
			t.Errorf("priority: %s:\n%s\nwant:\n%s", v, strings.Join(diags, "\n"), want)
		}
	}
}

// TestFormatDuration: durations are shown as an operator writes them
// (23h59m, not 1439m).
func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", 90 * time.Second: "1m30s", 10 * time.Minute: "10m", 60 * time.Minute: "1h",
		90 * time.Minute: "1h30m", 23*time.Hour + 59*time.Minute: "23h59m", 48 * time.Hour: "48h", 72 * time.Hour: "3d",
	} {
		if got := flows.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestAliasErrorsOnce: a value wrong in the same way wherever an alias
// repeats it is reported once (it was once per alias).
func TestAliasErrorsOnce(t *testing.T) {
	t.Parallel()
	_, diags := load(t, "name: a\ntriggers: [follow]\nx: &bad [1, 2]\nsteps:\n  - send: { text: *bad }\n  - send: { text: *bad }\n", flows.Options{})
	n := 0
	for _, d := range diags {
		if strings.Contains(d, "expected a text, got a list") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d reports of the aliased list, want 1:\n%s", n, strings.Join(diags, "\n"))
	}
}
