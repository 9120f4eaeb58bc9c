package steps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// Escape says how a value is written where it stands in a request.
type Escape string

// Where a value of an http step's templates can stand.
const (
	// EscapeURL is a URL that is wholly one `${...}`: the value is the
	// URL, written as it is, and must be an http(s) URL with a host.
	EscapeURL Escape = "url"
	// EscapeHost is a value in a URL's host or port: it may only have
	// letters, digits, `-`, `.` and `_`.
	EscapeHost Escape = "host"
	// EscapePath is a value in a URL's path: url.PathEscape, and a value
	// that is "." or ".." has its dots escaped, so that it cannot climb.
	EscapePath Escape = "path"
	// EscapeQuery is a value in a URL's query (a name or a value):
	// url.QueryEscape.
	EscapeQuery Escape = "query"
	// EscapeFragment is a value in a URL's fragment: url.PathEscape.
	EscapeFragment Escape = "fragment"
	// EscapeHeader is a header's value: written as it is, refused when it
	// has a line break or another control character.
	EscapeHeader Escape = "header"
	// EscapeJSON is a value inside a JSON string: JSON-escaped.
	EscapeJSON Escape = "json"
	// EscapeBody is a value in a body: written as it is.
	EscapeBody Escape = "body"
)

// EscapeValue writes value for where it stands. Its errors never show
// the value, which may be a secret.
func EscapeValue(e Escape, value string) (string, error) {
	switch e {
	case EscapeURL:
		if err := checkURL(value); err != nil {
			return "", err
		}
		return value, nil
	case EscapeHost:
		for _, c := range []byte(value) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				return "", fmt.Errorf("a value in the URL's host may only have letters, digits, -, . and _")
			}
		}
		return value, nil
	case EscapePath:
		switch value {
		case ".":
			return "%2E", nil
		case "..":
			return "%2E%2E", nil
		}
		return url.PathEscape(value), nil
	case EscapeQuery:
		return url.QueryEscape(value), nil
	case EscapeFragment:
		return url.PathEscape(value), nil
	case EscapeHeader:
		for _, c := range []byte(value) {
			if c < ' ' && c != '\t' || c == 0x7f {
				return "", fmt.Errorf("a header value cannot have a line break or another control character")
			}
		}
		return value, nil
	case EscapeJSON:
		return jsonStringBody(value), nil
	case EscapeBody:
		return value, nil
	}
	return "", fmt.Errorf("unknown escape %q", e)
}

// checkURL checks that u is an http or https URL with a host. Its errors
// never show u.
func checkURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL with a host")
	}
	return nil
}

// jsonStringBody returns s JSON-encoded without its quotes, and without
// HTML escaping.
func jsonStringBody(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}

// SecretUse is where a Request holds a secret: its placeholder
// flows.SecretPlaceholder(Name) starts at byte Offset of the URL, the
// body or a header's value, and its value is written there as Escape
// says.
type SecretUse struct {
	Name string `json:"name"`
	// In is "url", "body" or "header" (then Header names it).
	In     string `json:"in"`
	Header string `json:"header,omitempty"`
	Offset int    `json:"at"`
	Escape Escape `json:"escape"`
}

// Resolve returns the request to send: r with each secret's value,
// escaped for where it stands, in place of its placeholder. secret gives
// a secret's value. r itself is not changed. Errors name secrets, never
// their values.
func (r *Request) Resolve(secret func(name string) (string, bool)) (*Request, error) {
	out := *r
	out.Secrets = nil
	if len(r.Secrets) == 0 {
		return &out, nil
	}
	byPlace := map[SecretUse][]SecretUse{} // keyed by In and Header
	for _, s := range r.Secrets {
		k := SecretUse{In: s.In, Header: s.Header}
		byPlace[k] = append(byPlace[k], s)
	}
	if len(r.Headers) > 0 {
		out.Headers = make(map[string]string, len(r.Headers))
		for k, v := range r.Headers {
			out.Headers[k] = v
		}
	}
	for place, uses := range byPlace {
		var text string
		switch place.In {
		case "url":
			text = r.URL
		case "body":
			text = string(r.Body)
		case "header":
			v, ok := r.Headers[place.Header]
			if !ok {
				return nil, fmt.Errorf("secret %s: no header %q", uses[0].Name, place.Header)
			}
			text = v
		default:
			return nil, fmt.Errorf("secret %s: unknown place %q", uses[0].Name, place.In)
		}
		filled, err := fillSecrets(text, uses, secret)
		if err != nil {
			return nil, err
		}
		switch place.In {
		case "url":
			out.URL = filled
		case "body":
			out.Body = []byte(filled)
		case "header":
			out.Headers[place.Header] = filled
		}
	}
	if err := checkURL(out.URL); err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", r.URL, err)
	}
	return &out, nil
}

