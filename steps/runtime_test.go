package steps_test

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// fakeRuntime is a steps.Runtime made of plain fields: it records what the
// steps ask of it and applies saves to its environment, as the engine does.
type fakeRuntime struct {
	env flows.Env
	now time.Time
	// refuse makes Send report that the channel's policy refused the
	// message.
	refuse bool
	// startErr is what Start returns.
	startErr error

	sent     []string // the rendered text of each message, or its type
	saved    map[string]any
	answer   any
	answered bool
	http     *flows.HTTPEnv
	tagged   []string
	untagged []string
	started  []string
	// startVars are the variables each Start gave.
	startVars []map[string]any
	// conv records the conversation methods' calls.
	conv conversationLog
}

var testNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func newRuntime() *fakeRuntime {
	return &fakeRuntime{
		now:   testNow,
		env:   flows.Env{Now: testNow, Vars: map[string]any{}, Contact: flows.ContactEnv{ID: "o123", Fields: map[string]any{}}},
		saved: map[string]any{},
	}
}

func (f *fakeRuntime) Env() *flows.Env { return &f.env }
func (f *fakeRuntime) Now() time.Time  { return f.now }

func (f *fakeRuntime) Send(msg *flows.Message) (bool, error) {
	if msg.Type != "text" {
		f.sent = append(f.sent, msg.Type)
		return !f.refuse, nil
	}
	text, err := msg.Text.Render(&f.env)
	if err != nil {
		return false, err
	}
	f.sent = append(f.sent, text)
	return !f.refuse, nil
}

func (f *fakeRuntime) Save(path string, value any) error {
	f.saved[path] = value
	switch {
	case strings.HasPrefix(path, "vars."):
		f.env.Vars[strings.TrimPrefix(path, "vars.")] = value
	case strings.HasPrefix(path, "contact.fields."):
		f.env.Contact.Fields[strings.TrimPrefix(path, "contact.fields.")] = value
	default:
		return errors.New("bad save path")
	}
	return nil
}

func (f *fakeRuntime) SetAnswer(v any)            { f.answer, f.answered = v, true }
func (f *fakeRuntime) SetHTTP(resp flows.HTTPEnv) { f.http = &resp }
func (f *fakeRuntime) Tag(tags ...string)         { f.tagged = append(f.tagged, tags...) }
func (f *fakeRuntime) Untag(tags ...string)       { f.untagged = append(f.untagged, tags...) }
func (f *fakeRuntime) Start(flow string, vars map[string]any) error {
	f.started = append(f.started, flow)
	f.startVars = append(f.startVars, vars)
	return f.startErr
}
func (f *fakeRuntime) event(e flows.EventEnv) *fakeRuntime { f.env.Event = e; return f }

// load builds a flow whose steps are stepsYAML plus targets for the step
// ids the tests jump to, and returns its first step.
func load(t *testing.T, stepsYAML string) *flows.Step {
	t.Helper()
	src := "name: a\ntriggers: [follow]\nsteps:\n" + stepsYAML +
		"  - id: fallback\n    end:\n  - id: menu\n    end:\n" + declareVars(stepsYAML)
	f, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
	if diags.HasErrors() {
		t.Fatalf("flow does not load:\n%s\n%v", src, diags)
	}
	return f.Steps[0]
}

var reVarRead = regexp.MustCompile(`vars\.([A-Za-z_][A-Za-z0-9_]*)`)

// declareVars returns a last `vars:` line of a flow declaring, as any, the
// variables the steps read, since a flow may read only the variables it
// writes or declares. It comes last so that lines keep their numbers.
func declareVars(stepsYAML string) string {
	seen := map[string]bool{}
	var names []string
	for _, m := range reVarRead.FindAllStringSubmatch(stepsYAML, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1]+": any")
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "vars: { " + strings.Join(names, ", ") + " }\n"
}

func run(t *testing.T, rt steps.Runtime, s *flows.Step) (steps.Outcome, error) {
	t.Helper()
	st := steps.Lookup(s.Kind)
	if st == nil {
		t.Fatalf("no runtime for %q", s.Kind)
	}
	return st.Run(rt, s)
}

func resume(t *testing.T, rt steps.Runtime, s *flows.Step, in steps.Input) (steps.Outcome, error) {
	t.Helper()
	r, ok := steps.Lookup(s.Kind).(steps.Resumer)
	if !ok {
		t.Fatalf("%q does not resume", s.Kind)
	}
	return r.Resume(rt, s, in)
}

// sameOutcome compares the parts of an outcome the tests care about:
// kind, target, status, until, attempts and the entered steps' kinds.
func sameOutcome(t *testing.T, got, want steps.Outcome) {
	t.Helper()
	if got.Kind != want.Kind || got.Target != want.Target || got.Status != want.Status ||
		!got.Until.Equal(want.Until) || got.Attempts != want.Attempts {
		t.Fatalf("outcome = %s %q status=%q until=%v attempts=%d, want %s %q status=%q until=%v attempts=%d",
			got.Kind, got.Target, got.Status, got.Until, got.Attempts,
			want.Kind, want.Target, want.Status, want.Until, want.Attempts)
	}
	if len(got.Steps) != len(want.Steps) {
		t.Fatalf("entered %d steps, want %d", len(got.Steps), len(want.Steps))
	}
}

func enter(kinds ...string) steps.Outcome {
	out := steps.Outcome{Kind: steps.Enter, Steps: []*flows.Step{}}
	for _, k := range kinds {
		out.Steps = append(out.Steps, &flows.Step{Kind: k})
	}
	return out
}

var next = steps.Outcome{Kind: steps.Next}

func gotoRef(id string) steps.Outcome {
	return steps.Outcome{Kind: steps.Goto, Target: flows.StepRef(id)}
}

