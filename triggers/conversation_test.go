package triggers_test

import (
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/triggers"
)

func TestConversationTriggerRules(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, triggers, want string }{
		{"opened", "  - conversation: opened\n", ""},
		{"closed with keys", "  - conversation: closed\n    priority: 5\n    if: contact.followed\n    interrupt: true\n", ""},
		{"misspelt", "  - conversation: open\n", `3:19: error: conversation: invalid value "open" (did you mean "opened"?)`},
		{"other word", "  - conversation: assigned\n", `3:19: error: conversation: invalid value "assigned" (one of opened, closed)`},
		{"bare", "  - conversation\n", `3:5: error: conversation trigger needs a value (` + "`opened` or `closed`" + `)`},
		{"empty", "  - conversation:\n    priority: 1\n", `3:18: error: conversation needs a value (` + "`opened` or `closed`" + `)`},
		{"a list", "  - conversation: [opened]\n", `3:19: error: expected one of opened, closed, got a list`},
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
			if len(got) == 0 || !strings.HasPrefix(got[0], tt.want) {
				t.Fatalf("got:\n%s\nwant a line starting:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

func TestConversationTriggerInterruptDefault(t *testing.T) {
	t.Parallel()
	f := flow(t, "a", "- conversation: opened", "- conversation: closed", "  interrupt: true")
	if f.Triggers[0].Interrupt || !f.Triggers[1].Interrupt {
		t.Errorf("interrupt = %v, %v; want false (the default), true", f.Triggers[0].Interrupt, f.Triggers[1].Interrupt)
	}
}

func TestMatchConversation(t *testing.T) {
	t.Parallel()
	ix := triggers.NewIndex([]*flows.Flow{
		flow(t, "greet", "- conversation: opened"),
		flow(t, "survey", "- conversation: closed", "  priority: 2"),
		flow(t, "survey-b", "- conversation: closed"),
		flow(t, "other", "account: x", "- conversation: opened"),
		flow(t, "welcome", "- follow"),
		flow(t, "any", "- message:"),
	})
	tests := []struct {
		in   triggers.Input
		want string
	}{
		{triggers.Input{Account: "main", Kind: "conversation", Key: "opened"}, "greet#0"},
		{triggers.Input{Account: "x", Kind: "conversation", Key: "opened"}, "greet#0 other#0"},
		{triggers.Input{Account: "main", Kind: "conversation", Key: triggers.ConversationClosed}, "survey#0 survey-b#0"},
		{triggers.Input{Kind: "conversation", Key: "assigned"}, ""},
		{triggers.Input{Kind: "conversation"}, ""},
		// Conversation triggers never match the interaction itself.
		{triggers.Input{Kind: "follow"}, "welcome#0"},
		{triggers.Input{Kind: "text", Text: "hi"}, "any#0"},
	}
	for _, tt := range tests {
		if got := names(ix.Match(tt.in)); got != tt.want {
			t.Errorf("Match(%+v)\n got: %s\nwant: %s", tt.in, got, tt.want)
		}
	}
}

// TestMergeConversationOpened: the interaction that opens a conversation
// and `conversation: opened` are ranked together as if one input matched
// them all; `conversation: opened` ranks like a bare kind.
func TestMergeConversationOpened(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flows []*flows.Flow
		in    triggers.Input
		want  string
	}{
		{
			name: "an exact menu key beats conversation: opened",
			flows: []*flows.Flow{
				flow(t, "a-greet", "- conversation: opened"),
				flow(t, "help", "- menu: MENU_HELP"),
			},
			in:   triggers.Input{Kind: "menu", Key: "MENU_HELP"},
			want: "help#0 a-greet#0",
		},
		{
			name: "priority beats specificity",
			flows: []*flows.Flow{
				flow(t, "z-greet", "- conversation: opened", "  priority: 1"),
				flow(t, "help", "- keyword: [help]"),
			},
			in:   triggers.Input{Kind: "text", Text: "help"},
			want: "z-greet#0 help#0",
		},
		{
			name: "a tie with a bare kind goes by flow name",
			flows: []*flows.Flow{
				flow(t, "b-greet", "- conversation: opened"),
				flow(t, "a-welcome", "- follow"),
				flow(t, "c-away", "- message:"),
			},
			in:   triggers.Input{Kind: "follow"},
			want: "a-welcome#0 b-greet#0",
		},
		{
			name: "a tie with a bare message goes by flow name",
			flows: []*flows.Flow{
				flow(t, "b-greet", "- conversation: opened"),
				flow(t, "a-welcome", "- follow"),
				flow(t, "c-away", "- message:"),
			},
			in:   triggers.Input{Kind: "text", Text: "hello"},
			want: "b-greet#0 c-away#0",
		},
		{
			name: "the pattern beats it, then trigger order in a flow",
			flows: []*flows.Flow{
				flow(t, "a", "- message:", "  interrupt: true", "- conversation: opened"),
				flow(t, "b", `- keyword: { pattern: "^h" }`),
			},
			in:   triggers.Input{Kind: "text", Text: "hello"},
			want: "b#0 a#0",
		},
		{
			name: "one flow's guarded trigger does not hide its conversation trigger",
			flows: []*flows.Flow{
				flow(t, "a", "- keyword: [hi]", "  if: contact.followed", "- conversation: opened"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "a#0 a#1",
		},
		{
			name: "one flow's unguarded trigger that does not interrupt hides a later one that does not either",
			flows: []*flows.Flow{
				flow(t, "a", "- conversation: opened", "- keyword: [hi]"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "a#1",
		},
		{
			name: "an interrupting trigger hides the flow's conversation trigger",
			flows: []*flows.Flow{
				flow(t, "a", "- conversation: opened", "- menu: M"),
			},
			in:   triggers.Input{Kind: "menu", Key: "M"},
			want: "a#1",
		},
		{
			name: "only conversation: opened",
			flows: []*flows.Flow{
				flow(t, "greet", "- conversation: opened"),
			},
			in:   triggers.Input{Kind: "voice"},
			want: "greet#0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ix := triggers.NewIndex(tt.flows)
			own := ix.Match(tt.in)
			opened := ix.Match(triggers.Input{Account: tt.in.Account, Kind: "conversation", Key: triggers.ConversationOpened})
			if got := names(triggers.Merge(own, opened)); got != tt.want {
				t.Errorf("Merge(own, opened)\n got: %s\nwant: %s", got, tt.want)
			}
			if got := names(triggers.Merge(opened, own)); got != tt.want {
				t.Errorf("Merge(opened, own)\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// TestMergeAgreesWithMatch: merging the candidates of two halves of a
// set of flows gives what Match gives for the whole set.
func TestMergeAgreesWithMatch(t *testing.T) {
	t.Parallel()
	fs := []*flows.Flow{
		flow(t, "a", "- keyword: [hi]", "  if: contact.followed", "- message:"),
		flow(t, "b", "- message:", "  priority: 3"),
		flow(t, "c", "- keyword: [hi]"),
		flow(t, "d", `- keyword: { pattern: "^h" }`, "  interrupt: true"),
		flow(t, "e", "- message:", "  type: text"),
	}
	in := triggers.Input{Kind: "text", Text: "hi"}
	want := names(triggers.NewIndex(fs).Match(in))
	for split := 0; split <= len(fs); split++ {
		a := triggers.NewIndex(fs[:split]).Match(in)
		b := triggers.NewIndex(fs[split:]).Match(in)
		if got := names(triggers.Merge(a, b)); got != want {
			t.Errorf("split at %d:\n got: %s\nwant: %s", split, got, want)
		}
	}
}
