package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

const (
	amyToken = "amy-operator-token-0123456789"
	bobToken = "bob-operator-token-9876543210"
)

// inboxFlows hand a contact to the team support when they ask for a
// person, and answer "hi" otherwise.
var inboxFlows = map[string]string{
	"handoff.yaml": `name: handoff
triggers:
  - keyword: [person]
    interrupt: true
steps:
  - assign: { team: support, pick: round_robin }
    on_fail: nobody
  - send: "${conversation.assignee} will answer you here."
  - end
  - id: nobody
    assign: { team: support }
  - send: "Everyone is busy; we'll answer as soon as we can."
`,
	"bot.yaml": `name: bot
triggers:
  - keyword: [hi]
steps:
  - send: "Hello from the bot"
`,
	// late is started by an operator, with its variables.
	"late.yaml": `name: late
triggers: []
vars: { order: text, n: number, at: time }
steps:
  - send: "Order ${vars.order} is late: ${vars.n} parcels, due ${vars.at.Format('2006-01-02')}"
`,
}

// newInboxFixture is a console with a token over a sandbox whose people
// are amy and bob of the team support (always on shift).
func newInboxFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, src := range inboxFlows {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	people := engine.People{
		Operators: []engine.Operator{{Name: "amy", Display: "Amy Li", Teams: []string{"support"}}, {Name: "bob", Teams: []string{"support"}}},
		Teams:     map[string]*steps.Hours{"support": nil},
	}
	set, err := flows.LoadDir(dir, flows.Options{People: &flows.People{Operators: map[string][]string{"amy": {"support"}, "bob": {"support"}}, Teams: []string{"support"}}})
	if err != nil {
		t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		t.Fatal(set.Diags.Err())
	}
	ctx := context.Background()
	sb, err := sandbox.New(ctx, sandbox.Config{Set: set, Start: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC),
		DBPath: filepath.Join(dir, "db.sqlite"), People: people})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	c, err := New(Config{Engine: sb.Engine(), Sandbox: sb, Token: testToken, Accounts: []string{sb.Account()},
		Metrics: metrics.New(sb.Engine().Stats),
		Operator: func(tok string) (string, bool) {
			switch tok {
			case amyToken:
				return "amy", true
			case bobToken:
				return "bob", true
			}
			return "", false
		},
		OperatorToken: func(name string) (string, bool) {
			switch name {
			case "amy":
				return amyToken, true
			case "bob":
				return bobToken, true
			}
			return "", false
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, c)
	t.Cleanup(c.Close) // before the server's Close, which waits for the live streams
	return &fixture{t: t, sb: sb, c: c, srv: srv, db: filepath.Join(dir, "db.sqlite")}
}

// convList lists the conversations of a view as a token sees them.
func (f *fixture) convList(token, query string, status int) []ConversationView {
	f.t.Helper()
	code, body, _ := f.do("GET", "/api/conversations?"+query, token, "")
	if code != status {
		f.t.Fatalf("GET /api/conversations?%s: %d %s, want %d", query, code, body, status)
	}
	if code != http.StatusOK {
		return nil
	}
	return decode[struct {
		Conversations []ConversationView `json:"conversations"`
	}](f.t, body).Conversations
}

func contacts(list []ConversationView) []string {
	out := []string{}
	for _, c := range list {
		out = append(out, c.Contact)
	}
	return out
}

// TestInboxAPIActsAsTheTokensOperator: each operator's token acts as
// them, recorded as them in the transcript; the admin token as "api";
// nobody acts without a token, with a wrong one, or as someone else.
func TestInboxAPIActsAsTheTokensOperator(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil {
		t.Fatal(err)
	}
	const conv = "/api/conversations/sandbox/carol"

	// Without a token, or with a wrong one: nothing.
	for _, tok := range []string{"", "amy-operator-token-012345678x", amyToken + " "} {
		if code, body, _ := f.do("GET", "/api/conversations", strings.TrimSpace(tok), ""); tok != amyToken+" " && code != http.StatusUnauthorized {
			t.Fatalf("GET /api/conversations with token %q: %d %s, want 401", tok, code, body)
		}
		if code, body, _ := f.do("POST", conv+"/comment", tok, `{"text":"hi"}`); tok != amyToken+" " && code != http.StatusUnauthorized {
			t.Fatalf("a comment with token %q: %d %s, want 401", tok, code, body)
		}
	}

	// The flow answered last: the list says which.
	if got := f.convList(testToken, "view=all", 200); len(got) != 1 || got[0].Last == nil || !strings.HasPrefix(got[0].Last.From, "flow ") {
		t.Fatalf("the list's last message after the flow's answer: %+v (it named nobody)", got[0].Last)
	}
	// round_robin gave carol to amy: hers, not bob's; in both teams' view.
	if got := contacts(f.convList(amyToken, "view=mine", 200)); len(got) != 1 || got[0] != "carol" {
		t.Fatalf("amy's conversations: %v, want carol", got)
	}
	if got := contacts(f.convList(bobToken, "view=mine", 200)); len(got) != 0 {
		t.Fatalf("bob's conversations: %v, want none", got)
	}
	if got := contacts(f.convList(bobToken, "view=teams", 200)); len(got) != 1 {
		t.Fatalf("bob's teams' conversations: %v, want carol", got)
	}
	if got := f.convList(testToken, "view=all", 200); len(got) != 1 || got[0].Operator != "amy" || got[0].Team != "support" ||
		got[0].OperatorName != "Amy Li" || !got[0].Window.CanReply || !strings.Contains(got[0].Window.Says, "window closes in 48 h") {
		t.Fatalf("the admin's view of all: %+v", got)
	}
	f.convList(testToken, "view=mine", 400) // the admin has no conversations of their own
	f.convList(amyToken, "view=nobody", 400)

	// Each token acts as its operator.
	if code, body, _ := f.do("POST", conv+"/reply", bobToken, `{"text":"Bob here"}`); code != http.StatusCreated {
		t.Fatalf("bob's reply: %d %s", code, body)
	}
	if code, body, _ := f.do("POST", conv+"/comment", amyToken, `{"text":"checked the order"}`); code != http.StatusCreated {
		t.Fatalf("amy's comment: %d %s", code, body)
	}
	if got := f.convList(testToken, "view=all", 200); len(got) != 1 || got[0].Last == nil || got[0].Last.From != "operator bob" || got[0].Last.Text != "Bob here" {
		t.Fatalf("the list's last message after bob's reply: %+v (it named nobody)", got[0].Last)
	}
	if code, body, _ := f.do("POST", conv+"/reply", testToken, `{"text":"The admin here"}`); code != http.StatusCreated {
		t.Fatalf("the admin's reply: %d %s", code, body)
	}
	if got := f.convList(testToken, "view=all", 200); len(got) != 1 || got[0].Last == nil || got[0].Last.From != "api" {
		t.Fatalf("the list's last message after the admin's reply: %+v", got[0].Last)
	}
	// One conversation has it too, as the list does.
	if code, body, _ := f.do("GET", conv, testToken, ""); code != http.StatusOK {
		t.Fatal(code, body)
	} else if d := decode[ConversationDetail](t, body); d.Last == nil || d.Last.From != "api" || d.Last.Text != "The admin here" {
		t.Fatalf("the conversation's last message: %+v", d.Last)
	}
	// Nobody names who acts in the body: the token says it.
	if code, body, _ := f.do("POST", conv+"/comment", bobToken, `{"text":"as amy","by":"amy"}`); code != http.StatusBadRequest {
		t.Fatalf("a comment naming another operator: %d %s, want 400", code, body)
	}
	code, body, _ := f.do("POST", conv+"/assign", bobToken, `{"to":"me"}`)
	if code != http.StatusOK {
		t.Fatalf("bob takes carol: %d %s", code, body)
	}
	if a := decode[ActAnswer](t, body); a.Conversation == nil || a.Conversation.Operator != "bob" {
		t.Fatalf("bob took carol: %s", body)
	}
	if code, body, _ := f.do("POST", conv+"/assign", testToken, `{"to":"me"}`); code != http.StatusBadRequest {
		t.Fatalf("the admin assigning to me: %d %s, want 400", code, body)
	}
	if code, body, _ := f.do("POST", conv+"/assign", testToken, `{"operator":"zed"}`); code != http.StatusBadRequest || !strings.Contains(body, "amy, bob") {
		t.Fatalf("assigning an unknown operator: %d %s, want 400 naming the operators", code, body)
	}
	if code, body, _ := f.do("POST", conv+"/assign", testToken, `{"team":"nope"}`); code != http.StatusBadRequest || !strings.Contains(body, "(teams: ") {
		t.Fatalf("assigning an unknown team: %d %s, want 400 naming the teams", code, body)
	}
	if code, body, _ := f.do("POST", conv+"/close", bobToken, `{"note":"answered","category":"solved"}`); code != http.StatusOK {
		t.Fatalf("bob closes: %d %s", code, body)
	}
	// amy closes it too, a moment later: her note would be lost; she is
	// told who closed it, and nothing changes.
	if code, body, _ := f.do("POST", conv+"/close", amyToken, `{"note":"mine","category":"spam"}`); code != http.StatusConflict || !strings.Contains(body, "conversation already closed by operator bob") {
		t.Fatalf("amy closes the closed conversation: %d %s, want 409 naming bob", code, body)
	}

	code, body, _ = f.do("GET", conv, amyToken, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", conv, code, body)
	}
	d := decode[ConversationDetail](t, body)
	if d.Status != engine.ConvClosed || d.ClosedBy != "operator bob" || d.Note != "answered" || d.Category != "solved" {
		t.Fatalf("the conversation after bob closed it: %+v", d.ConversationView)
	}
	var lines []string
	for _, e := range d.Transcript {
		switch e.Kind {
		case "in":
			lines = append(lines, "in: "+e.Event.Says)
		case "out":
			lines = append(lines, "out ("+e.From+"): "+e.Message.Summary)
		default:
			lines = append(lines, e.Kind+" ("+e.By+"): "+e.Text)
		}
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"in: person",
		"out (flow handoff): amy will answer you here.",
		"out (operator bob): Bob here",
		"comment (operator amy): checked the order",
		"out (api): The admin here",
		"change (operator bob): assigned to bob",
		"change (operator bob): closed",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("the transcript should have %q:\n%s", want, got)
		}
	}
	if len(d.Runs) != 1 || d.Runs[0].Flow != "handoff" {
		t.Fatalf("the runs that touched carol: %+v", d.Runs)
	}

	// The away switch is an operator's own.
	code, body, _ = f.do("PUT", "/api/me/away", amyToken, `{"away":true}`)
	if code != http.StatusOK || !decode[MeView](t, body).Away {
		t.Fatalf("amy goes away: %d %s", code, body)
	}
	if away, _ := f.sb.Engine().Away(ctx); !away["amy"] || away["bob"] {
		t.Fatalf("away: %v, want amy only", away)
	}
	if code, body, _ := f.do("PUT", "/api/me/away", testToken, `{"away":true}`); code != http.StatusBadRequest {
		t.Fatalf("the admin's away switch: %d %s, want 400", code, body)
	}
	// amy is away: the next handoff goes to bob.
	if err := f.sb.Say(ctx, "dave", "person"); err != nil {
		t.Fatal(err)
	}
	if got := contacts(f.convList(bobToken, "view=mine", 200)); len(got) != 1 || got[0] != "dave" {
		t.Fatalf("bob's conversations with amy away: %v, want dave", got)
	}
}

