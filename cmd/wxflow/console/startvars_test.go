package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// startedRun is the run a start form led to (its Location /runs/ID),
// as GET /api/runs/{id} gives it.
func startedRun(t *testing.T, f *fixture, loc string) RunView {
	t.Helper()
	id, ok := strings.CutPrefix(loc, "/runs/")
	if !ok {
		t.Fatalf("the start led to %q, not a run", loc)
	}
	code, body, _ := f.do("GET", "/api/runs/"+id, testToken, "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/runs/%s: %d %s", id, code, body)
	}
	return decode[RunView](t, body)
}

// wantLateVars fails unless the run of late got order, n and at as
// typed, each of its declared type, and sent them.
func wantLateVars(t *testing.T, rv RunView, order string, n float64) {
	t.Helper()
	if rv.Flow != "late" || rv.Vars["order"] != order || rv.Vars["n"] != n || rv.Vars["at"] != "2027-01-31T09:30:00+08:00" {
		t.Fatalf("the run's vars: %v (flow %s), want order %q, n %v and at 2027-01-31T09:30:00+08:00", rv.Vars, rv.Flow, order, n)
	}
	want := "Order " + order + " is late: " + strconv.FormatFloat(n, 'f', -1, 64) + " parcels, due 2027-01-31"
	if len(rv.Messages) != 1 || rv.Messages[0].Summary != want {
		t.Fatalf("the run sent %+v, want %q", rv.Messages, want)
	}
}

// TestConsoleFlowPageStartsWithVars: the flow page's form has a box per
// variable the flow declares (its type beside, a time's RFC 3339 form as
// placeholder) and starts the run with them, each converted to its type;
// a bad number and a name the flow does not declare are refused on the
// page, naming the variable, with what was typed kept, and start nothing.
// The form gave no variables: the run sent "Order  is late".
func TestConsoleFlowPageStartsWithVars(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Follow(context.Background(), "amy", ""); err != nil {
		t.Fatal(err)
	}
	code, body, _ := f.do("GET", "/api/flows/late", testToken, "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/flows/late: %d %s", code, body)
	}
	if got := decode[FlowView](t, body).Vars; !slices.Equal(got, []VarView{{"order", "text"}, {"n", "number"}, {"at", "time"}}) {
		t.Fatalf("the API's flow declares %v", got)
	}
	b := newBrowserish(f)
	b.login(testToken)
	_, page, _ := b.send("GET", "/flows/late", "", "")
	for _, want := range []string{`name="var.order"`, `name="var.n"`, `<input name="var.at" value="" placeholder="2027-01-31T09:30:00&#43;08:00" size="26">`,
		`<b>n</b> · number`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the flow page has no %s:\n%s", want, page)
		}
	}
	csrf := csrfOf(t, page)
	start := func(vars map[string]string) (int, http.Header) {
		t.Helper()
		v := url.Values{"csrf": {csrf}, "contact": {"amy"}}
		for k, x := range vars {
			v.Set("var."+k, x)
		}
		code, _, h := b.form("/flows/late/start", v)
		return code, h
	}
	code, h := start(map[string]string{"order": "017", "n": " 3.5", "at": "2027-01-31T09:30:00+08:00"})
	if code != http.StatusSeeOther {
		t.Fatalf("start: %d", code)
	}
	wantLateVars(t, startedRun(t, f, h.Get("Location")), "017", 3.5)

	runs := f.runCount("amy")
	for _, tc := range []struct {
		vars map[string]string
		want []string
	}{
		{map[string]string{"order": "A1", "n": "many"}, []string{`n: expects a number (3, 2.5, -1e3), not &#34;many&#34;`, `value="many"`, `value="A1"`}},
		{map[string]string{"order": "A1", "colour": "red"}, []string{`late declares no variable &#34;colour&#34; (it declares order: text, n: number, at: time)`}},
		{map[string]string{"at": "tomorrow"}, []string{`at: expects a time, written as RFC 3339 (2027-01-31T09:30:00&#43;08:00), not &#34;tomorrow&#34;`}},
	} {
		code, h := start(tc.vars)
		loc := h.Get("Location")
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/flows/late?") {
			t.Fatalf("start with %v: %d to %s, want the flow page again", tc.vars, code, loc)
		}
		_, page, _ := b.send("GET", loc, "", "")
		for _, want := range tc.want {
			if !strings.Contains(page, want) {
				t.Fatalf("start with %v: the page does not say %s:\n%s", tc.vars, want, page)
			}
		}
		if n := f.runCount("amy"); n != runs {
			t.Fatalf("start with %v started a run (%d runs, were %d)", tc.vars, n, runs)
		}
	}
}

// TestConversationStartsFlowWithVars: the conversation page's Start a
// flow says what each flow declares and takes its variables in a box,
// one name: value a line, converted and checked as the flow page's; a
// bad number, a name the flow does not declare and a box that is not a
// list of name: value are refused with the message, and start nothing.
func TestConversationStartsFlowWithVars(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Follow(context.Background(), "amy", ""); err != nil {
		t.Fatal(err)
	}
	b := newBrowserish(f)
	b.login(amyToken)
	_, page, _ := b.send("GET", "/inbox/sandbox/amy", "", "")
	for _, want := range []string{`<option value="late">late (vars order: text, n: number, at: time)</option>`, `<textarea name="vars"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the conversation page has no %s:\n%s", want, page)
		}
	}
	csrf := csrfOf(t, page)
	start := func(vars string) string {
		t.Helper()
		code, page, _ := b.act("/inbox/sandbox/amy/start", url.Values{"csrf": {csrf}, "flow": {"late"}, "vars": {vars}})
		if code != http.StatusOK {
			t.Fatalf("start with %q: %d %s", vars, code, page)
		}
		return page
	}
	page = start("order: 017\nn: 2\nat: 2027-01-31T09:30:00+08:00\n")
	if !strings.Contains(page, "Done: start.") {
		t.Fatalf("the start did not say it was done:\n%s", page)
	}
	runs, err := f.sb.Runs(context.Background(), "amy")
	if err != nil || len(runs) != 1 {
		t.Fatalf("amy's runs: %v %v", runs, err)
	}
	wantLateVars(t, startedRun(t, f, "/runs/"+strconv.FormatInt(runs[0].ID, 10)), "017", 2)

	for _, tc := range []struct{ vars, want string }{
		{"order: A1\nn: many", `n: expects a number (3, 2.5, -1e3), not &#34;many&#34;`},
		{"order: A1\ncolour: red", `late declares no variable &#34;colour&#34; (it declares order: text, n: number, at: time)`},
		{"A1", `Variables: write one name: value per line (order: A17), not &#34;A1&#34;`},
		{"order: A1\norder: A2", `order is given twice (lines 1 and 2)`},
	} {
		page := start(tc.vars)
		if !strings.Contains(page, tc.want) {
			t.Fatalf("start with %q: the page does not say %s:\n%s", tc.vars, tc.want, page)
		}
		if !strings.Contains(page, `<option value="late" selected>`) || !strings.Contains(page, ">"+strings.ReplaceAll(tc.vars, "\n", "&#10;")+"</textarea>") && !strings.Contains(page, ">"+tc.vars+"</textarea>") {
			t.Fatalf("start with %q: the form does not keep what was typed:\n%s", tc.vars, page)
		}
		if n := f.runCount("amy"); n != 1 {
			t.Fatalf("start with %q started a run (%d runs)", tc.vars, n)
		}
	}
}
