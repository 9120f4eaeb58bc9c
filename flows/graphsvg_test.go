package flows_test

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
)

// svgDoc is what checkSVG finds in an SVG document.
type svgDoc struct {
	nodes map[string]svgNodeInfo // by data-node
	order []string               // data-node in document order
	edges []svgEdgeInfo
	texts []string // character data anywhere
}

type svgNodeInfo struct {
	class, step, kind, title, badge string
}

type svgEdgeInfo struct {
	class, from, to string
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func hasClass(se xml.StartElement, class string) bool {
	for _, c := range strings.Fields(attr(se, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

// checkSVG decodes every token of an SVG document, failing the test if it
// is not well-formed XML with one <svg> root that has its size and
// viewBox, and returns its nodes and edges.
func checkSVG(t testing.TB, src string) svgDoc {
	t.Helper()
	doc := svgDoc{nodes: map[string]svgNodeInfo{}}
	if !strings.HasPrefix(src, "<svg") {
		t.Fatalf("SVG does not start with <svg: %.80q", src)
	}
	d := xml.NewDecoder(strings.NewReader(src))
	var stack []xml.StartElement
	node := "" // the data-node of the node being read
	roots := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, src)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				roots++
				if tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root element is %v, want svg", tok.Name)
				}
				for _, a := range []string{"width", "height", "viewBox"} {
					if attr(tok, a) == "" {
						t.Errorf("<svg> has no %s", a)
					}
				}
			}
			switch {
			case tok.Name.Local == "g" && hasClass(tok, "node"):
				node = attr(tok, "data-node")
				if _, dup := doc.nodes[node]; dup || node == "" {
					t.Errorf("node %q twice or without data-node", node)
				}
				doc.nodes[node] = svgNodeInfo{class: attr(tok, "class"), step: attr(tok, "data-step"), kind: attr(tok, "data-kind")}
				doc.order = append(doc.order, node)
			case tok.Name.Local == "path" && hasClass(tok, "edge"):
				doc.edges = append(doc.edges, svgEdgeInfo{class: attr(tok, "class"), from: attr(tok, "data-from"), to: attr(tok, "data-to")})
			}
			stack = append(stack, tok)
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.Name.Local == "g" && hasClass(top, "node") {
				node = ""
			}
		case xml.CharData:
			text := string(tok)
			doc.texts = append(doc.texts, text)
			if node == "" || len(stack) < 2 {
				continue
			}
			info := doc.nodes[node]
			switch parent := stack[len(stack)-1]; {
			case parent.Name.Local == "title" && stack[len(stack)-2].Name.Local == "g" && hasClass(stack[len(stack)-2], "node"):
				info.title += text
			case parent.Name.Local == "text" && hasClass(stack[len(stack)-2], "badge"):
				info.badge += text
			}
			doc.nodes[node] = info
		}
	}
	if roots != 1 {
		t.Errorf("SVG has %d root elements, want 1", roots)
	}
	return doc
}

var (
	mermaidNode = regexp.MustCompile(`^    (t\d+|s\d+|exit)[(\[{>]`)
	mermaidEdge = regexp.MustCompile(`^    (t\d+|s\d+) -(?:->|\.->)(?:\|"[^|]*"\|)? (s\d+|exit)$`)
)