// TestInboxAPIRefusedReply: a reply after the window is refused before
// it reaches WeChat, 409 with the reason, and kept as failed.
func TestInboxAPIRefusedReply(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.Advance(ctx, 49*time.Hour); err != nil {
		t.Fatal(err)
	}
	const conv = "/api/conversations/sandbox/carol"
	code, body, _ := f.do("GET", conv, amyToken, "")
	if code != 200 {
		t.Fatal(code, body)
	}
	if w := decode[ConversationDetail](t, body).Window; w.CanReply || w.Reason != "window_closed" || !strings.Contains(w.Says, "the reply window is closed") {
		t.Fatalf("the window after 49 hours: %+v", w)
	}
	code, body, _ = f.do("POST", conv+"/reply", amyToken, `{"text":"Sorry for the wait"}`)
	if code != http.StatusConflict {
		t.Fatalf("a reply after the window: %d %s, want 409", code, body)
	}
	a := decode[ActAnswer](t, body)
	if a.Reason != "window_closed" || !strings.Contains(a.Error, "window is closed") || a.Message == nil || a.Message.Status != engine.OutboxFailed {
		t.Fatalf("the refusal: %s", body)
	}
	_, body, _ = f.do("GET", conv, amyToken, "")
	last := decode[ConversationDetail](t, body).Transcript
	if e := last[len(last)-1]; e.Kind != "out" || e.Message.Status != engine.OutboxFailed || e.Message.Reason != "window_closed" || e.From != "operator amy" {
		t.Fatalf("the transcript's last entry: %+v", e)
	}
	if n := len(f.sb.Channel().Delivered()); n != 1 {
		t.Fatalf("%d messages reached the channel, want the handoff's 1", n)
	}
}

