package engine_test

import (
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// Which flow starts: priority, then specificity, then flow name; if:
// guards, account:, and what each trigger kind matches.

// flowSending is a flow with the given triggers (YAML list items) that
// sends its own name.
func flowSending(name string, triggers ...string) string {
	src := "name: " + name + "\ntriggers:\n"
	for _, t := range triggers {
		src += "  " + t + "\n"
	}
	return src + "steps:\n  - send: \"" + name + "\"\n"
}

func TestTriggerPriorityBeatsSpecificityAndName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"a.yaml": flowSending("a", "- keyword: [hi]"),
		"z.yaml": flowSending("z", "- message:\n    priority: 5"),
	})
	h.say("hi")
	h.wantRuns("z:completed")
	h.wantTranscript("z")
}

func TestTriggerSpecificity(t *testing.T) {
	t.Parallel()
	// Each later flow name would win a tie: specificity must decide.
	h := newHarness(t, map[string]string{
		"a-any.yaml":     flowSending("a-any", "- message", "- follow"),
		"b-pattern.yaml": flowSending("b-pattern", `- keyword: { pattern: "^h" }`, "- follow: store_*", "- menu: MENU_*"),
		"c-exact.yaml":   flowSending("c-exact", "- keyword: [hi]", "- follow: store_1", "- menu: MENU_HELP"),
	})
	h.say("hi") // exact keyword > pattern > bare message
	h.say("hello")
	h.say("yo")
	h.follow("store_1") // exact scene > scene glob > bare follow
	h.follow("store_2")
	h.follow("")
	h.menu("MENU_HELP") // exact key > glob
	h.menu("MENU_NEW")
	h.menu("OTHER")
	h.wantTranscript("c-exact | b-pattern | a-any | c-exact | b-pattern | a-any | c-exact | b-pattern")
}

func TestTriggerNameOrderOnTie(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"beta.yaml":  flowSending("beta", "- keyword: [hi]"),
		"alpha.yaml": flowSending("alpha", "- keyword: [HI]"),
		"gamma.yaml": flowSending("gamma", "- keyword: [Hi]"),
	})
	h.say("hi")
	h.wantRuns("alpha:completed")
}

func TestTriggerIfGuardFallsToNextCandidate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"vip.yaml": flowSending("vip", `- keyword: [hi]
    if: '"vip" in contact.tags'
    priority: 10`),
		"shanghai.yaml": flowSending("shanghai", `- keyword: [hi]
    if: contact.fields.city == "Shanghai"`),
		"zz-any.yaml": flowSending("zz-any", "- message"),
		"tagger.yaml": `name: tagger
triggers: [{keyword: [make me vip]}]
steps:
  - tag: [vip]
  - set: { contact.fields.city: Shanghai }
`,
	})
	h.say("hi") // no guard holds: the bare message flow
	h.say("make me vip")
	h.say("hi") // both guards hold: the higher priority
	h.wantTranscript("zz-any | vip")
	h.wantRuns("zz-any:completed tagger:completed vip:completed")
}

func TestTriggerGuardSeesEventAndMatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"big.yaml": `name: big
triggers:
  - keyword: { pattern: "^order ([0-9]+)$" }
    if: len(event.match[1]) > 3
steps:
  - send: "big order ${event.match[1]}"
`,
		"small.yaml": `name: small
triggers:
  - keyword: { pattern: "^order ([0-9]+)$" }
steps:
  - send: "small order ${event.match[1]}"
`,
	})
	h.say("order 12")
	h.say("order 12345")
	h.wantTranscript("small order 12 | big order 12345")
}

func TestTriggerAccountRestriction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"shop.yaml":  "account: shop\n" + flowSending("shop", "- keyword: [hi]"),
		"other.yaml": flowSending("other", "- message:\n    priority: -1"),
	})
	h.say("hi") // main: the shop flow is not a candidate
	h.send(channels.Event{Account: "shop", Kind: channels.Text, Text: "hi"})
	var accounts []string
	for _, r := range h.runs("") {
		accounts = append(accounts, r.Account+":"+r.Flow)
	}
	if got := statuses(h.runs("")); got != "other:completed shop:completed" || accounts[0] != "main:other" || accounts[1] != "shop:shop" {
		t.Fatalf("runs %s, accounts %v", got, accounts)
	}
}

