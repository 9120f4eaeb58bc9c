package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// Every step kind, end to end through the engine.

func TestStepSendAndOnFail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"later.yaml": `name: later
triggers: [{keyword: [later]}]
steps:
  - send: "see you in two days"
  - wait: 49h
  - send: "are you there?"
    on_fail: closed
  - send: "not reached"
  - id: closed
    tag: [unreachable]
  - send: "a send without on_fail goes on"
  - tag: [done]
`,
	})
	h.say("later")
	h.advance(48 * time.Hour)
	h.wantTranscript("see you in two days")
	h.advance(time.Hour)
	h.wantTranscript("see you in two days | are you there? [failed window_closed] | a send without on_fail goes on [failed window_closed]")
	h.wantRuns("later:completed")
	if c := h.contact("alice"); !c.HasTag("unreachable") || !c.HasTag("done") {
		t.Fatalf("tags %v", c.Tags)
	}
	for _, o := range h.outbox()[1:] {
		if o.Detail == "" || o.RunID != h.only("later").ID {
			t.Fatalf("failed entry without detail or run: %+v", o)
		}
	}
}

func TestStepSendMessageKinds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"kinds.yaml": `name: kinds
triggers: [{keyword: [kinds]}]
steps:
  - send:
      image: { media_id: "MEDIA_1" }
  - send:
      news:
        title: "News for ${contact.id}"
        description: "d"
        url: "https://example.com/${event.text}"
        picurl: "https://example.com/p.jpg"
  - send:
      menu:
        head: "Pick"
        items: [{id: a, text: "A ${event.text}"}, {id: b, text: B}]
        tail: "thanks"
  - send:
      text: "plain ${event.text}"
`,
	})
	h.say("kinds")
	got := h.outbox()
	if len(got) != 4 {
		t.Fatalf("outbox %s", transcript(got))
	}
	for _, o := range got {
		if o.Status != engine.OutboxSent {
			t.Fatalf("not sent: %+v", o)
		}
	}
	if m := got[0].Message; m.Type != "image" || m.Media == nil || m.Media.MediaID != "MEDIA_1" {
		t.Errorf("image: %+v", m)
	}
	if m := got[1].Message; m.Type != "news" || m.News == nil || m.News.Title != "News for alice" || m.News.URL != "https://example.com/kinds" {
		t.Errorf("news: %+v", m.News)
	}
	if m := got[2].Message; m.Type != "menu" || m.Menu == nil || m.Menu.Head != "Pick" || len(m.Menu.Items) != 2 || m.Menu.Items[0] != (channels.MenuItem{ID: "a", Text: "A kinds"}) {
		t.Errorf("menu: %+v", m.Menu)
	}
	if m := got[3].Message; m.Type != "text" || m.Text != "plain kinds" {
		t.Errorf("text: %+v", m)
	}
	if n := len(h.ch.DeliveredTo("main", "alice")); n != 4 {
		t.Errorf("%d delivered", n)
	}
}

