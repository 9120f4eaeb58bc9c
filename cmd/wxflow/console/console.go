// Package console is wxflow's operator console: server-rendered pages
// (flows, contacts, runs, messages, and the sandbox's simulator), the JSON
// admin API behind the same token, and /metrics in the Prometheus text
// format. `wxflow serve` mounts it where admin.listen says.
package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// cookieName is the console's login cookie.
const cookieName = "wxflow_console"

// Config is what a console is built from.
type Config struct {
	// Engine is the running engine (required).
	Engine *engine.Engine
	// Sandbox is set when the server runs the sandbox account: the
	// simulator is then on.
	Sandbox *engine.Sandbox
	// Accounts are the ids of the accounts served.
	Accounts []string
	// Token is required as a bearer token or through the login page;
	// "" leaves the console open (a sandbox alone on loopback).
	Token string
	// Diagnostics returns the problems of the last load of the flow
	// folder (nil: the loaded set's).
	Diagnostics func() flows.Diagnostics
	// Metrics is served at /metrics (nil: no /metrics).
	Metrics *Metrics
	// Logger receives the console's log lines (default: discarded).
	Logger *slog.Logger
}

// Console serves the pages, the API and the metrics.
type Console struct {
	cfg     Config
	eng     *engine.Engine
	log     *slog.Logger
	mux     *http.ServeMux
	pages   map[string]*template.Template
	session string // the login cookie's value, derived from the token

	simMu sync.Mutex
	// said is what the simulator's contacts did, per contact, for the
	// chat view (the outbound side is read from the outbox).
	said map[string][]simSaid
}

// New builds a console.
func New(cfg Config) (*Console, error) {
	if cfg.Engine == nil {
		return nil, errors.New("console: Engine is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, eng: cfg.Engine, log: cfg.Logger, mux: http.NewServeMux(), said: map[string][]simSaid{}}
	if cfg.Token != "" {
		m := hmac.New(sha256.New, []byte(cfg.Token))
		m.Write([]byte("wxflow console session v1"))
		c.session = hex.EncodeToString(m.Sum(nil))
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /logout", c.logout)

	page := func(pattern string, h http.HandlerFunc) { c.mux.Handle(pattern, c.guard(h, false)) }
	api := func(pattern string, h http.HandlerFunc) { c.mux.Handle(pattern, c.guard(h, true)) }
	page("GET /{$}", c.home)
	page("GET /flows", c.flowsPage)
	page("GET /flows/{name}", c.flowPage)
	page("POST /flows/{name}/start", c.flowStartForm)
	page("GET /contacts", c.contactsPage)
	page("GET /contacts/{account}/{id}", c.contactPage)
	page("GET /runs", c.runsPage)
	page("GET /runs/{id}", c.runPage)
	page("GET /messages", c.messagesPage)
	page("GET /simulator", c.simulatorPage)
	page("POST /simulator", c.simulatorForm)
	if c.cfg.Metrics != nil {
		api("GET /metrics", c.cfg.Metrics.Registry.ServeHTTP)
	}
	api("GET /api/flows", c.apiFlows)
	api("GET /api/flows/{name}", c.apiFlow)
	api("POST /api/flows/{name}/start", c.apiFlowStart)
	api("GET /api/contacts", c.apiContacts)
	api("GET /api/contacts/{account}/{id}", c.apiContact)
	api("GET /api/runs", c.apiRuns)
	api("GET /api/runs/{id}", c.apiRun)
	api("GET /api/messages", c.apiMessages)
	api("GET /api/sandbox", c.apiSandboxState)
	api("POST /api/sandbox", c.apiSandboxAct)
	api("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	c.mux.ServeHTTP(w, r)
}

// guard lets a request through when the console is open or the request
// carries the token (bearer) or the login cookie. Pages send who is not
// logged in to the login page; the API and /metrics answer 401.
func (c *Console) guard(h http.HandlerFunc, api bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			http.Error(w, "cross-site requests are refused", http.StatusForbidden)
			return
		}
		if c.allowed(r) {
			h(w, r)
			return
		}
		if api {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxflow"`)
			apiError(w, http.StatusUnauthorized, "this needs the admin token: send Authorization: Bearer TOKEN (admin.token in the config)")
			return
		}
		if r.Method != http.MethodGet {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	})
}

func (c *Console) allowed(r *http.Request) bool {
	if c.cfg.Token == "" {
		return true
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(c.cfg.Token)) == 1
	}
	if ck, err := r.Cookie(cookieName); err == nil {
		return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.session)) == 1
	}
	return false
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, r, "login", "Log in", map[string]any{"Next": localPath(r.URL.Query().Get("next")), "Failed": false})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.FormValue("next"))
	if c.cfg.Token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(r.FormValue("token"))), []byte(c.cfg.Token)) != 1 {
		c.log.Warn("console login refused", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		c.render(w, r, "login", "Log in", map[string]any{"Next": next, "Failed": true})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: c.session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int((30 * 24 * time.Hour).Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a redirect target on this server.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	return p
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Sandbox != nil {
		http.Redirect(w, r, "/simulator", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/flows", http.StatusSeeOther)
}

// defaultAccount is the only account served, or "".
func (c *Console) defaultAccount() string {
	if len(c.cfg.Accounts) == 1 {
		return c.cfg.Accounts[0]
	}
	return ""
}

// apiError answers a JSON error.
func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrNotStarted):
		return http.StatusConflict
	case errors.Is(err, engine.ErrBadEvent), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrStopped):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errBadRequest marks a request the console cannot act on.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// fail answers an error: JSON for the API, a page otherwise. Internal
// errors are logged and shown without detail.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error, api bool) {
	status := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		c.log.Error("console", "path", r.URL.Path, "err", err)
		msg = "internal error (see the server's log)"
	}
	if api {
		apiError(w, status, msg)
		return
	}
	w.WriteHeader(status)
	c.render(w, r, "error", http.StatusText(status), map[string]any{"Status": status, "Message": msg})
}
