package flows

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Reference renders the flow language reference (docs/flows.md) from the
// registered specs: the flow file's keys, every trigger and step kind with
// its argument, keys, types, defaults and example, the value types, the
// expression environment (read from Env's `expr` tags), menu.yaml, the
// WeChat-aware checks and the test scenario format. Only the prose around
// them is written by hand, so the reference cannot describe keys the
// loader does not accept. `wxflow docs` prints it.
func Reference() string {
	d := newRefDoc()
	d.intro()
	d.flowFile()
	d.triggers()
	d.steps()
	d.people()
	d.values()
	d.menu()
	d.checks()
	d.scenarios()
	return d.String()
}

// refDoc builds the Markdown of the reference: headings with the anchors
// GitHub gives them, and a table of contents.
type refDoc struct {
	body  strings.Builder
	slugs map[string]int
	toc   []refHeading
	// maps holds the anchor of every map type already documented, by its
	// signature, so a map shared by several keys is described once.
	maps map[string]string
}

type refHeading struct {
	level int
	text  string
	slug  string
}

func newRefDoc() *refDoc {
	return &refDoc{slugs: map[string]int{}, maps: map[string]string{}}
}

func (d *refDoc) String() string {
	var b strings.Builder
	body := d.body.String()
	head, rest, _ := strings.Cut(body, tocMarker)
	b.WriteString(head)
	b.WriteString("## Contents\n\n")
	for _, h := range d.toc {
		if h.level > 3 {
			continue
		}
		fmt.Fprintf(&b, "%s- [%s](#%s)\n", strings.Repeat("  ", h.level-2), h.text, h.slug)
	}
	b.WriteString("\n")
	b.WriteString(rest)
	return strings.TrimRight(b.String(), "\n") + "\n"
}

const tocMarker = "\x00toc\x00"

func (d *refDoc) p(format string, args ...any) {
	fmt.Fprintf(&d.body, format, args...)
	d.body.WriteString("\n\n")
}

func (d *refDoc) raw(s string) {
	d.body.WriteString(strings.TrimSpace(s))
	d.body.WriteString("\n\n")
}

// heading writes a heading and returns its anchor.
func (d *refDoc) heading(level int, text string) string {
	slug := d.slug(text)
	d.toc = append(d.toc, refHeading{level, text, slug})
	fmt.Fprintf(&d.body, "%s %s\n\n", strings.Repeat("#", level), text)
	return slug
}

// slug is the anchor GitHub gives a heading: lower case, punctuation
// dropped, spaces as hyphens, and -1, -2, ... for repeats.
func (d *refDoc) slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	s := b.String()
	n := d.slugs[s]
	d.slugs[s] = n + 1
	if n > 0 {
		s = fmt.Sprintf("%s-%d", s, n)
	}
	return s
}

func (d *refDoc) yaml(src string) {
	d.body.WriteString("```yaml\n")
	d.body.WriteString(strings.TrimRight(src, "\n"))
	d.body.WriteString("\n```\n\n")
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func code(s string) string { return "`" + s + "`" }

func codeList(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = code(w)
	}
	return joinAnd(out)
}

func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// mapSignature identifies a map type by its name and keys, so that equal
// maps built twice (the media id map of image, voice and video) are
// documented once.
func mapSignature(t *Type) string {
	var b strings.Builder
	b.WriteString(t.Name)
	for _, f := range t.Fields {
		fmt.Fprintf(&b, "|%s:%s:%s", f.Name, f.Type.Name, f.Doc)
	}
	return b.String()
}

// directMaps returns the map types a value of type t can be written as:
// t itself, or the maps among its alternatives and elements (not the maps
// inside those maps' keys).
func directMaps(t *Type) []*Type {
	if t == nil {
		return nil
	}
	if len(t.Fields) > 0 {
		return []*Type{t}
	}
	var out []*Type
	for _, a := range t.Alts {
		out = append(out, directMaps(a)...)
	}
	return append(out, directMaps(t.Elem)...)
}

// allMaps returns every map type reachable from the given types, in
// breadth-first order, each once.
func allMaps(types ...*Type) []*Type {
	var out []*Type
	seen := map[string]bool{}
	queue := append([]*Type{}, types...)
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		for _, m := range directMaps(t) {
			sig := mapSignature(m)
			if seen[sig] {
				continue
			}
			seen[sig] = true
			out = append(out, m)
			for _, f := range m.Fields {
				queue = append(queue, f.Type)
			}
		}
	}
	return out
}

// typeRef names a type in a table, linking to its map's keys when the
// value can be a documented map.
func (d *refDoc) typeRef(t *Type) string {
	if t == nil {
		return "none"
	}
	for _, m := range directMaps(t) {
		if slug, ok := d.maps[mapSignature(m)]; ok {
			return fmt.Sprintf("[%s](#%s)", t.Name, slug)
		}
	}
	return t.Name
}

// fieldTable writes a table of keys.
func (d *refDoc) fieldTable(fields []Field) {
	d.body.WriteString("| key | type | default | description |\n|---|---|---|---|\n")
	for _, f := range fields {
		def := f.Default
		if f.Required {
			def = "required"
		}
		fmt.Fprintf(&d.body, "| %s | %s | %s | %s |\n", code(f.Name), cell(d.typeRef(f.Type)), cell(def), cell(f.Doc))
	}
	d.body.WriteString("\n")
}

// reserveMaps gives an anchor to every map reachable from the types that
// no earlier section documents, so that the section's facts and tables can
// link to them before writeMaps writes them. No heading may be written
// between the two calls, or the anchors would not match GitHub's.
func (d *refDoc) reserveMaps(types ...*Type) []*Type {
	var todo []*Type
	for _, m := range allMaps(types...) {
		sig := mapSignature(m)
		if _, done := d.maps[sig]; done {
			continue
		}
		d.maps[sig] = d.slug(mapHeading(m))
		todo = append(todo, m)
	}
	return todo
}

func mapHeading(m *Type) string { return "The " + m.Name + " map" }

// writeMaps documents the maps reserveMaps returned.
func (d *refDoc) writeMaps(maps []*Type) {
	for _, m := range maps {
		text := mapHeading(m)
		d.toc = append(d.toc, refHeading{4, text, d.maps[mapSignature(m)]})
		fmt.Fprintf(&d.body, "#### %s\n\n", text)
		if m.Doc != "" && m.Doc != "A map." {
			d.p("%s", m.Doc)
		}
		d.fieldTable(m.Fields)
	}
}

