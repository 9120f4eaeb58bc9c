package wechat_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
)

// The test account of most handler tests.
const (
	hdlAccount  = "main"
	hdlToken    = "hdlS3cretTok"
	hdlOrigID   = "gh_hdl0123456789"
	hdlAppID    = "wxhdl0000000000001"
	hdlContact  = "oHdlContact_0123456789abcdef"
	hdlTolerate = 5 * time.Minute
	// hdlNowUnix is the test clock's time (hdlNow), in seconds.
	hdlNowUnix = 1700000000
	hdlNonce   = "271828"
)

// hdlKey and hdlOldKey are the current and previous EncodingAESKeys of
// the safe-mode test account (43 base64 characters each).
var (
	hdlKey    = "hdlCurrentAESKey" + strings.Repeat("k", 43-len("hdlCurrentAESKey"))
	hdlOldKey = "hdlPreviousAESKey" + strings.Repeat("p", 43-len("hdlPreviousAESKey"))
	hdlNow    = time.Unix(hdlNowUnix, 0)
	// hdlTS is hdlNow as a callback timestamp.
	hdlTS = strconv.FormatInt(hdlNowUnix, 10)
)

// hdlClock is a clock stopped at one time.
type hdlClock struct{ now time.Time }

func (c hdlClock) Now() time.Time { return c.now }

func (c hdlClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// hdlReplyFunc answers IngestReply.
type hdlReplyFunc func(ev channels.Event, deadline time.Time) (*channels.Message, func(bool), error)

// hdlSink stands in for the engine: it records what it is given.
type hdlSink struct {
	mu        sync.Mutex
	events    []channels.Event
	deadlines []time.Time
	ingestErr error
	reply     hdlReplyFunc
}

func (s *hdlSink) Ingest(_ context.Context, ev channels.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ingestErr != nil {
		return s.ingestErr
	}
	s.events = append(s.events, ev)
	return nil
}

func (s *hdlSink) IngestReply(_ context.Context, ev channels.Event, deadline time.Time) (*channels.Message, func(bool), error) {
	s.mu.Lock()
	s.deadlines = append(s.deadlines, deadline)
	reply := s.reply
	s.mu.Unlock()
	var (
		msg  *channels.Message
		done func(bool)
		err  error
	)
	if reply != nil {
		msg, done, err = reply(ev, deadline)
	}
	if err == nil {
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
	}
	return msg, done, err
}

// set makes IngestReply answer with reply and Ingest fail with err; call
// it before the requests it is for.
func (s *hdlSink) set(reply hdlReplyFunc, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply, s.ingestErr = reply, err
}

func (s *hdlSink) Events() []channels.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]channels.Event(nil), s.events...)
}

func (s *hdlSink) Deadlines() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.deadlines...)
}

// hdlLogBuf is a log destination safe to read while the server writes.
type hdlLogBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *hdlLogBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *hdlLogBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hdlObservation is one call of HandlerConfig.Observe.
type hdlObservation struct {
	account string
	kind    channels.Kind
	status  int
}

// hdlEnv is a callback endpoint served over real HTTP, with what it was
// given.
type hdlEnv struct {
	srv   *httptest.Server
	sink  *hdlSink
	log   *hdlLogBuf
	clock hdlClock

	mu     sync.Mutex
	obs    []hdlObservation
	signal chan struct{}
	// lengths are the ContentLength of the requests, as the server saw
	// them.
	lengths []int64
}

// hdlSetup serves a Handler for accounts with the test clock, a recording
// sink, a log buffer and an Observe hook; mod adjusts the configuration.
func hdlSetup(t *testing.T, mod func(*wechat.HandlerConfig), accounts ...*wechat.CallbackAccount) *hdlEnv {
	t.Helper()
	env := &hdlEnv{sink: &hdlSink{}, log: &hdlLogBuf{}, clock: hdlClock{hdlNow}, signal: make(chan struct{}, 1)}
	cfg := wechat.HandlerConfig{
		Accounts:           map[string]*wechat.CallbackAccount{},
		Sink:               env.sink,
		Clock:              env.clock,
		Logger:             slog.New(slog.NewTextHandler(env.log, nil)),
		TimestampTolerance: hdlTolerate,
		Observe: func(account string, kind channels.Kind, status int, _ time.Duration) {
			env.mu.Lock()
			env.obs = append(env.obs, hdlObservation{account, kind, status})
			env.mu.Unlock()
			select {
			case env.signal <- struct{}{}:
			default:
			}
		},
	}
	for _, a := range accounts {
		cfg.Accounts[a.ID] = a
	}
	if mod != nil {
		mod(&cfg)
	}
	if c, ok := cfg.Clock.(hdlClock); ok {
		env.clock = c
	}
	mux := http.NewServeMux()
	mux.Handle(wechat.Prefix, wechat.NewHandler(cfg))
	env.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.mu.Lock()
		env.lengths = append(env.lengths, r.ContentLength)
		env.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(env.srv.Close)
	return env
}

// hdlPlainAccount is the plain-mode test account.
func hdlPlainAccount() *wechat.CallbackAccount {
	return &wechat.CallbackAccount{ID: hdlAccount, Token: hdlToken, OriginalID: hdlOrigID}
}

// hdlCipher returns the cipher of key for appID.
func hdlCipher(t *testing.T, key, appID string) *wechat.Cipher {
	t.Helper()
	c, err := wechat.NewCipher(key, appID)
	if err != nil {
		t.Fatalf("NewCipher: %v", err)
	}
	return c
}

// hdlQuery returns the query WeChat signs with token.
func hdlQuery(token, timestamp, nonce string) url.Values {
	return url.Values{
		"signature": {wechat.Signature(token, timestamp, nonce)},
		"timestamp": {timestamp},
		"nonce":     {nonce},
		"openid":    {hdlContact},
	}
}

// hdlEncrypted returns the query and body of a safe-mode callback whose
// message inner is encrypted with c and signed with token.
func hdlEncrypted(t *testing.T, c *wechat.Cipher, token, timestamp, nonce, toUser, inner string) (url.Values, string) {
	t.Helper()
	enc, err := c.EncryptMessage([]byte(inner))
	if err != nil {
		t.Fatalf("EncryptMessage: %v", err)
	}
	q := hdlQuery(token, timestamp, nonce)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", wechat.Signature(token, timestamp, nonce, enc))
	return q, hdlEnvelope(toUser, enc)
}

// hdlEnvelope is the body of a safe-mode callback.
func hdlEnvelope(toUser, enc string) string {
	return "<xml><ToUserName><![CDATA[" + toUser + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
}

