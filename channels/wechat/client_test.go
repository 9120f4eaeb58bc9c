package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

const (
	apiTestAppID  = "wxAPITEST0001"
	apiTestSecret = "APPSECRET-must-never-show-7f3a"
)

// apiTestT0 is where test clocks start.
var apiTestT0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// apiTestClock is a clock tests move by hand; its After fires at once, so
// backoff never sleeps, and it remembers the waits asked for.
type apiTestClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *apiTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *apiTestClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *apiTestClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *apiTestClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// apiTestBundle is a fake WeChat server, a clock and a client of it.
type apiTestBundle struct {
	srv    *wechattest.Server
	clock  *apiTestClock
	client *Client
}

// apiSetup starts a fake server with the test app and a client of it;
// mods adjust the client's configuration.
func apiSetup(t *testing.T, mods ...func(*ClientConfig)) *apiTestBundle {
	t.Helper()
	srv := wechattest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddApp(apiTestAppID, apiTestSecret)
	b := &apiTestBundle{srv: srv, clock: &apiTestClock{now: apiTestT0}}
	b.client = b.newClient(t, mods...)
	return b
}

// newClient returns another client of the bundle's server and clock.
func (b *apiTestBundle) newClient(t *testing.T, mods ...func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{Account: "main", AppID: apiTestAppID, AppSecret: apiTestSecret, APIBase: b.srv.URL(), Clock: b.clock}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiTokenRE matches the tokens the fake server issues.
var apiTokenRE = regexp.MustCompile(`TOKEN\d+_`)

// apiNoSecrets fails the test if err's message shows the secret or a token.
func apiNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if strings.Contains(msg, apiTestSecret) || apiTokenRE.MatchString(msg) {
		t.Errorf("error shows a secret or a token: %s", msg)
	}
}

// apiText is a text message.
func apiText(s string) *channels.Message { return &channels.Message{Type: "text", Text: s} }

// apiRefusingTransport dials a port where nothing listens (a real
// "connection refused") for the dials fail selects, the real address for
// the others; every request dials.
func apiRefusingTransport(t *testing.T, fail func(n int64) bool) (*http.Transport, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	var n atomic.Int64
	var d net.Dialer
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if fail(n.Add(1)) {
			return d.DialContext(ctx, network, dead)
		}
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return tr, &n
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	_, err := NewClient(ClientConfig{Account: "a", AppSecret: apiTestSecret, APIBase: "ftp://x", TokenMode: "magic", MaxAttempts: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`client for account "a"`, "appid is empty", `api base "ftp://x"`, `token mode "magic"`, "max attempts -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	apiNoSecrets(t, err)
	if _, err := NewClient(ClientConfig{AppID: apiTestAppID}); err == nil || !strings.Contains(err.Error(), "app secret is empty") {
		t.Errorf("no secret: %v", err)
	}
	c, err := NewClient(ClientConfig{Account: "a", AppID: apiTestAppID, AppSecret: apiTestSecret})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != DefaultAPIBase || c.tokenMode != TokenModeStable || c.maxAttempts != DefaultMaxAttempts ||
		c.backoffBase != DefaultBackoffBase || c.http.Timeout != DefaultHTTPTimeout {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestSecretsStayOutOfStrings(t *testing.T) {
	t.Parallel()
	cfg := ClientConfig{Account: "a", AppID: apiTestAppID, AppSecret: apiTestSecret}
	tok := Token{Value: "TOKEN1_abc", Expires: apiTestT0}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg),
		fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), fmt.Sprint(c), fmt.Sprintf("%+v", c),
	} {
		if strings.Contains(s, apiTestSecret) || strings.Contains(s, "TOKEN1_abc") {
			t.Errorf("string shows a secret: %s", s)
		}
	}
}

func TestAPIErrorMessage(t *testing.T) {
	t.Parallel()
	err := error(&APIError{Code: 45015, Msg: "response out of time limit or subscription is canceled"})
	if got, want := err.Error(), "wechat: errcode 45015: response out of time limit or subscription is canceled"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var ae *APIError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &ae) || ae.Code != 45015 {
		t.Error("errors.As does not find the APIError")
	}
}