func (d *refDoc) intro() {
	d.p("# Flow language reference")
	d.p("<!-- Generated by `wxflow docs` (flows.Reference) from the step and trigger specs. Do not edit: run `go run ./cmd/wxflow docs > docs/flows.md`. -->")
	d.raw(`
Operators describe what a WeChat Official Account does in flows: YAML files
that say what starts a conversation (triggers) and what happens then
(steps). This reference lists every key wxflow accepts, with its type,
default and meaning. It is generated from the same specs as the validator
and the JSON Schema, so it describes exactly what ` + "`wxflow validate`" + ` accepts.

- ` + "`wxflow validate [PATH...]`" + ` checks flow files and folders and prints every
  problem with its file, line and column, also those after an error (a
  problem that only follows from another, such as reading a variable that
  a step with an error writes, is not reported beside it; the checks of
  paths through a flow, such as steps never reached and WeChat's limits,
  wait until all its steps are right); a YAML syntax error is placed at
  the line that is wrong (a misindented item), not where its map or list
  starts, and at the character that is wrong where its message says which
  (a colon in a plain text, a quote or a bracket not closed, text after a closing quote, a tab); a key
  at the column of a list's ` + "`-`" + ` or an item out of line with the list's others
  gets a hint saying which way to move it. Files are UTF-8 (a byte-order mark and CRLF line ends are fine; a byte that is not UTF-8, as an editor set to GBK writes, is an error at its line and column);
  YAML's anchors and aliases (` + "`&greet`" + `, ` + "`*greet`" + `) work, its merge keys
  (` + "`<<: *base`" + `) do not: write the keys out.
- ` + "`wxflow graph FILE`" + ` prints a flow as a Mermaid flowchart (` + "`--format svg`" + ` as an SVG);
  ` + "`wxflow graph DIR`" + ` prints every flow of a folder as Markdown, a Mermaid block each.
- ` + "`wxflow schema > flow.schema.json`" + ` writes the JSON Schema that editors use to
  complete and check flows as you type (see [editors.md](editors.md)).
- ` + "`wxflow docs > docs/flows.md`" + ` writes this reference.`)
	d.body.WriteString(tocMarker)
}

func (d *refDoc) flowFile() {
	d.heading(2, "A flow file")
	d.p("One flow per `.yaml` (or `.yml`) file: a second YAML document (after `---`) is an error, an empty one (a final `---`) is not. Files ending `.test.yaml` are [test scenarios](#test-scenarios), and `menu.yaml` declares the account's [menu](#the-menu). A flow's keys:")
	d.yaml(flowFileExample)
	maps := d.reserveMaps(fieldTypes(FlowKeys())...)
	d.fieldTable(FlowKeys())
	d.writeMaps(maps)

	d.heading(3, "Writing triggers and steps")
	var bareT, bareS []string
	for _, t := range TriggerSpecs() {
		if !t.ArgRequired {
			bareT = append(bareT, t.Kind)
		}
	}
	for _, s := range StepSpecs() {
		if !s.ArgRequired {
			bareS = append(bareS, s.Kind)
		}
	}
	d.p("A trigger or a step is a map with one kind key (`send:`, `menu:`, ...), whose value is the kind's argument, beside the kind's own keys and the common keys. "+
		"A kind that needs no argument may be written alone, as a bare word: the triggers %s and the steps %s (`- follow`, `- end`; `wait` needs its duration or, as `wait:` with nothing after it, an `until:` beside it). "+
		"When such a kind has sibling keys, write it with an empty value: `- message:` and, on the next line, `priority: -10`; `end:` beside an `id:`.",
		codeList(bareT), codeList(bareS))
	d.yaml(itemFormExample)
}

func (d *refDoc) triggers() {
	d.heading(2, "Triggers")
	d.p("`triggers:` lists what starts the flow. One event starts at most one flow: see [which flow starts](#which-flow-starts).")
	d.body.WriteString("| trigger | WeChat input | argument | opens the window |\n|---|---|---|---|\n")
	for _, t := range TriggerSpecs() {
		arg := t.ArgDoc
		if t.Arg == nil {
			arg = "none"
		}
		fmt.Fprintf(&d.body, "| [%s](#%s) | %s | %s | %s |\n", code(t.Kind), t.Kind, cell(t.Input), cell(arg), cell(interactionText(t.Interaction, true)))
	}
	d.body.WriteString("\n")

	d.heading(3, "Keys of every trigger")
	d.p("Besides its kind key and its own keys, every trigger may have:")
	d.fieldTable(TriggerCommonKeys())

	for _, t := range TriggerSpecs() {
		d.heading(3, code(t.Kind))
		d.p("%s", t.Summary)
		maps := d.reserveMaps(append([]*Type{t.Arg}, fieldTypes(t.Keys)...)...)
		var facts []string
		facts = append(facts, "**WeChat input:** "+t.Input+".")
		facts = append(facts, argFact(t.Kind, t.Arg, t.ArgRequired, t.ArgDoc, d.typeRef(t.Arg)))
		facts = append(facts, "**Interaction:** "+interactionText(t.Interaction, false)+".")
		if t.Kind == "keyword" {
			// A tap on a message-menu item is a text a keyword matches,
			// but WeChat counts it as a menu interaction.
			facts = append(facts, fmt.Sprintf("A tap on an item of a message menu (`send: {menu: ...}`) is matched as its text, and is a menu interaction for WeChat: it opens the window with %d replies, not %d.", (&Options{}).eventQuota(), (&Options{}).messageQuota()))
		}
		facts = append(facts, fmt.Sprintf("**`interrupt` default:** `%t`.", t.InterruptDefault))
		d.bullets(facts)
		if len(t.Keys) > 0 {
			d.p("Its own keys, besides [the keys of every trigger](#keys-of-every-trigger):")
			d.fieldTable(t.Keys)
		}
		d.writeMaps(maps)
		d.p("Example:")
		d.yaml(t.Example)
	}

	d.heading(3, "Which flow starts")
	d.raw(whichFlowStarts)

	d.heading(3, "When a contact unfollows")
	d.raw(unfollowText)

	d.heading(3, "Conversations and interrupt")
	var interrupting, waiting []string
	for _, t := range TriggerSpecs() {
		switch {
		case t.InterruptDefault:
			interrupting = append(interrupting, t.Kind)
		default:
			waiting = append(waiting, t.Kind)
		}
	}
	d.raw(conversationsText)
	d.p("`interrupt` defaults to `true` for %s, and to `false` for %s: such a trigger only starts its flow for a contact who is not in the middle of answering, unless it says `interrupt: true`.",
		codeList(interrupting), codeList(waiting))
	d.p("A `schedule` is not the contact talking: with its default, `interrupt: true`, it starts its flow for every contact its audience chooses, whether or not they are answering another flow (an `ask` in it then takes the conversation over) or people hold their conversation. With `interrupt: false` it leaves out, at that firing, the contacts who are answering an `ask` and those whose conversation people hold.")
}

