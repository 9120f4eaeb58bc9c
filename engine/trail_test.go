package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

// trailLines renders a run's trail one entry a line: "step | kind | what
// | message ids", without the times.
func trailLines(r *engine.Run) []string {
	var out []string
	for _, e := range r.State.Trail {
		out = append(out, fmt.Sprintf("%s | %s | %s | %v", e.Step, e.Kind, e.What, e.Messages))
	}
	return out
}

// wantTrail checks a run's whole trail, entry by entry.
func wantTrail(t *testing.T, r *engine.Run, want []string) {
	t.Helper()
	got := trailLines(r)
	if !slices.Equal(got, want) {
		t.Fatalf("trail of run %d (%s):\n got %s\nwant %s", r.ID, r.Flow, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// trailMessages returns the outbox IDs a trail names, in order.
func trailMessages(r *engine.Run) []int64 {
	var out []int64
	for _, e := range r.State.Trail {
		out = append(out, e.Messages...)
	}
	return out
}

// runOutbox returns a run's outbox entries, through the store's RunID
// filter.
func (h *harness) runOutbox(runID int64) []*engine.OutboxEntry {
	h.t.Helper()
	var out []*engine.OutboxEntry
	h.view(func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Outbox(engine.OutboxFilter{RunID: runID})
		return err
	})
	return out
}

const trailSurvey = `name: survey
triggers: [follow]
steps:
  - send: "Hello"
  - id: ready
    ask: "Ready?"
    timeout: 1h
  - branch:
      - if: answer == "yes"
        then:
          - send: "Great"
      - else:
          - send: "Maybe later"
  - if: answer == "never"
    send: "Never?"
  - id: bye
    send: "Bye"
`

// TestTrailOfACompletedRun: a run's trail says, in order, what started
// it, what each step did (with the outbox IDs of the messages it
// reserved), the answer that resumed it, the step its if: skipped and how
// it ended; the outbox IDs are the run's own messages.
func TestTrailOfACompletedRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"survey.yaml": trailSurvey})
	h.follow("")
	t1 := h.clock.Now()
	r := h.only("survey")
	if r.Status != engine.RunWaitingReply {
		t.Fatalf("status = %s, want waiting_reply", r.Status)
	}
	ids := trailMessages(r)
	if len(ids) != 2 {
		t.Fatalf("trail names messages %v, want the hello and the question", ids)
	}
	wantTrail(t, r, []string{
		" |  | started by follow | []",
		fmt.Sprintf("send (line 4) | send | done | [%d]", ids[0]),
		fmt.Sprintf("ready | ask | waits for an answer until 2026-11-20 11:00:01 +00:00 | [%d]", ids[1]),
	})
	for i, e := range r.State.Trail {
		if !e.At.Equal(t1) {
			t.Errorf("entry %d at %s, want the follow's time %s", i, e.At, t1)
		}
	}

	h.clock.Advance(10 * time.Minute)
	t2 := h.clock.Now()
	h.say("yes")
	r = h.only("survey")
	if r.Status != engine.RunCompleted {
		t.Fatalf("status = %s, want completed", r.Status)
	}
	ids = trailMessages(r)
	if len(ids) != 4 {
		t.Fatalf("trail names messages %v, want 4", ids)
	}
	wantTrail(t, r, []string{
		" |  | started by follow | []",
		fmt.Sprintf("send (line 4) | send | done | [%d]", ids[0]),
		fmt.Sprintf("ready | ask | waits for an answer until 2026-11-20 11:00:01 +00:00 | [%d]", ids[1]),
		`ready | ask | answered "yes" | []`,
		"ready | ask | done | []",
		"branch (line 8) | branch | goes into its nested steps | []",
		fmt.Sprintf("send (line 11) | send | done | [%d]", ids[2]),
		"send (line 14) | send | skipped: its if: is false | []",
		fmt.Sprintf("bye | send | done | [%d]", ids[3]),
		"end |  | ended: completed | []",
	})
	for i, e := range r.State.Trail[3:] {
		if !e.At.Equal(t2) {
			t.Errorf("entry %d at %s, want the answer's time %s", i+3, e.At, t2)
		}
	}

	// The IDs are the run's messages, in the order they were reserved.
	outbox := h.runOutbox(r.ID)
	var got []string
	var outIDs []int64
	for _, o := range outbox {
		got = append(got, o.Message.Text)
		outIDs = append(outIDs, o.ID)
		if o.RunID != r.ID {
			t.Errorf("Outbox(RunID %d) listed entry %d of run %d", r.ID, o.ID, o.RunID)
		}
	}
	if !slices.Equal(outIDs, ids) {
		t.Errorf("outbox IDs of the run %v, trail names %v", outIDs, ids)
	}
	if want := []string{"Hello", "Ready?", "Great", "Bye"}; !slices.Equal(got, want) {
		t.Errorf("run's messages = %q, want %q", got, want)
	}

	// Another contact's run lists only its own messages, and names the
	// scene that started it.
	h.send(channels.Event{Kind: channels.Follow, Contact: "bob", Scene: "poster"})
	bob := h.runsOf("bob", "survey")
	if len(bob) != 1 {
		t.Fatalf("bob's runs: %s", statuses(bob))
	}
	if got := bob[0].State.Trail[0].What; got != "started by follow (scene poster)" {
		t.Errorf("bob's run started %q, want by follow (scene poster)", got)
	}
	bobOut := h.runOutbox(bob[0].ID)
	if len(bobOut) != 2 || !slices.Equal([]int64{bobOut[0].ID, bobOut[1].ID}, trailMessages(bob[0])) {
		t.Errorf("bob's outbox %v, trail names %v", transcript(bobOut), trailMessages(bob[0]))
	}
	if len(h.runOutbox(r.ID)) != 4 {
		t.Errorf("alice's run gained messages from bob's")
	}
}

