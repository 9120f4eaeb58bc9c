package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

const testToken = "console-test-token-0123456789"

var testFlows = map[string]string{
	"hello.yaml": `name: hello
triggers:
  - follow:
steps:
  - send: "Hi! <b>bold</b> & welcome"
  - ask: "What should we call you?"
    save: contact.fields.name
    timeout: 1h
  - tag: [named]
  - send: "Nice to meet you, ${contact.fields.name}!"
`,
	"promo.yaml": `name: promo
reentry: ignore
triggers: []
steps:
  - send: "Promo for ${vars.code}"
  - ask: "Want it?"
    timeout: 1d
vars: { code: text }
`,
	"help.yaml": `name: help
triggers:
  - menu: HELP
steps:
  - send: "How can we help?"
`,
	"menu.yaml": `menu:
  - name: Help
    key: HELP
`,
}

// fixture is a console over a sandbox, served on loopback.
type fixture struct {
	t   *testing.T
	sb  *sandbox.Sandbox
	c   *Console
	srv *httptest.Server
	// db is the sandbox's store file (newInboxFixture's).
	db string
}

func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	return newFixtureWith(t, token, nil)
}

// newFixtureWith is newFixture with a change to the console's Config.
func newFixtureWith(t *testing.T, token string, change func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, src := range testFlows {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		t.Fatal(set.Diags.Err())
	}
	ctx := context.Background()
	sb, err := sandbox.New(ctx, sandbox.Config{Set: set, Start: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), DBPath: filepath.Join(dir, "db.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg := Config{Engine: sb.Engine(), Sandbox: sb, Token: token, Accounts: []string{sb.Account()},
		Metrics: metrics.New(sb.Engine().Stats)}
	if change != nil {
		change(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &fixture{t: t, sb: sb, c: c, srv: srv}
}

// do sends a request with the bearer token when token is not "" and
// returns the status and body.
func (f *fixture) do(method, path, token, body string) (int, string, http.Header) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// everyGET is every page and API endpoint to read.
var everyGET = []string{
	"/flows", "/flows/hello", "/contacts", "/contacts/sandbox/amy", "/runs", "/runs/1", "/messages", "/simulator",
	"/metrics", "/api/flows", "/api/flows/hello", "/api/contacts", "/api/contacts/sandbox/amy", "/api/runs", "/api/runs/1",
	"/api/messages", "/api/sandbox?contact=amy", "/nodes", "/api/nodes",
}

func TestConsoleRefusesWithoutToken(t *testing.T) {
	clock := newTestClock()
	f := newFixtureWith(t, testToken, func(c *Config) { c.Now = clock.Now })
	if err := f.sb.Follow(context.Background(), "amy", ""); err != nil {
		t.Fatal(err)
	}
	for _, p := range everyGET {
		api := strings.HasPrefix(p, "/api/") || p == "/metrics"
		for _, tok := range []string{"", "wrong-token-wrong-token", testToken[:len(testToken)-1]} {
			status, body, h := f.do("GET", p, tok, "")
			clock.Advance(perAddrEvery) // wrong tokens are throttled
			switch {
			case api && (status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer")):
				t.Errorf("GET %s with token %q: %d %q, want 401 with WWW-Authenticate", p, tok, status, body)
			case !api && tok == "" && (status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login?next=")):
				t.Errorf("GET %s without token: %d to %q, want 303 to /login", p, status, h.Get("Location"))
			case !api && tok != "" && status != http.StatusSeeOther:
				t.Errorf("GET %s with a wrong token: %d, want 303 to /login", p, status)
			}
		}
		if status, body, _ := f.do("GET", p, testToken, ""); status != http.StatusOK {
			t.Errorf("GET %s with the token: %d %s", p, status, body)
		}
	}
	for _, p := range []string{"/api/flows/promo/start", "/api/sandbox", "/simulator", "/flows/promo/start"} {
		if status, _, _ := f.do("POST", p, "", `{"contact":"amy","action":"text","text":"hi"}`); status != http.StatusUnauthorized {
			t.Errorf("POST %s without token: %d, want 401", p, status)
		}
	}
	// Nothing happened: amy's one run is the welcome.
	runs, err := f.sb.Runs(context.Background(), "amy")
	if err != nil || len(runs) != 1 {
		t.Errorf("runs after refused requests: %d (%v), want 1", len(runs), err)
	}
}

func TestConsoleLogin(t *testing.T) {
	f := newFixture(t, testToken)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(form url.Values) *http.Response {
		resp, err := client.PostForm(f.srv.URL+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := post(url.Values{"token": {"nope-nope-nope-nope"}, "next": {"/runs"}}); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong token: %d, cookies %v; want 401 and none", resp.StatusCode, resp.Cookies())
	}
	resp := post(url.Values{"token": {testToken}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("login: %d to %q, want 303 to / (a foreign next is dropped)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || strings.Contains(ck.Value, testToken) || ck.Value == "" {
		t.Fatalf("login cookie %+v: want HttpOnly, SameSite=Strict, not the token", ck)
	}
	get, err := client.Get(f.srv.URL + "/runs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if get.StatusCode != http.StatusOK || strings.Contains(string(body), testToken) {
		t.Errorf("GET /runs with the cookie: %d (token shown: %v)", get.StatusCode, strings.Contains(string(body), testToken))
	}
	// A cross-site POST is refused even with the cookie.
	req, _ := http.NewRequest("POST", f.srv.URL+"/simulator", strings.NewReader("action=follow&contact=eve"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	r2, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", r2.StatusCode)
	}
	// Logging out (with the form's CSRF token) forgets the cookie.
	lo, err := client.PostForm(f.srv.URL+"/logout", url.Values{"csrf": {csrfOf(t, string(body))}})
	if err != nil {
		t.Fatal(err)
	}
	lo.Body.Close()
	if lo.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d, want 303", lo.StatusCode)
	}
	after, err := client.Get(f.srv.URL + "/runs")
	if err != nil {
		t.Fatal(err)
	}
	after.Body.Close()
	if after.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /runs after logout: %d, want 303 to /login", after.StatusCode)
	}
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

func TestConsoleStartFlowAPI(t *testing.T) {
	f := newFixture(t, testToken)
	ctx := context.Background()
	if err := f.sb.Follow(ctx, "amy", ""); err != nil {
		t.Fatal(err)
	}
	status, body, _ := f.do("POST", "/api/flows/promo/start", testToken, `{"contact":"amy","vars":{"code":"X1"}}`)
	if status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, body)
	}
	run := decode[RunSummary](t, body)
	if run.Flow != "promo" || run.Status != engine.RunWaitingReply || run.Account != "sandbox" {
		t.Errorf("started run %+v", run)
	}
	if run.Messages == nil || run.Messages.Total() != 2 || run.Undelivered {
		t.Errorf("the started run's messages: %s, want its 2 messages counted as the runs list does", body)
	}
	msgs, err := f.sb.Transcript(ctx, "amy", 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.Message.Text != "Want it?" || msgs[len(msgs)-2].Message.Text != "Promo for X1" {
		t.Errorf("messages: %q, %q", msgs[len(msgs)-2].Message.Text, last.Message.Text)
	}
	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/flows/promo/start", `{"contact":"amy"}`, http.StatusConflict, "reentry: ignore"},
		{"/api/flows/nope/start", `{"contact":"amy"}`, http.StatusNotFound, `no flow`},
		{"/api/flows/promo/start", `{"contact":"bob"}`, http.StatusNotFound, `no contact`},
		{"/api/flows/promo/start", `{}`, http.StatusBadRequest, "contact is required"},
		{"/api/flows/promo/start", ``, http.StatusBadRequest, "body is empty"},
		{"/api/flows/promo/start", `{"contact":"amy","colour":1}`, http.StatusBadRequest, "unknown field"},
		{"/api/flows/promo/start", `{"contact":"amy"} {}`, http.StatusBadRequest, "more than one"},
		{"/api/flows/promo/start", `[1]`, http.StatusBadRequest, "the body must be an object, not a JSON array"},
	} {
		status, body, _ := f.do("POST", c.path, testToken, c.body)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("POST %s %s: %d %s; want %d with %q", c.path, c.body, status, body, c.status, c.want)
		}
	}
}

func TestConsoleViews(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	play := func(a SimAction) SimView {
		b, _ := json.Marshal(a)
		status, body, _ := f.do("POST", "/api/sandbox", "", string(b))
		if status != http.StatusOK {
			t.Fatalf("%+v: %d %s", a, status, body)
		}
		return decode[SimView](t, body)
	}
	play(SimAction{Contact: "amy", Action: "follow", Scene: "s1"})
	v := play(SimAction{Contact: "amy", Action: "text", Text: "Amy"})
	play(SimAction{Contact: "amy", Action: "menu", Key: "HELP"})
	v = play(SimAction{Contact: "amy", Action: "advance", Duration: "2d"})
	play(SimAction{Contact: "bob", Action: "follow"})
	var lines []string
	for _, l := range v.Chat {
		if l.From == "contact" {
			lines = append(lines, "> "+l.What)
		} else {
			lines = append(lines, "< "+l.Message.Summary)
		}
	}
	want := []string{"> followed (QR scene s1)", "< Hi! <b>bold</b> & welcome", "< What should we call you?", "> Amy", "< Nice to meet you, Amy!", "> clicked menu \"Help\"", "< How can we help?"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("chat:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if s := v.State.Session; s == nil || s.Open || v.State.Fields["name"] != "Amy" || len(v.State.Tags) != 1 || v.State.Tags[0] != "named" {
		t.Errorf("state after 2 days: %+v session %+v", v.State, v.State.Session)
	}

	// Flows: bob's welcome waits on its ask, counted at that step.
	_, body, _ := f.do("GET", "/api/flows/hello", "", "")
	fv := decode[FlowView](t, body)
	if fv.Waiting != 1 || len(fv.Steps) != 1 || fv.Steps[0].Status != engine.RunWaitingReply || fv.Steps[0].Runs != 1 || !fv.Steps[0].Current {
		t.Errorf("hello's active steps: %d %+v", fv.Waiting, fv.Steps)
	}
	if !strings.Contains(fv.Graph, "flowchart") || len(fv.Triggers) != 1 || fv.Triggers[0] != "follow" {
		t.Errorf("hello: graph %q triggers %q", fv.Graph, fv.Triggers)
	}
	_, page, _ := f.do("GET", "/flows/hello", "", "")
	if !strings.Contains(page, "<svg") || !strings.Contains(page, `class="badge`) {
		t.Errorf("the flow page has no diagram with a badge")
	}

	// A run's timeline names its steps and carries its messages.
	_, body, _ = f.do("GET", "/api/runs/1", "", "")
	rv := decode[RunView](t, body)
	var whats []string
	for _, e := range rv.Timeline {
		whats = append(whats, e.What)
	}
	if rv.Status != engine.RunCompleted || len(rv.Timeline) < 5 || rv.Timeline[0].What != "started by follow (scene s1)" ||
		rv.Timeline[len(rv.Timeline)-1].What != "ended: completed" || len(rv.Timeline[1].Messages) != 1 || rv.Timeline[1].Messages[0].Status != "sent" {
		t.Errorf("run 1: %s timeline %q", rv.Status, whats)
	}

	// The outbox filter, and a failure with its reason in words.
	if err := f.sb.Engine().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sb.Engine().StartFlow(ctx, "sandbox", "amy", "help", nil); err != nil {
		t.Fatal(err)
	}
	_, body, _ = f.do("GET", "/api/messages?status=failed&reason=window_closed", "", "")
	failed := decode[map[string][]MessageView](t, body)["messages"]
	if len(failed) != 1 || failed[0].Why != "the reply window is closed" || failed[0].Contact != "amy" {
		t.Errorf("failed messages: %+v", failed)
	}
	_, body, _ = f.do("GET", "/api/messages?limit=2", "", "")
	if got := decode[map[string][]MessageView](t, body)["messages"]; len(got) != 2 || got[0].ID <= got[1].ID {
		t.Errorf("newest two messages: %+v", got)
	}
	for _, q := range []string{"/api/messages?status=lost", "/api/messages?reason=x", "/api/runs?status=x", "/api/messages?limit=0", "/api/runs?before=x"} {
		if status, body, _ := f.do("GET", q, "", ""); status != http.StatusBadRequest || !strings.Contains(body, "error") {
			t.Errorf("GET %s: %d %s, want 400", q, status, body)
		}
	}
	for _, q := range []string{"/api/runs/999", "/api/runs/x", "/api/contacts/sandbox/nobody", "/api/flows/nope"} {
		if status, _, _ := f.do("GET", q, "", ""); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", q, status)
		}
	}
	for _, a := range []string{`{"action":"dance"}`, `{"action":"advance","duration":"-1h"}`, `{"action":"scan"}`, `{"contact":"a b","action":"follow"}`} {
		if status, _, _ := f.do("POST", "/api/sandbox", "", a); status != http.StatusBadRequest {
			t.Errorf("POST /api/sandbox %s: %d, want 400", a, status)
		}
	}

	// Metrics count what happened.
	_, metrics, _ := f.do("GET", "/metrics", "", "")
	for _, line := range []string{
		`wxflow_events_total{type="follow"} 2`,
		`wxflow_events_total{type="menu"} 1`,
		`wxflow_runs_started_total{flow="hello"} 2`,
		`wxflow_runs_ended_total{status="completed"} 3`,
		`wxflow_messages_total{status="failed",reason="window_closed"} 1`,
		`wxflow_ingest_duration_seconds_count 4`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", line, metrics)
		}
	}

	// HTML escapes what flows send.
	_, sim, _ := f.do("GET", "/simulator?contact=amy", "", "")
	if strings.Contains(sim, "<b>bold</b>") || !strings.Contains(sim, "&lt;b&gt;bold&lt;/b&gt;") {
		t.Errorf("the simulator does not escape message text")
	}
}

// TestConsoleShowsAndReadsTextAsWritten: a contact's field shows on its
// page as the contact wrote it, escaped once (JSON's own \u003c escapes
// showed through), and the API says what is wrong with a body too large
// or of the wrong type, rather than that it is broken JSON.
func TestConsoleShowsAndReadsTextAsWritten(t *testing.T) {
	f := newFixture(t, testToken)
	ctx := context.Background()
	if err := f.sb.Follow(ctx, "amy", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.Say(ctx, "amy", `<b>O'Neil & 李</b>`); err != nil {
		t.Fatal(err)
	}
	status, body, _ := f.do("GET", "/contacts/sandbox/amy", testToken, "")
	if status != http.StatusOK || !strings.Contains(body, `&lt;b&gt;O&#39;Neil &amp; 李&lt;/b&gt;`) || strings.Contains(body, `\u003c`) {
		t.Errorf("the contact's page does not show the name as written:\n%s", body)
	}
	big := `{"account":"sandbox","contact":"amy","vars":{"code":"` + strings.Repeat("长", 30000) + `"}}`
	if status, body, _ := f.do("POST", "/api/flows/promo/start", testToken, big); status != http.StatusBadRequest || !strings.Contains(body, "larger than the API takes (64 KiB)") {
		t.Errorf("a body over 64 KiB: %d %s", status, body)
	}
	if status, body, _ := f.do("POST", "/api/flows/promo/start", testToken, `{"account":"sandbox","contact":7}`); status != http.StatusBadRequest || !strings.Contains(body, "contact: expected a text, got a JSON number") {
		t.Errorf("a number for a text: %d %s", status, body)
	}
}

// TestOpenConsoleAnswersOnlyLoopbackHosts: the console without an admin
// token (the sandbox alone on a loopback address) refuses a request that
// names another host, as a page reaching it by DNS rebinding does, to
// read as to change; a console with a token serves any host name.
func TestOpenConsoleAnswersOnlyLoopbackHosts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	get := func(f *fixture, host string) int {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/api/contacts", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	port := f.srv.URL[strings.LastIndex(f.srv.URL, ":")+1:]
	for host, want := range map[string]int{
		"127.0.0.1:" + port: http.StatusOK, "localhost:" + port: http.StatusOK, "[::1]:" + port: http.StatusOK,
		"evil.example:" + port: http.StatusForbidden, "evil.example": http.StatusForbidden, "192.168.1.9:" + port: http.StatusForbidden,
	} {
		if got := get(f, host); got != want {
			t.Errorf("Host %s: %d, want %d", host, got, want)
		}
	}
	tok := newFixture(t, "admin-token-0123456789abcdef")
	req, _ := http.NewRequest(http.MethodGet, tok.srv.URL+"/api/contacts", nil)
	req.Host = "console.example.com"
	req.Header.Set("Authorization", "Bearer admin-token-0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a console with a token under another name: %d", resp.StatusCode)
	}
}

// TestActionTextLimits: a comment, a close note or a text reply is 16
// KiB at most and a category 100 bytes, by the API as by the forms
// (which took 9 MiB comments that every later read carried); a form
// past the upload limit is refused as too large, not as a CSRF failure.
func TestActionTextLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	f.play(SimAction{Contact: "lim", Action: "text", Text: "hi"})
	big := strings.Repeat("x", 16<<10+1)
	for path, body := range map[string]string{
		"/api/conversations/sandbox/lim/comment": `{"text":"` + big + `"}`,
		"/api/conversations/sandbox/lim/close":   `{"note":"` + big + `"}`,
	} {
		if code, got, _ := f.do(http.MethodPost, path, "", body); code != http.StatusBadRequest || !strings.Contains(got, "16384 bytes at most") {
			t.Errorf("%s: %d %s", path, code, got)
		}
	}
	if code, got, _ := f.do(http.MethodPost, "/api/conversations/sandbox/lim/close", "", `{"category":"`+strings.Repeat("c", 101)+`"}`); code != http.StatusBadRequest || !strings.Contains(got, "a category is 100 bytes at most") {
		t.Errorf("a long category: %d %s", code, got)
	}
	if code, got, _ := f.doWith(http.MethodPost, "/inbox/sandbox/lim/comment", "", "application/x-www-form-urlencoded", "text="+strings.Repeat("x", 12<<20)); code != http.StatusRequestEntityTooLarge || !strings.Contains(got, "the form is larger than the console takes") {
		t.Errorf("a 12 MB form: %d %.200s", code, got)
	}
}

// TestBearerSchemeAnyCase: "bearer" and "BEARER" are the Bearer scheme
// (its name is case-insensitive); before, they were refused as a wrong
// token, and counted by the throttle.
func TestBearerSchemeAnyCase(t *testing.T) {
	t.Parallel()
	const tok = "admin-token-0123456789abcdef"
	f := newFixture(t, tok)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/me", nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", scheme, resp.StatusCode)
		}
	}
}

