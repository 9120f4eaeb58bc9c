package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/flows"
)

// TestRefusalDoesNotCloseANewerWindow: WeChat refused a message with
// 45015 (the 3 replies after a follow are WeChat's for 1 minute only),
// and the contact wrote while that send was at the API. The refusal is
// about the follow's window, not the one the message opened: an
// operator's reply afterwards goes out, and so do the welcome's later
// messages, claimed with the refused one. (The refusal closed the
// session whatever came after it, so the reply was refused locally,
// window_closed, for the contact's whole new window; and the welcome's
// w2 and w3 failed locally, "WeChat refused an earlier message", though
// the window they would go out in was the new one.)
func TestRefusalDoesNotCloseANewerWindow(t *testing.T) {
	r := newStormRig(t, 1)
	release := r.api.Hold(wechattest.PathSend)
	defer release()
	r.api.FailNext(wechattest.PathSend, 45015)
	ingest := func(ev channels.Event) {
		t.Helper()
		ev.Account, ev.Contact, ev.At = "main", "ann", r.clock.Now()
		if err := r.e.Ingest(r.ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	ingest(channels.Event{Kind: channels.Follow})
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second) // a bound on failure, not a wait
	defer cancel()
	if err := r.api.WaitCalls(ctx, wechattest.PathSend, 1); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Second)
	ingest(channels.Event{Kind: channels.Text, MsgID: "1001", Text: "hello?"})
	release()
	r.sync()
	r.waitSends(3)
	r.wantSends("after the refusal", 3) // w1 refused; w2, w3 sent
	byStatus := r.outbox()
	if len(byStatus[OutboxFailed]) != 1 || byStatus[OutboxFailed][0].Message.Text != "w1" || len(byStatus[OutboxSent]) != 2 {
		t.Fatalf("outbox %v", byStatus)
	}
	res, err := r.e.Act(r.ctx, ContactRef{"main", "ann"}, Action{Kind: ActReply, Message: &channels.Message{Type: "text", Text: "hi ann"}})
	if err != nil {
		t.Fatalf("reply refused: %v", err)
	}
	r.sync()
	if o := res.Outbox; o == nil || o.Status != OutboxPending {
		t.Fatalf("reply %+v", o)
	}
	r.waitSends(4)
	if got := r.api.Sent(); len(got) != 3 || !strings.Contains(string(got[2].Body), "hi ann") {
		t.Fatalf("sent %+v", got)
	}
}

// TestPassiveReplyRefusedByTheAPIClosesTheSession: a passive reply WeChat
// could not have got goes by the API, and WeChat refuses it (45015): the
// session is closed locally, as after any such refusal, so that an
// operator's reply is refused here instead of being sent to be refused
// again. (The refusal of the reply going by the API left it open.)
func TestPassiveReplyRefusedByTheAPIClosesTheSession(t *testing.T) {
	r := newStormRig(t, 1)
	var set flows.Set
	for name, src := range map[string]string{"welcome.yaml": stormFlow,
		"hi.yaml": "name: hi\ntriggers: [{keyword: [hi]}]\nsteps:\n  - send: \"hello\"\n"} {
		f, diags := flows.LoadFile(name, []byte(src), flows.Options{})
		if diags.HasErrors() {
			t.Fatal(diags.Err())
		}
		set.Flows = append(set.Flows, f)
	}
	if err := r.e.Load(r.ctx, &set); err != nil {
		t.Fatal(err)
	}
	r.sync()
	r.api.FailNext(wechattest.PathSend, 45015)
	r.clock.Advance(time.Second)
	ev := channels.Event{Account: "main", Contact: "ann", Kind: channels.Text, MsgID: "7001", Text: "hi", At: r.clock.Now()}
	reply, err := r.e.IngestReply(r.ctx, ev, r.clock.Now().Add(time.Second))
	if err != nil || reply == nil || reply.Message.Text != "hello" {
		t.Fatalf("IngestReply = %+v, %v; want the passive reply hello", reply, err)
	}
	if err := r.e.FinishReply(r.ctx, reply, false); err != nil {
		t.Fatal(err)
	}
	r.sync()
	r.wantSends("the reply by the API", 1)
	if o := r.outbox()[OutboxFailed]; len(o) != 1 || o[0].Reason != channels.ReasonWindowClosed || o[0].Code != 45015 {
		t.Fatalf("failed %+v, want the reply, window_closed, 45015", o)
	}
	_, err = r.e.Act(r.ctx, ContactRef{"main", "ann"}, Action{Kind: ActReply, Message: &channels.Message{Type: "text", Text: "after"}})
	if !errors.Is(err, channels.ErrWindowClosed) {
		t.Fatalf("reply after WeChat refused the passive reply by the API: %v, want window_closed", err)
	}
	r.sync()
	r.wantSends("after the operator's reply", 1)
}