// TestInboxAPIImageReply: an image uploaded as multipart is sent as an
// image, and one that is not an image is refused.
func TestInboxAPIImageReply(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Say(context.Background(), "carol", "person"); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var pic bytes.Buffer
	png.Encode(&pic, img)
	send := func(name string, data []byte, fields ...string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if name != "" {
			fw, _ := mw.CreateFormFile("image", name)
			fw.Write(data)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			mw.WriteField(fields[i], fields[i+1])
		}
		mw.Close()
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/conversations/sandbox/carol/reply", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+amyToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	code, body := send("dot.png", pic.Bytes())
	if code != http.StatusCreated {
		t.Fatalf("an image reply: %d %s", code, body)
	}
	a := decode[ActAnswer](t, body)
	if a.Message == nil || a.Message.Type != "image" || a.Message.Message.Media == nil || !strings.HasSuffix(a.Message.Message.Media.Upload, ".png") || a.Message.Message.Media.Path != "" {
		t.Fatalf("the image reply: %s", body)
	}
	if code, body, _ := f.do("GET", "/messages/"+itoa(a.Message.ID)+"/media", amyToken, ""); code != 200 || !strings.HasPrefix(body, "\x89PNG") {
		t.Fatalf("the console serves the uploaded image: %d", code)
	}
	if code, body := send("notes.png", []byte("just some text")); code != http.StatusBadRequest || !strings.Contains(body, "not an image") {
		t.Fatalf("a text file as an image: %d %s, want 400", code, body)
	}
	// A multipart reply's fields are read and checked as the JSON body's:
	// before, all but text were dropped in silence (image_url unsent).
	for _, c := range []struct {
		name   string
		fields []string
		want   string
	}{
		{"text and image_url", []string{"text", "hi", "image_url", "https://example.com/a.png"}, "not both"},
		{"a field of close", []string{"text", "hi", "category", "zzz"}, `the file image, not \"category`},
		{"an unknown field", []string{"text", "hi", "bogus", "1"}, `the file image, not \"bogus`},
		{"text twice", []string{"text", "a", "text", "b"}, "given 2 times"},
	} {
		if code, body := send("", nil, c.fields...); code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", c.name, code, body, c.want)
		}
	}
	if code, body := send("", nil, "media_id", "MEDIA1"); code != http.StatusCreated || !strings.Contains(body, "MEDIA1") {
		t.Errorf("a media_id as a multipart field: %d %s", code, body)
	}
	// An image over WeChat's 10 MB says its own size, not the limit twice.
	big := append(append([]byte{}, pic.Bytes()...), make([]byte, 10<<20+512<<10)...)
	if code, body := send("big.png", big); code != http.StatusBadRequest || !strings.Contains(body, "the image is 10.5 MB") {
		t.Errorf("a 10.5 MB image: %d %s", code, body)
	}
	// A request over what the console reads at all is 413.
	if code, body := send("huge.png", make([]byte, 12<<20)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 12 MB request: %d %s, want 413", code, body)
	}
}

// TestInboxPagesOperatorLogin: an operator logs in with their own
// token; the header names them; what they do in the page is recorded as
// them; a refused reply shows the reason in the page; no page and no
// answer holds a token.
func TestInboxPagesOperatorLogin(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil {
		t.Fatal(err)
	}
	amy := newBrowserish(f)
	amy.login(amyToken)
	code, page, _ := amy.send("GET", "/inbox", "", "")
	if code != 200 || !strings.Contains(page, `id="me" data-operator="amy"`) || !strings.Contains(page, "Amy Li") || !strings.Contains(page, `data-contact="carol"`) {
		t.Fatalf("amy's inbox: %d\n%s", code, page)
	}
	csrf := amy.csrf("/inbox/sandbox/carol")
	code, page, _ = amy.act("/inbox/sandbox/carol/comment", url.Values{"csrf": {csrf}, "text": {"VIP customer"}})
	if code != 200 || !strings.Contains(page, "VIP customer") || !strings.Contains(page, "Done: comment") {
		t.Fatalf("amy's comment: %d\n%s", code, page)
	}
	code, page, _ = amy.act("/inbox/sandbox/carol/reply", url.Values{"csrf": {csrf}, "text": {"Hello Carol"}})
	if code != 200 || !strings.Contains(page, "Hello Carol") {
		t.Fatalf("amy's reply: %d\n%s", code, page)
	}
	if !strings.Contains(page, "window closes in 48 h · 3 replies left") {
		t.Fatalf("the reply box should say the window and the replies left:\n%s", page)
	}
	// The form's CSRF token is the session's.
	if code, _, _ := amy.act("/inbox/sandbox/carol/comment", url.Values{"csrf": {"nope"}, "text": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("a comment without the CSRF token: %d, want 403", code)
	}
	if err := f.sb.Advance(ctx, 49*time.Hour); err != nil {
		t.Fatal(err)
	}
	code, page, _ = amy.act("/inbox/sandbox/carol/reply", url.Values{"csrf": {csrf}, "text": {"Too late"}})
	if code != 200 || !strings.Contains(page, `id="act-error"`) || !strings.Contains(page, "the reply window is closed") || !strings.Contains(page, "window_closed") {
		t.Fatalf("a refused reply should show the reason in the page: %d\n%s", code, page)
	}
	if !strings.Contains(page, `data-can-reply="0"`) || !strings.Contains(page, "<textarea name=\"text\" rows=\"3\" placeholder=\"no reply can go") {
		t.Fatalf("the reply box should be disabled with the reason:\n%s", page)
	}
	_, body, _ := f.do("GET", "/api/conversations/sandbox/carol", testToken, "")
	d := decode[ConversationDetail](t, body)
	var by []string
	for _, e := range d.Transcript {
		if e.From != "" || e.By != "" {
			by = append(by, e.From+e.By)
		}
	}
	byAmy := 0
	for _, b := range by {
		if b == "operator amy" {
			byAmy++
		}
	}
	if byAmy < 3 {
		t.Fatalf("amy's comment and replies should be recorded as her: %v", by)
	}

	// Nothing secret anywhere.
	bob := newBrowserish(f)
	bob.login(bobToken)
	for _, p := range []string{"/inbox", "/inbox?view=teams", "/inbox/sandbox/carol", "/simulator?contact=carol", "/login"} {
		for _, who := range []*browserish{amy, bob} {
			_, page, _ := who.send("GET", p, "", "")
			noSecrets(t, p, page)
		}
	}
	for _, p := range []string{"/api/conversations", "/api/conversations/sandbox/carol", "/api/me"} {
		for _, tok := range []string{testToken, amyToken, bobToken} {
			_, body, _ := f.do("GET", p, tok, "")
			noSecrets(t, p, body)
		}
	}

	// Logging out ends amy's session.
	amy.form("/logout", url.Values{"csrf": {amy.csrf("/inbox")}})
	if code, _, h := amy.send("GET", "/inbox", "", ""); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("/inbox after logging out: %d %s", code, h.Get("Location"))
	}
}

// act posts a form and follows its redirect.
func (b *browserish) act(path string, v url.Values) (int, string, http.Header) {
	b.t.Helper()
	code, body, h := b.form(path, v)
	if code != http.StatusSeeOther {
		return code, body, h
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.send("GET", loc.RequestURI(), "", "")
}

// noSecrets fails when s holds a token.
func noSecrets(t *testing.T, where, s string) {
	t.Helper()
	for _, secret := range []string{testToken, amyToken, bobToken} {
		if strings.Contains(s, secret) {
			t.Fatalf("%s shows a token", where)
		}
	}
}

// TestInboxLive: the live stream says "changed" after a commit that
// changes a contact, and ends when the console closes.
func TestInboxLive(t *testing.T) {
	f := newInboxFixture(t)
	amy := newBrowserish(f)
	amy.login(amyToken)
	req, _ := http.NewRequest("GET", f.srv.URL+"/inbox/live", nil)
	resp, err := amy.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("/inbox/live: %d %s", resp.StatusCode, ct)
	}
	rd := bufio.NewReader(resp.Body)
	line := func() string {
		s, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("the live stream: %v", err)
		}
		return strings.TrimSpace(s)
	}
	for line() != ": live" {
	}
	if err := f.sb.Say(context.Background(), "carol", "hi"); err != nil {
		t.Fatal(err)
	}
	if l := line(); l != "" && l != "event: changed" {
		for l != "event: changed" {
			l = line()
		}
	}
	f.c.Close()
	for {
		if _, err := rd.ReadString('\n'); err != nil {
			break // the stream ended
		}
	}
}

