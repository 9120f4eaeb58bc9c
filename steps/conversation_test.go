package steps_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

func TestConversationSteps(t *testing.T) {
	t.Parallel()
	h := func(hs ...steps.Handover) []steps.Handover { return hs }
	tests := []struct {
		name    string
		yaml    string
		setup   func(rt *fakeRuntime)
		want    steps.Outcome
		wantErr string
		check   func(t *testing.T, c *conversationLog)
	}{
		{name: "assign an operator", yaml: "  - assign: amy\n", want: next,
			check: func(t *testing.T, c *conversationLog) {
				sameHandovers(t, c.handovers, h(steps.Handover{Operator: "amy"}))
			}},
		{name: "assign none", yaml: "  - assign: none\n", want: next,
			check: func(t *testing.T, c *conversationLog) { sameHandovers(t, c.handovers, h(steps.Handover{None: true})) }},
		{name: "assign a team's queue", yaml: "  - assign: { team: support }\n", want: next,
			check: func(t *testing.T, c *conversationLog) {
				sameHandovers(t, c.handovers, h(steps.Handover{Team: "support"}))
			}},
		{name: "assign round robin", yaml: "  - assign: { team: support, pick: round_robin }\n", want: next,
			check: func(t *testing.T, c *conversationLog) {
				sameHandovers(t, c.handovers, h(steps.Handover{Team: "support", Pick: "round_robin"}))
			}},
		{name: "assign least open, with on_fail, someone on shift", yaml: "  - assign:\n      team: sales\n      pick: least_open\n    on_fail: fallback\n", want: next,
			check: func(t *testing.T, c *conversationLog) {
				sameHandovers(t, c.handovers, h(steps.Handover{Team: "sales", Pick: "least_open"}))
			}},
		{name: "nobody on shift: on_fail, nothing else asked", yaml: "  - assign: { team: support, pick: round_robin }\n    on_fail: fallback\n",
			setup: func(rt *fakeRuntime) { rt.conv.nobodyOnShift = true }, want: gotoRef("fallback"),
			check: func(t *testing.T, c *conversationLog) {
				sameHandovers(t, c.handovers, h(steps.Handover{Team: "support", Pick: "round_robin"}))
			}},
		{name: "nobody on shift, no on_fail: the team's queue, and on", yaml: "  - assign: { team: support, pick: least_open }\n",
			setup: func(rt *fakeRuntime) { rt.conv.nobodyOnShift = true }, want: next,
			check: func(t *testing.T, c *conversationLog) {
				sameHandovers(t, c.handovers, h(steps.Handover{Team: "support", Pick: "least_open"}, steps.Handover{Team: "support"}))
			}},
		{name: "assign error", yaml: "  - assign: amy\n", setup: func(rt *fakeRuntime) { rt.conv.err = errors.New("store down") }, wantErr: "assign: store down"},
		{name: "open", yaml: "  - open\n", want: next,
			check: func(t *testing.T, c *conversationLog) {
				if c.opened != 1 {
					t.Fatalf("opened %d times", c.opened)
				}
			}},
		{name: "open beside an id", yaml: "  - id: o\n    open:\n", want: next},
		{name: "open error", yaml: "  - open\n", setup: func(rt *fakeRuntime) { rt.conv.err = errors.New("x") }, wantErr: "open: x"},
		{name: "close", yaml: "  - close\n", want: next,
			check: func(t *testing.T, c *conversationLog) { sameCloses(t, c.closed, [2]string{}) }},
		{name: "close with a note", yaml: "  - close: { note: solved }\n", want: next,
			check: func(t *testing.T, c *conversationLog) { sameCloses(t, c.closed, [2]string{"solved", ""}) }},
		{name: "close with templates", yaml: "  - close:\n      note: \"order ${vars.order} \"\n      category: \"${vars.topic}\"\n", want: next,
			setup: func(rt *fakeRuntime) { rt.env.Vars["order"], rt.env.Vars["topic"] = 42, "refund" },
			check: func(t *testing.T, c *conversationLog) { sameCloses(t, c.closed, [2]string{"order 42", "refund"}) }},
		{name: "close render error", yaml: "  - close: { note: \"${vars.x.Year()}\" }\n", wantErr: "close: note: "},
		{name: "comment", yaml: "  - comment: \"asked about ${vars.order}\"\n", want: next,
			setup: func(rt *fakeRuntime) { rt.env.Vars["order"] = "A1" },
			check: func(t *testing.T, c *conversationLog) { wantStrings(t, c.comments, "asked about A1") }},
		{name: "comment that renders empty is left out", yaml: "  - comment: \"${vars.empty}\"\n", want: next,
			setup: func(rt *fakeRuntime) { rt.env.Vars["empty"] = " " },
			check: func(t *testing.T, c *conversationLog) { wantStrings(t, c.comments) }},
		{name: "comment error", yaml: "  - comment: hi\n", setup: func(rt *fakeRuntime) { rt.conv.err = errors.New("x") }, wantErr: "comment: x"},
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
				tt.check(t, &rt.conv)
			}
		})
	}
}

