package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRunListTellsTheTruth: a run whose messages all failed is not a
// green "completed"; the run list shows when runs ended and how long
// they took, and filters by flow and contact with choices.
func TestRunListTellsTheTruth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	ctx := context.Background()
	play := func(a SimAction) {
		b, _ := json.Marshal(a)
		if status, body, _ := f.do("POST", "/api/sandbox", "", string(b)); status != http.StatusOK {
			t.Fatalf("%+v: %d %s", a, status, body)
		}
	}
	play(SimAction{Contact: "dee", Action: "menu", Key: "HELP"})
	play(SimAction{Contact: "dee", Action: "advance", Duration: "3d"})
	// The window is closed: help's only message fails.
	if _, err := f.sb.Engine().StartFlow(ctx, "sandbox", "dee", "help", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.Engine().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, body, _ := f.do("GET", "/api/runs?flow=help", "", "")
	runs := decode[map[string][]RunSummary](t, body)["runs"]
	if len(runs) != 2 {
		t.Fatalf("runs: %+v", runs)
	}
	failed, sent := runs[0], runs[1]
	if !failed.Undelivered || failed.Status != "completed" || failed.Messages == nil || failed.Messages.Failed != 1 || failed.Messages.Total() != 1 {
		t.Errorf("the run whose message failed: %+v %+v", failed, failed.Messages)
	}
	if sent.Undelivered || sent.Messages == nil || sent.Messages.Sent != 1 || sent.EndedAt == nil || sent.Duration != "under 1s" {
		t.Errorf("the run whose message went out: %+v %+v", sent, sent.Messages)
	}
	_, page, _ := f.do("GET", "/runs", "", "")
	for _, want := range []string{
		`<span class="status undelivered" title="every message of this run failed">completed, nothing delivered</span>`,
		`<span class="ok">1 sent</span>`,
		`<th>Ended</th><th>Took</th>`,
		`<td>under 1s</td>`,
		`<select name="flow"><option value="">any</option><option >hello</option><option >help</option><option >promo</option></select>`,
		`<select name="contact"><option value="">any</option><option >dee</option></select>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the runs page lacks %s", want)
		}
	}
	_, page, _ = f.do("GET", "/runs?flow=help&contact=dee", "", "")
	if !strings.Contains(page, `<option selected>help</option>`) || !strings.Contains(page, `<option selected>dee</option>`) {
		t.Errorf("the filters do not keep their choice")
	}
	_, page, _ = f.do("GET", "/runs/2", "", "")
	if !strings.Contains(page, `id="undelivered"`) || !strings.Contains(page, `class="status undelivered" id="run-status"`) {
		t.Errorf("the run page does not say nothing was delivered")
	}
}
