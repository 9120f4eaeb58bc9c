// Package console is wxflow's operator console: server-rendered pages
// (flows, contacts, runs, messages, and the sandbox's simulator), the JSON
// admin API behind the same token, and /metrics in the Prometheus text
// format. `wxflow serve` mounts it where admin.listen says.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/plan"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/engine/scenario"
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
	Sandbox *sandbox.Sandbox
	// Accounts are the ids of the accounts served.
	Accounts []string
	// Token is required as a bearer token or through the login page;
	// "" leaves the console open (a sandbox alone on loopback).
	Token string
	// Operator names the operator whose token tok is (the config's
	// operators: each logs in, and calls the API, with their own token;
	// nil: no operators). On an open console, an operator who logs in
	// acts as themself; everyone else as the admin.
	Operator func(tok string) (name string, ok bool)
	// OperatorToken is an operator's token by name, to check that a
	// login was made with the token the operator has now (nil: no
	// operators).
	OperatorToken func(name string) (token string, ok bool)
	// Diagnostics returns the problems of the last load of the flow
	// folder (nil: the loaded set's).
	Diagnostics func() flows.Diagnostics
	// Metrics is served at /metrics (nil: no /metrics).
	Metrics *metrics.Metrics
	// ExportOptions gives the time zone and the account's rules of a
	// contact's exported test (nil: UTC and the product rules).
	ExportOptions func(account string) scenario.ExportOptions
	// Plan says what reloading the flows folder would do; the flow page
	// shows its flow's part (nil: not shown).
	Plan func(ctx context.Context) (*plan.Plan, error)
	// Zone is the time zone the pages show times in, named by ZoneName
	// (the config's timezone; nil: the engine's clock's zone).
	Zone     *time.Location
	ZoneName string
	// TrustedProxies are the reverse proxies in front of the console: a
	// request from one is throttled and logged by the client its
	// X-Forwarded-For names (nil: every request by its own address).
	TrustedProxies []netip.Prefix
	// Logger receives the console's log lines (default: discarded).
	Logger *slog.Logger
	// Nodes reads the nodes sharing the PostgreSQL database, for the
	// nodes page and GET /api/nodes (nil: a SQLite store, which this
	// server alone holds). Self gives the ids of this server's own nodes
	// (one per writer), marked on the page. Database names the database
	// without its password.
	Nodes    func(ctx context.Context) (*postgres.Nodes, error)
	Self     func() []string
	Database string
	// Version is the version of wxflow this server runs, for the nodes
	// page on SQLite.
	Version string
	// Now is the clock of logins: their expiry and the throttling of
	// wrong tokens (default: time.Now; not the engine's clock, which is
	// virtual in the sandbox).
	Now func() time.Time
}

// Console serves the pages, the API and the metrics.
type Console struct {
	// flashKey signs the words a form's action leaves for the page it
	// leads back to (signFlash): derived from the admin token, so that
	// every node (and this one after a restart) shows what another's
	// form said (flashKeyOf).
	flashKey []byte
	cfg      Config
	eng      *engine.Engine
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	now      func() time.Time

	tokenHash [32]byte // of Config.Token
	limiter   limiter
	// openCSRF is the forms' CSRF token when there is no token to log in
	// with (the open sandbox console).
	openCSRF string

	// done is closed by Close: the live streams end.
	done chan struct{}
	// liveTag names this console's count of changes (engine.Watch) in
	// the pages it renders (since): a page rendered by another process
	// (another node behind the load balancer) counts elsewhere.
	liveTag   string
	closeOnce sync.Once
	// logouts is closed (and replaced) at every logout of this console:
	// live streams logged in look again whether their login still is.
	logoutMu sync.Mutex
	logouts  chan struct{}

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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, eng: cfg.Engine, log: cfg.Logger, mux: http.NewServeMux(), said: map[string][]simSaid{},
		now: cfg.Now, done: make(chan struct{}), logouts: make(chan struct{}), tokenHash: sha256.Sum256([]byte(cfg.Token)), liveTag: rand.Text()[:8],
		flashKey: flashKeyOf(cfg.Token)}
	if cfg.Token == "" {
		c.openCSRF = rand.Text()
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
	c.mux.HandleFunc("GET /favicon.ico", favicon)
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /logout", c.logout)

	page := func(pattern string, h http.HandlerFunc) { c.mux.Handle(pattern, c.guard(c.marked(h), false)) }
	api := func(pattern string, h http.HandlerFunc) { c.mux.Handle(pattern, c.guard(h, true)) }
	page("GET /{$}", c.home)
	page("GET /flows", c.flowsPage)
	page("GET /flows/{name}", c.flowPage)
	page("POST /flows/{name}/start", c.flowStartForm)
	page("GET /contacts", c.contactsPage)
	page("GET /contacts/{account}/{id}", c.contactPage)
	page("GET /contacts/{account}/{id}/test.yaml", c.contactExport)
	page("GET /runs", c.runsPage)
	page("GET /runs/{id}", c.runPage)
	page("GET /messages", c.messagesPage)
	page("GET /messages/{id}/{part}", c.messageMedia)
	page("GET /nodes", c.nodesPage)
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
	api("GET /api/nodes", c.apiNodes)
	c.inboxRoutes(page, api)
	api("GET /api/sandbox", c.apiSandboxState)
	api("POST /api/sandbox", c.apiSandboxAct)
	api("/api/", c.apiNoEndpoint)
}

