package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// Clock is the client's source of time: token and media expiry use Now,
// backoff waits use After (never time.Sleep). engine.Clock satisfies it.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// The token modes of ClientConfig.
const (
	// TokenModeStable fetches tokens with POST /cgi-bin/stable_token
	// (force_refresh false): several processes may fetch without
	// invalidating each other's token.
	TokenModeStable = "stable"
	// TokenModeClassic fetches tokens with GET /cgi-bin/token: each fetch
	// invalidates the previous token after a few minutes.
	TokenModeClassic = "classic"
)

// The defaults of ClientConfig.
const (
	DefaultAPIBase     = "https://api.weixin.qq.com"
	DefaultHTTPTimeout = 10 * time.Second
	DefaultMaxAttempts = 4
	DefaultBackoffBase = 200 * time.Millisecond
	// DefaultBackoffMax caps one backoff wait.
	DefaultBackoffMax = 5 * time.Second
	// DefaultTokenMargin is how long before its expiry a token is
	// refreshed.
	DefaultTokenMargin = 5 * time.Minute
)

// apiMaxResponse caps how much of an API answer is read.
const apiMaxResponse = 1 << 20

// ClientConfig configures a Client for one Official Account. Its String,
// GoString and LogValue methods never show the AppSecret, nor the user
// name and password of APIBase.
type ClientConfig struct {
	// Account is the account's id in wxflow's configuration.
	Account string
	// AppID and AppSecret are the account's developer credentials. AppID
	// keys the TokenStore and the MediaCache.
	AppID     string
	AppSecret string `json:"-"`
	// APIBase is the API's address (default https://api.weixin.qq.com);
	// tests point it at a wechattest.Server.
	APIBase string
	// TokenMode is "stable" (default) or "classic".
	TokenMode string
	// HTTP is the HTTP client (default: one with a 10 s timeout).
	HTTP *http.Client
	// Clock is the time source (default: the system clock).
	Clock Clock
	// Tokens keeps access tokens across restarts (nil: memory only).
	Tokens TokenStore
	// Media remembers uploaded temporary media (nil: memory only).
	Media MediaCache
	// Uploads reads the files messages name by channels.Media.Upload,
	// kept in the store (nil: such a message cannot be sent).
	Uploads UploadReader
	// Logger receives the client's few log lines (nil: discarded). They
	// never contain the secret or a token.
	Logger *slog.Logger
	// MaxAttempts bounds the attempts of one call, the first included
	// (default 4).
	MaxAttempts int
	// BackoffBase is the first backoff wait's upper bound (default
	// 200ms); it doubles with each attempt up to 5 s, with full jitter.
	BackoffBase time.Duration
	// Observe, when set, is told the outcome of every HTTP attempt, for
	// metrics: the API path (without the token) and the result, "0" for
	// success, WeChat's errcode ("45015"), "http_503" for an HTTP status
	// other than 200, or "network" when no usable answer came (no answer,
	// or one that is not WeChat's JSON).
	Observe func(path, result string)
}

// String describes the configuration without its secret.
func (c ClientConfig) String() string {
	mode := c.TokenMode
	if mode == "" {
		mode = TokenModeStable
	}
	return fmt.Sprintf("wechat.ClientConfig{Account:%q AppID:%q AppSecret:REDACTED APIBase:%q TokenMode:%q}", c.Account, c.AppID, withoutUser(c.APIBase), mode)
}

// withoutUser is a URL without its user name and password (a proxy's in
// api_base), for what is shown.
func withoutUser(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.User == nil {
		return base
	}
	u.User = nil
	return u.String()
}

// GoString is String, so %#v does not show the secret either.
func (c ClientConfig) GoString() string { return c.String() }

// LogValue is what slog logs of the configuration: no secret, and
// api_base without its user name and password (a proxy's).
func (c ClientConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account", c.Account), slog.String("appid", c.AppID), slog.String("api_base", withoutUser(c.APIBase)))
}

// APIError is an error WeChat answered with: a non-zero errcode and its
// errmsg. Find it with errors.As.
type APIError struct {
	Code int
	Msg  string
}

// Error implements error: "wechat: errcode 45015: response out of time
// limit or subscription is canceled".
func (e *APIError) Error() string {
	return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg)
}

// apiStatusError is an HTTP answer other than 200 OK.
type apiStatusError struct {
	method, path string
	status       int
	body         string
}

