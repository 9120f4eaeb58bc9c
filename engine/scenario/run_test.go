package scenario

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"    // register step kinds
	_ "github.com/wxflow/wxflow/triggers" // register trigger kinds
)

// testFlows are the flows the tests run against.
var testFlows = map[string]string{
	"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: "Welcome!"
  - ask: "What should we call you?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: done
  - send: "Nice to meet you, ${contact.fields.name}!"
  - tag: [named]
  - id: done
    end:
`,
	"order.yaml": `name: order
triggers:
  - keyword: { pattern: "^order ([0-9]+)$" }
steps:
  - http:
      url: "https://shop.example.com/orders/${event.match[1]}"
      save: vars.lookup
    on_error: failed
  - send: "Order ${event.match[1]}: ${vars.lookup.body.status}"
  - end
  - id: failed
    send: "Lookup failed (${http.status})"
`,
	"daily.yaml": `name: daily
triggers:
  - schedule:
      cron: "0 9 * * *"
      audience: "'daily' in contact.tags"
steps:
  - send: "good morning"
`,
	"picker.yaml": `name: picker
account: main
triggers:
  - keyword: [pick]
steps:
  - ask:
      menu:
        head: "Pick a fruit"
        items: [{ id: a, text: Apples }, { id: b, text: Bananas }]
    expect: choice
    choices: { a: [apples], b: [bananas] }
    save: vars.fruit
  - send: "You picked ${vars.fruit}"
`,
}

// loadTestFlows writes testFlows to a folder and loads them.
func loadTestFlows(t *testing.T) *flows.Set {
	t.Helper()
	dir := t.TempDir()
	for name, src := range testFlows {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		t.Fatalf("flows: %v", set.Diags.Err())
	}
	return set
}

// runSource parses src as a test file and runs it.
func runSource(t *testing.T, set *flows.Set, src string, opts Options) (Summary, string) {
	t.Helper()
	f := Parse("t.test.yaml", []byte(src))
	var out bytes.Buffer
	sum := RunFile(context.Background(), f, set, opts, &out)
	return sum, out.String()
}

// mustPass runs src and fails the test unless every scenario passed.
func mustPass(t *testing.T, set *flows.Set, src string) {
	t.Helper()
	sum, out := runSource(t, set, src, Options{})
	if sum.Failed > 0 || sum.Passed == 0 {
		t.Fatalf("%s\n%s", sum, out)
	}
}

func TestRunConversation(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	mustPass(t, set, `name: greeted and named
script:
  - follow
  - expect: "Welcome!"
  - expect: "What should we call you?"
  - say: Alice
  - expect: "Nice to meet you, Alice!"
  - expect_none
  - expect_contact: { fields: { name: Alice }, tags: [named], followed: true }
  - expect_run: { flow: welcome, status: completed, step: done }
---
name: the question times out
script:
  - follow
  - wait: 2h
  - expect: Welcome!
  - expect: "What*"
  - expect_none
  - expect_contact: { fields: { name: null }, no_tags: [named] }
---
name: a seeded contact
contact: { id: o_bob, tags: [vip], fields: { name: Bob, visits: 3, prefs: { lang: zh, topics: [a, b] } } }
script:
  - expect_contact:
      tags: [vip]
      fields: { name: "B*", visits: 3, prefs: { lang: zh, topics: [a, "*"] } }
`)
}

// TestRunFailureReport checks the whole report of a failing scenario: the
// place and what was expected, then the transcript with the actions, the
// requests and the numbered messages.
func TestRunFailureReport(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	src := `name: passes
script:
  - follow
  - expect: "Welcome!"
---
name: an order lookup
http:
  - { url: "https://shop.example.com/orders/1*", json: { status: shipped } }
script:
  - follow
  - say: Alice
  - say: order 12
  - wait: 2h
  - expect: "Welcome!"
  - expect: "What should we call you?"
  - expect: "Nice to meet you, Bob!"
  - expect: "never reached"
---
name: passes too
script:
  - expect_none
`
	sum, out := runSource(t, set, src, Options{})
	if sum != (Summary{Passed: 2, Failed: 1}) {
		t.Errorf("summary = %s", sum)
	}
	want := `t.test.yaml:16:5: scenario "an order lookup": expected a sent message with text "Nice to meet you, Bob!", got message 3: sent: text "Nice to meet you, Alice!"
    transcript:
      > follow
       1. sent: text "Welcome!"
       2. sent: text "What should we call you?"
      > say "Alice"
       3. sent: text "Nice to meet you, Alice!"
      > say "order 12"
          http GET https://shop.example.com/orders/12 -> 200 (stub at line 8)
       4. sent: text "Order 12: shipped"
      > wait 2h (now Mon 2026-11-16 12:00 +08:00)

`
	if out != want {
		t.Errorf("report:\n%s\nwant:\n%s", out, want)
	}
}

func TestRunExpectNoneAndContactFailures(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	for _, tc := range []struct{ script, want string }{
		{"  - follow\n  - expect_none\n", `expected no more messages, got 2: message 1: sent: text "Welcome!"; message 2: sent: text "What should we call you?"`},
		{"  - follow\n  - expect: W*\n  - expect: W*\n  - expect: W*\n", `expected a sent message with text "W*", got no message: nothing more was sent`},
		{"  - expect_contact: { tags: [vip] }\n", "expected contact alice, but the account has never seen it"},
		{"  - follow\n  - expect_contact: { tags: [vip], no_tags: [x], fields: { name: Al*, n: 3 }, followed: false }\n",
			`expected field name "Al*", got nothing; expected field n 3, got nothing; expected tag vip, but the contact's tags are none; expected the contact not to follow, but it does`},
		{"  - follow\n  - say: Al\n  - expect_contact: { no_tags: [named] }\n", "expected no tag named, but the contact has it"},
		{"  - follow\n  - expect_run: { flow: welcome, status: completed, step: x, vars: { a: 1 } }\n",
			`expected a run of welcome (the newest, run 1) with status completed, got waiting_reply; step "x", got "ask (line 5)"; vars.a 1, got nothing`},
		{"  - expect_run: { flow: order }\n", "expected a run of order, but there is none"},
		{"  - tap: z\n", `cannot tap "z": no message menu sent so far has an item with this id`},
	} {
		sum, out := runSource(t, set, "name: fails\nscript:\n"+tc.script, Options{})
		if sum.Failed != 1 {
			t.Errorf("%s: %s, want a failure", tc.script, sum)
			continue
		}
		first, _, _ := strings.Cut(out, "\n")
		if _, got, _ := strings.Cut(first, `scenario "fails": `); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.script, got, tc.want)
		}
	}
}