// TestTrailTimeout: an ask that gets no answer notes "no answer in time",
// then where the run went: on_timeout's step, or its end as timed_out at
// the ask.
func TestTrailTimeout(t *testing.T) {
	t.Parallel()
	t.Run("on_timeout", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, map[string]string{"late.yaml": `name: late
triggers: [follow]
steps:
  - id: q
    ask: "Still there?"
    timeout: 1h
    on_timeout: gone
  - end
  - id: gone
    send: "Bye then"
`})
		h.follow("")
		h.advance(2 * time.Hour)
		r := h.only("late")
		ids := trailMessages(r)
		if len(ids) != 2 {
			t.Fatalf("trail names messages %v, want 2", ids)
		}
		wantTrail(t, r, []string{
			" |  | started by follow | []",
			fmt.Sprintf("q | ask | waits for an answer until 2026-11-20 11:00:01 +00:00 | [%d]", ids[0]),
			"q | ask | no answer in time | []",
			"q | ask | jumps to gone | []",
			fmt.Sprintf("gone | send | done | [%d]", ids[1]),
			"end |  | ended: completed | []",
		})
		if at := r.State.Trail[2].At; !at.Equal(h.clock.Now()) {
			t.Errorf("the timeout is noted at %s, want when the timer fired, %s", at, h.clock.Now())
		}
		h.wantTranscript("Still there? | Bye then")
	})
	t.Run("no on_timeout", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, map[string]string{"strict.yaml": `name: strict
triggers: [follow]
steps:
  - id: q
    ask: "Still there?"
    timeout: 1h
  - send: "Thanks"
`})
		h.follow("")
		h.advance(time.Hour)
		r := h.only("strict")
		if r.Status != engine.RunTimedOut {
			t.Fatalf("status = %s, want timed_out", r.Status)
		}
		ids := trailMessages(r)
		if len(ids) != 1 {
			t.Fatalf("trail names messages %v, want 1", ids)
		}
		wantTrail(t, r, []string{
			" |  | started by follow | []",
			fmt.Sprintf("q | ask | waits for an answer until 2026-11-20 11:00:01 +00:00 | [%d]", ids[0]),
			"q | ask | no answer in time | []",
			"q | ask | ended: timed_out | []",
		})
	})
}