// TestInboxLiveEndsAtLogout: a live stream opened with a login ends when
// the login does (docs/console.md: "Log out ends it at once"); it kept
// sending changes to a logged-out browser.
func TestInboxLiveEndsAtLogout(t *testing.T) {
	f := newInboxFixture(t)
	amy := newBrowserish(f)
	amy.login(amyToken)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/inbox/live", nil)
	resp, err := amy.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("the live stream: %v", err)
		}
		if strings.TrimSpace(l) == ": live" {
			break
		}
	}
	amy.form("/logout", url.Values{"csrf": {amy.csrf("/inbox")}})
	for {
		if _, err := rd.ReadString('\n'); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the live stream went on after its login ended")
			}
			break // the server ended it
		}
	}
}

// TestInboxLiveSince: a page carries the count of changes it was read
// after (data-since); its live stream says "changed" at once when a
// change came between the page and the stream (which it would not hear
// of otherwise: the page showed a reply pending that was sent meanwhile),
// and when the page was read by another process.
func TestInboxLiveSince(t *testing.T) {
	f := newInboxFixture(t)
	amy := newBrowserish(f)
	amy.login(amyToken)
	sinceOf := func() string {
		t.Helper()
		status, body, _ := amy.send("GET", "/inbox", "", "")
		m := regexp.MustCompile(`<body [^>]*data-since="([^"]+)"`).FindStringSubmatch(body)
		if status != http.StatusOK || m == nil {
			t.Fatalf("/inbox: %d, no data-since in %.300s", status, body)
		}
		return m[1]
	}
	// open opens the stream with since, for 5 s at most.
	open := func(since string) *bufio.Reader {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/inbox/live?since="+url.QueryEscape(since), nil)
		resp, err := amy.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return bufio.NewReader(resp.Body)
	}
	// firstEvent opens the stream with since and returns its first event
	// line, or "" when none came within 5 s.
	firstEvent := func(since string) string {
		t.Helper()
		rd := open(since)
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				return ""
			}
			if strings.HasPrefix(l, "event: ") {
				return strings.TrimSpace(l)
			}
		}
	}

	since := sinceOf()
	if err := f.sb.Say(context.Background(), "carol", "hi"); err != nil {
		t.Fatal(err)
	}
	if got := firstEvent(since); got != "event: changed" {
		t.Errorf("a stream opened after a change the page missed: first event %q, want it at once", got)
	}
	tag, _, _ := strings.Cut(since, ".")
	if got := firstEvent("other" + tag + ".0"); got != "event: changed" {
		t.Errorf("a stream of a page another process read: first event %q, want it at once", got)
	}

	// A page read after the change: the stream waits for the next one.
	rd := open(sinceOf())
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("the live stream: %v", err)
		}
		if strings.HasPrefix(l, "event: ") {
			t.Fatalf("a stream of an up-to-date page said %q before any change", strings.TrimSpace(l))
		}
		if strings.TrimSpace(l) == ": live" {
			break
		}
	}
	// The preamble and any event at once are flushed together: what
	// follows ": live" is its blank line, then the next change's event.
	if l, _ := rd.ReadString('\n'); strings.TrimSpace(l) != "" || rd.Buffered() > 0 {
		t.Fatalf("after the preamble: %q and %d bytes more, want its blank line only", l, rd.Buffered())
	}
	if err := f.sb.Say(context.Background(), "carol", "again"); err != nil {
		t.Fatal(err)
	}
	if l, err := rd.ReadString('\n'); err != nil || strings.TrimSpace(l) != "event: changed" {
		t.Fatalf("after a change: %q (%v), want its event", l, err)
	}
}

// FuzzParseCursor: a cursor reads back as written, and no input panics.
func FuzzParseCursor(f *testing.F) {
	f.Add(formatCursor(engine.ConvCursor{Seen: time.Date(2026, 11, 2, 10, 0, 0, 5, time.UTC), Account: "main", ID: "o6_bmjr"}))
	f.Add("")
	f.Add("MTIzCmEKYg")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		back, err := parseCursor(formatCursor(c))
		if err != nil || !back.Seen.Equal(c.Seen) || back.Account != c.Account || back.ID != c.ID {
			t.Fatalf("%q reads as %+v, and back as %+v (%v)", s, c, back, err)
		}
	})
}

// TestInboxOperatorStartsFromTheFlowPage: an operator who starts a flow
// from the flow page (or POST /api/flows/{name}/start with their token)
// is recorded as the operator, as from the conversation page: the run
// said "started through the admin API or the console", the transcript
// had no word of it, and the log said the admin API, while docs/
// console.md says everything an operator does is recorded under their
// name. The admin's start stays the API's.
func TestInboxOperatorStartsFromTheFlowPage(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Say(context.Background(), "carol", "hi"); err != nil {
		t.Fatal(err)
	}
	firstStep := func(id int64) string {
		t.Helper()
		code, body, _ := f.do("GET", fmt.Sprintf("/api/runs/%d", id), testToken, "")
		if code != http.StatusOK {
			t.Fatalf("GET run %d: %d %s", id, code, body)
		}
		rv := decode[RunView](t, body)
		if len(rv.Timeline) == 0 {
			t.Fatalf("run %d has no timeline", id)
		}
		return rv.Timeline[0].What
	}
	body := `{"contact": "carol", "vars": {"order": "A1", "n": 2, "at": "2027-01-31T09:30:00+08:00"}}`
	code, got, _ := f.do("POST", "/api/flows/late/start", amyToken, body)
	if code != http.StatusCreated {
		t.Fatalf("amy starts late: %d %s", code, got)
	}
	if what := firstStep(decode[RunSummary](t, got).ID); what != "started by operator amy" {
		t.Errorf("amy's start through the API: the run says %q", what)
	}
	// From the flow page's form.
	b := newBrowserish(f)
	b.login(bobToken)
	code, _, h := b.form("/flows/late/start", url.Values{"contact": {"carol"}, "var.order": {"B2"}, "var.n": {"1"},
		"var.at": {"2027-01-31T09:30:00+08:00"}, "csrf": {b.csrf("/flows/late")}})
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/runs/") {
		t.Fatalf("bob's start from the flow page: %d to %q", code, h.Get("Location"))
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(h.Get("Location"), "/runs/"), 10, 64)
	if what := firstStep(id); what != "started by operator bob" {
		t.Errorf("bob's start from the flow page: the run says %q", what)
	}
	code, got, _ = f.do("GET", "/api/conversations/sandbox/carol", testToken, "")
	if code != http.StatusOK {
		t.Fatalf("the conversation: %d %s", code, got)
	}
	var notes []string
	for _, e := range decode[ConversationDetail](t, got).Transcript {
		if e.Kind == "comment" {
			notes = append(notes, e.By+": "+e.Text)
		}
	}
	if want := []string{"operator amy: started flow late", "operator bob: started flow late"}; !slices.Equal(notes, want) {
		t.Errorf("the transcript's notes: %q, want %q", notes, want)
	}
	// The admin's start is the API's.
	code, got, _ = f.do("POST", "/api/flows/late/start", testToken, body)
	if code != http.StatusCreated {
		t.Fatalf("the admin starts late: %d %s", code, got)
	}
	if what := firstStep(decode[RunSummary](t, got).ID); what != "started through the admin API or the console" {
		t.Errorf("the admin's start: the run says %q", what)
	}
}

