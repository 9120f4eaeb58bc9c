package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// apiFlows are flows no event starts: only StartFlow does.
var apiFlows = map[string]string{
	"promo.yaml": `name: promo
vars: { code: text }
triggers: []
steps:
  - send: "Hi ${contact.id}: ${vars.code}"
  - set:
      vars.touched: true
  - send: "via ${event.type}"
`,
	"cool.yaml": `name: cool
cooldown: 1h
triggers: []
steps:
  - send: "cool"
`,
	"quiz.yaml": `name: quiz
triggers: []
steps:
  - id: q
    ask: "Quiz?"
    timeout: 1h
`,
	"again.yaml": `name: again
reentry: restart
triggers: []
steps:
  - send: "again"
  - branch:
      - if: contact.followed
        then:
          - id: deep
            ask: "Again?"
            timeout: 1h
`,
}

// apiHarness is a harness with the API flows and quotas large enough
// that the window never gets in the way, and alice following.
func apiHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarnessWith(t, apiFlows, opts{def: wechat.Settings{MessageQuota: 20, EventQuota: 20}})
	h.follow("")
	return h
}

// loaded returns the loaded flow of a name.
func loaded(t *testing.T, e *engine.Engine, name string) *flows.Flow {
	t.Helper()
	for _, f := range e.Flows().Flows {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("flow %s is not loaded", name)
	return nil
}

// TestStartFlowRunsTheFlow: StartFlow runs a flow for a follower until it
// waits or ends, with the vars given (a copy) and event.type "api", and
// returns the run as stored.
func TestStartFlowRunsTheFlow(t *testing.T) {
	t.Parallel()
	h := apiHarness(t)
	vars := map[string]any{"code": "X1"}
	run, err := h.e.StartFlow(h.ctx, "main", "alice", "promo", vars)
	if err != nil {
		t.Fatal(err)
	}
	h.sync()
	if run == nil || run.Flow != "promo" || run.Contact != "alice" || run.Account != "main" || run.Status != engine.RunCompleted {
		t.Fatalf("run = %+v, want alice's completed promo", run)
	}
	if run.State.Event == nil || run.State.Event.Type != "api" || !run.State.Event.At.Equal(h.clock.Now()) {
		t.Errorf("run's event = %+v, want type api at now", run.State.Event)
	}
	if run.State.Vars["code"] != "X1" || run.State.Vars["touched"] != true {
		t.Errorf("run's vars = %v, want code X1 and touched", run.State.Vars)
	}
	if _, ok := vars["touched"]; ok || len(vars) != 1 {
		t.Errorf("the caller's vars were changed: %v", vars)
	}
	h.wantTranscript("Hi alice: X1 | via api")
	stored := h.only("promo")
	if stored.ID != run.ID || stored.Status != run.Status || stored.Pos != run.Pos {
		t.Errorf("stored run %+v, StartFlow returned %+v", stored, run)
	}
	if got := stored.State.Trail[0].What; got != "started through the admin API or the console" {
		t.Errorf("trail starts %q", got)
	}
	st := h.e.Stats()
	if st.RunsStarted["promo"] != 1 || st.Events[channels.Kind("api")] != 0 {
		t.Errorf("stats after StartFlow: started %v, events %v; want one promo and no event", st.RunsStarted, st.Events)
	}

	// Without vars.
	run, err = h.e.StartFlow(h.ctx, "main", "alice", "promo", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.sync()
	if run.State.Vars["touched"] != true {
		t.Errorf("vars of a run started without any = %v", run.State.Vars)
	}
	h.wantTranscript("Hi alice: X1 | via api | Hi alice:  | via api")
}

// TestStartFlowRefusals: what StartFlow will not start, and why.
func TestStartFlowRefusals(t *testing.T) {
	t.Parallel()
	h := apiHarness(t)
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", what, err, want)
		}
	}

	for _, args := range [][3]string{{"", "alice", "promo"}, {"main", "", "promo"}, {"main", "alice", ""}} {
		run, err := h.e.StartFlow(h.ctx, args[0], args[1], args[2], nil)
		check("missing "+strings.Join(args[:], "/"), err, engine.ErrBadEvent)
		if run != nil {
			t.Errorf("a run for missing arguments: %+v", run)
		}
	}

	run, err := h.e.StartFlow(h.ctx, "main", "alice", "nope", nil)
	check("unknown flow", err, engine.ErrNotFound)
	if run != nil {
		t.Errorf("a run of an unknown flow: %+v", run)
	}
	_, err = h.e.StartFlow(h.ctx, "main", "zed", "promo", nil)
	check("unknown contact", err, engine.ErrNotFound)
	_, err = h.e.StartFlow(h.ctx, "other", "alice", "promo", nil)
	check("contact of another account", err, engine.ErrNotFound)
	h.view(func(tx engine.ReadTx) error {
		if _, err := tx.Contact("main", "zed"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("StartFlow for an unknown contact made one: %v", err)
		}
		return nil
	})

	h.send(channels.Event{Kind: channels.Follow, Contact: "bob"})
	h.send(channels.Event{Kind: channels.Unfollow, Contact: "bob"})
	run, err = h.e.StartFlow(h.ctx, "main", "bob", "promo", nil)
	check("unfollowed contact", err, engine.ErrNotStarted)
	if run != nil {
		t.Errorf("a run for an unfollowed contact: %+v", run)
	}

	// Cooldown.
	if _, err := h.e.StartFlow(h.ctx, "main", "alice", "cool", nil); err != nil {
		t.Fatalf("first cool: %v", err)
	}
	h.clock.Advance(59 * time.Minute)
	run, err = h.e.StartFlow(h.ctx, "main", "alice", "cool", nil)
	check("cool within its cooldown", err, engine.ErrNotStarted)
	if run != nil {
		t.Errorf("a run within the cooldown: %+v", run)
	}
	h.clock.Advance(time.Minute)
	if _, err := h.e.StartFlow(h.ctx, "main", "alice", "cool", nil); err != nil {
		t.Errorf("cool after its cooldown: %v", err)
	}

	// Reentry ignore, while the run waits for an answer.
	quiz, err := h.e.StartFlow(h.ctx, "main", "alice", "quiz", nil)
	if err != nil || quiz.Status != engine.RunWaitingReply {
		t.Fatalf("quiz: %+v, %v; want a run waiting for an answer", quiz, err)
	}
	run, err = h.e.StartFlow(h.ctx, "main", "alice", "quiz", nil)
	check("quiz again (reentry: ignore)", err, engine.ErrNotStarted)
	if run != nil {
		t.Errorf("a second quiz: %+v", run)
	}
	h.sync()
	if got := statuses(h.runsOf("alice", "")); got != "cool:completed cool:completed quiz:waiting_reply" {
		t.Errorf("alice's runs: %s", got)
	}
	if got := statuses(h.runsOf("bob", "")); got != "" {
		t.Errorf("bob's runs: %s, want none", got)
	}
}