// TestImageReplyChecks: a reply's media_id must look like WeChat's and
// its image_url be an https URL with a host; before, "   " and
// "https://" were sent, each using up one of the contact's replies.
func TestImageReplyChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	f.play(SimAction{Contact: "img", Action: "text", Text: "hi"})
	for body, want := range map[string]string{
		`{"media_id":"   "}`:                           "media_id must be a WeChat media id",
		`{"media_id":"<x>\n"}`:                         "media_id must be a WeChat media id",
		`{"image_url":"https://"}`:                     "image_url must be an https URL with a host",
		`{"image_url":"https://exa mple.com/a b.png"}`: "image_url must be an https URL with a host",
		`{"image_url":"http://cdn.example.com/a.png"}`: "image_url must be an https URL with a host",
	} {
		if code, got, _ := f.do(http.MethodPost, "/api/conversations/sandbox/img/reply", "", body); code != http.StatusBadRequest || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s", body, code, got)
		}
	}
}

// TestClosedOnlyUnderAll: view=mine, teams or unassigned with
// status=closed is a 400 that says where closed conversations are (they
// have no assignee: the views were always empty).
func TestClosedOnlyUnderAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	if code, got, _ := f.do(http.MethodGet, "/api/conversations?view=unassigned&status=closed", "", ""); code != http.StatusBadRequest || !strings.Contains(got, "closed_by says who closed each") {
		t.Errorf("unassigned closed: %d %s", code, got)
	}
	if code, _, _ := f.do(http.MethodGet, "/api/conversations?view=all&status=closed", "", ""); code != http.StatusOK {
		t.Errorf("all closed: %d", code)
	}
}

