package flows

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// Type is what a key accepts. The loader checks a YAML value against it and
// turns it into a Go value; the JSON Schema and the docs describe it.
type Type struct {
	// Name is the type as the docs and error messages call it.
	Name string
	// Doc explains the type in a sentence, for the docs.
	Doc string
	// Fields lists the keys of a map type, for the docs and the schema.
	Fields []Field
	// Elem is the element type of a list or map type.
	Elem *Type
	// Alts are the alternatives of a OneOf type.
	Alts []*Type

	kinds nodeKinds
	// literal is set for a type whose text is written as is, not a
	// template: `${` in it is an error (notTemplate).
	literal bool
	parse   func(p *parser, n *yaml.Node) (any, bool)
	schema  func(g *schemaGen) map[string]any
}

type nodeKinds uint8

const (
	kScalar nodeKinds = 1 << iota
	kSeq
	kMap
)

// Object is a parsed YAML map: its values in key order, with the position
// of each key and value.
type Object struct {
	Keys   []string
	Values map[string]any
	KeyPos map[string]Pos
	ValPos map[string]Pos
	Pos    Pos
}

// Has reports whether the key was given.
func (o *Object) Has(key string) bool {
	if o == nil {
		return false
	}
	_, ok := o.Values[key]
	return ok
}

// Given reports whether the key was written, even if its value was
// invalid (and so is not in Values).
func (o *Object) Given(key string) bool {
	if o == nil {
		return false
	}
	_, ok := o.KeyPos[key]
	return ok
}

// Get returns a key's parsed value, or nil.
func (o *Object) Get(key string) any {
	if o == nil {
		return nil
	}
	return o.Values[key]
}

// String returns a plain string value, or "".
func (o *Object) String(key string) string { s, _ := o.Get(key).(string); return s }

// Template returns a template value, or nil.
func (o *Object) Template(key string) *Template { t, _ := o.Get(key).(*Template); return t }

// Duration returns a duration value, or def when absent.
func (o *Object) Duration(key string, def time.Duration) time.Duration {
	if d, ok := o.Get(key).(time.Duration); ok {
		return d
	}
	return def
}

// Int returns an integer value, or def when absent.
func (o *Object) Int(key string, def int) int {
	if i, ok := o.Get(key).(int); ok {
		return i
	}
	return def
}

// Ref returns a step reference, or "".
func (o *Object) Ref(key string) StepRef { r, _ := o.Get(key).(StepRef); return r }

// Expr returns an expression value, or nil.
func (o *Object) Expr(key string) *Expr { e, _ := o.Get(key).(*Expr); return e }

// At returns the position of a key's value, or of the map itself.
func (o *Object) At(key string) Pos {
	if p, ok := o.ValPos[key]; ok {
		return p
	}
	if p, ok := o.KeyPos[key]; ok {
		return p
	}
	return o.Pos
}

// StepRef is the id of a step that a `goto`, `on_timeout`, `on_error`,
// `on_invalid`, `on_fail`, `else` or `when_*` key jumps to.
type StepRef string

// Target is a step list or a jump to a step id (`else:`, `when_open:`).
type Target struct {
	Steps []*Step
	Ref   StepRef
	Pos   Pos
}

// Date is a calendar date (midnight UTC).
type Date struct{ time.Time }

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Format(time.DateOnly) }

// Cron is a parsed 5-field cron expression.
type Cron struct {
	Src string
	cron.Schedule
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// neverFires reports whether a cron's days of the month exist in none of
// its months ("0 0 30 2 *"): with any day of the week (*), a day must
// fall on a chosen day of the month. (A day of the week chosen as well
// fires on either, as cron does; docs/flows.md says so.) Without it, the schedule would
// have no next time.
func neverFires(s *cron.SpecSchedule) bool {
	const star = 1 << 63
	if s.Dow&star == 0 {
		return false
	}
	longest := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if s.Month&(1<<uint(m)) == 0 {
			continue
		}
		for d := 1; d <= longest[m]; d++ {
			if s.Dom&(1<<uint(d)) != 0 {
				return false
			}
		}
	}
	return true
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindOf(n *yaml.Node) nodeKinds {
	switch n.Kind {
	case yaml.SequenceNode:
		return kSeq
	case yaml.MappingNode:
		return kMap
	}
	return kScalar
}

func describeNode(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a map"
	case isNull(n):
		return "nothing"
	case n.Tag == "!!int" || n.Tag == "!!float":
		return "the number " + n.Value
	case n.Tag == "!!bool":
		return n.Value
	}
	return strconv.Quote(n.Value)
}

