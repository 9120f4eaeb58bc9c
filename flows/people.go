package flows

import (
	"regexp"
	"slices"
	"sort"
)

// People are the operators and teams that `assign` steps may name: those
// the server's configuration declares (wxflow validate --config, wxflow
// serve), or a test scenario's header. With Options.People nil, names are
// not checked.
type People struct {
	// Operators maps each operator's name to the teams they belong to.
	Operators map[string][]string
	// Teams are the declared team names.
	Teams []string
}

// PeopleNamePattern is the form of operator and team names, in flows
// (`assign: amy`, `assign: {team: support}`) and in the configuration.
var PeopleNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// AssignNone is the `assign` argument that hands a conversation back to
// nobody; no operator or team may have this name.
const AssignNone = "none"

// HasOperator reports whether an operator of that name is declared.
func (p *People) HasOperator(name string) bool {
	_, ok := p.Operators[name]
	return ok
}

// HasTeam reports whether a team of that name is declared.
func (p *People) HasTeam(name string) bool { return slices.Contains(p.Teams, name) }

// OperatorNames returns the declared operators' names, sorted.
func (p *People) OperatorNames() []string {
	out := make([]string, 0, len(p.Operators))
	for n := range p.Operators {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TeamMembers returns the operators of a team, sorted.
func (p *People) TeamMembers(team string) []string {
	var out []string
	for n, teams := range p.Operators {
		if slices.Contains(teams, team) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// People returns the operators and teams of the options of the file being
// loaded, or nil when names are not checked.
func (r *Reporter) People() *People {
	if r.p.opts == nil {
		return nil
	}
	return r.p.opts.People
}
