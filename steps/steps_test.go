package steps_test

import (
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

func diagnostics(t *testing.T, stepsYAML string) []string {
	t.Helper()
	src := "name: a\ntriggers: [follow]\nsteps:\n" + stepsYAML + declareVars(stepsYAML)
	_, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
	var out []string
	for _, d := range diags {
		out = append(out, strings.TrimPrefix(strings.SplitN(d.String(), "\n", 2)[0], "f.yaml:"))
	}
	return out
}

func TestStepRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, steps string
		want        string // "" means valid
	}{
		{"ask pattern without expect", "  - ask: code?\n    pattern: \"^[0-9]{6}$\"\n    save: vars.code\n", ""},
		{"ask pattern with expect number", "  - ask: code?\n    expect: number\n    pattern: \"^[0-9]+$\"\n", `6:5: error: pattern: applies to text answers, but this ask expects number`},
		{"ask choices without expect", "  - ask: q\n    choices: { a: [\"1\"] }\n", `5:5: error: choices: only apply to an ask that expects a choice (add expect: choice)`},
		{"ask choice without choices", "  - ask: q\n    expect: choice\n", `5:5: error: expect: choice needs choices:`},
		{"ask min without number", "  - ask: q\n    min: 1\n", `5:5: error: min: only applies to an ask that expects a number (add expect: number)`},
		{"ask min above max", "  - ask: q\n    expect: number\n    min: 5\n    max: 1\n", `6:10: error: min (5) is larger than max (1)`},
		{"ask reply in two choices", "  - ask: q\n    expect: choice\n    choices: { a: [\"1\", yes], b: [YES] }\n", `6:34: error: reply "YES" chooses both "a" and "b"`},
		{"ask retries out of range", "  - ask: q\n    retries: 11\n", `5:14: error: retries must be between 0 and 10`},
		{"ask unknown expect", "  - ask: q\n    expect: emial\n", `5:13: error: expect: invalid value "emial" (did you mean "email"?)`},
		{"branch then and goto", "  - id: x\n    branch:\n      - if: true\n        then: [end]\n        goto: x\n", `8:9: error: branch case has both then: and goto:`},
		{"branch case without if", "  - branch:\n      - then: [end]\n", `5:9: error: branch case has no if:`},
		{"branch case without then", "  - branch:\n      - if: true\n", `5:9: error: branch case has no then: or goto:`},
		{"wait both", "  - wait: 1h\n    until: now\n", `5:5: error: wait has both a duration and until:`},
		{"wait neither", "  - wait:\n", `4:5: error: wait needs a duration or until:`},
		{"wait until", "  - wait:\n    until: now.Add(duration(\"1h\"))\n", ""},
		{"set bad target", "  - set: { name: x }\n", `4:12: error: cannot set "name" (use vars.<name> or contact.fields.<name>)`},
		{"set nested json", "  - set:\n      vars.order: { id: \"${vars.x}\", items: [1, 2] }\n", ""},
		{"tag not a list", "  - tag: vip\n", `4:10: error: expected a list of texts, got "vip"`},
		{"tag a list value", "  - tag: [\"${contact.tags}\", ok]\n", `4:10: error: ${contact.tags} gives a list, which would be one tag named by its JSON`},
		{"untag a map value", "  - untag: [\"${{'a': 1}}\"]\n", `4:12: error: ${{'a': 1}} gives a map, which would be one tag named by its JSON`},
		{"tag a text value", "  - tag: [\"${contact.tags[0]}\", \"store_${event.scene}\"]\n", ""},
		{"http json and body", "  - http:\n      method: POST\n      url: https://x.example\n      json: {a: 1}\n      body: x\n", `8:7: error: http request has both json: and body:`},
		{"http get with body", "  - http:\n      method: GET\n      url: https://x.example\n      body: x\n", `5:7: error: a GET request has no body`},
		{"http bad url", "  - http:\n      url: ftp://x\n", `5:12: error: invalid URL "ftp://x"`},
		{"http on_error under http", "  - http:\n      url: https://x.example\n      on_error: x\n", `6:7: error: unknown key "on_error" in http request`},
		{"http url beside http", "  - http:\n      method: GET\n    url: https://x\n", `6:5: error: unknown key "url" in http step ("url" belongs under "http:")`},
		{"http timeout too long", "  - http:\n      url: https://x.example\n      timeout: 5m\n", `6:16: error: http timeout 5m is too long`},
		{"hours neither", "  - hours:\n      open: { mon-fri: \"09:00-18:00\" }\n", `4:5: error: hours has neither when_open: nor when_closed:`},
		{"hours bad day", "  - hours:\n      open: { mon-fry: \"09:00-18:00\" }\n    when_open: [end]\n", `5:15: error: unknown day "fry"`},
		{"hours bad range", "  - hours:\n      open: { mon: \"18:00-09:00\" }\n    when_open: [end]\n", `5:20: error: time range "18:00-09:00" ends before it starts`},
		{"hours day twice", "  - hours:\n      open: { mon-fri: \"09:00-18:00\", fri: \"10:00-12:00\" }\n    when_open: [end]\n", `5:39: error: fri is given twice`},
		{"hours holiday and workday", "  - hours:\n      open: { mon-fri: \"09:00-18:00\" }\n      holidays: [2026-10-10]\n      workdays: [2026-10-10]\n    when_open: [end]\n", `7:17: error: 2026-10-10 is both a holiday and a workday`},
		{"hours workday on a weekday", "  - hours:\n      open: { mon-fri: \"09:00-18:00\" }\n      workdays: [2026-10-12]\n    when_open: [end]\n", `6:17: warning: 2026-10-12 is a Monday, not a weekend day`},
		{"end with a value", "  - end: now\n", `4:10: error: end takes no value`},
		{"goto without target", "  - goto\n", `4:5: error: goto step needs a value: a step id`},
		{"send menu message", "  - send:\n      menu:\n        head: Pick one\n        items: [{id: a, text: A}, {id: b, text: B}]\n", ""},
		{"send two kinds", "  - send: { text: a, image: https://x/a.png }\n", `4:22: error: a message has one kind, but this one has "text" and "image"`},
		{"title on image", "  - send: { image: https://x/a.png, title: t }\n", `4:37: error: "title" does not apply to an image message`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := diagnostics(t, tt.steps)
			if tt.want == "" {
				if len(got) > 0 {
					t.Fatalf("want valid, got:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			for _, g := range got {
				if strings.HasPrefix(g, tt.want) {
					return
				}
			}
			t.Fatalf("missing %q; got:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

func TestOpenHours(t *testing.T) {
	t.Parallel()
	src := "name: a\ntriggers: [follow]\nsteps:\n  - hours:\n      timezone: Asia/Shanghai\n      open: { mon-fri: \"09:00-12:00, 13:00-18:00\", \"sat,sun\": [\"10:00-24:00\"] }\n    when_open: [end]\n"
	f, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	week := f.Steps[0].Arg.(*flows.Object).Get("open").(steps.OpenHours)
	if got := week[1]; len(got) != 2 || got[0] != (steps.TimeRange{Start: 540, End: 720}) || got[1] != (steps.TimeRange{Start: 780, End: 1080}) {
		t.Errorf("monday = %v", got)
	}
	if got := week[0]; len(got) != 1 || got[0] != (steps.TimeRange{Start: 600, End: 1440}) {
		t.Errorf("sunday = %v", got)
	}
	if got := week.WorkdayHours(); len(got) != 2 {
		t.Errorf("workday hours = %v", got)
	}
}
