package engine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/steps"
)

// The rules of "Conversations and people" (FLOW-LANGUAGE.md), at the
// engine: who holds a conversation decides who answers the contact.

const handoffFlow = `name: handoff
triggers:
  - menu: MENU_HUMAN
steps:
  - assign: { team: support, pick: round_robin }
    on_fail: nobody
  - send: "${conversation.assignee} will answer you here."
  - end
  - id: nobody
    assign: { team: support }
  - send: "Everyone is busy."
`

// people declares amy and bob of team support (always on shift) and cy
// of team sales.
func people(c *engine.Config) {
	c.People = engine.People{
		Operators: []engine.Operator{{Name: "amy", Teams: []string{"support"}}, {Name: "bob", Teams: []string{"support"}}, {Name: "cy", Teams: []string{"sales"}}},
		Teams:     map[string]*steps.Hours{"support": nil, "sales": nil},
	}
}

func newPeopleHarness(t *testing.T, files map[string]string) *harness {
	t.Helper()
	return newHarnessWith(t, files, opts{tune: people})
}

func (h *harness) act(contact string, a engine.Action) (*engine.ActResult, error) {
	h.t.Helper()
	res, err := h.e.Act(h.ctx, engine.ContactRef{Account: "main", ID: contact}, a)
	h.sync()
	return res, err
}

func (h *harness) mustAct(contact string, a engine.Action) *engine.ActResult {
	h.t.Helper()
	res, err := h.act(contact, a)
	if err != nil {
		h.t.Fatalf("%s: %v", a.Kind, err)
	}
	return res
}

func (h *harness) wantConv(contact, status, operator, team string) {
	h.t.Helper()
	c := h.contact(contact).Conv
	st := string(c.Status)
	if st == "" {
		st = "closed"
	}
	if st != status || c.Operator != operator || c.Team != team {
		h.t.Fatalf("conversation of %s: %s %q %q, want %s %q %q", contact, st, c.Operator, c.Team, status, operator, team)
	}
}

func text(s string) *channels.Message { return &channels.Message{Type: "text", Text: s} }

