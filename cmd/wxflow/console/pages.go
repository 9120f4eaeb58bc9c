package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// pageNames are the templates in templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "error", "flows", "flow", "contacts", "contact", "runs", "run", "messages", "simulator", "inbox", "conversation", "nodes"}

func (c *Console) parseTemplates() error {
	funcs := template.FuncMap{
		"when":  c.when,
		"iso":   c.isoTime,
		"zone":  c.zoneName,
		"short": shortVersion,
		"json": func(v any) string {
			// The page escapes the text: JSON's own escapes of < > &
			// (\u003c) would show as such.
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				return err.Error()
			}
			return strings.TrimSuffix(b.String(), "\n")
		},
		"query": func(kv ...string) template.URL {
			q := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					q.Set(kv[i], kv[i+1])
				}
			}
			return template.URL(q.Encode())
		},
		"pathEscape": url.PathEscape,
		"who":        c.who,
		"describe":   func(r channels.Reason) string { return r.Describe() },
		// pauses are the accounts whose sends are paused (a banner).
		"pauses": c.eng.SendPauses,
	}
	for k, f := range c.messageFuncs() {
		funcs[k] = f
	}
	c.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/message.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// shortVersion is a flow version without its "sha256:" prefix, cut.
func shortVersion(v string) string {
	v = strings.TrimPrefix(v, "sha256:")
	if len(v) > 8 {
		v = v[:8]
	}
	return v
}

// when shows a time in the console's zone, to the second, with the
// zone's abbreviation (zone.go).
func (c *Console) when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return ""
		}
		t = *x
	}
	if t.IsZero() {
		return ""
	}
	return c.formatTime(t)
}

// layoutData is what every page's frame shows.
type layoutData struct {
	Title    string
	Page     string
	Sandbox  bool
	Now      time.Time
	LoggedIn bool
	// Protected is set when the console needs the token.
	Protected bool
	// CSRF is the token the forms that change something carry.
	CSRF string
	// Me is the operator logged in (nil for the admin or nobody); Away
	// is their away switch. People is set when operators are declared.
	Me     *engine.Operator
	Away   bool
	People bool
	// Nodes is set when the server is a node of a PostgreSQL database:
	// the nodes page is in the menu.
	Nodes bool
	// LoginOn is set when the console has a login page.
	LoginOn bool
	// Path is the page's path and query, for forms that come back to it.
	Path string
	// Since is the count of changes the page was read after (marked),
	// for its live stream.
	Since string
	Data  any
}

// render writes a page; a template error is logged and answered 500
// before anything is written. A page's data that is a map gets the CSRF
// token for its forms as "CSRF".
func (c *Console) render(w http.ResponseWriter, r *http.Request, page, title string, data any) {
	var buf bytes.Buffer
	s := actorOf(r).session
	if s == nil {
		// A page outside guard (the login page): its session, if any.
		s, _ = c.session(r)
	}
	d := layoutData{Title: title, Page: page, Sandbox: c.cfg.Sandbox != nil, Now: c.eng.Clock().Now(),
		LoggedIn: s != nil, Protected: c.cfg.Token != "", CSRF: c.csrfOf(s), Data: data,
		People: len(c.eng.People().Operators) > 0, Nodes: c.cfg.Nodes != nil, LoginOn: c.loginOn(), Path: r.URL.RequestURI()}
	if s != nil && s.operator != "" {
		if op, ok := c.eng.People().Operator(s.operator); ok {
			d.Me = op
			if away, err := c.eng.Away(r.Context()); err == nil {
				d.Away = away[op.Name]
			}
		}
	}
	if n, ok := r.Context().Value(sinceKey{}).(uint64); ok {
		d.Since = c.since(n)
	}
	if m, ok := data.(map[string]any); ok {
		m["CSRF"] = d.CSRF
	}
	if err := c.pages[page].Execute(&buf, d); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error (see the server's log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	buf.WriteTo(w)
}

func (c *Console) flowsPage(w http.ResponseWriter, r *http.Request) {
	views, err := c.flowViews(r.Context())
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, r, "flows", "Flows", map[string]any{"Flows": views, "Other": c.otherDiagnostics(views)})
}

func (c *Console) flowPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.flowView(r.Context(), r.PathValue("name"))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	q := r.URL.Query()
	c.render(w, r, "flow", "Flow "+v.Name, map[string]any{"Flow": v, "Accounts": c.cfg.Accounts,
		"Error": c.flash(q, "error"), "Done": c.flash(q, "done"), "Kept": c.kept(q), "Plan": c.flowPlan(r.Context(), v.Name)})
}