// fillSecrets writes the secrets' values in place of their placeholders
// in text, from the last to the first.
func fillSecrets(text string, uses []SecretUse, secret func(string) (string, bool)) (string, error) {
	uses = append([]SecretUse(nil), uses...)
	sort.Slice(uses, func(i, j int) bool { return uses[i].Offset > uses[j].Offset })
	end := len(text)
	for _, u := range uses {
		ph := flows.SecretPlaceholder(u.Name)
		if u.Offset < 0 || u.Offset+len(ph) > end || text[u.Offset:u.Offset+len(ph)] != ph {
			return "", fmt.Errorf("secret %s: its place in the request is lost", u.Name)
		}
		v, ok := secret(u.Name)
		if !ok {
			return "", fmt.Errorf("secret %s is not declared in the config", u.Name)
		}
		esc, err := EscapeValue(u.Escape, v)
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", u.Name, err)
		}
		text = text[:u.Offset] + esc + text[u.Offset+len(ph):]
		end = u.Offset
	}
	return text, nil
}

// reqText writes one text of a request (its URL, a header's value, its
// body) and notes where each secret's placeholder goes.
type reqText struct {
	b       strings.Builder
	in      string
	header  string
	secrets []SecretUse
}

// secret writes the placeholder of the secret name, to be escaped as esc.
func (t *reqText) secret(name string, esc Escape) {
	t.secrets = append(t.secrets, SecretUse{Name: name, In: t.in, Header: t.header, Offset: t.b.Len(), Escape: esc})
	t.b.WriteString(flows.SecretPlaceholder(name))
}

// value writes an expression's value escaped as esc.
func (t *reqText) value(v any, esc Escape) error {
	s, err := EscapeValue(esc, flows.TextOf(v))
	if err != nil {
		return err
	}
	t.b.WriteString(s)
	return nil
}

// urlPart is where a URL template's text stands.
type urlPart int

const (
	inHost urlPart = iota
	inPath
	inQuery
	inFragment
)

// escapeFor is how a value is written in a part of a URL.
func (p urlPart) escape() Escape {
	switch p {
	case inHost:
		return EscapeHost
	case inPath:
		return EscapePath
	case inQuery:
		return EscapeQuery
	}
	return EscapeFragment
}

// renderURL renders a URL template: a template that is wholly one
// `${...}` is the URL, written as it is (and checked); otherwise it must
// start with http:// or https:// and each value is escaped for the part
// of the URL the text before it puts it in. It returns the URL and where
// its fragment starts (its length when it has none).
func renderURL(env *flows.Env, t *flows.Template, out *reqText) (frag int, err error) {
	pieces, err := t.Pieces(env)
	if err != nil {
		return 0, err
	}
	if t.Whole() {
		p := pieces[0]
		if p.Secret != "" {
			out.secret(p.Secret, EscapeURL)
			return out.b.Len(), nil
		}
		u := strings.TrimSpace(flows.TextOf(p.Value))
		if err := checkURL(u); err != nil {
			return 0, fmt.Errorf("invalid URL %q: %w", u, err)
		}
		out.b.WriteString(u)
		if i := strings.IndexByte(u, '#'); i >= 0 {
			return i, nil
		}
		return len(u), nil
	}
	if len(pieces) == 0 || pieces[0].IsExpr || pieces[0].Secret != "" || !hasHTTPScheme(pieces[0].Lit) {
		return 0, fmt.Errorf("invalid URL %q: want it to start with http:// or https://", t.Src)
	}
	part, frag := inHost, -1
	for i, p := range pieces {
		switch {
		case p.Secret != "":
			out.secret(p.Secret, part.escape())
		case p.IsExpr:
			if err := out.value(p.Value, part.escape()); err != nil {
				return 0, fmt.Errorf("${...} number %d: %w", exprIndex(pieces, i), err)
			}
		default:
			lit := p.Lit
			if i == 0 {
				scheme := lit[:strings.Index(lit, "://")+3]
				out.b.WriteString(scheme)
				lit = lit[len(scheme):]
			}
			for j := 0; j < len(lit); j++ {
				c := lit[j]
				switch {
				case c == '#' && part != inFragment:
					frag, part = out.b.Len(), inFragment
				case c == '?' && part < inQuery:
					part = inQuery
				case c == '/' && part == inHost:
					part = inPath
				}
				out.b.WriteByte(c)
			}
		}
	}
	if frag < 0 {
		frag = out.b.Len()
	}
	return frag, nil
}