// Error implements error.
func (e *apiStatusError) Error() string {
	msg := fmt.Sprintf("wechat: %s %s: HTTP %d %s", e.method, e.path, e.status, http.StatusText(e.status))
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

// apiRedacted is an error whose message had a secret or a token removed.
// It still unwraps to the original error for errors.Is and errors.As.
type apiRedacted struct {
	msg string
	err error
}

func (e *apiRedacted) Error() string { return e.msg }
func (e *apiRedacted) Unwrap() error { return e.err }

// Client calls WeChat's API for one Official Account: it keeps the access
// token fresh (one refresher at a time), retries what is safe to retry and
// uploads media. It is safe for concurrent use.
type Client struct {
	account     string
	appID       string
	secret      string
	base        string
	tokenMode   string
	http        *http.Client
	clock       Clock
	tokens      TokenStore
	media       MediaCache
	uploads     UploadReader
	log         *slog.Logger
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	tokMargin   time.Duration

	tokMu     sync.Mutex
	tokCur    Token
	tokFlight *tokFlight
	// tokFailLog and tokFailAt are the last failed token fetch logged and
	// when: the same failure is logged once a minute (written by one
	// flight at a time).
	tokFailLog string
	tokFailAt  time.Time
	refreshes  atomic.Int64
	observe    func(path, result string)
}

// apiSystemClock is the wall clock.
type apiSystemClock struct{}

func (apiSystemClock) Now() time.Time                         { return time.Now() }
func (apiSystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewClient returns a client for the account cfg describes. AppID and
// AppSecret are required; the other fields have defaults.
func NewClient(cfg ClientConfig) (*Client, error) {
	var errs []error
	if cfg.AppID == "" {
		errs = append(errs, errors.New("appid is empty"))
	}
	if cfg.AppSecret == "" {
		errs = append(errs, errors.New("app secret is empty"))
	}
	base := cfg.APIBase
	if base == "" {
		base = DefaultAPIBase
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("api base %q is not an http(s) URL", base))
	}
	mode := cfg.TokenMode
	switch mode {
	case "":
		mode = TokenModeStable
	case TokenModeStable, TokenModeClassic:
	default:
		errs = append(errs, fmt.Errorf("token mode %q is unknown (want %q or %q)", mode, TokenModeStable, TokenModeClassic))
	}
	if cfg.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max attempts %d is negative", cfg.MaxAttempts))
	}
	if cfg.BackoffBase < 0 {
		errs = append(errs, fmt.Errorf("backoff base %s is negative", cfg.BackoffBase))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("wechat: client for account %q: %w", cfg.Account, err)
	}
	c := &Client{
		account:     cfg.Account,
		appID:       cfg.AppID,
		secret:      cfg.AppSecret,
		base:        strings.TrimRight(base, "/"),
		tokenMode:   mode,
		http:        cfg.HTTP,
		clock:       cfg.Clock,
		tokens:      cfg.Tokens,
		media:       cfg.Media,
		uploads:     cfg.Uploads,
		log:         cfg.Logger,
		maxAttempts: cfg.MaxAttempts,
		backoffBase: cfg.BackoffBase,
		backoffMax:  DefaultBackoffMax,
		tokMargin:   DefaultTokenMargin,
		observe:     cfg.Observe,
	}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		c.http = &http.Client{Timeout: DefaultHTTPTimeout, Transport: tr}
	}
	if c.clock == nil {
		c.clock = apiSystemClock{}
	}
	if c.media == nil {
		c.media = newMedMemCache()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.maxAttempts == 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.backoffBase == 0 {
		c.backoffBase = DefaultBackoffBase
	}
	return c, nil
}

// Account returns the account's id in wxflow's configuration.
func (c *Client) Account() string { return c.account }

// AppID returns the account's AppID.
func (c *Client) AppID() string { return c.appID }

// String names the client without its secret or token.
func (c *Client) String() string {
	return fmt.Sprintf("wechat.Client{Account:%q AppID:%q}", c.account, c.appID)
}

// apiRequest is one API call.
type apiRequest struct {
	method, path string
	query        url.Values
	// body is nil, an *apiMultipart, or a value encoded as JSON.
	body any
	// out receives the answer's JSON when errcode is 0.
	out any
	// idempotent calls may be retried after the request may have reached
	// WeChat; the others (message sends) may not.
	idempotent bool
	// withToken adds the access token (and refreshes it once on 40001,
	// 42001 or 40014).
	withToken bool
}