// hdlText is a plain text message from the test contact.
func hdlText(to, content, msgID string) string {
	return "<xml><ToUserName><![CDATA[" + to + "]]></ToUserName>" +
		"<FromUserName><![CDATA[" + hdlContact + "]]></FromUserName>" +
		"<CreateTime>" + hdlTS + "</CreateTime>" +
		"<MsgType><![CDATA[text]]></MsgType>" +
		"<Content><![CDATA[" + content + "]]></Content>" +
		"<MsgId>" + msgID + "</MsgId></xml>"
}

// hdlTextEvent is the event hdlText becomes for account.
func hdlTextEvent(account, content, msgID string) channels.Event {
	return channels.Event{
		Account: account, Contact: hdlContact, Kind: channels.Text,
		MsgID: msgID, Text: content, At: hdlNow.UTC(),
	}
}

// hdlAnswer is an HTTP answer.
type hdlAnswer struct {
	status int
	body   string
	header http.Header
}

// do sends a request to /wechat/{account} and reads the answer; chunked
// sends the body without Content-Length.
func (env *hdlEnv) do(t *testing.T, method, account string, q url.Values, body string, chunked bool) hdlAnswer {
	t.Helper()
	u := env.srv.URL + wechat.Prefix + account
	if q != nil {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length
		}
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return hdlAnswer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// post sends a POST with a known length.
func (env *hdlEnv) post(t *testing.T, account string, q url.Values, body string) hdlAnswer {
	t.Helper()
	return env.do(t, http.MethodPost, account, q, body, false)
}

// waitObs waits until Observe was called n times and returns the calls.
func (env *hdlEnv) waitObs(t *testing.T, n int) []hdlObservation {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		env.mu.Lock()
		if len(env.obs) >= n {
			out := append([]hdlObservation(nil), env.obs...)
			env.mu.Unlock()
			return out
		}
		env.mu.Unlock()
		select {
		case <-env.signal:
		case <-timeout:
			t.Fatalf("Observe was not called %d times", n)
		}
	}
}

// lastLength returns the ContentLength of the last request.
func (env *hdlEnv) lastLength() int64 {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.lengths[len(env.lengths)-1]
}

// hdlNoEvents fails when the sink received anything.
func hdlNoEvents(t *testing.T, env *hdlEnv) {
	t.Helper()
	if evs := env.sink.Events(); len(evs) != 0 {
		t.Errorf("the sink received %d events, want none: %+v", len(evs), evs)
	}
	if d := env.sink.Deadlines(); len(d) != 0 {
		t.Errorf("IngestReply was called %d times, want never", len(d))
	}
}

// hdlWantEvents checks the events the sink received.
func hdlWantEvents(t *testing.T, env *hdlEnv, want ...channels.Event) {
	t.Helper()
	got := env.sink.Events()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sink events:\n got %+v\nwant %+v", got, want)
	}
}

func TestHandlerURLCheck(t *testing.T) {
	t.Parallel()
	env := hdlSetup(t, nil, hdlPlainAccount())
	// An echostr with characters that need escaping comes back as it was.
	const echo = "7042985430926482143 &x=1+2/é"

	q := hdlQuery(hdlToken, hdlTS, hdlNonce)
	q.Set("echostr", echo)
	a := env.do(t, http.MethodGet, hdlAccount, q, "", false)
	if a.status != http.StatusOK || a.body != echo {
		t.Errorf("valid URL check: %d %q, want 200 %q", a.status, a.body, echo)
	}

	bad := hdlQuery("otherToken", hdlTS, hdlNonce)
	bad.Set("echostr", echo)
	a = env.do(t, http.MethodGet, hdlAccount, bad, "", false)
	if a.status != http.StatusForbidden || strings.Contains(a.body, echo) {
		t.Errorf("bad signature: %d %q, want 403 without the echostr", a.status, a.body)
	}

	a = env.do(t, http.MethodGet, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), "", false)
	if a.status != http.StatusBadRequest {
		t.Errorf("no echostr: %d %q, want 400", a.status, a.body)
	}

	obs := env.waitObs(t, 3)
	want := []hdlObservation{{hdlAccount, "", 200}, {hdlAccount, "", 403}, {hdlAccount, "", 400}}
	if !reflect.DeepEqual(obs, want) {
		t.Errorf("observed %+v, want %+v", obs, want)
	}
	hdlNoEvents(t, env)
}

