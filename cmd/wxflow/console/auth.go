package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// How the console knows who asks, and that a change comes from its own
// pages:
//
//   - A login makes a session: a random id (the cookie's value) kept in
//     memory with its CSRF token, for sessionTTL or until logout.
//   - Every form that changes something carries the session's CSRF token
//     (the open sandbox console has one token for all); the JSON API takes
//     a change by cookie only as Content-Type: application/json, which
//     another origin cannot send without a CORS preflight, never granted.
//     The bearer token needs neither.
//   - Every request that changes something is refused when the browser
//     says it comes from another site or origin (Sec-Fetch-Site) or its
//     Origin is not the console's.
//   - Failed logins and wrong bearer tokens are throttled per client
//     address and overall (limiter).

// sessionTTL is how long a login lasts.
const sessionTTL = 12 * time.Hour

// maxSessions bounds the sessions kept; the one closest to expiry goes
// first.
const maxSessions = 1000

// csrfField is the forms' hidden field with the session's CSRF token.
const csrfField = "csrf"

// session is one login: the admin's (operator "") or an operator's.
type session struct {
	csrf     string
	expires  time.Time
	operator string
}

// sessions are the logins of a console, by id.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

// start makes a session of operator ("" for the admin) that lasts
// sessionTTL from now and returns its id.
func (ss *sessions) start(now time.Time, operator string) (string, *session) {
	id, s := rand.Text(), &session{csrf: rand.Text(), expires: now.Add(sessionTTL), operator: operator}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		for k, o := range ss.m {
			if !now.Before(o.expires) {
				delete(ss.m, k)
			}
		}
	}
	for len(ss.m) >= maxSessions {
		var oldest string
		for k, o := range ss.m {
			if oldest == "" || o.expires.Before(ss.m[oldest].expires) {
				oldest = k
			}
		}
		delete(ss.m, oldest)
	}
	ss.m[id] = s
	return id, s
}

// get is the live session of id, or nil.
func (ss *sessions) get(id string, now time.Time) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

// end forgets a session.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// The limits on failed logins: a client address may fail perAddrBurst
// times at once, then once every perAddrEvery; all addresses together
// allBurst times, then once every allEvery.
const (
	perAddrBurst = 10
	perAddrEvery = 6 * time.Second
	allBurst     = 100
	allEvery     = time.Second
	// maxAddrs is how many addresses' buckets are kept before the full
	// ones are dropped.
	maxAddrs = 4096
)

// limiter throttles token checks (the login form, bearer tokens) with a
// token bucket per client address and one for all. Each check takes a
// token from both up front, and a right token gives them back: only
// failures count, and concurrent attempts cannot overrun the limit.
type limiter struct {
	mu    sync.Mutex
	addrs map[string]*bucket
	all   bucket
}

// bucket is a token bucket; at is when tokens was last brought up to date.
type bucket struct {
	tokens float64
	at     time.Time
}

// fill brings the bucket up to now.
func (b *bucket) fill(now time.Time, burst float64, every time.Duration) {
	if b.at.IsZero() {
		b.tokens, b.at = burst, now
		return
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(burst, b.tokens+float64(d)/float64(every))
		b.at = now
	}
}

// wait is how long until the bucket has a whole token.
func (b *bucket) wait(every time.Duration) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) * float64(every)))
}

// take reserves an attempt for addr at now; when none is left it returns
// how long to wait.
func (l *limiter) take(addr string, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs == nil {
		l.addrs = map[string]*bucket{}
	}
	b := l.addrs[addr]
	if b == nil {
		if len(l.addrs) >= maxAddrs {
			for k, o := range l.addrs {
				if o.fill(now, perAddrBurst, perAddrEvery); o.tokens >= perAddrBurst {
					delete(l.addrs, k)
				}
			}
		}
		b = &bucket{}
		l.addrs[addr] = b
	}
	b.fill(now, perAddrBurst, perAddrEvery)
	l.all.fill(now, allBurst, allEvery)
	if b.tokens < 1 || l.all.tokens < 1 {
		return false, max(b.wait(perAddrEvery), l.all.wait(allEvery))
	}
	b.tokens--
	l.all.tokens--
	return true, 0
}

// refund gives back an attempt that succeeded.
func (l *limiter) refund(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.addrs[addr]; b != nil {
		b.tokens = math.Min(perAddrBurst, b.tokens+1)
	}
	l.all.tokens = math.Min(allBurst, l.all.tokens+1)
}

// clientAddr is the address a request's throttle is counted by: its IP,
// or its /64 for IPv6 (one host usually has a whole /64).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// retryAfter sets the Retry-After header of a throttled attempt and
// returns the message that says it.
func retryAfter(w http.ResponseWriter, retry time.Duration) string {
	secs := strconv.Itoa(max(1, int(math.Ceil(retry.Seconds()))))
	w.Header().Set("Retry-After", secs)
	return "too many failed attempts with a wrong token; try again in " + secs + " s"
}

// tokenMatches compares a presented token with the admin token in
// constant time, their lengths included.
func (c *Console) tokenMatches(tok string) bool {
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], c.tokenHash[:]) == 1
}

// secure reports whether the request reached the console over HTTPS:
// directly, or through a reverse proxy that says so with
// X-Forwarded-Proto: https.
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// safeMethod reports whether a method only reads.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// crossOrigin says why a state-changing request did not come from the
// console's own pages, or "". Browsers mark where a request comes from
// (Sec-Fetch-Site) and name the page's origin (Origin); tools such as
// curl send neither.
func crossOrigin(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "cross-site", "same-site":
		return "the browser marks it " + site
	}
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(r, origin) {
		return ""
	}
	return "it comes from another origin"
}

// sameOrigin reports whether origin is the console's own: the request's
// scheme (see secure) and its Host, or X-Forwarded-Host behind a proxy.
// A browser cannot set either header on a request to another origin.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil {
		return false // "null", or not an origin
	}
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	if !strings.EqualFold(u.Scheme, scheme) {
		return false
	}
	want := hostPort(u.Host, scheme)
	hosts := []string{r.Host}
	if fh, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ","); strings.TrimSpace(fh) != "" {
		hosts = append(hosts, strings.TrimSpace(fh))
	}
	for _, h := range hosts {
		if h != "" && strings.EqualFold(hostPort(h, scheme), want) {
			return true
		}
	}
	return false
}

// hostPort drops a scheme's default port from host.
func hostPort(host, scheme string) string {
	if scheme == "https" {
		return strings.TrimSuffix(host, ":443")
	}
	return strings.TrimSuffix(host, ":80")
}

// jsonBody reports whether a request's Content-Type is application/json.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// csrfMatches compares a form's CSRF token with want in constant time.
func csrfMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// localPath keeps a redirect target on this console: a path that starts
// with exactly one "/", of printable ASCII without backslashes (browsers
// drop tabs and newlines and read "\" as "/", so "/\t/evil.example" and
// "/\evil.example" lead off-site), with no scheme or host once parsed.
// Anything else is "/".
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return p
}
