package scenario

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wxflow/wxflow/flows"
)

// loadFlows writes flows to a folder and loads them, failing on errors.
func loadFlows(t *testing.T, files map[string]string) *flows.Set {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
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

// TestV2StartWithVars: a flow without triggers (a sub-flow) is started by
// start: with flow: and vars:, and the started run reads the variables it
// declares.
func TestV2StartWithVars(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"ask.yaml": `name: ask-order
triggers:
  - keyword: [order]
steps:
  - ask: "Your order number?"
    pattern: "^[0-9]+$"
    save: vars.order
  - start:
      flow: order-status
      vars: { order_id: "${vars.order}", copies: 2 }
  - send: "Looking it up."
`,
		"order-status.yaml": `name: order-status
vars: { order_id: text, copies: number }
steps:
  - send: "Order ${vars.order_id} (${vars.copies} copies)"
`,
	})
	mustPass(t, set, `name: start gives vars
script:
  - say: order
  - expect: "Your order number?"
  - say: "12345"
  - expect: "Looking it up."
  - expect: "Order 12345 (2 copies)"
  - expect_none
`)
}

// TestV2WaitUntilMap: wait: {until: EXPR} waits until the time the
// expression gives.
func TestV2WaitUntilMap(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"remind.yaml": `name: remind
triggers:
  - keyword: [remind]
steps:
  - set: { vars.at: "${now.Add(duration('2h'))}" }
  - send: "I'll remind you."
  - wait: { until: vars.at }
  - send: "Reminder!"
`,
	})
	mustPass(t, set, `name: wait until a variable's time
script:
  - say: remind
  - expect: "I'll remind you."
  - wait: 1h
  - expect_none
  - wait: 1h
  - expect: "Reminder!"
`)
}