func TestHandlerRejectsPlain(t *testing.T) {
	t.Parallel()
	const maxBody = 1024
	valid := hdlText(hdlOrigID, "hello", "1001")
	big := "<xml><ToUserName>" + hdlOrigID + "</ToUserName><Content>" + strings.Repeat("x", 4*maxBody) + "</Content></xml>"
	signed := func() url.Values { return hdlQuery(hdlToken, hdlTS, hdlNonce) }
	without := func(key string) url.Values {
		q := signed()
		q.Del(key)
		return q
	}
	at := func(d time.Duration) url.Values {
		ts := strconv.FormatInt(hdlNow.Add(d).Unix(), 10)
		return hdlQuery(hdlToken, ts, hdlNonce)
	}
	tests := []struct {
		name    string
		method  string
		account string
		q       url.Values
		body    string
		chunked bool
		status  int
		reason  string
	}{
		{name: "no signature", q: without("signature"), body: valid, status: 403, reason: "missing signature, timestamp or nonce"},
		{name: "no timestamp", q: without("timestamp"), body: valid, status: 403, reason: "missing signature, timestamp or nonce"},
		{name: "no nonce", q: without("nonce"), body: valid, status: 403, reason: "missing signature, timestamp or nonce"},
		{name: "signature of another token", q: hdlQuery("otherToken", hdlTS, hdlNonce), body: valid, status: 403, reason: "bad signature"},
		{name: "signature not hex", q: func() url.Values { q := signed(); q.Set("signature", "not-a-signature"); return q }(), body: valid, status: 403, reason: "bad signature"},
		{name: "signature of another nonce", q: func() url.Values { q := signed(); q.Set("nonce", "999"); return q }(), body: valid, status: 403, reason: "bad signature"},
		{name: "timestamp 6 minutes late", q: at(-6 * time.Minute), body: valid, status: 403, reason: "timestamp is 6m0s old, more than 5m0s"},
		{name: "timestamp 6 minutes early", q: at(6 * time.Minute), body: valid, status: 403, reason: "timestamp is 6m0s in the future, more than 5m0s"},
		{name: "timestamp not a number", q: hdlQuery(hdlToken, "yesterday", hdlNonce), body: valid, status: 403, reason: "timestamp is not a number"},
		// Centuries away, a Duration saturated and the check let them by.
		{name: "timestamp in milliseconds", q: hdlQuery(hdlToken, strconv.FormatInt(hdlNow.Unix()*1000, 10), hdlNonce), body: valid, status: 403, reason: "timestamp is more than a year in the future, more than 5m0s"},
		{name: "timestamp far ahead", q: hdlQuery(hdlToken, strconv.FormatInt(hdlNow.Unix()+1e10, 10), hdlNonce), body: valid, status: 403, reason: "timestamp is more than a year in the future"},
		{name: "timestamp far behind", q: hdlQuery(hdlToken, "-9223372036854775808", hdlNonce), body: valid, status: 403, reason: "timestamp is more than a year old"},
		{name: "body over MaxBody with Content-Length", q: signed(), body: big, status: 413, reason: "body of"},
		{name: "body over MaxBody chunked", q: signed(), body: big, chunked: true, status: 413, reason: "body over 1024 bytes"},
		{name: "malformed XML", q: signed(), body: "<xml><ToUserName>gh_x</ToUserName", status: 400, reason: "malformed callback XML"},
		{name: "not XML", q: signed(), body: "hello", status: 400, reason: "malformed callback XML"},
		{name: "empty body", q: signed(), body: "", status: 400, reason: "malformed callback XML"},
		{
			name: "entity bomb", q: signed(), status: 400, reason: "DOCTYPE",
			body: `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` +
				`<xml><ToUserName>` + hdlOrigID + `</ToUserName><FromUserName>` + hdlContact + `</FromUserName><MsgType>text</MsgType><Content>&c;</Content></xml>`,
		},
		{name: "external entity", q: signed(), status: 400, reason: "DOCTYPE", body: `<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>`},
		{name: "unknown account", account: "nope", q: signed(), body: valid, status: 400, reason: "unknown account"},
		{name: "account path with a slash", account: hdlAccount + "/x", q: signed(), body: valid, status: 400, reason: "unknown account"},
		{name: "PUT", method: http.MethodPut, q: signed(), body: valid, status: 405, reason: "method PUT"},
		{name: "DELETE", method: http.MethodDelete, q: signed(), status: 405, reason: "method DELETE"},
		{name: "another account's callback", q: signed(), body: hdlText("gh_someoneelse", "hello", "1002"), status: 400, reason: "callback for another account"},
		{name: "no FromUserName", q: signed(), body: "<xml><ToUserName>" + hdlOrigID + "</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>", status: 400, reason: "without FromUserName or MsgType"},
		{name: "no MsgType", q: signed(), body: "<xml><ToUserName>" + hdlOrigID + "</ToUserName><FromUserName>" + hdlContact + "</FromUserName><Content>hi</Content></xml>", status: 400, reason: "without FromUserName or MsgType"},
		// Without CreateTime the event read as 1970, and its dedupe key
		// took every later such event of the contact for a retry.
		{name: "no CreateTime", q: signed(), body: "<xml><ToUserName>" + hdlOrigID + "</ToUserName><FromUserName>" + hdlContact + "</FromUserName><MsgType>event</MsgType><Event>subscribe</Event></xml>", status: 400, reason: "callback without CreateTime"},
		{name: "CreateTime 0", q: signed(), body: "<xml><ToUserName>" + hdlOrigID + "</ToUserName><FromUserName>" + hdlContact + "</FromUserName><CreateTime>0</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>7</MsgId></xml>", status: 400, reason: "callback without CreateTime"},
		// A | separates the store's keys: contact o|x's events fell in
		// contact o's range.
		{name: "FromUserName with a bar", q: signed(), body: "<xml><ToUserName>" + hdlOrigID + "</ToUserName><FromUserName>o|x</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>8</MsgId></xml>", status: 400, reason: `FromUserName \"o|x\" is not an OpenID`},
		{name: "FromUserName with a space", q: signed(), body: "<xml><ToUserName>" + hdlOrigID + "</ToUserName><FromUserName>o x</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>9</MsgId></xml>", status: 400, reason: "is not an OpenID"},
		{name: "encrypted without a cipher", q: func() url.Values { q := signed(); q.Set("encrypt_type", "aes"); return q }(), body: hdlEnvelope(hdlOrigID, "AAAA"), status: 400, reason: "the account has no aes_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := hdlSetup(t, func(c *wechat.HandlerConfig) { c.MaxBody = maxBody }, hdlPlainAccount())
			method, account := tt.method, tt.account
			if method == "" {
				method = http.MethodPost
			}
			if account == "" {
				account = hdlAccount
			}
			a := env.do(t, method, account, tt.q, tt.body, tt.chunked)
			if a.status != tt.status {
				t.Errorf("status %d, want %d (body %q)", a.status, tt.status, a.body)
			}
			if a.body == "success" || strings.Contains(a.body, "<xml>") {
				t.Errorf("a rejection answered %q", a.body)
			}
			if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != "GET, POST" {
				t.Errorf("Allow = %q, want \"GET, POST\"", a.header.Get("Allow"))
			}
			if tt.chunked && env.lastLength() != -1 {
				t.Errorf("the request had Content-Length %d; the test wants it chunked", env.lastLength())
			}
			if log := env.log.String(); !strings.Contains(log, tt.reason) || !strings.Contains(log, "status="+strconv.Itoa(tt.status)) {
				t.Errorf("log does not give the reason %q and status %d:\n%s", tt.reason, tt.status, log)
			}
			obs := env.waitObs(t, 1)
			if tt.reason == "unknown account" {
				account = "" // the sender chose it: not a metric's label
			}
			if want := (hdlObservation{account, "", tt.status}); obs[0] != want {
				t.Errorf("observed %+v, want %+v", obs[0], want)
			}
			hdlNoEvents(t, env)
		})
	}
}

