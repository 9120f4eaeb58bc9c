package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// OperatorConfig is one operator of operators: a person who answers
// conversations in the console and through the API with their own token.
// Its String, GoString and LogValue never show the token.
type OperatorConfig struct {
	// Name is how flows (assign: amy), the API and the transcript name
	// the operator.
	Name string
	// Display is the name the console shows: display_name, or Name when
	// it is not given.
	Display string
	// Teams are the teams the operator belongs to, as listed.
	Teams []string
	// Token is the operator's console and API token.
	Token string `json:"-"`
	// Line is the line of the operator in the config file, for messages.
	Line int
}

// String names the operator and their teams, not their token.
func (o OperatorConfig) String() string {
	return fmt.Sprintf("operator %s (%s; teams %s; token %s)", o.Name, o.Display, strings.Join(o.Teams, ","), redacted(o.Token))
}

// GoString is String, so that %#v does not print the token either.
func (o OperatorConfig) GoString() string { return o.String() }

// LogValue shows the operator's name, display name and teams, never the
// token.
func (o OperatorConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", o.Name),
		slog.String("display_name", o.Display),
		slog.String("teams", strings.Join(o.Teams, ",")),
	)
}

// Operator returns the operator with the given name.
func (c *Config) Operator(name string) (*OperatorConfig, bool) {
	for i := range c.Operators {
		if c.Operators[i].Name == name {
			return &c.Operators[i], true
		}
	}
	return nil, false
}

// OperatorByToken returns the operator whose token is tok. Every
// operator's token is compared, each in constant time (of their SHA-256
// hashes), so that the time taken tells nothing about the tokens. An empty
// tok matches nobody.
func (c *Config) OperatorByToken(tok string) (*OperatorConfig, bool) {
	if tok == "" {
		return nil, false
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range c.Operators {
		if c.Operators[i].Token == "" {
			continue
		}
		own := sha256.Sum256([]byte(c.Operators[i].Token))
		if subtle.ConstantTimeCompare(sum[:], own[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, false
	}
	return &c.Operators[found], true
}

// OperatorNames returns the operators' names in the file's order.
func (c *Config) OperatorNames() []string {
	names := make([]string, len(c.Operators))
	for i, o := range c.Operators {
		names[i] = o.Name
	}
	return names
}

// TeamNames returns the teams' names, sorted.
func (c *Config) TeamNames() []string {
	names := make([]string, 0, len(c.Teams))
	for n := range c.Teams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// People returns the operators (in the file's order) and teams as the
// engine takes them (engine.Config.People). Tokens stay in the config.
func (c *Config) People() engine.People {
	p := engine.People{}
	if len(c.Operators) > 0 {
		p.Operators = make([]engine.Operator, len(c.Operators))
		for i, o := range c.Operators {
			p.Operators[i] = engine.Operator{Name: o.Name, Display: o.Display, Teams: append([]string(nil), o.Teams...)}
		}
	}
	if len(c.Teams) > 0 {
		p.Teams = make(map[string]*steps.Hours, len(c.Teams))
		for n, h := range c.Teams {
			p.Teams[n] = h
		}
	}
	return p
}

// FlowPeople returns the operators and teams as flow loading checks the
// names of assign steps against them (flows.Options.People).
func (c *Config) FlowPeople() *flows.People {
	p := &flows.People{Operators: make(map[string][]string, len(c.Operators)), Teams: c.TeamNames()}
	for _, o := range c.Operators {
		p.Operators[o.Name] = append([]string{}, o.Teams...)
	}
	return p
}

// AutoClose returns each account's auto_close by account id, as the
// engine takes it (engine.Config.AutoClose); nil without accounts.
func (c *Config) AutoClose() map[string]time.Duration {
	if len(c.Accounts) == 0 {
		return nil
	}
	m := make(map[string]time.Duration, len(c.Accounts))
	for _, a := range c.Accounts {
		m[a.ID] = a.AutoClose
	}
	return m
}

// The keys of an operator.
var operatorKeys = []string{"display_name", "teams", "token"}

// peopleNamePattern is the form of operator and team names: what flows
// write (assign: amy) and URLs show.
var peopleNamePattern = flows.PeopleNamePattern

// noneName is assign's word for nobody: no operator or team is named so.
const noneName = flows.AssignNone

// maxDisplayName is the longest display_name, in characters.
const maxDisplayName = 64

// article is "a team" or "an operator".
func article(what string) string {
	if strings.IndexByte("aeiou", what[0]) >= 0 {
		return "an " + what
	}
	return "a " + what
}

// peopleName checks the name of an operator or a team (what is
// "operator" or "team"); it returns "" when it is not valid.
func (p *parser) peopleName(what string, k *yaml.Node) string {
	if k.Kind != yaml.ScalarNode || isNull(k) {
		p.errorf(k, "", "%s's name must be a name, got %s", article(what), describe(k))
		return ""
	}
	s := k.Value
	if s == noneName {
		p.errorf(k, "assign: none hands a conversation back to nobody; choose another name", "%q cannot name %s", s, article(what))
		return ""
	}
	if !peopleNamePattern.MatchString(s) {
		hint := "flows name it, as in assign: amy or assign: {team: support}"
		if low := strings.ToLower(s); low != s && peopleNamePattern.MatchString(low) {
			hint = fmt.Sprintf("did you mean %q?", low)
		}
		p.errorf(k, hint, "%s name %q must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit", what, s)
		return ""
	}
	return s
}

// teams walks teams:, a map of team names to business hours (the map of
// an hours step) or nothing (always on shift).
func (p *parser) teams(n *yaml.Node) map[string]*steps.Hours {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "write teams: { support: { timezone: Asia/Shanghai, open: { mon-fri: \"09:00-18:00\" } } }, or support: with nothing for always", "teams must be a map of team names to hours, got %s", describe(n))
		return nil
	}
	out := map[string]*steps.Hours{}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.deref(n.Content[i]), p.deref(n.Content[i+1])
		name := p.peopleName("team", k)
		if name == "" {
			continue
		}
		if line, dup := lines[name]; dup {
			p.errorf(k, fmt.Sprintf("it is first given at line %d", line), "team %s is declared twice", name)
			continue
		}
		lines[name] = k.Line
		h, ok := p.hours(name, v)
		if ok {
			out[name] = h
		}
	}
	return out
}

// hours reads a team's hours: nil for always (nothing or {}).
func (p *parser) hours(team string, v *yaml.Node) (*steps.Hours, bool) {
	if isNull(v) || (v.Kind == yaml.MappingNode && len(v.Content) == 0) {
		return nil, true
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "write the map of an hours step: { timezone: Asia/Shanghai, open: { mon-fri: \"09:00-18:00\" } }, or nothing for always", "team %s's hours must be a map, got %s", team, describe(v))
		return nil, false
	}
	h, err := steps.ParseHoursNode(v)
	if err != nil {
		var diags flows.Diagnostics
		if errors.As(err, &diags) && len(diags) > 0 {
			for _, d := range diags {
				line, col := d.Line, d.Col
				if line == 0 {
					line, col = v.Line, v.Column
				}
				p.errorAt(line, col, d.Hint, "team %s: %s", team, d.Message)
			}
		} else {
			p.errorf(v, "", "team %s: %v", team, err)
		}
		return nil, false
	}
	return h, true
}