// flowStartForm starts a flow from the flow page's form and shows the
// run. The form gives each declared variable in a field var.NAME, as
// typed (startVars converts it); a refusal shows on the flow page again
// with what was typed.
func (c *Console) flowStartForm(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	req := StartRequest{Account: r.PostFormValue("account"), Contact: strings.TrimSpace(r.PostFormValue("contact"))}
	back := func(msg string) {
		keep := url.Values{}
		for k, vs := range r.PostForm {
			if (k == "account" || k == "contact" || strings.HasPrefix(k, "var.")) && len(vs) > 0 {
				keep.Set(k, vs[0])
			}
		}
		q := url.Values{"error": {msg}}
		if k := keep.Encode(); len(k) <= maxKept {
			q.Set("keep", k)
		}
		// A long value kept would make the redirect's URL too long for
		// a proxy (414): the page comes with the response then.
		c.backTo(w, r, "/flows/"+url.PathEscape(name), q, "#start", c.flowPage, "name")
	}
	if f := c.eng.Flows().Flow(name); f != nil {
		typed := map[string]string{}
		for k, vs := range r.PostForm {
			if v, ok := strings.CutPrefix(k, "var."); ok && len(vs) > 0 {
				typed[v] = vs[0]
			}
		}
		vars, err := startVars(f, typed)
		if err != nil {
			back(errText(err))
			return
		}
		req.Vars = vars
	}
	run, err := c.startFlow(r, name, req)
	if errors.Is(err, engine.ErrQueued) {
		// Not a failure: the start is stored, for the node holding the
		// contact's lane (a refusal by the flow's rules is logged there).
		done := "Queued: another node holds " + req.Contact + " and starts the flow in a moment"
		http.Redirect(w, r, "/flows/"+url.PathEscape(name)+"?"+c.signFlash(url.Values{"done": {done}}).Encode()+"#start", http.StatusSeeOther)
		return
	}
	if err != nil {
		if statusOf(err) >= http.StatusInternalServerError {
			c.fail(w, r, err, false)
			return
		}
		back(errText(err))
		return
	}
	http.Redirect(w, r, "/runs/"+strconv.FormatInt(run.ID, 10), http.StatusSeeOther)
}

func (c *Console) contactsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if id := strings.TrimSpace(q.Get("id")); id != "" {
		account := q.Get("account")
		if account == "" {
			account = c.defaultAccount()
		}
		http.Redirect(w, r, "/contacts/"+url.PathEscape(account)+"/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	list, err := c.contactList(r.Context(), q, 1)
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	list, more := shown(q, list)
	var next template.URL
	if more {
		last := list[len(list)-1]
		nq := url.Values{"after_account": {last.Account}, "after": {last.ID}}
		if a := q.Get("account"); a != "" {
			nq.Set("account", a)
		}
		next = pageLink("/contacts", nq)
	}
	c.render(w, r, "contacts", "Contacts", map[string]any{"Contacts": list, "Next": next, "Account": q.Get("account")})
}

func (c *Console) contactPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.contactDetail(r.Context(), r.PathValue("account"), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, r, "contact", "Contact "+v.ID, v)
}

func (c *Console) runsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list, err := c.runList(r.Context(), q, 1)
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	list, more := shown(q, list)
	var next template.URL
	if more {
		next = olderPage("/runs", q, list[len(list)-1].ID)
	}
	flowNames, contacts, err := c.runChoices(r.Context(), q.Get("flow"), q.Get("contact"))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, r, "runs", "Runs", map[string]any{"Runs": list, "Next": next, "Q": q, "Statuses": runStatuses,
		"Flows": flowNames, "Contacts": contacts})
}

// shown cuts a list read one row past the page (the list functions'
// extra 1) to the page, and reports whether there was a row past it: a
// next page. (A page that was full had a link to an empty one, and a
// limit under 50 had none.)
func shown[T any](q url.Values, list []T) ([]T, bool) {
	_, limit, err := listQuery(q)
	if err != nil || len(list) <= limit {
		return list, false
	}
	return list[:limit], true
}

// olderPage is the link to a list's next page: the same filters, before
// the last ID shown.
func olderPage(path string, q url.Values, lastID int64) template.URL {
	nq := url.Values{}
	for k, v := range q {
		if k != "before" && len(v) > 0 && v[0] != "" {
			nq[k] = v
		}
	}
	nq.Set("before", strconv.FormatInt(lastID, 10))
	return pageLink(path, nq)
}

// pageLink is a link to a page of the console with a query. Its query is
// encoded here, so the template must not escape it again (it did: the
// links read "?before%3d71" and led to the first page).
func pageLink(path string, q url.Values) template.URL {
	return template.URL(path + "?" + q.Encode())
}

func (c *Console) runPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.runView(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, r, "run", fmt.Sprintf("Run %d", v.ID), v)
}

func (c *Console) messagesPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list, err := c.messageList(r.Context(), q, 1)
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	list, more := shown(q, list)
	var next template.URL
	if more {
		next = olderPage("/messages", q, list[len(list)-1].ID)
	}
	c.render(w, r, "messages", "Messages", map[string]any{"Messages": list, "Next": next, "Q": q,
		"Statuses": outboxStatuses, "Reasons": reasons})
}
