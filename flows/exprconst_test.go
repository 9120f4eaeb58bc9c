package flows_test

import (
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
)

// TestConstantCallsChecked: a builtin call whose arguments are written
// out and that fails (a duration's unit, a date, a zone) is an error at
// its place when the flow loads, not every time a run gets there; calls
// that work, or read values of the run, are left alone.
func TestConstantCallsChecked(t *testing.T) {
	t.Parallel()
	for until, want := range map[string]string{
		`now.Add(duration("1x"))`:           `6:20: error: duration("1x") fails whenever it runs: time: unknown unit "x" in duration "1x" (units are ns, us, ms, s, m and h: duration("90m"))`,
		`date("2026-13-45")`:                `6:12: error: date("2026-13-45") fails whenever it runs: invalid date 2026-13-45 (write the date as 2026-11-16, or give its layout: date("16/11/2026", "02/01/2006"))`,
		`now.In(timezone("Mars/X"))`:        `6:19: error: timezone("Mars/X") fails whenever it runs: unknown time zone Mars/X (use an IANA name such as "Asia/Shanghai")`,
		`now.Add(duration("1h30m"))`:        ``,
		`date("2026-11-16")`:                ``,
		`now.In(timezone("Asia/Shanghai"))`: ``,
		`now.Add(duration(vars.gap))`:       ``,
	} {
		_, diags := load(t, "name: a\ntriggers: [follow]\nvars: { gap: text }\nsteps:\n  - wait:\n    until: "+until+"\n", flows.Options{})
		if got := strings.Join(diags, "\n"); got != want {
			t.Errorf("until: %s:\n%s\nwant:\n%s", until, got, want)
		}
	}
}
