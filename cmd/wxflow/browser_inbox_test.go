package main

// The inbox in the browser (issue 14): two operators of the sandbox, amy
// and bob, logged in side by side (two browser contexts, each with its
// own cookies), while followers write through the simulator's API.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/steps"
)

// browserHandoff is the contract's handoff example with the team's hours
// as the test sets them (HOURS): outside them an away reply and the
// team's queue, inside them round robin.
const browserHandoff = `name: handoff
triggers:
  - keyword: [person]
    interrupt: true
steps:
  - hours:
      timezone: UTC
      open: HOURS
    when_closed:
      - send: "We're away now. Leave a message and we'll answer when we're back."
      - assign: { team: support }
      - end
  - assign: { team: support, pick: round_robin }
    on_fail: nobody
  - send: "${conversation.assignee} will answer you here."
  - end
  - id: nobody
    assign: { team: support }
  - send: "Everyone is busy; we'll answer as soon as we can."
`

const browserBot = `name: bot
triggers:
  - keyword: [hi]
steps:
  - send: "Hello from the bot"
`

// newContext opens another browser context of the same Chromium: a
// window with its own cookies (another person's login).
func (b *browser) newContext() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("browser test: new browser context: %v", err)
	}
	return &browser{t: b.t, ctx: ctx, base: b.base, shots: b.shots}
}

// newTab opens another tab in the same browser context (same cookies).
func (b *browser) newTab() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("browser test: new tab: %v", err)
	}
	return &browser{t: b.t, ctx: ctx, base: b.base, shots: b.shots}
}

// loginAs logs in with a token on the login page, which leads to the
// inbox.
func (b *browser) loginAs(token string) {
	b.t.Helper()
	b.open("/login?next=%2Finbox")
	b.typeInto(`form.login input[name=token]`, token)
	b.submit("log in", `form.login button`, 200)
	if p := b.path(); p != "/inbox" {
		b.t.Fatalf("logging in leads to %s, want /inbox", p)
	}
}

// typeNew types text into an empty textarea (Clear fails on one), as
// typeInto types.
func (b *browser) typeNew(sel, text string) {
	b.t.Helper()
	b.step("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(text))
}

// waitFor waits until a JavaScript expression is true in the page.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	browserRun(b, what, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(browserStepTimeout)))
}

// live waits until the page listens to the live stream, and marks the
// page: stillSamePage checks that no reload happened since.
func (b *browser) live() {
	b.t.Helper()
	b.waitFor("the page listens to the live stream", `document.body.getAttribute("data-live") === "on"`)
	browserEval[bool](b, `window.__notReloaded = true`)
}

func (b *browser) stillSamePage() {
	b.t.Helper()
	if !browserEval[bool](b, `window.__notReloaded === true`) {
		b.t.Fatal("the page was reloaded; it should have updated in place")
	}
}

// transcriptHas waits until a line of the conversation's transcript
// holds text.
func (b *browser) transcriptHas(text string) {
	b.t.Helper()
	b.waitFor("the transcript shows "+text, fmt.Sprintf(`[...document.querySelectorAll("#transcript > li")].some(li => li.innerText.includes(%q))`, text))
}

// follower plays a follower through the simulator's API and returns
// what the simulator shows.
func (b *browser) follower(contact, action, text string) string {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"contact": contact, "action": action, "text": text, "duration": text})
	return b.api("POST", "/api/sandbox", "", string(body), 200)
}