// TestInboxFormKeepsWhatWasTyped: a conversation form refused before the
// action was recorded (a reply with both a text and an image, a comment
// or a closing category too long) shows its error with what was typed
// still in the form; it came back empty, the text lost.
func TestInboxFormKeepsWhatWasTyped(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Say(context.Background(), "carol", "person"); err != nil {
		t.Fatal(err)
	}
	b := newBrowserish(f)
	b.login(amyToken)
	const page = "/inbox/sandbox/carol"
	// A reply with a text and an image.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", b.csrf(page))
	mw.WriteField("text", "Your parcel <ships> today")
	fw, _ := mw.CreateFormFile("image", "a.png")
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	png.Encode(fw, img)
	mw.Close()
	code, _, h := b.send("POST", page+"/reply", mw.FormDataContentType(), buf.String())
	if code != http.StatusSeeOther {
		t.Fatalf("the reply form: %d", code)
	}
	_, body, _ := b.send("GET", h.Get("Location"), "", "")
	if !strings.Contains(body, "not both") || !strings.Contains(body, `aria-label="reply" >Your parcel &lt;ships&gt; today</textarea>`) {
		t.Errorf("the refused reply's page does not keep the text:\n%s", body)
	}
	// A category too long.
	long := strings.Repeat("c", 101)
	code, _, h = b.form(page+"/close", url.Values{"csrf": {b.csrf(page)}, "note": {"sorted"}, "category": {long}})
	if code != http.StatusSeeOther {
		t.Fatalf("the close form: %d", code)
	}
	_, body, _ = b.send("GET", h.Get("Location"), "", "")
	if !strings.Contains(body, `name="note" size="18" value="sorted"`) || !strings.Contains(body, `value="`+long+`"`) {
		t.Errorf("the refused close's page does not keep the note and category:\n%s", body)
	}
	// What one form kept is not put in another: the comment box is empty.
	if strings.Contains(body, `required>sorted`) {
		t.Error("the comment box shows the close's note")
	}
	// A long note (500 Chinese characters, twice escaped in the URL: 7.5
	// KB) is kept without a redirect too long for nginx's 8 KiB request
	// line (a 414 lost it): the page comes with the response.
	note := strings.Repeat("已处理", 167)
	code, body, h = b.form(page+"/close", url.Values{"csrf": {b.csrf(page)}, "note": {note}, "category": {long}})
	if code != http.StatusOK || h.Get("Location") != "" {
		t.Fatalf("the close form with a long note: %d, Location %d bytes; want the page itself", code, len(h.Get("Location")))
	}
	if !strings.Contains(body, `name="note" size="18" value="`+note+`"`) || !strings.Contains(body, "category") {
		t.Errorf("the refused close's page does not keep the long note:\n%s", body)
	}
}

// TestWindowOpenWithNoRepliesLeft: with the 5 replies used, the window
// stays open until the last interaction + 48 h; the pages and the API
// say so (window_open, closes_at) rather than "closed".
func TestWindowOpenWithNoRepliesLeft(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil { // the flow's answer is the 1st reply
		t.Fatal(err)
	}
	const conv = "/api/conversations/sandbox/carol"
	for i := 2; i <= 5; i++ {
		if code, body, _ := f.do("POST", conv+"/reply", amyToken, fmt.Sprintf(`{"text":"r%d"}`, i)); code != http.StatusCreated {
			t.Fatalf("reply %d: %d %s", i, code, body)
		}
	}
	closes := time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)
	code, body, _ := f.do("GET", conv, amyToken, "")
	if code != 200 {
		t.Fatal(code, body)
	}
	w := decode[ConversationDetail](t, body).Window
	if w.Open || w.CanReply || !w.WindowOpen || w.ClosesAt == nil || !w.ClosesAt.Equal(closes) || w.QuotaLeft != 0 || w.Reason != "quota_exhausted" {
		t.Fatalf("the conversation's window with no replies left: %+v", w)
	}
	code, body, _ = f.do("GET", "/api/contacts/sandbox/carol", testToken, "")
	if code != 200 {
		t.Fatal(code, body)
	}
	s := decode[ContactView](t, body).Session
	if s == nil || s.Open || !s.WindowOpen || s.ClosesAt == nil || !s.ClosesAt.Equal(closes) {
		t.Fatalf("the contact's session with no replies left: %+v", s)
	}
	re := regexp.MustCompile(`class="window">(.*?)</dd>`)
	for _, page := range []string{"/inbox/sandbox/carol", "/contacts/sandbox/carol"} {
		code, body, _ := f.do("GET", page, testToken, "")
		if code != 200 {
			t.Fatal(page, code, body)
		}
		m := re.FindStringSubmatch(body)
		if m == nil || strings.Contains(m[1], "closed") || !strings.Contains(m[1], "open</span> until") || !strings.Contains(m[1], "no replies left") {
			t.Fatalf("%s: the window row says %q, want open until … no replies left", page, m)
		}
	}
	// After the 48 h, it is closed.
	if err := f.sb.Advance(ctx, 49*time.Hour); err != nil {
		t.Fatal(err)
	}
	_, body, _ = f.do("GET", conv, amyToken, "")
	if w := decode[ConversationDetail](t, body).Window; w.WindowOpen || w.ClosesAt != nil {
		t.Fatalf("the window after 49 h: %+v", w)
	}
}