// apiMultipart is an encoded multipart/form-data body.
type apiMultipart struct {
	contentType string
	data        []byte
}

// apiIsSend reports whether a path sends something to a contact: such
// calls are never repeated once the request may have reached WeChat.
func apiIsSend(path string) bool {
	return strings.HasPrefix(path, "/cgi-bin/message/")
}

// apiTokenCode reports whether an errcode says the access token is bad,
// stale or expired.
func apiTokenCode(code int) bool {
	return code == 40001 || code == 42001 || code == 40014
}

// call calls the API with the access token: method and path, query values
// besides the token, a JSON body (or none when nil), and out to decode the
// answer into. A non-zero errcode returns an *APIError. Calls that send a
// message are not idempotent: when the request may have reached WeChat and
// no answer came, the error wraps channels.ErrUnknown.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	return c.do(ctx, &apiRequest{method: method, path: path, query: query, body: body, out: out,
		idempotent: !apiIsSend(path), withToken: true})
}

// do runs a request, with the token when it needs one: a token error
// refreshes the token once, if nobody did already, and repeats the call
// once.
func (c *Client) do(ctx context.Context, r *apiRequest) error {
	if !r.withToken {
		return c.scrub(c.attempts(ctx, r, ""), "")
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	err = c.attempts(ctx, r, tok)
	var ae *APIError
	if !errors.As(err, &ae) || !apiTokenCode(ae.Code) {
		return c.scrub(err, tok)
	}
	c.log.Info("wechat access token refused; refreshing", "account", c.account, "path", r.path, "errcode", ae.Code)
	failed := tok
	tok, err = c.invalidate(ctx, failed)
	if err != nil {
		return err
	}
	return c.scrub(c.attempts(ctx, r, tok), failed, tok)
}

// scrub makes sure an error's message shows neither the secret nor the
// given tokens, whatever the layers below put in it.
func (c *Client) scrub(err error, tokens ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := c.redact(msg, tokens...)
	if out == msg {
		return err
	}
	return &apiRedacted{msg: out, err: err}
}

// redact removes from s, a text WeChat or a proxy answered or an error
// quoting one, the values of access_token and secret parameters in any
// form (apiRedactText), and the AppSecret and the given tokens wherever
// they appear.
func (c *Client) redact(s string, tokens ...string) string {
	s = apiRedactText(s)
	for _, v := range append([]string{c.secret}, tokens...) {
		for _, form := range secretForms(v) {
			s = strings.ReplaceAll(s, form, "REDACTED")
		}
	}
	// The user name and password of api_base (a proxy's), in the forms
	// Go's errors quote a URL in (url.Error masks only the password).
	if u, err := url.Parse(c.base); err == nil && u.User != nil {
		for _, v := range []string{u.User.String(), u.User.Username() + ":***", u.User.Username()} {
			if v != "" {
				s = strings.ReplaceAll(s, v+"@", "REDACTED@")
			}
		}
	}
	return s
}

// secretForms are the forms a value takes in what a proxy or a server
// may echo of a request: as it is, URL-escaped (query and path), and
// escaped in JSON (a / as \/, and HTML's <>& as \u003c... ); the longest
// first, so that no form leaves a part of another.
func secretForms(v string) []string {
	if v == "" {
		return nil
	}
	j, _ := json.Marshal(v) // a string always marshals
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v), strings.ReplaceAll(v, "/", `\/`), string(j[1 : len(j)-1])}
	seen := map[string]bool{}
	out := forms[:0]
	for _, f := range forms {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, k int) bool { return len(out[i]) > len(out[k]) })
	return out
}

// attempts runs a request up to MaxAttempts times while the failures are
// safe to retry, waiting a jittered, growing backoff between them.
func (c *Client) attempts(ctx context.Context, r *apiRequest, token string) error {
	var payload []byte
	var ctype string
	switch b := r.body.(type) {
	case nil:
	case *apiMultipart:
		payload, ctype = b.data, b.contentType
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(b); err != nil {
			return fmt.Errorf("wechat: %s %s: encode body: %w", r.method, r.path, err)
		}
		payload, ctype = bytes.TrimSuffix(buf.Bytes(), []byte("\n")), "application/json; charset=utf-8"
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wechat: %s %s: %w", r.method, r.path, err)
		}
		retry, err := c.attempt(ctx, r, token, payload, ctype)
		if c.observe != nil {
			c.observe(r.path, attemptResult(err))
		}
		if err == nil || !retry || attempt >= c.maxAttempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		wait := c.backoff(attempt)
		c.log.Debug("wechat call failed; retrying", "account", c.account, "path", r.path, "attempt", attempt, "wait", wait, "err", c.scrub(err, token).Error())
		select {
		case <-c.clock.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("wechat: %s %s: %w while waiting to retry after: %v", r.method, r.path, ctx.Err(), err)
		}
	}
}

