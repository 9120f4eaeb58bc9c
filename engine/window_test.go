package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
)

// WeChat's window and quota, through the engine and the simulated channel.

// burst is a flow that sends six numbered messages, each showing the
// quota left before it, when a follow, a menu click or "burst" starts it.
const burst = `name: burst
triggers: [follow, {menu: MENU_BURST}, {keyword: [burst]}]
steps:
  - send: "1 (${contact.window.quota_left} left)"
  - send: "2 (${contact.window.quota_left} left)"
  - send: "3 (${contact.window.quota_left} left)"
  - send: "4 (${contact.window.quota_left} left)"
  - send: "5 (${contact.window.quota_left} left)"
  - send: "6 (${contact.window.quota_left} left)"
`

func TestWindowThreeRepliesAfterAnEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"burst.yaml": burst})
	h.follow("")
	h.wantTranscript("1 (3 left) | 2 (2 left) | 3 (1 left) | 4 (0 left) [failed quota_exhausted] | 5 (0 left) [failed quota_exhausted] | 6 (0 left) [failed quota_exhausted]")
	if n := len(h.ch.DeliveredTo("main", "alice")); n != 3 {
		t.Fatalf("%d delivered, want 3", n)
	}
	for _, o := range h.outbox()[3:] {
		if o.Status != engine.OutboxFailed || o.Reason != channels.ReasonQuotaExhausted || !strings.Contains(o.Detail, "3 of the 3") {
			t.Fatalf("entry %+v", o)
		}
	}
}

func TestWindowFiveRepliesAfterAMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"burst.yaml": burst})
	h.say("burst")
	h.wantTranscript("1 (5 left) | 2 (4 left) | 3 (3 left) | 4 (2 left) | 5 (1 left) | 6 (0 left) [failed quota_exhausted]")
}

func TestWindowMenuClickIsAnEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"burst.yaml": burst})
	h.menu("MENU_BURST")
	if got := h.transcript(); strings.Count(got, "quota_exhausted") != 3 {
		t.Fatalf("outbox %q", got)
	}
}

func TestWindowResetByANewInteraction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"chat.yaml": `name: chat
triggers: [follow]
steps:
  - send: "a"
  - send: "b"
  - send: "c"
  - ask: "d?"
  - send: "e ${contact.window.quota_left}"
  - send: "f"
  - send: "g"
  - send: "h"
  - send: "i"
  - send: "j"
`,
	})
	h.follow("")
	h.say("answer") // a message: a fresh window with 5
	h.wantTranscript("a | b | c | d? [failed quota_exhausted] | e 5 | f | g | h | i | j [failed quota_exhausted]")
}

func TestWindowUsedUpThenReset(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"burst.yaml": burst})
	h.follow("")
	h.advance(time.Hour)
	h.menu("MENU_BURST") // three again, not what was left of the follow's
	h.say("burst")
	got := strings.Split(h.transcript(), " | ")
	var sent []string
	for _, s := range got {
		if !strings.Contains(s, "[") {
			sent = append(sent, s[:1])
		}
	}
	if strings.Join(sent, "") != "123"+"123"+"12345" {
		t.Fatalf("sent %v of %q", sent, got)
	}
}

func TestWindowExpiresAfter48Hours(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"later.yaml": `name: later
triggers: [{keyword: [later]}]
steps:
  - send: "now"
  - wait: 47h59m
  - send: "still open: ${contact.window.open}, until ${contact.window.expires_at.Format('15:04')}"
  - wait: 1m
  - send: "too late"
  - set: { vars.open: "${contact.window.open}", vars.left: "${contact.window.quota_left}" }
`,
	})
	h.say("later")
	h.advance(47*time.Hour + 59*time.Minute)
	h.advance(time.Minute)
	h.wantTranscript("now | still open: true, until 10:00 | too late [failed window_closed]")
	if r := h.only("later"); r.State.Vars["open"] != false || r.State.Vars["left"] != float64(0) {
		t.Fatalf("vars %v", r.State.Vars)
	}
	o := h.outbox()[2]
	if o.Status != engine.OutboxFailed || o.Reason != channels.ReasonWindowClosed || !strings.Contains(o.Detail, "48h") {
		t.Fatalf("entry %+v", o)
	}
	// A new message opens a new window.
	h.say("later")
	if got := h.transcript(); !strings.HasSuffix(got, "too late [failed window_closed] | now") {
		t.Fatalf("outbox %q", got)
	}
}

func TestWindowSettingsAreConfigurable(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, map[string]string{"burst.yaml": burst}, opts{
		def: wechat.Settings{MessageQuota: 20, EventQuota: 2, EventWindow: time.Minute},
	})
	h.say("burst")
	if got := h.transcript(); strings.Contains(got, "failed") {
		t.Fatalf("20 replies after a message: %q", got)
	}
	h.follow("")
	if got := h.transcript(); strings.Count(got, "quota_exhausted") != 4 {
		t.Fatalf("2 replies after an event: %q", got)
	}
}

func TestWindowUnfollowClosesIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"drip.yaml": `name: drip
triggers: [follow]
steps:
  - send: "hi"
  - wait: 1h
  - send: "not sent"
`,
		"bye.yaml": `name: bye
triggers: [unfollow]
steps:
  - send: "bye"
  - send: "bye again"
`,
	})
	h.follow("")
	h.unfollow()
	h.advance(time.Hour)
	h.wantTranscript("hi | bye [failed unfollowed] | bye again [failed unfollowed]")
	h.wantRuns("drip:unfollowed bye:completed")
	if s := h.session("alice"); s.Followed || !s.Closed {
		t.Fatalf("session after unfollow %+v", s)
	}
}

func TestWindowPlatformRefusalClosesTheSession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reason channels.Reason
		code   int
	}{
		{channels.ReasonWindowClosed, 45015},
		{channels.ReasonQuotaExhausted, 45047},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - send: "first"
  - wait: 1m
  - send: "second ${contact.window.open}"
  - send: "third"
`})
			h.ch.FailNext(1, &channels.Refusal{Reason: tc.reason, Code: tc.code, Detail: "WeChat said no"})
			h.say("go")
			h.advance(time.Minute)
			h.wantTranscript(fmt.Sprintf("first [failed %s] | second false [failed window_closed] | third [failed window_closed]", tc.reason))
			out := h.outbox()
			if out[0].Code != tc.code || out[0].Detail != "WeChat said no" || out[1].Code != 0 || !strings.Contains(out[1].Detail, "WeChat closed the session") {
				t.Fatalf("entries %+v %+v", out[0], out[1])
			}
			if n := len(h.ch.DeliveredTo("main", "alice")); n != 0 {
				t.Fatalf("%d delivered", n)
			}
			h.say("go again") // the next interaction opens it again
			h.say("go")
			h.wantRuns("f:completed f:waiting_time")
			if got := h.transcript(); !strings.HasSuffix(got, " | first") {
				t.Fatalf("outbox %q", got)
			}
		})
	}
}

func TestWindowOtherAPIErrorsKeepTheSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - send: "first"
  - wait: 1m
  - send: "second"
`})
	h.ch.FailNext(1, &channels.Refusal{Reason: channels.ReasonAPIError, Code: 40001, Detail: "invalid credential"})
	h.say("go")
	h.advance(time.Minute)
	h.wantTranscript("first [failed api_error] | second")
	if o := h.outbox()[0]; o.Code != 40001 {
		t.Fatalf("entry %+v", o)
	}
}

func TestWindowUnknownOutcomeIsNotSentAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - send: "first"
  - wait: 1m
  - send: "second"
`})
	h.ch.FailNext(1, fmt.Errorf("read tcp: timeout: %w", channels.ErrUnknown))
	h.say("go")
	h.advance(time.Minute)
	h.restart(map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - send: "first"
  - wait: 1m
  - send: "second"
`})
	h.sync()
	h.wantTranscript("first [unknown] | second")
	if got := h.ch.DeliveredTo("main", "alice"); len(got) != 1 || got[0].Message.Text != "second" {
		t.Fatalf("delivered %+v", got)
	}
}

func TestWindowPerContact(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"burst.yaml": burst})
	h.say("burst")
	h.sayAs("bob", "burst")
	for _, c := range []string{"alice", "bob"} {
		if got := transcript(h.outboxOf(c)); strings.Count(got, "quota_exhausted") != 1 {
			t.Fatalf("%s: %q", c, got)
		}
	}
}

// TestWindowPlatformRefusalFailsTheRoundsOthers: a contact's messages
// sent in the same round after WeChat refused one for the window or the
// quota fail here with that reason, not sent to be refused again (they
// went to WeChat: the session closed only once the round was recorded).
func TestWindowPlatformRefusalFailsTheRoundsOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - send: "first"
  - send: "second"
  - send: "third"