func TestRunMessageChecks(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	mustPass(t, set, `name: a message menu is tapped
account: { id: main }
script:
  - say: pick
  - expect: { menu: "Pick a fruit", type: menu }
  - tap: b
  - expect: "You picked b"
  - say: pick
  - expect: { menu: Apples }
  - say: APPLES
  - expect: "You picked a"
---
name: failures carry their reason
account: { message_quota: 1 }
http:
  - { url: "https://shop.example.com/*", json: { status: packed } }
script:
  - say: order 7
  - expect: "Order 7: packed"
  - fail_next: { reason: api_error, code: 45009 }
  - say: order 8
  - expect: { status: failed, reason: api_error }
  - fail_next: unknown
  - say: order 9
  - expect: { status: unknown, text: "Order 9*" }
---
name: the platform closing the session
script:
  - follow
  - expect: Welcome!
  - expect: "What*"
  - fail_next: window_closed
  - say: Al
  - expect: { reason: window_closed, text: "Nice*" }
`)
	// The checks that must not match.
	for _, check := range []string{`"Welcome"`, `{ type: menu }`, `{ image: "*" }`, `{ news: "*" }`, `{ menu: "*" }`, `{ status: failed }`, `{ reason: window_closed }`} {
		sum, out := runSource(t, set, "name: x\nscript:\n  - follow\n  - expect: "+check+"\n", Options{})
		if sum.Failed != 1 {
			t.Errorf("expect: %s matched the welcome text:\n%s", check, out)
		}
	}
}

func TestRunZoneAndAccount(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	// The schedule has no timezone: it runs at 09:00 in the server's
	// zone, UTC unless the scenario gives one.
	mustPass(t, set, `name: a schedule in the server's zone (UTC)
start: 2026-11-16T08:00:00+08:00
contact: { tags: [daily] }
script:
  - say: hi
  - wait: 1h
  - expect_none
  - wait: 8h                          # 17:00 in Beijing is 09:00 UTC
  - expect: "good morning"
---
name: a schedule in the server's zone (Shanghai)
start: 2026-11-16T08:00:00+08:00
timezone: Asia/Shanghai
contact: { tags: [daily] }
script:
  - say: hi
  - wait: 1h
  - expect: "good morning"
---
name: a flow of another account does not start
script:
  - say: pick
  - expect_none
---
name: a contact of the header follows and has not interacted
contact: { tags: [daily] }
script:
  - expect_contact: { followed: true }
  - wait: 23h                         # 09:00 UTC
  - expect: { text: "good morning", reason: window_closed }
`)
}

