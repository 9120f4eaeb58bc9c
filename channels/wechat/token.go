package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Token is an access token and when it expires. Its String, GoString and
// LogValue methods never show the value.
type Token struct {
	Value   string
	Expires time.Time
	// fetched is when this client fetched the token (zero for a token
	// from the TokenStore): its lifetime, Expires-fetched, scales the
	// refresh margin. The TokenStore never gets it.
	fetched time.Time
	// refused marks a token WeChat refused (40001, 42001, 40014) whose
	// refresh has not succeeded yet: it is never fresh, and neither the
	// TokenStore's copy of it.
	refused bool
}

// tokRefetchAfter is how long a token this client fetched is used, as long
// as it has not expired, before it may be fetched again: however short its
// life, a token is fetched at most once per tokRefetchAfter.
const tokRefetchAfter = time.Minute

// String describes the token without its value.
func (t Token) String() string {
	if t.Value == "" {
		return "wechat.Token{}"
	}
	return "wechat.Token{Value:REDACTED Expires:" + t.Expires.Format(time.RFC3339) + "}"
}

// GoString is String, so %#v does not show the value either.
func (t Token) GoString() string { return t.String() }

// LogValue is what slog logs of a token: its expiry only.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expires", t.Expires))
}

// TokenStore keeps access tokens across restarts, by AppID (the
// engine's SQLite store implements it), so that a restart reuses the token
// instead of fetching a new one. A token is the AppID's, not the account
// id's: an account whose app_id changed in the config never takes the
// token of the app it had before.
type TokenStore interface {
	// LoadToken returns the AppID's saved token; ok is false when there
	// is none.
	LoadToken(ctx context.Context, appID string) (t Token, ok bool, err error)
	// SaveToken saves the AppID's token, replacing the previous one.
	SaveToken(ctx context.Context, appID string, t Token) error
}

// tokFlight is a token refresh in progress: the callers that need a token
// meanwhile wait for done and share its result.
type tokFlight struct {
	done chan struct{}
	tok  Token
	err  error
	// abandoned is set when the refresh failed because the context of
	// the caller that started it ended.
	abandoned bool
}

// Token returns an access token valid for more than the refresh margin (5
// minutes, or half the token's life when it was fetched with less than 10
// minutes to live): the one in memory, else the TokenStore's, else a new
// one from WeChat. A token fetched less than a minute ago is not fetched
// again before it expires. Only one fetch per client runs at a time;
// concurrent callers wait for it and share its token.
func (c *Client) Token(ctx context.Context) (string, error) {
	t, err := c.tokGet(ctx, "")
	return t.Value, err
}

// Refreshes returns how many tokens the client fetched from WeChat, for
// metrics.
func (c *Client) Refreshes() int64 { return c.refreshes.Load() }

// invalidate is called when WeChat refused the token failed (40001, 42001,
// 40014). It returns the token to retry with: the current one when another
// caller already replaced failed, else a fresh one.
func (c *Client) invalidate(ctx context.Context, failed string) (string, error) {
	t, err := c.tokGet(ctx, failed)
	return t.Value, err
}

// tokFresh reports whether t is valid for longer than the margin at now.
// For a token this client fetched, the margin is at most half the life it
// was fetched with, and a token fetched less than tokRefetchAfter ago is
// fresh until it expires: stable_token answers the current token with what
// is left of it, so a fixed margin refused, in every token's last minutes,
// the very token just fetched, and each call fetched again.
func (c *Client) tokFresh(t Token, now time.Time) bool {
	if t.Value == "" || t.refused || !now.Before(t.Expires) {
		return false
	}
	margin := c.tokMargin
	if !t.fetched.IsZero() {
		if now.Sub(t.fetched) < tokRefetchAfter {
			return true
		}
		margin = min(margin, t.Expires.Sub(t.fetched)/2)
	}
	return now.Add(margin).Before(t.Expires)
}

// tokGet returns a fresh token. failed, when not empty, is a token WeChat
// refused: if it is still the current token it is replaced, otherwise the
// current (newer) token is returned as it is. A refused token is
// remembered until a refresh succeeds: when that refresh fails, the next
// calls refresh again without taking it back from the TokenStore.
func (c *Client) tokGet(ctx context.Context, failed string) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, fmt.Errorf("wechat: access token of account %q: %w", c.account, err)
	}
	for {
		c.tokMu.Lock()
		cur := c.tokCur
		if (failed == "" || cur.Value != failed) && c.tokFresh(cur, c.clock.Now()) {
			c.tokMu.Unlock()
			return cur, nil
		}
		if failed != "" && cur.Value == failed {
			// Remember it refused, so that no caller gets it again,
			// from memory or from the TokenStore.
			c.tokCur = Token{Value: failed, refused: true}
		}
		f := c.tokFlight
		if f == nil {
			var dead []string
			if failed != "" {
				dead = append(dead, failed)
			}
			if c.tokCur.refused && c.tokCur.Value != failed {
				dead = append(dead, c.tokCur.Value)
			}
			f = &tokFlight{done: make(chan struct{})}
			c.tokFlight = f
			go c.tokRun(ctx, f, dead)
		}
		c.tokMu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return Token{}, fmt.Errorf("wechat: access token of account %q: %w", c.account, ctx.Err())
		}
		if f.err != nil {
			if f.abandoned && ctx.Err() == nil {
				// The caller that started the refresh gave up; this one
				// has not: refresh again.
				continue
			}
			return Token{}, f.err
		}
		return f.tok, nil
	}
}

