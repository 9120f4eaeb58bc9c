package flows_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// The schema is checked with a real JSON Schema validator
// (santhosh-tekuri/jsonschema, which implements draft-07 and validates the
// schema itself against the draft's meta-schema when compiling it), so a
// schema that editors would reject, or that rejects flows the loader
// accepts, fails here rather than in an operator's editor.

// compileSchema compiles flows.JSONSchema() as a draft-07 schema.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := flows.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	if got := doc.(map[string]any)["$schema"]; got != flows.SchemaDraft {
		t.Fatalf("$schema is %v, want %s", got, flows.SchemaDraft)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(flows.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(flows.SchemaID)
	if err != nil {
		t.Fatalf("the schema is not a valid draft-07 schema: %v", err)
	}
	return sch
}

// yamlToJSON turns YAML into the JSON value an editor's YAML language
// server checks against the schema: YAML 1.2 scalars, so dates and words
// like yes stay text.
func yamlToJSON(t *testing.T, src []byte) any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("YAML: %v", err)
	}
	var conv func(n *yaml.Node) any
	conv = func(n *yaml.Node) any {
		switch n.Kind {
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			return conv(n.Content[0])
		case yaml.AliasNode:
			return conv(n.Alias)
		case yaml.SequenceNode:
			out := []any{}
			for _, c := range n.Content {
				out = append(out, conv(c))
			}
			return out
		case yaml.MappingNode:
			out := map[string]any{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				out[n.Content[i].Value] = conv(n.Content[i+1])
			}
			return out
		}
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			return n.Value == "true"
		case "!!int":
			if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return json.Number(strconv.FormatInt(i, 10))
			}
		case "!!float":
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return json.Number(n.Value)
			}
		}
		return n.Value
	}
	// Round-trip through JSON so the value has the validator's own types.
	b, err := json.Marshal(conv(&doc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// schemaFlowFiles lists the flows the schema must accept: the three flows
// of FLOW-LANGUAGE.md (testdata/graph/) and the example flows, without
// menu.yaml and test scenarios.
func schemaFlowFiles(t *testing.T) []string {
	t.Helper()
	spec, err := filepath.Glob(filepath.Join("testdata", "graph", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec) < 3 {
		t.Fatalf("want the three flows of FLOW-LANGUAGE.md in testdata/graph, found %d", len(spec))
	}
	examples, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files := spec
	for _, f := range examples {
		base := filepath.Base(f)
		if base == "menu.yaml" || strings.HasSuffix(base, ".test.yaml") {
			continue
		}
		files = append(files, f)
	}
	return files
}

func TestSchemaAcceptsFlows(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, file := range schemaFlowFiles(t) {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(yamlToJSON(t, src)); err != nil {
				t.Errorf("the schema rejects %s:\n%v", file, err)
			}
		})
	}
}

// TestSchemaAcceptsSpecExamples wraps the example of every step and trigger
// spec (what docs/flows.md shows) in a flow and validates it.
func TestSchemaAcceptsSpecExamples(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	indent := func(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
	for _, s := range flows.StepSpecs() {
		src := "name: example\ntriggers: [follow]\nsteps:\n" + indent(s.Example) + "\n"
		if err := sch.Validate(yamlToJSON(t, []byte(src))); err != nil {
			t.Errorf("the schema rejects the example of step %q:\n%s\n%v", s.Kind, src, err)
		}
	}
	for _, tr := range flows.TriggerSpecs() {
		src := "name: example\ntriggers:\n" + indent(tr.Example) + "\nsteps: [end]\n"
		if err := sch.Validate(yamlToJSON(t, []byte(src))); err != nil {
			t.Errorf("the schema rejects the example of trigger %q:\n%s\n%v", tr.Kind, src, err)
		}
	}
}

// TestSchemaRejects checks that the schema rejects each mistake: every case
// is a flow the schema accepts, and the same flow with one line (marked
// "# bad") added, which it must reject.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, tc := range []struct{ name, src string }{
		{"unknown key in a send step", `name: x
triggers: [follow]
steps:
  - send: "Hello"
    colour: red # bad
`},
		{"unknown key in a nested send step", `name: x
triggers: [follow]
steps:
  - branch:
      - if: "true"
        then:
          - id: x
            send: "Hello"
            on_fial: x # bad
`},
		{"unknown key in a send message map", `name: x
triggers: [follow]
steps:
  - send:
      text: "Hello"
      colour: red # bad
`},
		{"unknown flow key", `name: x
trigers: [follow] # bad
triggers: [follow]
steps: [end]
`},
		{"unknown key in an http request", `name: x
triggers: [follow]
steps:
  - http:
      url: "https://example.com"
      verb: GET # bad
`},
		{"unknown step kind", `name: x
triggers: [follow]
steps:
  - end
  - say: "Hello" # bad
`},
		{"unknown trigger kind", `name: x
triggers:
  - follow
  - subscribe # bad
steps: [end]
`},
		{"unknown trigger key", `name: x
triggers:
  - follow:
    priority: 1
    priorty: 1 # bad
steps: [end]
`},
		{"send without a value", `name: x
triggers: [follow]
steps:
  - end
  - send # bad
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var good []string
			for _, line := range strings.Split(tc.src, "\n") {
				if !strings.HasSuffix(line, "# bad") {
					good = append(good, line)
				}
			}
			if err := sch.Validate(yamlToJSON(t, []byte(strings.Join(good, "\n")))); err != nil {
				t.Fatalf("the schema rejects the flow without the bad line:\n%s\n%v", strings.Join(good, "\n"), err)
			}
			if err := sch.Validate(yamlToJSON(t, []byte(tc.src))); err == nil {
				t.Errorf("the schema accepts:\n%s", tc.src)
			}
		})
	}
	for _, tc := range []struct{ name, src string }{
		{"missing steps", "name: x\ntriggers: [follow]\n"},
		{"bad flow name", "name: My Flow\ntriggers: [follow]\nsteps: [end]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := sch.Validate(yamlToJSON(t, []byte(tc.src))); err == nil {
				t.Errorf("the schema accepts:\n%s", tc.src)
			}
		})
	}
}
