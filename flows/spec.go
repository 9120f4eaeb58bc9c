package flows

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Field describes one key of a step, a trigger, a flow or a nested map:
// its name, what it accepts, and how the docs describe it.
type Field struct {
	Name     string
	Type     *Type
	Required bool
	// Default is the value used when the key is absent, as the docs show it.
	Default string
	Doc     string
	// Example is a value for the key, as YAML, shown in the hint when a
	// required key is missing (`support` for an assign's team:).
	Example string
	// Secrets lets the key's templates read `${secret.NAME}` (an http
	// step's url, query, headers, json and body); anywhere else it is a
	// validation error, since the value would reach a follower or the
	// store.
	Secrets bool
}

// StepSpec describes one step kind. Each kind registers its spec once, from
// its own file in package steps; the validator, the JSON Schema and the
// reference docs are all generated from it.
type StepSpec struct {
	// Kind is the YAML key that names the step (`send`, `ask`, ...).
	Kind string
	// Summary is one sentence for the docs.
	Summary string
	// Arg is what the kind key itself accepts; nil when it takes no value.
	Arg *Type
	// ArgRequired makes an empty kind key an error.
	ArgRequired bool
	// ArgDoc describes the kind key's value for the docs.
	ArgDoc string
	// Keys are the step's own sibling keys (besides `id` and `if`).
	Keys []Field
	// Terminal steps never go on to the next step (`goto`, `end`).
	Terminal bool
	// Exhaustive reports whether the step always goes into one of its
	// nested lists or jumps (a branch with else), so never straight on to
	// the next step; it may be nil.
	Exhaustive func(s *Step) bool
	// Sends marks steps that send a message to the contact.
	Sends bool
	// Suspends marks steps that wait for a reply or a time.
	Suspends bool
	// Check enforces rules that span several keys; it may be nil.
	Check func(s *Step, r *Reporter)
	// Writes lists the run variables the step writes (`save: vars.x`,
	// `set: {vars.x: ...}`) and the type of what it stores; it may be
	// nil. Reading a variable no step writes and the flow does not
	// declare is a load error.
	Writes func(s *Step) []VarWrite
	// Example is a YAML snippet for the docs.
	Example string
}

// TriggerSpec describes one trigger kind, registered from package triggers.
type TriggerSpec struct {
	// Kind is the YAML key of the trigger (`follow`, `keyword`, ...).
	Kind string
	// Summary is one sentence for the docs.
	Summary string
	// Input names the WeChat input that fires the trigger.
	Input string
	// Arg is what the kind key accepts; nil when it takes no value.
	Arg         *Type
	ArgRequired bool
	ArgDoc      string
	// Keys are extra sibling keys (besides `if`, `priority`, `interrupt`).
	Keys []Field
	// Interaction is the kind of interaction that fires the trigger and
	// opens the WeChat window: "event" (quota 3), "message" (quota 5), or
	// "" when the trigger is not an interaction (schedule, unfollow).
	Interaction string
	// InterruptDefault is the value of `interrupt` when it is not given.
	InterruptDefault bool
	// Inputs returns the inputs a trigger matches, in a form two triggers
	// can be compared by, and its specificity (higher is more specific).
	// Two triggers tie when they share an input at the same priority and
	// specificity. Nil means every trigger of the kind matches one input.
	Inputs func(t *Trigger) (inputs []string, specificity int)
	// Check enforces rules that span several keys; it may be nil.
	Check func(t *Trigger, r *Reporter)
	// Example is a YAML snippet for the docs.
	Example string
}

var registry = struct {
	sync.RWMutex
	steps    map[string]*StepSpec
	triggers map[string]*TriggerSpec
}{steps: map[string]*StepSpec{}, triggers: map[string]*TriggerSpec{}}

// RegisterStep makes a step kind known to the loader. It panics on a
// duplicate kind, which is a programming error.
func RegisterStep(s *StepSpec) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.steps[s.Kind]; dup {
		panic(fmt.Sprintf("flows: step kind %q registered twice", s.Kind))
	}
	registry.steps[s.Kind] = s
}

// RegisterTrigger makes a trigger kind known to the loader. It panics on a
// duplicate kind.
func RegisterTrigger(t *TriggerSpec) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.triggers[t.Kind]; dup {
		panic(fmt.Sprintf("flows: trigger kind %q registered twice", t.Kind))
	}
	registry.triggers[t.Kind] = t
}

// StepSpecs returns the registered step kinds in registration order of
// the language reference (sorted by kind when not listed there).
func StepSpecs() []*StepSpec {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]*StepSpec, 0, len(registry.steps))
	for _, s := range registry.steps {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return orderOf(stepOrder, out[i].Kind) < orderOf(stepOrder, out[j].Kind) })
	return out
}

// TriggerSpecs returns the registered trigger kinds in the language
// reference's order.
func TriggerSpecs() []*TriggerSpec {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]*TriggerSpec, 0, len(registry.triggers))
	for _, t := range registry.triggers {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		return orderOf(triggerOrder, out[i].Kind) < orderOf(triggerOrder, out[j].Kind)
	})
	return out
}