func TestRedactText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`Post "http://h/cgi-bin/message/custom/send?access_token=TOKEN1_x": EOF`:              `Post "http://h/cgi-bin/message/custom/send?access_token=REDACTED": EOF`,
		`Get "http://h/cgi-bin/token?appid=wx&grant_type=client_credential&secret=abc": dial`: `Get "http://h/cgi-bin/token?appid=wx&grant_type=client_credential&secret=REDACTED": dial`,
		"access_token=a&type=image secret=b":                                                  "access_token=REDACTED&type=image secret=REDACTED",
		"nothing here":                                                                        "nothing here",
		"access_token=":                                                                       "access_token=",
		// An errmsg echoing the request in JSON, escaped JSON, URL-escaped
		// or Go's map form; keys in any case; appsecret and app_secret.
		`invalid openid, request {"access_token":"T1","touser":"o1"}`: `invalid openid, request {"access_token":"REDACTED","touser":"o1"}`,
		`{"errmsg":"echo {\"access_token\": \"T1\"}"}`:                `{"errmsg":"echo {\"access_token\": \"REDACTED\"}"}`,
		`{"appid":"wx1","secret":"S1","force_refresh":false}`:         `{"appid":"wx1","secret":"REDACTED","force_refresh":false}`,
		"GET /cgi-bin/token?ACCESS_TOKEN=T1&AppSecret=S1#x":           "GET /cgi-bin/token?ACCESS_TOKEN=REDACTED&AppSecret=REDACTED#x",
		"url=%2Fsend%3Faccess_token%3DT1%26x%3D1":                     "url=%2Fsend%3Faccess_token%3DREDACTED%26x%3D1",
		"map[access_token:[T1] app_secret:[S1]]":                      "map[access_token:[REDACTED] app_secret:[REDACTED]]",
		"access_token: T1, then secret = S1; done":                    "access_token: REDACTED, then secret = REDACTED; done",
		// Prose naming a secret without a value stays as it is.
		"invalid appsecret, view more at https://x/doc": "invalid appsecret, view more at https://x/doc",
		`the "secret" is wrong; access_token_expired`:   `the "secret" is wrong; access_token_expired`,
		"access_token=REDACTED&secret=REDACTED":         "access_token=REDACTED&secret=REDACTED",
		"secretary=Bob":                                 "secretary=Bob",
		"access_token":                                  "access_token",
		"\xff\xfeaccess_token=\xffT1 secret=\u0130x":    "\xff\xfeaccess_token=REDACTED secret=REDACTED",
	} {
		if got := apiRedactText(in); got != want {
			t.Errorf("apiRedactText(%q) = %q, want %q", in, got, want)
		}
	}
}

// apiEchoMode is how apiEchoProxy answers a refusal of the fake API.
type apiEchoMode int

const (
	// apiEchoErrmsg appends the request to the errmsg.
	apiEchoErrmsg apiEchoMode = iota
	// apiEchoHTTP answers 502 with a body quoting the request.
	apiEchoHTTP
	// apiEchoText answers 200 with a text (not JSON) quoting the request.
	apiEchoText
)

// apiEchoProxy is a proxy in front of srv, as a client's api_base may be:
// when srv refuses a request (errcode not 0), the proxy's answer echoes
// the request, its URL (with the access token or the secret) and its body,
// the way mode says. It returns the proxy's URL.
func apiEchoProxy(t *testing.T, srv *wechattest.Server, mode *atomic.Int32) string {
	t.Helper()
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, srv.URL()+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var st struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if json.Unmarshal(data, &st) != nil || st.ErrCode == 0 {
			w.Write(data)
			return
		}
		echo := fmt.Sprintf("%s; upstream request: %s %s %s (query %v)", st.ErrMsg, r.Method, r.URL.RequestURI(), body, r.URL.Query())
		switch apiEchoMode(mode.Load()) {
		case apiEchoHTTP:
			out, _ := json.Marshal(map[string]any{"error": echo, "request": map[string]string{"url": r.URL.String(), "body": string(body)}})
			w.WriteHeader(http.StatusBadGateway)
			w.Write(out)
		case apiEchoText:
			fmt.Fprintf(w, "proxy error: %s", echo)
		default:
			out, _ := json.Marshal(map[string]any{"errcode": st.ErrCode, "errmsg": echo})
			w.Write(out)
		}
	}))
	t.Cleanup(p.Close)
	return p.URL
}

