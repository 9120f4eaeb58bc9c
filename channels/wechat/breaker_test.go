package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// brkSetup is a channel with one account, "main", on a fake server, whose
// client makes one attempt per send (so that each send is one request).
func brkSetup(t *testing.T) (*Channel, *apiTestBundle) {
	t.Helper()
	return chanSetup(t, func(c *ClientConfig) { c.MaxAttempts = 1 })
}

// brkSend sends one text from "main" and returns the error.
func brkSend(ch *Channel, text string) error {
	return ch.Send(context.Background(), "main", "o1", apiText(text))
}

// brkPaused fails unless err is a *channels.Paused until want.
func brkPaused(t *testing.T, what string, err error, want time.Time) {
	t.Helper()
	var p *channels.Paused
	if !errors.As(err, &p) || !errors.Is(err, channels.ErrPaused) {
		t.Fatalf("%s: err = %v, want sends paused", what, err)
	}
	if !p.Until.Equal(want) {
		t.Fatalf("%s: paused until %s, want %s", what, p.Until, want)
	}
}

// brkCalls fails unless the server got want send requests.
func brkCalls(t *testing.T, what string, b *apiTestBundle, want int) {
	t.Helper()
	if got := b.srv.Calls(wechattest.PathSend); got != want {
		t.Fatalf("%s: %d send requests, want %d", what, got, want)
	}
}

// TestBreakerBusyStorm: five -1 answers in a row open the breaker: sends
// are refused without a request until the pause ends; then one probe goes
// out; a failed probe doubles the pause, a good one closes the breaker.
func TestBreakerBusyStorm(t *testing.T) {
	t.Parallel()
	ch, b := brkSetup(t)
	b.srv.FailNext(wechattest.PathSend, repeatCode(-1, 6)...)
	t0 := b.clock.Now()
	for i := range DefaultBreakerThreshold - 1 {
		err := brkSend(ch, fmt.Sprint("m", i))
		var ref *channels.Refusal
		if !errors.As(err, &ref) || ref.Code != -1 {
			t.Fatalf("send %d: err = %v, want errcode -1", i, err)
		}
	}
	// The send that opens the breaker was refused by WeChat: it did not
	// reach the contact, so it waits for the probe instead of failing.
	brkPaused(t, "the send that opens the breaker", brkSend(ch, "m4"), t0.Add(time.Second))
	brkCalls(t, "the storm", b, 5)
	for i := range 10 {
		brkPaused(t, fmt.Sprint("paused send ", i), brkSend(ch, "held"), t0.Add(time.Second))
	}
	brkCalls(t, "while paused", b, 5)
	if s := ch.breakers["main"].report(); s.state != "open" || s.opens != 1 || !strings.Contains(s.cause, "5 failures in a row") || !strings.Contains(s.cause, "-1") {
		t.Fatalf("breaker %+v, want open once, saying why", s)
	}
	// The pause ends: one probe, which fails: two seconds.
	b.clock.Advance(time.Second)
	if s := ch.breakers["main"].report(); s.state != "half-open" {
		t.Fatalf("after the pause: %q, want half-open", s.state)
	}
	// The probe was refused too: it waits for the next one.
	brkPaused(t, "probe", brkSend(ch, "probe"), t0.Add(3*time.Second))
	brkCalls(t, "the first probe", b, 6)
	brkPaused(t, "after a failed probe", brkSend(ch, "held"), t0.Add(3*time.Second))
	b.clock.Advance(time.Second)
	brkPaused(t, "a second later", brkSend(ch, "held"), t0.Add(3*time.Second))
	brkCalls(t, "during the second pause", b, 6)
	// A failed probe extends the pause, it starts none: the writers that
	// share the channel count it once (by its start).
	var p *channels.Paused
	if err := brkSend(ch, "held"); !errors.As(err, &p) || !p.Since.Equal(t0) {
		t.Fatalf("pause %+v (%v), want one since %s", p, err, t0)
	}
	// The second probe succeeds: the sends resume.
	b.clock.Advance(time.Second)
	if err := brkSend(ch, "probe 2"); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	for i := range 3 {
		if err := brkSend(ch, fmt.Sprint("after ", i)); err != nil {
			t.Fatalf("send after the storm: %v", err)
		}
	}
	brkCalls(t, "after the storm", b, 10)
	if s := ch.breakers["main"].report(); s.state != "closed" || s.opens != 2 || s.probes != 2 {
		t.Fatalf("breaker %+v, want closed after 2 opens and 2 probes", s)
	}
	if got := len(b.srv.Sent()); got != 4 {
		t.Fatalf("WeChat took %d messages, want 4", got)
	}
}

