package flows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
)

// validateFiles writes files into a new folder, validates it and returns
// the diagnostics' first lines, each with its file's base name.
func validateFiles(t *testing.T, files map[string]string) []string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	diags, _, err := flows.Validate([]string{dir}, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diags {
		got = append(got, filepath.Base(d.File)+":"+strings.SplitN(strings.SplitN(d.String(), "\n", 2)[0], ":", 2)[1])
	}
	return got
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestValidateGoesOnAfterAnError: an error does not hide the problems
// that later checks find, in the same file or in others; before, the
// variable and type checks of a file, and its start: steps and triggers
// in the checks between flows, were skipped once the file had an error.
func TestValidateGoesOnAfterAnError(t *testing.T) {
	t.Parallel()
	t.Run("goto to a missing id", func(t *testing.T) {
		t.Parallel()
		_, got := load(t, `name: a
triggers: [follow]
steps:
  - send: "${vars.nope}"
  - goto: missing
`, flows.Options{})
		checkLines(t, got, []string{
			`4:19: error: unknown variable "vars.nope": the flow neither writes nor declares it (the flow writes no variables (save: vars.nope, set:); a variable given by start:, the API or an operator is declared: vars: { nope: text })`,
			`5:11: error: no step has id "missing" (give the target step an id: missing)`,
		})
	})
	t.Run("a step with an error, and checks of the others", func(t *testing.T) {
		t.Parallel()
		got := validateFiles(t, map[string]string{
			"a.yaml": `name: a
triggers: [follow]
steps:
  - start: { vars: {} }
  - ask: "plan?"
    save: vars.plan
  - if: vars.plan
    send: yes
  - http: { url: "${vars.u}" }
  - start: b
`,
			"b.yaml": `name: b
steps:
  - start: a
`,
		})
		checkLines(t, got, []string{
			`a.yaml:4:12: error: missing key "flow" in start step (add flow:, e.g. flow: welcome)`,
			`a.yaml:7:9: error: condition must be true or false, but gives text (vars.plan is text (from the ask step at line 6); compare it, e.g. vars.plan == "yes", or vars.plan != "")`,
			`a.yaml:9:26: error: unknown variable "vars.u": the flow neither writes nor declares it (the flow's variables are vars.plan; a variable given by start:, the API or an operator is declared: vars: { u: text })`,
			`b.yaml:3:12: error: start: forms a cycle: a -> b -> a (a flow that starts itself, directly or through others, never ends; to repeat steps (a daily reminder), jump back with goto: after a wait:)`,
		})
	})
	t.Run("menu.yaml with an error", func(t *testing.T) {
		t.Parallel()
		got := validateFiles(t, map[string]string{
			"a.yaml": `name: a
triggers:
  - menu: K1
  - menu: GONE
steps: [end]
`,
			"menu.yaml": `menu:
  - { name: A, key: K1, colour: red }
  - { name: B, key: K2 }
`,
		})
		checkLines(t, got, []string{
			`a.yaml:4:11: warning: menu key "GONE" is not in menu.yaml (menu.yaml has keys K1, K2)`,
			`menu.yaml:2:25: error: unknown key "colour" in menu button (allowed keys: name, key, url, items)`,
			`menu.yaml:3:21: warning: no flow handles menu key "K2" (add a flow with the trigger - menu: K2)`,
		})
	})
}

// TestNoFollowOnErrors: what only follows from an error is not reported
// beside it: a variable that a step with an error writes, or a
// declaration with an error declares, is not unknown; a step that a
// misspelt jump may be meant for is not unreached; a menu key that a
// trigger with an error may handle has a flow.
func TestNoFollowOnErrors(t *testing.T) {
	t.Parallel()
	t.Run("variables", func(t *testing.T) {
		t.Parallel()
		_, got := load(t, `name: a
vars: { q: nosuchtype }
triggers: [follow]
steps:
  - sett: { vars.w: 1 }
  - ask: "x?"
    save: y
  - ask: "n?"
    expect: numbr
    save: vars.n
  - send: "${vars.w} ${vars.y} ${vars.q}"
  - if: vars.n > 3
    send: big
`, flows.Options{})
		checkLines(t, got, []string{
			`2:12: error: vars: q: unknown type "nosuchtype" (types are text, number, bool, time, list, map, any)`,
			`5:5: error: unknown step kind "sett" (did you mean "set"?)`,
			`7:11: error: cannot save to "y" (did you mean "vars.y"?)`,
			`9:13: error: expect: invalid value "numbr" (did you mean "number"?)`,
		})
	})
	t.Run("unreached step of a misspelt jump", func(t *testing.T) {
		t.Parallel()
		_, got := load(t, `name: a
triggers: [follow]
steps:
  - goto: finsh
  - send: never
  - id: finish
    send: bye
`, flows.Options{})
		checkLines(t, got, []string{`4:11: error: no step has id "finsh" (did you mean "finish"?)`})
	})
	t.Run("menu trigger with an error", func(t *testing.T) {
		t.Parallel()
		got := validateFiles(t, map[string]string{
			"a.yaml": `name: a
triggers:
  - menu: K1
    priorty: 5
steps: [end]
`,
			"menu.yaml": "menu:\n  - { name: A, key: K1 }\n",
		})
		checkLines(t, got, []string{`a.yaml:4:5: error: unknown key "priorty" in menu trigger (did you mean "priority"?)`})
	})
}

// TestWritesMatchDeclarations: a write of a declared variable whose value
// has another type is an error at the write; before, it loaded and the
// run failed where the value was used.
func TestWritesMatchDeclarations(t *testing.T) {
	t.Parallel()
	_, got := load(t, `name: a
vars: { x: text, t: time, n: number, h: number, y: text, a: any, ok_n: number, ok_t: time, ok_m: map, ok_x: text }
triggers: [follow]
steps:
  - set: { vars.x: 5, vars.t: "not a time", vars.n: "abc" }
  - ask: "num?"
    expect: number
    save: vars.y
  - http: { url: "https://x.example.com", save: vars.h }
  - set: { vars.a: 1, vars.ok_n: 2.5, vars.ok_t: "${now}", vars.ok_x: "${answer}" }
  - http: { url: "https://x.example.com", save: vars.ok_m }
  - if: vars.n > 3
    send: big
`, flows.Options{})
	checkLines(t, got, []string{
		`5:12: error: vars.x is declared text, but this set step writes a number (vars: at line 2 declares x text; store text in it, or declare it number)`,
		`5:23: error: vars.t expects a time, written as RFC 3339 (2027-01-31T09:30:00+08:00), not "not a time" (vars: at line 2 declares t time)`,
		`5:45: error: vars.n is declared number, but this set step writes text (vars: at line 2 declares n number; store a number in it, or declare it text)`,
		`8:11: error: vars.y is declared text, but this ask step saves a number (vars: at line 2 declares y text; store text in it, or declare it number)`,
		`9:49: error: vars.h is declared number, but this http step saves a map (vars: at line 2 declares h number; store a number in it, or declare it map)`,
	})
}

// TestUnreachedStepWithID: a step with an id that nothing jumps to is
// never reached, also right after another step that is not; before, only
// the first step of such a stretch was reported.
func TestUnreachedStepWithID(t *testing.T) {
	t.Parallel()
	_, got := load(t, `name: a
triggers: [follow]
steps:
  - send: hi
  - end
  - send: a
  - id: lonely
    send: b
  - send: c
`, flows.Options{})
	checkLines(t, got, []string{
		`6:5: warning: step is never reached (it comes after a goto or end and no jump leads here; give it an id and jump to it, or remove it)`,
		`7:5: warning: step is never reached (it comes after a goto or end and no step that runs jumps to "lonely"; jump to it (goto: lonely), or remove it)`,
	})
}

// TestTypedTemplateWrites: a value that is exactly one ${...} reading the
// flow's own variables has their type at validation: text saved by an
// ask, written into a declared number (set:) or given to a flow that
// declares it a number (start:), is an error at load time; before, it
// loaded, and the run stored "abc" in a number.
func TestTypedTemplateWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"p.yaml": `name: p
triggers: [{keyword: [p]}]
vars: { n: number, ok: text }
steps:
  - ask: "A number?"
    save: vars.txt
  - set: { vars.n: "${vars.txt}", vars.ok: "${vars.txt}" }
  - start: { flow: sub, vars: { m: "${vars.txt}", k: "${vars.txt}", x: "${len(vars.txt)}" } }
`,
		"sub.yaml": `name: sub
vars: { m: number, k: text, x: number }
steps:
  - send: "sub ${vars.m}"
`,
	}
	got := dirDiags(t, dir, files)
	want := []string{
		"p.yaml:7:12: error: vars.n is declared number, but this set step writes text (vars: at line 3 declares n number; store a number in it, or declare it text)",
		"p.yaml:8:36: error: m: sub expects a number, but this is text (" + filepath.Join(dir, "sub.yaml") + ":2 declares it number)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMediaIsNotATemplate: ${...} in a media URL or media_id was sent as
// written; it is an error at its place.
func TestMediaIsNotATemplate(t *testing.T) {
	t.Parallel()
	_, got := load(t, `name: a
triggers: [follow]
steps:
  - send: { image: "https://cdn.example.com/${contact.id}.png" }
  - send: { image: { media_id: "M_${contact.id}" } }
  - send: { image: "https://cdn.example.com/a.png" }
`, flows.Options{})
	checkLines(t, got, []string{
		`4:20: error: an image's file or URL is not a template: "https://cdn.example.com/${contact.id}.png" would be sent as written (write it out; for media that depends on the contact, branch to one send each)`,
		`5:32: error: a media_id is not a template: "M_${contact.id}" would be sent as written (write it out; for media that depends on the contact, branch to one send each)`,
	})
}

// TestStartOfAnotherAccountsFlow: a flow of one account starting a flow
// that names another is an error at the start step.
func TestStartOfAnotherAccountsFlow(t *testing.T) {
	t.Parallel()
	got := dirDiags(t, t.TempDir(), map[string]string{
		"a.yaml":   "name: a\naccount: main\ntriggers: [follow]\nsteps:\n  - start: b\n  - start: any\n",
		"b.yaml":   "name: b\naccount: other\nsteps:\n  - send: hi\n",
		"any.yaml": "name: any\nsteps:\n  - send: hi\n",
	})
	want := `a.yaml:5:12: error: flow "b" serves account other, and this flow account main (a run starts flows for its own contact: start a flow of account main, or one without account:)`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// TestCronThatNeverFires: a cron whose days of the month exist in none
// of its months is an error; February 29th (leap years) and a day of
// the week beside the day of the month (either fires) are not.
func TestCronThatNeverFires(t *testing.T) {
	t.Parallel()
	_, got := load(t, `name: a
triggers:
  - schedule: { cron: "0 0 30 2 *" }
  - schedule: { cron: "0 9 31 4,6,9,11 *" }
  - schedule: { cron: "0 9 29 2 *" }
  - schedule: { cron: "0 9 30 2 1" }
  - schedule: { cron: "0 9 31 * *" }
steps:
  - send: hi
`, flows.Options{})
	checkLines(t, got, []string{
		`3:23: error: cron expression "0 0 30 2 *" never fires (no month chosen has such a day: February has 29 days at most; April, June, September and November 30)`,
		`4:23: error: cron expression "0 9 31 4,6,9,11 *" never fires (no month chosen has such a day: February has 29 days at most; April, June, September and November 30)`,
	})
}

// TestLoopingAskWindowWarning: an ask that its own on_timeout comes back
// to is sent at once on the first path; the warning says the window
// closes on some paths, not that the message can only be sent after it.
func TestLoopingAskWindowWarning(t *testing.T) {
	t.Parallel()
	_, got := load(t, `name: a
triggers: [{keyword: [still]}]
steps:
  - id: q
    ask: "Still there?"
    timeout: 10m
    on_timeout: q
  - send: ok
`, flows.Options{})
	checkLines(t, got, []string{
		`4:5: warning: message 6 in a row, but WeChat allows 5 replies after a message (send fewer messages before this question; a question asked again unanswered (on_timeout, a jump back) counts too; the extra ones fail as quota_exhausted)`,
		`4:5: warning: on some paths this message comes after WeChat's 48h window has closed (48h of waiting with no reply from the contact comes before it on that path (a timeout or a wait the run comes back through); there it fails as window_closed)`,
	})
}

// dirDiags writes files into dir, loads it, and returns the folder's
// diagnostics with the file names relative to dir.
func dirDiags(t *testing.T, dir string, files map[string]string) []string {
	t.Helper()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range set.Diags {
		got = append(got, strings.TrimPrefix(d.String(), dir+string(filepath.Separator)))
	}
	return got
}

// TestTimeGivenAsText: a variable declared time may be given as RFC 3339
// text, as the vars key says: written out, it is checked when the flow
// loads; a template's text is checked when it is given.
func TestTimeGivenAsText(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"p.yaml": `name: p
triggers: [{keyword: [p]}]
vars: { at: time }
steps:
  - start: { flow: sub, vars: { t: "2026-11-16T11:00:00+08:00" } }
  - start: { flow: sub, vars: { t: "${now.Format('2006-01-02')}T09:00:00+08:00" } }
  - start: { flow: sub, vars: { t: "tomorrow" } }
  - set: { vars.at: "2026-11-16T11:00:00+08:00" }
  - set: { vars.at: "noon" }
`,
		"sub.yaml": `name: sub
vars: { t: time }
steps:
  - wait: { until: vars.t }
  - send: woke
`,
	}
	got := dirDiags(t, dir, files)
	want := []string{
		`p.yaml:7:36: error: t: sub expects a time, written as RFC 3339 (2027-01-31T09:30:00+08:00), not "tomorrow" (` + filepath.Join(dir, "sub.yaml") + ":2 declares it time)",
		`p.yaml:9:12: error: vars.at expects a time, written as RFC 3339 (2027-01-31T09:30:00+08:00), not "noon" (vars: at line 3 declares at time)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestThumbIsJPEG: a video's thumbnail must be a JPEG (WeChat takes no
// other), whatever its extension says; a PNG named th.jpg was accepted.
func TestThumbIsJPEG(t *testing.T) {
	t.Parallel()
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
	jpeg := "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
	flow := "name: v\ntriggers: [{keyword: [v]}]\nsteps:\n  - send: { video: clip.mp4, thumb: th.jpg }\n"
	video := "\x00\x00\x00\x18ftypmp42video"
	got := dirDiags(t, t.TempDir(), map[string]string{"v.yaml": flow, "clip.mp4": video, "th.jpg": png})
	if len(got) != 1 || !strings.Contains(got[0], `thumb "th.jpg" is not a JPEG`) {
		t.Errorf("a PNG thumb: %q", got)
	}
	if got := dirDiags(t, t.TempDir(), map[string]string{"v.yaml": flow, "clip.mp4": video, "th.jpg": jpeg}); len(got) != 0 {
		t.Errorf("a JPEG thumb: %q", got)
	}
}