// TestErrorsScrubEchoedRequest: when a proxy as api_base echoes the
// request in its answer, neither the access token nor the AppSecret
// reaches an error, an APIError's Msg or the refusal the channel hands
// the engine (its Detail is stored and shown on the console).
func TestErrorsScrubEchoedRequest(t *testing.T) {
	t.Parallel()
	var mode atomic.Int32
	var proxy string
	b := apiSetup(t)
	proxy = apiEchoProxy(t, b.srv, &mode)
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		apiNoSecrets(t, err)
		var ae *APIError
		if errors.As(err, &ae) {
			if strings.Contains(ae.Msg, apiTestSecret) || apiTokenRE.MatchString(ae.Msg) {
				t.Errorf("%s: APIError.Msg shows a secret or a token: %s", name, ae.Msg)
			}
			if !strings.Contains(ae.Msg, "upstream request") {
				t.Errorf("%s: APIError.Msg %q lost the proxy's text", name, ae.Msg)
			}
		}
		var ref *channels.Refusal
		if errors.As(err, &ref) && (strings.Contains(ref.Detail, apiTestSecret) || apiTokenRE.MatchString(ref.Detail)) {
			t.Errorf("%s: the refusal's detail shows a secret or a token: %s", name, ref.Detail)
		}
	}

	for _, tokenMode := range []string{TokenModeStable, TokenModeClassic} {
		c := b.newClient(t, func(c *ClientConfig) { c.APIBase, c.TokenMode = proxy, tokenMode })
		ch := NewChannel(map[string]*ChannelAccount{"main": {Client: c}})

		// A send refused, the errmsg echoing the URL with the token.
		mode.Store(int32(apiEchoErrmsg))
		b.srv.FailNext(wechattest.PathSend, 40003)
		err := c.SendMessage(ctx, "o1", apiText("hi"))
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != 40003 {
			t.Fatalf("%s send: err = %v, want APIError 40003", tokenMode, err)
		}
		check(tokenMode+" send", err)
		b.srv.FailNext(wechattest.PathSend, 40003)
		check(tokenMode+" channel send", ch.Send(ctx, "main", "o1", apiText("hi")))

		// The same echoed in a 502's body (retried: every attempt gets
		// one) and in an answer that is not JSON.
		mode.Store(int32(apiEchoHTTP))
		b.srv.FailNext(wechattest.PathSend, 40003, 40003, 40003, 40003)
		check(tokenMode+" send, HTTP 502", ch.Send(ctx, "main", "o1", apiText("hi")))
		mode.Store(int32(apiEchoText))
		b.srv.FailNext(wechattest.PathSend, 40003)
		check(tokenMode+" send, not JSON", ch.Send(ctx, "main", "o1", apiText("hi")))

		// A token fetch refused, echoing the secret (in the query or
		// the JSON body).
		mode.Store(int32(apiEchoErrmsg))
		tokenPath := wechattest.PathStableToken
		if tokenMode == TokenModeClassic {
			tokenPath = wechattest.PathToken
		}
		b.srv.FailNext(tokenPath, 40164)
		fresh := b.newClient(t, func(c *ClientConfig) { c.APIBase, c.TokenMode = proxy, tokenMode })
		_, err = fresh.Token(ctx)
		if !errors.As(err, &ae) || ae.Code != 40164 {
			t.Fatalf("%s token: err = %v, want APIError 40164", tokenMode, err)
		}
		check(tokenMode+" token", err)
	}
}

func TestCallRetriesSystemBusy(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	b.srv.FailNext(wechattest.PathSend, -1, -1)
	if err := b.client.SendMessage(context.Background(), "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 3 {
		t.Errorf("send calls = %d, want 3", got)
	}
	if got := b.srv.SentCount(); got != 1 {
		t.Errorf("sent = %d, want 1", got)
	}
	waits := b.clock.Waits()
	if len(waits) != 2 {
		t.Fatalf("backoff waits %v, want 2", waits)
	}
	// Full jitter: each wait is at most base·2^(attempt-1).
	for i, w := range waits {
		if limit := DefaultBackoffBase << i; w < 0 || w > limit {
			t.Errorf("wait %d = %s, want 0..%s", i+1, w, limit)
		}
	}
}

func TestCallSystemBusyForever(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.MaxAttempts = 3 })
	b.srv.FailNext(wechattest.PathSend, -1, -1, -1, -1)
	err := b.client.SendMessage(context.Background(), "o1", apiText("hi"))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != -1 {
		t.Fatalf("err = %v, want APIError -1", err)
	}
	if errors.Is(err, channels.ErrUnknown) {
		t.Error("-1 is a known failure, not an unknown outcome")
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 3 {
		t.Errorf("send calls = %d, want 3 (MaxAttempts)", got)
	}
	apiNoSecrets(t, err)
	t.Log(err)
}