func (d *refDoc) bullets(items []string) {
	for _, it := range items {
		if it != "" {
			fmt.Fprintf(&d.body, "- %s\n", it)
		}
	}
	d.body.WriteString("\n")
}

func argFact(kind string, arg *Type, required bool, doc, typeName string) string {
	switch {
	case arg == nil:
		return fmt.Sprintf("**Argument:** none; write `- %s`, or `%s:` with nothing after it beside other keys.", kind, kind)
	case required:
		return fmt.Sprintf("**Argument** (`%s: ...`, required): %s. Type: %s.", kind, doc, typeName)
	}
	return fmt.Sprintf("**Argument** (`%s: ...`, optional): %s. Type: %s.", kind, doc, typeName)
}

// interactionText says whether a trigger's input opens WeChat's reply
// window, and how many replies it allows.
func interactionText(kind string, short bool) string {
	o := &Options{}
	switch kind {
	case "event":
		if short {
			return fmt.Sprintf("yes: %d replies", o.eventQuota())
		}
		return fmt.Sprintf("an event, which opens WeChat's %s reply window with %d replies", FormatDuration(o.window()), o.eventQuota())
	case "message":
		if short {
			return fmt.Sprintf("yes: %d replies", o.messageQuota())
		}
		return fmt.Sprintf("a message from the contact, which opens WeChat's %s reply window with %d replies", FormatDuration(o.window()), o.messageQuota())
	}
	if short {
		return "no"
	}
	return "none: the flow can only send while a window opened by an earlier interaction is still open"
}

func fieldTypes(fields []Field) []*Type {
	out := make([]*Type, len(fields))
	for i, f := range fields {
		out[i] = f.Type
	}
	return out
}

func (d *refDoc) steps() {
	d.heading(2, "Steps")
	d.p("`steps:` lists what the flow does, in order. A run goes from one step to the next; steps nested in a `branch` case, `when_open` or `when_closed` go on, after their last step, with the step after their parent. `goto` and the `on_*` keys jump to a step by its `id`.")
	d.body.WriteString("| step | what it does |\n|---|---|\n")
	for _, s := range StepSpecs() {
		fmt.Fprintf(&d.body, "| [%s](#%s) | %s |\n", code(s.Kind), s.Kind, cell(s.Summary))
	}
	d.body.WriteString("\n")

	d.heading(3, "Keys of every step")
	d.p("Besides its kind key and its own keys, every step may have:")
	d.fieldTable(StepCommonKeys())

	for _, s := range StepSpecs() {
		d.heading(3, code(s.Kind))
		d.p("%s", s.Summary)
		maps := d.reserveMaps(append([]*Type{s.Arg}, fieldTypes(s.Keys)...)...)
		facts := []string{argFact(s.Kind, s.Arg, s.ArgRequired, s.ArgDoc, d.typeRef(s.Arg))}
		if s.Sends {
			facts = append(facts, "**Sends a message** to the contact: it counts against the reply quota and needs WeChat's window to be open.")
		}
		if s.Suspends {
			facts = append(facts, "**Suspends the run** until a reply or a time; the run is kept in the store meanwhile.")
		}
		if s.Terminal {
			facts = append(facts, "**Does not go on** to the next step.")
		}
		d.bullets(facts)
		if len(s.Keys) > 0 {
			d.p("Its own keys, besides [the keys of every step](#keys-of-every-step):")
			d.fieldTable(s.Keys)
		}
		d.writeMaps(maps)
		d.p("Example:")
		d.yaml(s.Example)
	}
}

// people documents conversations, operators and teams: the routing rule
// of FLOW-LANGUAGE.md in brief, and what wxflow decided where it is silent.
func (d *refDoc) people() {
	d.heading(2, "Conversations and people")
	d.raw(conversationsPeopleText)
	d.heading(3, "Operators and teams")
	d.raw(operatorsTeamsText)
	d.heading(3, "Where the contract is silent")
	d.p("The language contract (FLOW-LANGUAGE.md, \"Conversations and people\") leaves these open; wxflow decides them so:")
	d.bullets([]string{
		"`assign` with `pick:` and no `on_fail:`, when no operator of the team is on shift: the conversation goes to the team's queue (as `assign: { team: ... }`) and the run goes on, so a contact who asked for a person is never left to nobody. With `on_fail:`, nothing is assigned and the run goes to that step.",
		"`on_fail:` on an `assign` without `pick:` is a validation error: such an assign always succeeds, so the step would never be taken.",
		"Operator and team names in flows are literal (not templates), 1 to 32 lower-case letters, digits, `_` and `-`, so that they can be checked; `none` names nobody (`assign: none`), never an operator or a team.",
		"`wxflow validate --config FILE` (and a scenario's header) also warns at an `assign` with `pick:` whose team has no operators: it never finds one.",
		"`conversation` triggers are not interactions: they open no window of their own (a `conversation: opened` flow has the quota of the interaction that opened the conversation; a `conversation: closed` flow sends only while the window is still open). Their `interrupt` defaults to `false`: the answer to a waiting `ask` that opens a closed conversation stays that ask's answer.",
		"`wxflow validate` counts `conversation: opened` as a bare kind of every interaction when it looks for ties: beside a bare `follow` or `message` trigger of another flow at the same priority, only the flow name decides which one starts when that interaction opens the conversation (a warning).",
		"An `unfollow` that closes the conversation is one event too: it is matched against the `unfollow` triggers and the `conversation: closed` triggers together, where `conversation: closed` ranks like a bare kind, so it starts at most one flow (which can send nothing: the contact no longer follows). `wxflow validate` warns where a bare `unfollow` trigger and a `conversation: closed` trigger of another flow tie; give the one that must run on an unfollow (bookkeeping such as tags or an `http` call) the higher priority.",
		"`comment` and `close` texts are trimmed; a comment that renders empty is not added.",
		"`auto_close` counts from the contact's last interaction, or from the opening when an operator or a flow opened the conversation later (of a contact silent since): it is not closed at once for an old silence.",
		"An operator's reply to a closed conversation opens it, and one to a conversation nobody holds assigns it to that operator (flows stop answering while they talk). A reply WeChat's rules refuse changes nothing but the transcript, where it stays as failed with the reason.",
	})
}

