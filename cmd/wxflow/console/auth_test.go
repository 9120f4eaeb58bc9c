package console

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is the console's clock in tests: it moves when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrfOf is the CSRF token of the first form of a page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil || m[1] == "" {
		t.Fatalf("the page has no form with a CSRF token:\n%.2000s", page)
	}
	return html.UnescapeString(m[1])
}

// browserish is a client with a cookie jar that does not follow
// redirects, like a logged-in browser tab driven by hand.
type browserish struct {
	t      *testing.T
	f      *fixture
	client *http.Client
}

func newBrowserish(f *fixture) *browserish {
	jar, _ := cookiejar.New(nil)
	return &browserish{t: f.t, f: f, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// send sends a request with the headers given (name, value, ...) and
// returns the status, body and header.
func (b *browserish) send(method, path, contentType, body string, headers ...string) (int, string, http.Header) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			// The client picks cookies by req.Host: send the console's.
			req.Host = headers[i+1]
			for _, ck := range b.client.Jar.Cookies(req.URL) {
				req.AddCookie(ck)
			}
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got), resp.Header
}

// form posts a form.
func (b *browserish) form(path string, v url.Values, headers ...string) (int, string, http.Header) {
	b.t.Helper()
	return b.send("POST", path, "application/x-www-form-urlencoded", v.Encode(), headers...)
}

// login logs in with the token and returns the session's cookie.
func (b *browserish) login(token string) *http.Cookie {
	b.t.Helper()
	status, body, h := b.form("/login", url.Values{"token": {token}, "next": {"/flows"}})
	if status != http.StatusSeeOther {
		b.t.Fatalf("login: %d %.300s", status, body)
	}
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == cookieName {
			return ck
		}
	}
	b.t.Fatalf("login set no %s cookie", cookieName)
	return nil
}

// csrf reads the CSRF token of the forms of a page.
func (b *browserish) csrf(page string) string {
	b.t.Helper()
	status, body, _ := b.send("GET", page, "", "")
	if status != http.StatusOK {
		b.t.Fatalf("GET %s: %d", page, status)
	}
	return csrfOf(b.t, body)
}

// runCount is how many runs a sandbox contact has.
func (f *fixture) runCount(contact string) int {
	f.t.Helper()
	runs, err := f.sb.Runs(context.Background(), contact)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(runs)
}

