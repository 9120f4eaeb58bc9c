package flows_test

import (
	"slices"
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