const conversationsPeopleText = `
Flows answer most messages; people answer the rest. Each contact has one
conversation with the account, ` + "`open`" + ` or ` + "`closed`" + `, with an optional
assignee: an operator (a person who answers in the console) and/or a team.
Flows read it as ` + "`conversation.status`" + `, ` + "`conversation.assignee`" + `,
` + "`conversation.team`" + ` and ` + "`conversation.opened_at`" + `, and change it with the steps
[` + "`assign`" + `](#assign), [` + "`open`" + `](#open), [` + "`close`" + `](#close) and
[` + "`comment`" + `](#comment). The rules in brief (the language contract,
FLOW-LANGUAGE.md, "Conversations and people", has them in full):

- **Opening.** A new contact's conversation is closed until its first
  interaction (follow, scan, menu click, message); a closed conversation
  opens on the contact's next interaction, by the ` + "`open`" + ` step, or by an
  operator. The interaction that opens it is matched against its own
  triggers and the ` + "`conversation: opened`" + ` triggers together, by the usual
  rules (` + "`conversation: opened`" + ` ranks like a bare kind), so it still starts
  at most one flow.
- **Closing.** By the ` + "`close`" + ` step, an operator, an ` + "`unfollow`" + `, or when no
  interaction came for the account's ` + "`auto_close`" + ` time (default 48h).
  A ` + "`conversation: closed`" + ` trigger then starts its flow; WeChat's window
  and quota still apply. Closing clears the assignee and the team.
- **People hold the conversation.** While it has an assignee (operator or
  team), the contact's messages start no flow and answer no ` + "`ask`" + ` of a
  run from before the assignment (a run waiting on ` + "`ask`" + ` ends as
  ` + "`handed_over`" + ` when the conversation is assigned). Triggers with
  ` + "`interrupt: true`" + ` and events (follow, scan, menu click) still start their
  flows, and the assignment stays; an ` + "`ask`" + ` of a run they start takes the
  contact's answer. When the conversation closes, or is assigned to
  ` + "`none`" + `, flows answer again.
- **Operators' messages obey WeChat's rules**: checked against the window
  and quota like a flow's, and counted against the same quota.

` + "```yaml" + `
# handoff.yaml: "Talk to a person" from the menu, in and out of hours
name: handoff
triggers:
  - menu: MENU_HUMAN
  - keyword: [人工, person, agent]
    interrupt: true
steps:
  - hours:
      timezone: Asia/Shanghai
      open: { mon-fri: "09:00-18:00" }
    when_closed:
      - send: "We're away now. Leave a message and we'll answer from 9:00 on the next working day."
      - assign: { team: support }
      - end
  - assign: { team: support, pick: round_robin }
    on_fail: nobody
  - send: "${conversation.assignee} will answer you here."
  - end
  - id: nobody
    assign: { team: support }
  - send: "Everyone is busy; we'll answer as soon as we can."
` + "```"

const operatorsTeamsText = `
Operators and teams are declared in the server's configuration (see
[config.md](config.md)) and in a test scenario's header. A team's value is
the same map as an [` + "`hours`" + `](#hours) step's (` + "`timezone`" + `, ` + "`open`" + `,
` + "`holidays`" + `, ` + "`workdays`" + `), saying when its people are on shift, or empty
for always; an operator can also mark themself away in the console.
` + "`pick: round_robin`" + ` takes the on-shift operators of the team in turn, in the
order they are declared, starting with the first, one turn per team that
survives restarts and that the nodes sharing a database take in turn;
` + "`pick: least_open`" + ` takes the one with the fewest open
conversations assigned to them at that moment (this one included, if they
hold it), ties in declared order.

` + "`wxflow validate --config FILE`" + ` checks the operator and team names of
` + "`assign`" + ` steps against the configuration (an unknown name is an error with
a did-you-mean hint); without ` + "`--config`" + ` they are not checked. ` + "`wxflow test`" + `
checks them against the scenario's header.`

// allTypes lists every type a key of the language can have, each once.
func allTypes() []*Type {
	var out []*Type
	seen := map[*Type]bool{}
	var visit func(t *Type)
	visit = func(t *Type) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		out = append(out, t)
		for _, f := range t.Fields {
			visit(f.Type)
		}
		for _, a := range t.Alts {
			visit(a)
		}
		visit(t.Elem)
	}
	fields := append(append(append([]Field{}, FlowKeys()...), StepCommonKeys()...), TriggerCommonKeys()...)
	for _, t := range TriggerSpecs() {
		visit(t.Arg)
		fields = append(fields, t.Keys...)
	}
	for _, s := range StepSpecs() {
		visit(s.Arg)
		fields = append(fields, s.Keys...)
	}
	for _, f := range fields {
		visit(f.Type)
	}
	return out
}

// isLiteral reports whether a type, or one it is a list, map or
// alternative of, is written as is (Literal, Glob, Regex, media).
func isLiteral(t *Type) bool {
	if t == nil {
		return false
	}
	if t.literal {
		return true
	}
	for _, a := range t.Alts {
		if len(a.Fields) == 0 && isLiteral(a) {
			return true
		}
	}
	return isLiteral(t.Elem)
}

// literalKeys lists the keys whose value is written as is and refuses
// `${`, for the docs.
func literalKeys() []string { return keysWhere(isLiteral) }

// literalTriggers lists the trigger kinds whose argument is written as is.
func literalTriggers() []string {
	var out []string
	for _, t := range TriggerSpecs() {
		if isLiteral(t.Arg) {
			out = append(out, t.Kind)
		}
	}
	return out
}

// keysOfType lists the keys whose value has type t, for the docs.
func keysOfType(t *Type) []string {
	return keysWhere(func(ft *Type) bool { return ft == t })
}