// tokRun runs one refresh and publishes its result to its waiters. A
// failed refresh leaves the current token (or the refused one remembered)
// as it is.
func (c *Client) tokRun(ctx context.Context, f *tokFlight, dead []string) {
	tok, err := c.tokRefresh(ctx, dead)
	c.tokMu.Lock()
	if err == nil {
		c.tokCur = tok
	}
	c.tokFlight = nil
	f.tok, f.err = tok, err
	f.abandoned = err != nil && ctx.Err() != nil
	close(f.done)
	c.tokMu.Unlock()
}

// tokRefresh returns the TokenStore's token when it is fresh and not one
// WeChat refused (dead; another process may have refreshed it), else
// fetches a new one and saves it. A refused token the TokenStore holds is
// forgotten there at once, before the fetch, so that neither this client
// nor another process (or a restart) takes it back should the fetch fail.
func (c *Client) tokRefresh(ctx context.Context, dead []string) (Token, error) {
	if c.tokens != nil {
		t, ok, err := c.tokens.LoadToken(ctx, c.appID)
		t = Token{Value: t.Value, Expires: t.Expires}
		switch {
		case err != nil:
			c.log.Warn("wechat: loading the saved access token failed; fetching a new one", "account", c.account, "err", c.scrub(err, dead...).Error())
		case ok && t.Value != "" && slices.Contains(dead, t.Value):
			// Saved as expired now: the TokenStore has no token then.
			if err := c.tokens.SaveToken(ctx, c.appID, Token{Expires: c.clock.Now()}); err != nil {
				c.log.Warn("wechat: forgetting the refused access token in the store failed", "account", c.account, "err", c.scrub(err, dead...).Error())
			}
		case ok && c.tokFresh(t, c.clock.Now()):
			return t, nil
		}
	}
	t, err := c.tokFetch(ctx)
	if err != nil {
		// A refused fetch (40164: the server's IP is not whitelisted;
		// 40013, 40125: a wrong AppID or AppSecret) stops every send of
		// the account (the channel pauses it: its messages wait, see
		// breaker): said in the log, once a minute while it lasts.
		if msg := c.scrub(err, dead...).Error(); msg != c.tokFailLog || c.clock.Now().Sub(c.tokFailAt) >= time.Minute {
			c.tokFailLog, c.tokFailAt = msg, c.clock.Now()
			c.log.Error("wechat: fetching an access token failed; the account's messages cannot be sent", "account", c.account, "err", msg)
		}
		return Token{}, err
	}
	c.tokFailLog = ""
	c.refreshes.Add(1)
	c.log.Info("wechat access token fetched", "account", c.account, "expires", t.Expires)
	if c.tokens != nil {
		if err := c.tokens.SaveToken(ctx, c.appID, Token{Value: t.Value, Expires: t.Expires}); err != nil {
			c.log.Warn("wechat: saving the access token failed", "account", c.account, "err", c.scrub(err, t.Value).Error())
		}
	}
	return t, nil
}

// tokFetch asks WeChat for a token, the stable way or the classic way.
func (c *Client) tokFetch(ctx context.Context) (Token, error) {
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	start := c.clock.Now()
	r := &apiRequest{out: &out, idempotent: true}
	if c.tokenMode == TokenModeClassic {
		r.method, r.path = http.MethodGet, "/cgi-bin/token"
		r.query = url.Values{"grant_type": {"client_credential"}, "appid": {c.appID}, "secret": {c.secret}}
	} else {
		// force_refresh stays false even after a 40001: WeChat then
		// returns a new token if the old one is invalid, without using
		// the 20 forced refreshes a day.
		r.method, r.path = http.MethodPost, "/cgi-bin/stable_token"
		r.body = struct {
			GrantType    string `json:"grant_type"`
			AppID        string `json:"appid"`
			Secret       string `json:"secret"`
			ForceRefresh bool   `json:"force_refresh"`
		}{"client_credential", c.appID, c.secret, false}
	}
	if err := c.do(ctx, r); err != nil {
		return Token{}, &tokenFetchError{account: c.account, err: err}
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return Token{}, fmt.Errorf("wechat: fetch access token of account %q: the answer has no token or no expiry", c.account)
	}
	// WeChat's tokens last two hours; an answer of more is taken for a
	// day at most (9.3e9 seconds and more overflowed into an expiry in
	// the past: a fetch before every call).
	life := time.Duration(min(out.ExpiresIn, maxTokenLife)) * time.Second
	return Token{Value: out.AccessToken, Expires: start.Add(life), fetched: start}, nil
}

// tokenFetchError is a failed fetch of an access token.
type tokenFetchError struct {
	account string
	err     error
}

// Error implements error.
func (e *tokenFetchError) Error() string {
	return fmt.Sprintf("fetch access token of account %q: %v", e.account, e.err)
}

// Unwrap returns the fetch's error.
func (e *tokenFetchError) Unwrap() error { return e.err }

// tokenRefusals are WeChat's refusals of an access token that no retry
// mends: the account's settings on WeChat's side, or wxflow's, are wrong
// until someone fixes them.
var tokenRefusals = map[int]string{
	40164: "the server's IP is not in the account's IP whitelist",
	40125: "the AppSecret is wrong",
	40013: "the AppID is wrong",
}

// tokenRefused reports whether err is WeChat's refusal to give an access
// token (tokenRefusals), and says why.
func tokenRefused(err error) (cause string, ok bool) {
	var te *tokenFetchError
	var ae *APIError
	if !errors.As(err, &te) || !errors.As(te.err, &ae) {
		return "", false
	}
	why, ok := tokenRefusals[ae.Code]
	if !ok {
		return "", false
	}
	return fmt.Sprintf("WeChat refused an access token: errcode %d (%s)", ae.Code, why), true
}

// maxTokenLife is the longest a token is kept, in seconds, whatever the
// answer says.
const maxTokenLife = 24 * 60 * 60