func article(name string) string {
	if name == "" || strings.HasPrefix(name, "one of ") {
		return name
	}
	switch name[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + name
	}
	return "a " + name
}

// scalarType builds a type that accepts one non-empty scalar and converts it.
func scalarType(name, doc string, schema map[string]any, conv func(p *parser, n *yaml.Node) (any, bool)) *Type {
	return &Type{Name: name, Doc: doc, kinds: kScalar,
		parse: func(p *parser, n *yaml.Node) (any, bool) {
			if n.Kind != yaml.ScalarNode {
				p.errorAt(n, "", "expected %s, got %s", article(name), describeNode(n))
				return nil, false
			}
			if isNull(n) {
				p.errorAt(n, "", "expected %s, got nothing", article(name))
				return nil, false
			}
			return conv(p, n)
		},
		schema: func(*schemaGen) map[string]any { return copyMap(schema) },
	}
}

// keyPrefix names the key being parsed at the start of a message.
func keyPrefix(p *parser) string {
	if p.key == "" {
		return ""
	}
	return p.key + ": "
}

// IsSavePath reports whether s names a place a value can be stored:
// vars.<name> or contact.fields.<name>.
func IsSavePath(s string) bool { return reSave.MatchString(s) }

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var (
	reName   = regexp.MustCompile(`^[a-z0-9_-]+$`)
	reStepID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	reSave   = regexp.MustCompile(`^(vars|contact\.fields)\.[A-Za-z_][A-Za-z0-9_]*$`)
)