// apiNoEndpoint answers an API request no route took: 405 with the
// methods the path takes (Allow) when it takes others, 404 otherwise.
func (c *Console) apiNoEndpoint(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		other := r.Clone(r.Context())
		other.Method = m
		if _, pattern := c.mux.Handler(other); pattern != "" && pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		apiError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	apiError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, ", "), r.Method))
}

// sinceKey is the request context's key of the count of changes a page
// was read after (marked).
type sinceKey struct{}

// marked notes, before a page reads what it shows, how many changes the
// engine has said (engine.Watch). The page carries it (data-since) to its
// live stream, which tells it at once to read itself again when a change
// came between the two: it would not hear of that change otherwise.
func (c *Console) marked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, n := c.eng.Watch()
			r = r.WithContext(context.WithValue(r.Context(), sinceKey{}, n))
		}
		h(w, r)
	}
}

// since is a page's mark as its live stream reads it back.
func (c *Console) since(n uint64) string {
	return c.liveTag + "." + strconv.FormatUint(n, 10)
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: https:; media-src 'self' https:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	if c.cfg.Token == "" && !loopbackHost(r.Host) {
		// The open console (no admin token) listens on a loopback
		// address only; a request naming another host reached it
		// through a name that resolves there (DNS rebinding): a page of
		// that name could read and drive the console.
		c.refuse(w, r, http.StatusForbidden, "refused: the console without an admin token answers only to localhost, 127.0.0.1 or [::1], not to the host this request names; set admin.token to serve it under another name")
		return
	}
	if !safeMethod(r.Method) {
		if why := crossOrigin(r); why != "" {
			c.refuse(w, r, http.StatusForbidden, "refused: this request changes something, and "+why+"; use the console's own pages")
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a request's Host (with or without its
// port) is a loopback address or localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close ends the console's live streams (server-sent events), so that
// the HTTP server's graceful shutdown does not wait for them.
func (c *Console) Close() {
	c.closeOnce.Do(func() { close(c.done) })
}

// refuse answers a request the console will not act on, as JSON for the
// API and text otherwise.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.log.Warn("console request refused", "method", r.Method, "path", r.URL.Path, c.remote(r), "why", msg)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		apiError(w, status, msg)
		return
	}
	http.Error(w, msg, status)
}

// credential is how a request proved it may use the console.
type credential int

const (
	byNobody    credential = iota
	byOpen                 // no token is configured
	byBearer               // Authorization: Bearer TOKEN
	byCookie               // a login session
	byThrottled            // a token, not checked: too many failed
	byUnknown              // a cookie, not checked: the store failed
)

// guard lets a request through when the console is open or the request
// carries the token (bearer) or a login session's cookie. Pages send who
// is not logged in to the login page; the API and /metrics answer 401.
// A request that changes something must also come from the console's
// own pages: a form with the session's CSRF token, or a JSON body for
// the API (bearer-token requests need neither).
func (c *Console) guard(h http.HandlerFunc, api bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by, s, op, retry := c.credential(r)
		if r.Body != nil && !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
		}
		switch by {
		case byThrottled:
			msg := retryAfter(w, retry)
			if api {
				apiError(w, http.StatusTooManyRequests, msg)
			} else {
				http.Error(w, msg, http.StatusTooManyRequests)
			}
			return
		case byUnknown:
			w.Header().Set("Retry-After", "5")
			if api {
				apiError(w, http.StatusServiceUnavailable, errLogins.Error())
			} else {
				http.Error(w, errLogins.Error(), http.StatusServiceUnavailable)
			}
			return
		case byNobody:
			if api {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wxflow"`)
				apiError(w, http.StatusUnauthorized, "this needs the admin token or an operator's: send Authorization: Bearer TOKEN (admin.token, or the operator's token, in the config)")
				return
			}
			if r.Method != http.MethodGet {
				http.Error(w, "log in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !safeMethod(r.Method) && by != byBearer {
			if api && !jsonBody(r) {
				c.refuse(w, r, http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json (or use the bearer token)")
				return
			}
			if !api {
				if err := parseForm(r); err != nil {
					var tooLarge *http.MaxBytesError
					if errors.As(err, &tooLarge) {
						c.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the form is larger than the console takes (%d MB: an image up to 10 MB and its texts)", maxUpload>>20))
						return
					}
					c.refuse(w, r, http.StatusBadRequest, "the form could not be read: "+err.Error())
					return
				}
			}
			if !api && !csrfMatches(r.PostFormValue(csrfField), c.csrfOf(s)) {
				c.refuse(w, r, http.StatusForbidden, "the form's CSRF token is missing or out of date: reload the page and try again")
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor{Operator: op, session: s})))
	})
}

