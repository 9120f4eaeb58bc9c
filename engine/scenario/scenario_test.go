package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine/sandbox"
)

// problems renders every problem of a parsed file, the file's own first,
// one a line.
func problems(f *File) string {
	var lines []string
	for _, p := range f.Problems {
		lines = append(lines, p.String())
	}
	for _, sc := range f.Scenarios {
		for _, p := range sc.Problems {
			lines = append(lines, p.String())
		}
	}
	return strings.Join(lines, "\n")
}

func TestParseFull(t *testing.T) {
	t.Parallel()
	src := `name: a new follower is greeted
start: 2026-11-20T10:00:00+08:00
timezone: Asia/Shanghai
account: { id: main, region: international, window: 24h, message_quota: 20, event_quota: 20, event_window: 1m }
contact: { id: o_42, tags: [vip], fields: { city: Shanghai, visits: 3 } }
http:
  - { method: post, url: "https://crm.example.com/*", status: 201, json: { id: 7 } }
  - { url: "https://shop.example.com/*", body: "oops", status: 500, headers: { X-Trace: abc } }
  - { url: "https://slow.example.com/*", error: timeout }
script:
  - follow
  - follow: store_1
  - unfollow
  - scan: store_2
  - menu: MENU_HELP
  - tap: a
  - say: 123
  - image
  - image: media_9
  - location: { lat: 31.23, lng: 121.47, label: Bund, scale: 15 }
  - wait: 1h30m
  - fail_next: { reason: quota_exhausted, code: 45047, count: 2 }
  - fail_next: unknown
  - expect: "Welcome*"
  - expect: { status: failed, reason: window_closed, text: "Hi*" }
  - expect: { image: "*.png", type: image }
  - expect: { menu: "Pick*", type: menu }
  - expect: { news: "New*" }
  - expect: { voice: a }
  - expect: { video: b }
  - expect_none
  - expect_contact: { fields: { name: Alice, age: null }, tags: [vip], no_tags: [lead], followed: true }
  - expect_run: { flow: welcome, status: completed, step: done, vars: { n: 3 } }
`
	f := Parse("t.test.yaml", []byte(src))
	if got := problems(f); got != "" {
		t.Fatalf("problems:\n%s", got)
	}
	if len(f.Scenarios) != 1 {
		t.Fatalf("%d scenarios, want 1", len(f.Scenarios))
	}
	sc := f.Scenarios[0]
	if sc.Name != "a new follower is greeted" || sc.Start.Format(time.RFC3339) != "2026-11-20T10:00:00+08:00" || sc.Zone.String() != "Asia/Shanghai" {
		t.Errorf("name, start, zone = %q, %s, %s", sc.Name, sc.Start, sc.Zone)
	}
	want := wechat.Settings{Region: "international", Window: 24 * time.Hour, MessageQuota: 20, EventQuota: 20, EventWindow: time.Minute}
	if sc.Account != "main" || sc.Settings != want {
		t.Errorf("account %q, settings %+v", sc.Account, sc.Settings)
	}
	c := sc.Contact
	if c.ID != "o_42" || !c.Seed || len(c.Tags) != 1 || c.Fields["city"] != "Shanghai" || c.Fields["visits"] != 3 {
		t.Errorf("contact = %+v", c)
	}
	if len(sc.HTTP) != 3 {
		t.Fatalf("%d stubs", len(sc.HTTP))
	}
	if s := sc.HTTP[0]; s.Method != "POST" || s.Status != 201 || string(s.Body) != `{"id":7}` || s.Headers["Content-Type"] != "application/json" || s.Pos.Line != 7 {
		t.Errorf("stub 1 = %+v", s)
	}
	if s := sc.HTTP[1]; s.Method != "" || s.Status != 500 || string(s.Body) != "oops" || s.Headers["X-Trace"] != "abc" {
		t.Errorf("stub 2 = %+v", s)
	}
	if s := sc.HTTP[2]; s.Error != "timeout" {
		t.Errorf("stub 3 = %+v", s)
	}
	var kinds []string
	for _, a := range sc.Script {
		kinds = append(kinds, a.Kind)
	}
	if got, want := strings.Join(kinds, " "), "follow follow unfollow scan menu tap say image image location wait fail_next fail_next expect expect expect expect expect expect expect expect_none expect_contact expect_run"; got != want {
		t.Fatalf("actions:\n got %s\nwant %s", got, want)
	}
	s := sc.Script
	if s[1].Arg != "store_1" || s[6].Arg != "123" || s[7].Arg != "" || s[8].Arg != "media_9" {
		t.Errorf("args: %q %q %q %q", s[1].Arg, s[6].Arg, s[7].Arg, s[8].Arg)
	}
	if s[9].Location != (channels.Geo{Lat: 31.23, Lng: 121.47, Label: "Bund", Scale: 15}) {
		t.Errorf("location = %+v", s[9].Location)
	}
	if s[10].Wait != 90*time.Minute {
		t.Errorf("wait = %s", s[10].Wait)
	}
	if !errors.Is(s[11].Fail, channels.ErrQuotaExhausted) || s[11].Count != 2 || !errors.Is(s[12].Fail, channels.ErrUnknown) || s[12].Count != 1 {
		t.Errorf("fail_next = %v x%d, %v x%d", s[11].Fail, s[11].Count, s[12].Fail, s[12].Count)
	}
	if e := s[13].Expect; e.Text == nil || *e.Text != "Welcome*" || e.status() != "sent" {
		t.Errorf("expect 1 = %+v", e)
	}
	if e := s[14].Expect; e.status() != "failed" || e.Reason != "window_closed" || *e.Text != "Hi*" {
		t.Errorf("expect 2 = %+v", e)
	}
	if e := s[16].Expect; *e.Menu != "Pick*" || e.Type != "menu" || *s[17].Expect.News != "New*" || *s[18].Expect.Voice != "a" || *s[19].Expect.Video != "b" {
		t.Errorf("expect 4 to 7 = %+v %+v %+v %+v", e, s[17].Expect, s[18].Expect, s[19].Expect)
	}
	if c := s[21].ExpectContact; c.Fields["name"] != "Alice" || c.Fields["age"] != nil || len(c.FieldOrder) != 2 || c.NoTags[0] != "lead" || !*c.Followed {
		t.Errorf("expect_contact = %+v", c)
	}
	if r := s[22].ExpectRun; r.Flow != "welcome" || r.Status != "completed" || *r.Step != "done" || r.Vars["n"] != 3 {
		t.Errorf("expect_run = %+v", r)
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	f := Parse("t.test.yaml", []byte("name: minimal\nscript:\n  - follow\n---\n# an empty document at the end is fine\n"))
	if got := problems(f); got != "" {
		t.Fatalf("problems:\n%s", got)
	}
	sc := f.Scenarios[0]
	if !sc.Start.Equal(DefaultStart) || sc.Zone != time.UTC || sc.Account != sandbox.DefaultAccount || sc.Contact.ID != DefaultContact || sc.Contact.Seed {
		t.Errorf("defaults: %+v", sc)
	}
	if sc.Settings != (wechat.Settings{}) {
		t.Errorf("settings = %+v, want the product rules (zero)", sc.Settings)
	}
}

// TestParseProblems checks what every kind of mistake reads like: the
// place, the message and the hint.
func TestParseProblems(t *testing.T) {
	t.Parallel()
	src := `name: mistakes
strat: 2026-11-20T10:00:00+08:00
timezone: Mars/Olympus
account: { region: mars, window: 2x, message_quota: 0 }
http:
  - { url: "https://x/*", json: {a: 1}, body: "x" }
  - { status: 200 }
  - { url: "https://y", error: timeout, status: 500 }
script:
  - sya: hi
  - follow: [a]
  - say
  - expect: { status: sent, reason: window_closed }
  - expect: { reasn: x }
  - wait: forever
  - follow: a
    say: b
  - unfollow: now
  - expect_contact: { followed: maybe }
  - expect_run: { status: done }
  - location: { lat: 1 }
  - fail_next: oops
  - expect
---
start: tomorrow
script: []
---
- just a list
`
	want := `t.test.yaml:2:1: unknown key "strat" in a scenario (did you mean "start"?)
t.test.yaml:3:11: unknown time zone "Mars/Olympus" (use an IANA name such as Asia/Shanghai)
t.test.yaml:4:20: unknown region "mars" (one of mainland, international)
t.test.yaml:4:34: window: unknown unit "x" in duration "2x" (write durations like 90s, 30m, 2h, 3d or 1h30m)
t.test.yaml:4:53: message_quota must be at least 1
t.test.yaml:6:5: an http stub has both json: and body: (use json: for JSON, body: for anything else)
t.test.yaml:7:5: an http stub needs a url: (add url: with a glob such as "https://crm.example.com/*")
t.test.yaml:8:5: an http stub with error: cannot answer too (a failed request has no answer: drop status:, json: and body:)
t.test.yaml:10:5: unknown action "sya" (did you mean "say"?)
t.test.yaml:11:13: follow must be a text, got a list (write the follow as one text, in quotes when it holds ": " or starts with [ or {)
t.test.yaml:12:5: say needs an argument (- say: hello)
t.test.yaml:13:13: only a failed message has a reason, but status is sent (drop status:, or make it failed)
t.test.yaml:14:15: unknown key "reasn" in expect (did you mean "reason"?)
t.test.yaml:15:11: wait: invalid duration "forever" (write durations like 90s, 30m, 2h, 3d or 1h30m)
t.test.yaml:17:5: an action has one kind, got follow and say (write each action as its own list item)
t.test.yaml:18:15: unfollow takes no argument (- unfollow)
t.test.yaml:19:33: followed must be true or false, got "maybe"
t.test.yaml:20:27: unknown run status "done" (one of running, waiting_reply, waiting_time, calling, waiting_send, completed, timed_out, invalid, interrupted, restarted, unfollowed, looping, failed, handed_over)
t.test.yaml:21:15: a location needs lat: and lng: (- location: { lat: 31.23, lng: 121.47, label: People's Square })
t.test.yaml:22:16: unknown fail_next reason "oops" (one of window_closed, quota_exhausted, unfollowed, media_too_large, media_type, region, api_error, unknown)
t.test.yaml:23:5: expect needs an argument (- expect: "Welcome*", or - expect: { status: failed, reason: window_closed })
t.test.yaml:25:1: a scenario needs a name: (add name: "what this scenario shows")
t.test.yaml:25:8: start: "tomorrow" is not an RFC 3339 time (write it as 2026-11-20T10:00:00+08:00)
t.test.yaml:26:9: script has no actions (script: is a list of actions such as - follow, - say: hi, - expect: "Welcome*")
t.test.yaml:28:1: a scenario must be a map, got a list (a scenario is a map with name: and script:)`
	f := Parse("t.test.yaml", []byte(src))
	if got := problems(f); got != want {
		t.Errorf("problems:\n%s\n\nwant:\n%s", got, want)
	}
	if len(f.Scenarios) != 3 {
		t.Errorf("%d scenarios, want 3 (each document is one, even a broken one)", len(f.Scenarios))
	}
}

func TestParseFileProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src, want string }{
		{"empty", "", "t.test.yaml:1:1: the file has no scenarios (a scenario is a YAML document with name: and script:)"},
		{"comments only", "# nothing yet\n", "t.test.yaml:1:1: the file has no scenarios (a scenario is a YAML document with name: and script:)"},
		// yaml.v3 names line 4 (in a later document it is one short) and
		// no column: the problem is placed at the bracket not closed.
		{"syntax", "name: ok\nscript:\n  - follow\n---\nname: [broken\n", "t.test.yaml:5:7: YAML syntax error: did not find expected ',' or ']' (close the list with ] (or quote a text holding [ or ,))"},
		// yaml.v3 names no line for a byte that is not UTF-8: it was at
		// 1:1 with a hint about indentation.
		// name: with nothing after it had no hint.
		{"empty name", "name:\nscript:\n  - follow\n", `t.test.yaml:1:6: name must be a text, got nothing (write what the scenario shows after name:, e.g. name: "a new follower is greeted")`},
		{"empty operator", "name: x\nscript:\n  - reply: { operator: , text: hi }\n", `t.test.yaml:3:24: operator must be a text, got nothing (write the operator after the colon)`},
		// These were accepted: no contact can send an empty text, and no
		// message is of two kinds.
		{"empty say", "name: x\nscript:\n  - say: \"\"\n", `t.test.yaml:3:10: say has an empty text, but WeChat sends no empty text message (write what the contact says, e.g. say: hello)`},
		{"two kinds", "name: x\nscript:\n  - follow\n  - expect: { text: a, image: b }\n", `t.test.yaml:4:24: expect checks both text: and image:, but no message is both (a message has one kind: expect them as two messages, one - expect: each)`},
		{"kind and type", "name: x\nscript:\n  - follow\n  - expect: { type: image, text: a }\n", `t.test.yaml:4:28: expect checks text:, but type: is image, so no message could pass (drop type:, or make it type: text)`},
		{"not UTF-8", "name: ok\nscript:\n  - follow\n---\nname: caf\xe9\n", "t.test.yaml:5:10: YAML syntax error: the file is not UTF-8 text (byte 0xE9 here) (save the file as UTF-8: an editor set to GBK, GB 18030 or Latin-1 writes other bytes for 中文 or é)"},
	} {
		f := Parse("t.test.yaml", []byte(tc.src))
		if got := problems(f); got != tc.want {
			t.Errorf("%s: problems:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
	// The scenarios before a syntax error are kept.
	f := Parse("t.test.yaml", []byte("name: ok\nscript:\n  - follow\n---\nname: [broken\n"))
	if len(f.Scenarios) != 1 || f.Scenarios[0].Name != "ok" {
		t.Errorf("scenarios before the syntax error: %+v", f.Scenarios)
	}
}

func TestProblemsError(t *testing.T) {
	t.Parallel()
	ps := Problems{{File: "a", Line: 1, Col: 2, Message: "m"}, {File: "a", Line: 3, Col: 4, Message: "n", Hint: "h"}}
	if got, want := ps.Error(), "a:1:2: m\na:3:4: n (h)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestParseEmptyContactID: an empty contact id is a problem of the
// header, at its place; before, the scenario failed when it ran.
func TestParseEmptyContactID(t *testing.T) {
	t.Parallel()
	f := Parse("c.test.yaml", []byte("name: c\ncontact: { id: \"\" }\nscript:\n  - say: hi\n"))
	if len(f.Scenarios) != 1 || len(f.Scenarios[0].Problems) != 1 || !strings.Contains(f.Scenarios[0].Problems[0].String(), "c.test.yaml:2:16: contact id is empty") {
		t.Fatalf("problems %v %v", f.Problems, f.Scenarios)
	}
}

// TestParseBadIDs: an account id no config could declare is a problem of
// the header at its place; before, account: { id: Main } ran, and a flow
// with account: main then never started for it. (A contact id is any
// text: export-test writes the store's as they are.)
func TestParseBadIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, header, want string }{
		{"empty account", `account: { id: "" }`, `c.test.yaml:2:16: account id "" is not an account id`},
		{"upper-case account", `account: { id: Main }`, `c.test.yaml:2:16: account id "Main" is not an account id`},
		{"account with a space", `account: { id: "main acct" }`, `c.test.yaml:2:16: account id "main acct" is not an account id`},
	} {
		f := Parse("c.test.yaml", []byte("name: c\n"+tc.header+"\nscript:\n  - say: hi\n"))
		if len(f.Scenarios) != 1 || len(f.Scenarios[0].Problems) != 1 || !strings.Contains(f.Scenarios[0].Problems[0].String(), tc.want) {
			t.Errorf("%s: problems %v %v, want %s", tc.name, f.Problems, f.Scenarios[0].Problems, tc.want)
		}
	}
	for _, ok := range []string{`account: { id: main_2 }`, `account: { id: sandbox }`} {
		f := Parse("c.test.yaml", []byte("name: c\n"+ok+"\nscript:\n  - say: hi\n"))
		if len(f.Scenarios) != 1 || len(f.Scenarios[0].Problems) != 0 {
			t.Errorf("%s: problems %v", ok, f.Scenarios[0].Problems)
		}
	}
}

// TestParseStubHeaderValues: a stub's header is a text (a number or a
// boolean written as one); a list, a map or nothing is a problem at the
// value. Before, X-Y: [1, {a: b}] answered the header "[1 map[a:b]]" and
// X-N: null "<nil>".
func TestParseStubHeaderValues(t *testing.T) {
	t.Parallel()
	f := Parse("h.test.yaml", []byte("name: h\nhttp:\n  - url: https://x/*\n    headers: { X-Y: [1], X-N: null, X-M: {a: 1}, X-Ok: 1.5, X-B: true, X-S: s }\nscript:\n  - say: hi\n"))
	if len(f.Scenarios) != 1 {
		t.Fatalf("scenarios %v", f.Scenarios)
	}
	got := f.Scenarios[0].Problems.Error()
	want := `h.test.yaml:4:21: header X-Y must be a text, got a list (write the header's value as text, e.g. X-Request-Id: "abc-1")
h.test.yaml:4:31: header X-N must be a text, got nothing (write the header's value as text, e.g. X-Request-Id: "abc-1")
h.test.yaml:4:42: header X-M must be a text, got a map (write the header's value as text, e.g. X-Request-Id: "abc-1")`
	if got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
	f = Parse("h.test.yaml", []byte("name: h\nhttp:\n  - url: https://x/*\n    headers: { X-Ok: 1.5, X-B: true, X-S: s, X-I: 7 }\nscript:\n  - say: hi\n"))
	st := f.Scenarios[0].HTTP[0]
	if h := st.Headers; h["X-Ok"] != "1.5" || h["X-B"] != "true" || h["X-S"] != "s" || h["X-I"] != "7" {
		t.Errorf("headers %v", h)
	}
}

// Values the parser used to take: a location off the globe, a single
// text where a list is written, an event window longer than the window.
func TestParseLenientValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src, want string }{
		{"latitude", "name: x\nscript:\n  - location: { lat: 200, lng: 1 }\n",
			"t.test.yaml:3:22: lat 200 is out of range: it must be between -90 and 90 (a latitude is between -90 (the South Pole) and 90 (the North Pole), e.g. lat: 31.23)"},
		{"longitude", "name: x\nscript:\n  - location: { lat: 1, lng: -180.5 }\n",
			"t.test.yaml:3:30: lng -180.5 is out of range: it must be between -180 and 180 (a longitude is between -180 and 180 (east is positive), e.g. lng: 121.47)"},
		{"not a number", "name: x\nscript:\n  - location: { lat: NaN, lng: 1 }\n",
			"t.test.yaml:3:22: lat NaN is out of range: it must be between -90 and 90 (a latitude is between -90 (the South Pole) and 90 (the North Pole), e.g. lat: 31.23)"},
		{"edges", "name: x\nscript:\n  - location: { lat: -90, lng: 180 }\n", ""},
		{"expect_contact tags", "name: x\nscript:\n  - expect_contact: { tags: vip }\n",
			"t.test.yaml:3:29: tags must be a list of texts, got \"vip\" (write a list, even of one: [vip])"},
		{"expect_contact no_tags", "name: x\nscript:\n  - expect_contact: { no_tags: lead }\n",
			"t.test.yaml:3:32: no_tags must be a list of texts, got \"lead\" (write a list, even of one: [lead])"},
		{"contact tags", "name: x\ncontact: { tags: vip }\nscript:\n  - follow\n",
			"t.test.yaml:2:18: tags must be a list of texts, got \"vip\" (write a list, even of one: [vip])"},
		{"operators", "name: x\noperators: { amy: support }\nteams: { support: }\nscript:\n  - follow\n",
			"t.test.yaml:2:19: operator amy's teams must be a list of texts, got \"support\" (write a list, even of one: [support])"},
		{"event_window", "name: x\naccount: { event_window: 72h }\nscript:\n  - follow\n",
			"t.test.yaml:2:26: event_window 3d is longer than the window 48h (make it 48h or shorter (WeChat's own document says 1m), or make window: longer)"},
		{"event_window and window", "name: x\naccount: { event_window: 2h, window: 1h }\nscript:\n  - follow\n",
			"t.test.yaml:2:26: event_window 2h is longer than the window 1h (make it 1h or shorter (WeChat's own document says 1m), or make window: longer)"},
		{"event_window fits", "name: x\naccount: { event_window: 72h, window: 72h }\nscript:\n  - follow\n", ""},
	} {
		f := Parse("t.test.yaml", []byte(tc.src))
		if got := problems(f); got != tc.want {
			t.Errorf("%s: problems:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

// TestParseDuplicateActionKey: a key given twice in an action (say:
// twice) is a duplicate key, as YAML 1.2 has it; it was "an action has
// one kind, got say and say".
func TestParseDuplicateActionKey(t *testing.T) {
	t.Parallel()
	f := Parse("t.test.yaml", []byte("name: a\nscript:\n  - say: hi\n    say: ho\n  - say: x\n    expect: y\n    expect: z\n"))
	want := `t.test.yaml:4:5: duplicate key "say" in an action (it is first given at line 3)
t.test.yaml:6:5: an action has one kind, got say and expect (write each action as its own list item)
t.test.yaml:7:5: duplicate key "expect" in an action (it is first given at line 6)`
	if len(f.Scenarios) != 1 || f.Scenarios[0].Problems.Error() != want {
		t.Fatalf("problems %v %v\nwant:\n%s", f.Problems, f.Scenarios[0].Problems, want)
	}
}

// TestParseActionBesideScript: an action written as a key of the
// scenario (not under script:) says so; the hint listed the scenario's
// keys.
func TestParseActionBesideScript(t *testing.T) {
	t.Parallel()
	f := Parse("t.test.yaml", []byte("name: a\nscript:\n  - follow\nexpect_none:\nsay: hi\n"))
	want := `t.test.yaml:4:1: unknown key "expect_none" in a scenario (expect_none is an action: write it as an item of script: (- expect_none))
t.test.yaml:5:1: unknown key "say" in a scenario (say is an action: write it as an item of script: (- say))`
	if len(f.Scenarios) != 1 || f.Scenarios[0].Problems.Error() != want {
		t.Fatalf("problems %v\nwant:\n%s", f.Scenarios[0].Problems, want)
	}
}