// TestBreakerPauseCap: the pause doubles after each failed probe, up to
// the cap; after a good probe the next storm starts from the first pause.
func TestBreakerPauseCap(t *testing.T) {
	t.Parallel()
	ch, b := brkSetup(t)
	b.srv.FailHTTP(wechattest.PathSend, repeatCode(503, 5)...)
	for range 5 {
		_ = brkSend(ch, "x")
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, pause := range want {
		brkPaused(t, fmt.Sprint("pause ", i), brkSend(ch, "held"), b.clock.Now().Add(pause))
		b.clock.Advance(pause)
		if i < len(want)-1 {
			b.srv.FailHTTP(wechattest.PathSend, 502)
		}
		_ = brkSend(ch, "probe")
	}
	brkCalls(t, "the probes", b, 5+len(want))
	if err := brkSend(ch, "after"); err != nil {
		t.Fatalf("after the last probe: %v", err)
	}
	b.srv.FailNext(wechattest.PathSend, repeatCode(-1, 5)...)
	for range 5 {
		_ = brkSend(ch, "x")
	}
	brkPaused(t, "the next storm", brkSend(ch, "held"), b.clock.Now().Add(time.Second))
}

// TestBreakerQuota: one 45009 pauses at once, for a minute, and a failed
// probe for two.
func TestBreakerQuota(t *testing.T) {
	t.Parallel()
	ch, b := brkSetup(t)
	b.srv.FailNext(wechattest.PathSend, 45009, 45009)
	t0 := b.clock.Now()
	brkPaused(t, "the send answered 45009", brkSend(ch, "m"), t0.Add(time.Minute))
	brkPaused(t, "after 45009", brkSend(ch, "held"), t0.Add(time.Minute))
	if s := ch.breakers["main"].report(); !strings.Contains(s.cause, "45009") {
		t.Errorf("cause %q does not name 45009", s.cause)
	}
	b.clock.Advance(59 * time.Second)
	brkPaused(t, "59 s later", brkSend(ch, "held"), t0.Add(time.Minute))
	brkCalls(t, "while paused", b, 1)
	b.clock.Advance(time.Second)
	_ = brkSend(ch, "probe")
	brkPaused(t, "after a failed probe", brkSend(ch, "held"), t0.Add(3*time.Minute))
	b.clock.Advance(2 * time.Minute)
	if err := brkSend(ch, "probe 2"); err != nil {
		t.Fatal(err)
	}
	if err := brkSend(ch, "after"); err != nil {
		t.Fatal(err)
	}
	brkCalls(t, "after the quota", b, 4)
}

// TestBreakerIgnoresContactErrors: errors about one contact or message
// never pause the account, and a success resets the count.
func TestBreakerIgnoresContactErrors(t *testing.T) {
	t.Parallel()
	ch, b := brkSetup(t)
	b.srv.FailNext(wechattest.PathSend, append(repeatCode(45015, 10), repeatCode(45047, 10)...)...)
	for range 20 {
		if err := brkSend(ch, "x"); errors.Is(err, channels.ErrPaused) {
			t.Fatal("paused after errors about contacts")
		}
	}
	// Bad media, refused before any request.
	for range 10 {
		err := ch.Send(context.Background(), "main", "o1", &channels.Message{Type: "image", Media: &channels.Media{Kind: "image", Path: "/nonexistent.exe"}})
		if err == nil || errors.Is(err, channels.ErrPaused) {
			t.Fatalf("bad media: err = %v, want a refusal", err)
		}
	}
	b.srv.FailNext(wechattest.PathSend, -1, -1, -1, -1, 0, -1, -1, -1, -1)
	for i := range 9 {
		if err := brkSend(ch, "x"); errors.Is(err, channels.ErrPaused) {
			t.Fatalf("send %d paused: four failures, a success, four failures", i)
		}
	}
	brkCalls(t, "the sends", b, 29)
}

// TestBreakerUnreachable: a WeChat that cannot be reached is a storm too.
// The send that opens the breaker, refused before reaching WeChat, waits
// for the probe.
func TestBreakerUnreachable(t *testing.T) {
	t.Parallel()
	ch, b := brkSetup(t)
	if err := brkSend(ch, "warm"); err != nil { // a token
		t.Fatal(err)
	}
	b.srv.Close()
	for range DefaultBreakerThreshold - 1 {
		if err := brkSend(ch, "x"); err == nil || errors.Is(err, channels.ErrPaused) {
			t.Fatalf("err = %v, want a failure", err)
		}
	}
	brkPaused(t, "the send that opens the breaker", brkSend(ch, "x"), b.clock.Now().Add(time.Second))
	brkPaused(t, "unreachable", brkSend(ch, "held"), b.clock.Now().Add(time.Second))
}

// brkOutage is an HTTP client whose connections are refused while down
// is set: it dials a loopback port nobody listens on.
type brkOutage struct {
	down atomic.Bool
	dead string
}

func newBrkOutage(t *testing.T) *brkOutage {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &brkOutage{dead: ln.Addr().String()}
	ln.Close()
	return o
}

// client returns the HTTP client; it keeps no connection, so that each
// request dials.
func (o *brkOutage) client() *http.Client {
	var d net.Dialer
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if o.down.Load() {
				addr = o.dead
			}
			return d.DialContext(ctx, network, addr)
		}}}
}

