package main

// Browser tests: the console of a real `wxflow serve` sandbox, driven in
// headless Chromium through the DevTools protocol (chromedp). They play a
// follower in the simulator and check what the pages show, and save a
// screenshot of every main page for a person to look at.
//
// They need the `chromium` command (Debian's chromium package, which
// .ci/run installs). Without it they skip, unless WXFLOW_REQUIRE_BROWSER=1
// (set by .ci/run), when they fail. Screenshots go to $WXFLOW_SCREENSHOTS,
// by default build/screenshots/ at the top of the repository.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
)

// browserStepTimeout bounds one browser step (a page load, a click and the
// page it leads to, a query), so that a hang fails fast and says where.
const browserStepTimeout = 10 * time.Second

// browserSurvey is a flow added to a copy of the examples: none of them
// sends a message menu, and the simulator's tappable items need one.
const browserSurvey = `name: browser-survey
description: (browser test) Asks where the follower heard of us, with a message menu.
triggers:
  - keyword: [survey]
steps:
  - ask:
      menu:
        head: "How did you hear about us?"
        items:
          - { id: "friend", text: "From a friend" }
          - { id: "store", text: "In one of our stores" }
        tail: "Tap one of them."
    save: contact.fields.heard_from
    timeout: 10m
  - send: "Thanks! Noted: ${contact.fields.heard_from}."
`

// browserExampleFlows are the flows of flows/examples the pages must list.
var browserExampleFlows = []string{"away", "away-reply", "goodbye", "handoff", "help-menu", "lead", "new-arrivals", "order-status", "satisfaction", "store-scan", "welcome"}

// browser is one Chromium tab on a console.
type browser struct {
	t     *testing.T
	ctx   context.Context // the tab; each step derives a timeout from it
	base  string          // the console's URL, without the trailing slash
	shots string          // where screenshots go
}

// browserExec finds Chromium, or skips the test when there is none
// (fails with WXFLOW_REQUIRE_BROWSER=1).
func browserExec(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		msg := "browser test: no `chromium` on PATH (apt-get install chromium; .ci/run installs it): " + err.Error()
		if os.Getenv("WXFLOW_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg + " (WXFLOW_REQUIRE_BROWSER=1)")
		}
		t.Skip(msg)
	}
	return path
}

// newBrowser starts headless Chromium (at path) with a fresh profile, on
// a blank tab for the console at consoleURL.
func newBrowser(t *testing.T, path, consoleURL string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium keeps its singleton socket in a directory of its own
		// under $TMPDIR, which a browser stopped by the test's end
		// leaves behind (six of them a run of the suite): in the test's
		// temporary directory, it goes with it.
		chromedp.Env("TMPDIR=" + t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// Cleanups run last first: the tab and the browser stop (and the
	// allocator waits for the process) before t.TempDir removes the profile.
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first Run starts the browser, with no timeout: a timeout on it
	// would bound the browser's whole life.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser test: start %s: %v", path, err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return &browser{t: t, ctx: ctx, base: strings.TrimSuffix(consoleURL, "/"), shots: browserShotsDir(t)}
}

// browserShotsDir is where screenshots go: $WXFLOW_SCREENSHOTS or the
// repository's build/screenshots.
func browserShotsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WXFLOW_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "build", "screenshots")
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	return dir
}

// step runs actions with a timeout; what names them in a failure, which
// also shows where the tab is.
func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// fail ends the test with what was being done, the error, and the page.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no result within %v: %w", browserStepTimeout, err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(body) > 2000 {
		body = body[:2000] + "…"
	}
	b.t.Fatalf("browser: %s: %v\nat %s, showing:\n%s", what, err, loc, body)
}

// open loads a console page and checks it answered 200.
func (b *browser) open(path string) {
	b.t.Helper()
	b.navigate("open "+path, chromedp.NavigateResponse(b.base+path), 200)
}

// submit clicks a button (or anything else) that sends a form, and waits
// for the page the form leads to (after its redirect), which must answer
// status.
func (b *browser) submit(what, sel string, status int64) {
	b.t.Helper()
	b.navigate(what, func(ctx context.Context, t *chromedp.Target) (*network.Response, error) {
		return chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	}, status)
}