func TestEveryKindHasRuntime(t *testing.T) {
	t.Parallel()
	for _, spec := range flows.StepSpecs() {
		if steps.Lookup(spec.Kind) == nil {
			t.Errorf("step kind %q has no runtime", spec.Kind)
		}
	}
	for _, kind := range []string{"ask", "wait", "http"} {
		if _, ok := steps.Lookup(kind).(steps.Resumer); !ok {
			t.Errorf("%q is not a Resumer", kind)
		}
	}
}

func TestSimpleSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		setup   func(rt *fakeRuntime)
		want    steps.Outcome
		wantErr string
		check   func(t *testing.T, rt *fakeRuntime)
	}{
		{name: "send text", yaml: "  - send: \"Hi ${contact.id}\"\n", want: next,
			check: func(t *testing.T, rt *fakeRuntime) { wantStrings(t, rt.sent, "Hi o123") }},
		{name: "send refused goes on", yaml: "  - send: hi\n", setup: func(rt *fakeRuntime) { rt.refuse = true }, want: next},
		{name: "send refused on_fail", yaml: "  - send: hi\n    on_fail: fallback\n", setup: func(rt *fakeRuntime) { rt.refuse = true }, want: gotoRef("fallback")},
		{name: "send with on_fail waits for the outcome", yaml: "  - send: hi\n    on_fail: fallback\n", want: steps.Outcome{Kind: steps.WaitSent}},
		{name: "send render error", yaml: "  - send: \"Hi ${vars.x.Year()}\"\n", wantErr: "send: "},
		{name: "goto", yaml: "  - goto: menu\n", want: gotoRef("menu")},
		{name: "start", yaml: "  - start: survey\n", want: next,
			check: func(t *testing.T, rt *fakeRuntime) { wantStrings(t, rt.started, "survey") }},
		{name: "start with vars", yaml: "  - start:\n      flow: order-status\n      vars: { order_id: \"${vars.order}\", n: 2, note: \"for ${contact.id}\" }\n", want: next,
			setup: func(rt *fakeRuntime) { rt.env.Vars["order"] = "A123" },
			check: func(t *testing.T, rt *fakeRuntime) {
				wantStrings(t, rt.started, "order-status")
				if got := fmt.Sprint(rt.startVars); got != "[map[n:2 note:for o123 order_id:A123]]" {
					t.Fatalf("vars given: %s", got)
				}
			}},
		{name: "start error", yaml: "  - start: survey\n", setup: func(rt *fakeRuntime) { rt.startErr = errors.New("no such flow") }, wantErr: "start: survey: no such flow"},
		{name: "end", yaml: "  - end\n", want: steps.Outcome{Kind: steps.End, Status: "completed"}},
		{name: "tag", yaml: "  - tag: [vip, \"store_${event.scene}\", \"${vars.empty}\", \"${vars.blank}\"]\n", want: next,
			setup: func(rt *fakeRuntime) {
				rt.env.Event.Scene = "s1"
				rt.env.Vars["empty"] = ""
				rt.env.Vars["blank"] = " "
			},
			check: func(t *testing.T, rt *fakeRuntime) {
				wantStrings(t, rt.tagged, "vip", "store_s1")
				wantStrings(t, rt.untagged)
			}},
		{name: "untag", yaml: "  - untag: [wants_human, \"${vars.n}\"]\n", want: next,
			setup: func(rt *fakeRuntime) { rt.env.Vars["n"] = 7 },
			check: func(t *testing.T, rt *fakeRuntime) {
				wantStrings(t, rt.untagged, "wants_human", "7")
				wantStrings(t, rt.tagged)
			}},
		{name: "tag nothing left", yaml: "  - tag: [\"${vars.empty}\"]\n", want: next,
			setup: func(rt *fakeRuntime) { rt.env.Vars["empty"] = "" },
			check: func(t *testing.T, rt *fakeRuntime) { wantStrings(t, rt.tagged) }},
		{name: "tag render error", yaml: "  - tag: [\"${vars.x.Year()}\"]\n", wantErr: "tag: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			if tt.setup != nil {
				tt.setup(rt)
			}
			got, err := run(t, rt, load(t, tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
			if tt.check != nil {
				tt.check(t, rt)
			}
		})
	}
}

func wantStrings(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestAskRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		refuse  bool
		want    steps.Outcome
		wantErr string
	}{
		{name: "default timeout", yaml: "  - ask: \"Your name, ${contact.id}?\"\n",
			want: steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(flows.DefaultAskTimeout)}},
		{name: "timeout", yaml: "  - ask: q\n    timeout: 30m\n",
			want: steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(30 * time.Minute)}},
		{name: "refused question still waits", yaml: "  - ask: q\n", refuse: true,
			want: steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour)}},
		{name: "render error", yaml: "  - ask: \"${vars.x.Year()}\"\n", wantErr: "ask: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			rt.refuse = tt.refuse
			got, err := run(t, rt, load(t, tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
			if len(rt.sent) != 1 {
				t.Fatalf("sent %q, want the question", rt.sent)
			}
		})
	}
	t.Run("question text", func(t *testing.T) {
		t.Parallel()
		rt := newRuntime()
		if _, err := run(t, rt, load(t, "  - ask: \"Your name, ${contact.id}?\"\n")); err != nil {
			t.Fatal(err)
		}
		wantStrings(t, rt.sent, "Your name, o123?")
	})
}

func text(s string) flows.EventEnv { return flows.EventEnv{Type: "text", Text: s} }

