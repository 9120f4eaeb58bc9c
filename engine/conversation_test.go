package engine_test

import (
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// The conversation rules: at most one run waits for an answer; texts
// answer it unless an interrupting trigger matches; events take the
// conversation over; runs that only wait keep going.

// asker is a flow that asks for a name when a trigger starts it.
const asker = `name: asker
triggers: [{keyword: [name]}]
steps:
  - ask: "Your name?"
    save: vars.name
  - send: "Hi ${vars.name}"
`

func TestConversationTextAnswersTheWaitingAsk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		"echo.yaml":  flowSending("echo", "- message"),
		"greet.yaml": flowSending("greet", "- keyword: [hello]"),
	})
	h.say("name")
	h.say("hello") // matches a keyword without interrupt: it is the answer
	h.wantTranscript("Your name? | Hi hello")
	h.say("hello") // no ask waits: the keyword starts its flow
	h.say("name")
	h.say("Alice") // would start echo, but answers
	h.wantTranscript("Your name? | Hi hello | greet | Your name? | Hi Alice")
	h.wantRuns("asker:completed greet:completed asker:completed")
}

func TestConversationInterruptingKeywordTakesOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		"stop.yaml": `name: stop
triggers:
  - keyword: [stop]
    interrupt: true
steps:
  - send: "stopped"
`,
	})
	h.say("name")
	h.say("STOP")
	h.wantRuns("asker:interrupted stop:completed")
	r := h.runs("asker")[0]
	if r.EndedAt.IsZero() || r.State.Error != "stop took the conversation over" {
		t.Fatalf("interrupted run: ended %v, why %q", r.EndedAt, r.State.Error)
	}
	h.say("Alice") // nobody waits any more
	h.advance(25 * time.Hour)
	h.wantTranscript("Your name? | stopped")
	h.wantRuns("asker:interrupted stop:completed")
}

func TestConversationEventsTakeOver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		do   func(h *harness)
		flow string
	}{
		{"follow", func(h *harness) { h.follow("") }, "welcome"},
		{"scan", func(h *harness) { h.scan("store_1") }, "store"},
		{"menu", func(h *harness) { h.menu("MENU_NEW") }, "news"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, map[string]string{
				"asker.yaml":   asker,
				"welcome.yaml": flowSending("welcome", "- follow"),
				"store.yaml":   flowSending("store", "- scan: store_*"),
				"news.yaml":    flowSending("news", "- menu: MENU_NEW"),
			})
			h.say("name")
			tc.do(h)
			h.wantRuns("asker:interrupted " + tc.flow + ":completed")
			h.say("Alice")
			h.wantTranscript("Your name? | " + tc.flow)
		})
	}
}

func TestConversationEventThatAsksTakesOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		"survey.yaml": `name: survey
triggers: [{menu: MENU_SURVEY}]
steps:
  - ask: "Rate us 1-5"
    expect: number
    save: vars.rating
  - send: "Thanks for ${vars.rating}"
`,
	})
	h.say("name")
	h.menu("MENU_SURVEY")
	h.say("4") // answers the survey, the newer ask
	h.wantRuns("asker:interrupted survey:completed")
	h.wantTranscript("Your name? | Rate us 1-5 | Thanks for 4")
}

func TestConversationMenuWithoutInterruptWaits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		"news.yaml": `name: news
triggers:
  - menu: MENU_NEW
    interrupt: false
steps:
  - send: "news"
`,
	})
	h.say("name")
	h.menu("MENU_NEW") // does not start while the ask waits, and is no answer
	h.wantRuns("asker:waiting_reply")
	h.say("Alice")
	h.menu("MENU_NEW") // nobody waits now
	h.wantRuns("asker:completed news:completed")
	h.wantTranscript("Your name? | Hi Alice | news")
}

func TestConversationMessageMenuTapAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"pick.yaml": `name: pick
triggers: [{keyword: [pick]}]
steps:
  - ask:
      menu:
        head: "Pick one"
        items: [{id: red, text: Red}, {id: blue, text: Blue}]
    expect: choice
    choices: { red: [r, red], blue: [b, blue] }
    save: vars.color
  - send: "You picked ${vars.color}"
`,
		"news.yaml": flowSending("news", "- menu: \"*\""),
	})
	h.say("pick")
	// A tap on a message-menu item: a menu interaction carrying the text.
	h.send(channels.Event{Kind: channels.MenuClick, Key: "blue", Text: "Blue", MsgID: "tap1"})
	h.wantRuns("pick:completed")
	h.wantTranscript("menu: | You picked blue")
}

func TestConversationWaitingRunsKeepGoing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"drip.yaml": `name: drip
triggers: [{keyword: [drip]}]
steps:
  - wait: 1h
  - send: "drip"
`,
		"asker.yaml": asker,
		"news.yaml":  flowSending("news", "- menu: MENU_NEW"),
	})
	h.say("drip")
	h.say("name")      // an ask starts beside the waiting run
	h.menu("MENU_NEW") // an event takes the conversation from the ask only
	h.wantRuns("drip:waiting_time asker:interrupted news:completed")
	h.advance(time.Hour)
	h.wantRuns("drip:completed asker:interrupted news:completed")
	h.wantTranscript("Your name? | news | drip")
}

func TestConversationOneRunWaitsForAnAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		// A flow started by another, or by a schedule, that asks takes
		// the conversation over as well.
		"later.yaml": `name: later
triggers: [{keyword: [later]}]
steps:
  - wait: 1h
  - ask: "Still there?"
    save: vars.answer
  - send: "Good: ${vars.answer}"
`,
		"chain.yaml": `name: chain
triggers: [{keyword: [chain]}]
steps:
  - start: asker
  - ask: "Chain question?"
`,
	})
	h.say("later")
	h.say("name")
	h.advance(time.Hour) // later asks: asker ends interrupted
	h.wantRuns("later:waiting_reply asker:interrupted")
	h.say("yes")
	h.wantRuns("later:completed asker:interrupted")

	// chain asks, then the flow it started asks: the later ask wins.
	h.say("chain")
	h.wantRuns("later:completed asker:interrupted chain:interrupted asker:waiting_reply")
	h.say("Bob")
	h.wantTranscript("Your name? | Still there? | Good: yes | Chain question? | Your name? | Hi Bob")
	var waiting int
	for _, r := range h.runs("") {
		if r.Status == "waiting_reply" {
			waiting++
		}
	}
	if waiting != 0 {
		t.Fatalf("%d runs wait for an answer", waiting)
	}
}

func TestConversationAnswerFromAnotherContactIsTheirs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"asker.yaml": asker, "echo.yaml": flowSending("echo", "- message")})
	h.say("name")
	h.sayAs("bob", "Bob")
	h.wantRuns("asker:waiting_reply echo:completed")
	if got := transcript(h.outboxOf("bob")); got != "echo" {
		t.Fatalf("bob got %q", got)
	}
}

// Unfollow.

func TestUnfollowEndsEveryRunBeforeTheUnfollowFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		"drip.yaml": `name: drip
triggers: [{keyword: [drip]}]
steps:
  - wait: 1h
  - send: "drip"
`,
		"goodbye.yaml": `name: goodbye
triggers: [unfollow]
steps:
  - tag: [left]
  - set: { vars.open: "${contact.window.open}", contact.fields.followed: "${contact.followed}" }
  - send: "Sorry to see you go"
    on_fail: gone
  - send: "not reached"
  - id: gone
    tag: [unreachable]
`,
	})
	h.say("drip")
	h.say("name")
	h.unfollow()
	h.wantRuns("drip:unfollowed asker:unfollowed goodbye:completed")
	runs := h.runs("")
	if runs[0].EndedAt.After(runs[2].StartedAt) || runs[1].EndedAt.After(runs[2].StartedAt) {
		t.Fatalf("runs ended after the goodbye flow started")
	}
	if runs[2].State.Vars["open"] != false {
		t.Fatalf("goodbye saw the window open: %v", runs[2].State.Vars)
	}
	c := h.contact("alice")
	if c.Followed || c.Fields["followed"] != false || !c.HasTag("left") || !c.HasTag("unreachable") {
		t.Fatalf("contact after unfollow: %+v", c)
	}
	h.advance(2 * time.Hour) // the drip's timer is gone
	h.wantTranscript("Your name? | Sorry to see you go [failed unfollowed]")
}

func TestUnfollowThenFollowAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"welcome.yaml": flowSending("welcome", "- follow"),
		"goodbye.yaml": flowSending("goodbye", "- unfollow"),
	})
	h.follow("")
	h.unfollow()
	h.follow("")
	h.wantRuns("welcome:completed goodbye:completed welcome:completed")
	h.wantTranscript("welcome | goodbye [failed unfollowed] | welcome")
	if c := h.contact("alice"); !c.Followed {
		t.Fatal("contact does not follow after following again")
	}
}

func TestConversationBlockedInterruptLeavesTheAsk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		"news.yaml": `name: news
cooldown: 1h
triggers: [{menu: MENU_NEW}]
steps:
  - send: "news"
`,
		"stop.yaml": `name: stop
triggers:
  - keyword: [stop]
    interrupt: true
    if: '"admin" in contact.tags'
steps:
  - send: "stopped"
`,
	})
	h.menu("MENU_NEW")
	h.say("name")
	h.menu("MENU_NEW") // news is cooling down: it does not start and interrupts nothing
	h.say("stop")      // the interrupting keyword's guard is false: an answer
	h.wantRuns("news:completed asker:completed")
	h.wantTranscript("news | Your name? | Hi stop")
}

func TestConversationInterruptingFlowMayStartTheAskAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"asker.yaml": asker,
		"again.yaml": `name: again
triggers:
  - keyword: [again]
    interrupt: true
steps:
  - start: asker
  - send: "again"
`,
	})
	h.say("name")
	h.say("again") // interrupts the ask; its start: of asker starts a new one
	h.wantRuns("asker:interrupted again:completed asker:waiting_reply")
	h.say("Alice")
	h.wantTranscript("Your name? | again | Your name? | Hi Alice")
}
