package flows

import (
	"encoding/json"
	"sort"
	"strings"
)

// SchemaDraft is the JSON Schema dialect of JSONSchema's output. It is
// draft-07, not 2020-12: yaml-language-server (the YAML extension of VS
// Code, and most editors' YAML support) validates documents with a
// draft-07 validator, and its 2019-09/2020-12 support was merged and then
// reverted. The schema needs nothing newer: anyOf, enum, pattern,
// required and additionalProperties are all draft-07.
const SchemaDraft = "http://json-schema.org/draft-07/schema#"

// SchemaID is the $id of the flow schema.
const SchemaID = "https://wxflow.dev/schema/flow.json"

// schemaGen builds the JSON Schema of the language from the registered
// specs, so the schema can never describe keys the loader does not accept.
type schemaGen struct{}

func (g *schemaGen) typeSchema(t *Type) map[string]any {
	s := t.schema(g)
	if t.Doc != "" {
		if _, has := s["description"]; !has {
			s["description"] = t.Doc
		}
	}
	return s
}

func (g *schemaGen) objectSchema(fields []Field, extra map[string]any) map[string]any {
	props := map[string]any{}
	var required []any
	for _, f := range fields {
		s := g.typeSchema(f.Type)
		if f.Doc != "" {
			s["description"] = f.Doc
		}
		if f.Default != "" {
			desc, _ := s["description"].(string)
			s["description"] = strings.TrimSpace(desc + " Default: " + f.Default + ".")
		}
		props[f.Name] = s
		if f.Required {
			required = append(required, f.Name)
		}
	}
	for k, v := range extra {
		props[k] = v
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (g *schemaGen) stepsSchema() map[string]any {
	return map[string]any{"type": "array", "items": map[string]any{"$ref": "#/definitions/step"}}
}

func (g *schemaGen) triggersSchema() map[string]any {
	return map[string]any{"type": "array", "items": map[string]any{"$ref": "#/definitions/trigger"}}
}

// kindSchema is the schema of one step or trigger kind in map form.
func (g *schemaGen) kindSchema(kind, summary string, arg *Type, argRequired bool, common, keys []Field) map[string]any {
	var argSchema map[string]any
	switch {
	case arg == nil:
		argSchema = map[string]any{"type": "null"}
	case argRequired:
		argSchema = g.typeSchema(arg)
	default:
		argSchema = map[string]any{"anyOf": []any{map[string]any{"type": "null"}, g.typeSchema(arg)}}
	}
	argSchema["description"] = summary
	s := g.objectSchema(append(append([]Field{}, common...), keys...), map[string]any{kind: argSchema})
	req := []any{kind}
	if r, ok := s["required"].([]any); ok {
		req = append(req, r...)
	}
	s["required"] = req
	s["title"] = kind
	return s
}

// JSONSchema returns a JSON Schema (draft-07, see SchemaDraft) of flow
// files, generated from the registered step and trigger specs: unknown keys
// are rejected everywhere. yaml-language-server uses it to complete and
// check flows in editors (docs/editors.md).
func JSONSchema() ([]byte, error) {
	g := &schemaGen{}
	var stepAlts, bareSteps []any
	for _, s := range StepSpecs() {
		stepAlts = append(stepAlts, g.kindSchema(s.Kind, s.Summary, s.Arg, s.ArgRequired, stepCommonKeys, s.Keys))
		if !s.ArgRequired {
			bareSteps = append(bareSteps, s.Kind)
		}
	}
	var trigAlts, bareTrigs []any
	for _, t := range TriggerSpecs() {
		trigAlts = append(trigAlts, g.kindSchema(t.Kind, t.Summary, t.Arg, t.ArgRequired, triggerCommonKeys, t.Keys))
		if !t.ArgRequired {
			bareTrigs = append(bareTrigs, t.Kind)
		}
	}
	sort.Slice(bareSteps, func(i, j int) bool { return bareSteps[i].(string) < bareSteps[j].(string) })
	stepAlts = append(stepAlts, map[string]any{"type": "string", "enum": bareSteps, "description": "A step kind that needs no value, written alone."})
	trigAlts = append(trigAlts, map[string]any{"type": "string", "enum": bareTrigs, "description": "A trigger kind that needs no value, written alone."})
	root := g.objectSchema(flowKeys, nil)
	root["$schema"] = SchemaDraft
	root["$id"] = SchemaID
	root["title"] = "wxflow flow"
	root["description"] = "A wxflow flow file: what starts it and the steps it runs."
	root["definitions"] = map[string]any{
		"step":    map[string]any{"anyOf": stepAlts},
		"trigger": map[string]any{"anyOf": trigAlts},
	}
	return json.MarshalIndent(root, "", "  ")
}
