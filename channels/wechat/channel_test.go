package wechat

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// chanSetup returns a channel with one account, "main", on a fake server.
func chanSetup(t *testing.T, mods ...func(*ClientConfig)) (*Channel, *apiTestBundle) {
	t.Helper()
	b := apiSetup(t, mods...)
	ch := NewChannel(map[string]*ChannelAccount{
		"main": {Client: b.client, Settings: Settings{MessageQuota: 20, Region: RegionInternational}},
		"nil":  nil,
	})
	return ch, b
}

func TestChannelSendMapsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   int
		reason channels.Reason
		is     error
	}{
		{45015, channels.ReasonWindowClosed, channels.ErrWindowClosed},
		{45047, channels.ReasonQuotaExhausted, channels.ErrQuotaExhausted},
		{43004, channels.ReasonUnfollowed, channels.ErrUnfollowed},
		{48002, channels.ReasonAPIError, channels.ErrAPI},
		{40003, channels.ReasonAPIError, channels.ErrAPI},
	} {
		ch, b := chanSetup(t)
		b.srv.FailNext(wechattest.PathSend, tc.code)
		err := ch.Send(context.Background(), "main", "o1", apiText("hi"))
		var ref *channels.Refusal
		if !errors.As(err, &ref) {
			t.Fatalf("errcode %d: err = %v, want a refusal", tc.code, err)
		}
		if ref.Reason != tc.reason || ref.Code != tc.code || !errors.Is(err, tc.is) {
			t.Errorf("errcode %d: %+v, want reason %s with the code", tc.code, ref, tc.reason)
		}
		if ref.Detail == "" || strings.Contains(ref.Detail, "TOKEN") {
			t.Errorf("errcode %d: detail %q, want WeChat's errmsg", tc.code, ref.Detail)
		}
		if got := b.srv.Calls(wechattest.PathSend); got != 1 {
			t.Errorf("errcode %d: %d calls, want 1", tc.code, got)
		}
	}
	ch, _ := chanSetup(t)
	err := ch.Send(context.Background(), "main", "o1", apiText("hi"))
	if err != nil {
		t.Fatal(err)
	}
}

func TestChannelSendWindowClosedDetail(t *testing.T) {
	t.Parallel()
	ch, b := chanSetup(t)
	b.srv.FailNext(wechattest.PathSend, 45015)
	err := ch.Send(context.Background(), "main", "o1", apiText("hi"))
	want := "the reply window is closed: response out of time limit or subscription is canceled (errcode 45015)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestChannelSendOtherFailures(t *testing.T) {
	t.Parallel()
	ch, b := chanSetup(t, func(c *ClientConfig) { c.HTTP = &http.Client{Timeout: 300 * time.Millisecond} })
	ctx := context.Background()

	// 503 after every attempt: failed, with the status (the server took
	// nothing: tried again, then failed).
	b.srv.FailHTTP(wechattest.PathSend, 503, 503, 503, 503)
	err := ch.Send(ctx, "main", "o1", apiText("hi"))
	var ref *channels.Refusal
	if !errors.As(err, &ref) || ref.Reason != channels.ReasonAPIError || !strings.Contains(ref.Detail, "HTTP 503") {
		t.Errorf("503: err = %v, want api_error with HTTP 503", err)
	}
	apiNoSecrets(t, err)

	// A 502 (a gateway: the message may have gone on) is unknown at once,
	// never tried again.
	before := b.srv.Calls(wechattest.PathSend)
	b.srv.FailHTTP(wechattest.PathSend, 502, 502)
	err = ch.Send(ctx, "main", "o1", apiText("hi"))
	if !errors.Is(err, channels.ErrUnknown) || errors.As(err, &ref) || !strings.Contains(err.Error(), "HTTP 502") {
		t.Errorf("502: err = %v, want ErrUnknown naming HTTP 502", err)
	}
	if n := b.srv.Calls(wechattest.PathSend) - before; n != 1 {
		t.Errorf("502: %d requests, want 1", n)
	}
	apiNoSecrets(t, err)

	// Unknown outcome passes through, and is not a refusal.
	b.srv.Hang(wechattest.PathSend)
	err = ch.Send(ctx, "main", "o1", apiText("hi"))
	if !errors.Is(err, channels.ErrUnknown) || errors.As(err, &ref) {
		t.Errorf("hang: err = %v, want ErrUnknown and no refusal", err)
	}
	apiNoSecrets(t, err)

	// A media refusal passes through.
	err = ch.Send(ctx, "main", "o1", &channels.Message{Type: "image", Media: &channels.Media{Path: "/tmp/x.txt"}})
	if !errors.Is(err, channels.ErrMediaType) {
		t.Errorf("media: err = %v, want media_type", err)
	}

	// Unknown accounts fail.
	for _, account := range []string{"other", "nil"} {
		err = ch.Send(ctx, account, "o1", apiText("hi"))
		if !errors.As(err, &ref) || ref.Reason != channels.ReasonAPIError || !strings.Contains(ref.Detail, "not configured") {
			t.Errorf("account %q: err = %v, want api_error", account, err)
		}
	}
}

func TestChannelAccessors(t *testing.T) {
	t.Parallel()
	ch, b := chanSetup(t)
	if ch.Client("main") != b.client || ch.Client("other") != nil {
		t.Error("Client returns the wrong client")
	}
	p, ok := ch.Policy("main").(Policy)
	if !ok || p.Settings().MessageQuota != 20 || p.Settings().Region != RegionInternational || p.Settings().EventQuota != DefaultEventQuota {
		t.Errorf("Policy(main) = %+v", ch.Policy("main"))
	}
	if d := ch.Policy("other").(Policy).Settings(); d != Defaults() {
		t.Errorf("Policy(other) = %+v, want the defaults", d)
	}
}