func TestHandlerTimestampTolerance(t *testing.T) {
	t.Parallel()
	body := hdlText(hdlOrigID, "hi", "2001")
	ts := func(d time.Duration) string { return strconv.FormatInt(hdlNow.Add(d).Unix(), 10) }

	env := hdlSetup(t, nil, hdlPlainAccount())
	for _, d := range []time.Duration{-hdlTolerate, -4 * time.Minute, 0, 4 * time.Minute, hdlTolerate} {
		if a := env.post(t, hdlAccount, hdlQuery(hdlToken, ts(d), hdlNonce), body); a.status != 200 || a.body != "success" {
			t.Errorf("timestamp %s off with tolerance 5m: %d %q, want 200 success", d, a.status, a.body)
		}
	}

	off := hdlSetup(t, func(c *wechat.HandlerConfig) { c.TimestampTolerance = 0 }, hdlPlainAccount())
	for _, d := range []time.Duration{-6 * time.Minute, 6 * time.Minute, -30 * 24 * time.Hour} {
		if a := off.post(t, hdlAccount, hdlQuery(hdlToken, ts(d), hdlNonce), body); a.status != 200 || a.body != "success" {
			t.Errorf("timestamp %s off with tolerance 0: %d %q, want 200 success", d, a.status, a.body)
		}
	}
	if n := len(off.sink.Events()); n != 3 {
		t.Errorf("the sink received %d events with tolerance 0, want 3", n)
	}
}

func TestHandlerPlainEvents(t *testing.T) {
	t.Parallel()
	at := hdlNow.UTC()
	tests := []struct {
		name string
		body string
		want channels.Event
	}{
		{
			name: "text",
			body: hdlText(hdlOrigID, "你好 <world> & friends", "23456789012345678"),
			want: hdlTextEvent(hdlAccount, "你好 <world> & friends", "23456789012345678"),
		},
		{
			name: "text with numbers in CDATA",
			body: "<xml><ToUserName><![CDATA[" + hdlOrigID + "]]></ToUserName><FromUserName><![CDATA[" + hdlContact + "]]></FromUserName>" +
				"<CreateTime><![CDATA[" + hdlTS + "]]></CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>" +
				"<MsgId><![CDATA[42]]></MsgId></xml>",
			want: hdlTextEvent(hdlAccount, "hi", "42"),
		},
		{
			name: "follow through a QR code",
			body: "<xml><ToUserName><![CDATA[" + hdlOrigID + "]]></ToUserName><FromUserName><![CDATA[" + hdlContact + "]]></FromUserName>" +
				"<CreateTime>" + hdlTS + "</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>" +
				"<EventKey><![CDATA[qrscene_store_1]]></EventKey><Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8v]]></Ticket></xml>",
			want: channels.Event{Account: hdlAccount, Contact: hdlContact, Kind: channels.Follow, Scene: "store_1", At: at},
		},
		{
			name: "message-menu tap",
			body: "<xml><ToUserName><![CDATA[" + hdlOrigID + "]]></ToUserName><FromUserName><![CDATA[" + hdlContact + "]]></FromUserName>" +
				"<CreateTime>" + hdlTS + "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[Yes please]]></Content>" +
				"<MsgId>777</MsgId><bizmsgmenuid>101</bizmsgmenuid></xml>",
			want: channels.Event{Account: hdlAccount, Contact: hdlContact, Kind: channels.MenuClick, Key: "101", MsgID: "777", Text: "Yes please", At: at},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := hdlSetup(t, nil, hdlPlainAccount())
			a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), tt.body)
			if a.status != http.StatusOK || a.body != "success" {
				t.Fatalf("answer %d %q, want 200 \"success\"", a.status, a.body)
			}
			hdlWantEvents(t, env, tt.want)
			obs := env.waitObs(t, 1)
			if want := (hdlObservation{hdlAccount, tt.want.Kind, 200}); obs[0] != want {
				t.Errorf("observed %+v, want %+v", obs[0], want)
			}
			if log := env.log.String(); log != "" {
				t.Errorf("an accepted callback logged:\n%s", log)
			}
		})
	}
}

// TestHandlerSafeModeVectorE posts WECHAT.md's official vector E exactly
// as WeChat sent it.
func TestHandlerSafeModeVectorE(t *testing.T) {
	t.Parallel()
	const (
		token     = "AAAAA"
		appID     = "wx134c8103faa5a59e"
		timestamp = "1715943329"
		nonce     = "1590219412"
		signature = "cc0c594499c1634947d5b502f158ee518947db27"
		msgSig    = "6c12a4205838198b8fa631b3220723bb07f1015c"
		encrypt   = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg=="
		contact   = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
		origID    = "gh_97417a04a28d"
	)
	acc := &wechat.CallbackAccount{ID: "demo", Token: token, OriginalID: origID, Cipher: hdlCipher(t, strings.Repeat("A", 43), appID)}
	ts, _ := strconv.ParseInt(timestamp, 10, 64)
	env := hdlSetup(t, func(c *wechat.HandlerConfig) { c.Clock = hdlClock{time.Unix(ts, 0).Add(40 * time.Second)} }, acc)
	q := url.Values{
		"signature": {signature}, "timestamp": {timestamp}, "nonce": {nonce}, "openid": {contact},
		"encrypt_type": {"aes"}, "msg_signature": {msgSig},
	}
	a := env.post(t, "demo", q, hdlEnvelope(origID, encrypt))
	if a.status != http.StatusOK || a.body != "success" {
		t.Fatalf("vector E: %d %q, want 200 \"success\"\nlog:\n%s", a.status, a.body, env.log.String())
	}
	hdlWantEvents(t, env, channels.Event{
		Account: "demo", Contact: contact, Kind: channels.Other, Name: "debug_demo", At: time.Unix(ts, 0).UTC(),
	})

	// The same callback, its Encrypt altered by one character, fails its
	// msg_signature.
	tampered := strings.Replace(encrypt, "D7yz", "D7yy", 1)
	a = env.post(t, "demo", q, hdlEnvelope(origID, tampered))
	if a.status != http.StatusForbidden {
		t.Errorf("altered Encrypt: %d %q, want 403", a.status, a.body)
	}
	// And arriving an hour later, it is a replay.
	late := hdlSetup(t, func(c *wechat.HandlerConfig) { c.Clock = hdlClock{time.Unix(ts, 0).Add(time.Hour)} }, acc)
	if a := late.post(t, "demo", q, hdlEnvelope(origID, encrypt)); a.status != http.StatusForbidden {
		t.Errorf("vector E an hour later: %d %q, want 403", a.status, a.body)
	}
	hdlNoEvents(t, late)
}

