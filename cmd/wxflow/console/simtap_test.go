package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/engine/scenario"
	"github.com/wxflow/wxflow/flows"
)

// pickerFlow asks with a message menu.
const pickerFlow = `name: picker
triggers:
  - keyword: [pick]
steps:
  - ask:
      menu:
        head: "Pick a fruit"
        items: [{ id: a, text: Apples }, { id: b, text: Bananas }]
    expect: choice
    choices: { a: [apples], b: [bananas] }
    save: vars.fruit
  - send: "You picked ${vars.fruit}"
`

// TestSimulatorTapOnlyWhatAMenuOffered: POST /api/sandbox's tap takes
// only the id of an item of a message menu sent to the contact, with that
// item's text (its text when none is given), as a follower can tap
// nothing else; the export of what was played then passes wxflow test.
// Before, {"action":"tap","key":"zz","text":"x"} was played, and the
// exported "tap: zz" failed wxflow test with "no message menu sent so far
// has an item with this id".
func TestSimulatorTapOnlyWhatAMenuOffered(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "picker.yaml"), []byte(pickerFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatal(err, set.Diags.Err())
	}
	ctx := context.Background()
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	sb, err := sandbox.New(ctx, sandbox.Config{Set: set, Start: start, DBPath: filepath.Join(dir, "db.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	c, err := New(Config{Engine: sb.Engine(), Sandbox: sb, Accounts: []string{sb.Account()}, Metrics: metrics.New(sb.Engine().Stats)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	f := &fixture{t: t, sb: sb, c: c, srv: srv}
	play := func(a SimAction) (int, string) {
		b, _ := json.Marshal(a)
		status, body, _ := f.do("POST", "/api/sandbox", "", string(b))
		return status, body
	}
	for _, a := range []SimAction{
		{Contact: "amy", Action: "tap", Key: "a", Text: "Apples"}, // no menu sent yet
		{Contact: "amy", Action: "tap", Key: "zz", Text: "x"},
	} {
		if status, body := play(a); status != http.StatusBadRequest || !strings.Contains(body, "no message menu sent to amy so far has an item with this id") {
			t.Errorf("tap %q before any menu: %d %s, want 400 saying why", a.Key, status, body)
		}
	}
	if status, body := play(SimAction{Contact: "amy", Action: "text", Text: "pick"}); status != http.StatusOK {
		t.Fatalf("pick: %d %s", status, body)
	}
	for _, c := range []struct {
		a    SimAction
		want string
	}{
		{SimAction{Contact: "amy", Action: "tap", Key: "zz", Text: "x"}, "no message menu sent to amy so far has an item with this id"},
		{SimAction{Contact: "bob", Action: "tap", Key: "a", Text: "Apples"}, "no message menu sent to bob so far"},
		{SimAction{Contact: "amy", Action: "tap", Key: "a", Text: "Pears"}, `cannot tap \"a\" with the text \"Pears\": the item's text is \"Apples\"`},
		{SimAction{Contact: "amy", Action: "tap"}, "tap needs the item's id (key)"},
	} {
		if status, body := play(c.a); status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%+v: %d %s, want 400 with %q", c.a, status, body, c.want)
		}
	}
	// The item's text by default.
	status, body := play(SimAction{Contact: "amy", Action: "tap", Key: "b"})
	if status != http.StatusOK {
		t.Fatalf("tap b: %d %s", status, body)
	}
	v := decode[SimView](t, body)
	if last := v.Chat[len(v.Chat)-1]; last.Message == nil || last.Message.Summary != "You picked b" {
		t.Errorf("after tap b: %+v", last)
	}
	if last := v.Chat[len(v.Chat)-2]; last.What != "Bananas" {
		t.Errorf("the tap shows as %q, want the item's text", last.What)
	}

	// What was played exports as a scenario that passes.
	src, err := scenario.Export(ctx, sb.Engine().Store(), scenario.ExportOptions{Account: sb.Account(), Contact: "amy", ZoneName: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src), "zz") || !strings.Contains(string(src), `tap: "b"`) && !strings.Contains(string(src), "tap: b") {
		t.Errorf("export:\n%s", src)
	}
	var report strings.Builder
	if sum := scenario.RunFile(ctx, scenario.Parse(filepath.Join(dir, "amy.test.yaml"), src), set, scenario.Options{}, &report); sum.Failed != 0 || sum.Passed != 1 {
		t.Errorf("the export fails wxflow test (%s):\n%s\n%s", sum, report.String(), src)
	}
}