`})
	h.ch.FailNext(1, &channels.Refusal{Reason: channels.ReasonWindowClosed, Code: 45015, Detail: "WeChat said no"})
	h.say("go")
	h.sync()
	h.wantTranscript("first [failed window_closed] | second [failed window_closed] | third [failed window_closed]")
	out := h.outbox()
	for _, o := range out[1:] {
		if o.Code != 0 || !strings.Contains(o.Detail, "not sent: WeChat refused an earlier message to this contact (errcode 45015)") {
			t.Errorf("entry %+v", o)
		}
	}
	// (The channel failed one send only: any other tried was delivered.)
	if n := len(h.ch.DeliveredTo("main", "alice")); n != 0 {
		t.Fatalf("%d delivered after WeChat refused the first", n)
	}
}

// TestFirstSeenThroughAMenuLinkFollows: a contact first seen through a
// menu link opened or a location report (only followers send those)
// follows, with no window open: they were stored as not following, so
// the console said "unfollowed" and schedules skipped them.
func TestFirstSeenThroughAMenuLinkFollows(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": "name: f\ntriggers: [{keyword: [go]}]\nsteps:\n  - send: hi\n"})
	for _, ev := range []channels.Event{
		{Account: "main", Contact: "viewer", Kind: channels.View, Key: "https://shop.example.com/", MsgID: "v1"},
		{Account: "main", Contact: "locator", Kind: channels.LocationReport, Location: &channels.Geo{Lat: 31.2, Lng: 121.5}, MsgID: "l1"},
		{Account: "main", Contact: "other", Kind: channels.Other, MsgID: "o1"},
	} {
		h.ingest(ev)
		s := h.session(ev.Contact)
		c := h.contact(ev.Contact)
		want := ev.Kind != channels.Other
		if c.Followed != want || s.Followed != want || !s.Last.IsZero() {
			t.Errorf("%s first seen through %s: contact followed %v, session %+v; want followed %v, no window", ev.Contact, ev.Kind, c.Followed, s, want)
		}
	}
}

// TestTimersAfterAClockJumpForward: a clock that jumps forward (an NTP
// fix after a VM resumes) fires every timer it passed at once, each send
// checked against the window at the new time: the window opened 48h30m
// before has closed, the one opened 1h30m before has not.
func TestTimersAfterAClockJumpForward(t *testing.T) {
	t.Parallel()
	clock := &jumpClock{}
	// Alice's wait ends past her window, Bob's within his; neither is
	// due before the jump (the timer loop, woken by Bob's event, would
	// fire a timer due then by itself).
	h := newHarnessWith(t, map[string]string{"later.yaml": `name: later
triggers: [{keyword: [later]}]
steps:
  - wait: 1h
  - send: "an hour later"
`, "much.yaml": `name: much
triggers: [{keyword: [much]}]
steps:
  - wait: 48h15m
  - send: "an hour later"
`}, opts{tune: clock.over})
	h.send(channels.Event{Kind: channels.Text, Contact: "alice", Text: "much", At: clock.Now()})
	clock.off.Store(int64(47 * time.Hour))
	h.send(channels.Event{Kind: channels.Text, Contact: "bob", Text: "later", At: clock.Now()})
	clock.off.Store(int64(48*time.Hour + 30*time.Minute))
	h.fire()
	if got := h.transcript(); got != "an hour later [failed window_closed]" {
		t.Fatalf("alice's %q", got)
	}
	if got := transcript(h.outboxOf("bob")); got != "an hour later" {
		t.Fatalf("bob's %q", got)
	}
	if n := len(h.runs("")); n != 2 {
		t.Fatalf("%d runs", n)
	}
	for _, r := range h.runs("") {
		if r.Status.Active() {
			t.Fatalf("run of %s %s after the jump", r.Contact, r.Status)
		}
	}
	clock.off.Store(0) // and back: nothing fires again
	h.fire()
	if got := h.transcript() + " / " + transcript(h.outboxOf("bob")); got != "an hour later [failed window_closed] / an hour later" {
		t.Fatalf("after the jump back %q", got)
	}
}

// TestLateRetryAfterAnUnfollowDoesNotFollowAgain: WeChat's retry of a
// message whose first tries got no answer in time arrives after the
// contact's unfollow was stored. The message is stored and flows see it,
// but the contact stays unfollowed, with no window and no conversation
// opened: the flow's reply is refused here (unfollowed), not sent to be
// refused by WeChat (43004). (The retry made the contact a follower
// again, with a new window.) A follow afterwards, as always, counts.
func TestLateRetryAfterAnUnfollowDoesNotFollowAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": "name: f\ntriggers: [{keyword: [price]}]\nsteps:\n  - send: \"10 yuan\"\n"})
	h.say("hello")
	wrote := h.clock.Now()
	h.clock.Advance(20 * time.Second)
	h.unfollow()
	h.clock.Advance(5 * time.Second)
	h.send(channels.Event{Kind: channels.Text, Text: "price", MsgID: "late-1", At: wrote.Add(10 * time.Second)})
	if c, s := h.contact("alice"), h.session("alice"); c.Followed || s.Followed || !s.Closed || c.Conv.Status == engine.ConvOpen {
		t.Fatalf("after the late retry: contact followed %v, conversation %q, session %+v; want unfollowed, closed", c.Followed, c.Conv.Status, s)
	}
	h.wantTranscript("10 yuan [failed unfollowed]")
	if got := h.ch.DeliveredTo("main", "alice"); len(got) != 0 {
		t.Fatalf("delivered %+v", got)
	}
	// Following again opens a window, whatever the clocks say.
	h.send(channels.Event{Kind: channels.Follow, At: wrote.Add(15 * time.Second)})
	if c, s := h.contact("alice"), h.session("alice"); !c.Followed || !s.Followed || s.Closed {
		t.Fatalf("after following again: contact followed %v, session %+v", c.Followed, s)
	}
}
