package scenario

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// ConvCheck is what `expect_conversation` wants of the contact's
// conversation. Nil fields are not checked.
type ConvCheck struct {
	// Status is open or closed.
	Status string
	// Assignee is the operator holding it ("" for none), Team the team
	// ("" for none).
	Assignee, Team *string
	// Note, Category and ClosedBy are globs on how it last closed: the
	// note, the category, and who or what closed it ("operator amy",
	// "flow NAME", "auto_close", "unfollow").
	Note, Category, ClosedBy *string
}

// nameRef is an operator or team name the script uses, checked against
// the header when the whole scenario is read.
type nameRef struct {
	n    *yaml.Node
	team bool
	name string
}

// operators reads operators:, a map of operator names to their teams, in
// the order written (round_robin takes them in this order).
func (p *parser) operators(n *yaml.Node, sc *Scenario) {
	pairs, ok := p.mapping(n, "operators", nil, "e.g. operators: { amy: [support], bob: [support, sales] }")
	if !ok {
		return
	}
	if sc.People == nil {
		sc.People = &engine.People{}
	}
	for _, kv := range pairs {
		name, ok := p.peopleName(kv.k, "operator")
		if !ok {
			continue
		}
		var teams []string
		if !isNull(kv.v) {
			if teams, ok = p.texts(kv.v, "operator "+name+"'s teams"); !ok {
				continue
			}
		}
		for _, t := range teams {
			p.names = append(p.names, nameRef{n: kv.v, team: true, name: t})
		}
		sc.People.Operators = append(sc.People.Operators, engine.Operator{Name: name, Display: name, Teams: teams})
	}
}

// teams reads teams:, a map of team names to the hours they are on shift
// (an hours step's map), or nothing for always.
func (p *parser) teams(n *yaml.Node, sc *Scenario) {
	pairs, ok := p.mapping(n, "teams", nil, `e.g. teams: { support: { timezone: Asia/Shanghai, open: { mon-fri: "09:00-18:00" } }, sales: }`)
	if !ok {
		return
	}
	if sc.People == nil {
		sc.People = &engine.People{}
	}
	if sc.People.Teams == nil {
		sc.People.Teams = map[string]*steps.Hours{}
	}
	for _, kv := range pairs {
		name, ok := p.peopleName(kv.k, "team")
		if !ok {
			continue
		}
		v := kv.v
		if !isNull(v) && v.Kind != yaml.MappingNode {
			p.errorf(v, `the map of an hours step: { timezone: Asia/Shanghai, open: { mon-fri: "09:00-18:00" } }, or nothing for always on shift`,
				"team %s's hours must be a map, got %s", name, describe(v))
			continue
		}
		h, err := steps.ParseHoursNode(v)
		if err != nil {
			var diags flows.Diagnostics
			if !errors.As(err, &diags) || len(diags) == 0 {
				p.errorf(v, "", "team %s: %v", name, err)
				continue
			}
			for _, d := range diags {
				line, col := d.Line, d.Col
				if line == 0 {
					line, col = v.Line, v.Column
				}
				p.problems = append(p.problems, Problem{File: p.file, Line: line, Col: col, Message: "team " + name + ": " + d.Message, Hint: d.Hint})
			}
			continue
		}
		sc.People.Teams[name] = h
	}
}

// peopleName checks an operator's or a team's name as the header declares
// it.
func (p *parser) peopleName(k *yaml.Node, what string) (string, bool) {
	s, ok := p.text(k, what+" name")
	if !ok {
		return "", false
	}
	switch {
	case s == flows.AssignNone:
		p.errorf(k, "assign: none hands a conversation back to nobody; choose another name", "%q cannot name a %s", s, what)
		return "", false
	case !flows.PeopleNamePattern.MatchString(s):
		hint := "flows name it, as in assign: amy or assign: {team: support}"
		if low := strings.ToLower(s); low != s && flows.PeopleNamePattern.MatchString(low) {
			hint = fmt.Sprintf("did you mean %q?", low)
		}
		p.errorf(k, hint, "%s name %q must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit", what, s)
		return "", false
	}
	return s, true
}

// people finishes the header: the names flows are checked against, and
// every operator and team name the script and the operators' teams use
// must be declared.
func (p *parser) people(sc *Scenario) {
	var ops, teams []string
	if sc.People != nil {
		for _, o := range sc.People.Operators {
			ops = append(ops, o.Name)
		}
		for t := range sc.People.Teams {
			teams = append(teams, t)
		}
		sort.Strings(teams)
		fp := &flows.People{Operators: map[string][]string{}, Teams: teams}
		for _, o := range sc.People.Operators {
			fp.Operators[o.Name] = append([]string{}, o.Teams...)
		}
		sc.FlowPeople = fp
	}
	for _, r := range p.names {
		declared, what, key := ops, "operator", "operators:"
		if r.team {
			declared, what, key = teams, "team", "teams:"
		}
		if contains(declared, r.name) {
			continue
		}
		hint := flows.DidYouMean(r.name, declared)
		switch {
		case hint != "":
		case len(declared) == 0:
			hint = "declare it in the scenario's header: " + key
			if r.team {
				hint += ` { ` + r.name + `: } for a team always on shift`
			} else {
				hint += " { " + r.name + ": [TEAM] }"
			}
		default:
			hint = "declared " + what + "s: " + strings.Join(declared, ", ")
		}
		p.errorf(r.n, hint, "no %s named %q in the scenario's header", what, r.name)
	}
}

// useName records an operator or team name of the script, to be checked
// against the header.
func (p *parser) useName(n *yaml.Node, team bool, name string) {
	p.names = append(p.names, nameRef{n: n, team: team, name: name})
}