func TestStepAskExpectKinds(t *testing.T) {
	t.Parallel()
	text := func(s string) channels.Event { return channels.Event{Kind: channels.Text, Text: s} }
	tests := []struct {
		expect  string // the ask's keys besides the question, save and invalid
		show    string // how the saved answer is shown
		bad     channels.Event
		good    channels.Event
		saved   string
		invalid string // the default invalid text, when the ask gives none
	}{
		{expect: "expect: text", bad: channels.Event{Kind: channels.Image, MediaID: "m"}, good: text("  hello  "), saved: "hello"},
		{expect: "expect: number\n    min: 1\n    max: 12", bad: text("13"), good: text("１２"), saved: "12",
			invalid: "Please reply with a number from 1 to 12."},
		{expect: "expect: number", bad: text("twelve"), good: text("-2.5"), saved: "-2.5"},
		{expect: "expect: email", bad: text("alice@"), good: text("alice@example.com"), saved: "alice@example.com"},
		{expect: "expect: phone", bad: text("12345"), good: text("138 0013 8000"), saved: "13800138000"},
		{expect: "expect: url", bad: text("example.com"), good: text("https://example.com/x"), saved: "https://example.com/x"},
		{expect: "expect: date", bad: text("tomorrow"), good: text("2026年12月1日"), saved: "2026-12-01"},
		{expect: "expect: location", show: "${vars.x.label} ${vars.x.lat}", bad: text("Shanghai"),
			good: channels.Event{Kind: channels.Location, Location: &channels.Geo{Lat: 31.5, Lng: 121.25, Label: "Bund"}}, saved: "Bund 31.5"},
		{expect: "expect: image", bad: text("a picture"), good: channels.Event{Kind: channels.Image, MediaID: "MEDIA_9"}, saved: "MEDIA_9",
			invalid: "Please send an image."},
		{expect: "expect: choice\n    choices: { yes: [y, yes, 是], no: [n, no, 不] }", bad: text("maybe"), good: text(" Y "), saved: "yes"},
		{expect: `pattern: "^[0-9]{6}$"`, bad: text("12345"), good: text("123456"), saved: "123456"},
		{expect: "expect: pattern\n    pattern: \"[A-Z]{2}[0-9]+\"", bad: text("XAB12"), good: text("AB12"), saved: "AB12"},
	}
	for _, tc := range tests {
		t.Run(strings.Fields(tc.expect)[1], func(t *testing.T) {
			t.Parallel()
			show := tc.show
			if show == "" {
				show = "${vars.x}"
			}
			invalid := "\n    invalid: \"bad answer\""
			wantInvalid := "bad answer"
			if tc.invalid != "" {
				invalid, wantInvalid = "", tc.invalid
			}
			h := newHarness(t, map[string]string{"q.yaml": `name: q
triggers: [{keyword: [go]}]
steps:
  - ask: "question"
    ` + tc.expect + `
    save: vars.x` + invalid + `
  - send: "got ` + show + `"
`})
			h.say("go")
			h.send(tc.bad)
			h.send(tc.good)
			h.wantTranscript("question | " + wantInvalid + " | got " + tc.saved)
			h.wantRuns("q:completed")
		})
	}
}

func TestStepAskRetriesAndOnInvalid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"q.yaml": `name: q
triggers: [{keyword: [go]}]
steps:
  - ask: "Pick a number"
    expect: number
    retries: 1
    invalid: "Numbers only, ${contact.id}"
    on_invalid: gave_up
    save: vars.n
  - send: "n=${vars.n}"
  - end
  - id: gave_up
    send: "giving up"
`,
		"strict.yaml": `name: strict
triggers: [{keyword: [strict]}]
steps:
  - ask: "Number?"
    expect: number
    retries: 0
  - send: "not reached"
`,
		"default.yaml": `name: default
triggers: [{keyword: [default]}]
steps:
  - ask: "Email?"
    expect: email
  - send: "thanks"
`,
	})
	h.say("go")
	h.say("a")
	h.wantRuns("q:waiting_reply")
	if r := h.only("q"); r.State.Attempts != 1 {
		t.Fatalf("attempts %d after one invalid answer", r.State.Attempts)
	}
	h.say("b")
	h.wantTranscript("Pick a number | Numbers only, alice | giving up")
	h.wantRuns("q:completed")

	h.say("strict")
	h.say("x")
	h.wantRuns("q:completed strict:invalid")

	// Two retries by default: the third invalid answer ends the run.
	h.say("default")
	h.say("x")
	h.say("y")
	h.wantRuns("q:completed strict:invalid default:waiting_reply")
	h.say("z")
	h.wantRuns("q:completed strict:invalid default:invalid")
	h.wantTranscript("Pick a number | Numbers only, alice | giving up | Number? | " +
		"Email? | Please reply with an email address, e.g. name@example.com. | Please reply with an email address, e.g. name@example.com.")
}

func TestStepAskTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"q.yaml": `name: q
triggers: [{keyword: [go]}]
steps:
  - ask: "Name?"
    timeout: 1h
    on_timeout: late
    save: vars.name
  - send: "Hi ${vars.name}"
  - end
  - id: late
    send: "too late"
`,
		"plain.yaml": `name: plain
triggers: [{keyword: [plain]}]
steps:
  - ask: "Name?"
  - send: "not reached"
`,
		"echo.yaml": flowSending("echo", "- message:\n    priority: -10"),
	})
	h.say("go")
	h.advance(59 * time.Minute)
	h.wantRuns("q:waiting_reply")
	h.advance(time.Minute)
	h.wantRuns("q:completed")
	h.say("Alice") // nobody waits now: the message flow takes it
	h.wantTranscript("Name? | too late | echo")

	// Without on_timeout the run ends timed_out, by default after 24h;
	// an invalid answer gives a fresh timeout.
	h.say("plain")
	h.advance(23 * time.Hour)
	h.send(channels.Event{Kind: channels.Image, MediaID: "m"})
	h.advance(23 * time.Hour)
	h.wantRuns("q:completed echo:completed plain:waiting_reply")
	h.advance(time.Hour)
	h.wantRuns("q:completed echo:completed plain:timed_out")
	h.wantTranscript("Name? | too late | echo | Name? | Please reply with a text message.")
	var timers int
	h.view(func(tx engine.ReadTx) error {
		counts, err := tx.Counts()
		timers = counts["timers"]
		return err
	})
	if timers != 0 {
		t.Fatalf("%d timers left", timers)
	}
}

func TestStepAnswerCancelsTheTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"q.yaml": `name: q
triggers: [{keyword: [go]}]
steps:
  - ask: "Name?"
    timeout: 1h
    on_timeout: late
  - wait: 2h
  - send: "after the wait"
  - end
  - id: late
    send: "too late"
`})
	h.say("go")
	h.say("Alice")
	h.advance(time.Hour) // the ask's timer must not fire into the wait
	h.wantRuns("q:waiting_time")
	h.advance(time.Hour)
	h.wantRuns("q:completed")
	h.wantTranscript("Name? | after the wait")
}

func TestStepBranch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"grade.yaml": `name: grade
triggers:
  - keyword: { pattern: "^score ([0-9]+)$" }
steps:
  - set: { vars.score: "${int(event.match[1])}" }
  - branch:
      - if: vars.score >= 90
        then:
          - send: "A"
          - branch:
              - if: vars.score == 100
                goto: perfect
              - else:
                  - send: "almost perfect"
          - send: "end of A"
      - if: vars.score >= 50
        goto: pass
      - if: vars.score >= 30
        then: []
      - else: fail
  - send: "after"
  - end
  - id: pass
    send: "pass"
  - end
  - id: perfect
    send: "perfect"
  - end
  - id: fail
    send: "fail"
`})
	for _, s := range []string{"95", "100", "60", "30", "10"} {
		h.say("score " + s)
	}
	h.wantTranscript("A | almost perfect | end of A | after | A | perfect | pass | after | fail")
	h.wantRuns(strings.TrimSpace(strings.Repeat("grade:completed ", 5)))
}

func TestStepIfSkipsAndEndEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [message]
steps:
  - send: "one"
  - if: event.text == "stop"
    end:
  - if: event.text == "skip"
    send: "skipped"
  - send: "two"
`})
	h.say("stop")
	h.say("skip")
	h.say("go")
	h.wantTranscript("one | one | skipped | two | one | two")
	h.wantRuns("f:completed f:completed f:completed")
}

func TestStepHours(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"away.yaml": `name: away
triggers: [{keyword: [hours]}]
steps:
  - hours:
      timezone: Asia/Shanghai
      open: { mon-fri: "09:00-18:00", sat: "10:00-12:00" }
      holidays: [2026-11-24]
      workdays: [2026-11-29]
    when_open:
      - send: "open ${now.Weekday()}"
    when_closed: closed
  - end
  - id: closed
    send: "closed"