func TestPeopleHoldTheConversation(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{
		"handoff.yaml": handoffFlow,
		"echo.yaml":    flowSending("echo", "- message"),
		"stop.yaml":    flowSending("stop", "- keyword: [stop]\n    interrupt: true"),
		"asker.yaml":   asker,
	})
	h.say("name") // opens the conversation; asker waits for an answer
	h.wantConv("alice", "open", "", "")
	h.menu("MENU_HUMAN")
	h.wantTranscript("Your name? | amy will answer you here.")
	h.wantConv("alice", "open", "amy", "support")
	// The ask from before the assignment ended (the event took the
	// conversation over from it first: interrupted).
	h.clock.Advance(time.Second)
	h.say("My parcel is late")
	h.wantTranscript("Your name? | amy will answer you here.")
	h.wantNote("a person holds the conversation", "assigned to amy (support)")
	// An interrupting keyword still runs; the assignment stays.
	h.clock.Advance(time.Second)
	h.say("stop")
	h.wantTranscript("Your name? | amy will answer you here. | stop")
	h.wantConv("alice", "open", "amy", "support")
	// The operator replies, comments and closes: flows answer again.
	h.clock.Advance(time.Second)
	h.mustAct("alice", engine.Action{Kind: engine.ActReply, Operator: "amy", Message: text("Sorry! Let me check.")})
	h.clock.Advance(time.Second)
	h.mustAct("alice", engine.Action{Kind: engine.ActComment, Operator: "amy", Text: "courier delayed"})
	h.clock.Advance(time.Second)
	h.mustAct("alice", engine.Action{Kind: engine.ActClose, Operator: "amy", Note: "solved"})
	h.clock.Advance(time.Second)
	h.wantConv("alice", "closed", "", "")
	if c := h.contact("alice").Conv; c.Note != "solved" || c.ClosedBy != "operator amy" || c.ClosedAt.IsZero() {
		t.Fatalf("closed conversation: %+v", c)
	}
	h.say("thanks")
	h.wantTranscript("Your name? | amy will answer you here. | stop | Sorry! Let me check. | echo")
	items, err := h.e.Transcript(h.ctx, engine.ContactRef{Account: "main", ID: "alice"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		switch {
		case it.Event != nil:
			got = append(got, "in:"+string(it.Event.Event.Kind)+":"+it.Event.Event.Text+it.Event.Event.Key)
		case it.Outbox != nil:
			got = append(got, "out("+it.From+"):"+it.Outbox.Message.Text)
		case it.Note != nil:
			got = append(got, "note("+it.Note.By+"):"+it.Note.Text)
		}
	}
	want := []string{
		"in:text:name", "out(flow asker):Your name?",
		"in:menu:MENU_HUMAN", "note(flow handoff):assigned to amy (support)", "out(flow handoff):amy will answer you here.",
		"in:text:My parcel is late",
		"in:text:stop", "out(flow stop):stop",
		"out(operator amy):Sorry! Let me check.", "note(operator amy):courier delayed", "note(operator amy):closed: solved",
		"in:text:thanks", "out(flow echo):echo",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("transcript:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAssignEndsTheWaitingAskAsHandedOver(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{"asker.yaml": asker, "echo.yaml": flowSending("echo", "- message")})
	h.say("name")
	h.mustAct("alice", engine.Action{Kind: engine.ActAssign, Operator: "bob", Handover: steps.Handover{Operator: "bob"}})
	h.wantRuns("asker:handed_over")
	h.say("Alice") // answers nothing, starts nothing
	h.wantTranscript("Your name?")
	h.mustAct("alice", engine.Action{Kind: engine.ActAssign, Operator: "bob", Handover: steps.Handover{None: true}})
	h.wantConv("alice", "open", "", "")
	h.say("again")
	h.wantTranscript("Your name? | echo")
}

func TestAskOfARunStartedWhileHeldTakesTheAnswer(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{
		"survey.yaml": `name: survey
triggers: [{menu: RATE}]
steps:
  - ask: "Rate us 1-5"
    expect: number
    save: vars.n
  - send: "Thanks for ${vars.n}"
`})
	h.say("hi")
	h.mustAct("alice", engine.Action{Kind: engine.ActAssign, Handover: steps.Handover{Team: "support"}})
	h.wantConv("alice", "open", "", "support")
	h.menu("RATE")
	h.say("5")
	h.wantTranscript("Rate us 1-5 | Thanks for 5")
	h.wantConv("alice", "open", "", "support")
}

func TestRoundRobinTakesOnShiftOperatorsInTurn(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{"handoff.yaml": handoffFlow})
	assignee := func(contact string) string {
		h.send(channels.Event{Kind: channels.MenuClick, Contact: contact, Key: "MENU_HUMAN"})
		return h.contact(contact).Conv.Operator
	}
	var got []string
	for _, c := range []string{"c1", "c2", "c3"} {
		got = append(got, assignee(c))
	}
	if err := h.e.SetAway(h.ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	got = append(got, assignee("c4"), assignee("c5"))
	if err := h.e.SetAway(h.ctx, "amy", true); err != nil {
		t.Fatal(err)
	}
	got = append(got, assignee("c6"))
	if g, w := strings.Join(got, " "), "amy bob amy amy amy "; g != w {
		t.Fatalf("round robin: %q, want %q", g, w)
	}
	h.wantConv("c6", "open", "", "support") // on_fail: the team's queue
	// The turn survives a restart.
	h.restart(map[string]string{"handoff.yaml": handoffFlow})
	if err := h.e.SetAway(h.ctx, "amy", false); err != nil {
		t.Fatal(err)
	}
	if err := h.e.SetAway(h.ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if g := assignee("c7"); g != "bob" {
		t.Fatalf("after a restart the turn went to %q, want bob (amy had the last)", g)
	}
}

func TestLeastOpenTakesTheOperatorWithFewest(t *testing.T) {
	t.Parallel()
	least := strings.Replace(handoffFlow, "round_robin", "least_open", 1)
	h := newPeopleHarness(t, map[string]string{"handoff.yaml": least})
	for _, c := range []string{"c1", "c2"} {
		h.send(channels.Event{Kind: channels.Text, Contact: c, Text: "hi"})
		h.mustAct(c, engine.Action{Kind: engine.ActAssign, Handover: steps.Handover{Operator: "amy"}})
	}
	h.send(channels.Event{Kind: channels.MenuClick, Contact: "c3", Key: "MENU_HUMAN"})
	h.wantConv("c3", "open", "bob", "support")
	h.send(channels.Event{Kind: channels.MenuClick, Contact: "c4", Key: "MENU_HUMAN"})
	h.wantConv("c4", "open", "bob", "support")
	// amy 2, bob 2: a tie goes to the first declared.
	h.send(channels.Event{Kind: channels.MenuClick, Contact: "c5", Key: "MENU_HUMAN"})
	h.wantConv("c5", "open", "amy", "support")
}

func TestOperatorRepliesShareTheQuotaAndWindow(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{
		"welcome.yaml": "name: welcome\ntriggers: [follow]\nsteps:\n  - send: one\n  - send: two\n",
	})
	h.follow("") // an event: 3 replies
	h.mustAct("alice", engine.Action{Kind: engine.ActReply, Operator: "amy", Message: text("three")})
	_, err := h.act("alice", engine.Action{Kind: engine.ActReply, Operator: "amy", Message: text("four")})
	var ref *channels.Refusal
	if !errors.Is(err, engine.ErrRefused) || !errors.As(err, &ref) || ref.Reason != channels.ReasonQuotaExhausted {
		t.Fatalf("fourth reply after a follow: %v, want refused quota_exhausted", err)
	}
	h.wantTranscript("one | two | three | four [failed quota_exhausted]")
	h.say("hello") // a message: 5 more, for 48 hours
	h.mustAct("alice", engine.Action{Kind: engine.ActReply, Operator: "amy", Message: text("five")})
	h.advance(49 * time.Hour)
	_, err = h.act("alice", engine.Action{Kind: engine.ActReply, Operator: "amy", Message: text("late")})
	if !errors.As(err, &ref) || ref.Reason != channels.ReasonWindowClosed {
		t.Fatalf("reply after the window: %v, want refused window_closed", err)
	}
	// auto_close closed it at 48h; a refused reply joins the transcript
	// and changes nothing else.
	h.wantConv("alice", "closed", "", "")
	st := h.e.Stats()
	if st.RepliesRefused[channels.ReasonQuotaExhausted] != 1 || st.RepliesRefused[channels.ReasonWindowClosed] != 1 {
		t.Fatalf("refused replies counted: %v", st.RepliesRefused)
	}
	if _, err := h.act("alice", engine.Action{Kind: engine.ActReply, Operator: "zed", Message: text("x")}); !errors.Is(err, engine.ErrUnknownOperator) {
		t.Fatalf("reply of an undeclared operator: %v", err)
	}
}

func TestAutoCloseStartsTheClosedFlow(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, map[string]string{
		"echo.yaml":   flowSending("echo", "- message"),
		"survey.yaml": flowSending("survey", "- conversation: closed"),
		"hello.yaml":  flowSending("hello", "- conversation: opened"),
	}, opts{tune: func(c *engine.Config) { people(c); c.AutoClose = map[string]time.Duration{"main": 47 * time.Hour} }})
	// The opening text: hello (conversation: opened) and echo (message)
	// compete as two bare kinds at priority 0, so the name decides; one
	// flow starts.
	h.say("hi")
	first := h.transcript()
	if first != "echo" {
		t.Fatalf("opening started %q, want echo alone (bare kinds tie; the name decides)", first)
	}
	h.advance(46 * time.Hour)
	h.wantConv("alice", "open", "", "")
	h.advance(90 * time.Minute)
	h.wantConv("alice", "closed", "", "")
	h.wantTranscript(first + " | survey")
	if c := h.contact("alice").Conv; c.ClosedBy != "auto_close" {
		t.Fatalf("closed by %q", c.ClosedBy)
	}
	h.say("back") // opens again
	h.wantConv("alice", "open", "", "")
}