// TestBreakerOutageProbesWait: while connections are refused (WeChat
// unreachable, the token cached), the send that opens the breaker and
// every probe wait for the next probe, the pause doubling up to its cap:
// none is failed, since none reached the contact. When WeChat is back,
// the probe goes through.
func TestBreakerOutageProbesWait(t *testing.T) {
	t.Parallel()
	out := newBrkOutage(t)
	ch, b := chanSetup(t, func(c *ClientConfig) { c.MaxAttempts = 1; c.HTTP = out.client() })
	if err := brkSend(ch, "warm"); err != nil { // a token
		t.Fatal(err)
	}
	out.down.Store(true)
	for i := range DefaultBreakerThreshold - 1 {
		err := brkSend(ch, "x")
		var ref *channels.Refusal
		if !errors.As(err, &ref) || !strings.Contains(ref.Detail, "request not sent") {
			t.Fatalf("send %d: err = %v, want refused, not sent", i, err)
		}
	}
	brkPaused(t, "the send that opens the breaker", brkSend(ch, "m4"), b.clock.Now().Add(time.Second))
	pauses := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	for i, pause := range pauses[:len(pauses)-1] {
		b.clock.Advance(pause)
		brkPaused(t, fmt.Sprint("probe ", i+1), brkSend(ch, "probe"), b.clock.Now().Add(pauses[i+1]))
		brkPaused(t, fmt.Sprint("after probe ", i+1), brkSend(ch, "held"), b.clock.Now().Add(pauses[i+1]))
	}
	if s := ch.breakers["main"].report(); s.state != "open" || s.probes != uint64(len(pauses)-1) || !strings.Contains(s.cause, "could not be reached") {
		t.Fatalf("breaker %+v, want open after %d probes, saying why", s, len(pauses)-1)
	}
	out.down.Store(false)
	b.clock.Advance(time.Minute)
	if err := brkSend(ch, "probe"); err != nil {
		t.Fatalf("the probe once WeChat is back: %v", err)
	}
	brkCalls(t, "the outage", b, 2)
}

// TestBreakerSendsUnderWayWait: sends under way when the breaker opens
// (parallel senders) that WeChat refused in the storm wait with the
// others: only the failures before the one that opened it are failed.
func TestBreakerSendsUnderWayWait(t *testing.T) {
	t.Parallel()
	ch, b := brkSetup(t)
	if err := brkSend(ch, "warm"); err != nil { // a token
		t.Fatal(err)
	}
	const n = 12
	release := b.srv.Hold(wechattest.PathSend)
	b.srv.FailHTTP(wechattest.PathSend, repeatCode(503, n)...)
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- brkSend(ch, fmt.Sprint("m", i)) }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound on failure
	defer cancel()
	if err := b.srv.WaitCalls(ctx, wechattest.PathSend, 1+n); err != nil {
		t.Fatal(err)
	}
	release()
	failed, waiting := 0, 0
	for range n {
		err := <-errs
		switch {
		case errors.Is(err, channels.ErrPaused):
			waiting++
		case errors.Is(err, channels.ErrAPI) && strings.Contains(err.Error(), "503"):
			failed++
		default:
			t.Errorf("err = %v, want HTTP 503 or paused", err)
		}
	}
	if failed != DefaultBreakerThreshold-1 || waiting != n-failed {
		t.Fatalf("%d failed, %d waiting; want %d failed, the others waiting", failed, waiting, DefaultBreakerThreshold-1)
	}
}

