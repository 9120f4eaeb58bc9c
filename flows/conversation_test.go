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
// `conversation: closed` ties only with another `conversation: closed`.
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
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