// exprIndex numbers the expression at pieces[i] from 1, for messages.
func exprIndex(pieces []flows.Piece, i int) int {
	n := 0
	for _, p := range pieces[:i+1] {
		if p.IsExpr || p.Secret != "" {
			n++
		}
	}
	return n
}

// hasHTTPScheme reports whether s starts with http:// or https://.
func hasHTTPScheme(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// addQuery inserts the query map's pairs, escaped as query names and
// values, at the end of the URL's query (before its fragment at frag),
// after any query the URL already has.
func addQuery(env *flows.Env, q *flows.Object, u *reqText, frag int) error {
	var add reqText
	add.in = u.in
	head := u.b.String()[:frag]
	sep := "?"
	if i := strings.IndexByte(head, '?'); i >= 0 {
		sep = "&"
		if strings.HasSuffix(head, "?") || strings.HasSuffix(head, "&") {
			sep = ""
		}
	}
	for _, k := range q.Keys {
		t, _ := q.Get(k).(*flows.Template)
		if t == nil {
			continue
		}
		pieces, err := t.Pieces(env)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		add.b.WriteString(sep + url.QueryEscape(k) + "=")
		sep = "&"
		for _, p := range pieces {
			switch {
			case p.Secret != "":
				add.secret(p.Secret, EscapeQuery)
			case p.IsExpr:
				if err := add.value(p.Value, EscapeQuery); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			default:
				add.b.WriteString(url.QueryEscape(p.Lit))
			}
		}
	}
	tail := u.b.String()[frag:]
	ins := add.b.String()
	u.b.Reset()
	u.b.WriteString(head + ins + tail)
	for i := range u.secrets {
		if u.secrets[i].Offset >= frag {
			u.secrets[i].Offset += len(ins)
		}
	}
	for _, s := range add.secrets {
		s.Offset += frag
		u.secrets = append(u.secrets, s)
	}
	return nil
}

// renderText renders a header's value or a body, escaping each value as
// esc (literal text too, for a header: it must not break the header).
func renderText(env *flows.Env, t *flows.Template, esc Escape, out *reqText) error {
	pieces, err := t.Pieces(env)
	if err != nil {
		return err
	}
	for _, p := range pieces {
		switch {
		case p.Secret != "":
			out.secret(p.Secret, esc)
		case p.IsExpr:
			if err := out.value(p.Value, esc); err != nil {
				return err
			}
		default:
			lit, err := EscapeValue(esc, p.Lit)
			if err != nil {
				return err
			}
			out.b.WriteString(lit)
		}
	}
	return nil
}

// writeJSON encodes a json: value (maps with their keys sorted, as
// encoding/json does, without HTML escaping). A template that is exactly
// one `${expr}` keeps the expression's type; other templates are strings,
// with each secret's placeholder inside them.
func writeJSON(env *flows.Env, v any, out *reqText) error {
	switch v := v.(type) {
	case *flows.Template:
		if v == nil {
			out.b.WriteString("null")
			return nil
		}
		pieces, err := v.Pieces(env)
		if err != nil {
			return err
		}
		if v.Whole() && pieces[0].Secret == "" {
			return writeJSONValue(pieces[0].Value, out)
		}
		out.b.WriteByte('"')
		for _, p := range pieces {
			switch {
			case p.Secret != "":
				out.secret(p.Secret, EscapeJSON)
			case p.IsExpr:
				out.b.WriteString(jsonStringBody(flows.TextOf(p.Value)))
			default:
				out.b.WriteString(jsonStringBody(p.Lit))
			}
		}
		out.b.WriteByte('"')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				out.b.WriteByte(',')
			}
			out.b.WriteString(`"` + jsonStringBody(k) + `":`)
			if err := writeJSON(env, v[k], out); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		out.b.WriteByte('}')
	case []any:
		out.b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				out.b.WriteByte(',')
			}
			if err := writeJSON(env, x, out); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		out.b.WriteByte(']')
	default:
		return writeJSONValue(v, out)
	}
	return nil
}

// writeJSONValue encodes a value as encoding/json does, without HTML
// escaping.
func writeJSONValue(v any, out *reqText) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	// A record of the environment (${event.location}) by its names.
	if err := enc.Encode(flows.PlainValue(v)); err != nil {
		return err
	}
	out.b.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return nil
}