// TestInboxRowSaysWhyInWords: a row whose contact cannot be answered
// says why in words, as the rest of the console does, not with the
// reason's code alone.
func TestInboxRowSaysWhyInWords(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.Advance(ctx, 49*time.Hour); err != nil {
		t.Fatal(err)
	}
	code, body, _ := f.do("GET", "/inbox?view=all&status=closed", testToken, "") // closed by itself after 48 h
	if code != 200 {
		t.Fatal(code, body)
	}
	m := regexp.MustCompile(`(?s)<td class="window bad">(.*?)</td>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no window cell in the inbox:\n%s", body)
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], "")
	if !strings.Contains(text, "the reply window is closed") || strings.Contains(text, "window_closed") {
		t.Fatalf("the row's window says %q, want it in words", text)
	}
}

// TestInboxLastMessageSaysItFailed: an operator's reply that failed and
// is the conversation's newest message shows as failed in the list (API
// and page), with why, not as if it had gone.
func TestInboxLastMessageSaysItFailed(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil { // 4 replies left
		t.Fatal(err)
	}
	const conv = "/api/conversations/sandbox/carol"
	for i := 1; i <= 10; i++ {
		code, body, _ := f.do("POST", conv+"/reply", amyToken, fmt.Sprintf(`{"text":"r%d"}`, i))
		if want := map[bool]int{true: http.StatusCreated, false: http.StatusConflict}[i <= 4]; code != want {
			t.Fatalf("reply r%d: %d %s, want %d", i, code, body, want)
		}
	}
	list := f.convList(testToken, "view=all", 200)
	if len(list) != 1 || list[0].Last == nil || list[0].Last.Text != "r10" || list[0].Last.Status != engine.OutboxFailed ||
		list[0].Last.Reason != "quota_exhausted" || list[0].Last.Why == "" {
		t.Fatalf("the list's last message: %+v, want r10 failed with quota_exhausted", list[0].Last)
	}
	code, body, _ := f.do("GET", "/inbox?view=all", testToken, "")
	if code != 200 {
		t.Fatal(code, body)
	}
	m := regexp.MustCompile(`(?s)<td class="last">(.*?)</td>`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(m[1], "r10") || !strings.Contains(m[1], "failed") || !strings.Contains(m[1], "used up") {
		t.Fatalf("the row's last message: %q, want r10 marked failed with why", m)
	}
	// A contact's message has no status.
	if err := f.sb.Advance(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.Say(ctx, "carol", "thanks"); err != nil {
		t.Fatal(err)
	}
	if list := f.convList(testToken, "view=all", 200); list[0].Last == nil || list[0].Last.Text != "thanks" || list[0].Last.Status != "" {
		t.Fatalf("the list's last message after the contact's: %+v", list[0].Last)
	}
}

// TestCloseTwiceSaysWhenInWords: the refusal of a second close says how
// long ago the first was in the console's format ("1 h 2 min ago"), not
// Go's ("1h2m3s").
func TestCloseTwiceSaysWhenInWords(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil {
		t.Fatal(err)
	}
	const conv = "/api/conversations/sandbox/carol"
	if code, body, _ := f.do("POST", conv+"/close", bobToken, `{"note":"answered"}`); code != http.StatusOK {
		t.Fatalf("bob closes: %d %s", code, body)
	}
	if code, body, _ := f.do("POST", conv+"/close", amyToken, `{}`); code != http.StatusConflict || !strings.Contains(body, "closed by operator bob 0 s ago") {
		t.Fatalf("amy closes at once: %d %s, want 409 '... 0 s ago'", code, body)
	}
	if err := f.sb.Advance(ctx, time.Hour+2*time.Minute+3*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := f.do("POST", conv+"/close", amyToken, `{}`); code != http.StatusConflict || !strings.Contains(body, "closed by operator bob 1 h 2 min ago") {
		t.Fatalf("amy closes an hour later: %d %s, want 409 '... 1 h 2 min ago'", code, body)
	}
}

// TestAPIWrongMethod: a method an API path does not take is 405 with the
// methods it takes in Allow; a path that does not exist is still 404.
func TestAPIWrongMethod(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Say(context.Background(), "p1", "hi"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/api/conversations/sandbox/p1":       "GET, HEAD",
		"/api/conversations/sandbox/p1/close": "POST",
		"/api/flows":                          "GET, HEAD",
	} {
		code, body, h := f.do("DELETE", path, testToken, "")
		if code != http.StatusMethodNotAllowed || h.Get("Allow") != want || !strings.Contains(body, "not DELETE") {
			t.Fatalf("DELETE %s: %d Allow %q %s, want 405 Allow %q", path, code, h.Get("Allow"), body, want)
		}
	}
	if code, body, h := f.do("GET", "/api/nothing/here", testToken, ""); code != http.StatusNotFound || h.Get("Allow") != "" {
		t.Fatalf("GET /api/nothing/here: %d %s, want 404", code, body)
	}
	if code, body, _ := f.do("DELETE", "/api/conversations/sandbox/p1", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("DELETE without a token: %d %s, want 401", code, body)
	}
}

// TestInboxOlderKeepsLimit: the inbox's Older link keeps the page's
// limit, as the other lists' links do.
func TestInboxOlderKeepsLimit(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	for _, id := range []string{"p1", "p2", "p3"} {
		if err := f.sb.Say(ctx, id, "person"); err != nil {
			t.Fatal(err)
		}
		if err := f.sb.Advance(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	code, body, _ := f.do("GET", "/inbox?view=all&limit=2", testToken, "")
	if code != 200 {
		t.Fatal(code, body)
	}
	m := regexp.MustCompile(`<a href="([^"]*)" rel="next"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no Older link with limit=2 and 3 conversations:\n%s", body)
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(next, "limit=2") {
		t.Fatalf("the Older link %q dropped limit=2", next)
	}
	if n := strings.Count(func() string { _, b, _ := f.do("GET", next, testToken, ""); return b }(), "<tr data-contact="); n != 1 {
		t.Fatalf("the older page has %d rows, want 1", n)
	}
}

// TestInboxUnknownAccount: an account the server does not serve is a bad
// filter (400 naming those it serves), as the lists' other bad filters
// are, not an empty list.
func TestInboxUnknownAccount(t *testing.T) {
	f := newInboxFixture(t)
	code, body, _ := f.do("GET", "/api/conversations?account=nope", testToken, "")
	if code != http.StatusBadRequest || !strings.Contains(body, `account \"nope\" is not one this server serves (sandbox)`) {
		t.Fatalf("GET /api/conversations?account=nope: %d %s, want 400", code, body)
	}
	if code, body, _ := f.do("GET", "/inbox?account=nope", testToken, ""); code != http.StatusBadRequest {
		t.Fatalf("GET /inbox?account=nope: %d %s, want 400", code, body)
	}
	f.convList(testToken, "account=sandbox", 200)
}

// TestReplyRefusesControlCharacters: a reply's text with a C0 control
// character other than newline and tab is refused, saying so; newlines,
// tabs and a form's CRLF line breaks go.
func TestReplyRefusesControlCharacters(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Say(context.Background(), "carol", "person"); err != nil {
		t.Fatal(err)
	}
	const conv = "/api/conversations/sandbox/carol"
	before := len(f.sb.Channel().Delivered())
	for _, body := range []string{`{"text":"\u0000\u0001 hi"}`, `{"text":"hi\u001b[31m"}`, `{"text":"a\rb"}`} {
		code, ans, _ := f.do("POST", conv+"/reply", amyToken, body)
		if code != http.StatusBadRequest || !strings.Contains(ans, "control characters other than newline and tab") {
			t.Fatalf("reply %s: %d %s, want 400 naming control characters", body, code, ans)
		}
	}
	if n := len(f.sb.Channel().Delivered()); n != before {
		t.Fatalf("%d messages reached the channel after refused replies", n-before)
	}
	code, ans, _ := f.do("POST", conv+"/reply", amyToken, `{"text":"line 1\r\nline 2\twith a tab"}`)
	if code != http.StatusCreated {
		t.Fatalf("a reply with a newline and a tab: %d %s", code, ans)
	}
	if m := decode[ActAnswer](t, ans).Message; m == nil || m.Message.Text != "line 1\nline 2\twith a tab" {
		t.Fatalf("the reply sent: %s", ans)
	}
}