// The base types.
var (
	// String is plain text, with no `${...}`.
	String = scalarType("string", "Plain text.", map[string]any{"type": "string"},
		func(p *parser, n *yaml.Node) (any, bool) { return n.Value, true })

	// Text is a template: `${expr}` parts are replaced when the step runs.
	Text = scalarType("text", "Text; `${expr}` inside it is replaced by the expression's value, `$${` writes `${`.",
		map[string]any{"type": []any{"string", "number", "boolean"}},
		func(p *parser, n *yaml.Node) (any, bool) { return p.template(n) })

	// Int is a whole number.
	Int = scalarType("integer", "A whole number.", map[string]any{"type": "integer"},
		func(p *parser, n *yaml.Node) (any, bool) {
			i, err := strconv.Atoi(n.Value)
			switch {
			case errors.Is(err, strconv.ErrRange):
				p.errorAt(n, "use a smaller number", "%sthe number %s is too large", keyPrefix(p), n.Value)
				return nil, false
			case n.Tag == "!!int" && err != nil:
				// YAML's other forms of a whole number (0x10, 0o17, 1_000).
				p.errorAt(n, "write it in decimal digits", "%sexpected a whole number in decimal, got %s", keyPrefix(p), n.Value)
				return nil, false
			case n.Tag != "!!int" || err != nil:
				p.errorAt(n, "", "%sexpected a whole number, got %s", keyPrefix(p), describeNode(n))
				return nil, false
			}
			return i, true
		})

	// Number is any number.
	Number = scalarType("number", "A number.", map[string]any{"type": "number"},
		func(p *parser, n *yaml.Node) (any, bool) {
			f, err := strconv.ParseFloat(n.Value, 64)
			if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				p.errorAt(n, "", "%sexpected a number, got %s", keyPrefix(p), describeNode(n))
				return nil, false
			}
			return f, true
		})

	// Bool is true or false.
	Bool = scalarType("boolean", "`true` or `false`.", map[string]any{"type": "boolean"},
		func(p *parser, n *yaml.Node) (any, bool) {
			if n.Tag != "!!bool" {
				p.errorAt(n, "write true or false", "%sexpected true or false, got %s", keyPrefix(p), describeNode(n))
				return nil, false
			}
			return n.Value == "true", true
		})

	// Duration is a length of time such as 30s, 10m, 2h, 3d or 1h30m.
	Duration = scalarType("duration", "A length of time: a number and a unit, `s`, `m`, `h` or `d` (`30s`, `10m`, `2h`, `3d`, `1h30m`).",
		map[string]any{"type": "string", "pattern": `^(([0-9]+(\.[0-9]*)?|\.[0-9]+) *(ms|s|m|h|d) *)+$`},
		func(p *parser, n *yaml.Node) (any, bool) {
			d, err := ParseDuration(n.Value)
			if err != nil {
				p.errorAt(n, "write a number and a unit: 30s, 10m, 2h, 3d", "%v", err)
				return nil, false
			}
			return d, true
		})

	// BoolExpr is an expression that must be true or false.
	BoolExpr = scalarType("condition", "An expression that is true or false, e.g. `contact.fields.city == \"Shanghai\"`.",
		map[string]any{"type": []any{"string", "boolean"}},
		func(p *parser, n *yaml.Node) (any, bool) { return p.expr(n, ExprBool) })

	// TimeExpr is an expression that gives a time.
	TimeExpr = scalarType("time expression", "An expression that gives a time, e.g. `now.Add(duration(\"2h\"))`.",
		map[string]any{"type": "string"},
		func(p *parser, n *yaml.Node) (any, bool) { return p.expr(n, ExprTime) })

	// StepID is the name of a step.
	StepID = scalarType("step id", "A step's name: letters, digits, `_` and `-`.",
		map[string]any{"type": "string", "pattern": reStepID.String()},
		func(p *parser, n *yaml.Node) (any, bool) {
			if !reStepID.MatchString(n.Value) {
				p.errorAt(n, "use letters, digits, _ and -", "invalid step id %q", n.Value)
				return nil, false
			}
			return n.Value, true
		})

	// Ref is a jump to the step with this id.
	Ref = scalarType("step id", "The id of a step of the same flow to go to.",
		map[string]any{"type": "string"},
		func(p *parser, n *yaml.Node) (any, bool) {
			p.refs = append(p.refs, refUse{id: n.Value, pos: p.pos(n)})
			return StepRef(n.Value), true
		})

	// FlowName is the name of a flow.
	FlowName = scalarType("flow name", "Lower-case letters, digits, `_` and `-`.",
		map[string]any{"type": "string", "pattern": reName.String()},
		func(p *parser, n *yaml.Node) (any, bool) {
			if strings.TrimSpace(n.Value) == "" && p.key == "name" {
				p.errorAt(n, nameHint(p.file), "the flow's name is empty")
				return nil, false
			}
			if !reName.MatchString(n.Value) {
				p.errorAt(n, "use lower-case letters, digits, _ and -, e.g. \""+suggestName(n.Value)+"\"", "invalid flow name %q", n.Value)
				return nil, false
			}
			return n.Value, true
		})

	// FlowRef names another flow (`start:`).
	FlowRef = scalarType("flow name", "The name of another flow.",
		map[string]any{"type": "string", "pattern": reName.String()},
		func(p *parser, n *yaml.Node) (any, bool) {
			p.flowRefs = append(p.flowRefs, refUse{id: n.Value, pos: p.pos(n)})
			return n.Value, true
		})

	// SavePath is where a value is stored: vars.x or contact.fields.x.
	SavePath = scalarType("save path", "Where a value goes: `vars.<name>` (the run's variables) or `contact.fields.<name>` (kept on the contact); a name is ASCII letters, digits and `_`, not starting with a digit (`first_name`, not `first name` or `first-name`).",
		map[string]any{"type": "string", "pattern": reSave.String()},
		func(p *parser, n *yaml.Node) (any, bool) { return p.savePath(n) })

	// Regex is a regular expression (Go RE2 syntax).
	Regex = scalarType("regular expression", "A regular expression (RE2 syntax, as Go's regexp), written as is (not a template: `${...}` in it is an error).",
		map[string]any{"type": "string"},
		func(p *parser, n *yaml.Node) (any, bool) {
			if p.notTemplate(n, "", "matched", `a pattern cannot change with the run; to match the characters ${, write '\$\{' in single quotes`) {
				return nil, false
			}
			re, err := regexp.Compile(n.Value)
			if err != nil {
				msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
				p.errorAt(n, "the syntax is Go's RE2: https://golang.org/s/re2syntax", "invalid regular expression: %s", msg)
				return nil, false
			}
			return re, true
		})

	// Timezone is an IANA time zone name.
	Timezone = scalarType("time zone", "An IANA time zone name, e.g. `Asia/Shanghai`.",
		map[string]any{"type": "string"},
		func(p *parser, n *yaml.Node) (any, bool) {
			loc, err := loadLocation(n.Value)
			if err != nil {
				p.errorAt(n, timezoneHint(n.Value), "unknown time zone %q", n.Value)
				return nil, false
			}
			return loc, true
		})

	// CronSpec is a 5-field cron expression.
	CronSpec = scalarType("cron expression", "Five fields: minute hour day-of-month month day-of-week, e.g. `0 9 * * mon-fri`. Each field is `*`, a value, a range `a-b`, any of them with a step `/n` (`*/15`), or a comma-separated list of those (`9,18`). Minutes are 0-59, hours 0-23, days of the month 1-31, months 1-12 or `jan`-`dec`, days of the week 0-6 (0 is Sunday) or `sun`-`sat`. When both day fields name days (neither is `*`), a day either names fires: `0 9 1 * mon` fires on the 1st and on Mondays; a step counts as naming days, so `0 0 */2 * mon` fires on odd days and on Mondays. There is no seconds field, and no `@daily`.",
		map[string]any{"type": "string"},
		func(p *parser, n *yaml.Node) (any, bool) {
			if strings.HasPrefix(n.Value, "CRON_TZ=") || strings.HasPrefix(n.Value, "TZ=") {
				p.errorAt(n, "put the zone in timezone:", "time zone inside a cron expression")
				return nil, false
			}
			if e := checkCron(n.Value); e != nil {
				at := p.pos(n)
				if o := p.find(n.Value, p.nodeOffset(n)); o >= 0 && !e.whole {
					at = p.posAt(o + e.off)
				}
				p.report(SeverityError, at, e.hint, fmt.Sprintf("invalid cron expression %q: %s", n.Value, e.msg))
				return nil, false
			}
			s, err := cronParser.Parse(n.Value)
			if err != nil {
				// checkCron knows every rule of the parser; its own words
				// (strconv's among them) never reach an operator.
				p.errorAt(n, cronFieldsHint, "invalid cron expression %q", n.Value)
				return nil, false
			}
			if ss, ok := s.(*cron.SpecSchedule); ok && neverFires(ss) {
				p.errorAt(n, "no month chosen has such a day: February has 29 days at most; April, June, September and November 30",
					"cron expression %q never fires", n.Value)
				return nil, false
			}
			return &Cron{Src: n.Value, Schedule: s}, true
		})

	// DateType is a calendar date, YYYY-MM-DD.
	DateType = scalarType("date", "A date, `YYYY-MM-DD`.",
		map[string]any{"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`},
		func(p *parser, n *yaml.Node) (any, bool) {
			t, err := time.Parse(time.DateOnly, n.Value)
			if err != nil {
				p.errorAt(n, "write dates as YYYY-MM-DD, e.g. 2026-10-01", "invalid date %q", n.Value)
				return nil, false
			}
			return Date{t}, true
		})

	// Glob is a pattern where `*` matches any text and `?` one character.
	Glob = scalarType("glob", "Exact text, or a pattern where `*` matches any text and `?` one character; written as is (not a template: `${...}` in it is an error).",
		map[string]any{"type": "string"},
		func(p *parser, n *yaml.Node) (any, bool) {
			if strings.TrimSpace(n.Value) == "" {
				p.errorAt(n, "* matches any text, ? one character", "empty pattern")
				return nil, false
			}
			example := "store_*"
			if p.key == "menu" {
				example = "MENU_*"
			}
			if p.notTemplate(n, "", "matched", "write * where the text varies, e.g. "+example+", or compare it in if:") {
				return nil, false
			}
			return n.Value, true
		})
)

