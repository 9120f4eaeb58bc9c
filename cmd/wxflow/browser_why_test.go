package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserWhyAndRuns: in the console, the simulator's chat and the
// contact's page say why a scan started nothing, the chat shows a step
// skipped because its if: was false, and the run list
// filters by flow and contact from select lists, showing when runs ended
// and how long they took.
func TestBrowserWhyAndRuns(t *testing.T) {
	chromium := browserExec(t)
	cfg := sandboxConfig()
	cfg.Flows = browserFlows(t)
	b := newBrowser(t, chromium, browserServer(t, cfg))

	b.open("/simulator")
	b.submit("follow", `form:has(input[name=action][value=follow]) button`, 200)
	b.typeInto(`form:has(input[name=action][value=scan]) input[name=scene]`, "market_1")
	b.submit("scan an unknown code", `form:has(input[name=action][value=scan]) button`, 200)
	lines := b.chat()
	last := lines[len(lines)-1]
	if last.Class != "why" || !strings.HasPrefix(last.Text, "nothing happened: no trigger matched scan (scene market_1)") {
		t.Fatalf("the chat ends with %+v", last)
	}
	// A store's code: store-scan skips the step for returning followers.
	b.typeInto(`form:has(input[name=action][value=scan]) input[name=scene]`, "store_x")
	b.submit("scan a store's code", `form:has(input[name=action][value=scan]) button`, 200)
	lines = b.chat()
	var tail []string
	for _, l := range lines[len(lines)-3:] {
		tail = append(tail, l.Class+": "+l.Text)
	}
	if !strings.HasPrefix(tail[0], "me: scanned QR scene store_x") || tail[1] != "why: skipped send (line 14) of store-scan: its if: is false" ||
		!strings.Contains(tail[2], "Welcome to this store") {
		t.Fatalf("the chat ends with\n%s", strings.Join(tail, "\n"))
	}
	b.open("/contacts/sandbox/visitor")
	b.wantText("#why", "Events that started nothing", "no trigger matched scan (scene market_1)")

	b.open("/runs")
	b.wantText("table.runs thead", "Ended", "Took")
	b.step("choose the flow", chromedp.SetValue(chromedp.CSS(`select[name=flow]`), "welcome"))
	b.step("choose the contact", chromedp.SetValue(chromedp.CSS(`select[name=contact]`), "visitor"))
	b.submit("filter", `form.filters button`, 200)
	if p := b.path(); !strings.Contains(p, "flow=welcome") || !strings.Contains(p, "contact=visitor") {
		t.Fatalf("the filter leads to %s", p)
	}
	rows := browserEval[[]string](b, `[...document.querySelectorAll("table.runs tbody tr")].map(tr => tr.innerText.replace(/\s+/g, " ").trim())`)
	if len(rows) != 1 || !strings.Contains(rows[0], "welcome") || !strings.Contains(rows[0], "visitor") {
		t.Fatalf("filtered runs: %q", rows)
	}
}