// TestHandlerSafeModeVectorF posts WECHAT.md's vector F; its plain
// signature is not given, so it is computed.
func TestHandlerSafeModeVectorF(t *testing.T) {
	t.Parallel()
	const (
		token     = "123456"
		appID     = "wx49f0ab532d5d035a"
		timestamp = "1411525903"
		nonce     = "461056294"
		msgSig    = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
		encrypt   = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
	)
	acc := &wechat.CallbackAccount{ID: "f", Token: token, Cipher: hdlCipher(t, "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", appID)}
	ts, _ := strconv.ParseInt(timestamp, 10, 64)
	env := hdlSetup(t, func(c *wechat.HandlerConfig) { c.Clock = hdlClock{time.Unix(ts, 0).Add(-20 * time.Second)} }, acc)
	q := url.Values{
		"signature": {wechat.Signature(token, timestamp, nonce)}, "timestamp": {timestamp}, "nonce": {nonce},
		"encrypt_type": {"aes"}, "msg_signature": {msgSig},
	}
	a := env.post(t, "f", q, hdlEnvelope(appID, encrypt))
	if a.status != http.StatusOK || a.body != "success" {
		t.Fatalf("vector F: %d %q, want 200 \"success\"\nlog:\n%s", a.status, a.body, env.log.String())
	}
	hdlWantEvents(t, env, channels.Event{
		Account: "f", Contact: "messense", Kind: channels.Text, MsgID: "4363689963896700987", Text: "test", At: time.Unix(ts, 0).UTC(),
	})

	// The outer ToUserName must match the encrypted one.
	if a := env.post(t, "f", q, hdlEnvelope("gh_notthisone", encrypt)); a.status != http.StatusBadRequest {
		t.Errorf("outer ToUserName differs: %d %q, want 400", a.status, a.body)
	}
	if n := len(env.sink.Events()); n != 1 {
		t.Errorf("the sink has %d events, want 1", n)
	}
}

// hdlSafeAccount is the safe-mode test account: current key hdlKey.
func hdlSafeAccount(t *testing.T) *wechat.CallbackAccount {
	a := hdlPlainAccount()
	a.Cipher = hdlCipher(t, hdlKey, hdlAppID)
	return a
}