// TestBreakerUnknownUnderWay: a send under way when the breaker opens,
// without an answer (it may have reached WeChat), keeps its error; one
// refused before reaching WeChat waits.
func TestBreakerUnknownUnderWay(t *testing.T) {
	t.Parallel()
	out := newBrkOutage(t)
	b := apiSetup(t, func(c *ClientConfig) { c.MaxAttempts = 1; c.HTTP = out.client() })
	if err := b.client.SendMessage(context.Background(), "o1", apiText("warm")); err != nil {
		t.Fatal(err)
	}
	out.down.Store(true)
	notSent := b.client.SendMessage(context.Background(), "o1", apiText("x"))
	if _, storm, _ := stormFailure(notSent); !storm || !strings.Contains(notSent.Error(), "request not sent") {
		t.Fatalf("%v: storm %v; want a storm failure, not sent", notSent, storm)
	}
	br := newBreaker(BreakerSettings{}, b.clock)
	for range 2 + DefaultBreakerThreshold {
		if probe, err := br.allow(); probe || err != nil {
			t.Fatal("the breaker is not closed")
		}
	}
	for i := range DefaultBreakerThreshold - 1 {
		if p := br.done(false, notSent); p != nil {
			t.Fatalf("failure %d: paused, want failed", i)
		}
	}
	if p := br.done(false, notSent); p == nil {
		t.Fatal("the failure that opens the breaker: not paused")
	}
	if p := br.done(false, fmt.Errorf("x: %w", channels.ErrUnknown)); p != nil {
		t.Fatal("a send without an answer under way: paused, want its own error")
	}
	if p := br.done(false, notSent); p == nil || !p.Until.Equal(b.clock.Now().Add(time.Second)) {
		t.Fatalf("a send not sent under way: %v, want paused for a second", p)
	}
}

// TestBreakerAccountsApart: one account's storm pauses no other account.
func TestBreakerAccountsApart(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.MaxAttempts = 1 })
	other := b.newClient(t, func(c *ClientConfig) { c.Account = "other"; c.MaxAttempts = 1 })
	ch := NewChannel(map[string]*ChannelAccount{"main": {Client: b.client}, "other": {Client: other}})
	// Both clients fetch a token first, then -1 for "main" only.
	if err := ch.Send(context.Background(), "other", "o2", apiText("warm")); err != nil {
		t.Fatal(err)
	}
	b.srv.FailNext(wechattest.PathSend, repeatCode(-1, 5)...)
	for range 5 {
		_ = brkSend(ch, "x")
	}
	brkPaused(t, "main", brkSend(ch, "held"), b.clock.Now().Add(time.Second))
	if err := ch.Send(context.Background(), "other", "o2", apiText("hi")); err != nil {
		t.Fatalf("other account: %v", err)
	}
}

// TestBreakerSettings: the settings replace the defaults.
func TestBreakerSettings(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.MaxAttempts = 1 })
	ch := NewChannel(map[string]*ChannelAccount{"main": {Client: b.client, Breaker: BreakerSettings{Threshold: 2, Pause: 10 * time.Second, MaxPause: 15 * time.Second}}})
	b.srv.FailNext(wechattest.PathSend, -1, -1, -1, -1)
	_, _ = brkSend(ch, "1"), brkSend(ch, "2")
	brkPaused(t, "after 2", brkSend(ch, "held"), b.clock.Now().Add(10*time.Second))
	b.clock.Advance(10 * time.Second)
	_ = brkSend(ch, "probe")
	brkPaused(t, "capped", brkSend(ch, "held"), b.clock.Now().Add(15*time.Second))
}

