package flows_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// TestConversationNames: the `conversation.*` names of the environment
// compile, are evaluated from Env.Conversation, and a misspelt one is an
// error with a did-you-mean hint.
func TestConversationNames(t *testing.T) {
	t.Parallel()
	if !slices.Contains(flows.EnvNames(), "conversation") {
		t.Errorf("EnvNames() = %v, want conversation among them", flows.EnvNames())
	}
	f, diags := load(t, `name: a
triggers: [follow]
steps:
  - if: conversation.assignee == "" && conversation.status == "open" && conversation.team != "x" && conversation.opened_at < now
    send: "${conversation.assignee} of ${conversation.team} will answer you here."
`, flows.Options{})
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	env := &flows.Env{
		Now:          time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Conversation: flows.ConversationEnv{Status: "open", OpenedAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
	}
	ok, err := f.Steps[0].If.EvalBool(env)
	if err != nil || !ok {
		t.Errorf("if = %v, %v; want true", ok, err)
	}

	_, diags = load(t, `name: a
triggers: [follow]
steps:
  - if: conversation.asignee == ""
    send: hi
`, flows.Options{})
	want := `4:22: error: conversation has no field "asignee" (did you mean "assignee"?)`
	if len(diags) != 1 || diags[0] != want {
		t.Errorf("diagnostics = %q, want %q", diags, want)
	}
}

// TestConversationTriggerTies: `conversation: opened` ranks like a bare
// kind of every interaction that can open the conversation, so validate
// warns where it ties with a bare follow or message of another flow;
// `conversation: closed` ties with another `conversation: closed` and
// with a bare unfollow (an unfollow closes the conversation).
func TestConversationTriggerTies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "name: a\ntriggers:\n  - follow\nsteps: [end]\n")
	write("b.yaml", "name: b\ntriggers:\n  - conversation: opened\nsteps: [end]\n")
	write("c.yaml", "name: c\ntriggers:\n  - conversation: opened\n    priority: 1\n  - conversation: closed\nsteps: [end]\n")
	write("d.yaml", "name: d\ntriggers:\n  - conversation: closed\n  - keyword: [hi]\nsteps: [end]\n")
	write("e.yaml", "name: e\ntriggers:\n  - unfollow\nsteps: [end]\n")
	write("f.yaml", "name: f\ntriggers:\n  - unfollow:\n    priority: 1\nsteps: [end]\n")
	diags, _, err := flows.Validate([]string{dir}, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diags {
		rel, _ := filepath.Rel(dir, d.File)
		got = append(got, rel+":"+strings.SplitN(d.String(), ":", 2)[1])
	}
	want := []string{
		`b.yaml:3:5: warning: conversation trigger ties with flow "a" (` + filepath.Join(dir, "a.yaml") + `:3) for the same input; "a" wins by name order (give one of them a higher priority)`,
		`d.yaml:3:5: warning: conversation trigger ties with flow "c" (` + filepath.Join(dir, "c.yaml") + `:5) for the same input; "c" wins by name order (give one of them a higher priority)`,
		`e.yaml:3:5: warning: unfollow trigger ties with flow "c" (` + filepath.Join(dir, "c.yaml") + `:5) for the same input; "c" wins by name order (give one of them a higher priority)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// handoffFlow is the handoff example of FLOW-LANGUAGE.md.
const handoffFlow = `name: handoff
triggers:
  - menu: MENU_HUMAN
  - keyword: [人工, person, agent]
    interrupt: true
  - conversation: opened
    priority: -1
steps:
  - hours:
      timezone: Asia/Shanghai
      open: { mon-fri: "09:00-18:00" }
    when_closed:
      - send: "We're away now. Leave a message and we'll answer from 9:00 on the next working day."
      - assign: { team: support }
      - end
  - assign: { team: support, pick: round_robin }
    on_fail: nobody
  - send: "${conversation.assignee} will answer you here."
  - comment: "handed over at ${now}"
  - end
  - id: nobody
    assign: { team: support }
  - send: "Everyone is busy; we'll answer as soon as we can."
  - close: { note: nobody, category: "${conversation.team}" }
  - open
  - assign: none
`

// TestHandoffExample: the contract's example loads, with its people
// declared and without.
func TestHandoffExample(t *testing.T) {
	t.Parallel()
	for _, p := range []*flows.People{nil, {Operators: map[string][]string{"amy": {"support"}}, Teams: []string{"support"}}} {
		if _, diags := flows.LoadFile("handoff.yaml", []byte(handoffFlow), flows.Options{People: p}); len(diags) > 0 {
			t.Errorf("people %v: %v", p, diags)
		}
	}
}

// FuzzLoadFileWithPeople: flows with conversation steps and triggers load
// with people to check names against, as with wxflow validate --config.
func FuzzLoadFileWithPeople(f *testing.F) {
	f.Add([]byte(handoffFlow))
	f.Add([]byte("name: a\ntriggers: [conversation: closed]\nsteps:\n  - assign: { team: none, pick: x }\n    on_fail: a\n"))
	people := &flows.People{Operators: map[string][]string{"amy": {"support"}, "bob": nil}, Teams: []string{"support", "sales"}}
	f.Fuzz(func(t *testing.T, src []byte) {
		fl, diags := flows.LoadFile(fuzzFlowFile, src, flows.Options{People: people})
		if fl == nil {
			t.Fatal("LoadFile returned no flow")
		}
		checkDiags(t, fuzzFlowFile, src, diags)
	})
}
