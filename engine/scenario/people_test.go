package scenario

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
)

// TestPeopleScenarios runs the scenarios of each folder of
// testdata/people against its flows: every rule of the contract's
// "Conversations and people", as `wxflow test engine/scenario/testdata/people`
// runs them.
func TestPeopleScenarios(t *testing.T) {
	t.Parallel()
	dirs, _ := filepath.Glob(filepath.Join("testdata", "people", "*"))
	if len(dirs) == 0 {
		t.Fatal("no folders")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			set, err := flows.LoadDir(dir, flows.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if set.Diags.HasErrors() {
				t.Fatalf("flows: %v", set.Diags.Err())
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.test.yaml"))
			if len(files) == 0 {
				t.Fatal("no test files")
			}
			for _, path := range files {
				f, err := LoadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				sum := RunFile(context.Background(), f, set, Options{Verbose: testing.Verbose()}, &out)
				if sum.Failed > 0 || sum.Passed == 0 {
					t.Errorf("%s: %s\n%s", path, sum, out.String())
				} else if testing.Verbose() {
					t.Logf("%s: %s\n%s", path, sum, out.String())
				}
			}
		})
	}
}

// TestParsePeople: the header's operators and teams, account's
// auto_close, and the operators' actions and checks.
func TestParsePeople(t *testing.T) {
	t.Parallel()
	f := Parse("p.test.yaml", []byte(`name: people
operators: { amy: [support], bob: [support, sales], cy: }
teams:
  support: { timezone: Asia/Shanghai, open: { mon-fri: "09:00-18:00" } }
  sales:
account: { auto_close: 24h }
script:
  - reply: { operator: amy, text: hi }
  - reply: { operator: amy, image: MEDIA_1 }
  - comment: { operator: bob, text: note }
  - close: { operator: amy, note: solved, category: delivery }
  - assign: { operator: amy, to: bob }
  - assign: { operator: amy, team: support, pick: least_open }
  - assign: { operator: amy, to: none }
  - open: { operator: cy }
  - expect: { text: hi, from: amy }
  - expect: { from: flow handoff }
  - expect_conversation: { status: closed, assignee: "", team: support, closed_by: "operator *" }
`))
	if ps := problems(f); ps != "" {
		t.Fatal(ps)
	}
	sc := f.Scenarios[0]
	if sc.AutoClose.Hours() != 24 {
		t.Errorf("auto_close %v", sc.AutoClose)
	}
	if sc.People == nil || len(sc.People.Operators) != 3 || sc.People.Operators[1].Name != "bob" || len(sc.People.Operators[1].Teams) != 2 {
		t.Fatalf("operators %+v", sc.People)
	}
	if h := sc.People.Teams["support"]; h == nil {
		t.Error("support has no hours")
	}
	if h, ok := sc.People.Teams["sales"]; !ok || h != nil {
		t.Errorf("sales: %v %v, want always on shift", h, ok)
	}
	if !sc.FlowPeople.HasOperator("cy") || !sc.FlowPeople.HasTeam("sales") {
		t.Errorf("flow people %+v", sc.FlowPeople)
	}
	s := sc.Script
	if s[0].Do.Message.Text != "hi" || s[1].Do.Message.Media.MediaID != "MEDIA_1" || s[2].Do.Text != "note" || s[3].Do.Note != "solved" ||
		s[4].Do.Handover.Operator != "bob" || s[5].Do.Handover.Pick != "least_open" || !s[6].Do.Handover.None || s[7].Do.Kind != "open" || s[7].Operator != "cy" {
		t.Errorf("actions: %+v", s)
	}
	if s[8].Expect.From != "amy" || s[9].Expect.From != "flow handoff" || *s[10].ExpectConversation.Assignee != "" || *s[10].ExpectConversation.Team != "support" {
		t.Errorf("checks: %+v %+v %+v", s[8].Expect, s[9].Expect, s[10].ExpectConversation)
	}
}