func TestHandlerSafeModeRejects(t *testing.T) {
	t.Parallel()
	cur := hdlCipher(t, hdlKey, hdlAppID)
	inner := hdlText(hdlOrigID, "secret message", "3001")
	tests := []struct {
		name   string
		q      func(q url.Values, body string) (url.Values, string)
		status int
		reason string
	}{
		{"bad msg_signature", func(q url.Values, b string) (url.Values, string) {
			q.Set("msg_signature", wechat.Signature("otherToken", hdlTS, hdlNonce, "x"))
			return q, b
		}, 403, "bad msg_signature"},
		{"no msg_signature", func(q url.Values, b string) (url.Values, string) {
			q.Del("msg_signature")
			return q, b
		}, 403, "bad msg_signature"},
		{"msg_signature over another nonce", func(q url.Values, b string) (url.Values, string) {
			// The plain signature is right, msg_signature is not.
			q.Set("nonce", "314159")
			q.Set("signature", wechat.Signature(hdlToken, hdlTS, "314159"))
			return q, b
		}, 403, "bad msg_signature"},
		{"no Encrypt", func(q url.Values, _ string) (url.Values, string) {
			return q, hdlText(hdlOrigID, "plain", "3002")
		}, 400, "encrypted callback without Encrypt"},
		{"Encrypt not base64", func(q url.Values, _ string) (url.Values, string) {
			q.Set("msg_signature", wechat.Signature(hdlToken, hdlTS, hdlNonce, "!!!"))
			return q, hdlEnvelope(hdlOrigID, "!!!")
		}, 400, "does not decrypt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := hdlSetup(t, nil, hdlSafeAccount(t))
			q, body := hdlEncrypted(t, cur, hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
			q, body = tt.q(q, body)
			a := env.post(t, hdlAccount, q, body)
			if a.status != tt.status {
				t.Errorf("status %d, want %d (%q)", a.status, tt.status, a.body)
			}
			if log := env.log.String(); !strings.Contains(log, tt.reason) {
				t.Errorf("log does not give the reason %q:\n%s", tt.reason, log)
			}
			hdlNoEvents(t, env)
		})
	}

	// A correctly encrypted callback to an account in plain mode.
	t.Run("account without a cipher", func(t *testing.T) {
		t.Parallel()
		env := hdlSetup(t, nil, hdlPlainAccount())
		q, body := hdlEncrypted(t, cur, hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
		if a := env.post(t, hdlAccount, q, body); a.status != http.StatusBadRequest {
			t.Errorf("status %d, want 400 (%q)", a.status, a.body)
		}
		hdlNoEvents(t, env)
	})

	// The same callback, untouched, is accepted: the cases above fail for
	// their own reason.
	t.Run("control", func(t *testing.T) {
		t.Parallel()
		env := hdlSetup(t, nil, hdlSafeAccount(t))
		q, body := hdlEncrypted(t, cur, hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
		if a := env.post(t, hdlAccount, q, body); a.status != http.StatusOK || a.body != "success" {
			t.Fatalf("answer %d %q, want 200 success", a.status, a.body)
		}
		hdlWantEvents(t, env, hdlTextEvent(hdlAccount, "secret message", "3001"))
	})
}

func TestHandlerKeyRotation(t *testing.T) {
	t.Parallel()
	cur := hdlCipher(t, hdlKey, hdlAppID)
	old := hdlCipher(t, hdlOldKey, hdlAppID)
	foreign := hdlCipher(t, hdlKey, "wxffffffffffffffff")
	inner := hdlText(hdlOrigID, "rotating", "4001")
	rotated := func(t *testing.T, previous bool) *wechat.CallbackAccount {
		a := hdlSafeAccount(t)
		if previous {
			a.Previous = hdlCipher(t, hdlOldKey, hdlAppID)
		}
		return a
	}
	tests := []struct {
		name     string
		with     *wechat.Cipher
		previous bool
		status   int
		reason   string
	}{
		{"current key", cur, false, 200, ""},
		{"current key, previous set", cur, true, 200, ""},
		{"previous key, previous set", old, true, 200, ""},
		{"previous key, no previous", old, false, 400, "does not decrypt"},
		{"another AppID", foreign, false, 400, "another AppID"},
		{"another AppID, previous set", foreign, true, 400, "another AppID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := hdlSetup(t, nil, rotated(t, tt.previous))
			q, body := hdlEncrypted(t, tt.with, hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
			a := env.post(t, hdlAccount, q, body)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d (%q)\nlog:\n%s", a.status, tt.status, a.body, env.log.String())
			}
			if tt.status != http.StatusOK {
				if log := env.log.String(); !strings.Contains(log, tt.reason) {
					t.Errorf("log does not give the reason %q:\n%s", tt.reason, log)
				}
				hdlNoEvents(t, env)
				return
			}
			if a.body != "success" {
				t.Errorf("answer %q, want success", a.body)
			}
			hdlWantEvents(t, env, hdlTextEvent(hdlAccount, "rotating", "4001"))
		})
	}
}

// hdlReply returns a reply function answering msg, and the channel that
// receives done's argument.
func hdlReply(msg *channels.Message) (hdlReplyFunc, chan bool) {
	written := make(chan bool, 1)
	return func(channels.Event, time.Time) (*channels.Message, func(bool), error) {
		return msg, func(w bool) { written <- w }, nil
	}, written
}

// hdlWaitDone returns what done was called with.
func hdlWaitDone(t *testing.T, written chan bool) bool {
	t.Helper()
	select {
	case w := <-written:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("done was not called")
		return false
	}
}

// hdlReplyXML is the passive reply text "Thanks!" from from to the test
// contact at the test clock's time.
func hdlReplyXML(from string) string {
	return "<xml><ToUserName><![CDATA[" + hdlContact + "]]></ToUserName>" +
		"<FromUserName><![CDATA[" + from + "]]></FromUserName>" +
		"<CreateTime>" + hdlTS + "</CreateTime>" +
		"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[Thanks!]]></Content></xml>"
}

func TestHandlerPassiveReply(t *testing.T) {
	t.Parallel()
	thanks := &channels.Message{Type: "text", Text: "Thanks!"}
	const wait = 1500 * time.Millisecond
	passive := func(c *wechat.HandlerConfig) { c.PassiveReplyWait = wait }

	t.Run("from the original id", func(t *testing.T) {
		t.Parallel()
		acc := hdlPlainAccount()
		acc.PassiveReply = true
		env := hdlSetup(t, passive, acc)
		reply, written := hdlReply(thanks)
		env.sink.set(reply, nil)
		a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "5001"))
		if a.status != http.StatusOK || a.body != hdlReplyXML(hdlOrigID) {
			t.Errorf("answer %d\n %q\nwant 200\n %q", a.status, a.body, hdlReplyXML(hdlOrigID))
		}
		if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
			t.Errorf("Content-Type %q, want application/xml", ct)
		}
		if !hdlWaitDone(t, written) {
			t.Error("done(false), want done(true): the answer was written")
		}
		hdlWantEvents(t, env, hdlTextEvent(hdlAccount, "hi", "5001"))
		if d := env.sink.Deadlines(); len(d) != 1 || !d[0].Equal(hdlNow.Add(wait)) {
			t.Errorf("deadlines %v, want [%v]", d, hdlNow.Add(wait))
		}
		if obs := env.waitObs(t, 1); obs[0] != (hdlObservation{hdlAccount, channels.Text, 200}) {
			t.Errorf("observed %+v", obs[0])
		}
	})

	t.Run("from the callback's ToUserName", func(t *testing.T) {
		t.Parallel()
		acc := &wechat.CallbackAccount{ID: hdlAccount, Token: hdlToken, PassiveReply: true}
		env := hdlSetup(t, passive, acc)
		reply, written := hdlReply(thanks)
		env.sink.set(reply, nil)
		a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText("gh_fromcallback", "hi", "5002"))
		if a.status != http.StatusOK || a.body != hdlReplyXML("gh_fromcallback") {
			t.Errorf("answer %d\n %q\nwant 200\n %q", a.status, a.body, hdlReplyXML("gh_fromcallback"))
		}
		if !hdlWaitDone(t, written) {
			t.Error("done(false), want done(true)")
		}
	})

	t.Run("no message", func(t *testing.T) {
		t.Parallel()
		acc := hdlPlainAccount()
		acc.PassiveReply = true
		env := hdlSetup(t, passive, acc)
		env.sink.set(func(channels.Event, time.Time) (*channels.Message, func(bool), error) { return nil, nil, nil }, nil)
		a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "5003"))
		if a.status != http.StatusOK || a.body != "success" {
			t.Errorf("answer %d %q, want 200 success", a.status, a.body)
		}
		hdlWantEvents(t, env, hdlTextEvent(hdlAccount, "hi", "5003"))
	})

	// A message that cannot be a passive reply (a message menu) is not
	// written: the answer is success and done says so.
	t.Run("message that cannot be a passive reply", func(t *testing.T) {
		t.Parallel()
		acc := hdlPlainAccount()
		acc.PassiveReply = true
		env := hdlSetup(t, passive, acc)
		reply, written := hdlReply(&channels.Message{Type: "menu", Menu: &channels.Menu{}})
		env.sink.set(reply, nil)
		a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "5004"))
		if a.status != http.StatusOK || a.body != "success" {
			t.Errorf("answer %d %q, want 200 success", a.status, a.body)
		}
		if hdlWaitDone(t, written) {
			t.Error("done(true), want done(false): no reply was written")
		}
	})

	// Without PassiveReply the sink's Ingest is used, never IngestReply.
	t.Run("account without passive replies", func(t *testing.T) {
		t.Parallel()
		env := hdlSetup(t, passive, hdlPlainAccount())
		reply, _ := hdlReply(thanks)
		env.sink.set(reply, nil)
		a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "5005"))
		if a.status != http.StatusOK || a.body != "success" {
			t.Errorf("answer %d %q, want 200 success", a.status, a.body)
		}
		if d := env.sink.Deadlines(); len(d) != 0 {
			t.Errorf("IngestReply called %d times, want 0", len(d))
		}
		hdlWantEvents(t, env, hdlTextEvent(hdlAccount, "hi", "5005"))
	})
}

// hdlEncryptedAnswer is the envelope of an encrypted passive reply.
type hdlEncryptedAnswer struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      string   `xml:"Encrypt"`
	MsgSignature string   `xml:"MsgSignature"`
	TimeStamp    string   `xml:"TimeStamp"`
	Nonce        string   `xml:"Nonce"`
}

