// Package flows owns the flow language operators write: the Go types of a
// flow, its triggers and steps; loading YAML with positions; validation
// diagnostics (file:line:col, severity, hint); compiling `${...}` templates
// and `if:` expressions with expr against the typed Env; the static WeChat
// checks (reply quota and 48-hour window); the menu.yaml file; the JSON
// Schema, the Mermaid graph and the reference docs.
//
// Step and trigger kinds are not defined here: packages steps and triggers
// register a spec for each kind (RegisterStep, RegisterTrigger), and the
// loader, the schema and the docs are generated from those specs.
package flows