// operatorActionKeys are the keys of each operator action.
var operatorActionKeys = map[string][]string{
	ActReply:   {"operator", "text", "image"},
	ActComment: {"operator", "text"},
	ActClose:   {"operator", "note", "category"},
	ActAssign:  {"operator", "to", "team", "pick"},
	ActOpen:    {"operator"},
}

// operatorAction reads an operator's action: a map with operator: and
// the action's own keys.
func (p *parser) operatorAction(n *yaml.Node, a *Action) bool {
	pairs, ok := p.mapping(n, a.Kind, operatorActionKeys[a.Kind], actionHint[a.Kind])
	if !ok {
		return false
	}
	do := &engine.Action{}
	var to, team, pick string
	var toNode *yaml.Node
	for _, kv := range pairs {
		v := kv.v
		var good bool
		switch kv.k.Value {
		case "operator":
			if a.Operator, good = p.text(v, "operator"); good {
				p.useName(v, false, a.Operator)
			}
		case "text":
			if a.Kind == ActReply {
				var s string
				if s, good = p.text(v, "text"); good {
					do.Message = &channels.Message{Type: "text", Text: s}
				}
			} else {
				do.Text, good = p.text(v, "text")
			}
		case "image":
			var s string
			if s, good = p.text(v, "image"); good {
				do.Message = &channels.Message{Type: "image", Media: &channels.Media{MediaID: s}}
			}
		case "note":
			do.Note, good = p.text(v, "note")
		case "category":
			do.Category, good = p.text(v, "category")
		case "to":
			toNode = v
			to, good = p.text(v, "to")
		case "team":
			if team, good = p.text(v, "team"); good {
				p.useName(v, true, team)
			}
		case "pick":
			pick, good = p.oneOf(v, "pick", []string{steps.PickRoundRobin, steps.PickLeastOpen})
		}
		ok = ok && good
	}
	if !ok {
		return false
	}
	hint := actionHint[a.Kind]
	if a.Operator == "" {
		p.errorf(n, hint, "%s needs operator: (who does it)", a.Kind)
		return false
	}
	switch a.Kind {
	case ActReply:
		do.Kind = engine.ActReply
		switch {
		case do.Message == nil:
			p.errorf(n, hint, "reply needs text: or image:")
			return false
		case len(pairs) > 2:
			p.errorf(n, hint, "reply takes text: or image:, not both")
			return false
		case do.Message.Type == "text" && do.Message.Text == "":
			p.errorf(n, hint, "reply's text is empty")
			return false
		}
	case ActComment:
		do.Kind = engine.ActComment
		if do.Text == "" {
			p.errorf(n, hint, "comment needs a text:")
			return false
		}
	case ActClose:
		do.Kind = engine.ActClose
	case ActOpen:
		do.Kind = engine.ActOpen
	case ActAssign:
		do.Kind = engine.ActAssign
		switch {
		case to == "" && team == "":
			p.errorf(n, hint, "assign needs to: (an operator, or none) or team:")
			return false
		case to == flows.AssignNone && (team != "" || pick != ""):
			p.errorf(n, hint, "to: none hands the conversation back to nobody; it takes no team: or pick:")
			return false
		case pick != "" && (team == "" || to != ""):
			p.errorf(n, hint, "pick: picks an operator of team: who is on shift; give team: and no to:")
			return false
		case to == flows.AssignNone:
			do.Handover = steps.Handover{None: true}
		default:
			if to != "" {
				p.useName(toNode, false, to)
			}
			do.Handover = steps.Handover{Operator: to, Team: team, Pick: pick}
		}
	}
	do.Operator = a.Operator
	a.Do = do
	return true
}

// from reads expect's from: an operator's name, "flow NAME" or "flow".
func (p *parser) from(n *yaml.Node) (string, bool) {
	s, ok := p.text(n, "from")
	if !ok {
		return "", false
	}
	if s == "flow" || strings.HasPrefix(s, "flow ") {
		if name := strings.TrimSpace(strings.TrimPrefix(s, "flow")); s != "flow" && name == "" {
			p.errorf(n, "from: flow NAME, or from: flow for any flow", "from: names no flow")
			return "", false
		}
		return s, true
	}
	p.useName(n, false, s)
	return s, true
}

var convCheckKeys = []string{"status", "assignee", "team", "note", "category", "closed_by"}

// convCheck reads expect_conversation.
func (p *parser) convCheck(n *yaml.Node) *ConvCheck {
	pairs, ok := p.mapping(n, "expect_conversation", convCheckKeys, actionHint[ActExpectConversation])
	if !ok {
		return nil
	}
	c := &ConvCheck{}
	for _, kv := range pairs {
		v := kv.v
		var good bool
		// A name may be "" (nobody); YAML's null reads as "" too.
		name := func(team bool) *string {
			s := ""
			good = true
			if !isNull(v) {
				if s, good = p.text(v, kv.k.Value); good && s != "" {
					p.useName(v, team, s)
				}
			}
			return &s
		}
		glob := func() *string {
			var s string
			if s, good = p.text(v, kv.k.Value); good {
				return &s
			}
			return nil
		}
		switch kv.k.Value {
		case "status":
			c.Status, good = p.oneOf(v, "conversation status", []string{string(engine.ConvOpen), string(engine.ConvClosed)})
		case "assignee":
			c.Assignee = name(false)
		case "team":
			c.Team = name(true)
		case "note":
			c.Note = glob()
		case "category":
			c.Category = glob()
		case "closed_by":
			c.ClosedBy = glob()
		}
		ok = ok && good
	}
	if !ok {
		return nil
	}
	return c
}
