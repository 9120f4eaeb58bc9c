package steps

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// The ways `pick:` chooses an operator of a team who is on shift.
const (
	PickRoundRobin = "round_robin"
	PickLeastOpen  = "least_open"
)

// peopleName is an operator's or a team's name as a flow writes it: literal
// (no template), so that it can be checked against the declared people.
func peopleName(what string) *flows.Type {
	return flows.Refine(flows.String, what+" name",
		"A name of the configuration's `operators:` or `teams:`: 1 to 32 lower-case letters, digits, `_` and `-`, as written (not a template).",
		func(v any, at flows.Pos, r *flows.Reporter) (any, bool) {
			s := v.(string)
			if !flows.PeopleNamePattern.MatchString(s) {
				hint := "operators and teams are named by 1 to 32 lower-case letters, digits, _ and -"
				switch {
				case strings.Contains(s, "${"):
					hint = "names are literal, so that wxflow validate can check them; a template cannot name an operator or a team"
				case flows.PeopleNamePattern.MatchString(strings.ToLower(s)):
					hint = fmt.Sprintf("did you mean %q?", strings.ToLower(s))
				}
				r.Errorf(at, hint, "invalid %s name %q", what, s)
				return nil, false
			}
			return s, true
		})
}

var (
	operatorName = peopleName("operator")
	teamName     = peopleName("team")
)

func init() {
	register("assign", assignStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind: "assign",
		Summary: "Hands the contact's conversation to people: while an operator or a team holds it, the contact's messages start no flow and answer no `ask` " +
			"(see [Conversations and people](#conversations-and-people)).",
		Arg: flows.OneOf("assignee", operatorName, flows.ObjectOf("team assignment", "assign step",
			flows.Field{Name: "team", Type: teamName, Required: true, Example: "support", Doc: "The team. Alone, the conversation goes to the team's queue (no operator), which always takes it."},
			flows.Field{Name: "pick", Type: flows.Enum(PickRoundRobin, PickLeastOpen), Doc: "Assign an operator of the team who is on shift now, and the team: `round_robin` takes them in turn, in the order they are declared; `least_open` the one with the fewest open conversations (ties in declared order)."},
		)),
		ArgRequired: true,
		ArgDoc:      "an operator's name (the team stays as it was when the operator is of it; an operator of another team holds the conversation alone, so that the team's queue does not list what another team's operator holds), `none` (back to nobody: no operator, no team), or a map with `team:` and optionally `pick:`",
		Keys: []flows.Field{
			{Name: "on_fail", Type: flows.Ref, Doc: "Only with `pick:`: the step to go to when no operator of the team is on shift; nothing was assigned. Without it, the conversation goes to the team's queue and the run goes on."},
		},
		Check: checkAssign,
		Example: `- assign: amy
- assign: { team: support }
- assign: { team: support, pick: round_robin }
  on_fail: nobody
- assign: none`,
	})
}

// checkAssign allows on_fail only with pick, and checks the names against
// the declared people when the loader has them.
func checkAssign(s *flows.Step, r *flows.Reporter) {
	o, _ := s.Arg.(*flows.Object)
	if s.Args.Given("on_fail") && (o == nil || !o.Has("pick")) {
		if s.Arg != nil {
			r.Errorf(s.Args.KeyPos["on_fail"], "on_fail: is taken when pick: finds no operator of the team on shift; add pick: round_robin or pick: least_open, or remove on_fail:",
				"on_fail: needs pick:, since this assign always succeeds")
		}
	}
	if o != nil && o.String("team") == flows.AssignNone {
		r.Errorf(o.At("team"), "write assign: none to hand the conversation back to nobody", "no team can be named %q", flows.AssignNone)
		return
	}
	people := r.People()
	if people == nil {
		return
	}
	switch a := s.Arg.(type) {
	case string:
		if a == flows.AssignNone || people.HasOperator(a) {
			return
		}
		r.Errorf(s.ArgPos, unknownHint(a, people.OperatorNames(), "operators"), "no operator named %q", a)
	case *flows.Object:
		team := a.String("team")
		if team == "" {
			return
		}
		if !people.HasTeam(team) {
			r.Errorf(a.At("team"), unknownHint(team, people.Teams, "teams"), "no team named %q", team)
			return
		}
		if a.Has("pick") && len(people.TeamMembers(team)) == 0 {
			r.Warnf(a.At("pick"), "declare operators of the team, or assign the team's queue: assign: { team: "+team+" }",
				"team %q has no operators, so pick: never finds one", team)
		}
	}
}

// unknownHint suggests the declared name closest to a misspelt one, or
// lists them.
func unknownHint(name string, declared []string, what string) string {
	if h := flows.DidYouMean(name, declared); h != "" {
		return h
	}
	if len(declared) == 0 {
		return "none are declared; declare " + what + " in the configuration (or the scenario's header)"
	}
	sorted := append([]string(nil), declared...)
	sort.Strings(sorted)
	return "declared " + what + ": " + strings.Join(sorted, ", ")
}

// HandoverOf returns what an assign step asks for.
func HandoverOf(s *flows.Step) (Handover, error) {
	switch a := s.Arg.(type) {
	case string:
		if a == flows.AssignNone {
			return Handover{None: true}, nil
		}
		if a != "" {
			return Handover{Operator: a}, nil
		}
	case *flows.Object:
		if team := a.String("team"); team != "" {
			return Handover{Team: team, Pick: a.String("pick")}, nil
		}
	}
	return Handover{}, errors.New("no assignee")
}

// assignStep hands the conversation to an operator, a team, or nobody.
type assignStep struct{}

// Run asks the runtime for the handover. When pick: finds no operator on
// shift, it goes to on_fail; without on_fail, it puts the conversation in
// the team's queue, so that the contact is never left to nobody, and goes
// on.
func (assignStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	h, err := HandoverOf(s)
	if err != nil {
		return Outcome{}, fmt.Errorf("assign: %w", err)
	}
	ok, err := rt.Assign(h)
	if err != nil {
		return Outcome{}, fmt.Errorf("assign: %w", err)
	}
	if ok || h.Pick == "" {
		return Outcome{Kind: Next}, nil
	}
	if ref := s.Args.Ref("on_fail"); ref != "" {
		return Outcome{Kind: Goto, Target: ref}, nil
	}
	if _, err := rt.Assign(Handover{Team: h.Team}); err != nil {
		return Outcome{}, fmt.Errorf("assign: %s's queue: %w", h.Team, err)
	}
	return Outcome{Kind: Next}, nil
}