func (b *browser) navigate(what string, a chromedp.Action[*network.Response], status int64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	if resp == nil {
		b.fail(what, errors.New("no response for the page"))
	}
	if resp.Status != status {
		b.fail(what, fmt.Errorf("HTTP %d %s for %s, want %d", resp.Status, resp.StatusText, resp.URL, status))
	}
}

// typeInto replaces the value of an input with text, typed: it focuses
// the input and sends the keys (chromedp.Focus, then chromedp.KeyEvent),
// which is what chromedp.SendKeys does for an input that is not a
// file's. SendKeys itself first reads the node's attributes without
// their lock, a data race with the browser's attribute events that
// -race reported in CI (chromedp v0.22.1; v0.23.1 reads them the same
// way).
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.step("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Clear(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(text))
}

// text is the visible text of the first element sel matches, once one
// is shown. It is found and read in one evaluation in the page: a live
// page (the inbox) may replace the element between a lookup and a read
// of their own ("No node with given id found", seen in CI).
func (b *browser) text(sel string) string {
	b.t.Helper()
	expr := fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		return el && el.getClientRects().length ? {text: el.innerText} : null;
	})()`, sel)
	type shown struct {
		Text string `json:"text"`
	}
	return browserRun(b, "read "+sel, chromedp.Poll[shown](expr, chromedp.WithPollingTimeout(browserStepTimeout))).Text
}

// eval evaluates a JavaScript expression in the page.
func browserEval[T any](b *browser, expr string) T {
	b.t.Helper()
	return browserRun(b, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

func browserRun[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// count is how many elements sel matches.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return browserEval[int](b, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// html is the page's whole HTML.
func (b *browser) html() string {
	b.t.Helper()
	return browserEval[string](b, "document.documentElement.outerHTML")
}

// path is the path and query of the page shown.
func (b *browser) path() string {
	b.t.Helper()
	return browserEval[string](b, "location.pathname + location.search")
}

// shot saves a full-page screenshot as name.png and checks it is a real
// picture.
func (b *browser) shot(name string) {
	b.t.Helper()
	buf := browserRun(b, "screenshot "+name, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	r := img.Bounds()
	if r.Dx() < 200 || r.Dy() < 100 {
		b.t.Fatalf("screenshot %s is %dx%d", name, r.Dx(), r.Dy())
	}
	colours := map[[4]uint32]bool{}
	for y := r.Min.Y; y < r.Max.Y && len(colours) < 3; y += 7 {
		for x := r.Min.X; x < r.Max.X; x += 7 {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			colours[[4]uint32{cr, cg, cb, ca}] = true
		}
	}
	if len(colours) < 3 {
		b.t.Fatalf("screenshot %s is blank (%d colours)", name, len(colours))
	}
	file := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%dx%d)", file, r.Dx(), r.Dy())
}

// chatLine is a line of the simulator's chat.
type chatLine struct {
	Class string `json:"class"`
	Text  string `json:"text"`
}

// chat reads the simulator's chat.
func (b *browser) chat() []chatLine {
	b.t.Helper()
	return browserEval[[]chatLine](b, `[...document.querySelectorAll("#chat > li")].map(li => ({class: li.className, text: li.innerText.replace(/\s+/g, " ").trim()}))`)
}

// wantChat checks that the chat ends with lines that start with want's
// texts, in order, the contact's (prefix "me: ") or the account's ("them: ").
// Spaces and line breaks count as one space.
func (b *browser) wantChat(want ...string) {
	b.t.Helper()
	lines := b.chat()
	var got []string
	for _, l := range lines {
		who := "them"
		if slices.Contains(strings.Fields(l.Class), "me") {
			who = "me"
		}
		got = append(got, who+": "+l.Text)
	}
	ok := len(got) >= len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[len(got)-len(want)+i], want[i])
	}
	if !ok {
		b.t.Fatalf("the chat should end with\n  %s\nbut is\n  %s", strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

// wantText checks that the text of sel contains every one of want.
func (b *browser) wantText(sel string, want ...string) string {
	b.t.Helper()
	got := b.text(sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			b.t.Fatalf("%s on %s should contain %q; it is:\n%s", sel, b.path(), w, got)
		}
	}
	return got
}

// waitText waits until the first element sel matches shows every one
// of want: for a live page, which updates itself a moment after the
// change that bob's page (or the simulator) has already shown.
func (b *browser) waitText(sel string, want ...string) string {
	b.t.Helper()
	wants, _ := json.Marshal(want)
	expr := fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		return !!el && el.getClientRects().length > 0 && %s.every(w => el.innerText.includes(w));
	})()`, sel, wants)
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(browserStepTimeout))); err != nil {
		got := b.text(sel)
		b.t.Fatalf("%s on %s should come to contain %q within %v; it is:\n%s", sel, b.path(), want, browserStepTimeout, got)
	}
	return b.text(sel)
}

