package flows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// YAMLSyntax is a YAML syntax error placed in its file: the line and
// column that are wrong, yaml.v3's message without its "yaml: line N: "
// prefix, and a hint.
type YAMLSyntax struct {
	Line, Col     int
	Message, Hint string
}

var (
	reYAMLLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	reUnknownAnchor = regexp.MustCompile(`unknown anchor '([^']+)' referenced`)
)

// PlaceYAMLError places err, the syntax error yaml.v3 gave for src (a
// flow, a menu, a test file, a config). yaml.v3 names a line only, often
// the one where the error's context starts (the map a misindented item
// is under); the line that is wrong is found by parsing the file cut
// after each line from there, and the column by what the message says
// is wrong: the colon a plain text may not hold, the quote not closed,
// the bracket not closed, the tab, the alias of an anchor not defined;
// otherwise the line's first character.
func PlaceYAMLError(src []byte, err error) YAMLSyntax {
	y := yamlText{src: src, lineStarts: []int{0}}
	for i, b := range src {
		if b == '\n' {
			y.lineStarts = append(y.lineStarts, i+1)
		}
	}
	msg := err.Error()
	s := YAMLSyntax{Line: 1, Col: 1, Hint: "check the indentation and quoting on this line or the one before"}
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		s.Line, _ = strconv.Atoi(m[1])
		s.Line = min(max(s.Line, 1), len(y.lineStarts))
		msg = m[2]
		s.Line = y.culpritLine(s.Line, err.Error())
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	s.Message = msg
	s.Col = y.indentCol(s.Line)
	// yaml.v3's reader names no line for bytes that are not UTF-8 or
	// characters YAML does not allow: place them at the first such byte.
	if strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") {
		if off, r, bad := firstUnreadable(src); off >= 0 {
			s.Line, s.Col = y.posAt(off)
			if bad {
				s.Message = fmt.Sprintf("the file is not UTF-8 text (byte 0x%02X here)", src[off])
				s.Hint = "save the file as UTF-8: an editor set to GBK, GB 18030 or Latin-1 writes other bytes for 中文 or é"
			} else {
				s.Message = fmt.Sprintf("control character %U is not allowed in YAML", r)
				esc := fmt.Sprintf("\\x%02X", r)
				if r > 0xFF {
					esc = fmt.Sprintf("\\u%04X", r)
				}
				s.Hint = "delete it, or write it as an escape in a double-quoted text (" + esc + ")"
			}
			return s
		}
	}
	switch {
	case strings.Contains(msg, "tab") || y.tabLine(s.Line) > 0:
		s.Hint = "indent with spaces, not tabs"
		if y.tabLine(s.Line) == s.Line {
			s.Col = y.colOf(s.Line, strings.IndexByte(y.line(s.Line), '\t'))
		}
	case strings.Contains(msg, "unexpected end of stream") || strings.Contains(msg, "found unexpected end"):
		s.Hint = "a quoted text may be missing its closing quote"
		if i := openQuote(y.line(s.Line)); i >= 0 {
			s.Col = y.colOf(s.Line, i)
		}
	case strings.Contains(msg, "mapping values are not allowed"):
		s.Hint = "a kind with keys under it needs a colon (- follow:), and a text with \": \" in it needs quotes"
		if i := secondColon(y.line(s.Line)); i >= 0 {
			s.Col = y.colOf(s.Line, i)
		}
	case strings.Contains(msg, "did not find expected ',' or ']'"):
		if i := openBracket(y.line(s.Line), '[', ']'); i >= 0 {
			s.Col = y.colOf(s.Line, i)
			s.Hint = "close the list with ] (or quote a text holding [ or ,)"
		} else if i := afterClosedQuote(y.line(s.Line)); i >= 0 {
			s.Col = y.colOf(s.Line, i)
			s.Hint = quoteEndsHint
		}
	case strings.Contains(msg, "did not find expected ',' or '}'"):
		if i := openBracket(y.line(s.Line), '{', '}'); i >= 0 {
			s.Col = y.colOf(s.Line, i)
			s.Hint = "close the map with } (or quote a text holding { or ,)"
		} else if i := afterClosedQuote(y.line(s.Line)); i >= 0 {
			s.Col = y.colOf(s.Line, i)
			s.Hint = quoteEndsHint
		}
	case strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "did not find expected '-' indicator"):
		if i := afterClosedQuote(y.line(s.Line)); i >= 0 {
			s.Col = y.colOf(s.Line, i)
			s.Hint = quoteEndsHint
		} else if strings.Contains(msg, "'-' indicator") {
			if h := y.listIndentHint(s.Line); h != "" {
				s.Hint = h
			}
		}
	case strings.Contains(msg, "block sequence entries are not allowed"):
		s.Hint = "a list after a key starts on the next line, indented: key:, then - item"
		if i := strings.Index(y.line(s.Line), ": - "); i >= 0 {
			s.Col = y.colOf(s.Line, i+2)
		}
	}
	if m := reUnknownAnchor.FindStringSubmatch(msg); m != nil {
		if o := bytes.Index(src, []byte("*"+m[1])); o >= 0 {
			s.Line, s.Col = y.posAt(o)
		}
		s.Hint = "define it first with &" + m[1]
	}
	return s
}