// checkSameGraph checks that the SVG has the nodes and edges of the
// flow's Mermaid graph, in the same order.
func checkSameGraph(t testing.TB, f *flows.Flow, doc svgDoc) {
	t.Helper()
	var nodes []string
	var edges [][2]string
	var dotted []bool
	for _, line := range strings.Split(flows.Mermaid(f), "\n") {
		if m := mermaidNode.FindStringSubmatch(line); m != nil {
			nodes = append(nodes, m[1])
		} else if m := mermaidEdge.FindStringSubmatch(line); m != nil {
			edges = append(edges, [2]string{m[1], m[2]})
			dotted = append(dotted, strings.Contains(line, " -.->"))
		}
	}
	if strings.Join(nodes, " ") != strings.Join(doc.order, " ") {
		t.Errorf("SVG nodes %v, Mermaid nodes %v", doc.order, nodes)
	}
	if len(edges) != len(doc.edges) {
		t.Fatalf("SVG has %d edges, Mermaid %d", len(doc.edges), len(edges))
	}
	for i, e := range edges {
		got := doc.edges[i]
		if got.from != e[0] || got.to != e[1] {
			t.Errorf("edge %d goes %s -> %s, Mermaid's %s -> %s", i, got.from, got.to, e[0], e[1])
		}
		if jump := strings.Contains(" "+got.class+" ", " jump "); jump != dotted[i] {
			t.Errorf("edge %d %s -> %s: class %q, Mermaid dotted: %v", i, got.from, got.to, got.class, dotted[i])
		}
	}
	steps := 0
	for _, id := range doc.order {
		n := doc.nodes[id]
		switch {
		case strings.HasPrefix(id, "t"):
			if n.class != "node trigger" {
				t.Errorf("trigger %s has class %q", id, n.class)
			}
		case strings.HasPrefix(id, "s"):
			steps++
			if n.class != "node step" || n.step != id || n.kind == "" {
				t.Errorf("step %s: class %q, data-step %q, data-kind %q", id, n.class, n.step, n.kind)
			}
		}
		if n.title == "" {
			t.Errorf("node %s has no title", id)
		}
	}
	if f != nil {
		want := 0
		f.Walk(func(*flows.Step) { want++ })
		if steps != want {
			t.Errorf("SVG has %d steps, the flow %d", steps, want)
		}
	}
}

// graphFlows returns the flows to draw: the examples, the graph goldens,
// the flows of FLOW-LANGUAGE.md and some odd shapes.
func graphFlows(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var files []string
	for _, p := range []string{"examples/*.yaml", "testdata/graph/*.yaml"} {
		m, err := filepath.Glob(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".test.yaml") || filepath.Base(file) == "menu.yaml" {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out[file] = src
	}
	if len(out) < 8 {
		t.Fatalf("found only %d flows to draw", len(out))
	}
	for i, s := range specFlows {
		out["spec-"+string(rune('a'+i))] = []byte(s)
	}
	for name, s := range oddFlows {
		out[name] = []byte(s)
	}
	return out
}

// oddFlows have shapes the examples do not: loops on one step, steps no
// path reaches, jumps far back and forth, every kind of step.
var oddFlows = map[string]string{
	"self-loop": `name: self-loop
triggers:
  - keyword: [again]
steps:
  - id: again
    ask: "Again?"
    on_timeout: again
    on_invalid: again
    expect: number
  - id: spin
    wait: 1h
  - goto: spin
`,
	"unreachable": `name: unreachable
triggers:
  - follow
steps:
  - send: hi
  - end
  - send: "nobody gets here"
  - tag: [x]
  - id: island
    send: "nor here"
`,
	"kinds": `name: kinds
triggers:
  - keyword: { pattern: "^order ([0-9]+)$" }
    if: contact.fields.vip == true
  - schedule:
      cron: "0 9 * * mon"
      timezone: Asia/Shanghai
steps:
  - id: top
    send: "He said \"hi\" <b>#1</b> & [x] {y} ` + "`z`" + `\nok"
    on_fail: out
  - if: vars.n > 1
    wait: 2h
  - set: { vars.n: 1, contact.fields.city: Shanghai }
  - http:
      method: POST
      url: "https://crm.example.com/api/leads"
      json: { a: 1 }
    on_error: out
  - start: survey
  - untag: [a]
  - hours:
      timezone: Asia/Shanghai
      open: { mon-fri: "09:00-18:00" }
    when_open: top
    when_closed:
      - send: "closed 已关门 🌙"
  - branch:
      - if: vars.n == 1
        goto: top
      - if: vars.n == 2
        then:
          - tag: [a, b]
      - else:
          - wait:
            until: now.Add(duration("3h"))
  - id: out
    goto: top
`,
}

func loadOK(t testing.TB, name string, src []byte) *flows.Flow {
	t.Helper()
	f, diags := flows.LoadFile(name, src, flows.Options{})
	if diags.HasErrors() {
		t.Fatalf("%s does not load:\n%s", name, diags.Error())
	}
	return f
}

// TestSVGSameGraphAsMermaid draws the example and spec flows: each SVG is
// well-formed, with Mermaid's nodes and edges.
func TestSVGSameGraphAsMermaid(t *testing.T) {
	t.Parallel()
	for name, src := range graphFlows(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			t.Parallel()
			f := loadOK(t, name, src)
			out := flows.SVG(f, flows.SVGOptions{})
			checkSameGraph(t, f, checkSVG(t, out))
			if again := flows.SVG(f, flows.SVGOptions{}); again != out {
				t.Error("two renderings of the same flow differ")
			}
			// A new load (new pointers, new maps) draws the same.
			if again := flows.SVG(loadOK(t, name, src), flows.SVGOptions{}); again != out {
				t.Error("renderings of two loads of the same flow differ")
			}
		})
	}
}