func TestAskExpect(t *testing.T) {
	t.Parallel()
	const choices = "    expect: choice\n    choices:\n      hours: [\"1\", hours, 营业时间]\n      order: [\"2\", Order]\n"
	loc := flows.EventEnv{Type: "location", Location: flows.LocationEnv{Lat: 31.23, Lng: 121.47, Scale: 15, Label: "People's Square"}}
	tests := []struct {
		name  string
		keys  string // the ask's keys besides ask: and save:
		event flows.EventEnv
		want  any // nil: the answer is invalid
	}{
		{"text", "", text("  Alice "), "Alice"},
		{"text empty", "", text("   "), nil},
		{"text from an image", "", flows.EventEnv{Type: "image", MediaID: "m1"}, nil},
		{"explicit text", "    expect: text\n", text("hi"), "hi"},

		{"number", "    expect: number\n", text("12"), 12.0},
		{"number decimal", "    expect: number\n", text("12.5"), 12.5},
		{"number negative", "    expect: number\n", text("-3"), -3.0},
		{"number full-width", "    expect: number\n", text("１２"), 12.0},
		{"number words", "    expect: number\n", text("twelve"), nil},
		{"number exponent", "    expect: number\n", text("1e3"), nil},
		{"number NaN", "    expect: number\n", text("NaN"), nil},
		{"number hex", "    expect: number\n", text("0x10"), nil},
		{"number with unit", "    expect: number\n", text("12 people"), nil},
		{"number at max", "    expect: number\n    min: 1\n    max: 12\n", text("12"), 12.0},
		{"number at min", "    expect: number\n    min: 1\n    max: 12\n", text("1"), 1.0},
		{"number above max", "    expect: number\n    min: 1\n    max: 12\n", text("13"), nil},
		{"number below min", "    expect: number\n    min: 1\n    max: 12\n", text("0.5"), nil},

		{"email", "    expect: email\n", text("alice@example.com"), "alice@example.com"},
		{"email full-width at", "    expect: email\n", text("alice＠example.com"), "alice@example.com"},
		{"email no domain dot", "    expect: email\n", text("alice@example"), nil},
		{"email space", "    expect: email\n", text("ali ce@example.com"), nil},
		{"email two ats", "    expect: email\n", text("a@b@example.com"), nil},

		{"phone mobile", "    expect: phone\n", text("138 1234-5678"), "13812345678"},
		{"phone international", "    expect: phone\n", text("+44 20 7946 0958"), "+442079460958"},
		{"phone 00 prefix", "    expect: phone\n", text("0086 138 1234 5678"), "+8613812345678"},
		{"phone full-width", "    expect: phone\n", text("１３８１２３４５６７８"), "13812345678"},
		{"phone 11 digits not 1", "    expect: phone\n", text("23812345678"), nil},
		{"phone too short", "    expect: phone\n", text("+12345"), nil},
		{"phone too long", "    expect: phone\n", text("+1234567890123456"), nil},
		{"phone letters", "    expect: phone\n", text("138-CALL-ME"), nil},

		{"url", "    expect: url\n", text("https://example.com/a?b=1"), "https://example.com/a?b=1"},
		{"url http", "    expect: url\n", text("http://example.com"), "http://example.com"},
		{"url no scheme", "    expect: url\n", text("example.com"), nil},
		{"url ftp", "    expect: url\n", text("ftp://example.com"), nil},
		{"url no host", "    expect: url\n", text("https://"), nil},

		{"date", "    expect: date\n", text("2026-10-01"), "2026-10-01"},
		{"date slashes", "    expect: date\n", text("2026/10/1"), "2026-10-01"},
		{"date dots", "    expect: date\n", text("2026.10.01"), "2026-10-01"},
		{"date chinese", "    expect: date\n", text("2026年10月1日"), "2026-10-01"},
		{"date full-width", "    expect: date\n", text("２０２６－１０－０１"), "2026-10-01"},
		{"date no such day", "    expect: date\n", text("2026-02-30"), nil},
		{"date words", "    expect: date\n", text("tomorrow"), nil},
		{"date day first", "    expect: date\n", text("01/10/2026"), nil},

		{"location", "    expect: location\n", loc, map[string]any{"lat": 31.23, "lng": 121.47, "label": "People's Square"}},
		{"location as text", "    expect: location\n", text("Shanghai"), nil},

		{"image", "    expect: image\n", flows.EventEnv{Type: "image", MediaID: "m1"}, "m1"},
		{"image as text", "    expect: image\n", text("m1"), nil},
		{"image as voice", "    expect: image\n", flows.EventEnv{Type: "voice", MediaID: "v1"}, nil},

		{"choice", choices, text("1"), "hours"},
		{"choice case and spaces", choices, text("  HOURS "), "hours"},
		{"choice reply written in upper case", choices, text("order"), "order"},
		{"choice chinese", choices, text("营业时间"), "hours"},
		{"choice full-width digit", choices, text("２"), "order"},
		{"choice menu tap by key", choices, flows.EventEnv{Type: "menu", Key: "order", Text: "Track an order"}, "order"},
		{"choice menu tap by reply", choices, flows.EventEnv{Type: "menu", Key: "2"}, "order"},
		{"choice none", choices, text("3"), nil},
		{"choice key is not a reply", choices, text("ORDERS"), nil},

		{"pattern", "    pattern: \"^[0-9]{6,}$\"\n", text("123456"), "123456"},
		{"pattern too short", "    pattern: \"^[0-9]{6,}$\"\n", text("12345"), nil},
		{"pattern whole answer", "    pattern: \"[0-9]{6}\"\n", text("1234567"), nil},
		{"pattern alternation whole", "    pattern: \"a|ab\"\n", text("ab"), "ab"},
		{"pattern with expect text", "    expect: text\n    pattern: \"(?i)^yes$\"\n", text("YES"), "YES"},
		{"expect pattern", "    expect: pattern\n    pattern: \"^[A-Z]{2}[0-9]+$\"\n", text("CN42"), "CN42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := load(t, "  - ask: q\n    save: vars.x\n"+tt.keys)
			rt := newRuntime().event(tt.event)
			got, err := resume(t, rt, s, steps.Input{Kind: steps.Answer})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				sameOutcome(t, got, steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1})
				if rt.answered || len(rt.saved) > 0 {
					t.Fatalf("invalid answer was kept: answer %v, saved %v", rt.answer, rt.saved)
				}
				if len(rt.sent) != 1 {
					t.Fatalf("sent %q, want one invalid reply", rt.sent)
				}
				return
			}
			sameOutcome(t, got, next)
			if !reflect.DeepEqual(rt.answer, tt.want) {
				t.Fatalf("answer = %#v, want %#v", rt.answer, tt.want)
			}
			if !reflect.DeepEqual(rt.saved["vars.x"], tt.want) {
				t.Fatalf("saved = %#v, want %#v", rt.saved["vars.x"], tt.want)
			}
			if len(rt.sent) != 0 {
				t.Fatalf("sent %q after a valid answer", rt.sent)
			}
		})
	}
}