func init() {
	Glob.literal, Regex.literal = true, true
}

// Literal is base (String) written as is, not a template: `${` in it is an
// error at the `${`, saying that key's value would be used (matched,
// sent) as written, with hint. key names the key in the message; "" for
// the key being parsed.
func Literal(base *Type, key, use, hint string) *Type {
	t := &Type{Name: base.Name, Doc: base.Doc, Fields: base.Fields, Elem: base.Elem, Alts: base.Alts, kinds: base.kinds, literal: true, schema: base.schema}
	t.parse = func(p *parser, n *yaml.Node) (any, bool) {
		if n.Kind == yaml.ScalarNode && p.notTemplate(n, key, use, hint) {
			return nil, false
		}
		return base.parse(p, n)
	}
	return t
}

// notTemplate reports a `${` in a scalar written as is (a key that is not
// a template), at the `${`: the value would be used as written, `${`
// and all. `$${` is no escape there. It returns whether it reported.
func (p *parser) notTemplate(n *yaml.Node, key, use, hint string) bool {
	i := strings.Index(n.Value, "${")
	if i < 0 {
		return false
	}
	if key == "" {
		key = p.key
	}
	if strings.Contains(n.Value, "$${") {
		hint += "; $${ is an escape in templates only"
	}
	at := p.pos(n)
	if o := p.find(firstLine(n.Value[i:]), p.nodeOffset(n)); o >= 0 {
		at = p.posAt(o)
	}
	p.report(SeverityError, at, hint, fmt.Sprintf("%s: is not a template: %q would be %s as written", key, n.Value, use))
	return true
}