// attemptResult names an attempt's outcome for Observe.
func attemptResult(err error) string {
	var ae *APIError
	var se *apiStatusError
	switch {
	case err == nil:
		return "0"
	case errors.As(err, &ae):
		return strconv.Itoa(ae.Code)
	case errors.As(err, &se):
		return "http_" + strconv.Itoa(se.status)
	}
	return "network"
}

// backoff is the wait after the given failed attempt: uniformly random up
// to base·2^(attempt-1), capped.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffBase
	for i := 1; i < attempt && d < c.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.backoffMax)
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// attempt makes one HTTP request. It returns whether the failure, if any,
// is safe and worth retrying.
func (c *Client) attempt(ctx context.Context, r *apiRequest, token string, payload []byte, ctype string) (bool, error) {
	u := c.base + r.path
	q := url.Values{}
	for k, v := range r.query {
		q[k] = v
	}
	if token != "" {
		q.Set("access_token", token)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return false, fmt.Errorf("wechat: %s %s: %w", r.method, r.path, apiRedactErr(err))
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	// Until the headers are written, nothing can have reached WeChat.
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}))
	resp, err := c.http.Do(req)
	if err != nil {
		err = apiRedactErr(err)
		if apiNotSent(err) || (!wrote.Load() && ctx.Err() == nil) {
			return true, fmt.Errorf("wechat: %s %s: request not sent: %w", r.method, r.path, err)
		}
		return c.inFlightFailure(ctx, r, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, apiMaxResponse))
	if err != nil {
		return c.inFlightFailure(ctx, r, fmt.Errorf("reading the answer (HTTP %d): %w", resp.StatusCode, apiRedactErr(err)))
	}
	if resp.StatusCode != http.StatusOK {
		se := &apiStatusError{method: r.method, path: r.path, status: resp.StatusCode, body: apiSnippet(c.redact(string(data), token))}
		if !r.idempotent && mayHaveReached(resp.StatusCode) {
			// A 500, 502 or 504 may come from a gateway (a proxy as
			// api_base, WeChat's front) after the request went on: the
			// message may have been sent, and is never sent again.
			return false, fmt.Errorf("wechat: %s %s: %w: the request may have reached WeChat: %v", r.method, r.path, channels.ErrUnknown, se)
		}
		return resp.StatusCode >= 500, se
	}
	var st struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	err = json.Unmarshal(data, &st)
	if err == nil && st.ErrCode == nil && r.out == nil {
		// A call whose only answer is its errcode (a send, a menu):
		// without one ({}, null), the answer is not WeChat's and says
		// nothing of what became of the request.
		err = errors.New("no errcode")
	}
	if err != nil {
		err = fmt.Errorf("answer is not WeChat's JSON (%v): %s", err, apiSnippet(c.redact(string(data), token)))
		if !r.idempotent {
			return false, fmt.Errorf("wechat: %s %s: %w: %v", r.method, r.path, channels.ErrUnknown, err)
		}
		return false, fmt.Errorf("wechat: %s %s: %w", r.method, r.path, err)
	}
	if st.ErrCode != nil && *st.ErrCode != 0 {
		// The errmsg may echo the request (a proxy as api_base does):
		// it is scrubbed before anything can store or show it.
		return *st.ErrCode == -1, &APIError{Code: *st.ErrCode, Msg: c.redact(st.ErrMsg, token)}
	}
	if r.out != nil {
		if err := json.Unmarshal(data, r.out); err != nil {
			return false, fmt.Errorf("wechat: %s %s: decode answer: %w", r.method, r.path, err)
		}
	}
	return false, nil
}