func sameHandovers(t *testing.T, got, want []steps.Handover) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("handovers %+v, want %+v", got, want)
	}
}

func sameCloses(t *testing.T, got [][2]string, want ...[2]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("closes %q, want %q", got, want)
	}
}

func TestHandoverOf(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]steps.Handover{
		"  - assign: amy\n":                                  {Operator: "amy"},
		"  - assign: none\n":                                 {None: true},
		"  - assign: { team: support }\n":                    {Team: "support"},
		"  - assign: { team: support, pick: round_robin }\n": {Team: "support", Pick: steps.PickRoundRobin},
		"  - assign: { team: support, pick: least_open }\n":  {Team: "support", Pick: steps.PickLeastOpen},
	} {
		got, err := steps.HandoverOf(load(t, src))
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", src, got, err, want)
		}
	}
}

func TestConversationStepRules(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, steps, want string }{
		{"operator", "  - assign: amy\n", ""},
		{"team and pick", "  - assign: { team: support, pick: round_robin }\n    on_fail: x\n  - id: x\n    end:\n", ""},
		{"assign needs a value", "  - assign\n", `4:5: error: assign step needs a value: an operator's name`},
		{"assign empty", "  - assign:\n    id: a\n", `4:12: error: assign needs a value`},
		{"unknown pick", "  - assign: { team: support, pick: round_robbin }\n", `4:36: error: pick: invalid value "round_robbin" (did you mean "round_robin"?)`},
		{"other pick", "  - assign: { team: support, pick: random }\n", `4:36: error: pick: invalid value "random" (one of round_robin, least_open)`},
		{"pick without team", "  - assign: { pick: round_robin }\n", `4:13: error: missing key "team" in assign step (add team:, e.g. team: support)`},
		{"operator key", "  - assign: { team: support, operator: amy }\n", `4:30: error: unknown key "operator" in assign step (allowed keys: team, pick)`},
		{"a template name", "  - assign: \"${contact.fields.owner}\"\n", `4:13: error: invalid operator name "${contact.fields.owner}" (names are literal, so that wxflow validate can check them; a template cannot name an operator or a team)`},
		{"a capitalised name", "  - assign: Amy\n", `4:13: error: invalid operator name "Amy" (did you mean "amy"?)`},
		{"a team template", "  - assign: { team: \"t_${vars.x}\" }\n", `4:21: error: invalid team name "t_${vars.x}" (names are literal`},
		{"team none", "  - assign: { team: none }\n", `4:21: error: no team can be named "none" (write assign: none to hand the conversation back to nobody)`},
		{"a list", "  - assign: [amy]\n", `4:13: error: expected an operator name or a team assignment, got a list`},
		{"on_fail without pick", "  - assign: { team: support }\n    on_fail: x\n  - id: x\n    end:\n", `5:5: error: on_fail: needs pick:, since this assign always succeeds (on_fail: is taken when pick: finds no operator`},
		{"on_fail on an operator", "  - assign: amy\n    on_fail: x\n  - id: x\n    end:\n", `5:5: error: on_fail: needs pick:`},
		{"on_fail to nowhere", "  - assign: { team: support, pick: least_open }\n    on_fail: nobody\n", `5:14: error: no step has id "nobody" (give the target step an id: nobody)`},
		{"open takes no value", "  - open: now\n", `4:11: error: open takes no value (write "open:" with nothing after it, or "- open")`},
		{"close bare", "  - close\n", ""},
		{"close empty with id", "  - id: c\n    close:\n", ""},
		{"close unknown key", "  - close: { reason: solved }\n", `4:14: error: unknown key "reason" in close step (allowed keys: note, category)`},
		{"close a text", "  - close: solved\n", `4:12: error: close: expected a map in close step, got "solved"`},
		{"comment", "  - comment: \"${contact.id} asked twice\"\n", ""},
		{"comment needs text", "  - comment\n", `4:5: error: comment step needs a value: the note's text`},
		{"comment blank", "  - comment: \" \"\n", `4:14: error: empty comment (write the note, e.g. comment: "asked for a refund")`},
		{"comment with a secret", "  - comment: \"${secret.TOKEN}\"\n", `4:17: error: secret.TOKEN cannot be used here`},
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
			if len(got) == 0 || !strings.HasPrefix(got[0], tt.want) {
				t.Fatalf("got:\n%s\nwant a first line starting:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// people are the operators and teams the name checks are run with.
var people = &flows.People{
	Operators: map[string][]string{"amy": {"support"}, "bob": {"support", "sales"}},
	Teams:     []string{"support", "sales", "empty"},
}

func peopleDiagnostics(t *testing.T, stepsYAML string, p *flows.People) []string {
	t.Helper()
	src := "name: a\ntriggers: [follow]\nsteps:\n" + stepsYAML
	_, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{People: p})
	var out []string
	for _, d := range diags {
		out = append(out, d.String())
	}
	return out
}

func TestAssignNamesChecked(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, steps, want string }{
		{"declared operator", "  - assign: amy\n", ""},
		{"none", "  - assign: none\n", ""},
		{"declared team", "  - assign: { team: sales, pick: round_robin }\n", ""},
		{"misspelt operator", "  - assign: ammy\n", `f.yaml:4:13: error: no operator named "ammy" (did you mean "amy"?)`},
		{"unknown operator", "  - assign: zoe\n", `f.yaml:4:13: error: no operator named "zoe" (declared operators: amy, bob)`},
		{"misspelt team", "  - assign: { team: suport }\n", `f.yaml:4:21: error: no team named "suport" (did you mean "support"?)`},
		{"unknown team", "  - assign: { team: billing, pick: least_open }\n", `f.yaml:4:21: error: no team named "billing" (declared teams: empty, sales, support)`},
		{"pick in a team without operators", "  - assign: { team: empty, pick: round_robin }\n", `f.yaml:4:34: warning: team "empty" has no operators, so pick: never finds one`},
		{"a queue without operators is fine", "  - assign: { team: empty }\n", ""},
		{"nested steps are checked", "  - hours: { open: { mon-fri: \"09:00-18:00\" } }\n    when_closed:\n      - assign: bobb\n", `f.yaml:6:17: error: no operator named "bobb" (did you mean "bob"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := peopleDiagnostics(t, tt.steps, people)
			if tt.want == "" {
				if len(got) > 0 {
					t.Fatalf("want valid, got:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.want) {
				t.Fatalf("got:\n%s\nwant one line starting:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
	t.Run("no people: names are not checked", func(t *testing.T) {
		t.Parallel()
		if got := peopleDiagnostics(t, "  - assign: zoe\n  - assign: { team: billing, pick: round_robin }\n", nil); len(got) > 0 {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("no operators declared", func(t *testing.T) {
		t.Parallel()
		got := peopleDiagnostics(t, "  - assign: amy\n", &flows.People{})
		want := `f.yaml:4:13: error: no operator named "amy" (none are declared; declare operators in the configuration (or the scenario's header))`
		if len(got) != 1 || got[0] != want {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	})
}