// TestStormFailure classifies errors.
func TestStormFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err          error
		quota, storm bool
	}{
		{nil, false, false},
		{&APIError{Code: -1}, false, true},
		{fmt.Errorf("send: %w", &APIError{Code: 45009}), true, true},
		{&APIError{Code: 45011}, false, true},
		{&APIError{Code: 45015}, false, false},
		{&APIError{Code: 45047}, false, false},
		{&APIError{Code: 40003}, false, false},
		{&apiStatusError{status: 503}, false, true},
		{&apiStatusError{status: 429}, false, true},
		{&apiStatusError{status: 404}, false, false},
		{fmt.Errorf("x: %w", channels.ErrUnknown), false, true},
		{context.Canceled, false, false},
		{channels.ErrMediaType, false, false},
		{errors.New("wechat: send: no recipient"), false, false},
	} {
		quota, storm, cause := stormFailure(tc.err)
		if quota != tc.quota || storm != tc.storm || storm != (cause != "") {
			t.Errorf("%v: quota %v storm %v (%q), want %v %v", tc.err, quota, storm, cause, tc.quota, tc.storm)
		}
	}
}

func repeatCode(code, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = code
	}
	return out
}

// brkLogs keeps the lines of a text log, for concurrent writers.
type brkLogs struct{ syncBuffer }

// lines returns the lines whose message starts with prefix.
func (l *brkLogs) lines(prefix string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, `msg="`+prefix) {
			out = append(out, line)
		}
	}
	return out
}

// brkOneLine fails unless logs has exactly one line with the message
// prefix, at level WARN, holding every want.
func brkOneLine(t *testing.T, logs *brkLogs, what, prefix string, want ...string) {
	t.Helper()
	lines := logs.lines(prefix)
	if len(lines) != 1 {
		t.Fatalf("%s: %d lines %q, want 1:\n%s", what, len(lines), prefix, logs)
	}
	for _, w := range append([]string{"level=WARN", "account=main"}, want...) {
		if !strings.Contains(lines[0], w) {
			t.Fatalf("%s: the line lacks %q:\n%s", what, w, lines[0])
		}
	}
}

// TestBreakerLogs: at the default level (info), an outage is logged at
// level WARN: the first failed send with its error and, once the minute
// is over, how many more failed; the pause with its cause; the failed
// probes at most once a minute; and the end of the pause. No line shows
// the secret or a token.
func TestBreakerLogs(t *testing.T) {
	t.Parallel()
	logs := &brkLogs{}
	out := newBrkOutage(t)
	ch, b := chanSetup(t, func(c *ClientConfig) {
		c.MaxAttempts, c.HTTP, c.Logger = 1, out.client(), slog.New(slog.NewTextHandler(logs, nil))
	})
	if err := brkSend(ch, "warm"); err != nil { // a token
		t.Fatal(err)
	}
	token := b.srv.CurrentToken(apiTestAppID)
	out.down.Store(true)
	for range DefaultBreakerThreshold {
		_ = brkSend(ch, "x")
	}
	brkOneLine(t, logs, "the first failed send", "wechat: a send failed", "request not sent", "connection refused")
	brkOneLine(t, logs, "the pause", "wechat: sending paused", "5 failures in a row", "pause=1s", "connection refused")
	// Probes 1 s, 3 s, 7 s, 15 s and 31 s after the pause: less than a
	// minute after its line, not logged one by one; 63 s after it, the
	// sixth is, with the count; then one a minute.
	for _, pause := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
		b.clock.Advance(pause)
		_ = brkSend(ch, "probe")
	}
	if got := logs.lines("wechat: the probe failed"); len(got) != 0 {
		t.Fatalf("failed probes within a minute of the pause logged: %q", got)
	}
	if got := logs.lines("wechat: more sends failed"); len(got) != 0 {
		t.Fatalf("summary before the minute is over: %q", got)
	}
	b.clock.Advance(32 * time.Second)
	_ = brkSend(ch, "probe")
	brkOneLine(t, logs, "the failed sends' minute", "wechat: more sends failed", "kind=failed", "count=3", "request not sent")
	brkOneLine(t, logs, "the sixth probe", "wechat: the probe failed", "probes_failed=6", "not_logged=5", "pause=1m0s", "connection refused")
	b.clock.Advance(time.Minute)
	_ = brkSend(ch, "probe")
	if got := logs.lines("wechat: the probe failed"); len(got) != 2 || !strings.Contains(got[1], "probes_failed=7") || strings.Contains(got[1], "not_logged") {
		t.Fatalf("the seventh probe, a minute later: %q", got)
	}
	out.down.Store(false)
	b.clock.Advance(time.Minute)
	if err := brkSend(ch, "probe"); err != nil {
		t.Fatal(err)
	}
	brkOneLine(t, logs, "the end of the pause", "wechat: sending resumed", "paused_for=3m3s", "probes_failed=7")
	if n := strings.Count(logs.String(), "level=WARN"); n != 6 {
		t.Errorf("%d WARN lines, want 6:\n%s", n, logs)
	}
	if s := logs.String(); strings.Contains(s, token) || strings.Contains(s, apiTestSecret) || apiTokenRE.MatchString(s) {
		t.Errorf("the log shows a token or the secret:\n%s", s)
	}
}

