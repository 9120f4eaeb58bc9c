package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// tokTestStore is a TokenStore in memory, standing in for the engine's.
type tokTestStore struct {
	mu     sync.Mutex
	tokens map[string]Token
	loads  int
	saves  int
	// saveErr, when set, fails every save.
	saveErr error
}

func (s *tokTestStore) LoadToken(_ context.Context, appID string) (Token, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	t, ok := s.tokens[appID]
	return t, ok, nil
}

func (s *tokTestStore) SaveToken(_ context.Context, appID string, t Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if s.saveErr != nil {
		return s.saveErr
	}
	if s.tokens == nil {
		s.tokens = map[string]Token{}
	}
	s.tokens[appID] = t
	return nil
}

func TestTokenStableFetchAndReuse(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	ctx := context.Background()
	tok, err := b.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" || tok != b.srv.CurrentToken(apiTestAppID) {
		t.Fatalf("token %q, want the server's %q", tok, b.srv.CurrentToken(apiTestAppID))
	}
	again, err := b.client.Token(ctx)
	if err != nil || again != tok {
		t.Fatalf("second Token = %q, %v; want the same token", again, err)
	}
	if got := b.srv.Calls(wechattest.PathStableToken); got != 1 {
		t.Errorf("stable_token calls = %d, want 1", got)
	}
	if got := b.srv.Calls(wechattest.PathToken); got != 0 {
		t.Errorf("classic token calls = %d, want 0", got)
	}
	if got := b.client.Refreshes(); got != 1 {
		t.Errorf("Refreshes = %d, want 1", got)
	}
}

func TestTokenClassicFetchAndReuse(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.TokenMode = TokenModeClassic })
	for range 3 {
		if err := b.client.SendMessage(context.Background(), "o1", apiText("hi")); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.srv.Calls(wechattest.PathToken); got != 1 {
		t.Errorf("token calls = %d, want 1", got)
	}
	if got := b.srv.Calls(wechattest.PathStableToken); got != 0 {
		t.Errorf("stable_token calls = %d, want 0", got)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.TokenMode = TokenModeClassic })
	ctx := context.Background()
	first, err := b.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 7200 s tokens are refreshed once 5 minutes or less are left.
	b.clock.Advance(7200*time.Second - DefaultTokenMargin - time.Second)
	if tok, _ := b.client.Token(ctx); tok != first {
		t.Errorf("token replaced with %s left", DefaultTokenMargin+time.Second)
	}
	b.clock.Advance(time.Second)
	second, err := b.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Errorf("token not replaced with %s left", DefaultTokenMargin)
	}
	if got := b.srv.TokenFetches(); got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}

func TestTokenStoreSurvivesRestart(t *testing.T) {
	t.Parallel()
	store := &tokTestStore{}
	b := apiSetup(t, func(c *ClientConfig) { c.Tokens = store })
	ctx := context.Background()
	tok, err := b.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if store.saves != 1 || store.tokens[apiTestAppID].Value != tok || !store.tokens[apiTestAppID].Expires.Equal(apiTestT0.Add(7200*time.Second)) {
		t.Fatalf("store %+v after the fetch, want the token expiring at %s", store.tokens, apiTestT0.Add(7200*time.Second))
	}

	// A restart: a new client with the same store, an hour later.
	b.clock.Advance(time.Hour)
	restarted := b.newClient(t, func(c *ClientConfig) { c.Tokens = store })
	got, err := restarted.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != tok {
		t.Errorf("restarted client's token differs from the saved one")
	}
	if n := b.srv.TokenFetches(); n != 1 {
		t.Errorf("fetches = %d, want 1 (no fetch after a restart)", n)
	}
	if n := restarted.Refreshes(); n != 0 {
		t.Errorf("restarted Refreshes = %d, want 0", n)
	}
	if err := restarted.SendMessage(ctx, "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}

	// A saved token about to expire is not reused.
	b.clock.Advance(time.Hour + 56*time.Minute)
	third := b.newClient(t, func(c *ClientConfig) { c.Tokens = store })
	if _, err := third.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := third.Refreshes(); n != 1 {
		t.Errorf("Refreshes with a stale saved token = %d, want 1", n)
	}
}

func TestTokenSingleFlight(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	release := b.srv.Hold(wechattest.PathStableToken)
	const n = 50
	var wg sync.WaitGroup
	toks := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = b.client.Token(context.Background()) })
	}
	if err := b.srv.WaitCalls(context.Background(), wechattest.PathStableToken, 1); err != nil {
		t.Fatal(err)
	}
	release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i] != toks[0] || toks[i] == "" {
			t.Fatalf("caller %d: %q, %v; want the shared token", i, toks[i], errs[i])
		}
	}
	if got := b.srv.Calls(wechattest.PathStableToken); got != 1 {
		t.Errorf("stable_token calls = %d, want 1", got)
	}
	if got := b.client.Refreshes(); got != 1 {
		t.Errorf("Refreshes = %d, want 1", got)
	}
}