func TestUnfollowClosesTheConversation(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{"handoff.yaml": handoffFlow})
	h.menu("MENU_HUMAN")
	h.wantConv("alice", "open", "amy", "support")
	h.unfollow()
	h.wantConv("alice", "closed", "", "")
	if c := h.contact("alice").Conv; c.ClosedBy != "unfollow" {
		t.Fatalf("closed by %q", c.ClosedBy)
	}
}

func TestInboxListsWithTheLastMessage(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{"echo.yaml": flowSending("echo", "- message")})
	h.sayAs("c1", "hello")
	h.clock.Advance(time.Minute)
	h.send(channels.Event{Kind: channels.MenuClick, Contact: "c2", Key: "NONE"})
	h.clock.Advance(time.Minute)
	h.mustAct("c2", engine.Action{Kind: engine.ActReply, Operator: "bob", Message: text("hi from bob")})
	items, err := h.e.Inbox(h.ctx, engine.ConversationFilter{Status: engine.ConvOpen, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		c := it.Contact
		last := "<none>"
		if c.Conv.Last != nil {
			last = c.Conv.Last.Text
		}
		got = append(got, c.ID+":"+c.Conv.Operator+":"+last)
	}
	// Newest interaction first; c2's newest entry is bob's reply, which
	// also made bob its operator.
	if g, w := strings.Join(got, " | "), "c2:bob:hi from bob | c1::echo"; g != w {
		t.Fatalf("inbox %q, want %q", g, w)
	}
	if !items[0].Window.Open || items[0].Window.QuotaLeft != 2 {
		t.Fatalf("c2's window: %+v, want open with 2 replies left", items[0].Window)
	}
	mine, err := h.e.Inbox(h.ctx, engine.ConversationFilter{Operator: "bob", Limit: 10})
	if err != nil || len(mine) != 1 || mine[0].Contact.ID != "c2" {
		t.Fatalf("bob's inbox: %v %v", mine, err)
	}
}