// browserServer starts a sandbox `wxflow serve` on a free loopback port
// from cfg, and returns its console's URL.
func browserServer(t *testing.T, cfg *config.Config) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = cfg.Listen // one server for callbacks and console
	cfg.Database = filepath.Join(t.TempDir(), "wxflow.db")
	s := startServer(t, cfg)
	u := s.ConsoleURL()
	if u == "" || !strings.Contains(u, s.Addr()) {
		t.Fatalf("console URL %q: want the callback server's address %s", u, s.Addr())
	}
	return u
}

// browserFlows copies flows/examples into a temporary folder and adds
// the survey flow.
func browserFlows(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "flows")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "flows", "examples"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "browser-survey.yaml"), []byte(browserSurvey), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserConsoleSandbox plays a follower in the simulator, then reads
// every page of the console.
func TestBrowserConsoleSandbox(t *testing.T) {
	began := time.Now()
	chromium := browserExec(t)
	cfg := sandboxConfig()
	cfg.Flows = browserFlows(t)
	b := newBrowser(t, chromium, browserServer(t, cfg))

	// The console of a sandbox opens on the simulator, empty.
	b.open("/")
	if p := b.path(); p != "/simulator" {
		t.Fatalf("/ leads to %s, want /simulator", p)
	}
	b.wantText("#chat", "Nothing yet")
	clock0 := b.simNow()

	// Follow through a store's QR code: welcome.yaml greets, tags and asks.
	b.typeInto(`form:has(input[name=action][value=follow]) input[name=scene]`, "store_sh01")
	b.submit("follow", `form:has(input[name=action][value=follow]) button`, 200)
	b.wantChat(
		"me: followed (QR scene store_sh01)",
		"them: Welcome, and thanks for visiting our store!",
		"them: What should we call you?",
	)
	b.wantText("#tags", "in_store", "store_sh01")
	b.wantText("#fields", `"first_store": "store_sh01"`)
	b.wantText("#active-run", "welcome", "waiting_reply")
	b.wantText("#session .window", "open")

	// Answer the question in the message box.
	b.typeInto(`form.say input[name=text]`, "Ana")
	b.submit("send the name", `form.say button`, 200)
	b.wantChat("me: Ana", "them: Nice to meet you, Ana! Tap Join us in the menu")
	b.wantText("#fields", `"name": "Ana"`, `"first_store": "store_sh01"`)
	b.wantText("#active-run", "none")

	// A message menu: tap an item.
	b.typeInto(`form.say input[name=text]`, "survey")
	b.submit("write survey", `form.say button`, 200)
	b.wantChat("me: survey", "them: How did you hear about us?")
	items := browserEval[[]string](b, `[...[...document.querySelectorAll("#chat > li.them")].pop().querySelectorAll("form.tap button")].map(b => b.innerText.trim())`)
	if !slices.Equal(items, []string{"From a friend", "In one of our stores"}) {
		t.Fatalf("the message menu's items are %q", items)
	}
	b.wantText(`#chat > li.them:last-child .bubble`, "Tap one of them.")
	b.shot("simulator-menu")
	b.submit("tap a menu item", `#chat > li.them:last-child form.tap:nth-of-type(2) button`, 200)
	b.wantChat("me: In one of our stores", "them: Thanks! Noted: In one of our stores.")
	b.wantText("#fields", `"heard_from": "In one of our stores"`)

	// The account's menu (New arrivals, Help, Join us, Talk to a person):
	// Help starts help-menu.yaml's chat menu.
	if n := b.count(".menubar button[data-key]"); n != 4 {
		t.Fatalf("the menu bar has %d click buttons, want 4 (menu.yaml)", n)
	}
	b.submit("click Help", `.menubar button[data-key="MENU_HELP"]`, 200)
	b.wantChat(`me: clicked menu "Help"`, "them: How can we help? 1. Opening hours")
	if n := b.count("#chat > li.them:last-child form.tap"); n != 0 {
		t.Fatalf("help-menu's question is text, yet shows %d tappable items", n)
	}
	b.typeInto(`form.say input[name=text]`, "1")
	b.submit("answer 1", `form.say button`, 200)
	b.wantChat("me: 1", "them: We're open Mon-Fri 9:00-18:00", "them: How can we help?")
	b.wantText("#active-run", "help-menu", "waiting_reply", "at menu")
	b.wantText("#session .window", "open")
	b.wantText("#session .quota") // present

	// Two days later the question timed out (its goodbye went out within
	// the window) and the window is closed.
	b.typeInto(`form:has(input[name=action][value=advance]) input[name=duration]`, "2d")
	b.submit("advance the clock", `form:has(input[name=action][value=advance]) button`, 200)
	if d := b.simNow().Sub(clock0); d < 48*time.Hour || d > 49*time.Hour {
		t.Fatalf("the sandbox clock moved by %v, want 2 days", d)
	}
	b.wantChat("them: Thanks! Tap Help in the menu, or write MENU")
	b.wantText("#session .window", "closed")
	b.wantText("#active-run", "none")
	if n := b.count(`#chat > li.them:not(.sent)`); n != 0 {
		t.Fatalf("%d messages of the chat were not sent", n)
	}
	b.shot("simulator")

	// Flows: a row for each.
	b.open("/flows")
	for _, name := range append(slices.Clone(browserExampleFlows), "browser-survey") {
		if n := b.count(fmt.Sprintf(`#flows tr[data-flow=%q] a[href="/flows/%s"]`, name, name)); n != 1 {
			t.Fatalf("/flows has %d rows for %s", n, name)
		}
	}
	if n := b.count("#flows tbody tr[data-flow]"); n != len(browserExampleFlows)+1 {
		t.Fatalf("/flows lists %d flows, want %d", n, len(browserExampleFlows)+1)
	}
	b.shot("flows")

	// Start help-menu for the contact now that the window is closed: the
	// run waits at its question, which failed.
	b.submit("open help-menu", `#flows tr[data-flow="help-menu"] a`, 200)
	b.typeInto(`form[action="/flows/help-menu/start"] input[name=contact]`, "visitor")
	b.submit("start help-menu", `form[action="/flows/help-menu/start"] button`, 200)
	if p := b.path(); !strings.HasPrefix(p, "/runs/") {
		t.Fatalf("starting a flow leads to %s, want its run", p)
	}
	b.wantText("#run-status", "waiting_reply")
	b.wantText("#timeline", "menu", "How can we help?", "failed", "window_closed")
	if n := b.count(`#timeline .msg.failed[data-message]`); n != 1 {
		t.Fatalf("the run's timeline shows %d failed messages, want 1", n)
	}
	failedRun := b.path()

	// The flow's page: the diagram with a badge at the waiting step.
	b.open("/flows/help-menu")
	b.wantText("#active-runs", "1")
	if n := b.count(".diagram svg g.node.step"); n < 5 {
		t.Fatalf("the diagram of help-menu has %d steps", n)
	}
	badge := browserEval[string](b, `(() => { const g = document.querySelector(".diagram svg g.node.step .badge"); return g ? g.closest("g.node").querySelector("title").textContent + " | " + g.textContent : ""; })()`)
	if !strings.Contains(badge, "id: menu") || !strings.HasSuffix(badge, "| 1") {
		t.Fatalf("the badge of the waiting run: %q, want 1 on the step with id menu", badge)
	}
	b.wantText("#steps", "menu", "waiting_reply")
	b.shot("flow")

	// Contacts, and the contact.
	b.open("/contacts")
	b.wantText("#contacts", "visitor", "in_store", "store_sh01")
	b.shot("contacts")
	b.submit("open the contact", `#contacts a[href="/contacts/sandbox/visitor"]`, 200)
	b.wantText("#contact", "sandbox", "yes")
	b.wantText("#tags", "in_store", "store_sh01")
	b.wantText("#fields", `"name": "Ana"`)
	b.wantText("#session .window", "closed")
	b.wantText("#session .quota", "0")
	b.shot("contact")

	// Runs: welcome, the survey, help-menu twice.
	b.open("/runs")
	runs := browserEval[[]string](b, `[...document.querySelectorAll("table.runs tbody tr")].map(tr => tr.innerText.replace(/\s+/g, " ").trim())`)
	if len(runs) != 4 {
		t.Fatalf("/runs lists %d runs, want 4:\n%s", len(runs), strings.Join(runs, "\n"))
	}
	b.shot("runs")
	b.submit("open welcome's run", `table.runs tr:has(a[href="/flows/welcome"]) a[href^="/runs/"]`, 200)
	b.wantText("#run-status", "completed")
	b.wantText("#timeline", "Welcome, and thanks for visiting our store!", "What should we call you?", "Nice to meet you, Ana!")
	if n := b.count("#timeline .msg.sent"); n != 3 {
		t.Fatalf("welcome's timeline shows %d sent messages, want 3", n)
	}
	if n := b.count("#timeline .step"); n < 3 {
		t.Fatalf("welcome's timeline names %d steps", n)
	}
	b.shot("run")
	b.open(failedRun)
	b.shot("run-failed")

	// Messages, filtered to the failed ones with the form.
	b.open("/messages")
	all := b.count("table.messages tbody tr[data-message]")
	if all < 9 {
		t.Fatalf("/messages lists %d messages", all)
	}
	b.step("choose status failed", chromedp.SetValue(chromedp.CSS(`select[name=status]`), "failed"))
	b.submit("filter", `form.filters button`, 200)
	if p := b.path(); !strings.Contains(p, "status=failed") {
		t.Fatalf("the filter leads to %s", p)
	}
	statuses := browserEval[[]string](b, `[...document.querySelectorAll("table.messages tbody tr[data-message]")].map(tr => tr.dataset.status)`)
	if len(statuses) != 1 || statuses[0] != "failed" {
		t.Fatalf("/messages?status=failed shows statuses %q", statuses)
	}
	b.wantText("table.messages", "window_closed", "the reply window is closed")
	if got := browserEval[string](b, `document.querySelector("select[name=status]").value`); got != "failed" {
		t.Fatalf("the status filter shows %q after filtering", got)
	}
	b.shot("messages")
	b.open("/messages?reason=window_closed")
	if n := b.count("table.messages tbody tr[data-message]"); n != 1 {
		t.Fatalf("/messages?reason=window_closed lists %d messages", n)
	}

	// Paging: with more followers than a page shows, "More" and "Older"
	// lead to the rest.
	for i := range 50 {
		b.api("POST", "/api/sandbox", "", fmt.Sprintf(`{"contact":"pager-%02d","action":"follow"}`, i), 200)
	}
	b.open("/contacts")
	if n := b.count("#contacts tbody tr"); n != 50 {
		t.Fatalf("/contacts lists %d contacts, want a page of 50", n)
	}
	b.submit("click More", `main > p > a`, 200)
	if p := b.path(); !strings.Contains(p, "after=pager-49") {
		t.Fatalf("More leads to %s", p)
	}
	b.wantText("#contacts", "visitor")
	for _, list := range []struct{ path, rows, attr string }{
		{"/runs", "table.runs tbody tr[data-run]", "run"},
		{"/messages", "table.messages tbody tr[data-message]", "message"},
	} {
		b.open(list.path)
		ids := browserEval[[]int](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(tr => +tr.dataset.%s)`, list.rows, list.attr))
		if len(ids) != 50 {
			t.Fatalf("%s lists %d rows, want a page of 50", list.path, len(ids))
		}
		b.submit("click Older on "+list.path, `main > p > a`, 200)
		if p := b.path(); !strings.Contains(p, fmt.Sprintf("before=%d", ids[49])) {
			t.Fatalf("Older on %s leads to %s", list.path, p)
		}
		older := browserEval[[]int](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(tr => +tr.dataset.%s)`, list.rows, list.attr))
		if len(older) == 0 || older[0] >= ids[49] {
			t.Fatalf("Older on %s shows %v after %v", list.path, older, ids)
		}
	}
	b.shot("messages-older")
	t.Logf("screenshots in %s; the test took %v", b.shots, time.Since(began).Round(time.Millisecond))
}