func TestRunHTTPStubs(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	mustPass(t, set, `name: stubs answer, fail and time out
http:
  - { method: POST, url: "https://shop.example.com/*", json: { status: wrong method } }
  - { url: "https://shop.example.com/orders/1", json: { status: shipped } }
  - { url: "https://shop.example.com/orders/2", status: 503, body: busy }
  - { url: "https://shop.example.com/orders/3", error: timeout }
  - { url: "https://shop.example.com/orders/4", error: connection reset }
script:
  - say: order 1
  - expect: "Order 1: shipped"
  - say: order 2
  - expect: "Lookup failed (503)"
  - expect_run: { flow: order, vars: { lookup: { status: 503, body: busy } } }
  - say: order 3
  - expect: "Lookup failed (0)"
  - say: order 4
  - expect: "Lookup failed (0)"
  - say: order 5
  - expect: "Lookup failed (0)"    # no stub: a network error
`)
}

func TestStubTransport(t *testing.T) {
	t.Parallel()
	f := Parse("t.test.yaml", []byte(`name: x
http:
  - { method: POST, url: "https://crm.example.com/leads", status: 201, json: { id: 7 } }
  - { url: "https://crm.example.com/slow", error: timeout }
  - { url: "https://crm.example.com/down", error: connection refused }
script: [follow]
`))
	if len(f.Scenarios[0].Problems) > 0 {
		t.Fatal(f.Scenarios[0].Problems)
	}
	client, tr := newStubClient(f.Scenarios[0].HTTP)
	resp, err := client.Post("https://crm.example.com/leads", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || string(body) != `{"id":7}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("answer: %d %s %q", resp.StatusCode, resp.Header, body)
	}
	// The stub is for POST: a GET matches nothing.
	_, err = client.Get("https://crm.example.com/leads")
	if err == nil || !strings.Contains(err.Error(), "no http: stub in the scenario matches GET https://crm.example.com/leads") {
		t.Errorf("unstubbed request: %v", err)
	}
	_, err = client.Get("https://crm.example.com/slow")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout stub: %v, want a deadline error", err)
	}
	_, err = client.Get("https://crm.example.com/down")
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error stub: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://crm.example.com/slow", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client.Do(req.WithContext(ctx)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
	if n := len(tr.made()); n != 4 {
		t.Errorf("%d requests noted, want 4 (the cancelled one is not made)", n)
	}
}

func TestRunFileOptionsAndProblems(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	src := "name: one\nscript: [follow]\n---\nname: two\nscript: [follow]\n---\nname: broken\nscript: [fllow]\n"
	sum, out := runSource(t, set, src, Options{Verbose: true, Match: regexp.MustCompile("^(one|broken)$").MatchString})
	if sum != (Summary{Passed: 1, Failed: 1}) {
		t.Errorf("summary = %s", sum)
	}
	want := `ok   t.test.yaml:1: one
      > follow
       1. sent: text "Welcome!"
       2. sent: text "What should we call you?"
FAIL t.test.yaml:7: broken
t.test.yaml:7:1: scenario "broken" cannot run:
    t.test.yaml:8:10: unknown action "fllow" (did you mean "follow"?)

`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	// A syntax error counts once, and the scenarios before it still run.
	sum, out = runSource(t, set, "name: one\nscript: [follow]\n---\nname: [\n", Options{})
	if sum != (Summary{Passed: 1, Failed: 1}) || !strings.Contains(out, "YAML syntax error") {
		t.Errorf("summary = %s, output:\n%s", sum, out)
	}
	if got := (Summary{Passed: 3, Failed: 0}).String(); got != "3 passed, 0 failed" {
		t.Errorf("Summary.String() = %q", got)
	}
}

func TestValueMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		want, got any
		ok        bool
	}{
		{"Alice", "Alice", true},
		{"Al*", "Alice", true},
		{"Bob", "Alice", false},
		{"3", 3.0, true},
		{"true", true, true},
		{"*", nil, false},
		{nil, nil, true},
		{nil, "x", false},
		{3, 3.0, true},
		{3, "3", false},
		{2.5, 2.5, true},
		{true, true, true},
		{true, "true", false},
		{map[string]any{"a": "x*"}, map[string]any{"a": "xy", "b": 1.0}, true},
		{map[string]any{"a": "x*"}, map[string]any{"b": 1.0}, false},
		{map[string]any{}, "x", false},
		{[]any{"a", 1}, []any{"a", 1.0}, true},
		{[]any{"a"}, []any{"a", "b"}, false},
	} {
		if got := valueMatches(tc.want, tc.got); got != tc.ok {
			t.Errorf("valueMatches(%#v, %#v) = %v, want %v", tc.want, tc.got, got, tc.ok)
		}
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		check MessageCheck
		want  string
	}{
		{MessageCheck{}, "a sent message"},
		{MessageCheck{Reason: "window_closed"}, "a failed message (window_closed)"},
		{MessageCheck{Status: "unknown", Type: "news", News: ptr("New*")}, `an unknown message with type news, news "New*"`},
	} {
		if got := tc.check.describe(); got != tc.want {
			t.Errorf("describe = %q, want %q", got, tc.want)
		}
	}
}

func ptr(s string) *string { return &s }

// TestScenarioSecrets: an http step that reads a secret is answered by
// the stubs, the secret being test-secret-NAME; before, the call failed
// ("not declared in the config") and its success path could not be
// tested.
func TestScenarioSecrets(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{"crm.yaml": `name: crm
triggers: [{keyword: [crm]}]
steps:
  - http:
      url: "https://crm.example.com/c?key=${secret.CRM_KEY}"
      headers: { Authorization: "Bearer ${ secret.CRM_TOKEN }" }
      save: vars.r
    on_error: bad
  - send: "ok ${vars.r.body.id} ${http.headers['X-Auth']}"
  - end
  - id: bad
    send: "bad"
`})
	mustPass(t, set, `name: the CRM answers
http:
  - { url: "https://crm.example.com/c?key=test-secret-CRM_KEY", json: { id: L-1 }, headers: { X-Auth: "seen" } }
script:
  - say: crm
  - expect: "ok L-1 seen"
`)
	if got := secretValue("CRM_TOKEN"); got != "test-secret-CRM_TOKEN" {
		t.Fatalf("secretValue = %q", got)
	}
}

// TestMediaMatches: expect's image:, voice: and video: match a media's
// file name also when it is sent from a URL (docs/testing.md: "file path,
// file name, URL or media id"); before, { video: v.mp4 } did not match
// https://x.example.com/v.mp4, only the whole URL or a glob did.
func TestMediaMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		glob string
		m    channels.Media
		want bool
	}{
		{"v.mp4", channels.Media{URL: "https://x.example.com/media/v.mp4"}, true},
		{"v.mp4", channels.Media{URL: "https://x.example.com/media/v.mp4?sig=1#t"}, true},
		{"v.*", channels.Media{URL: "https://x.example.com/v.mp4"}, true},
		{"https://x.example.com/*", channels.Media{URL: "https://x.example.com/v.mp4"}, true},
		{"media", channels.Media{URL: "https://x.example.com/media/v.mp4"}, false},
		{"/", channels.Media{URL: "https://x.example.com/"}, false},
		{"map.png", channels.Media{Path: "/flows/images/map.png"}, true},
		{"M1", channels.Media{MediaID: "M1"}, true},
	} {
		if got := mediaMatches(tc.glob, &tc.m); got != tc.want {
			t.Errorf("mediaMatches(%q, %+v) = %v, want %v", tc.glob, tc.m, got, tc.want)
		}
	}
}

// TestValuesSameAfterAWait: a value of the environment a set: writes is
// the same before the run waits as after. Before, "${event.location}"
// read {3 4 0 } and then, after a wait, JSON of Go's field names
// (vars.loc.lat empty), and "${now.Month()}" read November and failed
// vars.m + 1 (time.Month + int), then 11 after a wait.
func TestValuesSameAfterAWait(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := `name: keep
triggers:
  - message:
    type: location
steps:
  - set: { vars.loc: "${event.location}", vars.m: "${now.Month()}", contact.fields.w: "${now.Weekday()}", vars.x: '${ {"w": contact.window} }' }
  - send: "${vars.loc.lat} ${vars.loc} ${vars.m} ${vars.m + 1} ${contact.fields.w} ${vars.x.w.quota_left}"
  - wait: 1m
  - send: "${vars.loc.lat} ${vars.loc} ${vars.m} ${vars.m + 1} ${contact.fields.w} ${vars.x.w.quota_left}"
`
	if err := os.WriteFile(filepath.Join(dir, "keep.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("flows: %v %v", err, set.Diags.Err())
	}
	want := `3 {\"label\":\"\",\"lat\":3,\"lng\":4,\"scale\":0} 11 12 1 5`
	mustPass(t, set, `name: keep
script:
  - location: { lat: 3, lng: 4 }
  - expect: "`+want+`"
  - wait: 1m
  - expect: "`+want+`"
  - expect_run: { status: completed }
`)
}

// TestRunUnknownFlowNames: expect_run's flow: and expect's from: flow
// NAME that name no flow are problems of the scenario, with a
// did-you-mean; before, the check ran and failed with "expected a run of
// welcom, but there is none", which did not say the name was wrong. The
// problem is placed at the name (it was at the action's dash, 4:5).
func TestRunUnknownFlowNames(t *testing.T) {
	t.Parallel()
	set := loadTestFlows(t)
	for _, tc := range []struct{ src, want string }{
		{"name: a\nscript:\n  - follow\n  - expect_run: { flow: welcom }\n", `t.test.yaml:4:25: no flow named "welcom" (did you mean "welcome"?)`},
		{"name: a\nscript:\n  - follow\n  - expect: { from: flow welcom }\n", `t.test.yaml:4:21: no flow named "welcom" (did you mean "welcome"?)`},
		{"name: a\nscript:\n  - follow\n  - expect_run: { flow: zzzzzz }\n", `no flow named "zzzzzz" (the flows are `},
	} {
		sum, out := runSource(t, set, tc.src, Options{})
		if sum.Failed != 1 || !strings.Contains(out, "cannot run") || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %s\n%s\nwant %s", tc.src, sum, out, tc.want)
		}
	}
	mustPass(t, set, "name: a\nscript:\n  - follow\n  - expect: { from: flow welcome }\n  - expect_run: { flow: welcome }\n")
	// With another problem of the scenario, the flow name is reported
	// too (it was only once the other was fixed).
	sum, out := runSource(t, set, "name: a\nscript:\n  - folow\n  - expect_run: { flow: welcom }\n", Options{})
	if sum.Failed != 1 || !strings.Contains(out, `t.test.yaml:3:5: unknown action "folow"`) || !strings.Contains(out, `t.test.yaml:4:25: no flow named "welcom"`) {
		t.Errorf("both problems: %s\n%s", sum, out)
	}
}

// TestWaitUntilASkippedTime: a wait until a wall-clock time the clocks
// skip wakes at the time pushed forward by the gap (03:30 EDT for 02:30 on
// the day New York's summer time starts), never before it; one until a
// time they repeat wakes at its first occurrence. Found from outside:
// date() read 02:30 as 01:30 EST, so a run at 01:50 went straight on.
func TestWaitUntilASkippedTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, src := range map[string]string{
		"alarm.yaml": `name: alarm
triggers: [{keyword: [go]}]
steps:
  - wait: { until: 'date("2026-03-08 02:30", "2006-01-02 15:04", "America/New_York")' }
  - send: "skipped ${now}"
`,
		"again.yaml": `name: again
triggers: [{keyword: [again]}]
steps:
  - wait: { until: 'date("2026-11-01 01:30", "2006-01-02 15:04")' }
  - send: "repeated ${now}"
`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("flows: %v %v", err, set.Diags.Err())
	}
	mustPass(t, set, `name: 02:30 on the day summer time starts is 03:30 EDT
start: 2026-03-08T01:50:00-05:00
timezone: America/New_York
script:
  - say: go
  - expect_none
  - wait: 39m                  # 03:29 EDT
  - expect_none
  - wait: 1m
  - expect: "skipped 2026-03-08T03:30:00-04:00"
---
name: 01:30 on the day summer time ends is the first 01:30 (EDT)
start: 2026-11-01T00:50:00-04:00
timezone: America/New_York
script:
  - say: again
  - wait: 39m                  # 01:29 EDT
  - expect_none
  - wait: 1m
  - expect: "repeated 2026-11-01T01:30:00-04:00"
`)
}
