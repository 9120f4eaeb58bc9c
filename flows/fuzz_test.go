package flows_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// The three flows of FLOW-LANGUAGE.md and its menu, so the fuzzers have
// valid seeds whatever the examples folder holds.
var specFlows = []string{`name: welcome
triggers:
  - follow
steps:
  - send: "Welcome! Tap Help in the menu, or just write to us."
  - if: event.scene != ""
    send: "Thanks for visiting our ${event.scene} store."
  - ask: "What should we call you?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: done
  - send: "Nice to meet you, ${contact.fields.name}!"
  - id: done
    end:
`, `name: away
cooldown: 12h
triggers:
  - message:
    priority: -10
steps:
  - hours:
      timezone: Asia/Shanghai
      open: { mon-fri: "09:00-18:00" }
      holidays: [2026-10-01, 2026-10-02]
    when_closed:
      - send: "We're away now and will answer from 9:00 (Beijing time) on the next working day."
    when_open: []
`, `name: help-menu
triggers:
  - menu: MENU_HELP
  - keyword: [help, menu, 帮助]
steps:
  - id: menu
    ask: "How can we help?\n1. Opening hours\n2. Track an order\n3. Talk to a person"
    expect: choice
    choices:
      hours: ["1", hours, 营业时间]
      order: ["2", order, 订单]
      human: ["3", person, 人工]
    save: vars.topic
    invalid: "Please reply 1, 2 or 3."
    timeout: 30m
  - branch:
      - if: vars.topic == "hours"
        then:
          - send: "We're open Mon-Fri 9:00-18:00."
          - goto: menu
      - if: vars.topic == "order"
        then:
          - ask: "Your order number?"
            pattern: "^[0-9]{6,}$"
            save: vars.order
          - http:
              url: "https://shop.example.com/api/orders/${vars.order}"
              save: vars.lookup
            on_error: lookup_failed
          - send: "Order ${vars.order}: ${vars.lookup.body.status}"
          - end
      - else:
          - tag: [wants_human]
          - send: "A colleague will reply here soon."
          - end
  - id: lookup_failed
    send: "We couldn't look that order up right now. Please try again later."
`}

const specMenu = `menu:
  - name: Products
    items:
      - { name: New arrivals, key: MENU_NEW }
      - { name: Shop, url: "https://shop.example.com" }
  - { name: Help, key: MENU_HELP }
`

// seedFiles returns the contents of the files matching the patterns, so
// the example flows and the golden cases seed the fuzzers.
func seedFiles(f *testing.F, patterns ...string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pattern := range patterns {
		names, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range names {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, src)
		}
	}
	return out
}

// checkDiags asserts what every diagnostic must have, whatever the input:
// the file it was asked about, a place inside the source, a message.
func checkDiags(t *testing.T, file string, src []byte, diags flows.Diagnostics) {
	t.Helper()
	lines := yamlLines(src)
	for _, d := range diags {
		if d.File != file {
			t.Errorf("diagnostic for file %q, want %q: %s", d.File, file, d)
		}
		if d.Line < 1 || d.Col < 1 {
			t.Errorf("diagnostic without a position: %s", d)
		}
		if d.Line > lines {
			t.Errorf("diagnostic on line %d of a %d-line file: %s", d.Line, lines, d)
		}
		if strings.TrimSpace(d.Message) == "" {
			t.Errorf("diagnostic without a message: %s", d)
		}
		if d.Severity != flows.SeverityError && d.Severity != flows.SeverityWarning {
			t.Errorf("diagnostic with severity %d: %s", d.Severity, d)
		}
		_ = d.String()
	}
}

// yamlLines counts the lines of src the way the YAML parser does: CR LF,
// CR, LF, NEL, LS and PS each end a line.
func yamlLines(src []byte) int {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	n := 1
	for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(src, []byte(sep))
	}
	return n
}

// fuzzFlowFile is where fuzzed flows claim to live: a folder that does not
// exist, so media paths in them name no real file.
var fuzzFlowFile = filepath.Join(os.TempDir(), "wxflow-fuzz-no-such-dir", "flow.yaml")