func TestAutoCloseCountsFromAnOperatorsOpening(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, nil)
	h.say("hi")
	h.advance(49 * time.Hour)
	h.wantConv("alice", "closed", "", "")
	// Opened by amy for a contact silent for 49 hours: it stays open for
	// auto_close from its opening, not from the contact's last message.
	h.mustAct("alice", engine.Action{Kind: engine.ActOpen, Operator: "amy"})
	h.advance(time.Hour)
	h.wantConv("alice", "open", "", "")
	h.advance(48 * time.Hour)
	h.wantConv("alice", "closed", "", "")
}

// TestScheduleInterrupt: a schedule starts its flow for every contact of
// its audience by default (interrupt: true), including one answering an
// ask and one people hold; with interrupt: false it leaves those two out
// at that firing.
func TestScheduleInterrupt(t *testing.T) {
	t.Parallel()
	schedule := func(name, extra string) string {
		return "name: " + name + "\ntriggers:\n  - schedule:\n      cron: \"0 9 * * *\"\n      timezone: UTC\n" + extra +
			"steps:\n  - send: \"" + name + " for ${contact.id}\"\n"
	}
	h := newPeopleHarness(t, map[string]string{
		"asker.yaml":  asker,
		"polite.yaml": schedule("polite", "    interrupt: false\n"),
		"pushy.yaml":  schedule("pushy", ""),
	})
	h.clock.Set(time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC))
	h.say("name") // alice answers an ask
	h.sayAs("bob", "hello")
	h.mustAct("bob", engine.Action{Kind: engine.ActAssign, Operator: "amy", Handover: steps.Handover{Operator: "amy"}})
	h.sayAs("carol", "hello") // carol talks to nobody
	h.clock.Set(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	h.fire()
	count := func(flow string) string {
		var got []string
		for _, r := range h.runs(flow) {
			got = append(got, r.Contact)
		}
		slices.Sort(got)
		return strings.Join(got, " ")
	}
	if got := count("polite"); got != "carol" {
		t.Errorf("polite (interrupt: false) ran for %q, want carol only", got)
	}
	if got := count("pushy"); got != "alice bob carol" {
		t.Errorf("pushy (interrupt: true by default) ran for %q, want alice bob carol", got)
	}
	// The next day alice answered and amy closed bob's conversation:
	// the polite schedule reaches them too.
	h.say("Alice")
	h.mustAct("bob", engine.Action{Kind: engine.ActClose, Operator: "amy"})
	h.advance(24 * time.Hour)
	if got := count("polite"); got != "alice bob carol carol" {
		t.Errorf("polite the next day ran for %q, want alice bob carol carol", got)
	}
}

