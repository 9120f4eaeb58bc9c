package steps

import (
	"strings"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// HTTPMaxTimeout is the longest timeout an http step may set.
const HTTPMaxTimeout = 2 * time.Minute

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "http",
		Summary:     "Calls an outside service over HTTP; `on_error` is taken on network errors and non-2xx answers.",
		ArgRequired: true,
		ArgDoc:      "a map with method, url, headers, json or body, timeout, save",
		Arg: flows.ObjectOf("http request", "http request",
			flows.Field{Name: "method", Type: flows.Enum("GET", "POST", "PUT", "PATCH", "DELETE"), Default: "GET, or POST with json: or body:", Doc: "The HTTP method."},
			flows.Field{Name: "url", Type: flows.Text, Required: true, Doc: "The URL (http or https)."},
			flows.Field{Name: "headers", Type: flows.MapOf(flows.Text), Doc: "Request headers."},
			flows.Field{Name: "json", Type: flows.JSON, Doc: "A body sent as JSON (Content-Type: application/json)."},
			flows.Field{Name: "body", Type: flows.Text, Doc: "A body sent as it is."},
			flows.Field{Name: "timeout", Type: flows.Duration, Default: "10s", Doc: "How long to wait for the answer (2m at most)."},
			flows.Field{Name: "save", Type: flows.SavePath, Doc: "Where the response goes: `{status, headers, body}` (body parsed when it is JSON)."},
		),
		Keys: []flows.Field{
			{Name: "on_error", Type: flows.Ref, Doc: "The step to go to on a network error, a timeout or a non-2xx answer; without it the run goes on."},
		},
		Check: checkHTTP,
		Example: `- http:
    method: POST
    url: https://crm.example.com/api/leads
    headers: { Authorization: "Bearer ${vars.crm_token}" }
    json: { email: "${vars.email}", phone: "${vars.phone}" }
    timeout: 5s
    save: vars.crm
  on_error: crm_down`,
	})
}

func checkHTTP(s *flows.Step, r *flows.Reporter) {
	o, _ := s.Arg.(*flows.Object)
	if o == nil {
		return
	}
	if o.Has("json") && o.Has("body") {
		r.Errorf(o.KeyPos["body"], "use json: for JSON, body: for anything else", "http request has both json: and body:")
	}
	if m := o.String("method"); m == "GET" && (o.Has("json") || o.Has("body")) {
		r.Errorf(o.KeyPos["method"], "use POST, PUT or PATCH to send a body", "a GET request has no body")
	}
	if d := o.Duration("timeout", 0); d > HTTPMaxTimeout {
		r.Errorf(o.At("timeout"), "use 2m or less", "http timeout %s is too long", flows.FormatDuration(d))
	}
	if u := o.Template("url"); u != nil && !strings.HasPrefix(u.Src, "${") {
		if !strings.HasPrefix(u.Src, "https://") && !strings.HasPrefix(u.Src, "http://") {
			r.Errorf(o.At("url"), "URLs start with https:// or http://", "invalid URL %q", u.Src)
		}
	}
}