// operators walks operators:, a map of names to their display name,
// teams and token, in the file's order. teams are the declared teams;
// teamsGiven says whether teams: is in the file; without checkTeams an
// undeclared team is not reported.
func (p *parser) operators(n *yaml.Node, teams map[string]*steps.Hours, teamsGiven, checkTeams bool) []OperatorConfig {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "write operators: then, under it, amy: { teams: [support], token: \"${WXFLOW_AMY_TOKEN}\" }", "operators must be a map of operator names, got %s", describe(n))
		return nil
	}
	teamNames := make([]string, 0, len(teams))
	for t := range teams {
		teamNames = append(teamNames, t)
	}
	sort.Strings(teamNames)
	var out []OperatorConfig
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.deref(n.Content[i]), p.deref(n.Content[i+1])
		name := p.peopleName("operator", k)
		if name == "" {
			continue
		}
		if line, dup := lines[name]; dup {
			p.errorf(k, fmt.Sprintf("it is first given at line %d", line), "operator %s is declared twice", name)
			continue
		}
		lines[name] = k.Line
		if o, ok := p.operator(name, k, v, teams, teamNames, teamsGiven, checkTeams); ok {
			out = append(out, o)
		}
	}
	return out
}

// operator walks one operator's map.
func (p *parser) operator(name string, k, v *yaml.Node, teams map[string]*steps.Hours, teamNames []string, teamsGiven, checkTeams bool) (OperatorConfig, bool) {
	o := OperatorConfig{Name: name, Display: name, Line: k.Line}
	const shape = "write display_name:, teams: [...] and token: ${NAME} under it"
	if isNull(v) {
		p.errorf(k, "every operator needs a token to log in to the console: "+shape, "operator %s has no token", name)
		return o, false
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, shape, "operator %s must be a map of keys, got %s", name, describe(v))
		return o, false
	}
	m, _ := p.mapping(v, "an operator", operatorKeys, func(key string) string {
		if key == "name" {
			return "the operator's name is its key under operators:; display_name is the name the console shows"
		}
		return ""
	})
	ok := true
	for _, key := range m.order {
		val := m.get(key)
		switch key {
		case "display_name":
			s, tok := p.text(key, val)
			switch {
			case !tok:
				ok = false
			case s == "":
			case strings.IndexFunc(s, unicode.IsControl) >= 0:
				p.errorf(val, "", "display_name must be one line without control characters")
				ok = false
			case len([]rune(s)) > maxDisplayName:
				p.errorf(val, "", "display_name must be at most %d characters", maxDisplayName)
				ok = false
			default:
				o.Display = strings.TrimSpace(s)
			}
		case "teams":
			o.Teams = p.operatorTeams(val, teams, teamNames, teamsGiven, checkTeams)
		case "token":
			if p.noSecrets {
				continue
			}
			s, tok := p.text(key, val)
			switch {
			case !tok:
				ok = false
			case s == "":
				hint := "write token: ${NAME} and set the environment variable NAME"
				if strings.Contains(val.Value, "${") {
					hint = "the environment variable it names is empty"
				}
				p.errorf(val, hint, "operator %s's token is empty", name)
				ok = false
			case len(s) < minAdminToken:
				p.errorf(val, "generate one with: openssl rand -hex 24", "operator %s's token is too short (%d characters; at least %d)", name, len(s), minAdminToken)
				ok = false
			case strings.ContainsAny(s, " \t\r\n"):
				p.errorf(val, "", "operator %s's token must not contain spaces", name)
				ok = false
			default:
				o.Token = s
				if p.tokenNodes == nil {
					p.tokenNodes = map[string]*yaml.Node{}
				}
				p.tokenNodes[name] = val
			}
		}
	}
	if m.get("token") == nil && !m.misspelt["token"] {
		p.errorf(v, "every operator logs in to the console with their own token: token: ${WXFLOW_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"_TOKEN}", "operator %s has no token", name)
		ok = false
	}
	return o, ok
}