// TestAPIRefusesDuplicateKeys: a JSON body that gives a key twice (at
// any depth) is refused, as a multipart body giving a field twice is,
// not read with the last one winning.
func TestAPIRefusesDuplicateKeys(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Say(context.Background(), "carol", "person"); err != nil {
		t.Fatal(err)
	}
	const conv = "/api/conversations/sandbox/carol"
	for _, body := range []string{`{"text":"a","text":"b"}`, `{"note":"x","category":"a","note":"y"}`} {
		action := "/reply"
		if strings.Contains(body, "note") {
			action = "/close"
		}
		code, ans, _ := f.do("POST", conv+action, amyToken, body)
		if code != http.StatusBadRequest || !strings.Contains(ans, "twice") {
			t.Fatalf("%s %s: %d %s, want 400 naming the key given twice", action, body, code, ans)
		}
	}
	if code, ans, _ := f.do("POST", "/api/flows/late/start", testToken, `{"contact":"carol","vars":{"order":"1","order":"2"}}`); code != http.StatusBadRequest || !strings.Contains(ans, `\"order\" twice`) {
		t.Fatalf("a start with a variable twice: %d %s, want 400", code, ans)
	}
	// The same key in two objects is no duplicate.
	if code, ans, _ := f.do("POST", "/api/flows/late/start", testToken, `{"contact":"carol","vars":{"order":"1","n":2,"at":"2027-01-31T09:30:00+08:00"}}`); code != http.StatusCreated {
		t.Fatalf("a start: %d %s", code, ans)
	}
	if code, ans, _ := f.do("POST", conv+"/reply", amyToken, `{"text":"b"}`); code != http.StatusCreated {
		t.Fatalf("a reply: %d %s", code, ans)
	}
}

// TestSimulatorAdvanceOverTheCap: a valid duration too long to advance
// by (2562047h, past what the clock holds, or 400d) is refused for the
// cap, not as if it were no positive duration.
func TestSimulatorAdvanceOverTheCap(t *testing.T) {
	f := newInboxFixture(t)
	for _, d := range []string{"2562047h", "400d", "99999999999d"} {
		code, body, _ := f.do("POST", "/api/sandbox", testToken, `{"contact":"amy","action":"advance","duration":"`+d+`"}`)
		if code != http.StatusBadRequest || !strings.Contains(body, "by a year (366d) at most") || strings.Contains(body, "positive") {
			t.Fatalf("advance %s: %d %s, want 400 naming the cap", d, code, body)
		}
	}
	if code, body, _ := f.do("POST", "/api/sandbox", testToken, `{"contact":"amy","action":"advance","duration":"-2h"}`); code != http.StatusBadRequest || !strings.Contains(body, "positive duration") {
		t.Fatalf("advance -2h: %d %s, want 400 asking for a positive duration", code, body)
	}
	if code, body, _ := f.do("POST", "/api/sandbox", testToken, `{"contact":"amy","action":"advance","duration":"2h"}`); code != http.StatusOK {
		t.Fatalf("advance 2h: %d %s", code, body)
	}
}

// TestSimulatorLongContactIDClipped: the simulator's refusal of a
// contact id quotes the start of it, not all of a 5,000-character one.
func TestSimulatorLongContactIDClipped(t *testing.T) {
	f := newInboxFixture(t)
	id := strings.Repeat("x", 5000)
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/api/sandbox", `{"contact":"` + id + `","action":"text","text":"hi"}`},
		{"GET", "/api/sandbox?contact=" + id, ""},
	} {
		code, body, _ := f.do(req.method, req.path, testToken, req.body)
		if code != http.StatusBadRequest || !strings.Contains(body, "1 to 64 letters") || len(body) > 400 || !strings.Contains(body, "…") {
			t.Fatalf("%s %s with a 5,000-character contact: %d, %d bytes: %.300s", req.method, clipText(req.path, 20), code, len(body), body)
		}
	}
}

// TestErrorsWithoutInternalPrefixes: errors say the mistake, without the
// console's internal "bad request: " or "bad event: " before it, in the
// API and on the pages.
func TestErrorsWithoutInternalPrefixes(t *testing.T) {
	f := newInboxFixture(t)
	if err := f.sb.Say(context.Background(), "carol", "person"); err != nil {
		t.Fatal(err)
	}
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/api/conversations?view=nobody", ""},
		{"POST", "/api/conversations/sandbox/carol/reply", `{}`},
		{"POST", "/api/sandbox", `{"contact":"amy","action":"advance","duration":"soon"}`},
		{"POST", "/api/flows/late/start", `{"contact":"","vars":{}}`},
		{"GET", "/inbox?view=nobody", ""},
	} {
		code, body, _ := f.do(req.method, req.path, testToken, req.body)
		if code != http.StatusBadRequest || strings.Contains(body, "bad request") || strings.Contains(body, "bad event") {
			t.Fatalf("%s %s: %d %s, want 400 without an internal prefix", req.method, req.path, code, body)
		}
	}
}

// TestExportTooLongRefused: a conversation with more events than the
// console exports is refused (413) saying how to export its last part,
// instead of being read whole inside the server (200,000 events took
// 3.5 s and 329 MB).
func TestExportTooLongRefused(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	for _, text := range []string{"hello", "person"} {
		if err := f.sb.Say(ctx, "carol", text); err != nil {
			t.Fatal(err)
		}
	}
	if code, body, _ := f.do("GET", "/contacts/sandbox/carol/test.yaml", testToken, ""); code != http.StatusOK {
		t.Fatalf("export of two events: %d %s", code, body)
	}
	defer func(n int) { maxExportEvents = n }(maxExportEvents)
	maxExportEvents = 1
	code, body, _ := f.do("GET", "/contacts/sandbox/carol/test.yaml", testToken, "")
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "more than 1 events") || !strings.Contains(body, "wxflow export-test --contact sandbox/carol --since") {
		t.Fatalf("export of two events over a bound of one: %d %s, want 413 saying how to export less", code, body)
	}
}