func TestTriggerKeywordWordsAndPattern(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"greet.yaml": flowSending("greet", "- keyword: [hi, hello, 你好]"),
		"order.yaml": `name: order
triggers:
  - keyword: { pattern: "^order ([0-9]+)(?: (\\w+))?$" }
steps:
  - send: "order=${event.match[1]} note=${event.match[2]} all=${event.match[0]} text=${event.text}"
`,
	})
	h.say("  HeLLo \n") // whole trimmed message, case-insensitive
	h.say("你好")
	h.say("hi there") // not the whole message: nothing
	h.say("order 42")
	h.say(" order 7 fast ")
	h.say("Order 42") // patterns are as written: case-sensitive
	h.wantTranscript("greet | greet | order=42 note= all=order 42 text=order 42 | order=7 note=fast all=order 7 fast text=order 7 fast")
	if n := len(h.runs("")); n != 4 {
		t.Fatalf("%d runs, want 4", n)
	}
}

func TestTriggerMessageTypeFilter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"photos.yaml": flowSending("photos", "- message:\n    type: image"),
		"places.yaml": flowSending("places", "- message:\n    type: location"),
		"texts.yaml":  flowSending("texts", "- message:\n    type: text"),
	})
	h.send(channels.Event{Kind: channels.Image, MediaID: "m1"})
	h.send(channels.Event{Kind: channels.Voice, MediaID: "v1"}) // no flow takes voice
	h.send(channels.Event{Kind: channels.Location, Location: &channels.Geo{Lat: 31.2, Lng: 121.5}})
	h.say("hello")
	h.wantTranscript("photos | places | texts")
}