// TestSVGShapes checks the kinds of edges and nodes of oddFlows.
func TestSVGShapes(t *testing.T) {
	t.Parallel()
	f := loadOK(t, "self-loop", []byte(oddFlows["self-loop"]))
	doc := checkSVG(t, flows.SVG(f, flows.SVGOptions{}))
	loops := 0
	for _, e := range doc.edges {
		if e.from == e.to {
			loops++
			if !strings.Contains(e.class, "self") {
				t.Errorf("edge %s -> %s has class %q, want self", e.from, e.to, e.class)
			}
		}
		if e.from == "s2" && e.to == "s1" && !strings.Contains(e.class, "back") {
			t.Errorf("goto spin goes back, but its class is %q", e.class)
		}
	}
	if loops != 2 {
		t.Errorf("want the two jumps of the ask to itself, got %d self-loops", loops)
	}

	f = loadOK(t, "kinds", []byte(oddFlows["kinds"]))
	doc = checkSVG(t, flows.SVG(f, flows.SVGOptions{}))
	want := map[string]string{"s0": "send", "s1": "wait", "s2": "set", "s3": "http", "s4": "start", "s5": "untag", "s6": "hours", "s7": "send", "s8": "branch", "s9": "tag", "s10": "wait", "s11": "goto"}
	for id, kind := range want {
		if got := doc.nodes[id].kind; got != kind {
			t.Errorf("%s has data-kind %q, want %q", id, got, kind)
		}
	}
	if _, ok := doc.nodes["exit"]; ok {
		t.Error("no path of kinds runs off its end, but the SVG has an exit node")
	}
}

// TestSVGEscaping checks that texts with markup in them stay text.
func TestSVGEscaping(t *testing.T) {
	t.Parallel()
	src := `name: escape
triggers:
  - keyword: ["<script>&\"'"]
steps:
  - id: top
    ask: "<script>x</script> & \"q\" 'single' 你好 👋"
    save: vars.x
    on_timeout: top
  - if: vars.x == "<b>&'\""
    send: "a < b && c > d"
`
	f := loadOK(t, "escape.yaml", []byte(src))
	out := flows.SVG(f, flows.SVGOptions{Badges: map[*flows.Step]string{f.Steps[0]: `<3 & "'`}})
	doc := checkSVG(t, out)
	checkSameGraph(t, f, doc)
	if strings.Contains(out, "<script") || strings.Contains(out, "<b>") || strings.Contains(out, "<3") {
		t.Errorf("markup of the flow is in the SVG as markup:\n%s", out)
	}
	for _, want := range []string{"&lt;script&gt;&amp;&#34;&#39;", "&lt;script&gt;x&lt;/script&gt; &amp; &#34;q&#34; &#39;single&#39; 你好 👋", "a &lt; b &amp;&amp; c &gt; d", "vars.x == &#34;&lt;b&gt;&amp;&#39;\\&#34;&#34;"} {
		if !strings.Contains(out, want) {
			t.Errorf("SVG lacks %s", want)
		}
	}
	if got := doc.nodes["t0"].title; got != `keyword: <script>&"'` {
		t.Errorf("trigger title %q", got)
	}
	if got := doc.nodes["s0"].title; !strings.HasPrefix(got, `ask: <script>x</script> & "q" 'single' 你好 👋`) || !strings.HasSuffix(got, "\nid: top") {
		t.Errorf("ask title %q", got)
	}
	if got := doc.nodes["s0"].badge; got != `<3 & "'` {
		t.Errorf("badge %q, want <3 & \"'", got)
	}
}