// TestStartFlowConversation: a flow started through the API leaves the
// run waiting for an answer alone unless it asks itself; reentry:
// restart ends the old run.
func TestStartFlowConversation(t *testing.T) {
	t.Parallel()
	h := apiHarness(t)
	quiz, err := h.e.StartFlow(h.ctx, "main", "alice", "quiz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.StartFlow(h.ctx, "main", "alice", "promo", map[string]any{"code": "P"}); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if got := statuses(h.runsOf("alice", "")); got != "quiz:waiting_reply promo:completed" {
		t.Fatalf("a flow that asks nothing took the conversation over: %s", got)
	}

	first, err := h.e.StartFlow(h.ctx, "main", "alice", "again", nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != engine.RunWaitingReply || first.Pos != "1/0/0" || first.Step != "deep" {
		t.Fatalf("again: %s at %s (%s), want waiting_reply at 1/0/0 (deep)", first.Status, first.Pos, first.Step)
	}
	h.clock.Advance(time.Minute)
	second, err := h.e.StartFlow(h.ctx, "main", "alice", "again", nil)
	if err != nil {
		t.Fatalf("again with reentry: restart: %v", err)
	}
	if second.ID == first.ID || second.Status != engine.RunWaitingReply {
		t.Fatalf("second again = %+v, want a new run waiting", second)
	}
	h.sync()
	if got := statuses(h.runsOf("alice", "")); got != "quiz:interrupted promo:completed again:restarted again:waiting_reply" {
		t.Fatalf("runs: %s", got)
	}
	old := h.runsOf("alice", "again")[0]
	if last := old.State.Trail[len(old.State.Trail)-1]; last.What != "ended: restarted (the flow was started again)" {
		t.Errorf("restarted run's last entry = %+v", last)
	}
	q := h.runsOf("alice", "quiz")[0]
	if q.ID != quiz.ID || q.State.Error != "again took the conversation over" {
		t.Errorf("quiz ended with %q", q.State.Error)
	}
	// The answer goes to the run that asked last.
	h.say("yes")
	if got := statuses(h.runsOf("alice", "again")); got != "again:restarted again:completed" {
		t.Errorf("after the answer: %s", got)
	}
}

// TestStepAt: a run's position names a step of its flow; positions past
// the end or that do not fit the flow name none.
func TestStepAt(t *testing.T) {
	t.Parallel()
	h := apiHarness(t)
	f := loaded(t, h.e, "again")
	run, err := h.e.StartFlow(h.ctx, "main", "alice", "again", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := h.e.StepAt(f, run.Pos); s == nil || s.Kind != "ask" || s.ID != "deep" {
		t.Errorf("StepAt(%q) = %+v, want the ask deep", run.Pos, s)
	}
	if s := h.e.StepAt(f, "0"); s == nil || s.Kind != "send" {
		t.Errorf("StepAt(0) = %+v, want the send", s)
	}
	if s := h.e.StepAt(f, "1"); s == nil || s.Kind != "branch" {
		t.Errorf("StepAt(1) = %+v, want the branch", s)
	}
	for _, pos := range []string{"2", "9", "1/0/1", "1/3/0", "0/0/0", "-1", "x", "1/x"} {
		if s := h.e.StepAt(f, pos); s != nil {
			t.Errorf("StepAt(%q) = %s at line %d, want nil", pos, s.Kind, s.Pos.Line)
		}
	}
	if s := h.e.StepAt(nil, "0"); s != nil {
		t.Errorf("StepAt of no flow = %+v", s)
	}
}

// TestWindow: the window as the account's policy sees it at the engine's
// now.
func TestWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apiFlows)
	h.say("hi") // 5 replies, for 48h
	said := h.clock.Now()
	if _, err := h.e.StartFlow(h.ctx, "main", "alice", "promo", nil); err != nil {
		t.Fatal(err)
	}
	h.sync()
	session := func() channels.Session { return h.session("alice") }
	w := h.e.Window("main", session())
	if !w.Open || w.QuotaLeft != 3 || !w.ExpiresAt.Equal(said.Add(48*time.Hour)) {
		t.Errorf("window = %+v, want open until +48h with 3 replies left", w)
	}
	h.clock.Advance(48*time.Hour - time.Second)
	if w := h.e.Window("main", session()); !w.Open {
		t.Errorf("a second before it closes: %+v", w)
	}
	h.clock.Advance(time.Second)
	if w := h.e.Window("main", session()); w.Open || w.QuotaLeft != 0 {
		t.Errorf("at +48h: %+v, want closed", w)
	}
	if w := h.e.Window("main", channels.Session{}); w.Open {
		t.Errorf("window of a contact that never wrote: %+v", w)
	}
}