// TestConsoleCSRF: logged in, a request that changes something is taken
// only from the console's own pages: a form with the session's CSRF token,
// the API with a JSON body, nothing another origin (another port of the
// same host) sends. The bearer token needs neither.
func TestConsoleCSRF(t *testing.T) {
	f := newFixture(t, testToken)
	if err := f.sb.Follow(context.Background(), "amy", ""); err != nil {
		t.Fatal(err)
	}
	b := newBrowserish(f)
	b.login(testToken)
	token := b.csrf("/flows/promo")
	self := f.srv.URL // the console's own origin
	evil := "http://127.0.0.1:1"
	runs := f.runCount("amy")
	start := url.Values{"contact": {"amy"}}
	withCSRF := url.Values{"contact": {"amy"}, "csrf": {token}}
	refused := []struct {
		name          string
		method, path  string
		ctype, body   string
		headers       []string
		status        int
		bodyShouldSay string
	}{
		{"a form without the CSRF token", "POST", "/flows/promo/start", "application/x-www-form-urlencoded", start.Encode(), nil, 403, "CSRF"},
		{"a form with another token", "POST", "/flows/promo/start", "application/x-www-form-urlencoded", url.Values{"contact": {"amy"}, "csrf": {token + "x"}}.Encode(), nil, 403, "CSRF"},
		{"a form with the token from another port of the host", "POST", "/flows/promo/start", "application/x-www-form-urlencoded", withCSRF.Encode(), []string{"Origin", evil}, 403, "another origin"},
		{"a form from a page of the same site", "POST", "/flows/promo/start", "application/x-www-form-urlencoded", withCSRF.Encode(), []string{"Sec-Fetch-Site", "same-site"}, 403, "same-site"},
		{"a form from another site", "POST", "/flows/promo/start", "application/x-www-form-urlencoded", withCSRF.Encode(), []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
		{"a form from an opaque origin", "POST", "/flows/promo/start", "application/x-www-form-urlencoded", withCSRF.Encode(), []string{"Origin", "null"}, 403, "another origin"},
		{"a form from the https origin of the same host", "POST", "/flows/promo/start", "application/x-www-form-urlencoded", withCSRF.Encode(), []string{"Origin", strings.Replace(self, "http:", "https:", 1)}, 403, "another origin"},
		{"fetch with text/plain", "POST", "/api/flows/promo/start", "text/plain", `{"contact":"amy"}`, nil, 415, "application/json"},
		{"fetch with a form body", "POST", "/api/flows/promo/start", "application/x-www-form-urlencoded", `{"contact":"amy"}`, nil, 415, "application/json"},
		{"fetch without a content type", "POST", "/api/flows/promo/start", "", `{"contact":"amy"}`, nil, 415, "application/json"},
		{"JSON from another port of the host", "POST", "/api/flows/promo/start", "application/json", `{"contact":"amy"}`, []string{"Origin", evil}, 403, "another origin"},
		{"the simulator without the CSRF token", "POST", "/simulator", "application/x-www-form-urlencoded", "contact=amy&action=text&text=hi", nil, 403, "CSRF"},
		{"the sandbox API with text/plain", "POST", "/api/sandbox", "text/plain", `{"contact":"amy","action":"text","text":"hi"}`, nil, 415, "application/json"},
		{"logout without the CSRF token", "POST", "/logout", "application/x-www-form-urlencoded", "", nil, 403, "CSRF"},
		{"logout from another port", "POST", "/logout", "application/x-www-form-urlencoded", url.Values{"csrf": {token}}.Encode(), []string{"Origin", evil}, 403, "another origin"},
	}
	for _, c := range refused {
		status, body, _ := b.send(c.method, c.path, c.ctype, c.body, c.headers...)
		if status != c.status || !strings.Contains(body, c.bodyShouldSay) {
			t.Errorf("%s: %d %.200q, want %d saying %q", c.name, status, body, c.status, c.bodyShouldSay)
		}
	}
	if n := f.runCount("amy"); n != runs {
		t.Fatalf("refused requests started %d runs", n-runs)
	}
	if _, said, _ := f.do("GET", "/api/sandbox?contact=amy", testToken, ""); strings.Contains(said, `"hi"`) {
		t.Errorf("a refused simulator request was played")
	}
	if b.csrf("/flows") != token {
		t.Fatal("a refused logout ended the session")
	}

	// What the console's own pages send is taken: the form with its token
	// (with or without Origin, as browsers differ), JSON by cookie.
	for _, h := range [][]string{nil, {"Origin", self, "Sec-Fetch-Site", "same-origin"}} {
		status, body, hdr := b.form("/simulator", url.Values{"contact": {"amy"}, "action": {"text"}, "text": {"Amy"}, "csrf": {token}}, h...)
		if status != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/simulator?") {
			t.Errorf("the simulator's form (headers %q): %d %.200s", h, status, body)
		}
		if err := f.sb.Engine().Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		status, body, hdr = b.form("/flows/promo/start", withCSRF, h...)
		if status != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/runs/") && !strings.Contains(hdr.Get("Location"), "reentry") {
			t.Errorf("the start form (headers %q): %d to %q %.200s", h, status, hdr.Get("Location"), body)
		}
	}
	if status, body, _ := b.send("POST", "/api/sandbox", "application/json; charset=utf-8", `{"contact":"bob","action":"follow"}`, "Origin", self); status != http.StatusOK {
		t.Errorf("JSON by cookie: %d %.200s", status, body)
	}
	// The bearer token needs no JSON content type (curl -d sends a form's).
	if status, body, _ := f.doWith("POST", "/api/flows/promo/start", testToken, "application/x-www-form-urlencoded", `{"contact":"bob"}`); status != http.StatusCreated {
		t.Errorf("POST with the bearer token and curl's content type: %d %.200s", status, body)
	}
	// Behind an HTTPS reverse proxy, the console's origin is the proxy's.
	for _, h := range [][]string{
		{"Host", "console.example", "X-Forwarded-Proto", "https", "Origin", "https://console.example"},
		{"X-Forwarded-Host", "console.example", "X-Forwarded-Proto", "https", "Origin", "https://console.example:443"},
	} {
		status, body, _ := b.form("/simulator", url.Values{"contact": {"amy"}, "action": {"text"}, "text": {"proxied"}, "csrf": {token}}, h...)
		if status != http.StatusSeeOther {
			t.Errorf("a form through a proxy (%q): %d %.200s", h, status, body)
		}
	}
	if status, _, _ := b.form("/simulator", url.Values{"contact": {"amy"}, "action": {"text"}, "text": {"x"}, "csrf": {token}},
		"Host", "console.example", "Origin", "https://console.example"); status != http.StatusForbidden {
		t.Errorf("an https origin to a console reached over http without X-Forwarded-Proto: %d, want 403", status)
	}
}

