package flows_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// load loads one flow from src as dir/flow.yaml and returns its rendered
// diagnostics, one per line, without the file name.
func load(t *testing.T, src string, opts flows.Options) (*flows.Flow, []string) {
	t.Helper()
	f, diags := flows.LoadFile("flow.yaml", []byte(src), opts)
	var out []string
	for _, d := range diags {
		out = append(out, strings.TrimPrefix(strings.SplitN(d.String(), "\n", 2)[0], "flow.yaml:"))
	}
	return f, out
}

func TestDiagnosticsAtTheirPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown key with hint", `name: a
triggers: [follow]
steps:
  - send:
      txt: hi
`, []string{`5:7: error: unknown key "txt" in send step (did you mean "text"?)`}},
		{"expression inside a template, exact column", `name: a
triggers: [follow]
steps:
  - send: "Hello ${contact.feilds.name}!"
`, []string{`4:28: error: contact has no field "feilds" (did you mean "fields"?)`}},
		{"if must be boolean", `name: a
triggers: [follow]
steps:
  - if: contact.id
    send: hi
`, []string{`4:9: error: condition must be true or false, but gives string (compare it, e.g. contact.fields.city == "Shanghai")`}},
		{"template in block scalar", `name: a
triggers: [follow]
steps:
  - send: |
      Line one
      Hi ${vars.name + } there
`, []string{`6:23: error: unexpected token EOF`}},
		{"quota after follow", `name: a
triggers: [follow]
steps:
  - send: one
  - send: two
  - send: three
  - send: four
`, []string{`7:5: warning: message 4 in a row, but WeChat allows 3 replies after a follow, scan or menu click (ask a question first, or send fewer messages; the extra ones fail as quota_exhausted)`}},
		{"quota resets after an answer", `name: a
triggers: [follow]
steps:
  - send: one
  - send: two
  - ask: three?
  - send: four
  - send: five
`, nil},
		{"keyword trigger allows five", `name: a
triggers:
  - keyword: [hi]
steps:
  - send: one
  - send: two
  - send: three
  - send: four
  - send: five
`, nil},
		{"a conditional send still counts", `name: a
triggers: [follow]
steps:
  - send: one
  - send: two
  - if: event.scene != ""
    send: three
  - send: four
`, []string{`8:5: warning: message 4 in a row`}},
		{"send after the window", `name: a
triggers: [follow]
steps:
  - send: one
  - wait: 49h
  - send: late