func FuzzLoadFile(f *testing.F) {
	for _, s := range specFlows {
		f.Add([]byte(s))
	}
	for _, src := range seedFiles(f, "examples/*.yaml", "testdata/[0-9]*-*/*.yaml") {
		f.Add(src)
	}
	f.Add([]byte(""))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("name: a\ntriggers: [follow]\nsteps: &s [*s]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		fl, diags := flows.LoadFile(fuzzFlowFile, src, flows.Options{})
		if fl == nil {
			t.Fatal("LoadFile returned no flow")
		}
		checkDiags(t, fuzzFlowFile, src, diags)
		// Loading is deterministic.
		_, again := flows.LoadFile(fuzzFlowFile, src, flows.Options{})
		if !reflect.DeepEqual(diags, again) {
			t.Errorf("two loads of the same file differ:\n%v\n---\n%v", diags, again)
		}
		// The international checks run on the same input without trouble.
		_, intl := flows.LoadFile(fuzzFlowFile, src, flows.Options{Region: "international"})
		checkDiags(t, fuzzFlowFile, src, intl)
	})
}

// templateFlow returns a valid flow whose one step sends text, written
// as a YAML double-quoted scalar. (yaml.Marshal is not used: its block
// scalars with an indentation indicator do not always read back the same
// inside a list, e.g. "\n#0".)
func templateFlow(text string) []byte {
	return []byte("name: fuzz\ntriggers:\n  - keyword: [x]\nsteps:\n  - send: " + yamlQuote(text) + "\n")
}

// yamlQuote writes s as a YAML double-quoted scalar, escaping what YAML
// does not allow as it is.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xd7ff && r != 0x2028 && r != 0x2029,
			r >= 0xe000 && r <= 0xfffd && r != 0xfeff, r >= 0x10000 && r <= 0x10ffff:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"Hello",
		"Welcome, ${contact.fields.name}!",
		"Thanks for visiting our ${event.scene} store.",
		"Order ${vars.order}: ${vars.lookup.body.status}",
		"${answer}",
		"Price: $${price}",
		"${",
		"${}",
		"${ }",
		"a ${contact.fields.name",
		"${'}'}",
		"${\"{\" + \"}\"}",
		"${contcat.id}",
		"${now.Weekdy()}",
		"你好 ${contact.id}",
		"${1 +\n2}",
		"line one\nline two ${vars.x}",
		"$${${vars.a}}",
		"${{a: 1}.a}",
		"${`x}`}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			t.Skip("YAML text is UTF-8")
		}
		src := templateFlow(text)
		fl, diags := flows.LoadFile(fuzzFlowFile, src, flows.Options{})
		checkDiags(t, fuzzFlowFile, src, diags)
		// The text is one line of the file (line 5, escapes and all): every
		// problem in it is on that line, within it.
		sendLine := strings.Split(string(src), "\n")[4]
		for _, d := range diags {
			if d.Line != 5 || d.Col > utf8.RuneCountInString(sendLine) {
				t.Errorf("diagnostic outside the send text (line 5, %d characters): %s", utf8.RuneCountInString(sendLine), d)
			}
		}
		if diags.HasErrors() {
			return
		}
		if len(fl.Steps) != 1 {
			t.Fatalf("want one step, got %d", len(fl.Steps))
		}
		m, ok := fl.Steps[0].Arg.(*flows.Message)
		if !ok || m.Text == nil {
			t.Fatalf("send step has no text: %#v", fl.Steps[0].Arg)
		}
		if m.Text.Src != text {
			t.Errorf("template source %q, want %q", m.Text.Src, text)
		}
		// Text without ${ renders as written; $${ only matters before {.
		if !strings.Contains(text, "${") {
			got, err := m.Text.Render(&flows.Env{})
			if err != nil || got != text {
				t.Errorf("Render(%q) = %q, %v; want it unchanged", text, got, err)
			}
		}
	})
}

func FuzzLoadMenu(f *testing.F) {
	f.Add([]byte(specMenu))
	for _, src := range seedFiles(f, "examples/menu.yaml", "testdata/[0-9]*-*/menu.yaml") {
		f.Add(src)
	}
	f.Add([]byte(""))
	f.Add([]byte("menu: []\n"))
	f.Add([]byte("menu:\n  - { name: A, items: [{ name: B, items: [] }] }\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		m, diags := flows.LoadMenu("menu.yaml", src)
		if m == nil {
			t.Fatal("LoadMenu returned no menu")
		}
		checkDiags(t, "menu.yaml", src, diags)
		keys := m.Keys()
		if len(keys) != len(m.ClickButtons()) {
			t.Errorf("Keys() has %d keys for %d click buttons", len(keys), len(m.ClickButtons()))
		}
		if !diags.HasErrors() {
			if n := len(m.Buttons); n < 1 || n > flows.MenuMaxButtons {
				t.Errorf("menu without errors has %d buttons", n)
			}
			for _, b := range m.Buttons {
				if len(b.Items) > flows.MenuMaxSubButtons {
					t.Errorf("menu without errors has a button with %d sub-buttons", len(b.Items))
				}
			}
		}
	})
}