// parseForm reads a form's fields, multipart (with an image) or not.
func parseForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(maxUpload)
	}
	return r.ParseForm()
}

// actor is who makes a request: an operator, or the admin (Operator "":
// the admin token, or anyone on the open console who did not log in as
// an operator).
type actor struct {
	Operator string
	// session is the login the request came with (nil: none).
	session *session
}

// actorKey is the request context's key of its actor.
type actorKey struct{}

// actorOf is who makes a request that went through guard.
func actorOf(r *http.Request) actor {
	a, _ := r.Context().Value(actorKey{}).(actor)
	return a
}

// credential says how a request proved itself and who it is (an
// operator's name, "" for the admin), with its session when by cookie,
// or how long to wait when throttled. A wrong bearer token counts as a
// failed attempt. On the open console (no admin token), an operator's
// bearer token or login session acts as them and anything else as the
// admin.
func (c *Console) credential(r *http.Request) (by credential, s *session, operator string, retry time.Duration) {
	open := c.cfg.Token == ""
	if open && c.cfg.Operator == nil {
		return byOpen, nil, "", 0
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		addr := clientAddr(r, c.cfg.TrustedProxies)
		ok, retry := c.limiter.take(addr, c.now())
		if !ok {
			return byThrottled, nil, "", retry
		}
		// The scheme's name is case-insensitive (RFC 9110 11.1).
		scheme, tok, _ := strings.Cut(strings.TrimSpace(auth), " ")
		if strings.EqualFold(scheme, "Bearer") {
			if admin, op, ok := c.tokenOf(strings.TrimSpace(tok)); ok {
				c.limiter.refund(addr)
				if admin {
					return byBearer, nil, "", 0
				}
				return byBearer, nil, op, 0
			}
		}
		if open {
			return byOpen, nil, "", 0
		}
		return byNobody, nil, "", 0
	}
	s, err := c.session(r)
	if err != nil {
		return byUnknown, nil, "", 0
	}
	if s != nil {
		return byCookie, s, s.operator, 0
	}
	if open {
		return byOpen, nil, "", 0
	}
	return byNobody, nil, "", 0
}

// tokenOf says whose a token is: the admin's (admin), or an operator's
// (their name); ok is false for neither. Both are compared in constant
// time.
func (c *Console) tokenOf(tok string) (admin bool, operator string, ok bool) {
	if tok == "" {
		return false, "", false
	}
	if c.cfg.Token != "" && c.tokenMatches(tok) {
		return true, "", true
	}
	if c.cfg.Operator != nil {
		if name, ok := c.cfg.Operator(tok); ok && name != "" {
			return false, name, true
		}
	}
	return false, "", false
}

// loginOn reports whether the console has a login page: it has an
// admin token, or operators who log in with theirs.
func (c *Console) loginOn() bool {
	return c.cfg.Token != "" || c.cfg.Operator != nil
}

// session is the live login session of a request's cookie, or nil. A
// failure of the store is logged and returned as errLogins.
func (c *Console) session(r *http.Request) (*session, error) {
	if !c.loginOn() {
		return nil, nil
	}
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	s, err := c.lookUpSession(r.Context(), ck.Value)
	if err != nil {
		c.log.Error("console: logins", "err", err)
		return nil, errLogins
	}
	return s, nil
}

// loggedOut tells the live streams of this console that a login ended.
func (c *Console) loggedOut() {
	c.logoutMu.Lock()
	close(c.logouts)
	c.logouts = make(chan struct{})
	c.logoutMu.Unlock()
}

// logoutSignal is closed at the next logout of this console.
func (c *Console) logoutSignal() <-chan struct{} {
	c.logoutMu.Lock()
	defer c.logoutMu.Unlock()
	return c.logouts
}