// TestSVGBadges checks that badges go on their step and only there.
func TestSVGBadges(t *testing.T) {
	t.Parallel()
	f := loadOK(t, "help-menu", []byte(specFlows[2]))
	var steps []*flows.Step
	f.Walk(func(s *flows.Step) { steps = append(steps, s) })
	other := loadOK(t, "welcome", []byte(specFlows[0]))
	badges := map[*flows.Step]string{
		steps[0]:           "12",
		steps[4]:           "3 waiting",
		steps[7]:           "",                            // empty: no badge
		steps[9]:           "a very long badge text here", // cut
		other.Steps[0]:     "99",                          // not in this flow
		(*flows.Step)(nil): "nil",
	}
	out := flows.SVG(f, flows.SVGOptions{Badges: badges})
	doc := checkSVG(t, out)
	checkSameGraph(t, f, doc)
	want := map[string]string{"s0": "12", "s4": "3 waiting", "s9": "a very long…"}
	for _, id := range doc.order {
		if got := doc.nodes[id].badge; got != want[id] {
			t.Errorf("%s has badge %q, want %q", id, got, want[id])
		}
	}
	if n := strings.Count(out, `class="badge"`); n != 3 {
		t.Errorf("%d badges, want 3", n)
	}
	if again := flows.SVG(f, flows.SVGOptions{Badges: badges}); again != out {
		t.Error("two renderings with the same badges differ")
	}
	if plain := flows.SVG(f, flows.SVGOptions{}); strings.Contains(plain, "badge\"") {
		t.Error("badges drawn without any")
	}
}

// TestSVGOddFlows draws flows Mermaid handles specially, and flows built
// by hand that LoadFile never returns: none panics.
func TestSVGOddFlows(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]*flows.Flow{
		"nil":         nil,
		"empty":       {},
		"no triggers": loadOK(t, "x", []byte("name: x\ntriggers: []\nsteps:\n  - send: hi\n")),
		"nil step":    {Name: "n", Steps: []*flows.Step{nil, {Kind: "send"}}},
		"nil trigger": {Name: "n", Triggers: []*flows.Trigger{nil}, Steps: []*flows.Step{{Kind: "end"}}},
	} {
		t.Run(name, func(t *testing.T) {
			doc := checkSVG(t, flows.SVG(f, flows.SVGOptions{}))
			if name != "nil step" && name != "nil trigger" {
				checkSameGraph(t, f, doc)
			}
		})
	}
	doc := checkSVG(t, flows.SVG(nil, flows.SVGOptions{}))
	if len(doc.nodes) != 0 {
		t.Errorf("nil flow has nodes %v", doc.order)
	}
	doc = checkSVG(t, flows.SVG(&flows.Flow{}, flows.SVGOptions{}))
	if strings.Join(doc.order, " ") != "t0 exit" {
		t.Errorf("empty flow has nodes %v, want t0 exit", doc.order)
	}
}

// TestSVGFlowsWithProblems draws every flow of testdata, most of which do
// not load cleanly.
func TestSVGFlowsWithProblems(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "[0-9]*-*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := flows.LoadFile(file, src, flows.Options{})
		doc := checkSVG(t, flows.SVG(f, flows.SVGOptions{}))
		checkSameGraph(t, f, doc)
	}
}

func FuzzSVG(f *testing.F) {
	for _, s := range specFlows {
		f.Add([]byte(s))
	}
	for _, s := range oddFlows {
		f.Add([]byte(s))
	}
	for _, src := range seedFiles(f, "examples/*.yaml", "testdata/graph/*.yaml", "testdata/[0-9]*-*/*.yaml") {
		f.Add(src)
	}
	f.Add([]byte(""))
	f.Add([]byte("name: a\ntriggers: [follow]\nsteps: &s [*s]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		fl, _ := flows.LoadFile(fuzzFlowFile, src, flows.Options{})
		badges := map[*flows.Step]string{}
		if fl != nil {
			fl.Walk(func(s *flows.Step) { badges[s] = s.Kind + " <&>" })
		}
		out := flows.SVG(fl, flows.SVGOptions{Badges: badges})
		doc := checkSVG(t, out)
		checkSameGraph(t, fl, doc)
		if again := flows.SVG(fl, flows.SVGOptions{Badges: badges}); again != out {
			t.Error("two renderings of the same flow differ")
		}
	})
}