func TestTokenWaiterSurvivesLeaderCancel(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	release := b.srv.Hold(wechattest.PathStableToken)
	leaderCtx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := b.client.Token(leaderCtx)
		leader <- err
	}()
	if err := b.srv.WaitCalls(context.Background(), wechattest.PathStableToken, 1); err != nil {
		t.Fatal(err)
	}
	waiter := make(chan error, 1)
	go func() {
		_, err := b.client.Token(context.Background())
		waiter <- err
	}()
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v, want context.Canceled", err)
	}
	release()
	if err := <-waiter; err != nil {
		t.Errorf("waiter: %v, want a token", err)
	}
}

func TestTokenRefreshOnceAndRetryOnce(t *testing.T) {
	t.Parallel()
	for _, code := range []int{40001, 42001, 40014} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			b := apiSetup(t, func(c *ClientConfig) { c.TokenMode = TokenModeClassic })
			ctx := context.Background()
			first, err := b.client.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if code == 42001 {
				b.srv.ExpireTokens()
			} else {
				b.srv.FailNext(wechattest.PathSend, code)
			}
			if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err != nil {
				t.Fatalf("errcode %d: %v", code, err)
			}
			if got := b.srv.Calls(wechattest.PathSend); got != 2 {
				t.Errorf("send calls = %d, want 2", got)
			}
			if got := b.srv.TokenFetches(); got != 2 {
				t.Errorf("token fetches = %d, want 2", got)
			}
			if tok, _ := b.client.Token(ctx); tok == first {
				t.Error("the refused token is still current")
			}
			if sent := b.srv.Sent(); len(sent) != 1 {
				t.Errorf("sent %d, want 1", len(sent))
			}
		})
	}
}

func TestStableTokenRefreshDoesNotForce(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	b.srv.FailNext(wechattest.PathSend, 40001)
	if err := b.client.SendMessage(context.Background(), "o1", apiText("hi")); err != nil {
		t.Fatal(err)
	}
	if got := b.srv.Calls(wechattest.PathStableToken); got != 2 {
		t.Errorf("stable_token calls = %d, want 2", got)
	}
	if got := b.srv.ForceRefreshes(); got != 0 {
		t.Errorf("force refreshes = %d, want 0", got)
	}
}

func TestTokenSecondRefusalFails(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	b.srv.FailNext(wechattest.PathSend, 40001, 40001)
	err := b.client.SendMessage(context.Background(), "o1", apiText("hi"))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 40001 {
		t.Fatalf("err = %v, want APIError 40001", err)
	}
	t.Log(err)
	if got := b.srv.Calls(wechattest.PathSend); got != 2 {
		t.Errorf("send calls = %d, want 2 (one retry)", got)
	}
	if got := b.client.Refreshes(); got != 2 {
		t.Errorf("Refreshes = %d, want 2 (one refresh)", got)
	}
	apiNoSecrets(t, err)
}

func TestTokenStaleRefusalDoesNotRefreshAgain(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.TokenMode = TokenModeClassic })
	b.srv.StrictTokens()
	ctx := context.Background()
	stale, err := b.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Several calls made with the same token fail at once: one refresh.
	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Go(func() { got[i], _ = b.client.invalidate(ctx, stale) })
	}
	wg.Wait()
	current := got[0]
	for i, tok := range got {
		if tok == "" || tok == stale || tok != current {
			t.Fatalf("caller %d got %q, want the one new token", i, tok)
		}
	}
	if n := b.client.Refreshes(); n != 2 {
		t.Fatalf("Refreshes = %d, want 2", n)
	}
	// A late failure with the stale token uses the current one.
	tok, err := b.client.invalidate(ctx, stale)
	if err != nil || tok != current {
		t.Errorf("invalidate(stale) = %q, %v; want the current token", tok, err)
	}
	if n := b.client.Refreshes(); n != 2 {
		t.Errorf("Refreshes = %d after a stale refusal, want 2", n)
	}
	if n := b.srv.TokenFetches(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
}