`})
	at := func(s string) {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Set(tm)
		h.say("hours")
	}
	h.say("hours")             // Friday 18:00 in Shanghai: the end is excluded
	at("2026-11-23T00:59:00Z") // Monday 08:59
	at("2026-11-23T01:00:00Z") // Monday 09:00
	at("2026-11-24T02:00:00Z") // Tuesday, a holiday
	at("2026-11-28T02:30:00Z") // Saturday 10:30
	at("2026-11-28T04:00:00Z") // Saturday 12:00
	at("2026-11-29T02:00:00Z") // Sunday, a make-up workday: weekday hours
	at("2026-11-29T09:59:00Z") // Sunday 17:59
	at("2026-12-06T02:00:00Z") // an ordinary Sunday
	h.wantTranscript("closed | closed | open Monday | closed | open Saturday | closed | open Sunday | open Sunday | closed")
}

func TestStepWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"w.yaml": `name: w
triggers: [{keyword: [go]}]
steps:
  - send: "one"
  - wait: 2h
  - send: "two"
  - wait:
    until: now.Add(duration("3h"))
  - send: "three"
  - wait:
    until: date("2026-11-21T09:00:00Z")
  - send: "four"
  - wait:
    until: date("2020-01-01T00:00:00Z")
  - send: "five"
`})
	h.say("go")
	h.advance(2*time.Hour - time.Minute)
	h.wantTranscript("one")
	h.advance(time.Minute)
	h.wantTranscript("one | two")
	h.advance(3*time.Hour - time.Second)
	h.wantTranscript("one | two")
	h.advance(time.Second)
	h.wantTranscript("one | two | three")
	h.clock.Set(time.Date(2026, 11, 21, 8, 59, 59, 0, time.UTC))
	h.fire()
	h.wantRuns("w:waiting_time")
	h.advance(time.Second)
	h.wantTranscript("one | two | three | four | five")
	h.wantRuns("w:completed")
}

func TestStepSetPersists(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"s.yaml": `name: s
triggers: [{keyword: {pattern: "^visit (.+)$"}}]
steps:
  - set:
      vars.count: 3
      vars.total: "${vars.count * 2}"
      vars.label: "n=${vars.count}"
      vars.obj: { city: "${event.match[1]}", list: [1, "${vars.count}"] }
      contact.fields.city: "${event.match[1]}"
      contact.fields.visits: "${(contact.fields.visits ?? 0) + 1}"
  - wait: 1m
  - send: "${vars.total} ${vars.label} ${vars.obj.city} ${vars.obj.list[1]} ${contact.fields.city} ${contact.fields.visits}"
`})
	h.say("visit Shanghai")
	h.advance(time.Minute) // the vars come back from the store
	h.say("visit Beijing")
	h.advance(time.Minute)
	h.wantTranscript("6 n=3 Shanghai 3 Shanghai 1 | 6 n=3 Beijing 3 Beijing 2")
	r := h.runs("s")[1]
	if r.State.Vars["total"] != float64(6) || r.State.Vars["label"] != "n=3" {
		t.Fatalf("vars %#v", r.State.Vars)
	}
	c := h.contact("alice")
	if c.Fields["city"] != "Beijing" || c.Fields["visits"] != float64(2) {
		t.Fatalf("fields %#v", c.Fields)
	}
}

func TestStepTagUntagPersist(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - tag: [newbie, "store_${event.scene}"]
`,
		"upgrade.yaml": `name: upgrade
triggers: [{keyword: [upgrade]}]
steps:
  - tag: [vip, vip]
  - untag: [newbie, never_had]
  - send: "${join(contact.tags, ',')}"
`,
	})
	h.follow("s1")
	if c := h.contact("alice"); strings.Join(c.Tags, ",") != "newbie,store_s1" {
		t.Fatalf("tags after follow: %v", c.Tags)
	}
	h.say("upgrade")
	h.wantTranscript("store_s1,vip")
	if c := h.contact("alice"); strings.Join(c.Tags, ",") != "store_s1,vip" {
		t.Fatalf("tags after upgrade: %v", c.Tags)
	}
}