func TestHandlerPassiveReplyEncrypted(t *testing.T) {
	t.Parallel()
	thanks := &channels.Message{Type: "text", Text: "Thanks!"}
	tests := []struct {
		name string
		// with encrypts the callback; replyKey must decrypt the answer.
		with, replyKey, otherKey *wechat.Cipher
	}{
		{"current key", hdlCipher(t, hdlKey, hdlAppID), hdlCipher(t, hdlKey, hdlAppID), hdlCipher(t, hdlOldKey, hdlAppID)},
		// WeChat's rule: the reply is encrypted with the key that
		// decrypted the callback.
		{"previous key", hdlCipher(t, hdlOldKey, hdlAppID), hdlCipher(t, hdlOldKey, hdlAppID), hdlCipher(t, hdlKey, hdlAppID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			acc := hdlSafeAccount(t)
			acc.Previous = hdlCipher(t, hdlOldKey, hdlAppID)
			acc.PassiveReply = true
			env := hdlSetup(t, nil, acc)
			reply, written := hdlReply(thanks)
			env.sink.set(reply, nil)
			q, body := hdlEncrypted(t, tt.with, hdlToken, hdlTS, hdlNonce, hdlOrigID, hdlText(hdlOrigID, "hi", "6001"))
			a := env.post(t, hdlAccount, q, body)
			if a.status != http.StatusOK {
				t.Fatalf("status %d, want 200 (%q)\nlog:\n%s", a.status, a.body, env.log.String())
			}
			if strings.Contains(a.body, "Thanks!") || strings.Contains(a.body, hdlContact) {
				t.Errorf("the encrypted answer shows the reply in clear: %s", a.body)
			}
			var envelope hdlEncryptedAnswer
			if err := xml.Unmarshal([]byte(a.body), &envelope); err != nil {
				t.Fatalf("answer is not the envelope: %v\n%s", err, a.body)
			}
			if envelope.TimeStamp != hdlTS || envelope.Nonce == "" || envelope.Encrypt == "" {
				t.Errorf("envelope TimeStamp %q Nonce %q Encrypt %q: want the clock's %s and both set", envelope.TimeStamp, envelope.Nonce, envelope.Encrypt, hdlTS)
			}
			if !wechat.VerifySignature(envelope.MsgSignature, hdlToken, envelope.TimeStamp, envelope.Nonce, envelope.Encrypt) {
				t.Errorf("MsgSignature %q does not verify", envelope.MsgSignature)
			}
			plain, err := tt.replyKey.Decrypt(envelope.Encrypt)
			if err != nil {
				t.Fatalf("the reply does not decrypt with the key that decrypted the callback: %v", err)
			}
			if string(plain) != hdlReplyXML(hdlOrigID) {
				t.Errorf("decrypted reply\n %q\nwant\n %q", plain, hdlReplyXML(hdlOrigID))
			}
			if _, err := tt.otherKey.Decrypt(envelope.Encrypt); err == nil {
				t.Error("the reply also decrypts with the other key")
			}
			if !hdlWaitDone(t, written) {
				t.Error("done(false), want done(true)")
			}
			hdlWantEvents(t, env, hdlTextEvent(hdlAccount, "hi", "6001"))
		})
	}
}

func TestHandlerSinkErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		passive bool
		err     error
		status  int
	}{
		{"Ingest rejects", false, fmt.Errorf("flow refuses it: %w", wechat.ErrRejected), 400},
		{"Ingest fails", false, errors.New("database is locked"), 503},
		{"Ingest gives up", false, fmt.Errorf("commit: %w", context.DeadlineExceeded), 503},
		{"IngestReply rejects", true, fmt.Errorf("no: %w", wechat.ErrRejected), 400},
		{"IngestReply fails", true, errors.New("disk full"), 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			acc := hdlPlainAccount()
			acc.PassiveReply = tt.passive
			env := hdlSetup(t, nil, acc)
			called := make(chan bool, 1)
			env.sink.set(func(channels.Event, time.Time) (*channels.Message, func(bool), error) {
				return nil, func(w bool) { called <- w }, tt.err
			}, tt.err)
			a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "7001"))
			if a.status != tt.status {
				t.Errorf("status %d, want %d", a.status, tt.status)
			}
			if a.body == "success" || a.body == "" {
				t.Errorf("answer %q acknowledges the callback", a.body)
			}
			obs := env.waitObs(t, 1)
			if want := (hdlObservation{hdlAccount, channels.Text, tt.status}); obs[0] != want {
				t.Errorf("observed %+v, want %+v", obs[0], want)
			}
			if log := env.log.String(); !strings.Contains(log, tt.err.Error()) {
				t.Errorf("log does not say why:\n%s", log)
			}
			select {
			case <-called:
				t.Error("done was called after an error")
			default:
			}
			hdlNoEventsStored(t, env)
		})
	}
}

// hdlNoEventsStored fails when the sink kept an event (IngestReply may
// have been called).
func hdlNoEventsStored(t *testing.T, env *hdlEnv) {
	t.Helper()
	if evs := env.sink.Events(); len(evs) != 0 {
		t.Errorf("the sink kept %d events, want none", len(evs))
	}
}