// TestConsoleOpenCSRF: the open sandbox console (no token) takes changes
// only from its own pages too.
func TestConsoleOpenCSRF(t *testing.T) {
	f := newFixture(t, "")
	b := newBrowserish(f)
	for _, c := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/simulator", "application/x-www-form-urlencoded", "contact=eve&action=follow", 403},
		{"/simulator", "application/x-www-form-urlencoded", "contact=eve&action=follow&csrf=guess", 403},
		{"/api/sandbox", "text/plain", `{"contact":"eve","action":"follow"}`, 415},
	} {
		if status, body, _ := b.send("POST", c.path, c.ctype, c.body); status != c.status {
			t.Errorf("POST %s %s: %d %.200s, want %d", c.path, c.body, status, body, c.status)
		}
	}
	if n := f.runCount("eve"); n != 0 {
		t.Fatalf("refused requests followed: %d runs", n)
	}
	token := b.csrf("/simulator")
	if status, body, _ := b.form("/simulator", url.Values{"contact": {"eve"}, "action": {"follow"}, "csrf": {token}}); status != http.StatusSeeOther {
		t.Fatalf("the simulator's form: %d %.200s", status, body)
	}
	if n := f.runCount("eve"); n != 1 {
		t.Errorf("the form's follow started %d runs, want 1", n)
	}
}

// doWith is do with a content type.
func (f *fixture) doWith(method, path, token, contentType, body string) (int, string, http.Header) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got), resp.Header
}

// localPathCases are redirect targets after login: the ones kept, and the
// ones that would lead a browser elsewhere (or are not paths).
var localPathCases = []struct{ in, want string }{
	{"/", "/"},
	{"/runs", "/runs"},
	{"/runs?flow=hello&before=71", "/runs?flow=hello&before=71"},
	{"/contacts/sandbox/amy%2Fx", "/contacts/sandbox/amy%2Fx"},
	{"/flows#steps", "/flows#steps"},
	{"", "/"},
	{"runs", "/"},
	{"//evil.example/x", "/"},
	{"///evil.example/x", "/"},
	{"/\\evil.example/x", "/"},
	{"/\t/evil.example/x", "/"},
	{"/\n/evil.example/x", "/"},
	{"/\r/evil.example/x", "/"},
	{"/\x00/evil.example", "/"},
	{"/\x7f/evil.example", "/"},
	{"/ /evil.example", "/"},
	{"/\t\t/evil.example", "/"},
	{"\t//evil.example", "/"},
	{" /evil", "/"},
	{"/a\\b", "/"},
	{"/runs\\..\\..\\evil", "/"},
	{"\\\\evil.example", "/"},
	{"https://evil.example/", "/"},
	{"http:/evil.example", "/"},
	{"javascript:alert(1)", "/"},
	{"/%2F/evil.example", "/"},
	{"/%2f%2fevil.example", "/"},
	{"/\u3000/evil.example", "/"},
	{"/\u2028/evil.example", "/"},
	{"/\xe3\x80\x80", "/"},
	{"/ok/\x85", "/"},
}