// TestParsePeopleProblems: names the script uses must be declared in the
// header, with their place and a hint.
func TestParsePeopleProblems(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, src, want string }{
		{"undeclared operator", `name: x
operators: { amy: [support] }
teams: { support: }
script:
  - reply: { operator: ammy, text: hi }
`, `p.test.yaml:5:24: no operator named "ammy" in the scenario's header (did you mean "amy"?)`},
		{"no header", `name: x
script:
  - close: { operator: amy }
`, `p.test.yaml:3:24: no operator named "amy" in the scenario's header (declare it in the scenario's header: operators: { amy: [TEAM] })`},
		{"undeclared team of an operator", `name: x
operators: { amy: [suport] }
teams: { support: }
script:
  - expect_none
`, `p.test.yaml:2:19: no team named "suport" in the scenario's header (did you mean "support"?)`},
		{"from", `name: x
operators: { amy: [] }
script:
  - expect: { from: bob }
`, `p.test.yaml:4:21: no operator named "bob" in the scenario's header (declared operators: amy)`},
		{"team hours", `name: x
teams: { support: { open: { mon-fri: "9-18" } } }
script:
  - expect_none
`, `p.test.yaml:2:38: team support: `},
		{"bad name", `name: x
operators: { Amy: [] }
script:
  - expect_none
`, `p.test.yaml:2:14: operator name "Amy" must be 1 to 32 lowercase letters`},
		{"none", `name: x
teams: { none: }
script:
  - expect_none
`, `p.test.yaml:2:10: "none" cannot name a team`},
		{"reply needs a message", `name: x
operators: { amy: [] }
script:
  - reply: { operator: amy }
`, `p.test.yaml:4:12: reply needs text: or image:`},
		{"operator missing", `name: x
operators: { amy: [] }
script:
  - comment: { text: hi }
`, `p.test.yaml:4:14: comment needs operator: (who does it)`},
		{"pick without team", `name: x
operators: { amy: [] }
script:
  - assign: { operator: amy, to: amy, pick: round_robin }
`, `pick: picks an operator of team: who is on shift`},
		{"auto_close", `name: x
account: { auto_close: 0s }
script:
  - expect_none
`, `p.test.yaml:2:24: auto_close: duration "0s" must be longer than zero`},
		{"conversation status", `name: x
script:
  - expect_conversation: { status: opened }
`, `unknown conversation status "opened" (did you mean "open"?)`},
	} {
		f := Parse("p.test.yaml", []byte(c.src))
		if got := problems(f); !strings.Contains(got, c.want) {
			t.Errorf("%s: got\n%s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestPeopleNamesOfFlowsAgainstTheHeader: a scenario with operators: and
// teams: checks the names the flows' assign steps use against them; a
// scenario without them does not.
func TestPeopleNamesOfFlowsAgainstTheHeader(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{"handoff.yaml": `name: handoff
triggers:
  - keyword: [person]
steps:
  - assign: { team: support }
  - send: "A person will answer."
`})
	sum, out := runSource(t, set, `name: declared
operators: { amy: [support] }
teams: { support: }
script:
  - say: person
  - expect: "A person will answer."
  - expect_conversation: { status: open, assignee: "", team: support }
---
name: misspelt in the header
operators: { amy: [suport] }
teams: { suport: }
script:
  - say: person
---
name: no header, no check
script:
  - say: person
`, Options{})
	// Without a header the names are not checked before the script;
	// the run that assigns to a team nobody declared fails, and with it
	// the scenario (it passed, and nothing said so).
	if sum.Passed != 1 || sum.Failed != 2 {
		t.Fatalf("%s\n%s", sum, out)
	}
	if !strings.Contains(out, `scenario "no header, no check": every check passed, but run 1 of handoff failed: assign (line 5): assign: no team "support" is declared`) {
		t.Errorf("the failed run of the scenario without a header:\n%s", out)
	}
	want := `handoff.yaml:5:21: error: no team named "support" (did you mean "suport"?)`
	if !strings.Contains(out, `scenario "misspelt in the header" cannot run: the flows have errors against its operators: and teams:`) || !strings.Contains(out, want) {
		t.Errorf("got\n%s\nwant %s", out, want)
	}
}

// TestRunFromBeforeTheAssignmentAsksNothing: a run that reaches an ask
// after people took the conversation (it was in a wait) ends as
// handed_over without asking, and the contact's next message goes to
// the person; before, it asked, and took the message meant for them as
// its answer.
func TestRunFromBeforeTheAssignmentAsksNothing(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{"later.yaml": `name: later
triggers:
  - keyword: [later]
steps:
  - wait: 10m
  - ask: "What is your name?"
    save: vars.n
  - send: "Thanks, ${vars.n}"
`})
	mustPass(t, set, `name: a run from before the assignment asks nothing
operators: { amy: [support] }
teams: { support: }
script:
  - say: later
  - assign: { operator: amy, to: amy }
  - wait: 10m
  - expect_none
  - expect_run: { flow: later, status: handed_over }
  - say: "My parcel is late"
  - expect_none
  - expect_conversation: { status: open, assignee: amy }
`)
}

// TestTheAssigningRunStillAsks: the run whose assign step handed the
// conversation over may still ask (what it asks while the contact waits
// for a person), also after waiting.
func TestTheAssigningRunStillAsks(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{"help.yaml": `name: help
triggers:
  - keyword: [help]
steps:
  - ask: "What is it about?"
    save: vars.topic
  - assign: { team: support }
  - wait: 1m
  - ask: "Your order number, while you wait?"
    save: vars.order
  - send: "Noted ${vars.order}"
`})
	mustPass(t, set, `name: the assigning run asks on
operators: { amy: [support] }
teams: { support: }
script:
  - say: help
  - expect: "What is it about?"
  - wait: 1m
  - say: "a parcel"
  - wait: 1m
  - expect: "Your order number, while you wait?"
  - say: "A-1"
  - expect: "Noted A-1"
`)
}