// TestActionFieldsOfAnotherAction: a field another action reads is
// refused, naming it ({"operator":"amy"} on open was taken in silence);
// to: me with an operator names two and is refused.
func TestActionFieldsOfAnotherAction(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	f.play(SimAction{Contact: "fld", Action: "text", Text: "hi"})
	for path, tc := range map[string]struct{ body, want string }{
		"open":    {`{"operator":"amy"}`, "open takes no operator"},
		"close":   {`{"text":"x","to":"amy"}`, "close takes no text, to"},
		"comment": {`{"text":"x","flow":"welcome","note":"n"}`, "comment takes no note, flow"},
		"assign":  {`{"to":"me","operator":"bob"}`, "to: me assigns the operator who asks"},
	} {
		if code, got, _ := f.do(http.MethodPost, "/api/conversations/sandbox/fld/"+path, "", tc.body); code != http.StatusBadRequest || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: %d %s", path, tc.body, code, got)
		}
	}
}

// TestAPIBodyOfAnotherKind: a body that is not a JSON object ([], a
// text, a number) says so, not Go's "cannot unmarshal array into Go
// value of type console.ActRequest".
func TestAPIBodyOfAnotherKind(t *testing.T) {
	f := newFixture(t, testToken)
	for _, path := range []string{"/api/flows/hello/start", "/api/sandbox", "/api/conversations/sandbox/amy/comment"} {
		for body, kind := range map[string]string{`[]`: "array", `"hi"`: "string", `3`: "number", `true`: "bool"} {
			code, got, _ := f.do("POST", path, testToken, body)
			if code != http.StatusBadRequest || strings.Contains(got, "Go value") || strings.Contains(got, "console.") ||
				!strings.Contains(got, "the body must be an object, not a JSON "+kind) {
				t.Errorf("POST %s %s: %d %s", path, body, code, got)
			}
		}
	}
}