func TestLocalPath(t *testing.T) {
	for _, c := range localPathCases {
		if got := localPath(c.in); got != c.want {
			t.Errorf("localPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzLocalPath: what localPath keeps is a path of this server however a
// browser reads it.
func FuzzLocalPath(f *testing.F) {
	for _, c := range localPathCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := localPath(p)
		if got == "/" {
			return
		}
		if got != p {
			t.Fatalf("localPath(%q) = %q: neither the input nor /", p, got)
		}
		// Browsers drop tabs and newlines and read "\" as "/".
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		if !strings.HasPrefix(browser, "/") || strings.HasPrefix(browser, "//") {
			t.Fatalf("localPath(%q) kept %q", p, got)
		}
		base, _ := url.Parse("http://console.example/login")
		u, err := base.Parse(browser)
		if err != nil || u.Host != "console.example" || u.Scheme != "http" {
			t.Fatalf("localPath(%q) kept %q, which leads to %v (%v)", p, got, u, err)
		}
		for _, r := range got {
			if r <= ' ' || r >= 0x7f {
				t.Fatalf("localPath(%q) kept %q with %q", p, got, r)
			}
		}
	})
}

// TestConsoleLoginNext: after logging in, the browser goes to next only
// when it is a path of the console.
func TestConsoleLoginNext(t *testing.T) {
	f := newFixture(t, testToken)
	for _, c := range localPathCases {
		b := newBrowserish(f)
		status, _, h := b.form("/login", url.Values{"token": {testToken}, "next": {c.in}})
		if status != http.StatusSeeOther || h.Get("Location") != c.want {
			t.Errorf("login with next %q: %d to %q, want %q", c.in, status, h.Get("Location"), c.want)
		}
		if _, page, _ := b.send("GET", "/login?next="+url.QueryEscape(c.in), "", ""); !strings.Contains(page, `name="next" value="`+html.EscapeString(c.want)+`"`) {
			t.Errorf("the login page keeps next %q as something else than %q", c.in, c.want)
		}
	}
}

// TestConsoleLoginThrottle: wrong tokens (the login form, bearer tokens)
// are checked at most perAddrBurst times at once from an address, then
// once every perAddrEvery, and answered 429 with Retry-After in between;
// right tokens use up nothing.
func TestConsoleLoginThrottle(t *testing.T) {
	clock := newTestClock()
	f := newFixtureWith(t, testToken, func(c *Config) { c.Now = clock.Now })
	b := newBrowserish(f)
	for range 30 {
		b.login(testToken)
		if status, _, _ := f.do("GET", "/api/flows", testToken, ""); status != http.StatusOK {
			t.Fatalf("the bearer token: %d", status)
		}
	}
	wrong := url.Values{"token": {"wrong-token-wrong-token"}}
	counts := map[int]int{}
	for i := range 100 {
		var status int
		var h http.Header
		if i%2 == 0 {
			status, _, h = b.form("/login", wrong)
		} else {
			status, _, h = f.do("GET", "/api/runs", "wrong-token-wrong-token", "")
		}
		counts[status]++
		if status == http.StatusTooManyRequests && h.Get("Retry-After") != "6" {
			t.Fatalf("429 with Retry-After %q, want 6", h.Get("Retry-After"))
		}
	}
	if counts[http.StatusUnauthorized] != perAddrBurst || counts[http.StatusTooManyRequests] != 100-perAddrBurst {
		t.Fatalf("100 wrong tokens at once: %v, want %d checked (401) and the rest 429", counts, perAddrBurst)
	}
	// While throttled, no token is checked, the right one neither.
	if status, body, _ := b.form("/login", url.Values{"token": {testToken}}); status != http.StatusTooManyRequests || !strings.Contains(body, "try again in 6 s") {
		t.Errorf("the right token while throttled: %d %.200s", status, body)
	}
	if status, body, _ := f.do("GET", "/api/flows", testToken, ""); status != http.StatusTooManyRequests || !strings.Contains(body, "try again") {
		t.Errorf("the right bearer token while throttled: %d %.200s", status, body)
	}
	// A session already open is not throttled.
	if status, _, _ := b.send("GET", "/runs", "", ""); status != http.StatusOK {
		t.Errorf("a logged-in page while logins are throttled: %d", status)
	}
	clock.Advance(perAddrEvery)
	if status, _, _ := b.form("/login", wrong); status != http.StatusUnauthorized {
		t.Errorf("a wrong token after %v: %d, want it checked", perAddrEvery, status)
	}
	if status, _, h := b.form("/login", wrong); status != http.StatusTooManyRequests || h.Get("Retry-After") != "6" {
		t.Errorf("the next wrong token: %d Retry-After %q", status, h.Get("Retry-After"))
	}
	clock.Advance(perAddrEvery)
	b.login(testToken)
	b.login(testToken)
	if status, _, _ := f.do("GET", "/api/flows", testToken, ""); status != http.StatusOK {
		t.Errorf("the bearer token once a try is due: %d", status)
	}
}

// TestLoginThrottleBehindProxy: behind a trusted proxy (this test's
// loopback address), each client's wrong tokens count against the
// address X-Forwarded-For gives, so one client's failures do not lock
// out another, and what a client writes in the header itself changes
// nothing. Without trusted_proxies, every client behind the proxy
// shares its bucket.
func TestLoginThrottleBehindProxy(t *testing.T) {
	wrong := url.Values{"token": {"wrong-token-wrong-token"}}
	right := url.Values{"token": {testToken}, "next": {"/flows"}}
	const a, b = "198.51.100.7", "198.51.100.8"
	for _, trust := range []bool{true, false} {
		clock := newTestClock()
		logs := &lockedLog{}
		f := newFixtureWith(t, testToken, func(c *Config) {
			c.Now = clock.Now
			c.Logger = slog.New(slog.NewTextHandler(logs, nil))
			if trust {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			}
		})
		amy, bob := newBrowserish(f), newBrowserish(f)
		for i := range perAddrBurst + 1 {
			// a's proxy appends a's address after what a wrote.
			spoof := fmt.Sprintf("203.0.113.%d, %s", i, a)
			status, _, _ := amy.form("/login", wrong, "X-Forwarded-For", spoof)
			want := http.StatusUnauthorized
			if i == perAddrBurst {
				want = http.StatusTooManyRequests
			}
			if status != want {
				t.Fatalf("trusted %v: wrong token %d of %s: %d, want %d", trust, i+1, a, status, want)
			}
		}
		status, _, _ := bob.form("/login", right, "X-Forwarded-For", b)
		if trust && status != http.StatusSeeOther {
			t.Errorf("behind a trusted proxy, %s's right token after %s's failures: %d, want 303 (logged in)", b, a, status)
		}
		if !trust && status != http.StatusTooManyRequests {
			t.Errorf("behind a proxy not trusted, %s's right token after %s's failures: %d, want 429 (one shared bucket)", b, a, status)
		}
		if status, _, _ := amy.send("GET", "/api/flows", "", "", "Authorization", "Bearer wrong-token-wrong-token", "X-Forwarded-For", a); status != http.StatusTooManyRequests {
			t.Errorf("trusted %v: %s's wrong bearer token: %d, want 429", trust, a, status)
		}
		// The log names the client, and the proxy it came through.
		refused := regexp.MustCompile(`msg="console login refused" remote="?([^"\n]*)"?\n`).FindStringSubmatch(logs.String())
		wantRemote := regexp.MustCompile(`^127\.0\.0\.1:\d+$`)
		if trust {
			wantRemote = regexp.MustCompile(`^` + regexp.QuoteMeta(a) + ` via 127\.0\.0\.1:\d+$`)
		}
		if refused == nil || !wantRemote.MatchString(refused[1]) {
			t.Errorf("trusted %v: the refused login's log line: %q, want remote %s\n%s", trust, refused, wantRemote, logs.String())
		}
	}
}

// lockedLog is a log's output that the test reads while servers write.
type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestLimiterOverall: failures from many addresses are bounded together.
func TestLimiterOverall(t *testing.T) {
	var l limiter
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addr := func(i int) string { return "10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) }
	for i := range allBurst {
		if ok, _ := l.take(addr(i), now); !ok {
			t.Fatalf("failure %d refused", i)
		}
	}
	ok, retry := l.take(addr(allBurst), now)
	if ok || retry != allEvery {
		t.Fatalf("failure %d from a new address: %v, retry %v; want refused for %v", allBurst, ok, retry, allEvery)
	}
	l.refund(addr(0)) // a right token gives its try back
	if ok, _ := l.take(addr(allBurst), now); !ok {
		t.Fatal("a refunded try is not given back")
	}
	now = now.Add(allEvery)
	if ok, _ := l.take(addr(allBurst+1), now); !ok {
		t.Fatalf("no try after %v", allEvery)
	}
	if ok, _ := l.take(addr(allBurst+2), now); ok {
		t.Fatal("two tries after one interval")
	}
	// The buckets of addresses are bounded.
	now = now.Add(time.Hour)
	for i := range 3 * maxAddrs {
		l.take(addr(i), now.Add(time.Duration(i)*allEvery))
	}
	if n := len(l.addrs); n > maxAddrs+1 {
		t.Errorf("%d address buckets kept", n)
	}
}

func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1",
		"[::ffff:10.1.2.3]:80":       "10.1.2.3",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:443":      "2001:db8:1:3::/64",
		"not an address":             "not an address",
	} {
		if got := clientAddr(&http.Request{RemoteAddr: in}, nil); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", in, got, want)
		}
		// A proxy's header counts only from a trusted proxy.
		r := &http.Request{RemoteAddr: in, Header: http.Header{"X-Forwarded-For": {"203.0.113.9"}}}
		if got := clientAddr(r, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}); got != want {
			t.Errorf("clientAddr(%q) with a forwarded address, from a peer not trusted = %q, want %q", in, got, want)
		}
	}
}