// TestCallRetries5xx: a send answered 503 (the server took nothing) is
// tried again, up to the attempts; a 500, 502 or 504 to a send may come
// from a gateway after the message went on: unknown, not tried again.
// Idempotent calls (a token, an upload) are tried again after any 5xx.
func TestCallRetries5xx(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	b.srv.FailHTTP(wechattest.PathSend, 503, 503)
	if err := b.client.SendMessage(context.Background(), "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 3 {
		t.Errorf("send calls = %d, want 3", got)
	}
	for i, status := range []int{500, 502, 504} {
		b.srv.FailHTTP(wechattest.PathSend, status)
		err := b.client.SendMessage(context.Background(), "o1", apiText("hi"))
		if !errors.Is(err, channels.ErrUnknown) || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", status)) {
			t.Errorf("%d: err = %v, want ErrUnknown", status, err)
		}
		if got := b.srv.Calls(wechattest.PathSend); got != 4+i {
			t.Errorf("%d: send calls = %d, want %d (not tried again)", status, got, 4+i)
		}
	}
	b.srv.FailHTTP(wechattest.PathSend, 503, 503, 503, 503)
	err := b.client.SendMessage(context.Background(), "o1", apiText("hi"))
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") || errors.Is(err, channels.ErrUnknown) {
		t.Fatalf("err = %v, want an HTTP 503 failure", err)
	}
	t.Log(err)
	if got := b.srv.Calls(wechattest.PathSend); got != 6+DefaultMaxAttempts {
		t.Errorf("send calls = %d, want %d", got, 6+DefaultMaxAttempts)
	}
	apiNoSecrets(t, err)
}

func TestCallDoesNotRetry4xx(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	b.srv.FailHTTP(wechattest.PathSend, 404)
	err := b.client.SendMessage(context.Background(), "o1", apiText("hi"))
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("err = %v, want HTTP 404", err)
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 1 {
		t.Errorf("send calls = %d, want 1", got)
	}
}

func TestCallRetriesConnectionRefused(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	// Dial 1 fetches the token; dials 2 and 3, the send's first two
	// attempts, are refused.
	tr, dials := apiRefusingTransport(t, func(n int64) bool { return n == 2 || n == 3 })
	c := b.newClient(t, func(c *ClientConfig) { c.HTTP = &http.Client{Transport: tr, Timeout: 5 * time.Second} })
	if err := c.SendMessage(context.Background(), "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	if got := dials.Load(); got != 4 {
		t.Errorf("dials = %d, want 4", got)
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 1 {
		t.Errorf("send calls = %d, want 1", got)
	}
	if got := b.srv.SentCount(); got != 1 {
		t.Errorf("sent = %d, want 1", got)
	}
}

func TestCallConnectionRefusedForever(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	// Classic mode puts the secret in the URL, which the transport's
	// error quotes: it must not reach the error.
	tr, dials := apiRefusingTransport(t, func(int64) bool { return true })
	c := b.newClient(t, func(c *ClientConfig) {
		c.TokenMode = TokenModeClassic
		c.HTTP = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	})
	err := c.SendMessage(context.Background(), "o1", apiText("hi"))
	if err == nil {
		t.Fatal("no error")
	}
	if errors.Is(err, channels.ErrUnknown) {
		t.Errorf("a refused connection is a known failure: %v", err)
	}
	if !strings.Contains(err.Error(), "secret=REDACTED") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v, want the redacted URL and the cause", err)
	}
	t.Log(err)
	if got := dials.Load(); got != DefaultMaxAttempts {
		t.Errorf("dials = %d, want %d", got, DefaultMaxAttempts)
	}
	apiNoSecrets(t, err)
}

func TestSendHungIsUnknown(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.HTTP = &http.Client{Timeout: 300 * time.Millisecond} })
	b.srv.Hang(wechattest.PathSend)
	err := b.client.SendMessage(context.Background(), "o1", apiText("hi"))
	if !errors.Is(err, channels.ErrUnknown) {
		t.Fatalf("err = %v, want ErrUnknown", err)
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 1 {
		t.Errorf("send calls = %d, want exactly 1", got)
	}
	if !strings.Contains(err.Error(), "access_token=REDACTED") {
		t.Errorf("err = %v, want the redacted URL", err)
	}
	t.Log(err)
	apiNoSecrets(t, err)
}

func TestSendCancelledInFlightIsUnknown(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	if _, err := b.client.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.srv.Hang(wechattest.PathSend)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.client.SendMessage(ctx, "o1", apiText("hi")) }()
	if err := b.srv.WaitCalls(context.Background(), wechattest.PathSend, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-errc
	if !errors.Is(err, channels.ErrUnknown) {
		t.Fatalf("err = %v, want ErrUnknown", err)
	}
	apiNoSecrets(t, err)
}