func TestTokenStoreNewerThanFailedIsUsed(t *testing.T) {
	t.Parallel()
	store := &tokTestStore{}
	b := apiSetup(t, func(c *ClientConfig) { c.Tokens = store; c.TokenMode = TokenModeClassic })
	other := b.newClient(t, func(c *ClientConfig) { c.Tokens = store; c.TokenMode = TokenModeClassic })
	ctx := context.Background()
	old, err := b.client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Another process refreshes and saves a new token.
	if _, err := other.invalidate(ctx, old); err != nil {
		t.Fatal(err)
	}
	fresh := store.tokens[apiTestAppID].Value
	if fresh == old {
		t.Fatal("the other client did not refresh")
	}
	// This one, refused with the old token, takes the saved one.
	tok, err := b.client.invalidate(ctx, old)
	if err != nil || tok != fresh {
		t.Errorf("invalidate = %q, %v; want the saved token", tok, err)
	}
	if n := b.client.Refreshes(); n != 1 {
		t.Errorf("Refreshes = %d, want 1", n)
	}
}

func TestTokenFetchErrors(t *testing.T) {
	t.Parallel()
	b := apiSetup(t, func(c *ClientConfig) { c.AppSecret = "wrong-" + apiTestSecret })
	_, err := b.client.Token(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 40125 {
		t.Fatalf("err = %v, want APIError 40125", err)
	}
	t.Log(err)
	apiNoSecrets(t, err)

	b2 := apiSetup(t)
	b2.srv.FailNext(wechattest.PathStableToken, -1)
	if _, err := b2.client.Token(context.Background()); err != nil {
		t.Fatalf("-1 on the token fetch is retried: %v", err)
	}
	if got := b2.srv.Calls(wechattest.PathStableToken); got != 2 {
		t.Errorf("stable_token calls = %d, want 2", got)
	}
}

// TestTokenFetchFailureIsLogged: a refused token fetch (40164: the
// server's IP is not whitelisted) is logged at error level, once for the
// same failure, without the AppSecret; before, nothing was logged and
// every send of the account failed in silence.
func TestTokenFetchFailureIsLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	b := apiSetup(t, func(c *ClientConfig) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	b.srv.FailNext(wechattest.PathStableToken, 40164, 40164)
	for i := 0; i < 2; i++ {
		if _, err := b.client.Token(context.Background()); err == nil {
			t.Fatal("a token though the fetch was refused")
		}
	}
	out := logs.String()
	if n := strings.Count(out, "fetching an access token failed"); n != 1 || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "40164") {
		t.Fatalf("logged %d times:\n%s", n, out)
	}
	if strings.Contains(out, apiTestSecret) {
		t.Fatalf("the log shows the AppSecret:\n%s", out)
	}
}

// tokLifeProxy starts a proxy in front of srv that gives every token the
// fake hands out the lifetime expiresIn returns (in seconds) instead of
// 7200, as stable_token does in a token's last minutes (it answers the
// current token with what is left of it). It returns the proxy's address,
// for ClientConfig.APIBase.
func tokLifeProxy(t *testing.T, srv *wechattest.Server, expiresIn func() int) string {
	t.Helper()
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(target)
	p.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != wechattest.PathStableToken && r.Request.URL.Path != wechattest.PathToken {
			return nil
		}
		data, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) == nil && m["access_token"] != nil {
			m["expires_in"] = json.RawMessage(strconv.Itoa(expiresIn()))
			if data, err = json.Marshal(m); err != nil {
				return err
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		r.ContentLength = int64(len(data))
		r.Header.Set("Content-Length", strconv.Itoa(len(data)))
		return nil
	}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestTokenShortLifeNoStorm: a token answered with 5 minutes or less to
// live (stable_token's answer in every token's last 5 minutes) is used,
// not fetched again at every call; before, such a token was never
// accepted and each API call fetched one (15 sends, 15 token fetches).
func TestTokenShortLifeNoStorm(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{TokenModeStable, TokenModeClassic} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b := apiSetup(t)
			path := wechattest.PathStableToken
			if mode == TokenModeClassic {
				path = wechattest.PathToken
			}
			// The token dies 200 s after T0; stable_token answers what
			// is left of it.
			deadline := apiTestT0.Add(200 * time.Second)
			base := tokLifeProxy(t, b.srv, func() int { return int(deadline.Sub(b.clock.Now()) / time.Second) })
			c := b.newClient(t, func(c *ClientConfig) { c.APIBase = base; c.TokenMode = mode })
			ctx := context.Background()
			for i := range 15 {
				if err := c.SendMessage(ctx, "o1", apiText("hi")); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if got := b.srv.Calls(path); got != 1 {
				t.Fatalf("token calls for 15 sends at once = %d, want 1", got)
			}
			// A send every 10 s until the token dies: at most one
			// fetch a minute.
			for i := range 19 {
				b.clock.Advance(10 * time.Second)
				if err := c.SendMessage(ctx, "o1", apiText("hi")); err != nil {
					t.Fatalf("send at +%ds: %v", 10*(i+1), err)
				}
			}
			if got := b.srv.Calls(path); got > 4 {
				t.Errorf("token calls over 190 s = %d, want at most 4 (one a minute)", got)
			}
			if got := b.srv.Calls(wechattest.PathSend); got != 15+19 {
				t.Errorf("send calls = %d, want %d", got, 15+19)
			}
		})
	}
}

