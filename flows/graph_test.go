package flows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// TestMermaidGolden renders each flow of testdata/graph/ and compares it with
// the .mmd file beside it; run with -update to rewrite them.
func TestMermaidGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "graph", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("want the three flows of FLOW-LANGUAGE.md in testdata/graph, found %d files", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, diags := flows.LoadFile(file, src, flows.Options{})
			if diags.HasErrors() {
				t.Fatalf("flow does not load:\n%s", diags.Error())
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".mmd", flows.Mermaid(f))
		})
	}
}

// TestMermaidLabels checks the parts of the graph that the golden flows do
// not show: escaping, jumps, skips and the shapes of less common steps.
func TestMermaidLabels(t *testing.T) {
	t.Parallel()
	src := `name: labels
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
  - branch:
      - if: vars.n == 1
        goto: top
      - if: vars.n == 2
        then:
          - tag: [a, b]
  - id: out
    goto: top
`
	f, diags := flows.LoadFile("labels.yaml", []byte(src), flows.Options{})
	if diags.HasErrors() {
		t.Fatalf("flow does not load:\n%s", diags.Error())
	}
	got := flows.Mermaid(f)
	for _, want := range []string{
		`t0(["keyword: /^order ([0-9]+)$/<br/>if contact.fields.vip == true"])`,
		`t1(["schedule: 0 9 * * mon"])`,
		`s0["send: He said #quot;hi#quot; #lt;b#gt;#35;1#lt;/b#gt; #amp; [x] {y} #96;z#96;<br/>ok<br/>id: top"]`,
		`s0 -.->|"on_fail"| s7`,
		`s0 -->|"ok"| s1`,
		`s1("wait: 2h")`,
		`s1 -->|"skip unless vars.n #gt; 1"| s2`,
		`s2["set: vars.n, contact.fields.city"]`,
		`s3[/"http: POST https://crm.example.com/api/leads"/]`,
		`s3 -.->|"on_error"| s7`,
		`s3 -->|"ok"| s4`,
		`s4[["start: survey"]]`,
		`s5{"branch"}`,
		`s5 -.->|"vars.n == 1"| s0`,
		`s5 -->|"vars.n == 2"| s6`,
		`s5 -->|"no case true"| s7`,
		`s6["tag: a, b"]`,
		`s6 --> s7`,
		`s7>"goto: top<br/>id: out"]`,
		`s7 -.-> s0`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("graph lacks %s\n%s", want, got)
		}
	}
	if strings.Contains(got, "exit") {
		t.Errorf("no path runs off the end of this flow, but the graph has an exit node:\n%s", got)
	}
}