// server is a loopback HTTP service for the http step.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newServer(t *testing.T) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, fmt.Sprintf("%s %s token=%s type=%s %s", r.Method, r.URL.Path, r.Header.Get("X-Token"), r.Header.Get("Content-Type"), body))
		s.mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Trace", "t1")
			json.NewEncoder(w).Encode(map[string]any{"status": "shipped", "items": []int{1, 2}})
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "try later")
		case "/slow":
			<-r.Context().Done() // answers only when the client gives up
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

func TestStepHTTP(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	h := newHarnessWith(t, map[string]string{"lookup.yaml": `name: lookup
triggers:
  - keyword: { pattern: "^(ok|fail|slow) ([0-9]+)$" }
steps:
  - http:
      method: POST
      url: "` + srv.URL + `/${event.match[1]}"
      headers: { X-Token: "t-${event.match[2]}" }
      json: { order: "${event.match[2]}", n: "${int(event.match[2])}" }
      timeout: 50ms
      save: vars.lookup
    on_error: failed
  - send: "${vars.lookup.body.status} ${vars.lookup.body.items[1]} ${http.status} ${http.headers['X-Trace']} ${vars.lookup.headers['X-Trace']}"
  - end
  - id: failed
    send: "failed: status ${http.status}, body ${http.body}"
`}, opts{tune: func(c *engine.Config) { c.HTTPClient = plainClient() }})
	h.say("ok 42")
	h.wantTranscript("shipped 2 200 t1 t1")
	if got := srv.requests(); len(got) != 1 || got[0] != `POST /ok token=t-42 type=application/json {"n":42,"order":"42"}` {
		t.Fatalf("requests %q", got)
	}
	r := h.only("lookup")
	if r.Status != engine.RunCompleted || r.State.Request != nil {
		t.Fatalf("run %s, request %v", r.Status, r.State.Request)
	}
	h.say("fail 7")
	h.say("slow 8")
	h.wantTranscript("shipped 2 200 t1 t1 | failed: status 503, body try later | failed: status 0, body ")
	h.wantRuns("lookup:completed lookup:completed lookup:completed")
}