// TestInboxLastPageHasNoNext: a list that ends on a page's last row has
// no next page: with exactly limit conversations the API gave a
// next_cursor (and the page an Older link) to a page of nothing, as it
// said "more" whenever a page was full.
func TestInboxLastPageHasNoNext(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	for _, id := range []string{"p1", "p2", "p3", "p4"} {
		if err := f.sb.Say(ctx, id, "person"); err != nil {
			t.Fatal(err)
		}
		if err := f.sb.Advance(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	page := func(query string) ([]string, string) {
		code, body, _ := f.do("GET", "/api/conversations?"+query, testToken, "")
		if code != 200 {
			t.Fatalf("GET /api/conversations?%s: %d %s", query, code, body)
		}
		v := decode[struct {
			Conversations []ConversationView `json:"conversations"`
			Next          string             `json:"next_cursor"`
		}](t, body)
		return contacts(v.Conversations), v.Next
	}
	if got, next := page("view=all&limit=4"); len(got) != 4 || next != "" {
		t.Errorf("limit=4 of 4: %v, next_cursor %q, want the 4 and none", got, next)
	}
	got, next := page("view=all&limit=2")
	if !slices.Equal(got, []string{"p4", "p3"}) || next == "" {
		t.Fatalf("limit=2 of 4: %v, next_cursor %q, want [p4 p3] and a cursor", got, next)
	}
	if got, next = page("view=all&limit=2&cursor=" + next); !slices.Equal(got, []string{"p2", "p1"}) || next != "" {
		t.Errorf("the second page of 2 of 4: %v, next_cursor %q, want [p2 p1] and none", got, next)
	}
	if code, body, _ := f.do("GET", "/inbox?view=all&limit=4", testToken, ""); code != 200 || strings.Contains(body, `rel="next"`) {
		t.Errorf("the inbox page of all 4 with limit=4: %d, with an Older link: %v", code, strings.Contains(body, `rel="next"`))
	}
}

// TestListPagesLinkANextPageOnlyWhenThereIsOne: the contacts, runs and
// messages pages link to a next page when a row is past the page, for any
// limit: a full last page linked to an empty one, and a page of a limit
// under 50 had no link however many rows followed (a helper's finding).
func TestListPagesLinkANextPageOnlyWhenThereIsOne(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	for _, id := range []string{"p1", "p2", "p3", "p4"} {
		if err := f.sb.Say(ctx, id, "person"); err != nil {
			t.Fatal(err)
		}
	}
	for _, list := range []string{"contacts", "runs", "messages"} {
		code, body, _ := f.do("GET", "/api/"+list+"?limit=500", testToken, "")
		if code != 200 {
			t.Fatalf("GET /api/%s: %d %s", list, code, body)
		}
		n := len(decode[map[string][]json.RawMessage](t, body)[list])
		if n < 2 {
			t.Fatalf("%d %s: too few to page", n, list)
		}
		for limit, want := range map[int]bool{n: false, n - 1: true} {
			code, body, _ := f.do("GET", fmt.Sprintf("/%s?limit=%d", list, limit), testToken, "")
			if code != 200 || strings.Contains(body, `rel="next"`) != want {
				t.Errorf("/%s?limit=%d of %d: %d, a next link %v, want %v", list, limit, n, code, !want, want)
			}
		}
	}
}

// TestClipTextKeepsCharactersWhole: a quoted input is cut at a
// character's start, never inside one (an error quoting Chinese showed a
// broken character before the "…").
func TestClipTextKeepsCharactersWhole(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"客服中心", 4, "客…"},
		{"客服中心", 6, "客服…"},
		{"a客服", 3, "a…"},
		{"\xff\xff\xff\xff\xff", 3, "\xff\xff\xff…"},
	} {
		if got := clipText(c.in, c.n); got != c.want {
			t.Errorf("clipText(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// TestUnassignedListsConversationsOfRemovedOperators: a conversation held
// by an operator the config no longer has (carl, removed while he held
// it) is listed under Unassigned, where someone can take it: it was in
// no view but All (nobody's Mine, not Unassigned), and flows do not
// answer a held conversation (a helper's finding).
func TestUnassignedListsConversationsOfRemovedOperators(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "d1", "person"); err != nil {
		t.Fatal(err)
	}
	// d1 was carl's when carl left the config: written as the store
	// kept it.
	st, err := sqlite.Open(ctx, f.db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Update(ctx, func(tx engine.Tx) error {
		c, err := tx.Contact(f.sb.Account(), "d1")
		if err != nil {
			return err
		}
		c.Conv.Operator, c.Conv.Team = "carl", ""
		return tx.PutContact(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := contacts(f.convList(testToken, "view=unassigned", http.StatusOK)); !slices.Equal(got, []string{"d1"}) {
		t.Fatalf("Unassigned lists %v, want [d1] (held by carl, no longer an operator)", got)
	}
	// Taken by amy, who is an operator: no longer unassigned.
	if _, err := f.sb.Engine().Act(ctx, engine.ContactRef{Account: f.sb.Account(), ID: "d1"}, engine.Action{Kind: engine.ActAssign, Handover: steps.Handover{Operator: "amy"}, Operator: "amy"}); err != nil {
		t.Fatal(err)
	}
	if got := contacts(f.convList(testToken, "view=unassigned", http.StatusOK)); len(got) != 0 {
		t.Fatalf("Unassigned lists %v after amy took d1, want none", got)
	}
}

// TestStartFormsKeepWhatWasTyped: a start refused by the flow's rules
// (the contact unfollowed: 409) keeps the flow chosen and the Variables
// box of the conversation page's Start form; they came back empty. A
// Variables box (or a flow page's variable) long enough that the
// redirect keeping it passes a proxy's 8 KiB request line comes as the
// page itself, as a long reply does; it was a redirect of 9 KB (414).
func TestStartFormsKeepWhatWasTyped(t *testing.T) {
	f := newInboxFixture(t)
	ctx := context.Background()
	if err := f.sb.Say(ctx, "carol", "person"); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.Unfollow(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	b := newBrowserish(f)
	b.login(amyToken)
	const page = "/inbox/sandbox/carol"
	box := "order: A-77\nn: 2"
	code, body, _ := b.act(page+"/start", url.Values{"csrf": {b.csrf(page)}, "flow": {"late"}, "vars": {box}})
	if code != http.StatusOK || !strings.Contains(body, "unfollowed") {
		t.Fatalf("the start for a contact who unfollowed: %d\n%s", code, body)
	}
	if !strings.Contains(body, `<option value="late" selected>`) || !strings.Contains(body, ">order: A-77\nn: 2</textarea>") {
		t.Errorf("the refused start's page does not keep the flow and the variables:\n%s", body)
	}

	long := "bogus: " + strings.Repeat("x", 9000)
	code, body, h := b.form(page+"/start", url.Values{"csrf": {b.csrf(page)}, "flow": {"late"}, "vars": {long}})
	if code != http.StatusOK || h.Get("Location") != "" {
		t.Fatalf("the start form with a long Variables box: %d, Location %d bytes; want the page itself", code, len(h.Get("Location")))
	}
	if !strings.Contains(body, "declares no variable") || !strings.Contains(body, ">"+long+"</textarea>") {
		t.Errorf("the refused start's page does not keep the long Variables box:\n%.2000s", body)
	}

	// The flow page's form.
	order := strings.Repeat("订单", 1000)
	code, body, h = b.form("/flows/late/start", url.Values{"csrf": {b.csrf("/flows/late")}, "contact": {"carol"},
		"var.order": {order}, "var.n": {"many"}})
	if code != http.StatusOK || h.Get("Location") != "" {
		t.Fatalf("the flow page's form with a long variable: %d, Location %d bytes; want the page itself", code, len(h.Get("Location")))
	}
	if !strings.Contains(body, "expects a number") || !strings.Contains(body, order) {
		t.Errorf("the flow page does not keep the long variable:\n%.2000s", body)
	}
}
