package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine"
)

// fltAckBound is how long a callback's acknowledgement may take, whatever
// the API does: WeChat gives up after 5 s, and the ack never waits on it.
const fltAckBound = 2 * time.Second

// fltWait bounds every wait of these tests.
const fltWait = 20 * time.Second

// The flows of the fault tests: a follow sends a welcome; nudge is
// started by another system (the admin API), which is no interaction;
// "hi" is one.
var fltFlows = map[string]string{
	"welcome.yaml": srvWelcome,
	"nudge.yaml": `name: nudge
triggers: []
steps:
  - send: "A nudge"
`,
	"echo.yaml": `name: echo
triggers:
  - keyword: [hi]
steps:
  - send: "Hello again"
`,
}

const (
	fltWelcomeText = "Welcome to the shop!"
	fltNudgeText   = "A nudge"
	fltEchoText    = "Hello again"
)

// fltAck is the answer to one callback.
type fltAck struct {
	status int
	body   string
	took   time.Duration
	err    error
}

// signedQuery is the query of a plain-mode callback signed at ts.
func signedQuery(ts int64, nonce string) url.Values {
	t := fmt.Sprint(ts)
	return url.Values{"timestamp": {t}, "nonce": {nonce}, "signature": {wechat.Signature(srvToken, t, nonce)}}
}

