package sim_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
)

func textMsg(s string) *channels.Message { return &channels.Message{Type: "text", Text: s} }

func TestPolicyPerAccount(t *testing.T) {
	t.Parallel()
	c := sim.New(map[string]wechat.Settings{
		"hk":  {Region: wechat.RegionInternational},
		"old": {MessageQuota: 20, EventQuota: 20},
	}, wechat.Settings{EventWindow: time.Minute})

	settings := func(account string) wechat.Settings {
		t.Helper()
		p, ok := c.Policy(account).(wechat.Policy)
		if !ok {
			t.Fatalf("Policy(%q) is a %T, not a wechat.Policy", account, c.Policy(account))
		}
		return p.Settings()
	}
	if got := settings("hk"); got.Region != wechat.RegionInternational || got.EventWindow != 48*time.Hour {
		t.Errorf("hk: %+v", got)
	}
	if got := settings("old"); got.MessageQuota != 20 || got.EventQuota != 20 {
		t.Errorf("old: %+v", got)
	}
	if got := settings("other"); got.EventWindow != time.Minute || got.MessageQuota != 5 {
		t.Errorf("default: %+v", got)
	}

	t0 := time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)
	s := channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction}
	voice := &channels.Message{Type: "voice", Media: &channels.Media{Kind: "voice", MediaID: "m"}}
	if err := c.Policy("hk").Check(s, voice, t0); !errors.Is(err, channels.ErrRegion) {
		t.Errorf("hk voice: got %v, want region", err)
	}
	if err := c.Policy("main").Check(s, voice, t0); err != nil {
		t.Errorf("mainland voice: %v", err)
	}
}

func TestSendRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := sim.New(nil, wechat.Settings{})
	msg := &channels.Message{Type: "menu", Menu: &channels.Menu{Items: []channels.MenuItem{{ID: "1", Text: "yes"}}}}
	for _, send := range []struct {
		account, contact string
		msg              *channels.Message
	}{
		{"a", "alice", textMsg("one")},
		{"a", "bob", textMsg("two")},
		{"b", "alice", textMsg("three")},
		{"a", "alice", msg},
	} {
		if err := c.Send(ctx, send.account, send.contact, send.msg); err != nil {
			t.Fatal(err)
		}
	}
	msg.Menu.Items[0].Text = "changed by the caller"

	all := c.Delivered()
	if len(all) != 4 {
		t.Fatalf("%d deliveries, want 4", len(all))
	}
	for i, d := range all {
		if d.Seq != i+1 {
			t.Errorf("delivery %d has Seq %d", i, d.Seq)
		}
	}
	alice := c.DeliveredTo("a", "alice")
	if len(alice) != 2 || alice[0].Message.Text != "one" || alice[1].Seq != 4 {
		t.Fatalf("to a/alice: %+v", alice)
	}
	if got := alice[1].Message.Menu.Items[0].Text; got != "yes" {
		t.Errorf("recorded menu item %q, want the text as sent", got)
	}
	alice[1].Message.Menu.Items[0].Text = "changed by the reader"
	if got := c.DeliveredTo("a", "alice")[1].Message.Menu.Items[0].Text; got != "yes" {
		t.Errorf("record changed through a read copy: %q", got)
	}

	c.Reset()
	if got := c.Delivered(); len(got) != 0 {
		t.Fatalf("after Reset: %+v", got)
	}
	if err := c.Send(ctx, "a", "alice", textMsg("again")); err != nil {
		t.Fatal(err)
	}
	if got := c.Delivered(); len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("after Reset and a send: %+v", got)
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := sim.New(nil, wechat.Settings{})
	closed := &channels.Refusal{Reason: channels.ReasonAPIError, Code: 45015}
	unknown := fmt.Errorf("send: %w", channels.ErrUnknown)
	c.FailNext(2, closed)
	c.FailNext(1, unknown)
	c.FailNext(1, nil)
	c.FailNext(0, unknown)

	var r *channels.Refusal
	for i := range 2 {
		err := c.Send(ctx, "a", "alice", textMsg("x"))
		if !errors.Is(err, channels.ErrAPI) || !errors.As(err, &r) || r.Code != 45015 {
			t.Fatalf("send %d: got %v, want the 45015 refusal", i, err)
		}
	}
	if err := c.Send(ctx, "a", "alice", textMsg("x")); !errors.Is(err, channels.ErrUnknown) {
		t.Fatalf("send 3: got %v, want unknown", err)
	}
	if err := c.Send(ctx, "a", "alice", textMsg("x")); channels.ReasonOf(err) != channels.ReasonAPIError {
		t.Fatalf("send 4: got %v, want an api_error refusal", err)
	}
	if got := c.Delivered(); len(got) != 0 {
		t.Fatalf("failed sends were recorded: %+v", got)
	}
	if err := c.Send(ctx, "a", "alice", textMsg("ok")); err != nil {
		t.Fatalf("send 5: %v", err)
	}
	if got := c.Delivered(); len(got) != 1 || got[0].Seq != 1 || got[0].Message.Text != "ok" {
		t.Fatalf("deliveries: %+v", got)
	}

	c.FailNext(3, closed)
	c.Reset()
	if err := c.Send(ctx, "a", "alice", textMsg("x")); err != nil {
		t.Fatalf("Reset kept queued failures: %v", err)
	}
}

func TestSendCancelledOrNil(t *testing.T) {
	t.Parallel()
	c := sim.New(nil, wechat.Settings{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Send(ctx, "a", "alice", textMsg("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
	if err := c.Send(context.Background(), "a", "alice", nil); err == nil {
		t.Error("nil message: no error")
	}
	if got := c.Delivered(); len(got) != 0 {
		t.Errorf("recorded: %+v", got)
	}
}

func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := sim.New(nil, wechat.Settings{})
	c.FailNext(10, channels.ErrAPI)
	const workers, each = 8, 50
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for w := range workers {
		wg.Go(func() {
			contact := fmt.Sprintf("c%d", w)
			for i := range each {
				if err := c.Send(ctx, "a", contact, textMsg(fmt.Sprint(i))); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
				_ = c.DeliveredTo("a", contact)
			}
		})
	}
	wg.Wait()
	if failed != 10 {
		t.Errorf("%d sends failed, want 10", failed)
	}
	all := c.Delivered()
	if len(all) != workers*each-10 {
		t.Fatalf("%d deliveries, want %d", len(all), workers*each-10)
	}
	for i, d := range all {
		if d.Seq != i+1 {
			t.Fatalf("delivery %d has Seq %d", i, d.Seq)
		}
	}
}
