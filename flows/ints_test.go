package flows_test

import (
	"fmt"
	"strings"
	"testing"

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