`, []string{`6:5: warning: this message can only be sent after WeChat's 48h window has closed`}},
		{"ask timeout longer than the window, and the reminder after it", `name: a
triggers: [follow]
steps:
  - ask: name?
    timeout: 3d
    on_timeout: remind
  - end
  - id: remind
    send: still there?
`, []string{`5:14: warning: ask waits 3d, longer than WeChat's 48h window`, `8:5: warning: this message can only be sent after`}},
		{"unreachable after goto", `name: a
triggers: [follow]
steps:
  - id: top
    ask: q?
  - goto: top
  - send: never
  - send: never again
`, []string{`7:5: warning: step is never reached`}},
		{"loop without wait", `name: a
triggers: [follow]
steps:
  - id: top
    set: { vars.n: 1 }
  - goto: top
`, []string{`6:5: warning: goto jumps back to "top" with no ask or wait in between`}},
		{"loop through an ask is fine", `name: a
triggers: [follow]
steps:
  - id: top
    ask: again?
  - goto: top
`, nil},
		{"region", `name: a
triggers: [follow]
steps:
  - send: { voice: https://example.com/a.mp3 }
`, nil},
		{"duplicate key", `name: a
name: b
triggers: [follow]
steps: [end]
`, []string{`2:1: error: duplicate key "name" (it is first given at line 1)`}},
		{"two kinds", `name: a
triggers: [follow]
steps:
  - send: hi
    ask: q
`, []string{`5:5: error: a step has one kind, but this one has "send" and "ask" (split it into two steps)`}},
		{"jump nowhere", `name: a
triggers: [follow]
steps:
  - id: menu
    ask: q
    on_timeout: menus
`, []string{`6:17: error: no step has id "menus" (did you mean "menu"?)`}},
		{"branch else not last", `name: a
triggers: [follow]
steps:
  - branch:
      - else: [end]
      - if: true
        then: [end]
`, []string{`5:9: error: else: must be the last case of a branch (move it to the end)`}},
		{"empty branch", `name: a
triggers: [follow]
steps:
  - branch: []
`, []string{`4:13: error: branch needs at least one item, but the list is empty`}},
		{"cron and zone", `name: a
triggers:
  - schedule:
      cron: "0 9 * *"
      timezone: Asia/Shangai
steps: [end]
`, []string{`4:13: error: invalid cron expression "0 9 * *"`, `5:17: error: unknown time zone "Asia/Shangai" (did you mean "Asia/Shanghai"?)`}},
		{"save target", `name: a
triggers: [follow]
steps:
  - ask: q
    save: contact.name
`, []string{`5:11: error: cannot save to "contact.name" (contact's own fields are read-only; use contact.fields.name)`}},
		{"until must be a time", `name: a
triggers: [follow]
steps:
  - wait:
    until: contact.id
`, []string{`5:12: error: expression must give a time, but gives string`}},
		{"alias bomb ends with one error", "name: a\ntriggers: [follow]\nx0: &a [send, send, send, send, send, send, send, send, send, send]\n" +
			"x1: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nx2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
			"x3: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nx4: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
			"x5: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\nsteps: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
			[]string{`error: unknown key "x0" in flow`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got := load(t, tt.src, flows.Options{})
			if len(tt.want) == 0 && len(got) > 0 {
				t.Fatalf("want no diagnostics, got:\n%s", strings.Join(got, "\n"))
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w) || (strings.Contains(g, w) && !strings.Contains(w, ": error: ") && !strings.Contains(w, ": warning: "))
				}
				if !found {
					t.Errorf("missing diagnostic %q; got:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestAliasBombIsBounded(t *testing.T) {
	t.Parallel()
	// Build a flow whose steps expand to 8^7 sends through nested branch lists.
	prev := "s0"
	var b strings.Builder
	b.WriteString("name: a\ntriggers: [follow]\ndefs:\n")
	b.WriteString("  - &s0 {send: hi}\n")
	for i := 1; i <= 7; i++ {
		cur := "s" + string(rune('0'+i))
		b.WriteString("  - &" + cur + " {branch: [{if: true, then: [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]}]}\n")
		prev = cur
	}
	b.WriteString("steps: [*" + prev + "]\n")
	_, got := load(t, b.String(), flows.Options{})
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "file too large once aliases are expanded") {
		t.Fatalf("want the alias budget error, got:\n%s", joined)
	}
}

func TestRegionWarning(t *testing.T) {
	t.Parallel()
	src := "name: a\naccount: hk\ntriggers: [follow]\nsteps:\n  - send: { video: https://example.com/a.mp4 }\n"
	_, got := load(t, src, flows.Options{Regions: map[string]string{"hk": "international"}})
	if len(got) != 1 || !strings.HasPrefix(got[0], `5:20: warning: an international account cannot send video by API`) {
		t.Fatalf("got %q", got)
	}
	_, got = load(t, src, flows.Options{})
	if len(got) != 0 {
		t.Fatalf("mainland: want nothing, got %q", got)
	}
}

func TestMediaFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	must(t, os.WriteFile(filepath.Join(dir, "ok.png"), png, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "fake.png"), []byte("hello, not an image"), 0o644))
	big := make([]byte, 2<<20+1)
	must(t, os.WriteFile(filepath.Join(dir, "big.mp3"), big, 0o644))
	src := `name: a
triggers: [follow]
steps:
  - send: { image: ok.png }
  - send: { image: missing.png }
  - send: { image: fake.png }
  - ask: { voice: big.mp3 }
  - send: { image: doc.pdf }
`
	file := filepath.Join(dir, "flow.yaml")
	_, diags := flows.LoadFile(file, []byte(src), flows.Options{})
	var got []string
	for _, d := range diags {
		got = append(got, strings.TrimPrefix(d.String(), file+":"))
	}
	want := []string{
		`5:20: error: image file "missing.png" not found (paths are relative to the flow file's folder)`,
		`6:20: error: image "fake.png" is not an image (the file's content is text/plain; charset=utf-8)`,
		`7:19: error: voice "big.mp3" is too large: 2097153 bytes (WeChat accepts voice files up to 2.0 MB, 2097152 bytes)`,
		`8:20: error: image "doc.pdf" has an unsupported type (WeChat accepts image files of type jpg, jpeg, png, gif, bmp)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTemplateEval(t *testing.T) {
	t.Parallel()
	src := `name: a
triggers: [follow]
vars: { age: number }
steps:
  - send: "Hi ${contact.fields.name}, you are ${vars.age + 1}. Literal $${x}."
  - set: { vars.n: "${vars.age * 2}" }
`
	f, diags := load(t, src, flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	env := &flows.Env{Contact: flows.ContactEnv{Fields: map[string]any{"name": "Alice"}}, Vars: map[string]any{"age": 41}}
	msg := f.Steps[0].Arg.(*flows.Message)
	got, err := msg.Text.Render(env)
	if err != nil || got != "Hi Alice, you are 42. Literal ${x}." {
		t.Fatalf("got %q, %v", got, err)
	}
	if f.Version == "" || !strings.HasPrefix(f.Version, "sha256:") {
		t.Fatalf("version %q", f.Version)
	}
}

// TestTemplateWritesValuesAsText: a template's values are written with
// TextOf (a time in RFC 3339, a number without an exponent, a map as
// JSON), whether the template is one expression or text around them.
func TestTemplateWritesValuesAsText(t *testing.T) {
	t.Parallel()
	src := `name: a
triggers: [follow]
vars: { total: number, m: any }
steps:
  - send: "${now}"
  - send: "at ${now}, ${vars.total}; ${vars.m}"
`
	f, diags := load(t, src, flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	at := time.Date(2026, 11, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	env := &flows.Env{Now: at, Vars: map[string]any{"total": 1000000.0, "m": map[string]any{"k": "上海"}}}
	for i, want := range []string{"2026-11-16T10:00:00+08:00", `at 2026-11-16T10:00:00+08:00, 1000000; {"k":"上海"}`} {
		got, err := f.Steps[i].Arg.(*flows.Message).Text.Render(env)
		if err != nil || got != want {
			t.Errorf("send %d: %q %v, want %q", i+1, got, err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{"30s": 30 * time.Second, "10m": 10 * time.Minute, "2h": 2 * time.Hour, "3d": 72 * time.Hour, "1h30m": 90 * time.Minute, "1.5h": 90 * time.Minute,
		"1h 30m": 90 * time.Minute, "53375d": 53375 * 24 * time.Hour}
	for in, want := range good {
		if got, err := flows.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0s", "5", "h", "5x", "-1h", "1..5h", "99999999999999d", "53376d", "40000d 40000d", "40000d40000d40000d", "1\th"} {
		if _, err := flows.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): want an error", in)
		}
	}
	// More digits than a float holds is too long, as the editor's schema says, not "invalid".
	if _, err := flows.ParseDuration(strings.Repeat("1", 330) + "h"); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("ParseDuration(330 digits): %v; want too long", err)
	}
}

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"store_*", "store_1", true}, {"store_*", "store_", true}, {"store_*", "shop_1", false},
		{"*", "", true}, {"a?c", "abc", true}, {"a?c", "ac", false}, {"MENU_HELP", "MENU_HELP", true},
		{"*_1", "store/x_1", true}, {"门店*", "门店上海", true},
	}
	for _, tt := range tests {
		if got := flows.MatchGlob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

func TestValidateFolderCrossChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) { must(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)) }
	write("a.yaml", "name: a\ntriggers:\n  - menu: MENU_A\nsteps:\n  - start: b\n")
	write("b.yaml", "name: b\ntriggers: []\nsteps:\n  - start: a\n  - start: nope\n")
	write("c.yaml", "name: c\ntriggers:\n  - menu: MENU_A\nsteps: [end]\n")
	write("menu.yaml", "menu:\n  - { name: A, key: MENU_A }\n  - { name: B, key: MENU_B }\n")
	write("a.test.yaml", "this is a scenario file, not a flow: [")
	diags, files, err := flows.Validate([]string{dir}, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if files != 3 {
		t.Errorf("files = %d, want 3", files)
	}
	var got []string
	for _, d := range diags {
		rel, _ := filepath.Rel(dir, d.File)
		got = append(got, rel+":"+strings.SplitN(d.String(), ":", 2)[1])
	}
	want := []string{
		`b.yaml:4:12: error: start: forms a cycle: a -> b -> a (a flow that starts itself, directly or through others, never ends; to repeat steps (a daily reminder), jump back with goto: after a wait:)`,
		`b.yaml:5:12: error: no flow named "nope" (flows in this folder: a, b, c)`,
		`c.yaml:3:5: warning: menu trigger ties with flow "a" (` + filepath.Join(dir, "a.yaml") + `:3) for the same input; "a" wins by name order (give one of them a higher priority)`,
		`menu.yaml:3:21: warning: no flow handles menu key "MENU_B" (add a flow with the trigger - menu: MENU_B)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A single file is checked in its folder's context, and only its own
	// problems are reported.
	diags, files, err = flows.Validate([]string{filepath.Join(dir, "c.yaml")}, flows.Options{})
	if err != nil || files != 1 || len(diags) != 1 || diags[0].Severity != flows.SeverityWarning {
		t.Fatalf("single file: %d files, %v, %v", files, diags, err)
	}
	if _, _, err := flows.Validate([]string{filepath.Join(dir, "missing")}, flows.Options{}); err == nil {
		t.Fatal("want an error for a missing path")
	}
}