// TestFlowVersion: a run's version gives back its flow, from the store
// when the engine no longer has it loaded.
func TestFlowVersion(t *testing.T) {
	t.Parallel()
	h := apiHarness(t)
	run, err := h.e.StartFlow(h.ctx, "main", "alice", "promo", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := h.e.FlowVersion(h.ctx, run.Version)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "promo" || f.Version != run.Version || len(f.Steps) != 3 {
		t.Errorf("FlowVersion = %s %s with %d steps, want promo %s with 3", f.Name, f.Version, len(f.Steps), run.Version)
	}
	if _, err := h.e.FlowVersion(h.ctx, "sha256:0000000000000000"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("FlowVersion of an unknown version: %v, want ErrNotFound", err)
	}

	// A new engine with another promo: the old version comes from the
	// store.
	changed := map[string]string{"promo.yaml": "name: promo\ntriggers: []\nsteps:\n  - send: \"new\"\n"}
	h.restart(changed)
	if now := loaded(t, h.e, "promo"); now.Version == run.Version {
		t.Fatal("the changed flow has the old version")
	}
	old, err := h.e.FlowVersion(h.ctx, run.Version)
	if err != nil {
		t.Fatalf("FlowVersion of the old version after a restart: %v", err)
	}
	if old.Version != run.Version || len(old.Steps) != 3 || !strings.Contains(string(old.Source), "${vars.code}") {
		t.Errorf("old version = %s with %d steps, source %q", old.Version, len(old.Steps), old.Source)
	}
	if s := h.e.StepAt(old, "2"); s == nil || s.Kind != "send" {
		t.Errorf("StepAt(old, 2) = %+v", s)
	}
}