// TestClientAddrThroughProxies: behind trusted proxies, the client is
// the rightmost address of X-Forwarded-For that is not a trusted
// proxy's; what a client writes there itself is left of it and changes
// nothing.
func TestClientAddrThroughProxies(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
	}
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"127.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"127.0.0.1:4000", nil, "127.0.0.1"},                                    // nothing forwarded: the proxy itself
		{"127.0.0.1:4000", []string{" "}, "127.0.0.1"},                          // an empty header
		{"127.0.0.1:4000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},   // a client's own entry is ignored
		{"127.0.0.1:4000", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"}, // on two header lines too
		{"127.0.0.1:4000", []string{"198.51.100.7, 10.1.2.3"}, "198.51.100.7"},  // through two trusted proxies
		{"127.0.0.1:4000", []string{"10.9.9.9, 10.1.2.3"}, "10.9.9.9"},          // every hop trusted: the first
		{"127.0.0.1:4000", []string{"garbage, 198.51.100.7"}, "198.51.100.7"},   // garbage left of the client
		{"127.0.0.1:4000", []string{"198.51.100.7, unknown"}, "127.0.0.1"},      // a trusted proxy wrote no address
		{"127.0.0.1:4000", []string{"198.51.100.7:5123"}, "198.51.100.7"},       // with a port
		{"127.0.0.1:4000", []string{"[2001:db8:7::1]:443"}, "2001:db8:7::/64"},  // IPv6 with a port
		{"127.0.0.1:4000", []string{"2001:db8:7::1"}, "2001:db8:7::/64"},        // IPv6
		{"127.0.0.1:4000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},     // IPv4 in IPv6
		{"[fd00::5]:4000", []string{"198.51.100.7"}, "198.51.100.7"},            // an IPv6 proxy
		{"[::ffff:10.0.0.5]:4000", []string{"198.51.100.7"}, "198.51.100.7"},    // a proxy's IPv4 in IPv6
		{"198.51.100.8:4000", []string{"198.51.100.7"}, "198.51.100.8"},         // not through a trusted proxy
		{"11.0.0.1:4000", []string{"198.51.100.7"}, "11.0.0.1"},                 // outside the trusted network
		{"127.0.0.1:4000", []string{"10.0.0.1, 6.6.6.6, 10.0.0.2"}, "6.6.6.6"},  // the first untrusted from the right
	} {
		r := &http.Request{RemoteAddr: c.peer, Header: http.Header{}}
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, trusted); got != c.want {
			t.Errorf("clientAddr(peer %s, X-Forwarded-For %q) = %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}

// TestConsoleSessions: each login is a new session that lasts
// sessionTTL; logging out ends it, so its cookie no longer works.
func TestConsoleSessions(t *testing.T) {
	clock := newTestClock()
	f := newFixtureWith(t, testToken, func(c *Config) { c.Now = clock.Now })
	a, b := newBrowserish(f), newBrowserish(f)
	ca, cb := a.login(testToken), b.login(testToken)
	if ca.Value == cb.Value || len(ca.Value) < 22 {
		t.Fatalf("two logins share the cookie %q", ca.Value)
	}
	if ca.MaxAge != int(sessionTTL.Seconds()) || ca.MaxAge != 12*3600 {
		t.Errorf("the cookie lasts %d s, want %v", ca.MaxAge, sessionTTL)
	}
	if a.csrf("/flows") == b.csrf("/flows") {
		t.Error("two sessions share the CSRF token")
	}
	// The cookie taken before a logout does not work after it.
	stolen := newBrowserish(f)
	stolen.client.Jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{{Name: cookieName, Value: ca.Value}})
	if status, _, _ := stolen.send("GET", "/runs", "", ""); status != http.StatusOK {
		t.Fatalf("a copy of the cookie before logout: %d", status)
	}
	if status, _, h := a.form("/logout", url.Values{"csrf": {a.csrf("/flows")}}); status != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", status, h.Get("Location"))
	}
	for name, c := range map[string]*browserish{"the logged-out browser": a, "a copy of its cookie": stolen} {
		if status, _, h := c.send("GET", "/runs", "", ""); status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
			t.Errorf("%s after logout: %d to %q, want the login page", name, status, h.Get("Location"))
		}
		if status, _, _ := c.send("POST", "/api/sandbox", "application/json", `{"contact":"eve","action":"follow"}`); status != http.StatusUnauthorized {
			t.Errorf("%s posts after logout: %d, want 401", name, status)
		}
	}
	// The other session goes on until it expires.
	if status, _, _ := b.send("GET", "/runs", "", ""); status != http.StatusOK {
		t.Fatalf("the other session after a logout: %d", status)
	}
	clock.Advance(sessionTTL - time.Second)
	if status, _, _ := b.send("GET", "/runs", "", ""); status != http.StatusOK {
		t.Fatalf("a session before it expires: %d", status)
	}
	clock.Advance(time.Second)
	if status, _, h := b.send("GET", "/runs", "", ""); status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("a session after %v: %d to %q, want the login page", sessionTTL, status, h.Get("Location"))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConsoleSecureCookie: the login cookie is Secure when the browser
// reached the console over HTTPS, directly or through a reverse proxy
// that says so (X-Forwarded-Proto: https).
func TestConsoleSecureCookie(t *testing.T) {
	f := newFixture(t, testToken)
	cookie := func(client *http.Client, base string, headers ...string) *http.Cookie {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == cookieName {
				return ck
			}
		}
		t.Fatalf("no cookie: %d", resp.StatusCode)
		return nil
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	plain := &http.Client{CheckRedirect: noRedirect}
	if ck := cookie(plain, f.srv.URL); ck.Secure {
		t.Error("Secure over plain HTTP: a browser would not send it back")
	}
	if ck := cookie(plain, f.srv.URL, "X-Forwarded-Proto", "https"); !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("behind an HTTPS proxy: %+v, want Secure, HttpOnly, SameSite=Strict", ck)
	}
	if ck := cookie(plain, f.srv.URL, "X-Forwarded-Proto", "HTTPS, http"); !ck.Secure {
		t.Errorf("behind two proxies, the first HTTPS: %+v, want Secure", ck)
	}
	tlsSrv := httptest.NewTLSServer(f.c)
	t.Cleanup(tlsSrv.Close)
	client := tlsSrv.Client()
	client.CheckRedirect = noRedirect
	if ck := cookie(client, tlsSrv.URL); !ck.Secure {
		t.Errorf("over TLS: %+v, want Secure", ck)
	}
}

// TestConsoleLoginsStoreDown: when the store of logins cannot be read, a
// request with a login cookie is answered 503 (not sent to log in
// again), and a login 503, neither with the store's error.
func TestConsoleLoginsStoreDown(t *testing.T) {
	f := newFixture(t, testToken)
	b := newBrowserish(f)
	b.login(testToken)
	if err := f.sb.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/runs", "/api/runs"} {
		status, body, _ := b.send("GET", path, "", "")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "cannot reach its database") {
			t.Errorf("GET %s with the store down: %d %.200s", path, status, body)
		}
		if strings.Contains(body, "sql") || strings.Contains(body, "closed") {
			t.Errorf("GET %s shows the store's error: %.200s", path, body)
		}
	}
	status, body, h := b.form("/login", url.Values{"token": {testToken}})
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "cannot reach its database") || h.Get("Set-Cookie") != "" {
		t.Errorf("a login with the store down: %d %q %.300s", status, h.Get("Set-Cookie"), body)
	}
	// The bearer token does not need the logins.
	if status, _, _ := f.do("GET", "/api/me", testToken, ""); status != http.StatusOK {
		t.Errorf("the bearer token with the store down: %d", status)
	}
}