// mayHaveReached reports whether an HTTP status other than 200 may answer
// a request that was taken: a server error or a gateway's (500, 502,
// 504, ...), not 503 (the server took nothing) or a 4xx.
func mayHaveReached(status int) bool {
	return status >= 500 && status != http.StatusServiceUnavailable
}

// inFlightFailure classifies an error that happened after the request may
// have reached WeChat: unknown for a send, retryable for idempotent calls
// (unless ctx ended).
func (c *Client) inFlightFailure(ctx context.Context, r *apiRequest, err error) (bool, error) {
	if !r.idempotent {
		return false, fmt.Errorf("wechat: %s %s: %w: the request may have reached WeChat: %v", r.method, r.path, channels.ErrUnknown, err)
	}
	return ctx.Err() == nil, fmt.Errorf("wechat: %s %s: %w", r.method, r.path, err)
}

// apiNotSent reports whether a transport error happened before the
// request could reach the server: a failed dial (refused, unreachable,
// DNS). (attempt also counts requests whose headers were never written.)
func apiNotSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// apiRedactErr removes the token and secret from the URL of a *url.Error.
func apiRedactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := *ue
		cp.URL = apiRedactText(cp.URL)
		if cp.URL != ue.URL {
			if ue == err {
				return &cp
			}
			return &apiRedacted{msg: strings.ReplaceAll(err.Error(), ue.URL, cp.URL), err: err}
		}
	}
	return err
}

// apiSecretKeys are the parameter names whose values apiRedactText
// removes, matched without regard to case; "secret" covers appsecret,
// app_secret and client_secret, "access_token" the component and
// authorizer tokens.
var apiSecretKeys = []string{"access_token", "secret"}

// apiRedactText replaces with REDACTED the value that follows each
// access_token or secret key in s (a URL, an errmsg, an answer's body),
// in the forms an echoed request takes: a query (access_token=V), JSON
// ("access_token":"V", also escaped inside a JSON string), URL-escaped
// (access_token%3DV) and key: V. A key counts only when = or : follows it
// (past quotes, backslashes, brackets and spaces), so that prose such as
// "invalid appsecret" stays as it is.
func apiRedactText(s string) string {
	var b strings.Builder
	last := 0 // s[:last] is written to b, or nothing was redacted yet
	for i := 0; i < len(s); {
		n := apiKeyAt(s, i)
		if n == 0 {
			i++
			continue
		}
		start, ok := apiSeparator(s, i+n)
		if !ok {
			i += n
			continue
		}
		end := start
		for end < len(s) && !apiValueEnd(s[end]) {
			end++
		}
		if end > start {
			b.WriteString(s[last:start])
			b.WriteString("REDACTED")
			last = end
		}
		i = max(end, i+n)
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// apiKeyAt returns the length of the apiSecretKeys key s has at i (ASCII
// case folded), or 0.
func apiKeyAt(s string, i int) int {
	for _, k := range apiSecretKeys {
		if len(s)-i >= len(k) && strings.EqualFold(s[i:i+len(k)], k) {
			return len(k)
		}
	}
	return 0
}

// apiSeparator skips what may stand between a key and its value, from i:
// quotes, backslashes, brackets, spaces, = and :, also URL-escaped. It
// returns where the value starts, and whether an = or a : was among them.
func apiSeparator(s string, i int) (int, bool) {
	const maxSep = 16
	assign := false
	j := i
	for j < len(s) && j-i < maxSep {
		switch c := s[j]; {
		case c == '=' || c == ':':
			assign = true
			j++
		case c == '"' || c == '\\' || c == '\'' || c == ' ' || c == '[':
			j++
		case c == '%' && j+3 <= len(s):
			switch strings.ToUpper(s[j+1 : j+3]) {
			case "3D", "3A":
				assign = true
			case "22", "20", "5B", "27":
			default:
				return j, assign
			}
			j += 3
		default:
			return j, assign
		}
	}
	return j, assign
}

// apiValueEnd reports whether c ends a secret's value: tokens and secrets
// are letters, digits, - and _, and a value ends where its query, JSON
// string, quote or sentence does.
func apiValueEnd(c byte) bool {
	return strings.IndexByte("&\"\\' #\n\r\t,;}])<>%|", c) >= 0
}

// apiSnippet is the start of an answer's body, for error messages; redact
// the whole body first, so that the cut cannot leave half a secret.
func apiSnippet(data string) string {
	s := strings.TrimSpace(data)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return apiRedactText(s)
}