func TestIdempotentCallRetriesAfterTimeout(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.HTTP = &http.Client{Timeout: 300 * time.Millisecond} })
	b.srv.Hang(wechattest.PathMenu)
	if err := b.client.CreateMenu(context.Background(), []MenuButton{{Type: "click", Name: "A", Key: "a"}}); err != nil {
		t.Fatal(err)
	}
	if got := b.srv.Calls(wechattest.PathMenu); got != 2 {
		t.Errorf("menu calls = %d, want 2", got)
	}
	if got := len(b.srv.Menus()); got != 1 {
		t.Errorf("menus = %d, want 1", got)
	}
}

func TestCallHonoursCancelledContext(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.client.SendMessage(ctx, "o1", apiText("hi"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, channels.ErrUnknown) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	t.Log(err)
	if got := b.srv.Calls(wechattest.PathSend) + b.srv.Calls(wechattest.PathStableToken); got != 0 {
		t.Errorf("%d requests made, want 0", got)
	}
}

// apiObserved records what Observe reports, as "path result".
type apiObserved struct {
	mu  sync.Mutex
	got []string
}

func (o *apiObserved) observe(path, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, path+" "+result)
}

// take returns what was reported since the last take.
func (o *apiObserved) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.got
	o.got = nil
	return out
}

func TestObserveReportsEveryAttempt(t *testing.T) {
	t.Parallel()
	obs := &apiObserved{}
	b := apiSetup(t, func(c *ClientConfig) { c.Observe = obs.observe })
	ctx := context.Background()
	send, tok := wechattest.PathSend, wechattest.PathStableToken
	check := func(what string, want ...string) {
		t.Helper()
		got := obs.take()
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s: observed %q, want %q", what, got, want)
		}
		for _, g := range got {
			if strings.ContainsAny(g, "?&=") || strings.Contains(g, "TOKEN") {
				t.Errorf("%s: observed path carries a query: %q", what, g)
			}
		}
	}

	if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	check("a first send (with its token)", tok+" 0", send+" 0")

	b.srv.FailNext(send, 45015)
	var ae *APIError
	if err := b.client.SendMessage(ctx, "o1", apiText("hi")); !errors.As(err, &ae) || ae.Code != 45015 {
		t.Fatalf("err = %v, want errcode 45015", err)
	}
	check("45015 (not retried)", send+" 45015")

	b.srv.FailHTTP(send, 503, 503)
	if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	check("two 503, then success", send+" http_503", send+" http_503", send+" 0")

	b.srv.FailHTTP(send, 503, 503, 503, 503)
	if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err == nil {
		t.Fatal("no error after every attempt failed")
	}
	check("5xx on every attempt", send+" http_503", send+" http_503", send+" http_503", send+" http_503")

	b.srv.FailHTTP(send, 404)
	if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err == nil {
		t.Fatal("no error for a 404")
	}
	check("404 (not retried)", send+" http_404")

	b.srv.FailNext(send, -1)
	if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	check("-1, then success", send+" -1", send+" 0")

	// An expired token: the refusal, the new token, the call again.
	b.srv.ExpireTokens()
	if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	check("expired token", send+" 42001", tok+" 0", send+" 0")

	if got := b.srv.Calls(send); got != 1+1+3+4+1+2+2 {
		t.Errorf("send calls = %d; the observed attempts above count %d", got, 1+1+3+4+1+2+2)
	}
}

func TestObserveReportsNetworkFailures(t *testing.T) {
	t.Parallel()
	obs := &apiObserved{}
	b := apiSetup(t)
	// Dial 1 fetches the token; dials 2 and 3, the send's first two
	// attempts, are refused.
	tr, _ := apiRefusingTransport(t, func(n int64) bool { return n == 2 || n == 3 })
	c := b.newClient(t, func(c *ClientConfig) {
		c.HTTP = &http.Client{Transport: tr, Timeout: 5 * time.Second}
		c.Observe = obs.observe
	})
	if err := c.SendMessage(context.Background(), "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	send := wechattest.PathSend
	want := []string{wechattest.PathStableToken + " 0", send + " network", send + " network", send + " 0"}
	if got := obs.take(); strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("observed %q, want %q", got, want)
	}

	// A send cut off in flight is one attempt, reported as network.
	b.srv.Hang(send)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.SendMessage(ctx, "o1", apiText("hi")) }()
	if err := b.srv.WaitCalls(context.Background(), send, 2); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, channels.ErrUnknown) {
		t.Fatalf("err = %v, want ErrUnknown", err)
	}
	if got := obs.take(); strings.Join(got, ", ") != send+" network" {
		t.Errorf("observed %q, want one network attempt", got)
	}
}

