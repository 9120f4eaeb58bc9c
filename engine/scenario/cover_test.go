package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
)

// coverFlow has a step of every kind of branch: a step's if:, a branch
// with a case list, a case jump and no else, an ask's on_timeout and
// on_invalid to the same step, and hours with an empty when_open.
const coverFlow = `name: cover
triggers:
  - keyword: [go]
steps:
  - if: contact.fields.vip == true
    send: "VIP!"
  - ask: "Pick 1 or 2"
    expect: choice
    choices: { one: ["1"], two: ["2"] }
    save: vars.pick
    retries: 0
    timeout: 1h
    on_timeout: bye
    on_invalid: bye
  - branch:
      - if: vars.pick == "one"
        then:
          - send: "One"
      - if: vars.pick == "two"
        goto: two
  - send: "neither"
  - end
  - id: two
    send: "Two"
  - end
  - id: bye
    send: "Bye"
`

func loadCoverFlow(t *testing.T) *flows.Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cover.yaml"), []byte(coverFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		t.Fatalf("flows: %v", set.Diags.Err())
	}
	return set
}

// notReached runs scenarios with coverage and returns the lines "line:
// what" of the items not reached, sorted.
func notReached(t *testing.T, set *flows.Set, src string) ([]string, *Coverage) {
	t.Helper()
	cov := NewCoverage()
	cov.AddFlows(set)
	sum, out := runSource(t, set, src, Options{Cover: cov})
	if sum.Failed > 0 {
		t.Fatalf("%s\n%s", sum, out)
	}
	var got []string
	for _, fc := range cov.Flows() {
		for _, it := range fc.Items {
			if !it.Reached {
				got = append(got, it.What)
			}
		}
	}
	sort.Strings(got)
	return got, cov
}

func TestCoverageCountsStepsAndBranches(t *testing.T) {
	t.Parallel()
	set := loadCoverFlow(t)
	got, cov := notReached(t, set, `name: one
script:
  - say: go
  - expect: "Pick*"
  - say: "1"
  - expect: One
  - expect: neither
`)
	want := []string{
		"if: contact.fields.vip == true of step send (line 5) is true",
		"on_invalid of step ask (line 7) (to bye)",
		"on_timeout of step ask (line 7) (to bye)",
		"case vars.pick == \"two\" of step branch (line 15) (to two)",
		"(no case matched) of step branch (line 15)",
		"step send (line 5)",
		"step two",
		"step end (line 25)",
		"step bye",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("not reached:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := cov.Percent(); p <= 0 || p >= 100 {
		t.Errorf("percent = %v", p)
	}

	// The other ways out: every step and branch reached.
	got, cov = notReached(t, set, `name: one
script:
  - say: go
  - expect: "Pick*"
  - say: "1"
  - expect: One
  - expect: neither
---
name: two
contact: { fields: { vip: true } }
script:
  - say: go
  - expect: "VIP!"
  - expect: "Pick*"
  - say: "2"
  - expect: Two
---
name: invalid
script:
  - say: go
  - expect: "Pick*"
  - say: "3"
  - expect: "Bye"
---
name: timeout
script:
  - say: go
  - expect: "Pick*"
  - wait: 2h
  - expect: "Bye"
`)
	// No case matched cannot happen after a choice of two; it stays.
	if len(got) != 1 || got[0] != "(no case matched) of step branch (line 15)" {
		t.Errorf("not reached: %q, want only the branch's no-match", got)
	}
	var out bytes.Buffer
	cov.WriteReport(&out)
	for _, want := range []string{
		"cover (" + set.Flows[0].File + "): 9/9 steps, 6/7 branches: 93.8%",
		"not reached: " + set.Flows[0].File + ":15:5: (no case matched) of step branch (line 15)",
		"coverage: 93.8% of steps and branches (15 of 16)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCoverageOnlyTimeout tells on_timeout from on_invalid when both
// jump to the same step.
func TestCoverageOnlyTimeout(t *testing.T) {
	t.Parallel()
	set := loadCoverFlow(t)
	got, _ := notReached(t, set, `name: timeout
script:
  - say: go
  - expect: "Pick*"
  - wait: 2h
  - expect: "Bye"
`)
	joined := strings.Join(got, "\n")
	if strings.Contains(joined, "on_timeout") || !strings.Contains(joined, "on_invalid") {
		t.Errorf("not reached:\n%s\nwant on_invalid and not on_timeout", joined)
	}
}

// TestCoverageEmptyList counts an empty list taken (hours' when_open: []).
func TestCoverageEmptyList(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := `name: away
triggers:
  - keyword: [hi]
steps:
  - hours:
      timezone: Asia/Shanghai
      open: { mon-fri: "09:00-18:00" }
    when_open: []
    when_closed:
      - send: "We're away"
`
	if err := os.WriteFile(filepath.Join(dir, "away.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("%v %v", err, set.Diags.Err())
	}
	got, _ := notReached(t, set, `name: open
script:
  - say: hi
  - expect_none
`)
	if len(got) != 2 || !strings.HasPrefix(got[0], "step send") || !strings.HasPrefix(got[1], "when_closed") {
		t.Errorf("not reached: %q, want the send and when_closed", got)
	}
}