// TestTrailEndedByAnother: a run another ended (a flow that took the
// conversation over, an unfollow, a restart) notes how, at the step where
// it stood.
func TestTrailEndedByAnother(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"quiz.yaml": `name: quiz
triggers: [follow]
steps:
  - id: q
    ask: "Name?"
    timeout: 1h
`,
		"help.yaml": `name: help
triggers:
  - keyword: [help]
    interrupt: true
steps:
  - send: "Helping"
`,
		"again.yaml": `name: again
reentry: restart
triggers:
  - menu: MENU_A
steps:
  - wait: 1h
  - send: "later"
`,
	})
	last := func(r *engine.Run) string {
		t.Helper()
		if len(r.State.Trail) == 0 {
			t.Fatalf("run %d has no trail", r.ID)
		}
		return trailLines(&engine.Run{State: engine.RunState{Trail: r.State.Trail[len(r.State.Trail)-1:]}})[0]
	}

	// Taken over.
	h.follow("")
	h.clock.Advance(time.Minute)
	h.say("help")
	quiz := h.runsOf("alice", "quiz")[0]
	if quiz.Status != engine.RunInterrupted {
		t.Fatalf("quiz: %s, want interrupted", quiz.Status)
	}
	if got, want := last(quiz), "q |  | ended: interrupted (help took the conversation over) | []"; got != want {
		t.Errorf("quiz's last entry = %q, want %q", got, want)
	}
	if at := quiz.State.Trail[len(quiz.State.Trail)-1].At; !at.Equal(h.clock.Now()) {
		t.Errorf("interrupted at %s, want %s", at, h.clock.Now())
	}
	help := h.runsOf("alice", "help")[0]
	if got := help.State.Trail[0].What; got != `started by text "help"` {
		t.Errorf("help started %q, want by text \"help\"", got)
	}

	// Unfollowed.
	h.send(channels.Event{Kind: channels.Follow, Contact: "bob"})
	h.send(channels.Event{Kind: channels.Unfollow, Contact: "bob"})
	bq := h.runsOf("bob", "quiz")[0]
	if bq.Status != engine.RunUnfollowed {
		t.Fatalf("bob's quiz: %s, want unfollowed", bq.Status)
	}
	if got, want := last(bq), "q |  | ended: unfollowed (the contact unfollowed) | []"; got != want {
		t.Errorf("bob's quiz's last entry = %q, want %q", got, want)
	}
	if n := len(bq.State.Trail); n != 3 {
		t.Errorf("bob's quiz has %d entries, want started, waits, ended: %q", n, trailLines(bq))
	}

	// Restarted.
	h.send(channels.Event{Kind: channels.MenuClick, Contact: "carol", Key: "MENU_A"})
	h.send(channels.Event{Kind: channels.MenuClick, Contact: "carol", Key: "MENU_A"})
	runs := h.runsOf("carol", "again")
	if got := statuses(runs); got != "again:restarted again:waiting_time" {
		t.Fatalf("carol's runs: %s", got)
	}
	if got, want := last(runs[0]), "wait (line 6) |  | ended: restarted (the flow was started again) | []"; got != want {
		t.Errorf("restarted run's last entry = %q, want %q", got, want)
	}
	if got, want := runs[1].State.Trail[0].What, "started by menu (key MENU_A)"; got != want {
		t.Errorf("new run started %q, want %q", got, want)
	}
}

// loopFlow waits a second and jumps back, forever: each timer adds four
// entries to the trail (the wait is over, done, jumps, waits).
const loopFlow = `name: loop
triggers: [follow]
steps:
  - id: top
    wait: 1s
  - goto: top
`