// TestTokenRefusedNotReloaded: a token WeChat refused is not used again
// when the refresh that should replace it fails (40164: the server's IP is
// not whitelisted); before, the next call loaded it back from the
// TokenStore, and every later message made one more call with a token
// known to be dead.
func TestTokenRefusedNotReloaded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		saveFail bool
	}{{"store", false}, {"store cannot save", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &tokTestStore{}
			var logs syncBuffer
			b := apiSetup(t, func(c *ClientConfig) {
				c.Tokens = store
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			ctx := context.Background()
			refused, err := b.client.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.saveFail {
				// Only what the client remembers keeps the token away.
				store.mu.Lock()
				store.saveErr = errors.New("disk full")
				store.mu.Unlock()
			}
			// The token dies (42001) and three refreshes are refused.
			b.srv.ExpireTokens()
			b.srv.FailNext(wechattest.PathStableToken, 40164, 40164, 40164)
			for i := range 3 {
				err := b.client.SendMessage(ctx, "o1", apiText("hi"))
				var ae *APIError
				if !errors.As(err, &ae) || ae.Code != 40164 {
					t.Fatalf("message %d: %v, want APIError 40164", i+1, err)
				}
				apiNoSecrets(t, err)
			}
			if got := b.srv.Calls(wechattest.PathSend); got != 1 {
				t.Errorf("send calls = %d, want 1 (none with the refused token after the first)", got)
			}
			if got := b.srv.Calls(wechattest.PathStableToken); got != 4 {
				t.Errorf("stable_token calls = %d, want 4", got)
			}
			if !tc.saveFail {
				// Another process (or a restart) does not take it
				// from the store either.
				other := b.newClient(t, func(c *ClientConfig) { c.Tokens = store })
				if tok, err := other.Token(ctx); err != nil || tok == refused {
					t.Errorf("another client's token: refused one %v, err %v", tok == refused, err)
				}
			}
			// WeChat answers again: a new token, one send.
			sends := b.srv.Calls(wechattest.PathSend)
			if err := b.client.SendMessage(ctx, "o1", apiText("hi")); err != nil {
				t.Fatal(err)
			}
			if got := b.srv.Calls(wechattest.PathSend) - sends; got != 1 {
				t.Errorf("send calls for the message after = %d, want 1", got)
			}
			if tok, _ := b.client.Token(ctx); tok == refused || tok == "" {
				t.Errorf("token after: refused one %v", tok == refused)
			}
			if out := logs.String(); strings.Contains(out, apiTestSecret) || apiTokenRE.MatchString(out) {
				t.Errorf("the log shows the secret or a token:\n%s", out)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the client's goroutines to log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTokenHugeExpiryKept: a token answered with an expires_in so large
// that the expiry overflowed (9.3e9 s and more) is kept for a day at
// most, not taken for expired: three sends fetched three tokens.
func TestTokenHugeExpiryKept(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case wechattest.PathStableToken:
			io.WriteString(w, `{"access_token":"TOK","expires_in":10000000000}`)
		default:
			io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientConfig{Account: "main", AppID: apiTestAppID, AppSecret: apiTestSecret, APIBase: srv.URL, Clock: &apiTestClock{now: apiTestT0}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.SendMessage(context.Background(), "o1", apiText("hi")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := calls[wechattest.PathStableToken]; got != 1 {
		t.Errorf("%d token fetches for 3 sends, want 1", got)
	}
}
