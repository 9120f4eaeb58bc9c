package steps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// HTTPMaxTimeout is the longest timeout an http step may set.
const HTTPMaxTimeout = 2 * time.Minute

func init() {
	register("http", httpStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "http",
		Summary:     "Calls an outside service over HTTP; `on_error` is taken on network errors and non-2xx answers.",
		ArgRequired: true,
		ArgDoc:      "a map with method, url, query, headers, json or body, timeout, save",
		Arg: flows.ObjectOf("http request", "http request",
			flows.Field{Name: "method", Type: flows.Enum("GET", "POST", "PUT", "PATCH", "DELETE"), Default: "GET, or POST with json: or body:", Doc: "The HTTP method."},
			flows.Field{Name: "url", Type: flows.Text, Required: true, Secrets: true, Example: `"https://shop.example.com/api/orders"`, Doc: "The URL (http or https). It starts with `https://` or `http://`; the text written stays as it is, and each `${...}` value in it is escaped for where it stands: in the host only letters, digits, `-`, `.` and `_` are allowed; in the path it is one segment (`url.PathEscape`; `.` and `..` are escaped too, so a value cannot climb the path); in the query `url.QueryEscape`; in the fragment `url.PathEscape`. A URL that is wholly one `${...}` is taken as it is, not escaped, and must be an http(s) URL with a host when the step runs. May use `${secret.NAME}`."},
			flows.Field{Name: "query", Type: flows.MapOf(flows.Text), Secrets: true, Doc: "Query parameters (name: value), each escaped as a query name and value and added after the query the URL already has, in the order written. May use `${secret.NAME}`."},
			flows.Field{Name: "headers", Type: flows.MapOf(flows.Text), Secrets: true, Doc: "Request headers; a value with a line break or another control character fails the call unsent when the step runs (on_error). May use `${secret.NAME}`."},
			flows.Field{Name: "json", Type: flows.JSON, Secrets: true, Doc: "A body sent as JSON (Content-Type: application/json, unless headers: give another JSON type such as `application/json; charset=utf-8`; a Content-Type that is not JSON is warned about). May use `${secret.NAME}`."},
			flows.Field{Name: "body", Type: flows.Text, Secrets: true, Doc: "A body sent as it is, values put in by `${...}` too: in a form body (`name=${vars.name}`) a contact's `&` or `=` reads as the form's own, adding fields; send what contacts wrote as `json:` or in `query:`, which escape it. May use `${secret.NAME}`."},
			flows.Field{Name: "timeout", Type: flows.Duration, Default: "10s", Doc: "How long the whole call may take, reading the answer's body included (2m at most): a service that answers slowly, or stops halfway, fails the call as a timeout (on_error)."},
			flows.Field{Name: "save", Type: flows.SavePath, Doc: "Where the response goes: `{status, headers, body}` (body parsed when it is JSON; an integer beyond 2^53, such as an order or user ID, keeps all its digits: an integer up to 2^63, larger ones as text). A body in the charset its Content-Type names (GBK, GB 18030, Big5, ...) is decoded to UTF-8 first, and a byte-order mark at its start dropped; a charset wxflow does not know fails the call. A text body that names no charset and is not UTF-8 is read as GB 18030 (which GBK is part of) when it is that, else the call fails. A body compressed with gzip or deflate (when headers: give Accept-Encoding) is decompressed, within the 1 MiB; another Content-Encoding (br, zstd) fails the call."},
		),
		Keys: []flows.Field{
			{Name: "on_error", Type: flows.Ref, Doc: "The step to go to on a network error, a timeout, a non-2xx answer, a response body over 1 MiB (none of it is kept), or a request the run's values make impossible (a header value with a line break, a value that cannot stand in the URL's host, an expression that fails: the call is not made); without it the run goes on. Redirects are not followed, so that the request's headers, body and secrets go only to the address written: a 3xx answer is a non-2xx answer, and `http.headers.Location` says where it pointed."},
		},
		Check:  checkHTTP,
		Writes: httpWrites,
		Example: `- http:
    method: POST
    url: https://crm.example.com/api/leads
    headers: { Authorization: "Bearer ${secret.CRM_TOKEN}" }
    json: { email: "${vars.email}", phone: "${vars.phone}" }
    timeout: 5s
    save: vars.crm
  on_error: crm_down
- http:
    url: "https://crm.example.com/api/contacts/${vars.crm.body.id}"
    query: { fields: "email,phone", api_key: "${secret.CRM_KEY}" }
    save: vars.contact`,
	})
}