// TestReplyTakingAConversationIsItsFirstResponse: an operator's reply to
// a conversation nobody holds takes it and is its first response (0 s):
// the first-response histogram counts it once, and not the next reply.
func TestReplyTakingAConversationIsItsFirstResponse(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{})
	h.say("hello?")
	reply := func(text string) {
		h.mustAct("alice", engine.Action{Kind: engine.ActReply, Operator: "bob", Message: &channels.Message{Type: "text", Text: text}})
	}
	count := func() uint64 {
		var n uint64
		if hist := h.e.Stats().FirstResponse[""]; hist != nil {
			for _, c := range hist.Counts {
				n += c
			}
		}
		return n
	}
	reply("Hi, Bob here")
	if c := h.contact("alice").Conv; c.Operator != "bob" || c.FirstReplyAt.IsZero() {
		t.Fatalf("conversation %+v: want bob's, first replied", c)
	}
	if n := count(); n != 1 {
		t.Fatalf("first responses %d after the reply that took it, want 1", n)
	}
	h.advance(time.Minute)
	reply("Anything else?")
	if n := count(); n != 1 {
		t.Fatalf("first responses %d after a second reply, want 1", n)
	}
}

// TestAssignOperatorOfAnotherTeam: assigning an operator who is not of
// the conversation's team gives it to them alone (team cleared); an
// operator of the team keeps it. Before, bob held a conversation of team
// sales he is not in, which an assignment naming both refuses.
func TestAssignOperatorOfAnotherTeam(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{})
	h.say("hello")
	h.mustAct("alice", engine.Action{Kind: engine.ActAssign, Operator: "cy", Handover: steps.Handover{Operator: "cy", Team: "sales"}})
	h.mustAct("alice", engine.Action{Kind: engine.ActAssign, Operator: "cy", Handover: steps.Handover{Operator: "bob"}})
	if c := h.contact("alice").Conv; c.Operator != "bob" || c.Team != "" {
		t.Fatalf("bob of support on a sales conversation: %s/%s, want bob alone", c.Operator, c.Team)
	}
	h.mustAct("alice", engine.Action{Kind: engine.ActAssign, Operator: "amy", Handover: steps.Handover{Operator: "amy", Team: "support"}})
	h.mustAct("alice", engine.Action{Kind: engine.ActAssign, Operator: "amy", Handover: steps.Handover{Operator: "bob"}})
	if c := h.contact("alice").Conv; c.Operator != "bob" || c.Team != "support" {
		t.Fatalf("bob of support on a support conversation: %s/%s, want the team kept", c.Operator, c.Team)
	}
}

// TestRunStartedWithTheHandoverMayAsk: a run started after people took
// the conversation may ask, also when it started at the same instant as
// the taking: by a start: step after the assign step (one job, one
// time), or by an interrupting keyword at a clock standing still (a
// scenario's). It was taken for a run from before the taking, and its
// ask ended handed_over in silence. A run that was waiting when people
// took it still may not ask.
func TestRunStartedWithTheHandoverMayAsk(t *testing.T) {
	t.Parallel()
	h := newPeopleHarness(t, map[string]string{
		"desk.yaml": `name: desk
triggers: [{menu: HUMAN}]
steps:
  - assign: { team: support, pick: round_robin }
  - send: "A=${conversation.assignee}"
  - start: intake
`,
		"intake.yaml": `name: intake
steps:
  - wait: 1m
  - ask: "While you wait: your order number?"
    save: vars.o
  - send: "noted ${vars.o}"
`,
		"form.yaml": `name: form
triggers:
  - keyword: [form]
    interrupt: true
steps:
  - wait: 1m
  - ask: "Your name?"
  - send: "thanks"
`,
		"slow.yaml": `name: slow
triggers: [{keyword: [slow]}]
steps:
  - wait: 1m
  - ask: "Still there?"
`,
	})
	h.say("slow")   // waits, then would ask: from before the taking
	h.menu("HUMAN") // a second later
	h.say("form")   // an interrupting flow, at the same instant
	h.advance(5 * time.Minute)
	got := h.transcript()
	for _, want := range []string{"A=amy", "While you wait: your order number?", "Your name?"} {
		if !strings.Contains(got, want) {
			t.Errorf("the transcript lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Still there?") {
		t.Errorf("a run from before the taking asked:\n%s", got)
	}
}