// keysWhere lists the keys whose value's type is one that ok accepts.
func keysWhere(ok func(*Type) bool) []string {
	var out []string
	seen := map[string]bool{}
	add := func(fields []Field) {
		for _, f := range fields {
			if ok(f.Type) && !seen[f.Name] {
				seen[f.Name] = true
				out = append(out, f.Name)
			}
		}
	}
	add(FlowKeys())
	add(StepCommonKeys())
	add(TriggerCommonKeys())
	for _, typ := range allTypes() {
		add(typ.Fields)
	}
	for _, s := range TriggerSpecs() {
		add(s.Keys)
	}
	for _, s := range StepSpecs() {
		add(s.Keys)
	}
	return out
}

// kindsTaking lists the step kinds whose argument can be a value of type t
// (directly, or as an alternative or element of it).
func kindsTaking(t *Type) []string {
	var has func(a *Type) bool
	has = func(a *Type) bool {
		if a == nil {
			return false
		}
		if a == t {
			return true
		}
		for _, alt := range a.Alts {
			if has(alt) {
				return true
			}
		}
		return has(a.Elem)
	}
	var out []string
	for _, s := range StepSpecs() {
		if has(s.Arg) {
			out = append(out, s.Kind)
		}
	}
	return out
}

func (d *refDoc) values() {
	d.heading(2, "Values")

	d.heading(3, "Key types")
	d.p("The tables above name the type of every key. The types:")
	d.body.WriteString("| type | what it accepts |\n|---|---|\n")
	// One row per description (image, voice, video and thumb share one),
	// then one row per name (both kinds of step id).
	var docs []string
	names := map[string][]string{}
	for _, t := range allTypes() {
		if t.Doc == "" || len(t.Fields) > 0 || t.Doc == "A list." || t.Doc == "A map." || strings.HasPrefix(t.Name, "one of ") {
			continue
		}
		if _, ok := names[t.Doc]; !ok {
			docs = append(docs, t.Doc)
		}
		if !contains(names[t.Doc], t.Name) {
			names[t.Doc] = append(names[t.Doc], t.Name)
		}
	}
	var rowNames []string
	byName := map[string][]string{}
	for _, doc := range docs {
		n := strings.Join(names[doc], ", ")
		if _, ok := byName[n]; !ok {
			rowNames = append(rowNames, n)
		}
		byName[n] = append(byName[n], doc)
	}
	sort.Slice(rowNames, func(i, j int) bool { return strings.ToLower(rowNames[i]) < strings.ToLower(rowNames[j]) })
	for _, n := range rowNames {
		fmt.Fprintf(&d.body, "| %s | %s |\n", cell(n), cell(strings.Join(byName[n], " ")))
	}
	d.body.WriteString("\n")
	d.p("A `list of X` is a YAML list (`[a, b]`, or one `- item` per line); a single value where a list is expected is an error, so that `tag: vip` and `tag: [vip]` are not confused. A `map of X` is a map whose keys you choose and whose values are X. `one of a, b` accepts exactly one of those words. A `... map` has the keys listed in its table, and no others.")

	d.heading(3, "Durations")
	d.p("%s `ms` works too, `d` is 24 hours, parts add up (`1h30m`, also written `1h 30m`), and a duration must be longer than zero and at most 53,375 days (about 146 years). Durations are the keys %s and the argument of %s.",
		Duration.Doc, codeList(keysOfType(Duration)), codeList(kindsTaking(Duration)))

	d.heading(3, "Templates")
	textMaps := keysWhere(func(t *Type) bool {
		return t.Elem == Text && len(t.Fields) == 0 && strings.HasPrefix(t.Name, "map of ")
	})
	d.p("%s Every text is a template: the keys %s, the values of %s, the arguments of %s, and the texts inside `json:` values, `set:` values and a `start` step's `vars:`.",
		Text.Doc, codeList(keysOfType(Text)), codeList(textMaps), codeList(kindsTaking(Text)))
	d.raw(templatesText)
	d.p("The other keys are not templates: their text is taken as written. In those that are matched or sent, `${` is an error (`$${` is an escape in templates only): the keys %s and the arguments of the triggers %s.",
		codeList(literalKeys()), codeList(literalTriggers()))

	d.heading(3, "Expressions")
	var exprKeys []string
	for _, t := range []*Type{BoolExpr, TimeExpr} {
		exprKeys = append(exprKeys, keysOfType(t)...)
	}
	d.p("The keys %s are expressions, written without `${ }`, in the syntax of [expr](https://expr-lang.org/docs/language-definition) (github.com/expr-lang/expr). %s %s",
		codeList(exprKeys), BoolExpr.Doc, TimeExpr.Doc)
	d.raw(expressionsText)

	d.heading(3, "The environment")
	d.p("Expressions and `${...}` see these names (the engine's Env type; every name is checked when the flow loads):")
	d.body.WriteString("| name | type | what |\n|---|---|---|\n")
	for _, e := range envEntries() {
		doc, ok := envDocs[e.path]
		if !ok {
			doc = "(undocumented)"
		}
		fmt.Fprintf(&d.body, "| %s | %s | %s |\n", code(e.path), e.typ, cell(doc))
	}
	d.body.WriteString("\n")
}

// envEntry is one name of the expression environment.
type envEntry struct{ path, typ string }

// envEntries walks Env by its `expr` tags: every name an expression can
// use, with its type in the docs' words.
func envEntries() []envEntry {
	var out []envEntry
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("expr")
			if name == "" || name == "-" {
				continue
			}
			path := prefix + name
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				walk(f.Type, path+".")
				continue
			}
			out = append(out, envEntry{path, envTypeName(f.Type)})
		}
	}
	walk(reflect.TypeOf(Env{}), "")
	return out
}

func envTypeName(t reflect.Type) string {
	if t == reflect.TypeOf(time.Time{}) {
		return "time"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	case reflect.Float64, reflect.Float32:
		return "number"
	case reflect.Interface:
		return "any value"
	case reflect.Slice:
		return "list of " + envTypeName(t.Elem()) + "s"
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return "map"
		}
		return "map of " + envTypeName(t.Elem()) + "s"
	}
	return t.String()
}