func TestExprEvalBool(t *testing.T) {
	t.Parallel()
	f, diags := load(t, "name: a\ntriggers: [follow]\nsteps:\n  - if: contact.fields.city == \"Shanghai\" && \"vip\" in contact.tags\n    end:\n", flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	env := &flows.Env{Contact: flows.ContactEnv{Fields: map[string]any{"city": "Shanghai"}, Tags: []string{"vip"}}}
	if ok, err := f.Steps[0].If.EvalBool(env); !ok || err != nil {
		t.Fatalf("got %v, %v", ok, err)
	}
	env.Contact.Tags = nil
	if ok, err := f.Steps[0].If.EvalBool(env); ok || err != nil {
		t.Fatalf("got %v, %v", ok, err)
	}
}

func TestMoreDiagnostics(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"unfollow flow that sends", "name: a\ntriggers: [unfollow]\nsteps:\n  - send: bye\n", `4:5: warning: this flow starts on unfollow, and nothing can be sent to a contact who unfollowed`},
		{"empty message", "name: a\ntriggers: [follow]\nsteps:\n  - send: \"\"\n", `4:11: error: empty message`},
		{"empty ${}", "name: a\ntriggers: [follow]\nsteps:\n  - send: \"a ${} b\"\n", `4:14: error: empty ${} in template`},
		{"sibling key under the kind", "name: a\ntriggers: [follow]\nsteps:\n  - send:\n      text: hi\n      on_fail: x\n", `6:7: error: unknown key "on_fail" in send step ("on_fail" belongs beside "send:", not under it)`},
		{"single =", "name: a\ntriggers: [follow]\nsteps:\n  - if: vars.a = 1\n    end:\n", `4:16: error: a single = is not an operator (use == to compare)`},
		{"second template on the line", "name: a\ntriggers: [follow]\nsteps:\n  - send: \"${contact.id} and ${contcat.id}\"\n", `4:32: error: unknown name "contcat"`},
		{"escaped newline inside an expression", "name: a\ntriggers: [follow]\nsteps:\n  - send: \"${vars.a +\\n\\n contcat}\"\n", `4:27: error: unknown name "contcat"`},
		{"key without its value's kind", "name: a\ntriggers: [follow]\nsteps:\n  - expect: number\n", `4:5: error: step has no kind ("expect" is a key of ask steps; add ask: to this step)`},
		{"window message with the real wait", "name: a\ntriggers:\n  - keyword: [hi]\nsteps:\n  - ask: q\n    timeout: 47h\n    on_timeout: t\n  - end\n  - id: t\n    wait: 2h\n  - send: late\n", `11:5: warning: this message can only be sent after WeChat's 48h window has closed (49h of waiting`},
		{"tab indentation", "name: a\ntriggers: [follow]\nsteps:\n\t- send: hi\n", `4:1: error: YAML syntax error: found character that cannot start any token (indent with spaces, not tabs)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got := load(t, tt.src, flows.Options{})
			for _, g := range got {
				if strings.HasPrefix(g, tt.want) {
					return
				}
			}
			t.Fatalf("missing %q; got:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

func TestTiesAcrossKindsAndAccounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) { must(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)) }
	write("a.yaml", "name: a\ntriggers:\n  - follow: store_*\nsteps: [end]\n")
	write("b.yaml", "name: b\ntriggers:\n  - scan: store_*\nsteps: [end]\n")
	write("c.yaml", "name: c\naccount: main\ntriggers:\n  - keyword: [hi]\nsteps: [end]\n")
	write("d.yaml", "name: d\ntriggers:\n  - keyword: [HI]\nsteps: [end]\n")
	write("e.yaml", "name: e\naccount: other\ntriggers:\n  - keyword: [bye]\nsteps: [end]\n")
	write("f.yaml", "name: f\naccount: main\ntriggers:\n  - keyword: [bye]\nsteps: [end]\n")
	diags, _, err := flows.Validate([]string{dir}, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diags {
		got = append(got, filepath.Base(d.File)+": "+d.Message)
	}
	want := []string{
		`b.yaml: scan trigger ties with flow "a" (` + filepath.Join(dir, "a.yaml") + `:3) for the same input; "a" wins by name order`,
		`d.yaml: keyword trigger ties with flow "c" (` + filepath.Join(dir, "c.yaml") + `:4) for the same input; "c" wins by name order`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMemberOfNothingIsNothing: a field or an index of nil (an http
// answer without that field, a failed call's body, a variable never set)
// renders empty and compares as nil, instead of failing the run; methods
// and fields of known types keep working.
func TestMemberOfNothingIsNothing(t *testing.T) {
	t.Parallel()
	src := `name: a
triggers: [{keyword: [hi]}]
vars: { r: any, when: time, m: any }
steps:
  - send: "id=${vars.r.body.id}; first=${vars.r.body.items[0].name}; city=${contact.fields.city}"
  - send: "yes"
    if: vars.r.body.ok == true
  - send: "${vars.r.body.items[0].name ?? 'none'} ${len(vars.r.body?.items ?? [])} ${vars.when.Format('2006')}"
  - send: "${vars.m.Year()}"
`
	f, diags := load(t, src, flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	for _, r := range []any{nil, map[string]any{"status": 500}, map[string]any{"body": nil}, map[string]any{"body": map[string]any{"items": nil}}} {
		env := &flows.Env{Contact: flows.ContactEnv{Fields: map[string]any{}}, Vars: map[string]any{"r": r, "when": time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}
		got, err := f.Steps[0].Arg.(*flows.Message).Text.Render(env)
		if err != nil || got != "id=; first=; city=" {
			t.Errorf("r=%v: %q, %v", r, got, err)
		}
		ok, err := f.Steps[1].If.EvalBool(env)
		if err != nil || ok {
			t.Errorf("r=%v: if gives %v, %v", r, ok, err)
		}
		got, err = f.Steps[2].Arg.(*flows.Message).Text.Render(env)
		if err != nil || got != "none 0 2026" {
			t.Errorf("r=%v: %q, %v", r, got, err)
		}
	}
	env := &flows.Env{Vars: map[string]any{"r": map[string]any{"body": map[string]any{"id": 7.0, "items": []any{map[string]any{"name": "tea"}}}}}}
	got, err := f.Steps[0].Arg.(*flows.Message).Text.Render(env)
	if err != nil || got != "id=7; first=tea; city=" {
		t.Errorf("%q, %v", got, err)
	}
	// An index past a list's end is still an error (the list is there;
	// the flow's author wrote a position it lacks), and so is a method of
	// nothing: there is no value to ask.
	empty := &flows.Env{Vars: map[string]any{"r": map[string]any{"body": map[string]any{"items": []any{}}}}}
	if _, err := f.Steps[0].Arg.(*flows.Message).Text.Render(empty); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("index past the end: %v", err)
	}
	if _, err := f.Steps[3].Arg.(*flows.Message).Text.Render(&flows.Env{Vars: map[string]any{}}); err == nil {
		t.Error("a method of nil rendered")
	}
}

// TestMemberOfATextIsNothing: a field of a value that has no fields (the
// body of an http answer that is not JSON: a failed call's or a 204's
// empty text, an HTML error page, a truncated JSON answer; a number or a
// boolean) is nothing, as a field of nothing is. It failed the run with
// "invalid operation: int(string)", though docs/flows.md promises that
// `${vars.r.body.id}` is empty when the call failed. Found by calling a
// local server's 204 and truncated-JSON answers from `wxflow chat`.
func TestMemberOfATextIsNothing(t *testing.T) {
	t.Parallel()
	src := `name: a
triggers: [{keyword: [hi]}]
vars: { r: any }
steps:
  - send: "id=${vars.r.body.id}; first=${vars.r.body.items[0].name}; h=${http.body.id}"
  - send: "yes"
    if: vars.r.body.ok == true
  - send: "${vars.r.body.name ?? 'friend'} ${vars.r.body['id'] ?? 'none'}"
`
	f, diags := load(t, src, flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	for _, body := range []any{"", "<html>Bad Gateway</html>", `{"id":`, 5.0, int64(7), true} {
		env := &flows.Env{Vars: map[string]any{"r": map[string]any{"status": 200, "body": body}}, HTTP: flows.HTTPEnv{Body: body}}
		got, err := f.Steps[0].Arg.(*flows.Message).Text.Render(env)
		if err != nil || got != "id=; first=; h=" {
			t.Errorf("body %#v: %q, %v", body, got, err)
		}
		ok, err := f.Steps[1].If.EvalBool(env)
		if err != nil || ok {
			t.Errorf("body %#v: if gives %v, %v", body, ok, err)
		}
		got, err = f.Steps[2].Arg.(*flows.Message).Text.Render(env)
		if err != nil || got != "friend none" {
			t.Errorf("body %#v: %q, %v", body, got, err)
		}
	}
	// A map's fields are read as before.
	env := &flows.Env{Vars: map[string]any{"r": map[string]any{"body": map[string]any{"id": "x1", "name": "Ann"}}}, HTTP: flows.HTTPEnv{Body: map[string]any{"id": 3.0}}}
	got, err := f.Steps[0].Arg.(*flows.Message).Text.Render(env)
	if err != nil || got != "id=x1; first=; h=3" {
		t.Errorf("%q, %v", got, err)
	}
}

// TestOrderOfNothingIsFalse: an ordering comparison with nothing (a
// contact field never set, a declared variable not given) is false, as
// `if: contact.fields.vip` and `== x` are, and `!nothing` is true: it
// failed the run ("invalid operation: <nil> >= int"), so that
// `if: contact.fields.age >= 18` stopped every run of a contact without
// an age. Values that are there still compare as before, and values that
// cannot be compared still fail.
func TestOrderOfNothingIsFalse(t *testing.T) {
	t.Parallel()
	src := `name: a
triggers: [{keyword: [hi]}]
vars: { n: number, flag: bool, when: time }
steps:
  - if: contact.fields.age >= 18
    tag: [a]
  - if: contact.fields.age < 18
    tag: [b]
  - if: vars.n > 3
    tag: [c]
  - if: 3 <= vars.n
    tag: [d]
  - if: "!vars.flag"
    tag: [e]
  - if: not vars.flag
    tag: [f]
  - if: vars.when < now
    tag: [g]
  - if: contact.fields.age > vars.n
    tag: [h]
`
	f, diags := load(t, src, flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	eval := func(env *flows.Env) (string, error) {
		var out []string
		for i, s := range f.Steps {
			ok, err := s.If.EvalBool(env)
			if err != nil {
				return "", fmt.Errorf("step %d: %w", i+1, err)
			}
			out = append(out, fmt.Sprint(ok))
		}
		return strings.Join(out, " "), nil
	}
	now := time.Date(2026, 11, 16, 10, 0, 0, 0, time.UTC)
	got, err := eval(&flows.Env{Contact: flows.ContactEnv{Fields: map[string]any{}}, Vars: map[string]any{}, Now: now})
	if want := "false false false false true true false false"; err != nil || got != want {
		t.Errorf("nothing: got %q, %v, want %q", got, err, want)
	}
	got, err = eval(&flows.Env{Contact: flows.ContactEnv{Fields: map[string]any{"age": 20.0}},
		Vars: map[string]any{"n": 3.0, "flag": true, "when": now.Add(-time.Hour)}, Now: now})
	if want := "true false false true false false true true"; err != nil || got != want {
		t.Errorf("values: got %q, %v, want %q", got, err, want)
	}
	if _, err := eval(&flows.Env{Contact: flows.ContactEnv{Fields: map[string]any{"age": "old"}}, Vars: map[string]any{}, Now: now}); err == nil || !strings.Contains(err.Error(), "invalid operation") {
		t.Errorf("text >= number: %v", err)
	}
	// A comparison whose types are known not to fit is still refused
	// when the flow loads.
	if _, diags := load(t, "name: b\ntriggers: [{keyword: [go]}]\nsteps:\n  - if: contact.id > 3\n    tag: [x]\n", flows.Options{}); len(diags) == 0 {
		t.Error("text > number loaded")
	}
}

// TestDateReadsInTheServersZone: date() without a zone reads its text in
// the zone of now (the server's, the scenario's), as every other time of
// a flow; expr's default was UTC, so a wait until date("... 09:00:00")
// woke at 17:00 in Beijing. A zone given stays the one given.
func TestDateReadsInTheServersZone(t *testing.T) {
	t.Parallel()
	src := `name: a
triggers: [{keyword: [go]}]
steps:
  - send: "${date('2026-11-20 09:00:00')} ${date('2026-11-20')} ${date('20/11/2026 09:00', '02/01/2006 15:04')} ${date('2026-11-20 09:00', '2006-01-02 15:04', 'UTC')} ${date('2026-11-20T09:00:00Z')}"
`
	f, diags := load(t, src, flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	sh := time.FixedZone("CST", 8*3600)
	got, err := f.Steps[0].Arg.(*flows.Message).Text.Render(&flows.Env{Now: time.Date(2026, 11, 16, 10, 0, 0, 0, sh)})
	want := "2026-11-20T09:00:00+08:00 2026-11-20T00:00:00+08:00 2026-11-20T09:00:00+08:00 2026-11-20T09:00:00Z 2026-11-20T09:00:00Z"
	if err != nil || got != want {
		t.Fatalf("got  %q, %v\nwant %q", got, err, want)
	}
	// A date written out that cannot be read is still an error at load.
	if _, diags := load(t, "name: b\ntriggers: [{keyword: [go]}]\nsteps:\n  - send: \"${date('20/11/2026')}\"\n", flows.Options{}); len(diags) == 0 || !strings.Contains(diags[0], `date("20/11/2026") fails whenever it runs`) {
		t.Errorf("a date that cannot be read: %v", diags)
	}
}

// TestLateSendSaysTheRealWait: the warning at a send after the window
// names the wait that comes before it, not the bound the analysis keeps
// its states under (four windows: "8d" for a wait of 30d).
func TestLateSendSaysTheRealWait(t *testing.T) {
	t.Parallel()
	late := func(line int, waited string) string {
		return fmt.Sprintf("%d:5: warning: this message can only be sent after WeChat's 48h window has closed (%s of waiting with no reply from the contact comes before it; it will fail as window_closed)", line, waited)
	}
	for _, tt := range []struct {
		name, steps string
		want        []string
	}{
		{"30d", "  - wait: 30d\n  - send: late\n", []string{late(5, "30d")}},
		{"365d", "  - wait: 365d\n  - send: late\n", []string{late(5, "365d")}},
		{"waits add up", "  - wait: 5d\n  - send: late\n  - wait: 40d\n  - send: later\n", []string{late(5, "5d"), late(7, "45d")}},
		{"the shorter of two paths", "  - if: event.scene == \"a\"\n    wait: 30d\n  - wait: 3d\n  - send: late\n", []string{late(7, "3d")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got := load(t, "name: a\ntriggers: [follow]\nsteps:\n"+tt.steps, flows.Options{})
			checkLines(t, got, tt.want)
		})
	}
}

// TestMenuKeyOfOneAccount: menu push publishes menu.yaml to every
// account, so with the config's accounts known a click key whose flows
// all serve other accounts (account:) is warned of, naming the accounts
// where it starts nothing; it was not, as some flow handled the key.
func TestMenuKeyOfOneAccount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) { must(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)) }
	write("promo.yaml", "name: promo\naccount: main\ntriggers:\n  - menu: MENU_PROMO\nsteps:\n  - send: hi\n")
	write("help.yaml", "name: help\ntriggers:\n  - menu: MENU_HELP\nsteps:\n  - send: hi\n")
	write("shop.yaml", "name: shop\naccount: main\ntriggers:\n  - menu: MENU_SHOP\nsteps:\n  - send: hi\n")
	write("shop_hk.yaml", "name: shop_hk\naccount: hk\ntriggers:\n  - menu: MENU_SHOP\nsteps:\n  - send: hi\n")
	write("menu.yaml", "menu:\n  - { name: Promo, key: MENU_PROMO }\n  - { name: Help, key: MENU_HELP }\n  - { name: Shop, key: MENU_SHOP }\n")
	warnings := func(opts flows.Options) []string {
		diags, _, err := flows.Validate([]string{dir}, opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range diags {
			if filepath.Base(d.File) == "menu.yaml" {
				got = append(got, "menu.yaml:"+strings.SplitN(d.String(), ":", 2)[1])
			}
		}
		return got
	}
	want := `menu.yaml:2:25: warning: no flow handles menu key "MENU_PROMO" on account hk (its flows serve main only) (wxflow menu push publishes this menu to every account: give hk a flow with the trigger - menu: MENU_PROMO (a flow without account: serves every account), or publish the menu with menu push --account)`
	if got := warnings(flows.Options{Accounts: []string{"main", "hk"}}); strings.Join(got, "\n") != want {
		t.Errorf("two accounts:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	// One account, or accounts unknown: nothing to say of the menu.
	for _, accounts := range [][]string{{"main"}, nil} {
		if got := warnings(flows.Options{Accounts: accounts}); len(got) != 0 {
			t.Errorf("accounts %v: %v", accounts, got)
		}
	}
}

// TestStartOfOneAccountsFlow: with the config's accounts known, a flow of
// every account whose top-level start: (without if:) names a flow of one
// account is warned of, as the runs of the other accounts' contacts fail
// there; it was not (a flow of another account starting it is an error).
func TestStartOfOneAccountsFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) { must(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)) }
	write("promo.yaml", "name: promo\naccount: main\ntriggers: []\nsteps:\n  - send: hi\n")
	write("go.yaml", "name: go\ntriggers:\n  - keyword: [go]\nsteps:\n  - start: promo\n  - start: promo\n    if: account.id == \"main\"\n")
	write("main_go.yaml", "name: main_go\naccount: main\ntriggers:\n  - keyword: [main]\nsteps:\n  - start: promo\n")
	validate := func(accounts []string) []string {
		diags, _, err := flows.Validate([]string{dir}, flows.Options{Accounts: accounts})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range diags {
			got = append(got, filepath.Base(d.File)+":"+strings.SplitN(d.String(), ":", 2)[1])
		}
		return got
	}
	want := `go.yaml:5:12: warning: flow "promo" serves account main only: the run of a contact of hk fails at this start (give this flow account: main, or the step if: account.id == "main")`
	if got := validate([]string{"main", "hk"}); strings.Join(got, "\n") != want {
		t.Errorf("two accounts:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	for _, accounts := range [][]string{{"main"}, nil} {
		if got := validate(accounts); len(got) != 0 {
			t.Errorf("accounts %v: %v", accounts, got)
		}
	}
}

// TestFlowAccountChecked: a flow's account is an id a config could
// declare (an error otherwise), and, when the config is known, one it
// serves (a warning: the flow never starts); a typo was accepted in
// silence.
func TestFlowAccountChecked(t *testing.T) {
	t.Parallel()
	src := func(account string) string {
		return "name: a\naccount: " + account + "\ntriggers: [{keyword: [go]}]\nsteps:\n  - send: hi\n"
	}
	if _, diags := load(t, src(`"Main Acct!"`), flows.Options{}); len(diags) != 1 || !strings.Contains(diags[0], "is no account id") {
		t.Errorf("an impossible account id: %v", diags)
	}
	opts := flows.Options{Accounts: []string{"main", "hk"}}
	if _, diags := load(t, src("mian"), opts); len(diags) != 1 || !strings.Contains(diags[0], `the config serves no account "mian"`) || !strings.Contains(diags[0], `did you mean "main"?`) {
		t.Errorf("an account the config does not serve: %v", diags)
	}
	if _, diags := load(t, src("hk"), opts); len(diags) != 0 {
		t.Errorf("an account the config serves: %v", diags)
	}
	if _, diags := load(t, src("mian"), flows.Options{}); len(diags) != 0 {
		t.Errorf("without a config, any account id: %v", diags)
	}
}

// TestMediaURLType: a media URL whose extension WeChat does not take for
// the kind is an error at load, as the channel refuses it before the
// download; a URL without an extension is judged when it is fetched.
func TestMediaURLType(t *testing.T) {
	t.Parallel()
	src := func(media string) string {
		return "name: a\ntriggers: [{keyword: [go]}]\nsteps:\n  - send: " + media + "\n"
	}
	if _, diags := load(t, src(`{ voice: "https://example.com/a.wav" }`), flows.Options{}); len(diags) != 1 || !strings.Contains(diags[0], "has an unsupported type") {
		t.Errorf("a .wav voice URL: %v", diags)
	}
	for _, ok := range []string{`{ voice: "https://example.com/a.mp3" }`, `{ image: "https://cdn.example.com/img/123" }`, `{ image: "https://example.com/x.PNG?v=2" }`} {
		if _, diags := load(t, src(ok), flows.Options{}); len(diags) != 0 {
			t.Errorf("%s: %v", ok, diags)
		}
	}
}