// Enum is a type that accepts one of the given words.
func Enum(values ...string) *Type {
	name := "one of " + strings.Join(values, ", ")
	enum := make([]any, len(values))
	for i, v := range values {
		enum[i] = v
	}
	return scalarType(name, "One of: `"+strings.Join(values, "`, `")+"`.", map[string]any{"type": "string", "enum": enum},
		func(p *parser, n *yaml.Node) (any, bool) {
			for _, v := range values {
				if n.Value == v {
					return v, true
				}
			}
			hint := didYouMean(n.Value, values)
			if hint == "" {
				hint = "one of " + strings.Join(values, ", ")
			}
			p.errorAt(n, hint, "%sinvalid value %q", keyPrefix(p), n.Value)
			return nil, false
		})
}

// ListOf is a list of values of one type. A single value where a list is
// expected is an error, so that `tag: vip` and `tag: [vip]` are not confused.
func ListOf(elem *Type, nonEmpty bool) *Type {
	t := &Type{Name: "list of " + elem.Name + "s", Doc: "A list.", Elem: elem, kinds: kSeq}
	t.parse = func(p *parser, n *yaml.Node) (any, bool) {
		if n.Kind != yaml.SequenceNode {
			p.errorAt(n, "write a list: [a, b] or one \"- item\" per line", "expected a list of %ss, got %s", elem.Name, describeNode(n))
			return nil, false
		}
		if nonEmpty && len(n.Content) == 0 {
			p.errorAt(n, "", "%s needs at least one item, but the list is empty", p.key)
			return nil, false
		}
		out := make([]any, 0, len(n.Content))
		ok := true
		for _, c := range n.Content {
			v, good := p.parseValue(elem, c)
			ok = ok && good
			out = append(out, v)
		}
		return out, ok
	}
	t.schema = func(g *schemaGen) map[string]any {
		s := map[string]any{"type": "array", "items": g.typeSchema(elem)}
		if nonEmpty {
			s["minItems"] = 1
		}
		return s
	}
	return t
}

// MapOf is a map from names to values of one type, parsed as an *Object.
func MapOf(elem *Type) *Type {
	t := &Type{Name: "map of " + elem.Name, Doc: "A map.", Elem: elem, kinds: kMap}
	t.parse = func(p *parser, n *yaml.Node) (any, bool) { return p.object(n, nil, elem, "") }
	t.schema = func(g *schemaGen) map[string]any {
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(elem)}
	}
	return t
}

// ObjectOf is a map with the given keys, parsed as an *Object. where names
// the map in error messages ("http request").
func ObjectOf(name, where string, fields ...Field) *Type {
	t := &Type{Name: name, Doc: "A map.", Fields: fields, kinds: kMap}
	t.parse = func(p *parser, n *yaml.Node) (any, bool) { return p.object(n, fields, nil, where) }
	t.schema = func(g *schemaGen) map[string]any { return g.objectSchema(fields, nil) }
	return t
}

// OneOf accepts the first alternative whose shape (scalar, list or map)
// matches the value.
func OneOf(name string, alts ...*Type) *Type {
	t := &Type{Name: name, Alts: alts}
	for _, a := range alts {
		t.kinds |= a.kinds
	}
	t.parse = func(p *parser, n *yaml.Node) (any, bool) {
		k := kindOf(n)
		for _, a := range alts {
			if a.kinds&k != 0 {
				return a.parse(p, n)
			}
		}
		var names []string
		for _, a := range alts {
			names = append(names, article(a.Name))
		}
		p.errorAt(n, "", "expected %s, got %s", strings.Join(names, " or "), describeNode(n))
		return nil, false
	}
	t.schema = func(g *schemaGen) map[string]any {
		var any_ []any
		for _, a := range alts {
			any_ = append(any_, g.typeSchema(a))
		}
		return map[string]any{"anyOf": any_}
	}
	return t
}

