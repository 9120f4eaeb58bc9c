package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserWhyAndRuns: in the console, the simulator's chat and the
// contact's page say why a scan started nothing, and the run list
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