// TestBrowserInbox: outside the team's hours a follower gets the away
// reply and waits in the team's queue; inside them round robin gives
// conversations to amy and bob, who see them arrive without reloading;
// amy replies, comments and closes, and the bot answers again; the
// simulator shows the same conversation; after the window a reply is
// refused in the page with the reason.
func TestBrowserInbox(t *testing.T) {
	chromium := browserExec(t)
	// The team works one hour a day, starting an hour or two from now
	// (the sandbox's clock starts at the wall clock's now).
	startHour := (time.Now().UTC().Hour() + 2) % 24
	hours := fmt.Sprintf(`{ mon-fri: "%02d:00-%02d:59", "sat,sun": "%02d:00-%02d:59" }`, startHour, startHour, startHour, startHour)
	dir := filepath.Join(t.TempDir(), "flows")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"handoff.yaml": strings.Replace(browserHandoff, "HOURS", hours, 1), "bot.yaml": browserBot} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("timezone: UTC\nopen: "+hours), &node); err != nil {
		t.Fatal(err)
	}
	teamHours, err := steps.ParseHoursNode(&node)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sandboxConfig()
	cfg.Flows, cfg.Timezone, cfg.TimezoneName = dir, time.UTC, "UTC"
	cfg.Teams = map[string]*steps.Hours{"support": teamHours}

	amy := newBrowser(t, chromium, browserServer(t, cfg))
	bob := amy.newContext()
	amy.loginAs(sandboxAmyToken)
	amy.wantText("#me", "Amy")
	bob.loginAs(sandboxBobToken)
	bob.wantText("#me", "Bob")
	if strings.Contains(amy.html(), sandboxAmyToken) || strings.Contains(bob.html(), sandboxBobToken) {
		t.Fatal("the inbox shows the operator's token")
	}

	// Outside the team's hours: the away reply, and the team's queue.
	if sim := amy.follower("walt", "text", "person"); !strings.Contains(sim, "We're away now") {
		t.Fatalf("outside hours, the follower should get the away reply:\n%s", sim)
	}
	amy.open("/inbox?view=unassigned")
	amy.wantText(`#conversations tr[data-contact="walt"] .assignee`, "support")
	amy.wantText(`#conversations tr[data-contact="walt"] .waiting`, "0 s")
	bob.open("/inbox?view=teams")
	// The row's last message: the away reply, sent after walt's "person".
	bob.wantText(`#conversations tr[data-contact="walt"]`, "We're away now")
	bob.open("/inbox")
	if n := bob.count(`#conversations tr[data-contact]`); n != 0 {
		t.Fatalf("bob's own inbox lists %d conversations outside hours, want none", n)
	}
	amy.open("/inbox/sandbox/walt")
	amy.wantText("#transcript", "person", "We're away now", "assigned to team support")

	// Into the team's hours: half past the first hour.
	var sim struct{ Now time.Time }
	if err := json.Unmarshal([]byte(amy.api("GET", "/api/sandbox?contact=walt", "", "", 200)), &sim); err != nil {
		t.Fatal(err)
	}
	now := sim.Now.UTC()
	open := time.Date(now.Year(), now.Month(), now.Day(), startHour, 30, 0, 0, time.UTC)
	if open.Before(now) {
		open = open.Add(24 * time.Hour)
	}
	amy.follower("", "advance", fmt.Sprintf("%dm", int(open.Sub(now).Minutes())+1))

	// Round robin: carol to amy, dave to bob; each sees theirs arrive.
	amy.open("/inbox")
	amy.live()
	bob.open("/inbox")
	bob.live()
	if sim := amy.follower("carol", "text", "person"); !strings.Contains(sim, "amy will answer you here.") {
		t.Fatalf("inside hours, round robin should give carol to amy:\n%s", sim)
	}
	amy.waitFor("carol in amy's inbox", `!!document.querySelector('#conversations tr[data-contact="carol"]')`)
	amy.stillSamePage()
	amy.follower("", "advance", "2m") // time passes between what people do
	if sim := amy.follower("dave", "text", "person"); !strings.Contains(sim, "bob will answer you here.") {
		t.Fatalf("round robin should give dave to bob:\n%s", sim)
	}
	bob.waitFor("dave in bob's inbox", `!!document.querySelector('#conversations tr[data-contact="dave"]')`)
	bob.stillSamePage()
	// amy's page updates itself on the same change, a moment apart from
	// bob's: wait for it (CI once read it before).
	amy.waitText(`#conversations tr[data-contact="carol"] .window`, "window closes in 47 h 58 min · 4 replies left")
	amy.wantText(`#conversations tr[data-contact="carol"] .waiting`, "2 min")
	if n := amy.count(`#conversations tr[data-contact="dave"]`); n != 0 {
		t.Fatal("dave is bob's, yet shows in amy's inbox")
	}
	amy.shot("inbox")

	// amy answers carol: the message comes in live; reply, comment, close.
	amy.open("/inbox/sandbox/carol")
	amy.live()
	amy.wantText("#reply-state", "window closes in 47 h 58 min · 4 replies left")
	amy.follower("", "advance", "1m")
	amy.follower("carol", "text", "My order A-1024 is late")
	amy.transcriptHas("My order A-1024 is late")
	amy.stillSamePage()
	amy.wantText("#conv-head", "waiting 3 min") // since her first message nobody answered
	amy.follower("", "advance", "2m")
	amy.typeNew(`#reply textarea[name=text]`, "Sorry! Looking into it now.")
	amy.submit("reply", `#reply button`, 200)
	amy.wantText(`#transcript > li.out:last-of-type`, "Sorry! Looking into it now.", "Amy")
	amy.wantText("#reply-state", "4 replies left") // her message gave 5 again
	amy.follower("", "advance", "1m")
	amy.typeNew(`#comment textarea[name=text]`, "The courier is a day late with A-1024")
	amy.submit("comment", `#comment button`, 200)
	amy.follower("", "advance", "1m")
	amy.wantText(`#transcript > li.comment`, "Amy", "The courier is a day late with A-1024")
	amy.typeInto(`#close input[name=note]`, "courier delay explained")
	amy.typeInto(`#close input[name=category]`, "solved")
	amy.submit("close", `#close button`, 200)
	amy.wantText("#conv-status", "closed")
	amy.wantText("#transcript", "closed: courier delay explained [solved]")
	// Flows answer again.
	amy.follower("", "advance", "5m")
	amy.live()
	amy.follower("carol", "text", "hi")
	amy.transcriptHas("Hello from the bot")
	amy.stillSamePage()
	amy.wantText(`#transcript > li.out:last-of-type`, "Hello from the bot", "flow bot")
	amy.shot("conversation")
	// The Do box follows the status: the page was drawn closed, carol's
	// message opened the conversation again, and the page, live, offers
	// Close, not Open (it kept offering Open); bob closes it, and it
	// offers Open again.
	amy.wantText("#conv-status", "open")
	amy.waitFor("amy's page offers Close", `!document.querySelector("#close").hidden && document.querySelector("#open").hidden && document.querySelector("#close").getClientRects().length > 0`)
	amy.api("POST", "/api/conversations/sandbox/carol/close", sandboxBobToken, `{}`, 200)
	amy.waitFor("amy's page offers Open", `document.querySelector("#close").hidden && !document.querySelector("#open").hidden && document.querySelector("#close").getClientRects().length === 0`)
	amy.stillSamePage()

	// The simulator shows the same conversation to whoever plays carol.
	bob.open("/simulator?contact=carol")
	bob.wantText("#chat", "My order A-1024 is late", "Sorry! Looking into it now.", "Hello from the bot")
	if strings.Contains(bob.text("#chat"), "The courier is a day late") {
		t.Fatal("the follower's chat shows an internal comment")
	}

	// After the window: bob's page of dave, live, disables the reply box
	// with the reason; a page that does not update (no JavaScript here)
	// still lets bob send, and the console refuses it with the reason.
	bob.open("/inbox/sandbox/dave")
	bob.live()
	bob.wantText("#reply-state", "window closes in")
	stale := bob.newTab()
	stale.step("turn JavaScript off", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	stale.open("/inbox/sandbox/dave")
	stale.typeNew(`#reply textarea[name=text]`, "Any news about your order?")
	amy.follower("", "advance", "49h")
	bob.waitFor("bob's reply box closes", `document.querySelector("#reply-state").getAttribute("data-can-reply") === "0" && document.querySelector("#reply textarea").disabled`)
	bob.wantText("#reply-state", "no reply can go", "window is closed", "window_closed")
	bob.stillSamePage()
	stale.submit("reply after the window", `#reply button`, 200)
	stale.wantText(`#act-error[role=alert]`, "Not sent", "the reply window is closed", "window_closed")
	stale.wantText(`#transcript > li.out.failed:last-of-type`, "Any news about your order?", "failed", "window_closed")
	stale.wantText("#reply-state", "no reply can go")
	stale.shot("conversation-refused")
}