// LookupStep returns the spec of a step kind.
func LookupStep(kind string) (*StepSpec, bool) {
	registry.RLock()
	defer registry.RUnlock()
	s, ok := registry.steps[kind]
	return s, ok
}

// LookupTrigger returns the spec of a trigger kind.
func LookupTrigger(kind string) (*TriggerSpec, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.triggers[kind]
	return t, ok
}

var (
	stepOrder    = []string{"send", "ask", "branch", "hours", "wait", "set", "tag", "untag", "http", "goto", "start", "assign", "open", "close", "comment", "end"}
	triggerOrder = []string{"follow", "unfollow", "scan", "menu", "keyword", "message", "schedule", "conversation"}
)

func orderOf(list []string, kind string) string {
	for i, k := range list {
		if k == kind {
			return fmt.Sprintf("%03d", i)
		}
	}
	return "999" + kind
}

func stepKinds() []string {
	var out []string
	for _, s := range StepSpecs() {
		out = append(out, s.Kind)
	}
	return out
}

func triggerKinds() []string {
	var out []string
	for _, t := range TriggerSpecs() {
		out = append(out, t.Kind)
	}
	return out
}

// Common keys every step may have.
var stepCommonKeys = []Field{
	{Name: "id", Type: StepID, Doc: "A name other steps jump to (`goto`, `on_timeout`, ...); unique in the flow."},
	{Name: "if", Type: BoolExpr, Doc: "Skip the step unless this expression is true."},
}

// Common keys every trigger may have.
var triggerCommonKeys = []Field{
	{Name: "if", Type: BoolExpr, Doc: "The trigger matches only when this expression is true. It is evaluated before the run starts: reading `vars`, `answer` or `http`, which only a run has, is a validation error."},
	{Name: "priority", Type: Int, Default: "0", Doc: "Higher priorities win when several flows match one input."},
	{Name: "interrupt", Type: Bool, Default: "true for events and schedule, false for keyword, message and conversation", Doc: "Whether the trigger may start its flow while the contact's run waits for an answer or people hold the conversation (see [Conversations and interrupt](#conversations-and-interrupt))."},
}

// StepCommonKeys returns the keys every step accepts besides its kind's.
func StepCommonKeys() []Field { return stepCommonKeys }

// TriggerCommonKeys returns the keys every trigger accepts besides its
// kind's.
func TriggerCommonKeys() []Field { return triggerCommonKeys }

// FlowKeys returns the top-level keys of a flow file.
func FlowKeys() []Field { return flowKeys }

var flowKeys = []Field{
	{Name: "name", Type: FlowName, Required: true, Example: "welcome", Doc: "The flow's unique name: lower-case letters, digits, `_` and `-`."},
	{Name: "description", Type: String, Doc: "What the flow is for, for people."},
	{Name: "account", Type: Literal(String, "", "matched", "write the account's id as the config names it"), Doc: "Only events of this account start the flow; a `start:` step, an operator or the admin API start it only for this account's contacts (a flow of another account starting it is a validation error; with the config known, a flow of every account starting it in a step of its top level without `if:` is warned of, as the runs of the other accounts' contacts fail there). An id no config could declare (not 1 to 32 lowercase letters, digits, `_` or `-`) is an error; with the config known (`wxflow validate --config`, `serve`), an account it does not serve is a warning: the flow never starts."},
	{Name: "cooldown", Type: Duration, Doc: "Not started again for the same contact within this time."},
	{Name: "reentry", Type: Enum("ignore", "restart"), Default: "ignore", Doc: "When the contact already has a run of this flow: `ignore` the new input, or `restart` (end the old run, start a new one)."},
	{Name: "vars", Type: varsDecl, Doc: "Variables the flow is given by `start:`, the API or an operator, with their types (`vars: { order_id: text }`; types: " + strings.Join(VarTypes, ", ") + "). A flow may read only the variables it writes (`save:`, `set:`) and those it declares. A value of another type than declared is refused: when the flow loads where its type is known, else when it is given (the admin API answers 400; a `start:` or `set:` step fails, naming it); a `time` may be given as RFC 3339 text (`2027-01-31T09:30:00+08:00`), and stays a time after the run waits. Every value keeps its kind while a run waits: times (also inside maps and lists, and in contact fields), durations, large integers and infinities are the same after a `wait` or an `ask` as before. A value is kept as the flow language has it: a record of the environment (`${event.location}`, `${contact.window}`) as a map of its names (`lat`, `quota_left`), a month or a weekday (`${now.Month()}`) as a number (11, not November)."},
	{Name: "triggers", Type: triggersType, Doc: "What starts the flow. A flow without triggers (the key left out, or `[]`) is started only by `start:`, the admin API or an operator: a sub-flow."},
	{Name: "steps", Type: stepsType, Required: true, Example: `[{ send: "Hello" }]`, Doc: "What the flow does, in order; at least one step."},
}
