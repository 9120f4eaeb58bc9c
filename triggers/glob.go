package triggers

import "github.com/wxflow/wxflow/flows"

// Specificity ranks how precisely a trigger names its input: an exact key,
// scene or keyword wins over a glob or pattern, which wins over a bare kind.
const (
	SpecificityBare    = 0
	SpecificityPattern = 1
	SpecificityExact   = 2
)

// globInputs is the Inputs function of triggers whose argument is a glob
// (follow, scan, menu).
func globInputs(t *flows.Trigger) ([]string, int) {
	pattern, _ := t.Arg.(string)
	switch {
	case pattern == "":
		return []string{""}, SpecificityBare
	case flows.IsGlob(pattern):
		return []string{pattern}, SpecificityPattern
	}
	return []string{pattern}, SpecificityExact
}