// postAll posts the plain callbacks concurrently over conns connections,
// each signed now, and returns their answers in order.
func (b *srvBundle) postAll(bodies []string, conns int) []fltAck {
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	// WeChat waits 5 s for an answer.
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	acks := make([]fltAck, len(bodies))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				if failed.Load() {
					acks[i] = fltAck{err: errors.New("not posted: an earlier callback failed")}
					continue
				}
				q := signedQuery(time.Now().Unix(), fmt.Sprint(1000+b.seq.Add(1)))
				start := time.Now()
				resp, err := client.Post(b.url+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(bodies[i]))
				a := fltAck{err: err}
				if err == nil {
					var out []byte
					out, a.err = io.ReadAll(resp.Body)
					resp.Body.Close()
					a.status, a.body = resp.StatusCode, string(out)
				}
				a.took = time.Since(start)
				acks[i] = a
				if a.err != nil || a.status != 200 {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return acks
}

// checkAcks fails unless every callback was acknowledged with 200
// "success" within fltAckBound.
func checkAcks(t *testing.T, what string, acks []fltAck) {
	t.Helper()
	bad := 0
	var slowest time.Duration
	for i, a := range acks {
		slowest = max(slowest, a.took)
		if a.err != nil || a.status != 200 || a.body != "success" || a.took > fltAckBound {
			if bad++; bad <= 5 {
				t.Errorf("%s: callback %d answered %d %q in %s (err %v), want 200 success within %s", what, i, a.status, a.body, a.took.Round(time.Millisecond), a.err, fltAckBound)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d callbacks were not acknowledged promptly", what, bad, len(acks))
	}
	t.Logf("%s: %d callbacks acknowledged, slowest in %s", what, len(acks), slowest.Round(time.Millisecond))
}

// fltErrs reports the first few of many similar errors, then how many
// there were.
type fltErrs struct {
	t *testing.T
	n int
}

func (e *fltErrs) errorf(format string, args ...any) {
	e.t.Helper()
	if e.n++; e.n <= 5 {
		e.t.Errorf(format, args...)
	}
}

func (e *fltErrs) done() {
	e.t.Helper()
	if e.n > 5 {
		e.t.Errorf("... %d errors like these in all", e.n)
	}
}

// fltRig is serve with its WeChat API behind a proxy that can break
// connections: the proxy hands every request to the fake API, except the
// ones it is told to reset.
type fltRig struct {
	*srvBundle
	proxy *httptest.Server
	// sends counts the requests to the send API that reached the proxy,
	// whatever became of them.
	sends atomic.Int64
	// resets is how many of the next send requests are read, then get
	// their connection reset, unanswered: WeChat never saw them.
	resets atomic.Int64
	// drops is how many of the next send requests WeChat handles (the
	// message goes out) and then loses the answer: the connection is
	// reset instead.
	drops   atomic.Int64
	release func()
}

// fltStart starts serve on fltFlows with its API client going through a
// fltRig's proxy; timeout is the client's HTTP timeout (0: the default).
func fltStart(t *testing.T, timeout time.Duration) *fltRig {
	t.Helper()
	b := srvStart(t, fltFlows, "")
	r := &fltRig{srvBundle: b}
	r.proxy = httptest.NewServer(http.HandlerFunc(r.serveProxy))
	t.Cleanup(r.proxy.Close)
	// Before the proxy closes (it waits for its requests), the fake API
	// lets go of the requests it holds.
	t.Cleanup(r.api.Close)
	// Serve again on the same database, its API at the proxy, with its
	// own HTTP client.
	cfg := b.s.cfg
	if err := b.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.Accounts[0].APIBase = r.proxy.URL
	if timeout == 0 {
		timeout = wechat.DefaultHTTPTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	// The circuit breaker would pause the storms below (TestServeStorm
	// has it): here every message meets the misbehaving API.
	s, err := newServer(context.Background(), cfg, serverOptions{Synchronous: "NORMAL", APIClient: &http.Client{Timeout: timeout, Transport: tr},
		Breaker: wechat.BreakerSettings{Threshold: math.MaxInt32}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	b.s, b.url = s, "http://"+s.Addr()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return r
}

// take decrements n when it is positive and reports whether it did.
func take(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

func (r *fltRig) serveProxy(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != wechattest.PathSend {
		r.api.ServeHTTP(w, req)
		return
	}
	r.sends.Add(1)
	// Read the whole request first, as WeChat does: only then does the
	// server notice a client that gives up (the fake's Hang waits for
	// that).
	body, err := io.ReadAll(req.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	switch {
	case take(&r.resets):
		fltReset(w)
	case take(&r.drops):
		r.api.ServeHTTP(httptest.NewRecorder(), req)
		fltReset(w)
	default:
		r.api.ServeHTTP(w, req)
	}
}

// fltReset resets the request's connection (a TCP RST) without
// answering.
func fltReset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// sync waits until the engine has done everything it was given: every
// message sent or refused, every outcome recorded.
func (r *fltRig) sync(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fltWait)
	defer cancel()
	if err := r.s.engine.Sync(ctx); err != nil {
		t.Fatalf("the engine did not settle: %v", err)
	}
}

// fltKey names a message: its contact and its text.
type fltKey struct{ contact, text string }

// settled returns the outbox after checking that every entry reached a
// final status and that the fake API got every message at most once,
// exactly once for each `sent` entry, never for a `failed` one, and
// nothing the outbox does not account for.
func (r *fltRig) settled(t *testing.T) map[fltKey]*engine.OutboxEntry {
	t.Helper()
	r.sync(t)
	errs := &fltErrs{t: t}
	defer errs.done()
	got := map[fltKey]int{}
	for _, s := range r.api.Sent() {
		got[fltKey{s.ToUser, sentText(t, s)}]++
	}
	out := map[fltKey]*engine.OutboxEntry{}
	for _, o := range r.outbox() {
		k := fltKey{o.Contact, o.Message.Text}
		if out[k] != nil {
			t.Fatalf("two outbox entries for %v", k)
		}
		out[k] = o
		switch n := got[k]; o.Status {
		case engine.OutboxSent:
			if n != 1 {
				errs.errorf("%v is sent in the outbox, and the API got it %d times", k, n)
			}
		case engine.OutboxFailed:
			if n != 0 {
				errs.errorf("%v failed (%s %d) in the outbox, and the API got it %d times", k, o.Reason, o.Code, n)
			}
		case engine.OutboxUnknown:
			if n > 1 {
				errs.errorf("%v is unknown in the outbox, and the API got it %d times", k, n)
			}
		default:
			errs.errorf("%v is still %s after the engine settled", k, o.Status)
		}
	}
	for k, n := range got {
		if o := out[k]; o == nil {
			errs.errorf("the API got %v %d times, and the outbox has no such message", k, n)
		}
	}
	return out
}

// fltTally counts outbox entries by outcome.
type fltTally struct {
	status engine.OutboxStatus
	reason channels.Reason
	code   int
}

// fltCase is one way the API misbehaves.
type fltCase struct {
	name string
	// n contacts follow while the API misbehaves.
	n int
	// warm sends one message before, so that a token exists.
	warm bool
	// timeout is the API client's HTTP timeout (0: the default).
	timeout time.Duration
	// breakAPI makes the API misbehave, before the callbacks.
	breakAPI func(r *fltRig)
	// broken runs after every callback was acknowledged, the API still
	// misbehaving.
	broken func(t *testing.T, r *fltRig)
	// mend makes the API behave again (nil: nothing to do).
	mend func(r *fltRig)
	// want is what the welcome messages end as.
	want map[fltTally]int
	// calls is how many send requests the API gets for the welcome
	// messages (-1: not checked).
	calls int
	// delivered is how many of the `unknown` welcome messages WeChat did
	// get.
	delivered int
	// check checks more, after the welcome messages settled.
	check func(t *testing.T, r *fltRig)
}

var (
	fltSent    = fltTally{status: engine.OutboxSent}
	fltUnknown = fltTally{status: engine.OutboxUnknown}
)

func fltFailed(reason channels.Reason, code int) fltTally {
	return fltTally{status: engine.OutboxFailed, reason: reason, code: code}
}

func repeat(code, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = code
	}
	return out
}

// TestFaultAPIMisbehaves: while the fake API misbehaves, follows from
// many contacts are all acknowledged at once; once it behaves again every
// message has its final status, the right reason and errcode, and went
// out at most once (exactly once when `sent`). A contact whose session
// WeChat closed (45015, 45047) gets nothing more, refused locally without
// an API call, until they interact again; nobody else's session closes.
func TestFaultAPIMisbehaves(t *testing.T) {
	const n = 100
	var tokensBefore int
	cases := []fltCase{{
		name: "answers held until the API recovers",
		n:    n,
		breakAPI: func(r *fltRig) {
			r.release = r.api.Hold(wechattest.PathSend)
		},
		broken: func(t *testing.T, r *fltRig) {
			// The sends are under way and unanswered, yet every
			// callback was acknowledged.
			ctx, cancel := context.WithTimeout(context.Background(), fltWait)
			defer cancel()
			if err := r.api.WaitCalls(ctx, wechattest.PathSend, 1); err != nil {
				t.Fatal(err)
			}
			if got := r.api.SentCount(); got != 0 {
				t.Fatalf("the API answered %d sends while it was held", got)
			}
		},
		mend:  func(r *fltRig) { r.release() },
		want:  map[fltTally]int{fltSent: n},
		calls: n,
	}, {
		// Every answer takes longer than an acknowledgement may.
		name:     "slow answers",
		n:        n,
		breakAPI: func(r *fltRig) { r.api.Delay(fltAckBound + 500*time.Millisecond) },
		mend:     func(r *fltRig) { r.api.Delay(0) },
		want:     map[fltTally]int{fltSent: n},
		calls:    n,
	}, {
		name:      "connection reset after WeChat took the message",
		n:         n,
		breakAPI:  func(r *fltRig) { r.drops.Store(5) },
		want:      map[fltTally]int{fltSent: n - 5, fltUnknown: 5},
		calls:     n, // never sent again
		delivered: 5,
	}, {
		name:     "connection reset after the request was written",
		n:        n,
		breakAPI: func(r *fltRig) { r.resets.Store(5) },
		want:     map[fltTally]int{fltSent: n - 5, fltUnknown: 5},
		calls:    n,
	}, {
		name:    "no answer before the client's timeout",
		n:       n,
		timeout: 2 * time.Second,
		breakAPI: func(r *fltRig) {
			for range 3 {
				r.api.Hang(wechattest.PathSend)
			}
		},
		want:  map[fltTally]int{fltSent: n - 3, fltUnknown: 3},
		calls: n,
	}, {
		name:     "503, then the API recovers",
		n:        n,
		breakAPI: func(r *fltRig) { r.api.FailHTTP(wechattest.PathSend, 503, 503, 503) },
		want:     map[fltTally]int{fltSent: n},
		calls:    n + 3, // retried
	}, {
		// A 500, 502 or 504 may come from a gateway after the message
		// went on (a proxy as api_base): unknown, never sent again.
		name:     "a gateway's 5xx to a send",
		n:        n,
		breakAPI: func(r *fltRig) { r.api.FailHTTP(wechattest.PathSend, 502, 500, 504) },
		want:     map[fltTally]int{fltSent: n - 3, fltUnknown: 3},
		calls:    n,
	}, {
		// Each message takes at most 4 answers: 48 5xx answers fail all
		// 12 after their 4 attempts.
		name:     "5xx storm past the attempts",
		n:        12,
		breakAPI: func(r *fltRig) { r.api.FailHTTP(wechattest.PathSend, repeat(503, 48)...) },
		want:     map[fltTally]int{fltFailed(channels.ReasonAPIError, 0): 12},
		calls:    48,
	}, {
		name:     "system busy (-1), then the API recovers",
		n:        n,
		breakAPI: func(r *fltRig) { r.api.FailNext(wechattest.PathSend, -1, -1, -1) },
		want:     map[fltTally]int{fltSent: n},
		calls:    n + 3,
	}, {
		name:     "system busy (-1) storm past the attempts",
		n:        12,
		breakAPI: func(r *fltRig) { r.api.FailNext(wechattest.PathSend, repeat(-1, 48)...) },
		want:     map[fltTally]int{fltFailed(channels.ReasonAPIError, -1): 12},
		calls:    48,
	}, {
		name: "expired token",
		n:    n,
		warm: true,
		breakAPI: func(r *fltRig) {
			tokensBefore = r.api.TokenFetches()
			r.api.ExpireTokens()
		},
		want:  map[fltTally]int{fltSent: n},
		calls: -1, // those that went out with the expired token, again
		check: func(t *testing.T, r *fltRig) {
			if got := r.api.TokenFetches() - tokensBefore; got != 1 {
				t.Errorf("%d token fetches after the token expired, want 1", got)
			}
			if got := r.sends.Load() - 1; got < n || got > 2*n {
				t.Errorf("%d send requests for %d messages", got, n)
			}
		},
	}, {
		name:     "45015 storm",
		n:        n,
		breakAPI: func(r *fltRig) { r.api.FailNext(wechattest.PathSend, repeat(45015, 20)...) },
		want:     map[fltTally]int{fltSent: n - 20, fltFailed(channels.ReasonWindowClosed, 45015): 20},
		calls:    n, // never retried
	}, {
		name:     "45047 storm",
		n:        n,
		breakAPI: func(r *fltRig) { r.api.FailNext(wechattest.PathSend, repeat(45047, 20)...) },
		want:     map[fltTally]int{fltSent: n - 20, fltFailed(channels.ReasonQuotaExhausted, 45047): 20},
		calls:    n,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			fltRun(t, c)
			t.Logf("%s in %s", c.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func fltRun(t *testing.T, c fltCase) {
	r := fltStart(t, c.timeout)
	if c.warm {
		checkAcks(t, "warm-up", r.postAll([]string{followXML("o_warm", time.Now().Unix())}, 1))
		r.settled(t)
		if got := r.api.SentCount(); got != 1 {
			t.Fatalf("warm-up: the API got %d messages", got)
		}
	}
	sendsBefore := r.sends.Load()
	contacts := make([]string, c.n)
	bodies := make([]string, c.n)
	for i := range contacts {
		contacts[i] = fmt.Sprintf("o_c%03d", i)
		bodies[i] = followXML(contacts[i], time.Now().Unix())
	}

	c.breakAPI(r)
	t.Cleanup(func() { // before serve stops, if the test ends early
		if r.release != nil {
			r.release()
		}
	})
	checkAcks(t, "follows while the API misbehaves", r.postAll(bodies, 8))
	if c.broken != nil {
		c.broken(t, r)
	}
	if c.mend != nil {
		c.mend(r)
	}
	out := r.settled(t)

	// The welcome messages.
	tally := map[fltTally]int{}
	closed := map[string]bool{} // contacts whose session WeChat closed
	delivered := 0
	for _, id := range contacts {
		o := out[fltKey{id, fltWelcomeText}]
		if o == nil {
			t.Fatalf("no welcome message for %s", id)
		}
		k := fltTally{status: o.Status, reason: o.Reason, code: o.Code}
		tally[k]++
		if o.Reason == channels.ReasonWindowClosed || o.Reason == channels.ReasonQuotaExhausted {
			closed[id] = true
		}
		if o.Status == engine.OutboxUnknown {
			if !strings.Contains(o.Detail, "may have reached WeChat") {
				t.Errorf("unknown message to %s: detail %q does not say why", id, o.Detail)
			}
			for _, s := range r.api.Sent() {
				if s.ToUser == id {
					delivered++
				}
			}
		}
	}
	if !maps.Equal(tally, c.want) {
		t.Errorf("the welcome messages ended as %v, want %v", tally, c.want)
	}
	if delivered != c.delivered {
		t.Errorf("%d of the unknown messages reached the API, want %d", delivered, c.delivered)
	}
	if got := r.sends.Load() - sendsBefore; c.calls >= 0 && got != int64(c.calls) {
		t.Errorf("%d send requests, want %d", got, c.calls)
	}
	if c.check != nil {
		c.check(t, r)
	}

	// The API behaves again. Another system nudges every contact: no
	// interaction. Those whose session WeChat closed are refused here,
	// without a request; the others get it.
	sendsBefore = r.sends.Load()
	ctx, cancel := context.WithTimeout(context.Background(), fltWait)
	defer cancel()
	for _, id := range contacts {
		if _, err := r.s.engine.StartFlow(ctx, "main", id, "nudge", nil); err != nil {
			t.Fatalf("nudge %s: %v", id, err)
		}
	}
	out = r.settled(t)
	errs := &fltErrs{t: t}
	for _, id := range contacts {
		o := out[fltKey{id, fltNudgeText}]
		switch {
		case o == nil:
			t.Fatalf("no nudge for %s", id)
		case closed[id] && (o.Status != engine.OutboxFailed || o.Reason != channels.ReasonWindowClosed || o.Code != 0):
			errs.errorf("WeChat closed %s's session, and the nudge is %s %s %d, want refused here (failed window_closed, no errcode)", id, o.Status, o.Reason, o.Code)
		case !closed[id] && o.Status != engine.OutboxSent:
			errs.errorf("the nudge to %s is %s %s %d, want sent", id, o.Status, o.Reason, o.Code)
		}
	}
	errs.done()
	if got, want := r.sends.Load()-sendsBefore, int64(len(contacts)-len(closed)); got != want {
		t.Errorf("the nudges made %d send requests, want %d (none for the %d closed sessions)", got, want, len(closed))
	}

	// The closed ones interact again: they get answers again.
	if len(closed) == 0 {
		return
	}
	sendsBefore = r.sends.Load()
	var hi []string
	for id := range closed {
		hi = append(hi, textXML(id, time.Now().Unix(), 7000+int64(len(hi)), "hi"))
	}
	checkAcks(t, "hi from the closed sessions", r.postAll(hi, 8))
	out = r.settled(t)
	errs = &fltErrs{t: t}
	for id := range closed {
		if o := out[fltKey{id, fltEchoText}]; o == nil || o.Status != engine.OutboxSent {
			errs.errorf("after %s interacted again, the answer is %+v, want sent", id, o)
		}
	}
	errs.done()
	if got := r.sends.Load() - sendsBefore; got != int64(len(closed)) {
		t.Errorf("the answers made %d send requests, want %d", got, len(closed))
	}
}