// TestHandlerLogsNoSecrets checks that rejections are logged with their
// reason, and never with the token or an AES key.
func TestHandlerLogsNoSecrets(t *testing.T) {
	t.Parallel()
	acc := hdlSafeAccount(t)
	env := hdlSetup(t, nil, acc)
	cur := hdlCipher(t, hdlKey, hdlAppID)
	old := hdlCipher(t, hdlOldKey, hdlAppID)
	inner := hdlText(hdlOrigID, "hi", "8001")

	// Bad plain signature.
	env.post(t, hdlAccount, hdlQuery("wrongToken", hdlTS, hdlNonce), inner)
	// Bad msg_signature.
	q, body := hdlEncrypted(t, cur, "wrongToken", hdlTS, hdlNonce, hdlOrigID, inner)
	q.Set("signature", wechat.Signature(hdlToken, hdlTS, hdlNonce))
	env.post(t, hdlAccount, q, body)
	// A key the account does not have.
	q, body = hdlEncrypted(t, old, hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
	env.post(t, hdlAccount, q, body)
	// A replay.
	old6 := strconv.FormatInt(hdlNow.Add(-6*time.Minute).Unix(), 10)
	env.post(t, hdlAccount, hdlQuery(hdlToken, old6, hdlNonce), inner)

	env.waitObs(t, 4)
	log := env.log.String()
	for _, want := range []string{
		`level=WARN msg="callback rejected" account=main status=403 reason="bad signature"`,
		`level=WARN msg="callback rejected" account=main status=403 reason="bad msg_signature"`,
		`level=WARN msg="callback rejected" account=main status=400 reason="safe-mode message does not decrypt: `,
		`level=WARN msg="callback rejected" account=main status=403 reason="timestamp is 6m0s old, more than 5m0s"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s\nlog:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "\n"); n != 4 {
		t.Errorf("%d log lines, want one per rejection (4):\n%s", n, log)
	}
	for name, secret := range map[string]string{"token": hdlToken, "aes key": hdlKey, "previous aes key": hdlOldKey} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows the %s:\n%s", name, log)
		}
	}
	hdlNoEvents(t, env)
}

func TestHandlerObserve(t *testing.T) {
	t.Parallel()
	env := hdlSetup(t, nil, hdlPlainAccount())
	follow := "<xml><ToUserName>" + hdlOrigID + "</ToUserName><FromUserName>" + hdlContact + "</FromUserName><CreateTime>" + hdlTS +
		"</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"
	env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "9001"))
	env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), follow)
	env.post(t, hdlAccount, hdlQuery("wrongToken", hdlTS, hdlNonce), follow)
	env.post(t, "ghost", hdlQuery(hdlToken, hdlTS, hdlNonce), follow)
	// A callback read whose event the store did not take (503) has its
	// type: only a callback refused before its event was read has none.
	env.sink.mu.Lock()
	env.sink.ingestErr = errors.New("database away")
	env.sink.mu.Unlock()
	env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), follow)
	obs := env.waitObs(t, 5)
	want := []hdlObservation{
		{hdlAccount, channels.Text, 200},
		{hdlAccount, channels.Follow, 200},
		{hdlAccount, "", 403},
		{"", "", 400}, // an unknown account is not named
		{hdlAccount, channels.Follow, 503},
	}
	if !reflect.DeepEqual(obs, want) {
		t.Errorf("observed\n %+v\nwant\n %+v", obs, want)
	}
}

// TestHandlerCompatibleModeWithoutKey: an account without an aes_key reads
// the plain part of a compatible-mode callback, the first step from plain
// to safe mode; a safe-mode callback (no plain part) is refused.
func TestHandlerCompatibleModeWithoutKey(t *testing.T) {
	t.Parallel()
	env := hdlSetup(t, nil, hdlPlainAccount())
	inner := hdlText(hdlOrigID, "compatible", "4001")
	q, _ := hdlEncrypted(t, hdlCipher(t, hdlKey, hdlAppID), hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
	// The body carries the plain fields beside Encrypt.
	body := strings.Replace(inner, "</xml>", "<Encrypt><![CDATA[abc]]></Encrypt></xml>", 1)
	if a := env.post(t, hdlAccount, q, body); a.status != 200 || a.body != "success" {
		t.Fatalf("compatible mode without a key: %d %q", a.status, a.body)
	}
	hdlWantEvents(t, env, hdlTextEvent(hdlAccount, "compatible", "4001"))

	env = hdlSetup(t, nil, hdlPlainAccount())
	q, body = hdlEncrypted(t, hdlCipher(t, hdlKey, hdlAppID), hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
	if a := env.post(t, hdlAccount, q, body); a.status != 400 {
		t.Fatalf("safe mode without a key: %d %q, want 400", a.status, a.body)
	}
	hdlNoEvents(t, env)
}

// stallSink stands in for an engine whose store does not answer: Ingest
// waits for its context, IngestReply until release, then gives a reply
// and records how it went.
type stallSink struct {
	release chan struct{}
	written chan bool
}

func (s *stallSink) Ingest(ctx context.Context, _ channels.Event) error {
	<-ctx.Done()
	return ctx.Err()
}

func (s *stallSink) IngestReply(_ context.Context, _ channels.Event, _ time.Time) (*channels.Message, func(bool), error) {
	<-s.release
	return &channels.Message{Type: "text", Text: "late"}, func(written bool) { s.written <- written }, nil
}

// TestHandlerStoreWait: a callback whose event the Sink has not stored
// within StoreWait is answered 503 (not acknowledged: WeChat retries),
// with or without passive replies, where it waited for ever before; a
// passive reply decided after that goes by the API (done(false)).
func TestHandlerStoreWait(t *testing.T) {
	t.Parallel()
	sink := &stallSink{release: make(chan struct{}), written: make(chan bool, 1)}
	passive := &wechat.CallbackAccount{ID: "passive", Token: hdlToken, OriginalID: hdlOrigID, PassiveReply: true}
	env := hdlSetup(t, func(c *wechat.HandlerConfig) {
		c.Sink = sink
		c.StoreWait = 100 * time.Millisecond
	}, hdlPlainAccount(), passive)
	for _, account := range []string{hdlAccount, "passive"} {
		a := env.post(t, account, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlText(hdlOrigID, "hello", "23456789012345678"))
		if a.status != http.StatusServiceUnavailable || !strings.Contains(env.log.String(), "gave up") {
			t.Fatalf("%s: a callback the store does not answer: %d %q, want 503 logged as given up\n%s", account, a.status, a.body, env.log.String())
		}
	}
	close(sink.release)
	select {
	case written := <-sink.written:
		if written {
			t.Error("a passive reply decided after the 503 was reported written")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a passive reply decided after the 503 was never finished (its message would wait for ever)")
	}
}

// TestHandlerRefusesAnotherAccountsRecipient: an account without
// original_id takes a callback for any ToUserName but another configured
// account's: one whose admin console was given this account's URL (and
// the same token) had its followers stored as this account's contacts,
// answered with this account's token. Its own callbacks still pass.
func TestHandlerRefusesAnotherAccountsRecipient(t *testing.T) {
	t.Parallel()
	open := &wechat.CallbackAccount{ID: "open", Token: hdlToken}
	env := hdlSetup(t, nil, open, hdlPlainAccount())
	q := hdlQuery(hdlToken, hdlTS, "n1")
	if a := env.post(t, "open", q, hdlText(hdlOrigID, "hello", "1001")); a.status != http.StatusBadRequest {
		t.Fatalf("%s's callback at open's URL: %d %s, want 400", hdlAccount, a.status, a.body)
	}
	if !strings.Contains(env.log.String(), "callback for account "+hdlAccount+" (ToUserName "+hdlOrigID+")") {
		t.Errorf("the log does not say whose callback it was:\n%s", env.log.String())
	}
	hdlNoEvents(t, env)
	q = hdlQuery(hdlToken, hdlTS, "n2")
	if a := env.post(t, "open", q, hdlText("gh_ownid000001", "hello", "1002")); a.status != http.StatusOK {
		t.Fatalf("open's own callback: %d %s", a.status, a.body)
	}
	q = hdlQuery(hdlToken, hdlTS, "n3")
	if a := env.post(t, hdlAccount, q, hdlText(hdlOrigID, "hello", "1003")); a.status != http.StatusOK {
		t.Fatalf("%s's callback at its URL: %d %s", hdlAccount, a.status, a.body)
	}
	hdlWantEvents(t, env, hdlTextEvent("open", "hello", "1002"), hdlTextEvent(hdlAccount, "hello", "1003"))
}
