package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// How the console knows who asks, and that a change comes from its own
// pages:
//
//   - A login makes a session: a random id (the cookie's value), kept in
//     the store as its hash (see startSession), for sessionTTL or until
//     logout.
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

// maxSessions bounds the live logins kept; a new login beyond it ends
// the one closest to expiry.
const maxSessions = 1000

// csrfField is the forms' hidden field with the session's CSRF token.
const csrfField = "csrf"

// session is one live login: the admin's (operator "") or an operator's.
type session struct {
	csrf     string
	operator string
}

// Logins live in the store (engine.LoginStore), so that they outlive a
// restart and work on every node of a shared database. The cookie's
// value is a random id; the store keeps its SHA-256, and an HMAC keyed
// with it of the token logged in with, so that a changed token (or an
// operator removed from the config) ends the logins made with the old
// one. The CSRF token is derived from the id the same way. Nothing in the
// store lets anyone in.

// loginID is the store's key of a cookie's value.
func loginID(cookie string) []byte {
	sum := sha256.Sum256([]byte(cookie))
	return sum[:]
}

// keyed is an HMAC-SHA256 of what with the cookie's value as its key.
func keyed(cookie, what string) []byte {
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte(what))
	return m.Sum(nil)
}

// loginCredential binds a login to the token it was made with.
func loginCredential(cookie, token string) []byte {
	return keyed(cookie, "wxflow console login\x00"+token)
}

// loginCSRF is the CSRF token of the login of a cookie.
func loginCSRF(cookie string) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(keyed(cookie, "wxflow console csrf")[:20])
}

// errLogins says that the store of logins failed; the detail is logged.
var errLogins = errors.New("the console cannot reach its database to check logins: try again in a moment")

// loginsOf is the login store of a transaction.
func loginsOf(tx any) (engine.LoginStore, error) {
	ls, ok := tx.(engine.LoginStore)
	if !ok {
		return nil, fmt.Errorf("the store (%T) keeps no console logins", tx)
	}
	return ls, nil
}

// startSession stores a new login of operator ("" for the admin) made
// with token, ending the one of the cookie ended (if any), and returns
// the new cookie's value.
func (c *Console) startSession(ctx context.Context, now time.Time, operator, token, ended string) (string, error) {
	cookie := rand.Text()
	l := &engine.Login{ID: loginID(cookie), Operator: operator, Credential: loginCredential(cookie, token),
		Created: now, Expires: now.Add(sessionTTL)}
	err := c.eng.Store().Update(ctx, func(tx engine.Tx) error {
		ls, err := loginsOf(tx)
		if err != nil {
			return err
		}
		if ended != "" {
			if err := ls.EndLogin(loginID(ended)); err != nil {
				return err
			}
		}
		return ls.SaveLogin(l, maxSessions)
	})
	if err != nil {
		return "", fmt.Errorf("save login: %w", err)
	}
	return cookie, nil
}

// lookUpSession is the live login of a cookie's value, or nil: unknown,
// expired, or made with a token that is no longer its operator's (or the
// admin's).
func (c *Console) lookUpSession(ctx context.Context, cookie string) (*session, error) {
	var l *engine.Login
	err := c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		ls, err := loginsOf(tx)
		if err != nil {
			return err
		}
		l, err = ls.Login(loginID(cookie))
		return err
	})
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read login: %w", err)
	}
	if !c.now().Before(l.Expires) {
		return nil, nil
	}
	token := c.cfg.Token
	if l.Operator != "" {
		var ok bool
		if c.cfg.OperatorToken == nil {
			return nil, nil
		}
		if token, ok = c.cfg.OperatorToken(l.Operator); !ok {
			return nil, nil
		}
	}
	if token == "" || !hmac.Equal(l.Credential, loginCredential(cookie, token)) {
		return nil, nil
	}
	return &session{csrf: loginCSRF(cookie), operator: l.Operator}, nil
}

// endSession deletes the login of a cookie's value.
func (c *Console) endSession(ctx context.Context, cookie string) error {
	err := c.eng.Store().Update(ctx, func(tx engine.Tx) error {
		ls, err := loginsOf(tx)
		if err != nil {
			return err
		}
		return ls.EndLogin(loginID(cookie))
	})
	if err != nil {
		return fmt.Errorf("end login: %w", err)
	}
	return nil
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

// clientAddr is the address a request's throttle is counted by: its
// client's IP (clientIP), or its /64 for IPv6 (one host usually has a
// whole /64).
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	ip, ok := clientIP(r, trusted)
	if !ok {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return r.RemoteAddr
	}
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// remote is the log attribute of where a request comes from: its peer's
// address, and through a trusted proxy the client's after it.
func (c *Console) remote(r *http.Request) slog.Attr {
	if len(c.cfg.TrustedProxies) > 0 {
		if ip, ok := clientIP(r, c.cfg.TrustedProxies); ok {
			if peer, _ := parseForwarded(r.RemoteAddr); peer != ip {
				return slog.String("remote", ip.String()+" via "+r.RemoteAddr)
			}
		}
	}
	return slog.String("remote", r.RemoteAddr)
}

// clientIP is the address of the client a request comes from: the
// peer's, or, when the peer is a trusted proxy, the rightmost address of
// X-Forwarded-For that is not a trusted proxy's. Each proxy appends the
// address it was reached from, so the entries right of that one were
// written by trusted proxies and the ones left of it by anyone, the
// client included. An entry that is not an address stops the walk at the
// proxy that wrote it. ok is false when RemoteAddr is not an address.
func clientIP(r *http.Request, trusted []netip.Prefix) (ip netip.Addr, ok bool) {
	peer, ok := parseForwarded(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !trustedProxy(peer, trusted) {
		return peer, true
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	ip = peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseForwarded(hops[i])
		if !ok {
			break
		}
		ip = hop
		if !trustedProxy(hop, trusted) {
			break
		}
	}
	return ip, true
}

// parseForwarded reads an address as RemoteAddr and proxies write it:
// "ip", "ip:port", "[ipv6]" or "[ipv6]:port"; IPv4 in IPv6 is unmapped
// and an IPv6 zone dropped.
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 == nil {
			a, err = ap.Addr(), nil
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		}
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// trustedProxy reports whether ip is one of the trusted proxies'.
func trustedProxy(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
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