// TestConversationTriggersRespectInterrupt: a conversation: trigger
// without interrupt: true starts nothing while the contact answers an
// ask (auto_close closing the conversation meanwhile) or while people
// hold the conversation (an operator's reply opened it); before, the
// closed flow took over the ask, and the opened flow talked over the
// operator.
func TestConversationTriggersRespectInterrupt(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"quiz.yaml":  "name: quiz\ntriggers: [ { keyword: [quiz] } ]\nsteps:\n  - ask: \"Your name?\"\n    save: vars.name\n    timeout: 3h\n  - send: \"quiz got ${vars.name}\"\n",
		"rate.yaml":  "name: rate\ntriggers:\n  - conversation: closed\nsteps:\n  - ask: \"Rate us?\"\n    save: vars.r\n",
		"hello.yaml": "name: hello\ntriggers: [ { conversation: opened } ]\nsteps:\n  - send: \"BOT: welcome back\"\n",
	})
	mustPass(t, set, `name: a closed conversation's flow waits for the ask
operators: { amy: [support] }
teams: { support: }
account: { auto_close: 1h }
script:
  - say: quiz
  - expect: "Your name?"
  - wait: 61m
  - expect_none
  - say: "Ann"
  - expect: "quiz got Ann"
---
name: an operator's reply opens the conversation, and the opened flow stays quiet
operators: { amy: [support] }
teams: { support: }
account: { auto_close: 1h }
script:
  - say: hi
  - expect: "BOT: welcome back"
  - wait: 2h
  - expect: "Rate us?"
  - wait: 25h
  - reply: { operator: amy, text: "Hi, following up" }
  - expect: { text: "Hi, following up", from: amy }
  - expect_none
`)
}

// TestHandBackAClosedConversation: assigning a closed conversation to
// nobody (back to flows) leaves it closed and starts no flow; before, it
// opened it, and the flows of conversation: opened messaged the contact.
func TestHandBackAClosedConversation(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"hello.yaml": "name: hello\ntriggers: [ { conversation: opened } ]\nsteps:\n  - send: \"Hello again\"\n",
	})
	mustPass(t, set, `name: back to flows stays closed
operators: { amy: [support] }
teams: { support: }
script:
  - say: hi
  - expect: "Hello again"
  - close: { operator: amy }
  - assign: { operator: amy, to: none }
  - expect_none
  - expect_conversation: { status: closed }
`)
}

// TestConversationOpenedByTheContactIsAConversationEvent: a flow of
// conversation: opened, started by the contact's message, sees
// event.type conversation and event.key opened, as the reference says
// of a conversation trigger's (it saw the message's type).
func TestConversationOpenedByTheContactIsAConversationEvent(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"hello.yaml": "name: hello\ntriggers: [ { conversation: opened } ]\nsteps:\n  - send: \"${event.type} ${event.key} ${event.text}\"\n",
	})
	mustPass(t, set, `name: opened by a message
script:
  - say: hi there
  - expect: "conversation opened hi there"
`)
}

// TestFailedRunFailsTheScenario: a run that failed with an error fails
// its scenario unless an expect_run expects it: with every check passing
// (expect_none), a template's index out of range passed, and not even -v
// showed the error.
func TestFailedRunFailsTheScenario(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{"order.yaml": `name: order
triggers:
  - keyword: { pattern: "^order ([0-9]+)$" }
steps:
  - send: "Order ${event.match[2]}"
`})
	sum, out := runSource(t, set, `name: unnoticed
script:
  - say: order 123
  - expect_none
---
name: expected
script:
  - say: order 123
  - expect_none
  - expect_run: { flow: order, status: failed }
`, Options{})
	if sum.Passed != 1 || sum.Failed != 1 {
		t.Fatalf("%s\n%s", sum, out)
	}
	if !strings.Contains(out, `scenario "unnoticed": every check passed, but run 1 of order failed: `) || !strings.Contains(out, "expect_run: { flow: NAME, status: failed }") {
		t.Errorf("got\n%s", out)
	}
}