// envDocs describes each name of the environment; a name without a
// description shows as "(undocumented)" and fails the reference's tests.
var envDocs = map[string]string{
	"contact.id":                "The contact's OpenID (WeChat gives no profile name).",
	"contact.tags":              "The contact's tags (`'vip' in contact.tags`); change them with `tag` and `untag`.",
	"contact.fields":            "The contact's custom fields, `contact.fields.<name>`; kept across runs; written by `set` and `save`.",
	"contact.followed":          "Whether the contact follows the account.",
	"contact.first_seen":        "When the contact was first seen.",
	"contact.last_seen":         "When the contact was last seen.",
	"contact.window.open":       "Whether WeChat's reply window is open now, as the channel sees it.",
	"contact.window.expires_at": "When the reply window closes.",
	"contact.window.quota_left": "How many more messages the window allows.",
	"event.type":                "The type of the event that started or last resumed the run (`schedule` for a scheduled start, `api` for a start through the admin API, `conversation` for a `conversation` trigger's).",
	"event.text":                "The text of a text message.",
	"event.scene":               "The scene of the QR code of a follow or scan; empty otherwise.",
	"event.key":                 "The key of a menu click.",
	"event.match":               "The groups of a `keyword` pattern: `event.match[1]` is the first group.",
	"event.media_id":            "The media id of an image, voice or video message.",
	"event.location.lat":        "The latitude of a location message.",
	"event.location.lng":        "The longitude of a location message.",
	"event.location.scale":      "The map scale of a location message.",
	"event.location.label":      "The place name of a location message.",
	"event.at":                  "When the event happened.",
	"answer":                    "The last accepted answer of an `ask`.",
	"vars":                      "The run's variables, `vars.<name>`: those the flow writes (`set`, an `ask`'s `save`, an `http` step's `save`) and those it declares under `vars:` (given by `start:`, the admin API or an operator); they last as long as the run. Reading any other is a validation error with a did-you-mean hint. A variable's type is its declaration's, or what writes it: `expect: number` a number, `expect: location` and `http` a map, other answers text, a `set:` value its own (a duration, such as `${duration('90m')}`, is `any`: it is no number, and only a variable declared `any` takes it); when writes disagree, or cannot be known, it is `any`. A write of a declared variable (`set:`, an `ask`'s or an `http` step's `save:`) whose value has a known type other than the declaration's is a validation error; a variable declared `any`, and a value whose type is known only when the run gets there (`${answer}`), are accepted.",
	"conversation.status":       "The contact's conversation: `open` or `closed`.",
	"conversation.assignee":     "The operator who holds the conversation, `\"\"` when none (`conversation.assignee == \"\"`).",
	"conversation.team":         "The team that holds the conversation, `\"\"` when none.",
	"conversation.opened_at":    "When the conversation last opened (the zero time when it never did).",
	"http.status":               "The status code of the last `http` step's response.",
	"http.body":                 "The body of the last `http` step's response, parsed when it is JSON.",
	"http.headers":              "The headers of the last `http` step's response.",
	"now":                       "The current time, from the engine's clock.",
	"flow.name":                 "The name of the run's flow.",
	"flow.version":              "The version of the flow the run started with (`sha256:` and 16 hex digits of the file); a run keeps it when the file changes.",
	"account.id":                "The account the run belongs to.",
	"secret":                    "The secrets declared under `secrets:` in the config, `secret.<NAME>`, each the value of the environment variable NAME. Only an `http` step's `url`, `query`, `headers`, `json` and `body` may use them, each on its own in its `${ }`: the engine puts the value in when it sends the request, and trails, run state, the console, logs and errors show `${secret.NAME}` instead. `wxflow validate` accepts any name; `wxflow serve` refuses a flow that reads one its config does not declare; `wxflow test` and `wxflow chat` have none, so a call that needs one fails (its `on_error`).",
}

func (d *refDoc) menu() {
	d.heading(2, "The menu")
	d.p("A file `menu.yaml` beside the flows declares the account's custom menu: `menu:` and a list of buttons.")
	d.yaml(menuExample)
	d.p("Each button has these keys, and exactly one of `key`, `url` and `items`; a sub-button (in `items`) has `name` and one of `key` and `url`:")
	d.fieldTable(MenuKeys())
	d.p("WeChat's limits, which `wxflow validate` checks:")
	d.bullets([]string{
		fmt.Sprintf("1 to %d top-level buttons, each with 1 to %d sub-buttons when it has `items`;", MenuMaxButtons, MenuMaxSubButtons),
		fmt.Sprintf("names of 1 to %d bytes on top and %d in a sub-menu (a Chinese character is 3 bytes);", MenuMaxNameBytes, MenuMaxSubName),
		fmt.Sprintf("click keys of 1 to %d bytes, unique in the menu;", MenuMaxKeyBytes),
		fmt.Sprintf("links starting with `https://` or `http://`, of at most %d bytes.", MenuMaxURLBytes),
	})
	d.p("Every problem of the file is reported: an unknown key in one button does not hide the others' problems or the limits. The file holds one menu: a second YAML document (after `---`) is an error, not ignored.")
	d.p("It also warns when a click key has no flow with a matching `menu` trigger (with the config known, `wxflow validate --config` and `serve`, also when the key's flows all name an `account:` and leave another account served without one: `menu push` publishes the one menu to every account), and when a `menu` trigger names a key that is not in `menu.yaml` (or there is no `menu.yaml`). `wxflow menu push` publishes it to WeChat after the same checks (see docs/wechat.md).")
}