// TestConsoleLoginOfARemovedOperator: a console whose config no longer
// has an operator (a restart with the operator removed) does not take
// their login; the admin's login goes on.
func TestConsoleLoginOfARemovedOperator(t *testing.T) {
	f := newInboxFixture(t)
	amy, admin := newBrowserish(f), newBrowserish(f)
	amy.login(amyToken)
	admin.login(testToken)
	cfg := f.c.cfg
	cfg.OperatorToken = func(name string) (string, bool) {
		if name == "bob" {
			return bobToken, true
		}
		return "", false
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, c)
	t.Cleanup(c.Close)
	for _, b := range []*browserish{amy, admin} {
		// The same cookies, sent to the other console.
		cookies := b.client.Jar.Cookies(mustURL(t, f.srv.URL))
		b.client.Jar.SetCookies(mustURL(t, srv.URL), cookies)
	}
	get := func(b *browserish) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/inbox", nil)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	if status, where := get(amy); status != http.StatusSeeOther || !strings.HasPrefix(where, "/login") {
		t.Errorf("the removed operator's login: %d to %q, want the login page", status, where)
	}
	if status, _ := get(admin); status != http.StatusOK {
		t.Errorf("the admin's login: %d", status)
	}
}

// FuzzClientAddr: whatever a request's X-Forwarded-For holds, a request
// from a peer that is not trusted is counted by the peer's address; one
// from a trusted proxy by the peer's, or by an address the header holds
// that is not left of an untrusted one; and the rightmost entry, which
// the proxy wrote, decides when it is an address not trusted.
func FuzzClientAddr(f *testing.F) {
	f.Add("127.0.0.1:80", "198.51.100.7")
	f.Add("127.0.0.1:80", "6.6.6.6, 10.0.0.1, [2001:db8::1]:80")
	f.Add("127.0.0.1:80", "unknown,,198.51.100.7:1")
	f.Add("198.51.100.1:80", "10.0.0.1")
	f.Add("[fd00::1]:80", "::ffff:1.2.3.4,fe80::1%eth0")
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := clientAddr(r, trusted)
		alone := clientAddr(&http.Request{RemoteAddr: peer}, nil)
		p, ok := parseForwarded(peer)
		if !ok || !trustedProxy(p, trusted) {
			if got != alone {
				t.Fatalf("peer %q not trusted: counted as %q, want %q (the peer's own)", peer, got, alone)
			}
			return
		}
		hops := strings.Split(xff, ",")
		// The entries the walk may reach: from the right, up to and
		// including the first one that is not a trusted address.
		allowed := map[string]bool{alone: true}
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseForwarded(hops[i])
			if !ok {
				break
			}
			allowed[clientAddr(&http.Request{RemoteAddr: netip.AddrPortFrom(a, 1).String()}, nil)] = true
			if !trustedProxy(a, trusted) {
				if i == len(hops)-1 && got != clientAddr(&http.Request{RemoteAddr: netip.AddrPortFrom(a, 1).String()}, nil) {
					t.Fatalf("X-Forwarded-For %q: counted as %q, not the proxy's rightmost entry", xff, got)
				}
				break
			}
		}
		if !allowed[got] {
			t.Fatalf("peer %q, X-Forwarded-For %q: counted as %q, which is left of an untrusted entry or not in the header", peer, xff, got)
		}
	})
}