// TestTrailIsCapped: a looping run keeps the last 100 entries and counts
// the ones it dropped.
func TestTrailIsCapped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"loop.yaml": loopFlow})
	h.follow("")
	// 2 entries at the start; 4 more per timer.
	for range 24 {
		h.advance(time.Second)
	}
	r := h.only("loop")
	if n, d := len(r.State.Trail), r.State.TrailDropped; n != 98 || d != 0 {
		t.Fatalf("after 24 timers: %d entries, %d dropped; want 98 and 0", n, d)
	}
	for range 6 {
		h.advance(time.Second)
	}
	r = h.only("loop")
	if r.Status != engine.RunWaitingTime {
		t.Fatalf("status = %s, want waiting_time", r.Status)
	}
	// 2 + 4·30 = 122 entries: the first 22 are gone.
	if n, d := len(r.State.Trail), r.State.TrailDropped; n != 100 || d != 22 {
		t.Fatalf("after 30 timers: %d entries, %d dropped; want 100 and 22", n, d)
	}
	lines := trailLines(r)
	// Entry 22 of all was the sixth timer's "the wait is over"; the
	// last is the wait that stands now.
	if !strings.Contains(lines[0], "the wait is over") || !strings.Contains(lines[1], "| done |") || !strings.Contains(lines[2], "jumps to top") {
		t.Errorf("the trail starts %q, want the oldest kept timer's entries", lines[:3])
	}
	now := h.clock.Now()
	lastE := r.State.Trail[len(r.State.Trail)-1]
	if want := "waits until " + now.Add(time.Second).UTC().Format("2006-01-02 15:04:05 -07:00"); lastE.What != want || !lastE.At.Equal(now) {
		t.Errorf("last entry = %q at %s, want %q at %s", lastE.What, lastE.At, want, now)
	}
	// The oldest kept entry is the sixth timer's, 6s after the start.
	if first := r.State.Trail[0].At; !first.Equal(r.StartedAt.Add(6 * time.Second)) {
		t.Errorf("oldest kept entry at %s, want start+6s (%s)", first, r.StartedAt.Add(6*time.Second))
	}
	// The count goes on: every timer drops 4 more.
	h.advance(time.Second)
	r = h.only("loop")
	if n, d := len(r.State.Trail), r.State.TrailDropped; n != 100 || d != 26 {
		t.Errorf("after 31 timers: %d entries, %d dropped; want 100 and 26", n, d)
	}
}

// TestTrailSurvivesReopen: the trail is part of the stored run: a sandbox
// opened again on the same file reads it back whole, and the run's next
// steps add to it.
func TestTrailSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "survey.yaml"), []byte(trailSurvey), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("flows: %v %v", err, set.Diags.Err())
	}
	db := filepath.Join(t.TempDir(), "trail.db")
	open := func() *sandbox.Sandbox {
		t.Helper()
		sb, err := sandbox.New(ctx, sandbox.Config{Set: set, DBPath: db, Start: time.Date(2026, 11, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)), Zone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		return sb
	}
	// Times are compared in UTC: a stored time keeps its instant, not
	// its *time.Location.
	render := func(r *engine.Run) []string {
		var out []string
		for _, e := range r.State.Trail {
			out = append(out, fmt.Sprintf("%s %s | %s | %s | %v", e.At.UTC().Format(time.RFC3339Nano), e.Step, e.Kind, e.What, e.Messages))
		}
		return out
	}
	only := func(sb *sandbox.Sandbox) *engine.Run {
		t.Helper()
		runs, err := sb.Runs(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 {
			t.Fatalf("%d runs, want 1", len(runs))
		}
		return runs[0]
	}

	sb := open()
	if err := sb.Follow(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	before := render(only(sb))
	if len(before) != 3 {
		t.Fatalf("trail before closing: %q, want 3 entries", before)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}

	sb = open()
	r := only(sb)
	if after := render(r); !slices.Equal(after, before) {
		t.Fatalf("trail after reopening:\n got %q\nwant %q", after, before)
	}
	// An explicit MsgID: a reopened sandbox numbers its MsgIDs from 1
	// again, so a Say would be taken for a retry of the follow above.
	if err := sb.Ingest(ctx, channels.Event{Contact: "alice", Kind: channels.Text, Text: "no", MsgID: "after-reopen"}); err != nil {
		t.Fatal(err)
	}
	r = only(sb)
	got := render(r)
	if len(got) != 10 || !slices.Equal(got[:3], before) {
		t.Fatalf("trail after the answer: %q, want the 3 kept entries and 7 more", got)
	}
	texts := trailLines(r)[3:]
	want := []string{
		`ready | ask | answered "no" | []`,
		"ready | ask | done | []",
		"branch (line 8) | branch | goes into its nested steps | []",
	}
	if !slices.Equal(texts[:3], want) {
		t.Errorf("entries after the reopen: %q, want %q first", texts[:3], want)
	}
	if !strings.HasPrefix(texts[3], "send (line 13) | send | done | [") {
		t.Errorf("entry 7 = %q, want the else's send", texts[3])
	}
	if texts[6] != "end |  | ended: completed | []" {
		t.Errorf("last entry = %q", texts[6])
	}
}