func (d *refDoc) checks() {
	d.heading(2, "WeChat-aware checks")
	o := &Options{}
	var events, messages []string
	for _, t := range TriggerSpecs() {
		switch t.Interaction {
		case "event":
			events = append(events, t.Kind)
		case "message":
			messages = append(messages, t.Kind)
		}
	}
	d.p("WeChat lets an account message a contact only within %s of the contact's last interaction (the window), and only so many times: %d messages after an event (%s triggers) and %d after a message (%s triggers). `wxflow validate` follows every path of a flow from its triggers and warns, at the step that causes it, about:",
		FormatDuration(o.window()), o.eventQuota(), codeList(events), o.messageQuota(), codeList(messages))
	d.bullets([]string{
		"more sends in a row than the quota of the interaction that opened the window (an `ask` answered by the contact opens a new window);",
		fmt.Sprintf("a send that can only happen after the window has closed: a `wait`, or an `ask`'s timeout, of %s or more with no possible interaction in between;", FormatDuration(o.window())),
		fmt.Sprintf("an `ask` whose `timeout` (default %s) is longer than the window: its `on_timeout` steps could no longer send anything;", FormatDuration(DefaultAskTimeout)),
		"media the account's region cannot send: international accounts cannot send voice or video, which WeChat sends by API only for accounts registered in Mainland China (text, images, news and message menus go); `wxflow validate --region international` checks this, or `--account-region ACCOUNT=international` for one account.",
	})
	d.p("Media files are checked when the flow loads: a path is relative to the flow file, and the file must exist and fit WeChat's limits:")
	d.body.WriteString("| media | file types | largest file |\n|---|---|---|\n")
	for _, kind := range []string{"image", "voice", "video", "thumb"} {
		l, ok := MediaLimits[kind]
		if !ok {
			continue
		}
		fmt.Fprintf(&d.body, "| %s | %s | %s |\n", kind, strings.Join(l.Exts, ", "), formatBytes(l.MaxBytes))
	}
	d.body.WriteString("\n")
	d.heading(3, "Other checks")
	d.bullets([]string{
		"a step no path reaches (after a `goto` or `end`, with no jump to it): the first of a stretch of such steps, and each of them that has an `id`;",
		"a loop of steps with no `ask` or `wait` inside: such a run jumps until it is stopped as `looping` after 100 jumps;",
		"two flows whose triggers tie for the same input (see [which flow starts](#which-flow-starts));",
		"`start:` naming a flow that does not exist, or flows that start each other in a cycle; `start:` giving a variable the started flow does not declare under `vars:`, or a value of another type than declared (errors);",
		"a flow's bare `follow` trigger beside another flow's `scan:` trigger at the same priority or above: a new follower who comes through that QR code starts the scan flow and never gets the welcome (a warning at both triggers; give the follow a higher priority, or `start:` the welcome from the scan flow);",
		"a `cooldown` on a flow whose first step is `hours`: every start uses the cooldown up, also in the branch that sends nothing, so the answer of the other branch is then not sent (a warning; move the cooldown to a flow without triggers that `when_closed:` starts);",
		"a flow without a name, or with an empty one (an error; it takes no part in the checks between flows);",
		"two flows with the same name, and jumps to an `id` no step has.",
	})
}

func (d *refDoc) scenarios() {
	d.heading(2, "Test scenarios")
	d.p("`wxflow test` runs these scenarios on the simulated channel with a virtual clock (docs/testing.md); `wxflow validate` skips `.test.yaml` files in folders, and refuses one named alone (a usage error saying wxflow test checks it).")
	d.raw(scenariosText)
}

// The prose of the reference, from FLOW-LANGUAGE.md. Everything that
// names keys, kinds, defaults or limits is generated from the specs above.

const flowFileExample = `name: welcome                     # required, unique, [a-z0-9_-]+
description: Greets new followers # optional
account: main                     # optional: only events of this account
cooldown: 12h                     # optional: not started again for the same contact within this time
reentry: ignore                   # optional: ignore | restart, when the contact already has a run of this flow
vars: { order_id: text }          # optional: variables the flow is given by ` + "`start:`" + `, the API or an operator (name: text | number | bool | time | list | map | any)
triggers:                         # optional: a flow without triggers is started only by ` + "`start:`" + `, the API or an operator
  - follow
steps:                            # required, at least one
  - send: "Welcome! Reply MENU at any time to see what we can do."`

const itemFormExample = `triggers:
  - follow                 # a bare kind
  - menu: MENU_HELP        # kind: argument
  - message:               # a kind without an argument, with sibling keys
    priority: -10
steps:
  - send: "Hello"
  - id: done               # a common key beside an empty kind
    end:`

const whichFlowStarts = `
One event starts at most one flow: the matching trigger with the highest
` + "`priority`" + `; on a tie, the more specific trigger (an exact key, scene or
keyword before a glob or pattern, before a ` + "`message`" + ` of one ` + "`type`" + `, before
a bare kind); then the flow whose
name comes first. ` + "`wxflow validate`" + ` warns where two flows' triggers tie for
the same input (triggers with an ` + "`if:`" + ` are not compared).

A flow with ` + "`account:`" + ` only starts on events of that account. A flow with
` + "`cooldown:`" + ` is not started again for the same contact within that time, and
` + "`reentry:`" + ` decides what happens when the contact already has a run of it.

When a message, follow, scan or menu click starts no flow and answers no
run, the engine notes why: no trigger matched (an unknown menu key says
so), or how each of the nearest matching triggers lost (its ` + "`if:`" + ` was
false, cooldown until a time, reentry, another flow's priority, another
account). ` + "`wxflow chat`" + `, the simulator, ` + "`wxflow test`" + ` transcripts and
the contact's page in the console show it. A step skipped because its
` + "`if:`" + ` is false says so in its run's timeline, in ` + "`wxflow chat`" + ` and in
` + "`wxflow test`" + ` transcripts.`

const unfollowText = `
An ` + "`unsubscribe`" + ` ends every run of the contact (status ` + "`unfollowed`" + `) before any
` + "`unfollow`" + ` trigger runs; nothing can be sent to them.`

const conversationsText = `
A contact has at most one run waiting for an answer (` + "`ask`" + `). A text message
from a contact with such a run is its answer, unless it matches a trigger
with ` + "`interrupt: true`" + `. Events (follow, scan, menu click) start their flow even
then. A run that starts while another waits for an answer takes the
conversation over; the older one ends as ` + "`interrupted`" + `. Runs that are only
waiting (` + "`wait:`" + `) keep going.`

