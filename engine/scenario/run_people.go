package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// peopleSets loads a folder's flows again for scenarios that declare
// operators and teams, so that the names the flows' assign steps use are
// checked against each scenario's header; scenarios with the same header
// share one load.
type peopleSets struct {
	byKey map[string]*flows.Set
}

// forScenario returns the flows a scenario runs: set itself when the
// scenario declares no people (or set was not loaded from a folder), or
// set's folder loaded again with the scenario's people, whose Diags then
// say which names are not declared.
func (ps *peopleSets) forScenario(set *flows.Set, sc *Scenario) *flows.Set {
	if set == nil || set.Dir == "" || sc.FlowPeople == nil {
		return set
	}
	key := peopleKey(sc.FlowPeople)
	if s, ok := ps.byKey[key]; ok {
		return s
	}
	again, err := flows.LoadDir(set.Dir, flows.Options{People: sc.FlowPeople})
	if err != nil {
		// The folder was read a moment ago; keep what was loaded.
		return set
	}
	if ps.byKey == nil {
		ps.byKey = map[string]*flows.Set{}
	}
	ps.byKey[key] = again
	return again
}

// peopleKey identifies a header's names.
func peopleKey(p *flows.People) string {
	var b strings.Builder
	for _, n := range p.OperatorNames() {
		fmt.Fprintf(&b, "%s:%s;", n, strings.Join(p.Operators[n], ","))
	}
	b.WriteString("|" + strings.Join(p.Teams, ","))
	return b.String()
}

// act does an operator's action. A refused reply is not a failure of the
// scenario: it joins the transcript as a failed message, as a flow's
// refused send does; a refused assignment (nobody on shift) is noted.
func (r *runner) act(a *Action) error {
	r.note("> %s", actionWords(a))
	res, err := r.sb.Act(r.ctx, r.contact, *a.Do)
	if res != nil && res.Outbox != nil {
		r.replies[res.Outbox.ID] = a.Operator
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrRefused):
		return nil
	case errors.Is(err, engine.ErrNotStarted), errors.Is(err, engine.ErrNobodyToPick):
		r.note("    (refused: %v)", err)
		return nil
	}
	return err
}

// actionWords says an operator's action for the transcript.
func actionWords(a *Action) string {
	do := a.Do
	switch a.Kind {
	case ActReply:
		if do.Message.Type == "text" {
			return fmt.Sprintf("%s replies %q", a.Operator, do.Message.Text)
		}
		return fmt.Sprintf("%s replies %s %q", a.Operator, do.Message.Type, MediaName(do.Message.Media))
	case ActComment:
		return fmt.Sprintf("%s comments %q", a.Operator, do.Text)
	case ActClose:
		s := a.Operator + " closes the conversation"
		if do.Note != "" {
			s += ": " + strconv.Quote(do.Note)
		}
		if do.Category != "" {
			s += " [" + do.Category + "]"
		}
		return s
	case ActOpen:
		return a.Operator + " opens the conversation"
	}
	h := do.Handover
	switch {
	case h.None:
		return a.Operator + " assigns to none"
	case h.Pick != "":
		return fmt.Sprintf("%s assigns to team %s (%s)", a.Operator, h.Team, h.Pick)
	case h.Operator != "" && h.Team != "":
		return fmt.Sprintf("%s assigns to %s (%s)", a.Operator, h.Operator, h.Team)
	case h.Operator != "":
		return a.Operator + " assigns to " + h.Operator
	}
	return a.Operator + " assigns to team " + h.Team
}

// from says who sent an outbound message: the operator's name for an
// operator's reply, "flow NAME" for a run's, "" otherwise.
func (r *runner) from(o *engine.OutboxEntry) string {
	if op := r.replies[o.ID]; op != "" {
		return op
	}
	if o.RunID == 0 {
		return ""
	}
	runs, err := r.sb.Runs(r.ctx, r.contact)
	if err != nil {
		return ""
	}
	if i := slices.IndexFunc(runs, func(x *engine.Run) bool { return x.ID == o.RunID }); i >= 0 {
		return "flow " + runs[i].Flow
	}
	return ""
}

// fromMatches reports whether an outbound message came from who an
// expect's from: names.
func (r *runner) fromMatches(want string, o *engine.OutboxEntry) bool {
	got := r.from(o)
	if want == "flow" {
		return strings.HasPrefix(got, "flow ")
	}
	return got == want
}

// summarize renders an outbox entry as summarize does, with the operator
// who sent it for an operator's reply.
func (r *runner) summarize(o *engine.OutboxEntry) string {
	s := summarize(o)
	if op := r.replies[o.ID]; op != "" {
		s += " (from " + op + ")"
	}
	return s
}

// expectConversation checks the contact's conversation.
func (r *runner) expectConversation(c *ConvCheck) string {
	conv, err := r.sb.Conversation(r.ctx, r.contact)
	if err != nil {
		return err.Error()
	}
	var bad []string
	if c.Status != "" && string(conv.Status) != c.Status {
		bad = append(bad, fmt.Sprintf("status %s, got %s", c.Status, conv.Status))
	}
	for _, f := range []struct {
		name      string
		want      *string
		got       string
		glob      bool
		nobodyIsE bool
	}{
		{"assignee", c.Assignee, conv.Operator, false, true},
		{"team", c.Team, conv.Team, false, true},
		{"note", c.Note, conv.Note, true, false},
		{"category", c.Category, conv.Category, true, false},
		{"closed_by", c.ClosedBy, conv.ClosedBy, true, false},
	} {
		if f.want == nil {
			continue
		}
		if (f.glob && flows.MatchGlob(*f.want, f.got)) || (!f.glob && *f.want == f.got) {
			continue
		}
		bad = append(bad, fmt.Sprintf("%s %s, got %s", f.name, showName(*f.want, f.nobodyIsE), showName(f.got, f.nobodyIsE)))
	}
	if len(bad) > 0 {
		return fmt.Sprintf("expected the conversation with %s (it is %s)", strings.Join(bad, "; "), convWords(&conv))
	}
	return ""
}

// showName quotes a name, or says nobody for "".
func showName(s string, nobody bool) string {
	if s == "" && nobody {
		return "none"
	}
	return strconv.Quote(s)
}

// convWords says a conversation's state in words, for failures.
func convWords(c *engine.Conversation) string {
	s := string(c.Status)
	switch {
	case c.Operator != "" && c.Team != "":
		s += fmt.Sprintf(", assigned to %s (%s)", c.Operator, c.Team)
	case c.Operator != "":
		s += ", assigned to " + c.Operator
	case c.Team != "":
		s += ", in team " + c.Team + "'s queue"
	case c.Open():
		s += ", held by flows"
	}
	if !c.Open() && c.ClosedBy != "" {
		s += ", closed by " + c.ClosedBy
	}
	return s
}