func TestAskWithoutSave(t *testing.T) {
	t.Parallel()
	s := load(t, "  - ask: q\n")
	rt := newRuntime().event(text("hi"))
	got, err := resume(t, rt, s, steps.Input{Kind: steps.Answer})
	if err != nil {
		t.Fatal(err)
	}
	sameOutcome(t, got, next)
	if rt.answer != "hi" || len(rt.saved) != 0 {
		t.Fatalf("answer %v, saved %v", rt.answer, rt.saved)
	}
}

func TestAskInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keys     string
		attempts int
		want     steps.Outcome
		wantSent string // "" when nothing is sent
	}{
		{name: "first invalid", keys: "    expect: number\n", attempts: 0,
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please reply with a number."},
		{name: "second invalid", keys: "    expect: number\n    timeout: 10m\n", attempts: 1,
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(10 * time.Minute), Attempts: 2},
			wantSent: "Please reply with a number."},
		{name: "last retry ends", keys: "    expect: number\n", attempts: 2,
			want: steps.Outcome{Kind: steps.End, Status: "invalid"}},
		{name: "last retry on_invalid", keys: "    expect: number\n    on_invalid: fallback\n", attempts: 2,
			want: gotoRef("fallback")},
		{name: "no retries", keys: "    expect: number\n    retries: 0\n    on_invalid: fallback\n", attempts: 0,
			want: gotoRef("fallback")},
		{name: "more retries", keys: "    expect: number\n    retries: 5\n", attempts: 4,
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 5},
			wantSent: "Please reply with a number."},
		{name: "custom invalid", keys: "    expect: number\n    invalid: \"Sorry ${contact.id}, a number please.\"\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Sorry o123, a number please."},
		{name: "default number range", keys: "    expect: number\n    min: 1\n    max: 12\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please reply with a number from 1 to 12."},
		{name: "default number min", keys: "    expect: number\n    min: 0.5\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please reply with a number of at least 0.5."},
		{name: "default number max", keys: "    expect: number\n    max: 3\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please reply with a number of at most 3."},
		{name: "default choice", keys: "    expect: choice\n    choices: { hours: [\"1\", hours], order: [\"2\", order] }\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please reply with one of: 1, hours, 2, order."},
		{name: "default email", keys: "    expect: email\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please reply with an email address, e.g. name@example.com."},
		{name: "default date", keys: "    expect: date\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please reply with a date as YYYY-MM-DD, e.g. 2026-10-01."},
		{name: "default location", keys: "    expect: location\n",
			want:     steps.Outcome{Kind: steps.WaitReply, Until: testNow.Add(24 * time.Hour), Attempts: 1},
			wantSent: "Please send a location."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := load(t, "  - ask: q\n    save: vars.x\n"+tt.keys)
			rt := newRuntime().event(text("not valid"))
			got, err := resume(t, rt, s, steps.Input{Kind: steps.Answer, Attempts: tt.attempts})
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
			if tt.wantSent == "" {
				wantStrings(t, rt.sent)
			} else {
				wantStrings(t, rt.sent, tt.wantSent)
			}
			if rt.answered || len(rt.saved) > 0 {
				t.Fatalf("invalid answer was kept")
			}
		})
	}
}