const templatesText = `
- ` + "`${expr}`" + ` inside a text is replaced by the expression's value when the step
  runs: ` + "`\"Nice to meet you, ${contact.fields.name}!\"`" + `.
- A value that is exactly one ` + "`${expr}`" + ` keeps the expression's type (a number
  stays a number, a list a list): ` + "`vars.count: \"${vars.count + 1}\"`" + `.
- In a text, a value is written as people read it: a number in decimal
  (` + "`1000000`" + `, ` + "`0.25`" + `; never ` + "`1e+06`" + `), a time in RFC 3339 in its own zone
  (` + "`${now}`" + ` is ` + "`2026-11-16T10:00:00+08:00`" + ` on a server in Beijing; for another
  form, ` + "`${now.Format('2006-01-02 15:04')}`" + `), a duration as ` + "`1h30m0s`" + `, a list
  or a map as JSON (` + "`[\"vip\",\"new\"]`" + `; an empty one as ` + "`[]`" + ` or ` + "`{}`" + `, a record such as
  ` + "`${event.location}`" + ` as a map of its names), a month or a weekday by its name (` + "`${now.Weekday()}`" + ` is
  ` + "`Monday`" + `; kept in a variable, it is a number), ` + "`true`" + ` or ` + "`false`" + `, and nothing as an empty text.
- A field or an item of nothing is nothing, as with ` + "`?.`" + `: ` + "`${vars.r.body.id}`" + ` is an
  empty text when the call failed or its answer has no ` + "`body`" + ` or no ` + "`id`" + `
  (a field of a text, a number or a boolean is nothing too: a body that is not JSON, such as
  a 204's, an HTML error page's or a cut-off answer's, has no ` + "`id`" + `), and
  ` + "`vars.r.body.ok == true`" + ` is false; ` + "`??`" + ` gives a default
  (` + "`${vars.r.body.name ?? 'friend'}`" + `). A position past a list's end
  (` + "`items[0]`" + ` of an empty list) and a method of nothing still fail the run.
- Nothing is in no order, and not true: a variable not given or not yet written,
  or a contact field never set, makes an ` + "`if:`" + ` of it false, a comparison
  ` + "`<`" + `, ` + "`>`" + `, ` + "`<=`" + ` or ` + "`>=`" + ` with it false (` + "`contact.fields.age >= 18`" + ` and
  ` + "`contact.fields.age < 18`" + ` are both false for a contact without an age), and
  ` + "`!`" + ` of it true. Arithmetic on nothing (` + "`vars.count + 1`" + `) fails the run: give a
  default (` + "`(vars.count ?? 0) + 1`" + `). Values that are there but cannot be compared
  (a text with a number) still fail it.
- ` + "`$${`" + ` writes a literal ` + "`${`" + `.
- ` + "`${secret.NAME}`" + ` reads a secret declared in the config, only in an
  ` + "`http`" + ` step's ` + "`url`" + `, ` + "`query`" + `, ` + "`headers`" + `, ` + "`json`" + ` and ` + "`body`" + `, and on its
  own in its ` + "`${ }`" + `: ` + "`Bearer ${secret.TOKEN}`" + `, not ` + "`${\"Bearer \" + secret.TOKEN}`" + `.
  Anywhere else it is a validation error: the value would reach a follower
  or the store.
- The expressions inside are compiled when the flow loads: a misspelt name is
  a validation error with its line and column, not a runtime surprise.
- Quote texts that contain ` + "`${`" + ` inside a YAML flow list or map
  (` + "`[a, \"store_${event.scene}\"]`" + `): there ` + "`{`" + ` would start a YAML map.`

const expressionsText = `
For example ` + "`contact.fields.city == \"Shanghai\"`" + `, ` + "`'vip' in contact.tags`" + `,
` + "`vars.party >= 6 && now.Hour() < 18`" + `. Expressions are compiled when the flow
loads, against the typed environment below: a misspelt name or field, a
variable the flow neither writes nor declares, or a condition that is not
true or false (` + "`if: vars.plan`" + ` over a text answer), is a validation error
placed at the expression's line and column, with a did-you-mean hint. So is
a call of ` + "`duration`" + `, ` + "`date`" + ` or ` + "`timezone`" + ` whose arguments are written out and
that fails (` + "`duration(\"1x\")`" + `: expr's durations take ` + "`ns`" + `, ` + "`us`" + `, ` + "`ms`" + `, ` + "`s`" + `, ` + "`m`" + `
and ` + "`h`" + `, not the flows' ` + "`d`" + `).

` + "`date(\"2026-11-20 09:00\", \"2006-01-02 15:04\")`" + ` reads a time written without a zone in the
server's zone (the config's ` + "`timezone`" + `; a test's ` + "`timezone`" + `), as ` + "`now`" + ` is; give a
zone as the third argument for another (` + "`date(\"2026-11-20 09:00\", \"2006-01-02 15:04\", \"UTC\")`" + `).
Where the zone changes its clocks, a wall-clock time it skips is pushed
forward by the length of the gap (as java.time and JavaScript's Temporal
do): ` + "`date(\"2026-03-08 02:30\", \"2006-01-02 15:04\", \"America/New_York\")`" + ` is 03:30
EDT, never the hour before, so a ` + "`wait: { until: ... }`" + ` for it does not wake
early; midnight of a day that starts at 01:00 (` + "`date(\"2026-03-29\", \"2006-01-02\", \"Asia/Beirut\")`" + `)
is 01:00. A time it goes back over is the first of the two (01:30 EDT on
2026-11-01 in New York). A text with its own offset (` + "`2026-03-08T02:30:00-05:00`" + `)
is that instant. (A ` + "`schedule`" + ` trigger has its own rule: a skipped time fires at
the moment of the jump.)`

const menuExample = `menu:
  - name: Products           # top-level button with sub-buttons
    items:
      - { name: New arrivals, key: MENU_NEW }      # click: a menu trigger
      - { name: Shop, url: "https://shop.example.com" }   # view: a link
  - { name: Help, key: MENU_HELP }`

// scenariosText is the test scenario format of FLOW-LANGUAGE.md, which a
// later version implements.
const scenariosText = `
A file ending ` + "`.test.yaml`" + ` holds one or more scenarios (YAML documents
separated by ` + "`---`" + `) run by ` + "`wxflow test`" + ` against the flows of its directory
(and its ` + "`menu.yaml`" + `), on the simulated channel and a virtual clock. Each
scenario starts from an empty store. Every outbound attempt, sent or failed,
joins the scenario's transcript in order; ` + "`expect`" + ` takes the next one,
` + "`expect_none`" + ` checks that none is left. ` + "`wait`" + ` moves the clock and fires the
timers that come due, in order. The closing line is ` + "`N passed, N failed`" + `.

` + "```yaml" + `
name: a new follower is greeted and asked for a name
start: 2026-11-20T10:00:00+08:00   # virtual clock start (optional)
account: { region: mainland }      # account settings (optional)
contact: { tags: [vip], fields: { city: Shanghai } }   # starting contact (optional)
script:
  - follow: store_1        # user actions: follow [scene], unfollow, scan: scene, menu: key, say: text, image, location
  - expect: "Welcome*"     # the next message sent; a string is a glob on the text; or a map (image:, menu:, status:, reason:)
  - expect: "What should we call you?"
  - say: Alice
  - expect: "Nice to meet you, Alice!*"
  - wait: 49h              # advance the virtual clock; due timers fire
  - expect_none            # nothing more was sent
  - expect_contact: { fields: { name: Alice }, tags: [vip] }
` + "```" + `

Failure reasons a scenario can name: ` + "`window_closed`" + `, ` + "`quota_exhausted`" + `,
` + "`unfollowed`" + `, ` + "`media_too_large`" + `, ` + "`media_type`" + `, ` + "`region`" + `, ` + "`api_error`" + `.`
