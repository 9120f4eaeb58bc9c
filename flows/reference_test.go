package flows_test

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// TestReferenceUpToDate checks that docs/flows.md is what `wxflow docs`
// prints now.
func TestReferenceUpToDate(t *testing.T) {
	t.Parallel()
	want := flows.Reference()
	got, err := os.ReadFile("../docs/flows.md")
	if err != nil {
		t.Fatalf("%v: run go run ./cmd/wxflow docs > docs/flows.md", err)
	}
	if string(got) != want {
		t.Errorf("docs/flows.md is out of date: run go run ./cmd/wxflow docs > docs/flows.md\n%s", firstDiff(string(got), want))
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "first difference at line " + strconv.Itoa(i+1) + ":\n  docs/flows.md: " + gl + "\n  Reference():   " + wl
		}
	}
	return ""
}

// keyNames collects every key name the language accepts: the flow's keys,
// the common keys, each kind's keys, and the keys of every map inside them.
func keyNames() map[string]bool {
	names := map[string]bool{}
	seen := map[*flows.Type]bool{}
	var visitType func(t *flows.Type)
	var visitFields func(fs []flows.Field)
	visitType = func(t *flows.Type) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		visitFields(t.Fields)
		for _, a := range t.Alts {
			visitType(a)
		}
		visitType(t.Elem)
	}
	visitFields = func(fs []flows.Field) {
		for _, f := range fs {
			names[f.Name] = true
			visitType(f.Type)
		}
	}
	visitFields(flows.FlowKeys())
	visitFields(flows.StepCommonKeys())
	visitFields(flows.TriggerCommonKeys())
	visitFields(flows.MenuKeys())
	for _, s := range flows.StepSpecs() {
		visitType(s.Arg)
		visitFields(s.Keys)
	}
	for _, tr := range flows.TriggerSpecs() {
		visitType(tr.Arg)
		visitFields(tr.Keys)
	}
	return names
}

// TestReferenceComplete checks that the reference names every registered
// kind, every key and every name of the expression environment.
func TestReferenceComplete(t *testing.T) {
	t.Parallel()
	ref := flows.Reference()
	for _, s := range flows.StepSpecs() {
		if !strings.Contains(ref, "\n### `"+s.Kind+"`\n") {
			t.Errorf("the reference has no section for step %q", s.Kind)
		}
		if s.Example != "" && !strings.Contains(ref, s.Example) {
			t.Errorf("the reference lacks the example of step %q", s.Kind)
		}
	}
	for _, tr := range flows.TriggerSpecs() {
		if !strings.Contains(ref, "\n### `"+tr.Kind+"`\n") {
			t.Errorf("the reference has no section for trigger %q", tr.Kind)
		}
		if tr.Example != "" && !strings.Contains(ref, tr.Example) {
			t.Errorf("the reference lacks the example of trigger %q", tr.Kind)
		}
	}
	names := keyNames()
	if len(names) < 30 {
		t.Fatalf("found only %d key names; the walk over the specs is broken", len(names))
	}
	for name := range names {
		if !strings.Contains(ref, "| `"+name+"` |") {
			t.Errorf("no table of the reference describes the key %q", name)
		}
	}
	// Every name of Env, by its expr tags.
	var walk func(rt reflect.Type, prefix string)
	walk = func(rt reflect.Type, prefix string) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			path := prefix + f.Tag.Get("expr")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				walk(f.Type, path+".")
				continue
			}
			if !strings.Contains(ref, "| `"+path+"` |") {
				t.Errorf("the environment table lacks %q", path)
			}
		}
	}
	walk(reflect.TypeOf(flows.Env{}), "")
	if strings.Contains(ref, "(undocumented)") {
		t.Errorf("a name of the environment has no description in flows/reference.go (envDocs)")
	}
	if !strings.Contains(ref, "## Test scenarios") || !strings.Contains(ref, "`wxflow test` runs these scenarios") {
		t.Errorf("the reference must describe the test scenario format and the command that runs it")
	}
}

var (
	reHeading = regexp.MustCompile("(?m)^#{1,6} (.+)$")
	reAnchor  = regexp.MustCompile(`\]\(#([^)]+)\)`)
)

// githubSlug is the anchor GitHub gives a heading.
func githubSlug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestReferenceLinks checks that every link inside the reference leads to
// one of its headings, as GitHub names them.
func TestReferenceLinks(t *testing.T) {
	t.Parallel()
	ref := flows.Reference()
	// Headings inside ```yaml blocks are comments, not headings.
	var prose strings.Builder
	inCode := false
	for _, line := range strings.Split(ref, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			prose.WriteString(line + "\n")
		}
	}
	anchors := map[string]bool{}
	count := map[string]int{}
	for _, m := range reHeading.FindAllStringSubmatch(prose.String(), -1) {
		s := githubSlug(m[1])
		if n := count[s]; n > 0 {
			count[s]++
			s += "-" + strconv.Itoa(n)
		} else {
			count[s] = 1
		}
		anchors[s] = true
	}
	for _, m := range reAnchor.FindAllStringSubmatch(ref, -1) {
		if !anchors[m[1]] {
			t.Errorf("link to #%s leads to no heading", m[1])
		}
	}
}