// httpWrites gives the variable an http step saves its response to: a
// map of status, headers and body.
func httpWrites(s *flows.Step) []flows.VarWrite {
	o, _ := s.Arg.(*flows.Object)
	path := o.String("save")
	if !strings.HasPrefix(path, "vars.") {
		return nil
	}
	return []flows.VarWrite{{Name: strings.TrimPrefix(path, "vars."), Type: flows.VarMap, Pos: o.At("save")}}
}

func checkHTTP(s *flows.Step, r *flows.Reporter) {
	o, _ := s.Arg.(*flows.Object)
	if o == nil {
		return
	}
	if o.Has("json") && o.Has("body") {
		r.Errorf(o.KeyPos["body"], "use json: for JSON, body: for anything else", "http request has both json: and body:")
	}
	if hs, _ := o.Get("headers").(*flows.Object); hs != nil && o.Has("json") {
		checkJSONContentType(hs, r)
	}
	if m := o.String("method"); m == "GET" && (o.Has("json") || o.Has("body")) {
		r.Errorf(o.KeyPos["method"], "use POST, PUT or PATCH to send a body", "a GET request has no body")
	}
	if d := o.Duration("timeout", 0); d > HTTPMaxTimeout {
		r.Errorf(o.At("timeout"), "use 2m or less", "http timeout %s is too long", flows.FormatDuration(d))
	}
	u := o.Template("url")
	switch {
	case u == nil || u.Whole():
	case strings.HasPrefix(u.Src, "${"):
		r.Errorf(o.At("url"), "write the start of the URL out, so that the values after it are escaped for where they stand; or make the url wholly one ${...}, which is not escaped",
			"a URL with ${...} in it starts with https:// or http://")
	case !hasHTTPScheme(u.Src):
		r.Errorf(o.At("url"), "URLs start with https:// or http://", "invalid URL %q", u.Src)
	}
	if u != nil && u.Secret() != "" && o.Has("query") {
		r.Errorf(o.At("query"), "put the query in the secret, or write the URL out with ${secret."+u.Secret()+"} where it stands", "query: cannot be added to a URL that is wholly a secret")
	}
}

