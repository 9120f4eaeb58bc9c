package flows

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a diagnostic stops a flow from loading.
type Severity int

const (
	// SeverityError marks a problem that makes the flow unusable.
	SeverityError Severity = iota
	// SeverityWarning marks a likely mistake; the flow still loads.
	SeverityWarning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// MarshalJSON encodes the severity as its name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Pos is a 1-based line and column (in characters) inside a file.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// String renders the position as "line:col".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Diagnostic is one problem found in a flow file, with its place and an
// optional hint telling the author how to fix it.
type Diagnostic struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"`
	// Snippet is the source line with a caret under the column, when the
	// diagnostic points inside an expression.
	Snippet string `json:"snippet,omitempty"`
}

// String renders the diagnostic the way compilers do:
// "file:line:col: severity: message (hint)", followed by the snippet lines;
// "line:col: ..." when File is empty (a value parsed by ParseValue).
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		fmt.Fprintf(&b, "%s:", d.File)
	}
	fmt.Fprintf(&b, "%d:%d: %s: %s", d.Line, d.Col, d.Severity, d.Message)
	if d.Hint != "" {
		fmt.Fprintf(&b, " (%s)", d.Hint)
	}
	if d.Snippet != "" {
		b.WriteString("\n")
		b.WriteString(d.Snippet)
	}
	return b.String()
}

// Diagnostics is a list of problems, usually from several files.
type Diagnostics []Diagnostic

// unique drops the repeats of a diagnostic (a value reached through
// several aliases of one anchor is checked, and found wrong, once for
// each), keeping the order.
func (ds Diagnostics) unique() Diagnostics {
	seen := make(map[Diagnostic]bool, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool { return ds.Count(SeverityError) > 0 }

// Count returns how many diagnostics have the given severity.
func (ds Diagnostics) Count(s Severity) int {
	n := 0
	for _, d := range ds {
		if d.Severity == s {
			n++
		}
	}
	return n
}

// Sort orders diagnostics by file, line, column, then message.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Message < b.Message
	})
}

// Error joins the error diagnostics into one message, so a Diagnostics can
// be returned where an error is expected.
func (ds Diagnostics) Error() string {
	var lines []string
	for _, d := range ds {
		if d.Severity == SeverityError {
			lines = append(lines, d.String())
		}
	}
	return strings.Join(lines, "\n")
}

// Err returns the diagnostics as an error when any of them is an error,
// and nil otherwise.
func (ds Diagnostics) Err() error {
	if ds.HasErrors() {
		return ds
	}
	return nil
}

// snippet renders one source line with a caret under column col (1-based,
// in characters), in the style of expr's error messages.
func snippet(src []byte, line, col int) string {
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	text := strings.ReplaceAll(strings.TrimRight(lines[line-1], "\r"), "\t", " ")
	gutter := fmt.Sprintf("%4d | ", line)
	pad := strings.Repeat(" ", len(gutter)-2) + "| "
	caret := strings.Repeat(" ", max(col-1, 0)) + "^"
	return gutter + text + "\n" + pad + caret
}

// suggest returns the candidate closest to word when it is close enough to
// be a likely typo, or "".
func suggest(word string, candidates []string) string {
	best, bestD := "", 1<<30
	lw := strings.ToLower(word)
	for _, c := range candidates {
		// Of candidates as close, the first in order: the lists are often
		// a map's keys, and the hint must not change from run to run.
		d := levenshtein(lw, strings.ToLower(c))
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := 2
	if len([]rune(word)) <= 3 {
		limit = 1
	}
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// DidYouMean returns the hint `did you mean "x"?` naming the candidate
// closest to word when it is close enough to be a likely typo, or "". Other
// packages that check YAML (test scenarios) word their hints the same way.
func DidYouMean(word string, candidates []string) string { return didYouMean(word, candidates) }

// didYouMean formats a suggestion as a hint, or returns "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1) // transposition
			}
		}
	}
	return d[len(ra)][len(rb)]
}