// simNow is the simulator's clock.
func (b *browser) simNow() time.Time {
	b.t.Helper()
	s := browserEval[string](b, `document.querySelector("#sim-now").getAttribute("datetime")`)
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		b.t.Fatalf("the simulator's clock %q: %v", s, err)
	}
	return tm
}

// TestBrowserConsoleLogin checks that a console with a token sends the
// browser to its login page, and never shows the token.
func TestBrowserConsoleLogin(t *testing.T) {
	chromium := browserExec(t)
	raw := make([]byte, 12)
	rand.Read(raw)
	token := hex.EncodeToString(raw) // 24 characters
	cfg := sandboxConfig()
	cfg.Flows = filepath.Join("..", "..", "flows", "examples")
	cfg.Admin.Token = token
	b := newBrowser(t, chromium, browserServer(t, cfg))
	noToken := func(where string) {
		t.Helper()
		if strings.Contains(b.html(), token) {
			t.Fatalf("%s shows the token", where)
		}
	}

	b.open("/flows") // 303 to the login page, which answers 200
	if p := b.path(); p != "/login?next=%2Fflows" {
		t.Fatalf("/flows without logging in leads to %s, want the login page", p)
	}
	b.step("see the login form", chromedp.WaitVisible(chromedp.CSS(`form.login input[type=password][name=token]`)))
	if n := b.count(".error"); n != 0 {
		t.Fatalf("the login page shows an error before any try")
	}
	noToken("the login page")
	b.shot("login")

	b.typeInto(`form.login input[name=token]`, token[:23]+"x")
	b.submit("log in with a wrong token", `form.login button`, 401)
	b.wantText(`form.login .error[role=alert]`, "That is not the admin token.")
	noToken("the failed login")

	b.typeInto(`form.login input[name=token]`, token)
	b.submit("log in", `form.login button`, 200)
	if p := b.path(); p != "/flows" {
		t.Fatalf("logging in leads to %s, want /flows", p)
	}
	if n := b.count("#flows tbody tr[data-flow]"); n != len(browserExampleFlows) {
		t.Fatalf("/flows lists %d flows after logging in, want %d", n, len(browserExampleFlows))
	}
	b.step("see the logout button", chromedp.WaitVisible(chromedp.CSS(`form.logout button`)))
	noToken("the flows page")
	cookie := browserEval[string](b, "document.cookie") // HttpOnly: not readable
	if strings.Contains(cookie, token) {
		t.Fatal("the page's cookies hold the token")
	}
	b.open("/simulator")
	noToken("the simulator")

	// A page on another port of the same host (the same site, so the
	// SameSite=Strict cookie goes along) tries to start a flow: by fetch
	// with text/plain, and by a form. Neither starts anything.
	b.api("POST", "/api/sandbox", token, `{"contact":"visitor","action":"follow"}`, 200)
	runs := b.api("GET", "/api/runs?contact=visitor", token, "", 200)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form id="evil" method="post" action="%s/flows/help-menu/start"><input name="contact" value="visitor"><button>Win</button></form>`, b.base)
	}))
	t.Cleanup(evil.Close)
	if !strings.HasPrefix(evil.URL, "http://127.0.0.1:") || strings.HasPrefix(b.base, evil.URL) {
		t.Fatalf("the other page is at %s, the console at %s: want another port of one host", evil.URL, b.base)
	}
	b.navigate("open the other page", chromedp.NavigateResponse(evil.URL), 200)
	sent := browserRun(b, "fetch from the other page", chromedp.Evaluate[string](fmt.Sprintf(
		`fetch(%q, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: '{"contact":"visitor"}'}).then(() => "sent", e => "failed: " + e)`,
		b.base+"/api/flows/help-menu/start"), chromedp.EvalAwaitPromise))
	if sent != "sent" {
		t.Fatalf("the other page's fetch: %s", sent)
	}
	b.submit("post the other page's form", `#evil button`, 403)
	if after := b.api("GET", "/api/runs?contact=visitor", token, "", 200); after != runs {
		t.Fatalf("a page on another port started runs:\n%s", after)
	}

	// Logging out ends the session.
	b.open("/flows")
	b.submit("log out", `form.logout button`, 200)
	if p := b.path(); p != "/login" {
		t.Fatalf("logging out leads to %s", p)
	}
	b.open("/flows")
	if p := b.path(); p != "/login?next=%2Fflows" {
		t.Fatalf("/flows after logging out leads to %s, want the login page", p)
	}
}

// api calls the console's API from the test (not the browser), with the
// bearer token when token is not "", and checks the status.
func (b *browser) api(method, path, token, body string, status int) string {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		b.t.Fatalf("%s %s: %d %.300s, want %d", method, path, resp.StatusCode, got, status)
	}
	return string(got)
}