// Refine builds a type from base whose parsed value is checked (and
// possibly converted) by check. check reports problems through r and
// returns false when the value is unusable.
func Refine(base *Type, name, doc string, check func(v any, at Pos, r *Reporter) (any, bool)) *Type {
	t := &Type{Name: name, Doc: doc, Fields: base.Fields, Elem: base.Elem, Alts: base.Alts, kinds: base.kinds, literal: base.literal, schema: base.schema}
	t.parse = func(p *parser, n *yaml.Node) (any, bool) {
		v, ok := base.parse(p, n)
		if !ok {
			return v, false
		}
		return check(v, p.pos(n), &Reporter{p: p})
	}
	return t
}

// Steps is a list of steps (`then:`, `when_open:`, ...).
var Steps = &Type{Name: "step list", Doc: "A list of steps.", kinds: kSeq}

// StepsOrRef is a list of steps, or the id of a step to go to.
var StepsOrRef = &Type{Name: "steps or step id", Doc: "A list of steps, or the id of a step to go to.", kinds: kSeq | kScalar}

// JSON is any YAML value, sent as JSON; strings inside it are templates.
var JSON = &Type{Name: "JSON value", Doc: "Any value (map, list, text, number); texts are templates.", kinds: kScalar | kSeq | kMap}

// stepsType is the flow's top-level step list.
var stepsType = &Type{Name: "step list", Doc: "A list of steps.", kinds: kSeq}

// triggersType is the flow's trigger list.
var triggersType = &Type{Name: "trigger list", Doc: "A list of triggers.", kinds: kSeq}

func init() {
	Steps.parse = func(p *parser, n *yaml.Node) (any, bool) { return p.stepList(n, false) }
	Steps.schema = func(g *schemaGen) map[string]any { return g.stepsSchema() }
	stepsType.parse = func(p *parser, n *yaml.Node) (any, bool) { return p.stepList(n, true) }
	stepsType.schema = Steps.schema
	StepsOrRef.parse = func(p *parser, n *yaml.Node) (any, bool) {
		if n.Kind == yaml.SequenceNode || isNull(n) {
			steps, ok := p.stepList(n, false)
			return &Target{Steps: steps, Pos: p.pos(n)}, ok
		}
		v, ok := Ref.parse(p, n)
		if !ok {
			return nil, false
		}
		return &Target{Ref: v.(StepRef), Pos: p.pos(n)}, true
	}
	StepsOrRef.schema = func(g *schemaGen) map[string]any {
		return map[string]any{"anyOf": []any{g.stepsSchema(), map[string]any{"type": "string"}}}
	}
	JSON.parse = func(p *parser, n *yaml.Node) (any, bool) { return p.jsonValue(n) }
	JSON.schema = func(*schemaGen) map[string]any { return map[string]any{} }
	triggersType.parse = func(p *parser, n *yaml.Node) (any, bool) { return p.triggerList(n) }
	triggersType.schema = func(g *schemaGen) map[string]any { return g.triggersSchema() }
}

// ParseDuration parses durations such as 30s, 10m, 2h, 3d and 1h30m.
// It accepts Go's units plus `d` (24 hours) and rejects zero or negative
// lengths.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	tooLong := false
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		num := rest[:i]
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
			j++
		}
		unit := strings.Trim(rest[:j], " ")
		rest = rest[j:]
		var mult time.Duration
		switch unit {
		case "ms":
			mult = time.Millisecond
		case "s":
			mult = time.Second
		case "m":
			mult = time.Minute
		case "h":
			mult = time.Hour
		case "d":
			mult = 24 * time.Hour
		case "":
			return 0, fmt.Errorf("duration %q has no unit", s)
		default:
			return 0, fmt.Errorf("unknown unit %q in duration %q", unit, s)
		}
		f, err := strconv.ParseFloat(num, 64)
		if errors.Is(err, strconv.ErrRange) && f > 0 {
			tooLong = true // more digits than a float holds: far longer than any wait
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if tooLong {
			continue // the rest is still read: a part with no unit is said first
		}
		part := f * float64(mult)
		if part > float64(math.MaxInt64/2) {
			tooLong = true
			continue
		}
		total += time.Duration(part)
		tooLong = total > math.MaxInt64/2
	}
	if tooLong {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q must be longer than zero", s)
	}
	return total, nil
}

func suggestName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '.':
			b.WriteRune('-')
		}
	}
	if b.Len() == 0 {
		return "my-flow"
	}
	return b.String()
}