// TestFlashOnlyFromTheConsole: the words a form's action leaves for the
// page it leads back to show there, and an error= in a link someone
// else wrote does not: the console's red banner said whatever a link
// asked ("your session expired, log in at evil.example").
func TestFlashOnlyFromTheConsole(t *testing.T) {
	f := newFixture(t, testToken)
	b := newBrowserish(f)
	b.login(testToken)
	const fake = "Your session expired, log in at evil.example"
	for _, page := range []string{"/simulator?contact=amy&error=", "/flows/hello?error=", "/inbox/sandbox/amy?done=close&error=",
		"/simulator?contact=amy&sig=00&error="} {
		status, body, _ := b.send("GET", page+url.QueryEscape(fake), "", "")
		if strings.Contains(body, "evil.example") {
			t.Errorf("GET %s...: %d, the page shows the link's error:\n%s", page, status, body)
		}
	}
	// The simulator's own error, from its form: shown.
	status, _, hdr := b.form("/simulator", url.Values{"contact": {"amy"}, "action": {"advance"}, "duration": {"-1h"}, "csrf": {b.csrf("/simulator")}})
	if status != http.StatusSeeOther {
		t.Fatalf("the simulator's form: %d", status)
	}
	if status, body, _ := b.send("GET", hdr.Get("Location"), "", ""); status != http.StatusOK || !strings.Contains(body, `class="error" role="alert"`) {
		t.Errorf("the simulator's own error is not shown: %d\n%s", status, body)
	}
}