// TestSendLogUnknown: sends whose outcome is unknown are logged as a kind
// of their own, the first of a minute and then how many; refusals about
// the contact are not logged.
func TestSendLogUnknown(t *testing.T) {
	t.Parallel()
	logs := &brkLogs{}
	clock := &apiTestClock{now: apiTestT0}
	l := newSendLog(slog.New(slog.NewTextHandler(logs, nil)), clock, "main")
	for range 3 {
		l.note("o1", fmt.Errorf("wechat: send: %w: the request may have reached WeChat: EOF", channels.ErrUnknown))
		l.note("o1", &channels.Refusal{Reason: channels.ReasonWindowClosed, Code: 45015})
		l.note("o1", nil)
	}
	brkOneLine(t, logs, "unknown", "wechat: a send's outcome is unknown", "contact=o1", "EOF")
	clock.Advance(59 * time.Second)
	l.flush()
	if got := logs.lines("wechat: more sends failed"); len(got) != 0 {
		t.Fatalf("summary before the minute is over: %q", got)
	}
	clock.Advance(time.Second)
	l.flush()
	l.flush()
	brkOneLine(t, logs, "the minute", "wechat: more sends failed", "kind=unknown", "count=2")
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, logs)
	}
}

// TestBreakerTokenRefused: WeChat refuses the access token (40164: the
// server's IP is not whitelisted): the account is paused at once, its
// messages wait instead of failing, and the token is asked for once a
// probe, not once a message (a backlog used up the 2,000 fetches a day,
// so that the token could not be had even once the whitelist was
// fixed); once it is fixed, the next probe goes and the sends resume.
func TestBreakerTokenRefused(t *testing.T) {
	t.Parallel()
	ch, b := brkSetup(t)
	b.srv.FailNext(wechattest.PathStableToken, 40164, 40164)
	t0 := b.clock.Now()
	err := brkSend(ch, "m0")
	brkPaused(t, "the token refused", err, t0.Add(time.Second))
	var p *channels.Paused
	if errors.As(err, &p); !strings.Contains(p.Cause, "40164") || !strings.Contains(p.Cause, "whitelist") || strings.Contains(p.Cause, "in a row") {
		t.Fatalf("cause %q, want the token's refusal", p.Cause)
	}
	for i := range 10 {
		brkPaused(t, fmt.Sprint("paused send ", i), brkSend(ch, "held"), t0.Add(time.Second))
	}
	if got := b.srv.Calls(wechattest.PathStableToken); got != 1 {
		t.Fatalf("%d token fetches while paused, want 1", got)
	}
	b.clock.Advance(time.Second)
	brkPaused(t, "the probe, refused too", brkSend(ch, "probe"), t0.Add(3*time.Second))
	b.clock.Advance(2 * time.Second)
	if err := brkSend(ch, "probe 2"); err != nil {
		t.Fatalf("the probe once fixed: %v", err)
	}
	if err := brkSend(ch, "after"); err != nil {
		t.Fatal(err)
	}
	if got, sends := b.srv.Calls(wechattest.PathStableToken), b.srv.Calls(wechattest.PathSend); got != 3 || sends != 2 {
		t.Fatalf("%d token fetches, %d sends; want 3 and 2", got, sends)
	}
}
