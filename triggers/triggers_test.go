package triggers_test

import (
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	"github.com/wxflow/wxflow/triggers"
)

func loadTriggers(t *testing.T, triggersYAML string) (*flows.Flow, []string) {
	t.Helper()
	src := "name: a\ntriggers:\n" + triggersYAML + "steps: [end]\n"
	f, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
	var out []string
	for _, d := range diags {
		out = append(out, strings.TrimPrefix(strings.SplitN(d.String(), "\n", 2)[0], "f.yaml:"))
	}
	return f, out
}

func TestTriggerRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, triggers string
		want           string
	}{
		{"bare follow", "  - follow\n", ""},
		{"follow with scene", "  - follow: store_*\n", ""},
		{"scan needs a scene", "  - scan\n", `3:5: error: scan trigger needs a value (a scene glob, e.g. store_*)`},
		{"keyword words", "  - keyword: [hi, hello, 你好]\n", ""},
		{"keyword pattern", "  - keyword: { pattern: \"^order ([0-9]+)$\" }\n", ""},
		{"keyword bad pattern", "  - keyword: { pattern: \"(\" }\n", `3:25: error: invalid regular expression: missing closing ): ` + "`(`"},
		{"keyword empty word", "  - keyword: [hi, \" \"]\n", `3:14: error: empty keyword (remove the empty word)`},
		{"message with type", "  - message:\n    type: image\n    priority: -10\n", ""},
		{"message bad type", "  - message:\n    type: imgae\n", `4:11: error: type: invalid value "imgae" (did you mean "image"?)`},
		{"priority not a number", "  - follow:\n    priority: high\n", `4:15: error: priority: expected a whole number, got "high"`},
		{"interrupt not a bool", "  - keyword: [hi]\n    interrupt: yes please\n", `4:16: error: interrupt: expected true or false, got "yes please" (write true or false)`},
		{"unknown key", "  - follow:\n    scene: store_1\n", `4:5: error: unknown key "scene" in follow trigger`},
		{"schedule", "  - schedule:\n      cron: \"0 9 * * mon-fri\"\n      timezone: Asia/Shanghai\n      audience: \"'weekly' in contact.tags\"\n", ""},
		{"schedule without cron", "  - schedule:\n      timezone: UTC\n", `4:7: error: missing key "cron" in schedule trigger`},
		{"schedule with seconds", "  - schedule:\n      cron: \"0 0 9 * * *\"\n", `4:13: error: invalid cron expression "0 0 9 * * *"`},
		{"schedule local zone", "  - schedule:\n      cron: \"0 9 * * *\"\n      timezone: Local\n", `5:17: error: unknown time zone "Local" (leave timezone out to use the server's zone, or name one such as Asia/Shanghai)`},
		{"audience not boolean", "  - schedule:\n      cron: \"0 9 * * *\"\n      audience: contact.tags\n", `5:17: error: condition must be true or false, but gives []string`},
		{"two kinds", "  - follow:\n    scan: x\n", `4:5: error: a trigger has one kind, but this one has "follow" and "scan"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got := loadTriggers(t, tt.triggers)
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

func TestKeywordsAndDefaults(t *testing.T) {
	t.Parallel()
	f, diags := loadTriggers(t, "  - keyword: [Hi, \" Hello \"]\n  - follow\n  - message:\n    interrupt: true\n")
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	k := f.Triggers[0].Arg.(*triggers.Keywords)
	if strings.Join(k.Words, ",") != "Hi,Hello" || f.Triggers[0].Interrupt {
		t.Errorf("keyword: %v interrupt=%v", k.Words, f.Triggers[0].Interrupt)
	}
	if in, spec := f.Triggers[0].Spec.Inputs(f.Triggers[0]); strings.Join(in, ",") != "text:hi,text:hello" || spec != triggers.SpecificityExact {
		t.Errorf("inputs %v %d", in, spec)
	}
	if !f.Triggers[1].Interrupt {
		t.Error("follow interrupts by default")
	}
	if !f.Triggers[2].Interrupt {
		t.Error("interrupt: true on message was not kept")
	}
}
