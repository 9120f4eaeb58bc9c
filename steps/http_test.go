package steps_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// request runs an http step whose keys under http: are given, with the
// given vars, and returns its request.
func request(t *testing.T, keys string, vars map[string]any) (*steps.Request, error) {
	t.Helper()
	rt := newRuntime()
	for k, v := range vars {
		rt.env.Vars[k] = v
	}
	out, err := run(t, rt, load(t, "  - http:\n"+keys))
	if err != nil {
		return nil, err
	}
	if out.Kind != steps.Call || out.Request == nil {
		t.Fatalf("outcome %s, want a call", out.Kind)
	}
	if out.Request.Unsendable != "" {
		// A request the run's values make impossible is a call that
		// fails unsent (on_error), not a failed run.
		return nil, errors.New("http: " + out.Request.Unsendable)
	}
	return out.Request, nil
}

func TestHTTPURLValuesAreEscapedWhereTheyStand(t *testing.T) {
	t.Parallel()
	attack := "x@example.com&api_key=ATTACKER"
	climb := "../../admin/delete?all=1#"
	tests := []struct {
		name, url string
		v         any
		want      string
	}{
		{"query value", "https://crm.example/lookup?email=${vars.v}", attack, "https://crm.example/lookup?email=x%40example.com%26api_key%3DATTACKER"},
		{"query name", "https://crm.example/lookup?${vars.v}=1", "a=b&c", "https://crm.example/lookup?a%3Db%26c=1"},
		{"path segment", "https://crm.example/api/users/${vars.v}", climb, "https://crm.example/api/users/..%2F..%2Fadmin%2Fdelete%3Fall=1%23"},
		{"dot dot", "https://crm.example/api/users/${vars.v}/delete", "..", "https://crm.example/api/users/%2E%2E/delete"},
		{"dot", "https://crm.example/api/users/${vars.v}", ".", "https://crm.example/api/users/%2E"},
		{"dots inside a name", "https://crm.example/files/${vars.v}", "a..b.txt", "https://crm.example/files/a..b.txt"},
		{"fragment", "https://crm.example/page#${vars.v}", "a b#c?d", "https://crm.example/page#a%20b%23c%3Fd"},
		{"after the fragment's ?", "https://crm.example/p#x?${vars.v}", "a&b", "https://crm.example/p#x?a&b"},
		{"number", "https://crm.example/orders/${vars.v}?n=${vars.v}", 12.5, "https://crm.example/orders/12.5?n=12.5"},
		{"host", "https://${vars.v}.crm.example/a", "eu-1", "https://eu-1.crm.example/a"},
		{"operator's text kept", "https://crm.example/a%20b/${vars.v}?x=a+b&y=${vars.v}", "é", "https://crm.example/a%20b/%C3%A9?x=a+b&y=%C3%A9"},
		{"whole url not escaped", "${vars.v}", "https://crm.example/a b?x=1&y=2", "https://crm.example/a b?x=1&y=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := request(t, "      url: \""+tt.url+"\"\n", map[string]any{"v": tt.v})
			if err != nil {
				t.Fatal(err)
			}
			if req.URL != tt.want {
				t.Fatalf("URL %s\nwant %s", req.URL, tt.want)
			}
		})
	}
}

func TestHTTPURLValuesThatCannotStandThere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, keys string
		v          any
		want       string
	}{
		{"host", "      url: \"https://${vars.v}.crm.example/a\"\n", "evil.example/x?", "http: url: ${...} number 1: a value in the URL's host may only have letters, digits, -, . and _"},
		{"whole url", "      url: \"${vars.v}\"\n", "javascript:alert(1)", `http: invalid URL "javascript:alert(1)": want an http:// or https:// URL with a host`},
		{"header line break", "      url: https://x.example\n      headers: { X-A: \"a${vars.v}\" }\n", "b\r\nX-Admin: 1", "http: headers: X-A: a header value cannot have a line break or another control character"},
		{"header newline", "      url: https://x.example\n      headers: { X-A: \"${vars.v}\" }\n", "b\nc", "http: headers: X-A: a header value cannot have a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := request(t, tt.keys, map[string]any{"v": tt.v})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "X-Admin") {
				t.Fatalf("the error shows the value: %v", err)
			}
		})
	}
}

func TestHTTPQueryMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, query, want string
	}{
		{"no query yet", "https://x.example/s", `{ q: "${vars.v}", lang: zh }`, "https://x.example/s?q=tea+%26+cake%3D1&lang=zh"},
		{"after the URL's query", "https://x.example/s?page=2", `{ q: "${vars.v}" }`, "https://x.example/s?page=2&q=tea+%26+cake%3D1"},
		{"before the fragment", "https://x.example/s?page=2#top", `{ q: "${vars.v}" }`, "https://x.example/s?page=2&q=tea+%26+cake%3D1#top"},
		{"URL ending with ?", "https://x.example/s?", `{ "a b": "x&${vars.n}" }`, "https://x.example/s?a+b=x%263"},
		{"whole url", "${vars.u}", `{ q: "${vars.v}" }`, "https://x.example/s?page=2&q=tea+%26+cake%3D1#top"},
		{"escaped values in the url too", "https://x.example/u/${vars.v}#${vars.n}", `{ n: "${vars.n}" }`, "https://x.example/u/tea%20&%20cake=1?n=3#3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := request(t, "      url: \""+tt.url+"\"\n      query: "+tt.query+"\n",
				map[string]any{"v": "tea & cake=1", "n": 3, "u": "https://x.example/s?page=2#top"})
			if err != nil {
				t.Fatal(err)
			}
			if req.URL != tt.want {
				t.Fatalf("URL %s\nwant %s", req.URL, tt.want)
			}
		})
	}
}