// csrfOf is the CSRF token forms carry for a session: the session's, or
// the open console's.
func (c *Console) csrfOf(s *session) string {
	if s != nil {
		return s.csrf
	}
	return c.openCSRF
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if !c.loginOn() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, r, "login", "Log in", map[string]any{"Next": localPath(r.URL.Query().Get("next")), "Failed": false, "People": c.cfg.Operator != nil})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.FormValue("next"))
	if !c.loginOn() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	addr := clientAddr(r, c.cfg.TrustedProxies)
	now := c.now()
	if ok, retry := c.limiter.take(addr, now); !ok {
		msg := retryAfter(w, retry)
		w.WriteHeader(http.StatusTooManyRequests)
		c.render(w, r, "login", "Log in", map[string]any{"Next": next, "Failed": false, "Throttled": msg, "People": c.cfg.Operator != nil})
		return
	}
	token := strings.TrimSpace(r.FormValue("token"))
	admin, op, ok := c.tokenOf(token)
	if !ok {
		c.log.Warn("console login refused", c.remote(r))
		w.WriteHeader(http.StatusUnauthorized)
		c.render(w, r, "login", "Log in", map[string]any{"Next": next, "Failed": true, "People": c.cfg.Operator != nil})
		return
	}
	c.limiter.refund(addr)
	var ended string
	if old, err := r.Cookie(cookieName); err == nil {
		ended = old.Value
	}
	id, err := c.startSession(r.Context(), now, op, token, ended)
	if err != nil {
		c.log.Error("console: logins", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		c.render(w, r, "login", "Log in", map[string]any{"Next": next, "Failed": false, "Throttled": errLogins.Error(), "People": c.cfg.Operator != nil})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r), MaxAge: int(sessionTTL.Seconds())})
	if admin {
		c.log.Info("console login", "as", "admin", c.remote(r))
	} else {
		c.log.Info("console login", "as", "operator", "operator", op, c.remote(r))
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the request's session; the form must carry its CSRF token.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if s != nil {
		if !csrfMatches(r.PostFormValue(csrfField), s.csrf) {
			c.refuse(w, r, http.StatusForbidden, "the form's CSRF token is missing or out of date: reload the page and try again")
			return
		}
		ck, _ := r.Cookie(cookieName)
		if err := c.endSession(r.Context(), ck.Value); err != nil {
			c.log.Error("console: logins", "err", err)
			http.Error(w, errLogins.Error(), http.StatusServiceUnavailable)
			return
		}
		c.loggedOut()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: secure(r), MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
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
	case errors.Is(err, engine.ErrQueued):
		return http.StatusAccepted
	case errors.Is(err, engine.ErrRefused):
		return http.StatusConflict
	case errors.Is(err, engine.ErrUnknownOperator):
		return http.StatusForbidden
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrNotStarted), errors.Is(err, engine.ErrNobodyToPick), errors.Is(err, engine.ErrAlreadyClosed):
		return http.StatusConflict
	case errors.Is(err, engine.ErrBadEvent), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrStopped), errors.Is(err, engine.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errText is an error as the console says it to a person: durations in
// its own format ("3 h 12 min ago", not Go's "3h12m0s"), without the
// internal "bad request: " and "bad event: " prefixes.
func errText(err error) string {
	var closed *engine.AlreadyClosedError
	if errors.As(err, &closed) && !closed.At.IsZero() {
		return fmt.Sprintf("%s by %s %s ago", engine.ErrAlreadyClosed, closed.By, span(closed.Now.Sub(closed.At)))
	}
	// The sentinels that pick the status (errBadRequest,
	// engine.ErrBadEvent) are the console's own words, not the person's.
	msg := err.Error()
	for _, prefix := range []string{errBadRequest.Error() + ": ", engine.ErrBadEvent.Error() + ": "} {
		msg = strings.ReplaceAll(msg, ": "+prefix, ": ")
		for strings.HasPrefix(msg, prefix) {
			msg = strings.TrimPrefix(msg, prefix)
		}
	}
	return msg
}

// errBadRequest marks a request the console cannot act on.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// errNoDatabase is what the console shows for a store's
// engine.ErrUnavailable (its detail goes to the log).
var errNoDatabase = errors.New("the console cannot reach its database: try again in a moment (the server's log says more)")

// fail answers an error: JSON for the API, a page otherwise. Internal
// errors, and a database that could not be reached, are logged and shown
// without detail.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error, api bool) {
	status := statusOf(err)
	msg := errText(err)
	switch {
	case status == http.StatusInternalServerError:
		c.log.Error("console", "path", r.URL.Path, "err", err)
		msg = "internal error (see the server's log)"
	case errors.Is(err, engine.ErrUnavailable):
		c.log.Error("console", "path", r.URL.Path, "err", err)
		msg = errNoDatabase.Error()
		w.Header().Set("Retry-After", "5")
	}
	if api {
		apiError(w, status, msg)
		return
	}
	w.WriteHeader(status)
	c.render(w, r, "error", http.StatusText(status), map[string]any{"Status": status, "Message": msg})
}