// TestFlashOnEveryNode: the words a form's action leaves for the page it
// leads back to show on another node of the same console (a load
// balancer sends the redirect's GET elsewhere) and after a restart: the
// key that signs them was each process's own, so a refused reply's "Not
// sent: ..." or a start form's error vanished there without a word.
func TestFlashOnEveryNode(t *testing.T) {
	f := newFixture(t, testToken)
	b := newBrowserish(f)
	b.login(testToken)
	status, _, hdr := b.form("/simulator", url.Values{"contact": {"amy"}, "action": {"advance"}, "duration": {"-1h"}, "csrf": {b.csrf("/simulator")}})
	if status != http.StatusSeeOther {
		t.Fatalf("the simulator's form: %d", status)
	}
	other, err := New(f.c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(other)
	t.Cleanup(srv.Close)
	b2 := newBrowserish(&fixture{t: t, sb: f.sb, c: other, srv: srv})
	b2.login(testToken)
	if status, body, _ := b2.send("GET", hdr.Get("Location"), "", ""); status != http.StatusOK || !strings.Contains(body, `class="error" role="alert"`) {
		t.Errorf("another node does not show the form's error: %d\n%s", status, body)
	}
	if !bytes.Equal(other.flashKey, f.c.flashKey) || bytes.Contains(other.flashKey, []byte(testToken)) {
		t.Errorf("flash keys: %x and %x", other.flashKey, f.c.flashKey)
	}
	open1, _ := New(Config{Engine: f.c.cfg.Engine})
	open2, _ := New(Config{Engine: f.c.cfg.Engine})
	if bytes.Equal(open1.flashKey, open2.flashKey) {
		t.Error("two open consoles share a flash key")
	}
}
