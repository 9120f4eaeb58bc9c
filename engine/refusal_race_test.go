package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// TestRefusalDoesNotCloseANewerWindow: WeChat refused a message with
// 45015 (the 3 replies after a follow are WeChat's for 1 minute only),
// and the contact wrote while that send was at the API. The refusal is
// about the follow's window, not the one the message opened: an
// operator's reply afterwards goes out. (The refusal closed the session
// whatever came after it, so the reply was refused locally,
// window_closed, for the contact's whole new window.)
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
	r.wantSends("after the refusal", 1) // w1 refused; w2, w3 not sent
	res, err := r.e.Act(r.ctx, ContactRef{"main", "ann"}, Action{Kind: ActReply, Message: &channels.Message{Type: "text", Text: "hi ann"}})
	if err != nil {
		t.Fatalf("reply refused: %v", err)
	}
	r.sync()
	if o := res.Outbox; o == nil || o.Status != OutboxPending {
		t.Fatalf("reply %+v", o)
	}
	r.waitSends(2)
	if got := r.api.Sent(); len(got) != 1 || !strings.Contains(string(got[0].Body), "hi ann") {
		t.Fatalf("sent %+v", got)
	}
}