// TestAPIBaseUserNeverShown: the user name and password of api_base (a
// proxy's) appear neither in the config's string, nor in what slog logs
// of it (its LogValue showed api_base whole), nor in a failed call's
// error, which the outbox keeps and the console shows; before, the
// error showed "wxuser:***@".
func TestAPIBaseUserNeverShown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: the call fails with the URL in its error
	cfg := ClientConfig{Account: "a", AppID: apiTestAppID, AppSecret: apiTestSecret, APIBase: "http://wxuser:pr0xyPW@" + addr, MaxAttempts: 1}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background())
	if err == nil {
		t.Fatal("a token from nowhere")
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("account", "config", cfg)
	for _, s := range []string{err.Error(), fmt.Sprint(cfg), fmt.Sprintf("%#v", cfg), logged.String()} {
		if strings.Contains(s, "wxuser") || strings.Contains(s, "pr0xyPW") {
			t.Errorf("shows api_base's user: %s", s)
		}
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("the error lost the address: %v", err)
	}
}

// TestRedactEscapedSecret: the AppSecret is redacted in the forms a proxy
// echoes a request in, not only as it is: URL-escaped (query and path)
// and escaped in JSON; an error quoting `bad: secret S3cr%2Ft...` showed
// it in the logs and in a failed message's detail.
func TestRedactEscapedSecret(t *testing.T) {
	t.Parallel()
	secret := "S3cr/t+Val=ue <&> x"
	c := &Client{secret: secret}
	j, _ := json.Marshal(map[string]string{"req": secret})
	for _, in := range []string{
		"bad: secret " + url.QueryEscape(secret),
		"bad: " + url.PathEscape(secret) + " (after 4 attempts)",
		string(j),
		`{"req":"` + strings.ReplaceAll(secret, "/", `\/`) + `"}`,
		"plain " + secret,
	} {
		out := c.redact(in)
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), "S3cr", "Val"} {
			if strings.Contains(out, form) {
				t.Errorf("redact(%q) = %q: shows %q", in, out, form)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("redact(%q) = %q", in, out)
		}
	}
}

// TestSendAnswerWithoutErrcodeIsUnknown: a send answered 200 with JSON
// that has no errcode ({} or null: a gateway's, not WeChat's) says
// nothing of the message: it is unknown, never sent again, not sent; a
// menu answered so fails. Before, both read as errcode 0.
func TestSendAnswerWithoutErrcodeIsUnknown(t *testing.T) {
	t.Parallel()
	for _, answer := range []string{`{}`, `null`, `{"errmsg":"ok"}`} {
		t.Run(answer, func(t *testing.T) {
			t.Parallel()
			b := apiSetup(t)
			var sends, menus atomic.Int32
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case wechattest.PathSend:
					sends.Add(1)
					io.WriteString(w, answer)
				case wechattest.PathMenu:
					menus.Add(1)
					io.WriteString(w, answer)
				default:
					req, _ := http.NewRequestWithContext(r.Context(), r.Method, b.srv.URL()+r.URL.RequestURI(), r.Body)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadGateway)
						return
					}
					defer resp.Body.Close()
					io.Copy(w, resp.Body)
				}
			}))
			t.Cleanup(front.Close)
			c := b.newClient(t, func(cfg *ClientConfig) { cfg.APIBase = front.URL })
			err := c.SendMessage(context.Background(), "o1", apiText("hi"))
			if !errors.Is(err, channels.ErrUnknown) {
				t.Fatalf("send answered %s: err = %v, want ErrUnknown", answer, err)
			}
			if !strings.Contains(err.Error(), "no errcode") {
				t.Errorf("err = %v, want it to say the answer has no errcode", err)
			}
			if got := sends.Load(); got != 1 {
				t.Errorf("send calls = %d, want exactly 1", got)
			}
			if err := c.CreateMenu(context.Background(), []MenuButton{{Type: "click", Name: "A", Key: "a"}}); err == nil || !strings.Contains(err.Error(), "no errcode") {
				t.Errorf("menu answered %s: err = %v, want one saying it has no errcode", answer, err)
			}
			apiNoSecrets(t, err)
		})
	}
}