func TestHTTPSecretsStayPlaceholders(t *testing.T) {
	t.Parallel()
	req, err := request(t, `      method: POST
      url: "https://x.example/k/${secret.KEY}?key=${secret.KEY}#${secret.KEY}"
      query: { who: "${vars.v}", k: "${secret.KEY}" }
      headers: { Authorization: "Bearer ${secret.TOKEN}" }
      json: { token: "${secret.TOKEN}", note: "a ${secret.KEY} \"b\"", n: "${vars.n}" }
`, map[string]any{"v": "a&b", "n": 3})
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "https://x.example/k/${secret.KEY}?key=${secret.KEY}&who=a%26b&k=${secret.KEY}#${secret.KEY}"
	wantBody := `{"n":3,"note":"a ${secret.KEY} \"b\"","token":"${secret.TOKEN}"}`
	if req.URL != wantURL || req.Headers["Authorization"] != "Bearer ${secret.TOKEN}" || string(req.Body) != wantBody {
		t.Fatalf("request %s %v %s", req.URL, req.Headers, req.Body)
	}
	secrets := map[string]string{"KEY": `k/&"é.`, "TOKEN": "t0k"}
	got, err := req.Resolve(func(name string) (string, bool) { v, ok := secrets[name]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://x.example/k/k%2F&%22%C3%A9.?key=k%2F%26%22%C3%A9.&who=a%26b&k=k%2F%26%22%C3%A9.#k%2F&%22%C3%A9."; got.URL != want {
		t.Fatalf("URL %s\nwant %s", got.URL, want)
	}
	if want := `{"n":3,"note":"a k/&\"é. \"b\"","token":"t0k"}`; string(got.Body) != want {
		t.Fatalf("body %s\nwant %s", got.Body, want)
	}
	if got.Headers["Authorization"] != "Bearer t0k" || req.Headers["Authorization"] != "Bearer ${secret.TOKEN}" || got.Secrets != nil {
		t.Fatalf("headers %v, the step's %v, secrets %v", got.Headers, req.Headers, got.Secrets)
	}
	pu, err := url.Parse(got.URL)
	if err != nil || pu.Query().Get("key") != secrets["KEY"] || pu.Query().Get("k") != secrets["KEY"] || pu.Fragment != secrets["KEY"] {
		t.Fatalf("parsed %+v, %v", pu, err)
	}

	_, err = req.Resolve(func(name string) (string, bool) { return "x", name == "KEY" })
	if err == nil || err.Error() != "secret TOKEN is not declared in the config" {
		t.Fatalf("error %v", err)
	}
	_, err = req.Resolve(func(name string) (string, bool) { return "a\r\nX-Admin: 1", true })
	if err == nil || strings.Contains(err.Error(), "Admin") || !strings.Contains(err.Error(), "line break") {
		t.Fatalf("error %v", err)
	}
	bad := *req
	bad.Secrets = append([]steps.SecretUse(nil), req.Secrets...)
	bad.Secrets[0].Offset++
	if _, err := bad.Resolve(func(string) (string, bool) { return "x", true }); err == nil || !strings.Contains(err.Error(), "place in the request is lost") {
		t.Fatalf("error %v", err)
	}
}

func TestHTTPURLWhollyASecret(t *testing.T) {
	t.Parallel()
	req, err := request(t, "      url: \"${secret.CRM_URL}\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.URL != "${secret.CRM_URL}" || !reflect.DeepEqual(req.Secrets, []steps.SecretUse{{Name: "CRM_URL", In: "url", Escape: steps.EscapeURL}}) {
		t.Fatalf("request %s %+v", req.URL, req.Secrets)
	}
	got, err := req.Resolve(func(string) (string, bool) { return "https://crm.example/a b?x=1", true })
	if err != nil || got.URL != "https://crm.example/a b?x=1" {
		t.Fatalf("resolved %v, %v", got, err)
	}
	_, err = req.Resolve(func(string) (string, bool) { return "file:///etc/passwd", true })
	if err == nil || strings.Contains(err.Error(), "passwd") {
		t.Fatalf("error %v", err)
	}
}

func TestHTTPSecretChecks(t *testing.T) {
	t.Parallel()
	src := `name: a
vars: { base: text }
triggers: [follow]
steps:
  - http:
      url: "${secret.URL}"
      query: { a: b }
  - http:
      url: "${vars.base}/x?k=${secret.KEY}"
`
	_, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
	var got []string
	for _, d := range diags {
		got = append(got, d.String())
	}
	want := []string{
		`f.yaml:7:14: error: query: cannot be added to a URL that is wholly a secret (put the query in the secret, or write the URL out with ${secret.URL} where it stands)`,
		`f.yaml:9:12: error: a URL with ${...} in it starts with https:// or http:// (write the start of the URL out, so that the values after it are escaped for where they stand; or make the url wholly one ${...}, which is not escaped)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diagnostics\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzHTTPURLValue holds that a value placed in a URL's path, query and
// fragment, by a template or as a secret, comes back whole from the URL
// and never adds a path segment, a query parameter or a fragment.
func FuzzHTTPURLValue(f *testing.F) {
	for _, s := range []string{"", ".", "..", "../../admin/delete?all=1#", "x@example.com&api_key=A", "a b+c%2F", "\xff\x00é", "${secret.K}"} {
		f.Add(s)
	}
	step := mustLoad(f, `      url: "https://h.example/a/${vars.v}/b/${secret.K}?q=${vars.v}&s=${secret.K}&x=1#${vars.v}"
      query: { m: "${vars.v}", n: "${secret.K}" }
`)
	f.Fuzz(func(t *testing.T, v string) {
		rt := newRuntime()
		rt.env.Vars["v"] = v
		out, err := steps.Lookup("http").Run(rt, step)
		if err != nil {
			t.Fatal(err)
		}
		req, err := out.Request.Resolve(func(string) (string, bool) { return v, true })
		if err != nil {
			t.Fatal(err)
		}
		pu, err := url.Parse(req.URL)
		if err != nil {
			t.Fatalf("%q: %v", req.URL, err)
		}
		segs := strings.Split(pu.EscapedPath(), "/")
		if len(segs) != 5 || segs[1] != "a" || segs[3] != "b" {
			t.Fatalf("path %q", pu.EscapedPath())
		}
		for _, s := range []string{segs[2], segs[4]} {
			if got, err := url.PathUnescape(s); err != nil || got != v || s == "." || s == ".." {
				t.Fatalf("segment %q of %q: %q, %v", s, v, got, err)
			}
		}
		q := pu.Query()
		if len(q) != 5 || q.Get("q") != v || q.Get("s") != v || q.Get("m") != v || q.Get("n") != v || q.Get("x") != "1" {
			t.Fatalf("query %q of %q", pu.RawQuery, v)
		}
		if pu.Fragment != v && !(pu.Fragment == "" && v == "") {
			t.Fatalf("fragment %q of %q", pu.Fragment, v)
		}
	})
}

// mustLoad loads an http step for a fuzz target.
func mustLoad(f *testing.F, keys string) *flows.Step {
	src := "name: a\ntriggers: [follow]\nsteps:\n  - http:\n" + keys + declareVars(keys)
	fl, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
	if diags.HasErrors() {
		f.Fatalf("flow does not load:\n%v", diags)
	}
	return fl.Steps[0]
}

// TestHTTPJSONRecords: a record of the environment in a json: body is a
// JSON object of its names, as a variable keeps it; before,
// json: { at: "${event.location}" } sent {"Lat":...,"Lng":...} (Go's
// field names), which no service reading lat and lng understood.
func TestHTTPJSONRecords(t *testing.T) {
	t.Parallel()
	req, err := request(t, "      url: https://crm.example/a\n      json: { at: \"${vars.v}\", w: [\"${vars.v}\"] }\n",
		map[string]any{"v": flows.LocationEnv{Lat: 31.2, Lng: 121.5, Label: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":{"label":"x","lat":31.2,"lng":121.5,"scale":0},"w":[{"label":"x","lat":31.2,"lng":121.5,"scale":0}]}`
	if string(req.Body) != want {
		t.Fatalf("body %s\nwant %s", req.Body, want)
	}
}