// reKeyStart matches a line that starts with a map key (plain or quoted).
var reKeyStart = regexp.MustCompile(`^(?:[^\s#'"\-\[\]{}:,][^:#]*?|"[^"]*"|'[^']*'):(?:\s|$)`)

// listIndentHint explains a line inside a block list that is not one of
// its items ("did not find expected '-' indicator"), from the list item
// above it: a key at the indent of the item's "-", which belongs to no
// item, or a "-" out of line with the items. It returns "" when the lines
// above show neither.
func (y yamlText) listIndentHint(line int) string {
	text := y.line(line)
	body := strings.TrimLeft(text, " ")
	indent := len(text) - len(body)
	// The nearest line above, not blank nor a comment, indented as much
	// or less: the item (or the key) this line lines up with.
	for l := line - 1; l >= 1; l-- {
		above := y.line(l)
		ab := strings.TrimLeft(above, " ")
		if ab == "" || strings.HasPrefix(ab, "#") {
			continue
		}
		ai := len(above) - len(ab)
		if ai > indent {
			continue
		}
		if !strings.HasPrefix(ab, "- ") && ab != "-" {
			return ""
		}
		switch {
		case strings.HasPrefix(body, "- ") || body == "-":
			if ai == indent {
				return ""
			}
			return fmt.Sprintf("this item's - is at column %d, but the list's items (line %d) have theirs at column %d: line them up", indent+1, l, ai+1)
		case ai == indent && reKeyStart.MatchString(body):
			key := strings.TrimLeft(ab[1:], " ")
			more := len(ab) - len(key)
			return fmt.Sprintf("this key is at the column of the list's - (line %d), so it belongs to no item: indent it %d more spaces to put it in the item above, or write - before it to start an item", l, more)
		}
		return ""
	}
	return ""
}

// quoteEndsHint is the hint for text after a quoted value's closing
// quote.
const quoteEndsHint = `a quoted text ends at its closing quote: write a " inside "..." as \", a ' inside '...' as '' ('it''s'), or quote with the other kind ('Say "hi"')`

// yamlText is a file's text with where its lines start.
type yamlText struct {
	src        []byte
	lineStarts []int
}

