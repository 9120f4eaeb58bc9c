package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine"
)

// onFailFlow sends with on_fail: the step after the send runs only when
// the message went out (or its outcome is unknown); fallback when it
// failed.
const onFailFlow = `name: notify
triggers: [{keyword: [go]}]
steps:
  - send: "first"
    on_fail: fallback
  - send: "after first"
  - end
  - id: fallback
    tag: [unreachable]
  - send: "fallback"
`

func TestOnFailTakenWhenTheSendFailsAtWeChat(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"notify.yaml": onFailFlow})
	h.ch.FailNext(1, &channels.Refusal{Reason: channels.ReasonAPIError, Code: 40003, Detail: "invalid openid"})
	h.say("go")
	h.wantTranscript("first [failed api_error] | fallback")
	h.wantRuns("notify:completed")
	if !h.contact("alice").HasTag("unreachable") {
		t.Fatal("the fallback did not run")
	}
	r := h.only("notify")
	if tr := trailText(r); !strings.Contains(tr, "waits for the message's outcome") || !strings.Contains(tr, "the message failed (api_error)") {
		t.Fatalf("trail %q", tr)
	}
}

func TestOnFailNotTakenWhenSentOrUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"notify.yaml": onFailFlow})
	h.say("go")
	h.wantTranscript("first | after first")
	h.ch.FailNext(1, fmt.Errorf("timeout reading the answer: %w", channels.ErrUnknown))
	h.say("go")
	h.wantTranscript("first | after first | first [unknown] | after first")
	h.wantRuns("notify:completed notify:completed")
	if h.contact("alice").HasTag("unreachable") {
		t.Fatal("an unknown outcome took on_fail")
	}
	if tr := trailText(h.runs("notify")[1]); !strings.Contains(tr, "outcome is unknown (not a failure)") {
		t.Fatalf("trail %q", tr)
	}
}

// A run waiting for its message's outcome resumes from the outbox when
// the dispatcher did not resume it (after a restart, or when another
// node took the contact's lane): its timer looks at the message, and
// waits on while it has no outcome.
func TestOnFailRunResumesFromTheOutbox(t *testing.T) {
	t.Parallel()
	if testWriters(t) > 1 {
		// It writes a crash's rows through the first writer's store,
		// whose message ids come from a block of its own: the
		// transcript, in id order, would put them out of order when
		// another writer holds alice's lane.
		t.Skip("writes the store beside the engine: one writer only")
	}
	h := newHarness(t, map[string]string{"notify.yaml": onFailFlow})
	h.say("go")
	h.wantTranscript("first | after first")
	done := h.only("notify")
	// Runs waiting at the send for messages of three outcomes, as a
	// crash would leave them.
	waiting := func(status engine.OutboxStatus) (runID, outboxID int64) {
		err := h.store.Update(h.ctx, func(tx engine.Tx) error {
			o := &engine.OutboxEntry{Account: "main", Contact: "alice", Message: channels.Message{Type: "text", Text: "first"},
				Status: status, CreatedAt: h.clock.Now(), UpdatedAt: h.clock.Now()}
			if status == engine.OutboxFailed {
				o.Reason = channels.ReasonAPIError
			}
			var err error
			if runID, err = tx.NewRunID(); err != nil {
				return err
			}
			o.RunID = runID
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			outboxID = o.ID
			r := &engine.Run{ID: runID, Account: "main", Contact: "alice", Flow: "notify", Version: done.Version,
				Status: engine.RunWaitingSend, Pos: "0", Step: done.Step, Seq: 1, StartedAt: h.clock.Now(), UpdatedAt: h.clock.Now(),
				State: engine.RunState{Awaits: o.ID, Event: done.State.Event}}
			if err := tx.InsertRun(r); err != nil {
				return err
			}
			return tx.SetTimer(engine.Timer{RunID: runID, Seq: 1, Due: h.clock.Now().Add(time.Minute), Account: "main", Contact: "alice"})
		})
		if err != nil {
			t.Fatal(err)
		}
		return runID, outboxID
	}
	status := func(id int64) engine.RunStatus {
		var r *engine.Run
		h.view(func(tx engine.ReadTx) error {
			var err error
			r, err = tx.Run(id)
			return err
		})
		return r.Status
	}

	unknown, _ := waiting(engine.OutboxUnknown)
	h.advance(time.Minute)
	if s := status(unknown); s != engine.RunCompleted {
		t.Fatalf("run waiting for an unknown outcome: %s", s)
	}
	h.wantTranscript("first | after first | first [unknown] | after first")

	failed, _ := waiting(engine.OutboxFailed)
	h.advance(time.Minute)
	if s := status(failed); s != engine.RunCompleted || !h.contact("alice").HasTag("unreachable") {
		t.Fatalf("run waiting for a failed message: %s, tags %v", s, h.contact("alice").Tags)
	}
	h.wantTranscript("first | after first | first [unknown] | after first | first [failed api_error] | fallback")

	// Still being sent (claimed by a node that has not finished): the
	// run waits on, and goes to on_fail once the outcome is recorded.
	pending, id := waiting(engine.OutboxSending)
	h.advance(time.Minute)
	if s := status(pending); s != engine.RunWaitingSend {
		t.Fatalf("run waiting for a message being sent: %s", s)
	}
	err := h.store.Update(h.ctx, func(tx engine.Tx) error {
		return tx.FinishOutbox(id, engine.OutboxFailed, channels.ReasonWindowClosed, 45015, "", h.clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	h.advance(time.Minute)
	if s := status(pending); s != engine.RunCompleted {
		t.Fatalf("run after its message failed: %s", s)
	}
	h.wantTranscript("first | after first | first [unknown] | after first | first [failed api_error] | fallback | first [failed window_closed] | fallback")
}

// The real WeChat channel against the fake API: a send WeChat refuses
// takes on_fail, and so does one that still fails after the client's
// retries.
func TestOnFailWithTheWeChatAPI(t *testing.T) {
	t.Parallel()
	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp("wxONFAIL0001", "onfail-secret")
	client, err := wechat.NewClient(wechat.ClientConfig{Account: "main", AppID: "wxONFAIL0001", AppSecret: "onfail-secret",
		APIBase: api.URL(), MaxAttempts: 3, BackoffBase: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	ch := wechat.NewChannel(map[string]*wechat.ChannelAccount{"main": {Client: client}})
	h := newHarnessWith(t, map[string]string{"notify.yaml": onFailFlow}, opts{tune: func(c *engine.Config) { c.Channel = ch }})
	texts := func() string {
		var out []string
		for _, s := range api.Sent() {
			var m struct {
				Text struct{ Content string } `json:"text"`
			}
			if err := json.Unmarshal(s.Body, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m.Text.Content)
		}
		return strings.Join(out, " | ")
	}

	api.FailNext(wechattest.PathSend, 40003)
	h.say("go")
	h.wantTranscript("first [failed api_error] | fallback")
	if got := texts(); got != "fallback" {
		t.Fatalf("WeChat got %q", got)
	}

	api.FailNext(wechattest.PathSend, -1, -1, -1)
	h.say("go")
	h.wantTranscript("first [failed api_error] | fallback | first [failed api_error] | fallback")
	if n := api.Calls(wechattest.PathSend); n != 6 {
		t.Fatalf("%d send requests, want 1 + 1 + 3 retries + 1", n)
	}

	h.say("go")
	h.wantTranscript("first [failed api_error] | fallback | first [failed api_error] | fallback | first | after first")
	h.wantRuns("notify:completed notify:completed notify:completed")
}