func TestStepHTTPWithoutOnErrorGoesOn(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	h := newHarnessWith(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - http:
      url: "` + srv.URL + `/fail"
  - send: "went on: ${http.status}"
`}, opts{tune: func(c *engine.Config) { c.HTTPClient = plainClient() }})
	h.say("go")
	h.wantTranscript("went on: 503")
	if got := srv.requests(); len(got) != 1 || !strings.HasPrefix(got[0], "GET /fail") {
		t.Fatalf("requests %q", got)
	}
}

func TestStepGotoStopsLooping(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"loop.yaml": `name: loop
triggers: [{keyword: [loop]}]
steps:
  - set: { vars.n: 0 }
  - id: top
    set: { vars.n: "${vars.n + 1}" }
  - goto: top
`})
	h.say("loop")
	r := h.only("loop")
	if r.Status != engine.RunLooping || r.State.Jumps != 101 || r.State.Vars["n"] != float64(101) || !strings.Contains(r.State.Error, "100 jumps") {
		t.Fatalf("run %s jumps %d vars %v error %q", r.Status, r.State.Jumps, r.State.Vars, r.State.Error)
	}
}

func TestStepGotoLongLoopUnderTheJumpLimitCompletes(t *testing.T) {
	t.Parallel()
	// A run stops as looping only after 100 jumps (FLOW-LANGUAGE.md,
	// goto): a loop of 99 jumps over a long body is no loop, however
	// many steps it runs. (The step safety net stopped it as failed,
	// "too many steps", after 10,000 steps.)
	var b strings.Builder
	b.WriteString("name: long\ntriggers: [{keyword: [long]}]\nsteps:\n  - set: { vars.n: 0 }\n  - id: top\n    set: { vars.n: \"${vars.n + 1}\" }\n")
	for i := 1; i <= 120; i++ {
		fmt.Fprintf(&b, "  - if: vars.n == -%d\n    tag: [t%d]\n", i, i)
	}
	b.WriteString("  - if: vars.n < 100\n    goto: top\n  - send: \"done ${vars.n}\"\n")
	h := newHarness(t, map[string]string{"long.yaml": b.String()})
	h.say("long")
	h.wantTranscript("done 100")
	h.wantRuns("long:completed")
}

func TestStepGotoJumpsResetWhenTheRunWaits(t *testing.T) {
	t.Parallel()
	// A menu bot that jumps back to its question after every answer is
	// not a loop: the jump limit counts jumps between two waits.
	h := newHarnessWith(t, map[string]string{"help.yaml": `name: help
triggers: [{keyword: [help]}]
steps:
  - id: menu
    ask: "1 or 2?"
    expect: choice
    choices: { one: ["1"], two: ["2"] }
    save: vars.c
  - branch:
      - if: vars.c == "one"
        goto: menu
  - send: "bye"
`}, opts{tune: func(c *engine.Config) { c.MaxJumps = 2 }})
	h.say("help")
	for i := 0; i < 5; i++ {
		h.say("1")
	}
	h.wantRuns("help:waiting_reply")
	h.say("2")
	h.wantRuns("help:completed")
}

func TestStepStartStartsAnotherFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"main.yaml": `name: main
triggers: [{keyword: [go]}]
steps:
  - send: "main 1"
  - start: other
  - send: "main 2"
`,
		"other.yaml": `name: other
triggers: []
steps:
  - send: "other saw ${event.text}"
  - ask: "other asks"
  - send: "other got ${answer}"
`,
	})
	h.say("go")
	h.wantRuns("main:completed other:waiting_reply")
	h.say("yes")
	h.wantRuns("main:completed other:completed")
	h.wantTranscript("main 1 | main 2 | other saw go | other asks | other got yes")
}

func TestStepStartFromAWaitingRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"main.yaml": `name: main
triggers: [{keyword: [go]}]
steps:
  - wait: 1h
  - start: other
  - wait: 1h
  - send: "main done"
`,
		"other.yaml": `name: other
triggers: []
steps:
  - send: "other"
`,
	})
	h.say("go")
	h.advance(time.Hour)
	h.wantRuns("main:waiting_time other:completed")
	h.advance(time.Hour)
	h.wantRuns("main:completed other:completed")
	h.wantTranscript("other | main done")
}

func TestStepGotoIntoANestedList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - goto: inner
  - send: "skipped"
  - branch:
      - if: false
        then:
          - send: "not taken"
          - id: inner
            send: "inner"
          - send: "inner next"
  - send: "after the branch"
`})
	h.say("go")
	h.wantTranscript("inner | inner next | after the branch")
	h.wantRuns("f:completed")
}

func TestStepFailingExpressionFailsTheRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
steps:
  - send: "before"
  - send: "${vars.missing.Year()}"
  - send: "after"
