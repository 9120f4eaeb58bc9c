package sandbox_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/steps"
)

// TestPeopleAndAutoClose: the sandbox's engine has the config's people
// (an operator's reply goes out and takes the conversation) and
// auto_close, and Advance stops the clock where the conversation comes
// due for it, so that the closed flow sends at that time, inside the
// window, not at the end of the wait.
func TestPeopleAndAutoClose(t *testing.T) {
	t.Parallel()
	b := newSandbox(t, map[string]string{
		"hi.yaml":     "name: hi\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send: hello\n",
		"survey.yaml": "name: survey\ntriggers:\n  - conversation: closed\nsteps:\n  - send: \"How did we do?\"\n",
	}, sandbox.Config{
		People:    engine.People{Operators: []engine.Operator{{Name: "amy", Teams: []string{"support"}}}, Teams: map[string]*steps.Hours{"support": nil}},
		AutoClose: 24 * time.Hour,
		Zone:      time.UTC,
	})
	ctx, sb := b.ctx, b.sb
	if err := sb.Say(ctx, "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	res, err := sb.Act(ctx, "alice", engine.Action{Kind: engine.ActReply, Operator: "amy", Message: &channels.Message{Type: "text", Text: "Amy here"}})
	if err != nil || res.Outbox == nil {
		t.Fatalf("reply: %v %+v", err, res)
	}
	conv, err := sb.Conversation(ctx, "alice")
	if err != nil || conv.Status != engine.ConvOpen || conv.Operator != "amy" {
		t.Fatalf("conversation %+v, %v", conv, err)
	}
	if err := sb.Advance(ctx, 30*time.Hour); err != nil {
		t.Fatal(err)
	}
	conv, _ = sb.Conversation(ctx, "alice")
	if conv.Status != engine.ConvClosed || conv.ClosedBy != "auto_close" {
		t.Fatalf("conversation %+v, want closed by auto_close", conv)
	}
	out, err := sb.Transcript(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d messages, want 3", len(out))
	}
	// Closed 24h after alice's message (and a nanosecond: see
	// nextAutoClose), not at the end of the wait.
	if last := out[2]; last.Status != engine.OutboxSent || last.Message.Text != "How did we do?" || last.CreatedAt.Sub(sandboxStart) > 24*time.Hour+time.Second {
		t.Errorf("survey: %s %s %q at %s, want sent 24h after %s", last.Status, last.Reason, last.Message.Text, last.CreatedAt, sandboxStart)
	}
	// A reply after the window is refused, kept as failed.
	if err := sb.Advance(ctx, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	res, err = sb.Act(ctx, "alice", engine.Action{Kind: engine.ActReply, Operator: "amy", Message: &channels.Message{Type: "text", Text: "late"}})
	var ref *channels.Refusal
	if !errors.Is(err, engine.ErrRefused) || !errors.As(err, &ref) || ref.Reason != channels.ReasonWindowClosed || res == nil || res.Outbox.Status != engine.OutboxFailed {
		t.Fatalf("late reply: %v %+v", err, res)
	}
}
