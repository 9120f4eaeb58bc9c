package flows_test

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/flows"
)

var reYAMLErrLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErr parses every document of src with yaml.v3 and returns the first
// error and the line it names (0 when it names none).
func yamlErr(src []byte) (error, int) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil, 0
		}
		if err != nil {
			line := 0
			if m := reYAMLErrLine.FindStringSubmatch(err.Error()); m != nil {
				line, _ = strconv.Atoi(m[1])
			}
			return err, line
		}
	}
}

// cutAfter returns src up to and including its line n.
func cutAfter(src []byte, n int) []byte {
	off := 0
	for i := 0; i < n; i++ {
		j := bytes.IndexByte(src[off:], '\n')
		if j < 0 {
			return src
		}
		off += j + 1
	}
	return src[:off]
}

// FuzzYAMLErrorLine mutates a valid flow by inserting a line and checks
// where a YAML syntax error is reported: never before the line yaml.v3
// names (where the error's context starts), and on a line such that the
// file cut after it already fails with the same error while the file cut
// before it does not.
func FuzzYAMLErrorLine(f *testing.F) {
	f.Add(2, 3, "- send: \"there\"")
	f.Add(5, 3, "- send: x")
	f.Add(7, 2, "id: b")
	f.Add(3, 1, "x: [1,")
	f.Add(9, 4, "\"open")
	f.Fuzz(func(t *testing.T, at, indent int, text string) {
		base := specFlows[0]
		lines := strings.Split(strings.TrimSuffix(base, "\n"), "\n")
		at = ((at % (len(lines) + 1)) + len(lines) + 1) % (len(lines) + 1)
		indent = ((indent % 12) + 12) % 12
		if strings.ContainsAny(text, "\n\r") {
			return
		}
		lines = append(lines[:at], append([]string{strings.Repeat(" ", indent) + text}, lines[at:]...)...)
		src := []byte(strings.Join(lines, "\n") + "\n")
		err, yline := yamlErr(src)
		_, diags := flows.LoadFile("flow.yaml", src, flows.Options{})
		if err == nil || yline == 0 {
			return
		}
		var d *flows.Diagnostic
		for i := range diags {
			if strings.HasPrefix(diags[i].Message, "YAML syntax error: ") {
				d = &diags[i]
				break
			}
		}
		if d == nil {
			t.Fatalf("yaml.v3 fails (%v) but no YAML syntax error is reported: %v", err, diags)
		}
		if d.Line == min(yline, len(lines)) {
			return // not moved (a line past the end is reported at the last)
		}
		if d.Line < yline || d.Line > len(lines) {
			t.Fatalf("error at line %d, yaml.v3 names %d, the file has %d lines:\n%s", d.Line, yline, len(lines), src)
		}
		if e, _ := yamlErr(cutAfter(src, d.Line)); e == nil || e.Error() != err.Error() {
			t.Fatalf("the file cut after line %d does not fail with %q (%v):\n%s", d.Line, err, e, src)
		}
		if e, _ := yamlErr(cutAfter(src, d.Line-1)); e != nil && e.Error() == err.Error() {
			t.Fatalf("the file cut before line %d already fails with %q:\n%s", d.Line, err, src)
		}
		if d.Col < 1 {
			t.Fatalf("no column: %v", d)
		}
	})
}

// TestYAMLErrorAtItsLine checks the case: a misindented list item
// three lines under steps: is reported at its own line, not at steps:.
func TestYAMLErrorAtItsLine(t *testing.T) {
	t.Parallel()
	src := "name: a\ntriggers:\n  - follow\nsteps:\n  - send: \"Hello\"\n  - send: \"there\"\n   - send: \"again\"\n"
	_, diags := flows.LoadFile("flow.yaml", []byte(src), flows.Options{})
	if len(diags) != 1 || diags[0].Line != 7 || diags[0].Col != 4 || !strings.Contains(diags[0].Hint, "line them up") {
		t.Fatalf("got %v, want one YAML syntax error at 7:4 with the hint to line the item up", diags)
	}
}