vars: { missing: any }
`})
	h.say("go")
	r := h.only("f")
	if r.Status != engine.RunFailed || !strings.Contains(r.State.Error, "line 5") || r.EndedAt.IsZero() {
		t.Fatalf("run %s: %q", r.Status, r.State.Error)
	}
	h.wantTranscript("before")
}

// TestFailedStepChangesNothing: a step that fails leaves the contact's
// fields and tags and the run's variables as they were before it: a
// set: whose second value failed (arithmetic on a variable not given)
// had written its first, a contact field, which stayed on the contact
// though the run failed at that step. Found by a scenario whose
// expect_contact saw the field a failed set: step wrote.
func TestFailedStepChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
vars: { missing: number }
steps:
  - set: { contact.fields.city: Paris, vars.n: 1 }
  - tag: [seen]
  - set:
      contact.fields.city: Rome
      contact.fields.plan: gold
      vars.n: 2
      vars.total: "${vars.missing + 1}"
`})
	h.say("go")
	r := h.only("f")
	if r.Status != engine.RunFailed || !strings.Contains(r.State.Error, "vars.total") {
		t.Fatalf("run %s: %q", r.Status, r.State.Error)
	}
	if fmt.Sprint(r.State.Vars["n"]) != "1" || len(r.State.Vars) != 1 {
		t.Errorf("vars %v, want n=1 only", r.State.Vars)
	}
	c := h.contact("alice")
	if c.Fields["city"] != "Paris" || c.Fields["plan"] != nil || len(c.Fields) != 1 || !c.HasTag("seen") {
		t.Errorf("contact fields %v tags %v, want city=Paris and the tag seen", c.Fields, c.Tags)
	}
}

// TestValuesKeepTheirKindAcrossAWait: a run's variables and a contact's
// fields are kept as JSON while the run waits; a time (also inside a map
// or a variable of type any), a duration, an integer beyond 2^53 and an
// infinity are the same after the wait as before it.
func TestValuesKeepTheirKindAcrossAWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"f.yaml": `name: f
triggers: [{keyword: [go]}]
vars: { x: any }
steps:
  - set: { contact.fields.when: "${now}", vars.m: {t: "${now}", "$time": "mine"}, vars.x: "${now}", vars.id: 1790000000000000123, vars.d: '${duration("90m")}', vars.inf: "${1/0}" }
  - send: "${type(contact.fields.when)} ${type(vars.m.t)} ${type(vars.x)} ${vars.id} ${vars.d} ${vars.inf} ${vars.m['$time']}"
  - wait: 1m
  - send: "${type(contact.fields.when)} ${type(vars.m.t)} ${type(vars.x)} ${vars.id} ${vars.d} ${vars.inf} ${vars.m['$time']}"
  - send: "${vars.m.t.Year() == now.Year() && contact.fields.when < now}"
`})
	h.say("go")
	h.advance(2 * time.Minute)
	same := "time.Time time.Time time.Time 1790000000000000123 1h30m0s +Inf mine"
	h.wantTranscript(same + " | " + same + " | true")
	h.wantRuns("f:completed")
}

// TestFlowsSeeTimesInTheServersZone: every time a flow sees is in the
// config's zone, as now is: a trigger's if: read now in the machine's
// zone, and event.at, contact.first_seen and the window's end were
// written in another zone than now in one message.
func TestFlowsSeeTimesInTheServersZone(t *testing.T) {
	t.Parallel()
	shanghai := time.FixedZone("CST", 8*3600)
	// t0 is 10:00 UTC, 18:00 in Shanghai.
	h := newHarnessWith(t, map[string]string{"f.yaml": `name: f
triggers:
  - keyword: [go]
    if: now.Hour() == 18
steps:
  - send: "${now} ${event.at} ${contact.first_seen} ${contact.last_seen} ${contact.window.expires_at}"
`}, opts{tune: func(c *engine.Config) { c.Zone = shanghai }})
	h.say("go")
	h.wantTranscript("2026-11-20T18:00:00+08:00 2026-11-20T18:00:00+08:00 2026-11-20T18:00:00+08:00 2026-11-20T18:00:00+08:00 2026-11-22T18:00:00+08:00")
}