// line returns a line's text without its line end ("" past the file).
func (y yamlText) line(n int) string {
	if n < 1 || n > len(y.lineStarts) {
		return ""
	}
	rest := y.src[y.lineStarts[n-1]:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	return string(bytes.TrimSuffix(rest, []byte("\r")))
}

// colOf converts a byte offset in a line to a column.
func (y yamlText) colOf(line, i int) int {
	text := y.line(line)
	return utf8.RuneCountInString(text[:min(max(i, 0), len(text))]) + 1
}

// posAt converts a byte offset in the file to a line and a column.
func (y yamlText) posAt(off int) (int, int) {
	line := 1
	for line < len(y.lineStarts) && y.lineStarts[line] <= off {
		line++
	}
	return line, utf8.RuneCount(y.src[y.lineStarts[line-1]:off]) + 1
}

// maxCulpritScan bounds how many lines after the line yaml.v3 names are
// tried when looking for the line that is wrong.
const maxCulpritScan = 200

// culpritLine finds the line a YAML syntax error is really on. yaml.v3
// reports the line where the error's context starts (a misindented list
// item three lines under steps: is reported at steps:), so the file is
// parsed again cut after each line from there on: the first cut that
// fails with the same error ends with the line that is wrong. A cut that
// fails otherwise (inside a quoted text or a [...] list) does not count.
// It returns reported when no cut reproduces the error.
func (y yamlText) culpritLine(reported int, errText string) int {
	last := len(y.lineStarts)
	if len(y.src) > 0 && y.src[len(y.src)-1] == '\n' {
		last--
	}
	for k := max(reported, 1); k <= last && k <= reported+maxCulpritScan; k++ {
		cut := y.src
		if k < len(y.lineStarts) {
			cut = y.src[:y.lineStarts[k]]
		}
		if err := firstYAMLError(cut); err != nil && err.Error() == errText {
			return k
		}
	}
	return reported
}

// firstYAMLError parses every document of src and returns the first
// syntax error, or nil.
func firstYAMLError(src []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// indentCol returns the column of a line's first character that is not
// a space or a tab (1 for a blank line).
func (y yamlText) indentCol(line int) int {
	text := y.line(line)
	trimmed := strings.TrimLeft(text, " \t")
	if strings.TrimSpace(trimmed) == "" {
		return 1
	}
	return y.colOf(line, len(text)-len(trimmed))
}

// tabLine returns line, or else the line after it, when it is indented
// with a tab; 0 when neither is.
func (y yamlText) tabLine(line int) int {
	for l := line; l <= line+1 && l >= 1 && l <= len(y.lineStarts); l++ {
		text := y.line(l)
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		if strings.Contains(indent, "\t") {
			return l
		}
	}
	return 0
}

// openQuote returns the offset of the quote a line opens and does not
// close (" or '), or -1.
func openQuote(text string) int {
	for i := 0; i < len(text); i++ {
		q := text[i]
		if q != '"' && q != '\'' {
			continue
		}
		// A quote opens a quoted text only where a value starts.
		if i > 0 && !strings.ContainsRune(" -:[{,", rune(text[i-1])) {
			continue
		}
		j := closingQuote(text, i)
		if j >= len(text) {
			return i
		}
		i = j
	}
	return -1
}

// closingQuote returns the offset of the quote that closes the quoted
// value opening at text[i] (a backslash escapes in double quotes, a
// doubled quote in single ones), or len(text) when the line does not
// close it.
func closingQuote(text string, i int) int {
	q := text[i]
	j := i + 1
	for ; j < len(text); j++ {
		if q == '"' && text[j] == '\\' {
			j++
			continue
		}
		if text[j] == q {
			if q == '\'' && j+1 < len(text) && text[j+1] == '\'' {
				j++
				continue
			}
			break
		}
	}
	return min(j, len(text))
}

// afterClosedQuote returns the offset of the first text after a quoted
// value that a line closes (`- send: "Say "hi" to us"`, `if: "a" == b`,
// `send: 'it's'`), where YAML wants the line to end, or -1. Text after
// the quote that YAML takes (a comment, a colon, a comma or a closing
// bracket) does not count.
func afterClosedQuote(text string) int {
	for i := 0; i < len(text); i++ {
		q := text[i]
		if q == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t') {
			return -1
		}
		if q != '"' && q != '\'' {
			continue
		}
		if i > 0 && !strings.ContainsRune(" -:[{,", rune(text[i-1])) {
			continue
		}
		j := closingQuote(text, i)
		if j >= len(text) {
			return -1
		}
		k := j + 1
		for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
			k++
		}
		if k < len(text) && !strings.ContainsRune("#:,]}", rune(text[k])) {
			return k
		}
		i = j
	}
	return -1
}

// secondColon returns the offset of the colon that makes a plain text a
// key again (`- send: Note: x`): the first ": " (or a final ":") after
// the line's key, or the key's own colon when there is no other; -1 when
// the line has none.
func secondColon(text string) int {
	first := colonAt(text, 0)
	if first < 0 {
		return -1
	}
	if next := colonAt(text, first+1); next >= 0 {
		return next
	}
	return first
}

// colonAt returns the offset of the first ": " or final ":" of text at or
// after from, or -1.
func colonAt(text string, from int) int {
	for i := from; i < len(text); i++ {
		if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\t') {
			return i
		}
	}
	return -1
}

// openBracket returns the offset of the last open bracket of a line that
// the line does not close, or -1.
func openBracket(text string, open, close byte) int {
	var stack []int
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case open:
			stack = append(stack, i)
		case close:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) == 0 {
		return -1
	}
	return stack[len(stack)-1]
}

// firstUnreadable returns the offset of the first byte of src that is not
// UTF-8 (bad true) or of the first character YAML does not allow (a
// control character other than tab, line feed and carriage return, or a
// byte-order mark past the start), and that character; -1 when there is
// none.
func firstUnreadable(src []byte) (off int, r rune, bad bool) {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return i, r, true
		}
		printable := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
			(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD && (r != 0xFEFF || i == 0)) || r >= 0x10000
		if !printable {
			return i, r, false
		}
		i += size
	}
	return -1, 0, false
}