func TestTriggerFollowSceneAndScan(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: "welcome scene=${event.scene}"
`,
		"store-follow.yaml": `name: store-follow
triggers: [{follow: "store_*"}]
steps:
  - send: "new follower from ${event.scene}"
`,
		"poster.yaml": `name: poster
triggers: [{scan: "poster_*"}]
steps:
  - send: "scanned ${event.scene} (${event.type})"
`,
	})
	h.follow("")         // plain follow: the bare follow trigger
	h.follow("store_1")  // follow through a store's QR code
	h.follow("poster_9") // a follow through a QR code is a scan too
	h.scan("poster_2")   // a follower scans
	h.scan("store_1")    // a scan is no follow: `follow: store_*` does not take it
	h.scan("elsewhere")  // nothing
	h.wantTranscript("welcome scene= | new follower from store_1 | scanned poster_9 (follow) | scanned poster_2 (scan)")
}

func TestTriggerMenuGlob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"menus.yaml": `name: menus
triggers: [{menu: "MENU_*"}]
steps:
  - send: "menu ${event.key}"
`,
	})
	h.menu("MENU_NEW")
	h.menu("MENU_HELP")
	h.menu("OTHER_MENU")
	h.send(channels.Event{Kind: channels.View, Key: "https://example.com"}) // a link click starts nothing
	h.wantTranscript("menu MENU_NEW | menu MENU_HELP")
}

func TestTriggerOneFlowPerEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"a.yaml": flowSending("a", "- follow"),
		"b.yaml": flowSending("b", "- follow"),
		"c.yaml": flowSending("c", "- follow", "- message"),
	})
	h.follow("")
	h.say("x")
	h.wantRuns("a:completed c:completed")
}

// Cooldown and reentry.

func TestCooldown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"away.yaml": `name: away
cooldown: 12h
triggers:
  - message:
    priority: -10
steps:
  - send: "away"
`,
		"fallback.yaml": `name: fallback
triggers:
  - message:
    priority: -20
steps:
  - send: "fallback"
`,
	})
	h.say("one")
	h.advance(11 * time.Hour)
	h.say("two") // away is cooling down: the next candidate starts
	h.advance(59 * time.Minute)
	h.say("three") // still within 12h of the first start
	h.advance(time.Minute)
	h.say("four") // 12h and a few seconds after: allowed again
	h.say("five")
	h.wantTranscript("away | fallback | fallback | away | fallback")
	h.wantRuns("away:completed fallback:completed fallback:completed away:completed fallback:completed")
}

func TestCooldownWithoutOtherCandidateStartsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"help.yaml": `name: menu
cooldown: 1h
triggers: [{menu: MENU_HELP}]
steps:
  - send: "help"
`,
	})
	h.menu("MENU_HELP")
	h.menu("MENU_HELP")
	h.advance(time.Hour)
	h.menu("MENU_HELP")
	h.wantRuns("menu:completed menu:completed")
}

func TestReentryIgnoreKeepsTheRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"drip.yaml": `name: drip
triggers: [{keyword: [start]}]
steps:
  - send: "first"
  - wait: 1h
  - send: "second"
`,
	})
	h.say("start")
	h.say("start") // reentry defaults to ignore
	h.wantRuns("drip:waiting_time")
	h.advance(time.Hour)
	h.wantRuns("drip:completed")
	h.wantTranscript("first | second")
}

func TestReentryRestartEndsTheOldRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"drip.yaml": `name: drip
reentry: restart
triggers: [{keyword: [start]}]
steps:
  - send: "first"
  - wait: 1h
  - send: "second"
`,
	})
	h.say("start")
	h.advance(30 * time.Minute)
	h.say("start")
	h.wantRuns("drip:restarted drip:waiting_time")
	if r := h.runs("drip")[0]; r.EndedAt.IsZero() || r.State.Error == "" {
		t.Fatalf("restarted run: ended %v, why %q", r.EndedAt, r.State.Error)
	}
	h.advance(30 * time.Minute) // the old run's timer is gone
	h.wantTranscript("first | first")
	h.advance(30 * time.Minute)
	h.wantRuns("drip:restarted drip:completed")
	h.wantTranscript("first | first | second")
}

// Dedupe.

func TestDedupeSameMessageTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"echo.yaml": flowSending("echo", "- message")})
	ev := channels.Event{Kind: channels.Text, Text: "hi", MsgID: "777"}
	h.send(ev)
	h.send(ev)
	h.clock.Advance(time.Minute)
	ev.At = time.Time{} // a retry later, same message id
	h.send(ev)
	h.wantRuns("echo:completed")
	h.wantTranscript("echo")
}

func TestDedupeSameEventTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"welcome.yaml": flowSending("welcome", "- follow", "- menu: MENU_HELP")})
	follow := channels.Event{Kind: channels.Follow, At: h.clock.Now()}
	h.send(follow)
	h.send(follow)
	click := channels.Event{Kind: channels.MenuClick, Key: "MENU_HELP", At: h.clock.Now().Add(5 * time.Second)}
	h.send(click)
	h.send(click)
	h.wantRuns("welcome:completed welcome:completed")
	var counts map[string]int
	h.view(func(tx engine.ReadTx) error {
		var err error
		counts, err = tx.Counts()
		return err
	})
	if counts["events"] != 2 {
		t.Fatalf("%d events stored, want 2", counts["events"])
	}
}

func TestDedupeConcurrentRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"echo.yaml": flowSending("echo", "- message")})
	ev := channels.Event{Account: "main", Contact: "alice", Kind: channels.Text, Text: "hi", MsgID: "1"}
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- h.e.Ingest(h.ctx, ev) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h.sync()
	h.wantRuns("echo:completed")
	h.wantTranscript("echo")
}

func TestTriggerScanOfAFlowWithAFollowSceneToo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		// Its exact follow scene would stand in for its scan glob in the
		// index: a scan must still find the scan trigger.
		"store.yaml": `name: store
triggers:
  - follow: store_1
  - scan: store_*
steps:
  - send: "store ${event.type} ${event.scene}"
`,
		"any.yaml": `name: any
triggers:
  - scan: "*"
    priority: -1
steps:
  - send: "any ${event.scene}"
`,
	})
	h.follow("store_1")
	h.scan("store_1")
	h.scan("other")
	h.wantTranscript("store follow store_1 | store scan store_1 | any other")
}