// TestYAMLSyntaxColumn: a YAML syntax error is placed at the character
// that is wrong, not at the line's start (yaml.v3 names no column; every
// one of these was reported at column 1).
func TestYAMLSyntaxColumn(t *testing.T) {
	head := "name: x\ntriggers: [follow]\nsteps:\n"
	for _, c := range []struct {
		name, src, want, hint string
	}{
		{"colon in a plain text", head + "  - send: Note: we are closed\n", "4:15", "needs quotes"},
		{"unclosed quote", head + "  - send: \"Welcome!\n  - end\n", "4:11", "closing quote"},
		{"unclosed list", "name: x\ntriggers: [follow\nsteps:\n  - send: hi\n", "2:11", "close the list with ]"},
		{"unclosed map", head + "  - hours:\n      open: {mon: \"09:00-18:00\"\n    when_open: []\n", "5:13", "close the map with }"},
		{"tab after spaces", head + "  - send: hi\n  \t id: a\n", "5:3", "not tabs"},
		{"list after a key", head + "  - send: - hi\n", "4:11", "next line"},
		{"misindented item", head + "  - send: \"Hello\"\n    - send: \"there\"\n", "5:5", "indentation"},
		// Text after a quoted value's closing quote: these were at the
		// line's first character with the indentation hint.
		{"quote inside double quotes", head + "  - send: \"Say \"hi\" to us\"\n", "4:17", "closing quote"},
		{"apostrophe inside single quotes", head + "  - send: 'We're open'\n", "4:15", "''"},
		{"quoted start of an expression", head + "  - send: hi\n    if: \"vip\" in contact.tags\n", "5:15", "closing quote"},
		{"quote inside a flow list", head + "  - tag: [\"a\" b]\n", "4:15", "closing quote"},
		{"quote inside a flow map", head + "  - set: {vars.a: \"x\" y}\n", "4:23", "closing quote"},
		// A key or an item out of line with a list's items: these had
		// only the generic indentation hint.
		{"key at an item's dash", head + "  - send: \"x\"\n  send: y\n", "5:3", "indent it 2 more spaces"},
		{"key at a deeper item's dash", head + "  - branch:\n      - if: true\n        then: []\n      else: []\n", "7:7", "indent it 2 more spaces"},
		{"item out of line", head + "  - send: a\n  - ask: b\n    save: vars.n\n   - send: c\n", "7:4", "line them up"},
		// yaml.v3's reader names no line for these: they were at 1:1
		// with the indentation hint.
		{"not UTF-8", head + "  - send: hi\n  - send: \"caf\xe9\"\n", "5:15", "save the file as UTF-8"},
		{"not UTF-8 in a comment", "name: x\n# \xd6\xd0\xce\xc4\ntriggers: [follow]\nsteps:\n  - send: hi\n", "2:3", "GBK"},
		{"control character", head + "  - send: \"a\x01b\"\n", "4:13", `\x01`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, diags := flows.LoadFile("flow.yaml", []byte(c.src), flows.Options{})
			if len(diags) == 0 {
				t.Fatal("no diagnostics")
			}
			d := diags[0]
			if got := strconv.Itoa(d.Line) + ":" + strconv.Itoa(d.Col); got != c.want || !strings.Contains(d.Hint, c.hint) {
				t.Errorf("%s: %s (%s), want at %s with a hint saying %q", got, d.Message, d.Hint, c.want, c.hint)
			}
		})
	}
}

// FuzzPlaceYAMLError: whatever the text, a syntax error is placed on a
// line of the file and at a column of that line (or just after its last
// character), for the config and test files, which do not clamp it.
func FuzzPlaceYAMLError(f *testing.F) {
	f.Add("name: x\nsteps:\n  - send: Note: x\n")
	f.Add("a: [1\n")
	f.Add("a: {b: 1\n")
	f.Add("a: \"open\n")
	f.Add("a:\n\t- b\n")
	f.Add("a: - b\n")
	f.Add("a: *nope\n")
	f.Add("é: 'ü\r\n")
	f.Add("a: \"b\"c\" d\n")
	f.Add("a: ['b' c]\n")
	f.Fuzz(func(t *testing.T, src string) {
		err, _ := yamlErr([]byte(src))
		if err == nil {
			return
		}
		s := flows.PlaceYAMLError([]byte(src), err)
		lines := strings.Split(src, "\n")
		if s.Line < 1 || s.Line > len(lines) {
			t.Fatalf("line %d of %d lines (%v)", s.Line, len(lines), err)
		}
		width := len([]rune(strings.TrimSuffix(lines[s.Line-1], "\r")))
		if s.Col < 1 || s.Col > width+1 {
			t.Fatalf("line %d col %d, the line has %d characters (%v)", s.Line, s.Col, width, err)
		}
		if s.Message == "" || s.Hint == "" {
			t.Fatalf("%+v", s)
		}
	})
}

// TestEmptyDocumentAfterTheFlow: a final --- (an empty document after the
// flow, as some editors and generators write) is no second flow; a second
// document with something in it, even after empty ones, still is. Before,
// the final --- was "a flow file holds one flow, but this one has another
// document after ---".
func TestEmptyDocumentAfterTheFlow(t *testing.T) {
	t.Parallel()
	flow := "name: a\ntriggers:\n  - follow\nsteps:\n  - send: hi\n"
	for _, c := range []struct{ name, src, want string }{
		{"final ---", flow + "---\n", ""},
		{"final --- and a comment", flow + "---\n# the end\n", ""},
		{"two empty documents", flow + "---\n---\n", ""},
		{"a second flow after an empty document", flow + "---\n---\nname: b\n", "7:1"},
		{"a null document", flow + "--- ~\n", "6:1"},
	} {
		_, diags := flows.LoadFile("flow.yaml", []byte(c.src), flows.Options{})
		got := ""
		for _, d := range diags {
			if strings.Contains(d.Message, "another document") {
				got = strconv.Itoa(d.Line) + ":" + strconv.Itoa(d.Col)
			}
		}
		if got != c.want {
			t.Errorf("%s: another-document error at %q, want %q (%v)", c.name, got, c.want, diags)
		}
	}
}
