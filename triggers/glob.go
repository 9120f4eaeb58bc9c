package triggers

import "github.com/wxflow/wxflow/flows"

// Specificity ranks how precisely a trigger names its input: an exact key,
// scene or keyword wins over a glob or pattern, which wins over a message
// of one type (message: with type:, which names a kind of input, not the
// input), which wins over a bare kind.
const (
	SpecificityBare    = 0
	SpecificityTyped   = 1
	SpecificityPattern = 2
	SpecificityExact   = 3
)

// globInputs returns the Inputs function of triggers whose argument is a
// glob. space names the input the glob applies to: a follow with a scene
// and a scan share the space "qrscene", since a follow through a QR code
// is also a scan.
func globInputs(space string) func(t *flows.Trigger) ([]string, int) {
	return func(t *flows.Trigger) ([]string, int) {
		pattern, _ := t.Arg.(string)
		switch {
		case pattern == "":
			return []string{t.Kind + ":"}, SpecificityBare
		case flows.IsGlob(pattern):
			return []string{space + ":" + pattern}, SpecificityPattern
		}
		return []string{space + ":" + pattern}, SpecificityExact
	}
}
