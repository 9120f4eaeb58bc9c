package steps_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
	"go.yaml.in/yaml/v3"
)

// teamNode parses src as a config file's teams: map and returns the value
// of the team support.
func teamNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	teams := doc.Content[0].Content[1]
	return teams.Content[1]
}

func TestParseHoursNode(t *testing.T) {
	t.Parallel()
	h, err := steps.ParseHoursNode(teamNode(t, `teams:
  support:
    timezone: Asia/Shanghai
    open: { mon-fri: "09:00-18:00" }
    holidays: [2026-10-01]
    workdays: [2026-10-10]
`))
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 11, 23, 10, 0, 0, 0, sh), true},  // Monday
		{time.Date(2026, 11, 23, 18, 0, 0, 0, sh), false}, // closing time
		{time.Date(2026, 10, 1, 10, 0, 0, 0, sh), false},  // holiday
		{time.Date(2026, 10, 10, 10, 0, 0, 0, sh), true},  // make-up Saturday
		{time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC), true},
	} {
		if got := h.Open(c.at); got != c.want {
			t.Errorf("Open(%v) = %v, want %v", c.at, got, c.want)
		}
	}

	for _, empty := range []string{"teams:\n  support:\n", "teams:\n  support: {}\n", "teams:\n  support: ~\n"} {
		h, err := steps.ParseHoursNode(teamNode(t, empty))
		if h != nil || err != nil {
			t.Errorf("%q: got %v, %v; want nil, nil (always on shift)", empty, h, err)
		}
	}
	if h, err := steps.ParseHoursNode(nil); h != nil || err != nil {
		t.Errorf("nil node: got %v, %v", h, err)
	}
}

func TestParseHoursNodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"unknown day", `teams:
  support:
    open: { mon-fir: "09:00-18:00" }
`, `3:13: error: unknown day "fir" (days are mon, tue, wed, thu, fri, sat, sun; ranges like mon-fri; lists like sat,sun)`},
		{"misspelt zone", `teams:
  support:
    timezone: Asia/Shanghia
    open: { mon-fri: "09:00-18:00" }
`, `3:15: error: unknown time zone "Asia/Shanghia" (did you mean "Asia/Shanghai"?)`},
		{"no open", `teams:
  support:
    timezone: Asia/Shanghai
`, `3:5: error: missing key "open" in hours (add open:, e.g. open: { mon-fri: "09:00-18:00" })`},
		{"unknown key", `teams:
  support:
    opne: { mon-fri: "09:00-18:00" }
`, `3:5: error: unknown key "opne" in hours (did you mean "open"?)`},
		{"bad range", `teams:
  support:
    open: { mon-fri: "9am-6pm" }
`, `3:22: error: invalid time range "9am-6pm" (write ranges as "09:00-18:00")`},
		{"holiday and workday", `teams:
  support:
    open: { mon-fri: "09:00-18:00" }
    holidays: [2026-10-10]
    workdays: [2026-10-10]
`, `5:15: error: 2026-10-10 is both a holiday and a workday (a date is either a holiday or a workday)`},
		{"a key with a comma in a flow map", `teams:
  support:
    open: { mon-fri: "09:00-18:00", sat,sun: "10:00-14:00" }
`, `3:37: error: "sat" has no value: in a { } map, a comma ends a key (quote a key with a comma, "sat,sun": ..., or write the map in block style)`},
		{"an empty range", `teams:
  support:
    open: { mon-fri: "09:00-09:00" }
`, `3:22: error: time range "09:00-09:00" is empty: it starts and ends at the same time (for the whole day, write "00:00-24:00")`},
		{"a list", `teams:
  support: [mon]
`, `2:12: error: expected a map in hours, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := steps.ParseHoursNode(teamNode(t, tt.src))
			if h != nil || err == nil {
				t.Fatalf("got %v, %v; want an error", h, err)
			}
			var diags flows.Diagnostics
			if !errors.As(err, &diags) || len(diags) == 0 {
				t.Fatalf("error %T is not flows.Diagnostics", err)
			}
			if got := strings.Split(err.Error(), "\n")[0]; got != tt.want {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// FuzzParseHoursNode: any YAML value gives hours or an error with a
// position, never a panic.
func FuzzParseHoursNode(f *testing.F) {
	for _, s := range []string{
		`{timezone: Asia/Shanghai, open: {mon-fri: "09:00-18:00"}, holidays: [2026-10-01], workdays: [2026-10-10]}`,
		`{open: {"sat,sun": ["10:00-12:00", "13:00-24:00"]}}`,
		`{open: {fri-mon: "9-5"}}`, `[]`, `~`, `{}`, `&a {open: *a}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil {
			return
		}
		h, err := steps.ParseHoursNode(&doc)
		if err != nil {
			var diags flows.Diagnostics
			if h != nil || !errors.As(err, &diags) || len(diags) == 0 || diags[0].Line < 1 {
				t.Fatalf("hours %v, error %v", h, err)
			}
			return
		}
		if h != nil {
			h.Open(time.Date(2026, 10, 10, 10, 0, 0, 0, time.UTC))
		}
	})
}