// operatorTeams walks an operator's teams: a list of declared team names.
func (p *parser) operatorTeams(n *yaml.Node, teams map[string]*steps.Hours, teamNames []string, teamsGiven, checkTeams bool) []string {
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		p.errorf(n, fmt.Sprintf("write a list: teams: [%s]", n.Value), "teams must be a list of team names, got %s", describe(n))
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "write a list: teams: [support, sales]", "teams must be a list of team names, got %s", describe(n))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		item = p.deref(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			p.errorf(item, "", "a team is a name, got %s", describe(item))
			continue
		}
		t := item.Value
		if contains(out, t) {
			p.errorf(item, "", "team %s is listed twice", t)
			continue
		}
		if _, ok := teams[t]; !ok && checkTeams {
			hint := flows.DidYouMean(t, teamNames)
			switch {
			case hint != "":
			case !teamsGiven:
				hint = fmt.Sprintf("declare it under teams: at the top level (%s: with nothing is always on shift)", t)
			default:
				hint = fmt.Sprintf("declare it under teams:, or use one of %s", strings.Join(teamNames, ", "))
			}
			p.errorf(item, hint, "team %s is not declared", t)
			continue
		}
		out = append(out, t)
	}
	return out
}

// checkOperatorTokens reports two operators with one token, and an
// operator's token that is the admin token: a token names one person.
// The messages never show a token.
func (p *parser) checkOperatorTokens(ops []OperatorConfig, admin string) {
	seen := map[string]string{} // token -> operator name
	for _, o := range ops {
		if o.Token == "" {
			continue
		}
		n := p.tokenNodes[o.Name]
		if n == nil {
			continue
		}
		if admin != "" && o.Token == admin {
			p.errorf(n, "each operator needs their own token; the admin token is for the administrator", "operator %s's token is the admin token", o.Name)
			continue
		}
		if first, dup := seen[o.Token]; dup {
			p.errorf(n, "each operator needs their own token: the token says who acts", "operator %s has the same token as operator %s", o.Name, first)
			continue
		}
		seen[o.Token] = o.Name
	}
}