// JSONMedia reports whether a media type (lower case, without
// parameters) is JSON: application/json, or one ending +json.
func JSONMedia(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// checkJSONContentType warns about a Content-Type header, written out,
// that is not JSON next to json: (the header given is sent as it is, so
// the service would read the JSON body as something else).
func checkJSONContentType(hs *flows.Object, r *flows.Reporter) {
	for _, k := range hs.Keys {
		t, _ := hs.Get(k).(*flows.Template)
		if !strings.EqualFold(k, "Content-Type") || t == nil || !t.IsConst() {
			continue
		}
		mt := strings.ToLower(strings.TrimSpace(strings.SplitN(t.Src, ";", 2)[0]))
		if JSONMedia(mt) {
			continue
		}
		r.Warnf(hs.At(k), "json: sends application/json; drop this header, or send the text with body:",
			"the Content-Type header says %s, but json: sends a JSON body", strings.TrimSpace(t.Src))
	}
}

// HTTPDefaultTimeout is the timeout of an http step without timeout:.
const HTTPDefaultTimeout = 10 * time.Second

// httpStep asks the engine to make an HTTP request and handles the answer.
type httpStep struct{}

// Run builds the request and suspends while the engine makes it. A
// request that cannot be built from the run's values (a header value
// with a line break, a host a value made invalid, an expression that
// failed) is a call that fails unsent: the flow handles it with
// on_error, as the contact's own input can cause it.
func (httpStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	o, _ := s.Arg.(*flows.Object)
	if o == nil {
		return Outcome{}, errors.New("http: no request")
	}
	req, err := buildRequest(rt.Env(), o)
	if err != nil {
		method := o.String("method")
		if method == "" {
			method = http.MethodGet
		}
		url := ""
		if t := o.Template("url"); t != nil {
			url = t.Src
		}
		req = &Request{Method: method, URL: url, Unsendable: err.Error()}
	}
	return Outcome{Kind: Call, Request: req}, nil
}

// buildRequest renders an http step's request map (method, url, query,
// headers, json or body, timeout) in env. The method defaults to GET, or
// POST with a body; values placed in the URL are escaped for where they
// stand, and query: is added to its query; a json: body is encoded
// without HTML escaping and sent as application/json unless the headers
// say otherwise. Secrets are left as placeholders, with their places in
// the request's Secrets.
func buildRequest(env *flows.Env, o *flows.Object) (*Request, error) {
	req := &Request{Method: o.String("method"), Timeout: o.Duration("timeout", HTTPDefaultTimeout)}
	hasBody := o.Has("json") || o.Has("body")
	if req.Method == "" {
		req.Method = http.MethodGet
		if hasBody {
			req.Method = http.MethodPost
		}
	}
	t := o.Template("url")
	if t == nil {
		return nil, errors.New("no url")
	}
	u := &reqText{in: "url"}
	frag, err := renderURL(env, t, u)
	if err != nil {
		if strings.HasPrefix(err.Error(), "invalid URL") {
			return nil, err
		}
		return nil, fmt.Errorf("url: %w", err)
	}
	if q, _ := o.Get("query").(*flows.Object); q != nil {
		if err := addQuery(env, q, u, frag); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
	}
	req.URL, req.Secrets = u.b.String(), u.secrets
	if len(req.Secrets) == 0 {
		if err := checkURL(req.URL); err != nil {
			return nil, fmt.Errorf("invalid URL %q: %w", req.URL, err)
		}
	}
	if hs, _ := o.Get("headers").(*flows.Object); hs != nil {
		req.Headers = make(map[string]string, len(hs.Keys))
		for _, k := range hs.Keys {
			ht, _ := hs.Get(k).(*flows.Template)
			if ht == nil {
				continue
			}
			name := http.CanonicalHeaderKey(k)
			h := &reqText{in: "header", header: name}
			if err := renderText(env, ht, EscapeHeader, h); err != nil {
				return nil, fmt.Errorf("headers: %s: %w", k, err)
			}
			req.Headers[name] = h.b.String()
			req.Secrets = append(req.Secrets, h.secrets...)
		}
	}
	switch {
	case o.Has("json"):
		b := &reqText{in: "body"}
		if err := writeJSON(env, o.Get("json"), b); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		req.Body = []byte(b.b.String())
		req.Secrets = append(req.Secrets, b.secrets...)
		if _, given := req.Headers["Content-Type"]; !given {
			if req.Headers == nil {
				req.Headers = map[string]string{}
			}
			req.Headers["Content-Type"] = "application/json"
		}
	case o.Has("body"):
		bt, _ := o.Get("body").(*flows.Template)
		if bt != nil {
			b := &reqText{in: "body"}
			if err := renderText(env, bt, EscapeBody, b); err != nil {
				return nil, fmt.Errorf("body: %w", err)
			}
			req.Body = []byte(b.b.String())
			req.Secrets = append(req.Secrets, b.secrets...)
		}
	}
	return req, nil
}

// Resume makes the response `http` (and saves it as {status, headers,
// body} with save:), then takes on_error on an error or a non-2xx status.
func (httpStep) Resume(rt Runtime, s *flows.Step, in Input) (Outcome, error) {
	if in.Kind != Response || in.Response == nil {
		return Outcome{}, fmt.Errorf("http: resumed with %s, want a response", in.Kind)
	}
	res := in.Response
	env := responseEnv(res)
	rt.SetHTTP(env)
	o, _ := s.Arg.(*flows.Object)
	if path := o.String("save"); path != "" {
		headers := make(map[string]any, len(env.Headers))
		for k, v := range env.Headers {
			headers[k] = v
		}
		saved := map[string]any{"status": env.Status, "headers": headers, "body": env.Body}
		if err := rt.Save(path, saved); err != nil {
			return Outcome{}, fmt.Errorf("http: %w", err)
		}
	}
	if res.Err != "" || res.Status < 200 || res.Status > 299 {
		return refOr(s.Args.Ref("on_error"), Outcome{Kind: Next}), nil
	}
	return Outcome{Kind: Next}, nil
}

// responseEnv turns an HTTP result into the `http` of the environment:
// header names in canonical form, and the body decoded when it is JSON,
// else as text.
func responseEnv(res *HTTPResult) flows.HTTPEnv {
	env := flows.HTTPEnv{Status: res.Status, Headers: make(map[string]string, len(res.Headers)), Body: string(res.Body)}
	// Sorted, so that of two spellings of one name the same one wins.
	names := make([]string, 0, len(res.Headers))
	for k := range res.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ck := http.CanonicalHeaderKey(k)
		if _, dup := env.Headers[ck]; !dup {
			env.Headers[ck] = res.Headers[k]
		}
	}
	if trimmed := bytes.TrimSpace(res.Body); len(trimmed) > 0 && json.Valid(trimmed) {
		// Large integers (IDs) keep their digits.
		if v, err := flows.DecodeJSONValue(trimmed); err == nil {
			env.Body = v
		}
	}
	return env
}