// TestAskConversation walks an ask through its retries the way the engine
// does: the Attempts of each WaitReply come back in the next Input.
func TestAskConversation(t *testing.T) {
	t.Parallel()
	s := load(t, "  - ask: How many?\n    expect: number\n    max: 12\n    save: vars.party\n    invalid: Again?\n    on_invalid: fallback\n")
	rt := newRuntime()
	out, err := run(t, rt, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, reply := range []string{"lots", "99", "4"} {
		rt.now = rt.now.Add(time.Minute)
		rt.event(text(reply))
		if out, err = resume(t, rt, s, steps.Input{Kind: steps.Answer, Attempts: out.Attempts}); err != nil {
			t.Fatal(err)
		}
	}
	sameOutcome(t, out, next)
	wantStrings(t, rt.sent, "How many?", "Again?", "Again?")
	if rt.env.Vars["party"] != 4.0 {
		t.Fatalf("vars.party = %#v", rt.env.Vars["party"])
	}
}

func TestAskTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys string
		want steps.Outcome
	}{
		{"on_timeout", "    on_timeout: fallback\n", gotoRef("fallback")},
		{"ends", "", steps.Outcome{Kind: steps.End, Status: "timed_out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			got, err := resume(t, rt, load(t, "  - ask: q\n"+tt.keys), steps.Input{Kind: steps.Timeout, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
			if len(rt.sent) != 0 || rt.answered {
				t.Fatalf("timeout sent %q, answered %v", rt.sent, rt.answered)
			}
		})
	}
	t.Run("wrong input", func(t *testing.T) {
		t.Parallel()
		if _, err := resume(t, newRuntime(), load(t, "  - ask: q\n"), steps.Input{Kind: steps.Elapsed}); err == nil || !strings.HasPrefix(err.Error(), "ask: ") {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestBranch(t *testing.T) {
	t.Parallel()
	const cases = "  - branch:\n" +
		"      - if: vars.n > 10\n        then:\n          - send: big\n          - tag: [big]\n" +
		"      - if: vars.n > 5\n        goto: menu\n" +
		"      - if: vars.n == 5\n        then: []\n"
	tests := []struct {
		name    string
		yaml    string
		n       any
		want    steps.Outcome
		wantErr string
	}{
		{name: "first case", yaml: cases, n: 20, want: enter("send", "tag")},
		{name: "goto case", yaml: cases, n: 7, want: gotoRef("menu")},
		{name: "empty then", yaml: cases, n: 5, want: enter()},
		{name: "no case no else", yaml: cases, n: 1, want: next},
		{name: "else steps", yaml: cases + "      - else:\n          - send: small\n", n: 1, want: enter("send")},
		{name: "else id", yaml: cases + "      - else: fallback\n", n: 1, want: gotoRef("fallback")},
		{name: "true case before else", yaml: cases + "      - else: fallback\n", n: 6, want: gotoRef("menu")},
		{name: "evaluation error", yaml: cases, n: "x", wantErr: "branch: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			rt.env.Vars["n"] = tt.n
			got, err := run(t, rt, load(t, tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
			for i, s := range got.Steps {
				if s.Kind != tt.want.Steps[i].Kind {
					t.Fatalf("step %d is %q, want %q", i, s.Kind, tt.want.Steps[i].Kind)
				}
			}
		})
	}
}

func date(s string) flows.Date {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return flows.Date{Time: d}
}

func TestHoursOpen(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	var week steps.OpenHours
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []steps.TimeRange{{Start: 9 * 60, End: 12 * 60}, {Start: 13 * 60, End: 18 * 60}}
	}
	week[time.Saturday] = []steps.TimeRange{{Start: 10 * 60, End: 14 * 60}}
	late := week
	late[time.Friday] = []steps.TimeRange{{Start: 20 * 60, End: 24 * 60}}

	cn := &steps.Hours{Location: shanghai, Week: week,
		Holidays: []flows.Date{date("2026-10-01")}, Workdays: []flows.Date{date("2026-10-10"), date("2026-10-11")}}
	de := &steps.Hours{Location: berlin, Week: week}
	night := &steps.Hours{Location: shanghai, Week: late}
	var always steps.OpenHours
	for d := range always {
		always[d] = []steps.TimeRange{{Start: 0, End: 24 * 60}}
	}
	allDay := &steps.Hours{Location: shanghai, Week: always, Holidays: []flows.Date{date("2026-10-01")}}
	at := func(loc *time.Location, s string) time.Time {
		t, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			panic(err)
		}
		return t
	}
	utc := func(s string) time.Time { return at(time.UTC, s) }
	tests := []struct {
		name  string
		hours *steps.Hours
		at    time.Time
		want  bool
	}{
		{"opening minute", cn, at(shanghai, "2026-11-20 09:00:00"), true},
		{"before opening", cn, at(shanghai, "2026-11-20 08:59:59"), false},
		{"last second", cn, at(shanghai, "2026-11-20 17:59:59"), true},
		{"closing minute", cn, at(shanghai, "2026-11-20 18:00:00"), false},
		{"lunch break", cn, at(shanghai, "2026-11-20 12:30:00"), false},
		{"after lunch", cn, at(shanghai, "2026-11-20 13:00:00"), true},
		{"instant in another zone", cn, utc("2026-11-20 01:00:00"), true},         // 09:00 in Shanghai
		{"instant in another zone closed", cn, utc("2026-11-20 10:00:00"), false}, // 18:00 in Shanghai
		{"saturday hours", cn, at(shanghai, "2026-11-21 10:30:00"), true},
		{"saturday after hours", cn, at(shanghai, "2026-11-21 14:00:00"), false},
		{"sunday closed", cn, at(shanghai, "2026-11-22 10:30:00"), false},
		{"holiday on a thursday", cn, at(shanghai, "2026-10-01 10:00:00"), false},
		{"day after the holiday", cn, at(shanghai, "2026-10-02 10:00:00"), true},
		{"holiday is the zone's date", allDay, utc("2026-09-30 17:00:00"), false}, // 1 Oct 01:00 in Shanghai
		{"holiday over in the zone", allDay, utc("2026-10-01 17:00:00"), true},    // 2 Oct 01:00 in Shanghai
		{"make-up saturday has weekday hours", cn, at(shanghai, "2026-10-10 16:00:00"), true},
		{"make-up saturday lunch break", cn, at(shanghai, "2026-10-10 12:30:00"), false},
		{"make-up sunday", cn, at(shanghai, "2026-10-11 09:00:00"), true},
		{"ordinary saturday at 16:00", cn, at(shanghai, "2026-10-03 16:00:00"), false},
		{"berlin winter open", de, utc("2026-01-12 08:30:00"), true},                  // 09:30 CET
		{"berlin winter early", de, utc("2026-01-12 07:30:00"), false},                // 08:30 CET
		{"berlin summer open", de, utc("2026-07-13 07:30:00"), true},                  // 09:30 CEST
		{"berlin summer early", de, utc("2026-07-13 06:59:00"), false},                // 08:59 CEST
		{"berlin summer last minute", de, utc("2026-07-13 15:59:00"), true},           // 17:59 CEST
		{"berlin summer closed", de, utc("2026-07-13 16:00:00"), false},               // 18:00 CEST
		{"berlin day after the spring change", de, utc("2026-03-30 07:00:00"), true},  // Mon 09:00 CEST
		{"berlin day after the autumn change", de, utc("2026-10-26 07:30:00"), false}, // Mon 08:30 CET
		{"range to midnight", night, at(shanghai, "2026-11-20 23:59:59"), true},
		{"range to midnight starts", night, at(shanghai, "2026-11-20 20:00:00"), true},
		{"after midnight is the next day", night, at(shanghai, "2026-11-21 00:00:00"), false},
		{"server zone", &steps.Hours{Week: week}, time.Date(2026, 11, 20, 9, 0, 0, 0, time.Local), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.hours.Open(tt.at); got != tt.want {
				t.Fatalf("Open(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestHoursStep(t *testing.T) {
	t.Parallel()
	const hours = "  - hours:\n      timezone: Asia/Shanghai\n      open: { mon-fri: \"09:00-18:00\" }\n      holidays: [2026-10-01]\n      workdays: [2026-10-10]\n"
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	tests := []struct {
		name string
		yaml string
		now  time.Time
		want steps.Outcome
	}{
		{"open steps", hours + "    when_open: [end]\n    when_closed: fallback\n", time.Date(2026, 11, 20, 9, 0, 0, 0, shanghai), enter("end")},
		{"closed id", hours + "    when_open: [end]\n    when_closed: fallback\n", time.Date(2026, 11, 20, 18, 0, 0, 0, shanghai), gotoRef("fallback")},
		{"holiday", hours + "    when_open: [end]\n    when_closed: fallback\n", time.Date(2026, 10, 1, 10, 0, 0, 0, shanghai), gotoRef("fallback")},
		{"workday", hours + "    when_open: [end]\n    when_closed: fallback\n", time.Date(2026, 10, 10, 10, 0, 0, 0, shanghai), enter("end")},
		{"open without when_open", hours + "    when_closed: [end]\n", time.Date(2026, 11, 20, 10, 0, 0, 0, shanghai), next},
		{"closed without when_closed", hours + "    when_open: [end]\n", time.Date(2026, 11, 21, 10, 0, 0, 0, shanghai), next},
		{"empty when_open", hours + "    when_open: []\n    when_closed: [end]\n", time.Date(2026, 11, 20, 10, 0, 0, 0, shanghai), enter()},
		{"clock in UTC", hours + "    when_open: [end]\n    when_closed: fallback\n", time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC), enter("end")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			rt.now = tt.now
			got, err := run(t, rt, load(t, tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
		})
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		vars    map[string]any
		want    steps.Outcome
		wantErr string
	}{
		{name: "duration", yaml: "  - wait: 2h\n", want: steps.Outcome{Kind: steps.WaitUntil, Until: testNow.Add(2 * time.Hour)}},
		{name: "days", yaml: "  - wait: 3d\n", want: steps.Outcome{Kind: steps.WaitUntil, Until: testNow.Add(72 * time.Hour)}},
		{name: "until later", yaml: "  - wait:\n    until: now.Add(duration(\"90m\"))\n", want: steps.Outcome{Kind: steps.WaitUntil, Until: testNow.Add(90 * time.Minute)}},
		{name: "until in the past", yaml: "  - wait:\n    until: now.Add(duration(\"-1h\"))\n", want: next},
		{name: "until now", yaml: "  - wait:\n    until: now\n", want: next},
		{name: "until from a variable", yaml: "  - wait:\n    until: vars.at\n", vars: map[string]any{"at": testNow.Add(time.Hour)},
			want: steps.Outcome{Kind: steps.WaitUntil, Until: testNow.Add(time.Hour)}},
		{name: "until not a time", yaml: "  - wait:\n    until: vars.at\n", vars: map[string]any{"at": "tomorrow"}, wantErr: "wait: until: \"vars.at\" gave string tomorrow, want a time"},
		{name: "until nil", yaml: "  - wait:\n    until: vars.at\n", wantErr: "wait: until: \"vars.at\" gave nil, want a time"},
		{name: "until error", yaml: "  - wait:\n    until: vars.at.Add(duration(\"1h\"))\n", wantErr: "wait: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			for k, v := range tt.vars {
				rt.env.Vars[k] = v
			}
			got, err := run(t, rt, load(t, tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
		})
	}
	t.Run("resume", func(t *testing.T) {
		t.Parallel()
		s := load(t, "  - wait: 2h\n")
		got, err := resume(t, newRuntime(), s, steps.Input{Kind: steps.Elapsed})
		if err != nil {
			t.Fatal(err)
		}
		sameOutcome(t, got, next)
		if _, err := resume(t, newRuntime(), s, steps.Input{Kind: steps.Answer}); err == nil {
			t.Fatal("a wait resumed by an answer should fail")
		}
	})
}

func TestSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		want    map[string]any
		wantErr string
	}{
		{name: "literals", yaml: "  - set:\n      vars.i: 5\n      vars.f: 1.5\n      vars.b: true\n      vars.s: hello\n      vars.null: null\n",
			want: map[string]any{"vars.i": int64(5), "vars.f": 1.5, "vars.b": true, "vars.s": "hello", "vars.null": nil}},
		{name: "one expression keeps its type", yaml: "  - set:\n      vars.n: \"${vars.x * 2}\"\n      vars.tags: \"${contact.tags}\"\n      vars.ok: \"${vars.x > 1}\"\n",
			want: map[string]any{"vars.n": 42, "vars.tags": []string{"vip"}, "vars.ok": true}},
		{name: "text around an expression is text", yaml: "  - set:\n      contact.fields.label: \"n=${vars.x}\"\n",
			want: map[string]any{"contact.fields.label": "n=21"}},
		{name: "nested", yaml: "  - set:\n      vars.order: { id: \"${vars.x}\", items: [1, \"#${vars.x}\", { q: \"${vars.x + 1}\" }] }\n",
			want: map[string]any{"vars.order": map[string]any{"id": 21, "items": []any{int64(1), "#21", map[string]any{"q": 22}}}}},
		{name: "in order", yaml: "  - set:\n      vars.a: \"${vars.x + 1}\"\n      vars.b: \"${vars.a + 1}\"\n",
			want: map[string]any{"vars.a": 22, "vars.b": 23}},
		{name: "evaluation error", yaml: "  - set:\n      vars.a: 1\n      vars.b: \"${vars.nope.Year()}\"\n", wantErr: "set: vars.b: "},
		{name: "nested evaluation error", yaml: "  - set:\n      vars.a: { list: [\"${vars.nope.Year()}\"] }\n", wantErr: "set: vars.a: list: [0]: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			rt.env.Vars["x"] = 21
			rt.env.Contact.Tags = []string{"vip"}
			got, err := run(t, rt, load(t, tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, next)
			if !reflect.DeepEqual(rt.saved, tt.want) {
				t.Fatalf("saved %#v\nwant  %#v", rt.saved, tt.want)
			}
		})
	}
}

func TestHTTPRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		http    string // the keys under http:
		want    steps.Request
		wantErr string
	}{
		{name: "get", http: "      url: \"https://shop.example.com/orders/${vars.order}\"\n",
			want: steps.Request{Method: "GET", URL: "https://shop.example.com/orders/123456", Timeout: 10 * time.Second}},
		{name: "headers and timeout", http: "      url: https://x.example\n      headers: { authorization: \"Bearer ${vars.token}\", X-Id: \"${contact.id}\" }\n      timeout: 5s\n",
			want: steps.Request{Method: "GET", URL: "https://x.example", Timeout: 5 * time.Second,
				Headers: map[string]string{"Authorization": "Bearer t0k", "X-Id": "o123"}}},
		{name: "json is a post", http: "      url: https://x.example\n      json: { order: \"${vars.order}\", n: \"${vars.n}\", note: \"<b>&</b> ${vars.n}\", list: [1, true, null], deep: { city: 上海 } }\n",
			want: steps.Request{Method: "POST", URL: "https://x.example", Timeout: 10 * time.Second,
				Headers: map[string]string{"Content-Type": "application/json"},
				Body:    []byte(`{"deep":{"city":"上海"},"list":[1,true,null],"n":2.5,"note":"<b>&</b> 2.5","order":"123456"}`)}},
		{name: "json keeps a given content type", http: "      method: PUT\n      url: https://x.example\n      headers: { content-type: application/vnd.api+json }\n      json: [1, 2]\n",
			want: steps.Request{Method: "PUT", URL: "https://x.example", Timeout: 10 * time.Second,
				Headers: map[string]string{"Content-Type": "application/vnd.api+json"}, Body: []byte(`[1,2]`)}},
		{name: "json string", http: "      url: https://x.example\n      json: \"${vars.order}\"\n",
			want: steps.Request{Method: "POST", URL: "https://x.example", Timeout: 10 * time.Second,
				Headers: map[string]string{"Content-Type": "application/json"}, Body: []byte(`"123456"`)}},
		{name: "body is a post", http: "      url: https://x.example\n      body: \"order=${vars.order}\"\n",
			want: steps.Request{Method: "POST", URL: "https://x.example", Timeout: 10 * time.Second, Body: []byte("order=123456")}},
		{name: "method given", http: "      method: DELETE\n      url: https://x.example/${vars.order}\n",
			want: steps.Request{Method: "DELETE", URL: "https://x.example/123456", Timeout: 10 * time.Second}},
		{name: "url from a variable", http: "      url: \"${vars.endpoint}\"\n", wantErr: `http: invalid URL "file:///etc/passwd"`},
		{name: "url error", http: "      url: \"https://x.example/${vars.nope.Year()}\"\n", wantErr: "http: url: "},
		{name: "json error", http: "      url: https://x.example\n      json: { a: \"${vars.nope.Year()}\" }\n", wantErr: "http: json: a: "},
		{name: "header error", http: "      url: https://x.example\n      headers: { A: \"${vars.nope.Year()}\" }\n", wantErr: "http: headers: A: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime()
			rt.env.Vars["order"] = "123456"
			rt.env.Vars["token"] = "t0k"
			rt.env.Vars["n"] = 2.5
			rt.env.Vars["endpoint"] = "file:///etc/passwd"
			got, err := run(t, rt, load(t, "  - http:\n"+tt.http))
			if err == nil && got.Kind == steps.Call && got.Request != nil && got.Request.Unsendable != "" {
				err = errors.New("http: " + got.Request.Unsendable)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != steps.Call || got.Request == nil {
				t.Fatalf("outcome = %s, want call", got.Kind)
			}
			r := *got.Request
			if len(r.Headers) == 0 {
				r.Headers = nil
			}
			if r.Method != tt.want.Method || r.URL != tt.want.URL || r.Timeout != tt.want.Timeout ||
				string(r.Body) != string(tt.want.Body) || !reflect.DeepEqual(r.Headers, tt.want.Headers) {
				t.Fatalf("request = %s %s %v headers=%v body=%s\nwant      %s %s %v headers=%v body=%s",
					r.Method, r.URL, r.Timeout, r.Headers, r.Body,
					tt.want.Method, tt.want.URL, tt.want.Timeout, tt.want.Headers, tt.want.Body)
			}
		})
	}
}

func TestHTTPResponse(t *testing.T) {
	t.Parallel()
	const withError = "    on_error: fallback\n"
	tests := []struct {
		name     string
		onError  string
		res      steps.HTTPResult
		want     steps.Outcome
		wantBody any
		wantHdr  map[string]string
	}{
		{name: "json body", onError: withError,
			res:  steps.HTTPResult{Status: 200, Headers: map[string]string{"content-type": "application/json"}, Body: []byte(`{"status":"shipped","items":[1,2]}`)},
			want: next, wantBody: map[string]any{"status": "shipped", "items": []any{1.0, 2.0}}, wantHdr: map[string]string{"Content-Type": "application/json"}},
		{name: "json scalar body", res: steps.HTTPResult{Status: 201, Body: []byte(" 42\n")}, want: next, wantBody: 42.0, wantHdr: map[string]string{}},
		{name: "text body", onError: withError,
			res:  steps.HTTPResult{Status: 204, Headers: map[string]string{"X-REQUEST-ID": "r1"}, Body: []byte("ok thanks")},
			want: next, wantBody: "ok thanks", wantHdr: map[string]string{"X-Request-Id": "r1"}},
		{name: "not found with on_error", onError: withError,
			res:  steps.HTTPResult{Status: 404, Body: []byte(`{"error":"no such order"}`)},
			want: gotoRef("fallback"), wantBody: map[string]any{"error": "no such order"}, wantHdr: map[string]string{}},
		{name: "server error without on_error", res: steps.HTTPResult{Status: 500, Body: []byte("boom")},
			want: next, wantBody: "boom", wantHdr: map[string]string{}},
		{name: "redirect is not success", onError: withError, res: steps.HTTPResult{Status: 302},
			want: gotoRef("fallback"), wantBody: "", wantHdr: map[string]string{}},
		{name: "network error", onError: withError, res: steps.HTTPResult{Err: "dial tcp: connection refused"},
			want: gotoRef("fallback"), wantBody: "", wantHdr: map[string]string{}},
		{name: "network error without on_error", res: steps.HTTPResult{Err: "timeout"},
			want: next, wantBody: "", wantHdr: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := load(t, "  - http:\n      url: https://x.example\n      save: vars.lookup\n"+tt.onError)
			rt := newRuntime()
			res := tt.res
			got, err := resume(t, rt, s, steps.Input{Kind: steps.Response, Response: &res})
			if err != nil {
				t.Fatal(err)
			}
			sameOutcome(t, got, tt.want)
			if rt.http == nil {
				t.Fatal("http was not set")
			}
			wantEnv := flows.HTTPEnv{Status: tt.res.Status, Headers: tt.wantHdr, Body: tt.wantBody}
			if !reflect.DeepEqual(*rt.http, wantEnv) {
				t.Fatalf("http = %#v\nwant   %#v", *rt.http, wantEnv)
			}
			hdr := map[string]any{}
			for k, v := range tt.wantHdr {
				hdr[k] = v
			}
			wantSaved := map[string]any{"status": tt.res.Status, "headers": hdr, "body": tt.wantBody}
			if !reflect.DeepEqual(rt.saved["vars.lookup"], wantSaved) {
				t.Fatalf("saved %#v\nwant  %#v", rt.saved["vars.lookup"], wantSaved)
			}
		})
	}
	t.Run("without save", func(t *testing.T) {
		t.Parallel()
		rt := newRuntime()
		s := load(t, "  - http:\n      url: https://x.example\n")
		if _, err := resume(t, rt, s, steps.Input{Kind: steps.Response, Response: &steps.HTTPResult{Status: 200}}); err != nil {
			t.Fatal(err)
		}
		if rt.http == nil || len(rt.saved) != 0 {
			t.Fatalf("http %v, saved %v", rt.http, rt.saved)
		}
	})
	t.Run("no response", func(t *testing.T) {
		t.Parallel()
		_, err := resume(t, newRuntime(), load(t, "  - http:\n      url: https://x.example\n"), steps.Input{Kind: steps.Response})
		if err == nil || !strings.HasPrefix(err.Error(), "http: ") {
			t.Fatalf("error = %v", err)
		}
	})
}

// conversationLog is what the fake's conversation methods were asked,
// and what they answer.
type conversationLog struct {
	// nobodyOnShift makes an Assign with a Pick find no operator.
	nobodyOnShift bool
	// err is what every conversation method returns.
	err error

	handovers []steps.Handover
	opened    int
	closed    [][2]string // note, category
	comments  []string
}

// Assign records the handover; one with a Pick fails (ok false) when
// nobody is on shift, like the engine's, and changes nothing then.
func (f *fakeRuntime) Assign(a steps.Handover) (bool, error) {
	if f.conv.err != nil {
		return false, f.conv.err
	}
	f.conv.handovers = append(f.conv.handovers, a)
	if a.Pick != "" && f.conv.nobodyOnShift {
		return false, nil
	}
	return true, nil
}

func (f *fakeRuntime) OpenConversation() error {
	if f.conv.err != nil {
		return f.conv.err
	}
	f.conv.opened++
	return nil
}

func (f *fakeRuntime) CloseConversation(note, category string) error {
	if f.conv.err != nil {
		return f.conv.err
	}
	f.conv.closed = append(f.conv.closed, [2]string{note, category})
	return nil
}

func (f *fakeRuntime) Comment(text string) error {
	if f.conv.err != nil {
		return f.conv.err
	}
	f.conv.comments = append(f.conv.comments, text)
	return nil
}
