package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// consoleLogin logs in at a console with a token and returns the login
// cookie's value.
func consoleLogin(t *testing.T, base, token string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login at %s: %d", base, resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "wxflow_console" && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("login at %s set no cookie", base)
	return ""
}

// withCookie sends a request with a login cookie (a form when form is
// not nil) and returns the status, the body and where a redirect leads.
func withCookie(t *testing.T, method, u, cookie string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: "wxflow_console", Value: cookie})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// whoIs is who a login cookie acts as at a console (GET /api/me's
// operator, "admin" for the admin), or "" when it is not logged in.
func whoIs(t *testing.T, base, cookie string) string {
	t.Helper()
	status, body, _ := withCookie(t, "GET", base+"api/me", cookie, nil)
	switch {
	case status == http.StatusUnauthorized:
		return ""
	case status != http.StatusOK:
		t.Fatalf("GET /api/me at %s: %d %s", base, status, body)
	case strings.Contains(body, `"operator": "amy"`):
		return "amy"
	case strings.Contains(body, `"admin": true`):
		return "admin"
	}
	t.Fatalf("GET /api/me at %s: %s", base, body)
	return ""
}

// csrfRe finds a page's CSRF token.
var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// pageCSRF is the CSRF token of a console page for a login cookie.
func pageCSRF(t *testing.T, u, cookie string) string {
	t.Helper()
	status, body, _ := withCookie(t, "GET", u, cookie, nil)
	m := csrfRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no CSRF token", u, status)
	}
	return m[1]
}

// loginOperators declares the operator amy, whose token is
// WXFLOW_LOGIN_AMY.
const loginOperators = "operators:\n  amy:\n    token: ${WXFLOW_LOGIN_AMY}\n"

// TestLoginsOutliveARestart: on SQLite, a console login works after the
// server restarts on the same database; a changed operator token ends
// the logins made with the old one (the admin's go on); the database
// holds neither the cookie, nor the CSRF token, nor a token.
func TestLoginsOutliveARestart(t *testing.T) {
	const amyOld, amyNew = "amy-login-token-0123456789", "amy-login-token-rotated-0123"
	t.Setenv("WXFLOW_LOGIN_AMY", amyOld)
	db := filepath.Join(t.TempDir(), "wxflow.db")
	path := nodeConfig(t, db, convFlows, "", loginOperators)

	s, stop := serveUntil(t, loadNodeConfig(t, path))
	base := s.ConsoleURL()
	admin, amy := consoleLogin(t, base, pgAdminToken), consoleLogin(t, base, amyOld)
	if who := whoIs(t, base, amy); who != "amy" {
		t.Fatalf("amy's login acts as %q", who)
	}
	csrf := pageCSRF(t, base+"flows", amy)
	stop()

	// Nothing in the database (and its WAL) lets anyone in.
	var stored []byte
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		stored = append(stored, b...)
	}
	if !bytes.Contains(stored, []byte("amy")) {
		t.Fatal("the database file does not hold what was committed: the check below would prove nothing")
	}
	for name, secret := range map[string]string{"amy's cookie": amy, "the admin's cookie": admin, "amy's CSRF token": csrf,
		"amy's token": amyOld, "the admin token": pgAdminToken} {
		if bytes.Contains(stored, []byte(secret)) {
			t.Errorf("the database holds %s", name)
		}
	}

	s, stop = serveUntil(t, loadNodeConfig(t, path))
	base = s.ConsoleURL()
	if who := whoIs(t, base, amy); who != "amy" {
		t.Fatalf("after a restart, amy's login acts as %q", who)
	}
	if got := pageCSRF(t, base+"flows", amy); got != csrf {
		t.Errorf("after a restart, amy's CSRF token changed")
	}
	// A form with the CSRF token from before the restart is taken.
	if status, _, where := withCookie(t, "POST", base+"logout", admin, url.Values{"csrf": {pageCSRF(t, base+"flows", admin)}}); status != http.StatusSeeOther || where != "/login" {
		t.Fatalf("the admin's logout: %d to %q", status, where)
	}
	if who := whoIs(t, base, admin); who != "" {
		t.Fatalf("after logout, the admin's cookie acts as %q", who)
	}
	stop()

	// amy's token changes: her login ends; a new one with the new token
	// works.
	t.Setenv("WXFLOW_LOGIN_AMY", amyNew)
	s, _ = serveUntil(t, loadNodeConfig(t, path))
	base = s.ConsoleURL()
	if who := whoIs(t, base, amy); who != "" {
		t.Fatalf("after amy's token changed, her old login acts as %q", who)
	}
	if status, _, where := withCookie(t, "GET", base+"inbox", amy, nil); status != http.StatusSeeOther || !strings.HasPrefix(where, "/login") {
		t.Errorf("her old login's page: %d to %q, want the login page", status, where)
	}
	if who := whoIs(t, base, consoleLogin(t, base, amyNew)); who != "amy" {
		t.Fatalf("amy's login with her new token acts as %q", who)
	}
}

// TestLoginsAcrossNodes: on PostgreSQL, a login on one node works on the
// other, with the same CSRF token, and a logout on either ends it on
// both.
func TestLoginsAcrossNodes(t *testing.T) {
	t.Setenv("WXFLOW_LOGIN_AMY", "amy-login-token-0123456789")
	nodes := pgNodes(t, pgDatabase(t), 2, convFlows, "", loginOperators)
	a, b := nodes[0].ConsoleURL(), nodes[1].ConsoleURL()
	amy := consoleLogin(t, a, "amy-login-token-0123456789")
	for _, base := range []string{a, b} {
		if who := whoIs(t, base, amy); who != "amy" {
			t.Fatalf("amy's login from node a, at %s: %q", base, who)
		}
	}
	csrf := pageCSRF(t, b+"inbox", amy)
	if got := pageCSRF(t, a+"inbox", amy); got != csrf {
		t.Error("the nodes give one login different CSRF tokens")
	}
	if status, _, where := withCookie(t, "POST", b+"logout", amy, url.Values{"csrf": {csrf}}); status != http.StatusSeeOther || where != "/login" {
		t.Fatalf("logout on node b: %d to %q", status, where)
	}
	for _, base := range []string{a, b} {
		if who := whoIs(t, base, amy); who != "" {
			t.Errorf("after logout on node b, amy's cookie at %s acts as %q", base, who)
		}
	}
}
