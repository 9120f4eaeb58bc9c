package flows

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one file may expand to (aliases can
// make a small file huge), and maxDepth how deeply steps may nest.
const (
	maxNodes = 200000
	maxDepth = 64
)

// parser walks one file's yaml.Node tree against the registered specs and
// collects every problem as a diagnostic.
type parser struct {
	file  string
	src   []byte
	opts  *Options
	diags Diagnostics

	lineStarts []int
	budget     int
	depth      int
	overBudget bool

	where    string    // "send step", "http request": names the map in messages
	stepSpec *StepSpec // the step being parsed
	key      string    // the key being parsed, for reference messages
	ids      map[string]Pos
	badIDs   map[string]bool // ids written on a step that are not valid ids
	refs     []refUse
	flowRefs []refUse

	// exprUses are the expressions compiled so far, checked against the
	// flow's variables once the whole file is parsed.
	exprUses []exprUse

	// secretsOK is set while a key whose templates may read secrets
	// (Field.Secrets) is parsed.
	secretsOK bool

	// inTrigger is set while a trigger is parsed: its expressions (`if:`,
	// `audience:`) run before the run starts, without its variables.
	inTrigger bool

	// viaAlias is the outermost alias (*name) whose anchored value is
	// being parsed, nil outside one: what it repeats is reported there.
	viaAlias *yaml.Node
	// alias is the innermost alias (*name) whose anchored value is being
	// parsed, nil outside one: a step list that holds itself through an
	// alias is reported there.
	alias *yaml.Node
	// openLists are the step lists being parsed, outermost first: an
	// alias to one of them would nest steps without end.
	openLists []*yaml.Node

	// What parsed, kept for the checks that run after an error: a list
	// with an error is not kept in the Flow (Steps, Triggers, VarDecls
	// are nil then), but the items that did parse are still checked.
	built    []builtStep    // every step built, nested ones too, in document order
	triggers []builtTrigger // every trigger built, in order
	varDecls []VarDecl      // the declarations under vars: that parsed
	// lostVars are variables that a key with an error may declare or
	// write (a step that did not parse, an invalid type under vars:):
	// reading them is not reported, and their type is unknown.
	lostVars map[string]bool
	// writesUnknown is set when what the flow declares or writes cannot
	// be known (vars: is not a map, steps nested too deep, an alias bomb):
	// no read is reported as unknown then.
	writesUnknown bool
	// stepsBroken is set when a step or a list of steps had an error, so
	// that Flow.Steps does not hold the whole flow.
	stepsBroken bool
	// unresolved is set when a jump names no step.
	unresolved bool
}

// builtStep is a step the parser built, and whether it (with its nested
// lists) parsed without error.
type builtStep struct {
	s  *Step
	ok bool
}

// builtTrigger is a trigger the parser built, and whether it parsed
// without error.
type builtTrigger struct {
	t  *Trigger
	ok bool
}

type refUse struct {
	id  string
	pos Pos
}

// Reporter lets a spec's Check function report problems at positions of
// the file being loaded.
type Reporter struct{ p *parser }

// Errorf reports an error at a position; hint may be "".
func (r *Reporter) Errorf(at Pos, hint, format string, args ...any) {
	r.p.report(SeverityError, at, hint, fmt.Sprintf(format, args...))
}

// Warnf reports a warning at a position; hint may be "".
func (r *Reporter) Warnf(at Pos, hint, format string, args ...any) {
	r.p.report(SeverityWarning, at, hint, fmt.Sprintf(format, args...))
}

func newParser(file string, src []byte, opts *Options) *parser {
	p := &parser{file: file, src: src, opts: opts, budget: maxNodes, ids: map[string]Pos{}, badIDs: map[string]bool{}, lostVars: map[string]bool{}}
	p.lineStarts = []int{0}
	for i, b := range src {
		if b == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}
	return p
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (p *parser) report(sev Severity, at Pos, hint, msg string) {
	// Keep positions inside the file (YAML reports some past its end);
	// a value parsed without its file's text (ParseValue) keeps its own.
	lines := len(p.lineStarts)
	if len(p.src) > 0 && p.src[len(p.src)-1] == '\n' {
		lines--
	}
	if p.src != nil {
		at.Line = min(max(at.Line, 1), max(lines, 1))
	}
	at.Line = max(at.Line, 1)
	at.Col = max(at.Col, 1)
	p.diags = append(p.diags, Diagnostic{File: p.file, Line: at.Line, Col: at.Col, Severity: sev, Message: msg, Hint: hint})
}

func (p *parser) errorAt(n *yaml.Node, hint, format string, args ...any) {
	p.report(SeverityError, p.pos(n), hint, fmt.Sprintf(format, args...))
}

// deref follows aliases and spends the node budget, so that alias bombs
// end with one error instead of exhausting memory.
func (p *parser) deref(n *yaml.Node) (*yaml.Node, bool) {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	if n.Kind == yaml.AliasNode {
		p.errorAt(n, "", "alias points nowhere")
		return nil, false
	}
	p.budget--
	if p.budget < 0 {
		if !p.overBudget {
			p.overBudget = true
			p.writesUnknown = true
			p.errorAt(n, "aliases (*name) expand this file beyond 200000 values; write it without them", "file too large once aliases are expanded")
		}
		return nil, false
	}
	return n, true
}

// enterAlias notes n as the alias being expanded when it is one and no
// other is; the function it returns undoes that.
func (p *parser) enterAlias(n *yaml.Node) func() {
	if n == nil || n.Kind != yaml.AliasNode || p.viaAlias != nil {
		return func() {}
	}
	p.viaAlias = n
	return func() { p.viaAlias = nil }
}

// innerAlias notes n as the innermost alias being expanded when it is
// one; the function it returns undoes that.
func (p *parser) innerAlias(n *yaml.Node) func() {
	if n == nil || n.Kind != yaml.AliasNode {
		return func() {}
	}
	old := p.alias
	p.alias = n
	return func() { p.alias = old }
}

// parseValue checks one value against a type.
func (p *parser) parseValue(t *Type, n *yaml.Node) (any, bool) {
	defer p.enterAlias(n)()
	defer p.innerAlias(n)()
	n, ok := p.deref(n)
	if !ok {
		return nil, false
	}
	v, ok := t.parse(p, n)
	if !ok {
		return nil, false // never a typed nil or a half-parsed value
	}
	return v, true
}

// pairs returns a mapping's key/value nodes, reporting duplicate keys and
// keys that are not plain text.
func (p *parser) pairs(n *yaml.Node) [][2]*yaml.Node {
	seen := map[string]int{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorAt(k, "", "a key must be a name, got %s", describeNode(k))
			continue
		}
		if k.Value == "<<" {
			p.errorAt(k, "write the keys out", "merge keys (<<) are not supported")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.errorAt(k, fmt.Sprintf("it is first given at line %d", line), "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func fieldNames(fields []Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

func findField(fields []Field, name string) (Field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

func (p *parser) in() string {
	if p.where == "" {
		return ""
	}
	return " in " + p.where
}

// object parses a map. With fields, only those keys are allowed; with
// elem, any key is allowed and every value has that type.
func (p *parser) object(n *yaml.Node, fields []Field, elem *Type, where string) (*Object, bool) {
	if where != "" {
		defer func(old string) { p.where = old }(p.where)
		p.where = where
	}
	if n.Kind != yaml.MappingNode {
		p.errorAt(n, "", "%sexpected a map%s, got %s", keyPrefix(p), p.in(), describeNode(n))
		return nil, false
	}
	outer := p.key // the key whose value this map is
	defer func() { p.key = outer }()
	o := &Object{Values: map[string]any{}, KeyPos: map[string]Pos{}, ValPos: map[string]Pos{}, Pos: p.pos(n)}
	ok := true
	misspelt := map[string]bool{} // required keys an unknown key is a typo of
	pairs := p.pairs(n)
	commaRun := 0 // keys in a row before this one that a comma ended
	for i, kv := range pairs {
		k, v := kv[0], kv[1]
		if fields == nil && commaEnded(n, k, v) && i+1 < len(pairs) {
			// {sat,sun: x} is two keys to YAML: sat with no value, then
			// sun. Where that is an error, say why, once for the run.
			before := len(p.diags)
			p.key = k.Value
			if p.field(o, elem, k, v) {
				commaRun = 0
				continue
			}
			p.diags = p.diags[:before]
			if commaRun == 0 {
				keys := []string{k.Value}
				for _, next := range pairs[i+1:] {
					keys = append(keys, next[0].Value)
					if !commaEnded(n, next[0], next[1]) {
						break
					}
				}
				p.errorAt(k, fmt.Sprintf("quote a key with a comma, %q: ..., or write the map in block style", strings.Join(keys, ",")),
					"%q has no value: in a { } map, a comma ends a key", k.Value)
			}
			commaRun++
			ok = false
			continue
		}
		commaRun = 0
		t := elem
		if fields != nil {
			f, found := findField(fields, k.Value)
			if !found {
				hint := didYouMean(k.Value, fieldNames(fields))
				if hint == "" && p.stepSpec != nil && outer == p.stepSpec.Kind {
					if _, sibling := findField(append(stepCommonKeys, p.stepSpec.Keys...), k.Value); sibling {
						hint = fmt.Sprintf("%q belongs beside %q, not under it", k.Value, p.stepSpec.Kind+":")
					}
				}
				if hint == "" {
					hint = "allowed keys: " + strings.Join(fieldNames(fields), ", ")
				}
				if s := suggest(k.Value, fieldNames(fields)); s != "" {
					misspelt[s] = true
				}
				p.errorAt(k, hint, "unknown key %q%s", k.Value, p.in())
				ok = false
				continue
			}
			t = f.Type
		}
		p.key = k.Value
		if fields != nil {
			f, _ := findField(fields, k.Value)
			old := p.secretsOK
			p.secretsOK = f.Secrets
			ok = p.field(o, t, k, v) && ok
			p.secretsOK = old
			continue
		}
		ok = p.field(o, t, k, v) && ok
	}
	for _, f := range fields {
		if f.Required && !o.Given(f.Name) && !p.keyGiven(n, f.Name) && !misspelt[f.Name] {
			hint := missingHint(f)
			if where == "flow" && f.Name == "name" {
				hint = nameHint(p.file)
			}
			p.errorAt(n, hint, "missing key %q%s", f.Name, p.in())
			ok = false
		}
	}
	return o, ok
}

// missingHint says how to add a required key that is missing, with the
// field's example when it has one.
func missingHint(f Field) string {
	if f.Example == "" {
		return fmt.Sprintf("add %s:", f.Name)
	}
	return fmt.Sprintf("add %s:, e.g. %s: %s", f.Name, f.Name, f.Example)
}

// field parses the value of key k into o. The key's position is kept even
// when its value is invalid, so that checks know it was written.
func (p *parser) field(o *Object, t *Type, k, v *yaml.Node) bool {
	o.KeyPos[k.Value] = p.pos(k)
	o.ValPos[k.Value] = p.pos(v)
	val, ok := p.parseValue(t, v)
	if !ok {
		return false
	}
	o.Keys = append(o.Keys, k.Value)
	o.Values[k.Value] = val
	return true
}

// commaEnded reports whether a key of a { } map has no value because a
// comma ended it right after its name ({sat,sun: x}, {sat, sun: x}).
func commaEnded(m, k, v *yaml.Node) bool {
	return m.Style&yaml.FlowStyle != 0 && k.Kind == yaml.ScalarNode && k.Style == 0 && isNull(v) && v.Value == "" &&
		v.Line == k.Line && v.Column == k.Column+utf8.RuneCountInString(k.Value)
}

func (p *parser) keyGiven(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// template compiles a `${...}` template.
func (p *parser) template(n *yaml.Node) (any, bool) {
	segs, off, msg := splitTemplate(n.Value)
	cursor := p.nodeOffset(n)
	if msg != "" {
		at := p.pos(n)
		if o := p.find(firstLine(n.Value[off:]), cursor); o >= 0 {
			at = p.posAt(o)
		}
		p.report(SeverityError, at, "close it with }, or write $${ for a literal ${", msg)
		return nil, false
	}
	t := &Template{Src: n.Value}
	ok := true
	for _, s := range segs {
		if !s.isExpr {
			t.parts = append(t.parts, templatePart{lit: s.lit})
			continue
		}
		needle := "${" + firstLine(s.expr)
		at, exprOff := p.pos(n), -1
		if o := p.find(needle, cursor); o >= 0 {
			at, exprOff, cursor = p.posAt(o+2), o+2, o+len(needle)
		}
		if strings.TrimSpace(s.expr) == "" {
			at.Col = max(at.Col-2, 1)
			p.report(SeverityError, at, "put an expression inside, e.g. ${contact.fields.name}", "empty ${} in template")
			ok = false
			continue
		}
		e, good := p.compile(s.expr, ExprAny, at, exprOff)
		if good && len(e.secrets) > 0 {
			good = p.checkSecrets(s.expr, e.secrets, e.alone, true, at, exprOff)
		}
		ok = ok && good
		part := templatePart{expr: e}
		if good && e != nil {
			part.secret = e.alone
		}
		t.parts = append(t.parts, part)
	}
	return t, ok
}

// expr compiles a whole-value expression (`if:`, `audience:`, `until:`).
func (p *parser) expr(n *yaml.Node, kind ExprKind) (any, bool) {
	src := strings.TrimSpace(n.Value)
	if src == "" {
		p.errorAt(n, "", "empty expression")
		return nil, false
	}
	if strings.HasPrefix(src, "${") && strings.HasSuffix(src, "}") {
		p.errorAt(n, "write the expression without ${ }: "+src[2:len(src)-1], "%s: is an expression, not a template", p.key)
		return nil, false
	}
	at, off := p.pos(n), -1
	o := p.find(firstLine(n.Value), p.nodeOffset(n))
	if o < 0 { // folded: the first line of the value is not a line of the file
		o = p.find(strings.Fields(n.Value)[0], p.nodeOffset(n))
	}
	if o >= 0 {
		at, off = p.posAt(o), o
	}
	e, ok := p.compile(n.Value, kind, at, off)
	if ok && p.inTrigger && !p.checkTriggerNames(e, off) {
		p.exprUses = p.exprUses[:len(p.exprUses)-1] // reported: not checked again as a read
		return nil, false
	}
	if ok && len(e.secrets) > 0 {
		if !p.checkSecrets(n.Value, e.secrets, e.alone, false, at, off) {
			return nil, false
		}
	}
	return e, ok
}

// runNames are the names of the environment that only a run has: a
// trigger's expressions are evaluated before its run starts, where they
// are always empty.
var runNames = map[string]string{
	"vars":   "the run's variables do not exist yet (vars is always empty there)",
	"answer": "no ask has been answered yet (answer is always nil there)",
	"http":   "no http step has run yet (http is always empty there)",
}

// checkTriggerNames reports a trigger's `if:` or `audience:` that reads
// vars, answer or http: evaluated before the run starts, such a read
// is always empty, so the trigger never (or always) matches in silence.
func (p *parser) checkTriggerNames(e *Expr, off int) bool {
	ok := true
	seen := map[string]bool{}
	ast.Find(e.program.Node(), func(n ast.Node) bool {
		id, isID := n.(*ast.IdentifierNode)
		if !isID || runNames[id.Value] == "" || seen[id.Value] {
			return false
		}
		seen[id.Value] = true
		ok = false
		ee := (&file.Error{Location: id.Location()}).Bind(file.NewSource(e.Src))
		pos := p.exprErrorPos(e.Src, &exprError{line: ee.Line, col: ee.Column}, e.Pos, off)
		p.diags = append(p.diags, Diagnostic{File: p.file, Line: pos.Line, Col: pos.Col, Severity: SeverityError,
			Message: fmt.Sprintf("%s: of a trigger is evaluated before its run starts: %s", p.key, runNames[id.Value]),
			Hint:    "test it in the flow's steps (a step's if:, a branch), or keep the value in contact.fields",
			Snippet: snippet(p.src, pos.Line, pos.Col)})
		return false
	})
	return ok
}

// compile compiles one expression that starts at position at (byte offset
// off in the file, or -1 when unknown), reporting its errors at their own
// place inside the file.
func (p *parser) compile(src string, kind ExprKind, at Pos, off int) (*Expr, bool) {
	c := compileExpr(src, kind)
	if c.err != nil {
		e := c.err
		pos := p.exprErrorPos(src, e, at, off)
		p.diags = append(p.diags, Diagnostic{File: p.file, Line: pos.Line, Col: pos.Col, Severity: SeverityError,
			Message: e.msg, Hint: e.hint, Snippet: snippet(p.src, pos.Line, pos.Col)})
		return nil, false
	}
	e := &Expr{Src: src, Pos: at, program: c.program, secrets: c.secrets, alone: c.alone}
	p.exprUses = append(p.exprUses, exprUse{e: e, kind: kind, off: off})
	return e, true
}

// exprErrorPos maps a position inside an expression to the file. The
// expression's text is looked up in the source, so that escapes, quoted
// and folded scalars and block indentation do not shift it; where the
// text cannot be found the expression's start is used.
func (p *parser) exprErrorPos(src string, e *exprError, at Pos, off int) Pos {
	lines := strings.Split(src, "\n")
	if off < 0 || e.line < 1 || e.line > len(lines) {
		return at
	}
	line := lines[e.line-1]
	lineOff := off
	if e.line > 1 {
		trimmed := strings.TrimSpace(line)
		o := p.find(trimmed, off)
		if trimmed == "" || o < 0 {
			return at
		}
		lineOff = o
		e = &exprError{line: 1, col: e.col - (utf8.RuneCountInString(line) - utf8.RuneCountInString(strings.TrimLeft(line, " \t"))), msg: e.msg}
	}
	pos := p.posAt(lineOff)
	pos.Col += max(e.col, 0)
	// A folded or quoted expression may continue on the next source line:
	// find the text at the error instead of counting past the line's end.
	if width := p.lineWidth(pos.Line); pos.Col > width+1 {
		runes := []rune(line)
		rest := strings.Fields(string(runes[min(max(e.col, 0), len(runes)):]))
		if len(rest) > 0 {
			if o := p.find(rest[0], lineOff); o >= 0 {
				return p.posAt(o)
			}
		}
		pos.Col = width + 1
	}
	return pos
}

// nodeOffset returns the byte offset where a node starts.
func (p *parser) nodeOffset(n *yaml.Node) int {
	if n.Line < 1 || n.Line > len(p.lineStarts) {
		return 0
	}
	off := p.lineStarts[n.Line-1]
	for c := 1; c < n.Column && off < len(p.src) && p.src[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(p.src[off:])
		off += size
	}
	return off
}

// find returns the byte offset of text in the source at or after from, or -1.
func (p *parser) find(text string, from int) int {
	if text == "" || from < 0 || from > len(p.src) {
		return -1
	}
	i := bytes.Index(p.src[from:], []byte(text))
	if i < 0 {
		return -1
	}
	return from + i
}

// posAt converts a byte offset to a position.
func (p *parser) posAt(off int) Pos {
	line := sort.Search(len(p.lineStarts), func(i int) bool { return p.lineStarts[i] > off })
	line = max(line, 1)
	return Pos{Line: line, Col: utf8.RuneCount(p.src[p.lineStarts[line-1]:off]) + 1}
}

// lineWidth returns the number of characters on a line.
func (p *parser) lineWidth(line int) int {
	if line < 1 || line > len(p.lineStarts) {
		return 0
	}
	end := len(p.src)
	if line < len(p.lineStarts) {
		end = p.lineStarts[line] - 1
	}
	return utf8.RuneCount(bytes.TrimRight(p.src[p.lineStarts[line-1]:end], "\r"))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (p *parser) savePath(n *yaml.Node) (any, bool) {
	v := n.Value
	if reSave.MatchString(v) {
		return v, true
	}
	hint := SavePathHint(v)
	switch {
	case strings.HasPrefix(v, "contact.") && !strings.HasPrefix(v, "contact.fields."):
		hint = "contact's own fields are read-only; use contact.fields." + lastSegment(v)
	case !strings.Contains(v, "."):
		hint = fmt.Sprintf("did you mean \"vars.%s\"?", v)
		if reVarName.MatchString(v) {
			p.lostVars[v] = true // the hint's vars.NAME is not an unknown variable too
		}
	}
	p.errorAt(n, hint, "cannot save to %q", v)
	return nil, false
}

// SavePathHint says how to write a place a value can be stored instead
// of v: when v has the right start but a name that is not one (a space,
// a dash, a Chinese character), what a name is and v's name written as
// one.
func SavePathHint(v string) string {
	for _, prefix := range []string{"vars.", "contact.fields."} {
		name, ok := strings.CutPrefix(v, prefix)
		if !ok || name == "" {
			continue
		}
		h := "a name is ASCII letters, digits and _, not starting with a digit"
		if fixed := nameLike(name); fixed != "" {
			h += ": " + prefix + fixed
		}
		return h
	}
	return "use vars.<name> or contact.fields.<name>"
}

// nameLike writes s as a variable or field name (its other characters
// as _), or "" when nothing of it is left.
func nameLike(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '_' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	out := strings.TrimRight(b.String(), "_")
	if out != "" && out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	if !reVarName.MatchString(out) {
		return ""
	}
	return out
}

func lastSegment(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// jsonValue converts any YAML value into a JSON-ready value whose strings
// are templates.
func (p *parser) jsonValue(n *yaml.Node) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		ok := true
		for _, kv := range p.pairs(n) {
			v, good := p.parseValue(JSON, kv[1])
			ok = ok && good
			m[kv[0].Value] = v
		}
		return m, ok
	case yaml.SequenceNode:
		out := []any{}
		ok := true
		for _, c := range n.Content {
			v, good := p.parseValue(JSON, c)
			ok = ok && good
			out = append(out, v)
		}
		return out, ok
	}
	switch n.Tag {
	case "!!null":
		return nil, true
	case "!!bool":
		return n.Value == "true", true
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return i, true
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f, true
		}
	}
	return p.template(n)
}

// stepList parses a list of steps.
func (p *parser) stepList(n *yaml.Node, top bool) ([]*Step, bool) {
	if isNull(n) {
		if top {
			p.errorAt(n, "add at least one step, e.g. - send: \"Hello\"", "a flow needs at least one step")
			return nil, false
		}
		return []*Step{}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errorAt(n, "write one \"- kind: ...\" item per step", "expected a list of steps, got %s", describeNode(n))
		return nil, false
	}
	if top && len(n.Content) == 0 {
		p.errorAt(n, "add at least one step, e.g. - send: \"Hello\"", "a flow needs at least one step")
		return nil, false
	}
	for _, open := range p.openLists {
		if open == n && p.alias != nil && p.alias.Alias != nil {
			p.errorAt(p.alias, "an alias cannot repeat what it is in; to do those steps again, give the first an id: and jump to it with goto:",
				"the alias *%s holds itself: it repeats line %d, which it is in, so the steps would nest without end", p.alias.Value, p.alias.Alias.Line)
			p.writesUnknown = true
			return nil, false
		}
	}
	if p.depth >= maxDepth {
		p.errorAt(n, "move the innermost steps to the top level with an id: and jump to them with goto:, or into a flow of their own run by start:",
			"steps nested more than %d deep", maxDepth)
		p.writesUnknown = true
		return nil, false
	}
	p.depth++
	p.openLists = append(p.openLists, n)
	// Steps nested in a key never inherit its leave to read secrets.
	defer func(old bool) { p.depth--; p.openLists = p.openLists[:len(p.openLists)-1]; p.secretsOK = old }(p.secretsOK)
	p.secretsOK = false
	steps := make([]*Step, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := p.step(c)
		ok = ok && good
		if s != nil {
			steps = append(steps, s)
		}
	}
	if !ok {
		p.stepsBroken = true
	}
	return steps, ok
}

// kindOfItem finds which keys of a step or trigger map are kinds.
func (p *parser) kindsIn(n *yaml.Node, isKind func(string) bool) []*yaml.Node {
	var out []*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		// A kind given twice is a duplicate key (reported as such), not
		// a second kind.
		if k := n.Content[i].Value; isKind(k) && !seen[k] {
			seen[k] = true
			out = append(out, n.Content[i])
		}
	}
	return out
}

// step parses one step and records it in p.built. The variables a step
// with an error may write are recorded as lost: what it writes is not
// known, and reading them is no error of its own.
func (p *parser) step(n *yaml.Node) (*Step, bool) {
	i := len(p.built)
	p.built = append(p.built, builtStep{}) // its place comes before its nested steps'
	s, ok := p.parseStep(n)
	p.built[i] = builtStep{s: s, ok: ok}
	if !ok {
		p.loseWrites(n)
		if s != nil && s.Spec.Writes != nil {
			for _, w := range s.Spec.Writes(s) {
				p.lostVars[w.Name] = true
			}
		}
	}
	return s, ok
}

// loseWrites records as lost every variable a YAML value with an error
// mentions as a place to write: a key vars.NAME (set:) or a save:
// vars.NAME, at any depth.
func (p *parser) loseWrites(n *yaml.Node) {
	if n == nil || n.Kind == yaml.AliasNode {
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if name, ok := strings.CutPrefix(k.Value, "vars."); ok && k.Kind == yaml.ScalarNode && reVarName.MatchString(name) {
				p.lostVars[name] = true
			}
			if k.Value == "save" && v.Kind == yaml.ScalarNode {
				if name, ok := strings.CutPrefix(v.Value, "vars."); ok && reVarName.MatchString(name) {
					p.lostVars[name] = true
				}
			}
		}
	}
	for _, c := range n.Content {
		p.loseWrites(c)
	}
}

// parseStep parses one step.
func (p *parser) parseStep(n *yaml.Node) (*Step, bool) {
	defer p.enterAlias(n)()
	defer p.innerAlias(n)()
	n, ok := p.deref(n)
	if !ok {
		return nil, false
	}
	isKind := func(k string) bool { _, ok := LookupStep(k); return ok }
	switch {
	case isNull(n):
		p.errorAt(n, `write a step, e.g. - send: "Hello"`, "empty step")
		return nil, false
	case n.Kind == yaml.ScalarNode:
		spec, found := LookupStep(n.Value)
		if !found {
			p.errorAt(n, kindHint(n.Value, stepKinds(), "step"), "unknown step kind %q", n.Value)
			return nil, false
		}
		s := &Step{Kind: spec.Kind, Spec: spec, Pos: p.pos(n), ArgPos: p.pos(n), Args: emptyObject(p.pos(n))}
		if spec.ArgRequired {
			p.errorAt(n, "", "%s step needs a value: %s", spec.Kind, spec.ArgDoc)
			return s, false
		}
		p.checkStep(s)
		return s, true
	case n.Kind != yaml.MappingNode:
		p.errorAt(n, `write a step, e.g. - send: "Hello"`, "expected a step, got %s", describeNode(n))
		return nil, false
	}
	kinds := p.kindsIn(n, isKind)
	if len(kinds) == 0 {
		p.noKind(n, "step", stepKinds(), stepCommonKeys)
		return nil, false
	}
	if len(kinds) > 1 {
		p.errorAt(kinds[1], "split it into two steps", "a step has one kind, but this one has %q and %q", kinds[0].Value, kinds[1].Value)
		ok = false
	}
	spec, _ := LookupStep(kinds[0].Value)
	old, oldSpec := p.where, p.stepSpec
	p.where, p.stepSpec = spec.Kind+" step", spec
	defer func() { p.where, p.stepSpec = old, oldSpec }()
	s := &Step{Kind: spec.Kind, Spec: spec, Pos: p.pos(n)}
	args := emptyObject(p.pos(n))
	for _, kv := range p.pairs(n) {
		k, v := kv[0], kv[1]
		p.key = k.Value
		switch {
		case k.Value == spec.Kind:
			s.ArgPos = p.pos(v)
			s.HasArg = !isNull(v)
			arg, good := p.kindArg(spec.Kind, spec.Arg, spec.ArgRequired, spec.ArgDoc, v)
			ok = ok && good
			s.Arg = arg
		case k.Value == "id":
			id, good := p.parseValue(StepID, v)
			if !good && v.Kind == yaml.ScalarNode {
				p.badIDs[v.Value] = true
			}
			if good {
				s.ID = id.(string)
				if first, dup := p.ids[s.ID]; dup && p.viaAlias != nil {
					// The anchored step is parsed again: its id is at
					// the anchor, and the copy is the alias.
					p.errorAt(p.viaAlias, "an alias copies steps with their ids: write the copy out with another id, or jump to the first with goto: "+s.ID,
						"duplicate step id %q: the alias *%s copies it from line %d", s.ID, p.viaAlias.Value, first.Line)
					ok = false
				} else if dup {
					p.errorAt(v, fmt.Sprintf("it is first used at line %d", first.Line), "duplicate step id %q", s.ID)
					ok = false
				} else {
					p.ids[s.ID] = p.pos(v)
				}
			}
			ok = ok && good
		case k.Value == "if":
			e, good := p.parseValue(BoolExpr, v)
			ok = ok && good
			if good {
				s.If = e.(*Expr)
			}
		case isKind(k.Value):
			// second kind: already reported
		default:
			f, found := findField(spec.Keys, k.Value)
			if !found {
				p.errorAt(k, p.unknownKeyHint(k.Value, spec.Kind, spec.Arg, append(fieldNames(stepCommonKeys), fieldNames(spec.Keys)...)), "unknown key %q in %s step", k.Value, spec.Kind)
				ok = false
				continue
			}
			ok = p.field(args, f.Type, k, v) && ok
		}
	}
	s.Args = args
	for _, f := range spec.Keys {
		if f.Required && !p.keyGiven(n, f.Name) {
			p.errorAt(n, missingHint(f), "missing key %q in %s step", f.Name, spec.Kind)
			ok = false
		}
	}
	p.checkStep(s)
	return s, ok
}

func (p *parser) checkStep(s *Step) {
	if s.Spec.Check != nil {
		s.Spec.Check(s, &Reporter{p: p})
	}
}

func emptyObject(at Pos) *Object {
	return &Object{Values: map[string]any{}, KeyPos: map[string]Pos{}, ValPos: map[string]Pos{}, Pos: at}
}

// kindArg parses the value of a step's or trigger's kind key.
func (p *parser) kindArg(kind string, t *Type, required bool, doc string, v *yaml.Node) (any, bool) {
	v, ok := p.deref(v)
	if !ok {
		return nil, false
	}
	if isNull(v) && (t == nil || !required) {
		return nil, true
	}
	if t == nil {
		p.errorAt(v, fmt.Sprintf("write \"%s:\" with nothing after it, or \"- %s\"", kind, kind), "%s takes no value", kind)
		return nil, false
	}
	if isNull(v) {
		p.errorAt(v, doc, "%s needs a value", kind)
		return nil, false
	}
	return t.parse(p, v)
}

// unknownKeyHint explains an unknown key: a typo of an allowed key, or a
// key that belongs inside the kind's map.
func (p *parser) unknownKeyHint(key, kind string, arg *Type, allowed []string) string {
	if h := didYouMean(key, append(allowed, kind)); h != "" {
		return h
	}
	if arg != nil {
		for _, t := range append([]*Type{arg}, arg.Alts...) {
			if _, in := findField(t.Fields, key); in {
				return fmt.Sprintf("%q belongs under %q", key, kind+":")
			}
		}
	}
	return "allowed keys: " + strings.Join(append([]string{kind}, allowed...), ", ")
}

func kindHint(word string, kinds []string, what string) string {
	if h := didYouMean(word, kinds); h != "" {
		return h
	}
	return what + " kinds are " + strings.Join(kinds, ", ")
}

// noKind reports a step or trigger map that names no kind.
func (p *parser) noKind(n *yaml.Node, what string, kinds []string, common []Field) {
	for _, kv := range p.pairs(n) {
		k := kv[0].Value
		if _, isCommon := findField(common, k); isCommon {
			continue
		}
		if what == "step" {
			for _, s := range StepSpecs() {
				if _, ok := findField(s.Keys, k); ok {
					p.errorAt(n, fmt.Sprintf("%q is a key of %s steps; add %s: to this step", k, s.Kind, s.Kind), "step has no kind")
					return
				}
			}
		}
		p.errorAt(kv[0], kindHint(k, kinds, what), "unknown %s kind %q", what, k)
		return
	}
	p.errorAt(n, what+" kinds are "+strings.Join(kinds, ", "), "%s has no kind", what)
}

// triggerList parses a flow's triggers.
func (p *parser) triggerList(n *yaml.Node) (any, bool) {
	if isNull(n) {
		return []*Trigger{}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errorAt(n, "write one \"- kind\" item per trigger, e.g. - follow", "expected a list of triggers, got %s", describeNode(n))
		p.triggers = append(p.triggers, builtTrigger{}) // a trigger of any kind may be meant
		return nil, false
	}
	out := []*Trigger{}
	ok := true
	for _, c := range n.Content {
		t, good := p.trigger(c)
		ok = ok && good
		if t != nil {
			out = append(out, t)
		}
	}
	return out, ok
}

// trigger parses one trigger and records it in p.triggers.
func (p *parser) trigger(n *yaml.Node) (*Trigger, bool) {
	t, ok := p.parseTrigger(n)
	p.triggers = append(p.triggers, builtTrigger{t: t, ok: ok})
	return t, ok
}

func (p *parser) parseTrigger(n *yaml.Node) (*Trigger, bool) {
	n, ok := p.deref(n)
	if !ok {
		return nil, false
	}
	isKind := func(k string) bool { _, ok := LookupTrigger(k); return ok }
	switch {
	case isNull(n):
		p.errorAt(n, "write a trigger, e.g. - follow", "empty trigger")
		return nil, false
	case n.Kind == yaml.ScalarNode:
		spec, found := LookupTrigger(n.Value)
		if !found {
			p.errorAt(n, kindHint(n.Value, triggerKinds(), "trigger"), "unknown trigger kind %q", n.Value)
			return nil, false
		}
		t := &Trigger{Kind: spec.Kind, Spec: spec, Pos: p.pos(n), ArgPos: p.pos(n), Interrupt: spec.InterruptDefault, Args: emptyObject(p.pos(n))}
		if spec.ArgRequired {
			p.errorAt(n, spec.ArgDoc, "%s trigger needs a value", spec.Kind)
			return t, false
		}
		p.checkTrigger(t)
		return t, true
	case n.Kind != yaml.MappingNode:
		p.errorAt(n, "write a trigger, e.g. - follow", "expected a trigger, got %s", describeNode(n))
		return nil, false
	}
	kinds := p.kindsIn(n, isKind)
	if len(kinds) == 0 {
		p.noKind(n, "trigger", triggerKinds(), triggerCommonKeys)
		return nil, false
	}
	if len(kinds) > 1 {
		p.errorAt(kinds[1], "write them as two triggers", "a trigger has one kind, but this one has %q and %q", kinds[0].Value, kinds[1].Value)
		ok = false
	}
	spec, _ := LookupTrigger(kinds[0].Value)
	old := p.where
	p.where = spec.Kind + " trigger"
	p.inTrigger = true
	defer func() { p.where, p.inTrigger = old, false }()
	t := &Trigger{Kind: spec.Kind, Spec: spec, Pos: p.pos(n), Interrupt: spec.InterruptDefault}
	args := emptyObject(p.pos(n))
	for _, kv := range p.pairs(n) {
		k, v := kv[0], kv[1]
		p.key = k.Value
		switch {
		case k.Value == spec.Kind:
			t.ArgPos = p.pos(v)
			arg, good := p.kindArg(spec.Kind, spec.Arg, spec.ArgRequired, spec.ArgDoc, v)
			ok = ok && good
			t.Arg = arg
		case k.Value == "if":
			e, good := p.parseValue(BoolExpr, v)
			ok = ok && good
			if good {
				t.If = e.(*Expr)
			}
		case k.Value == "priority":
			i, good := p.parseValue(Int, v)
			ok = ok && good
			if good {
				t.Priority = i.(int)
			}
		case k.Value == "interrupt":
			b, good := p.parseValue(Bool, v)
			ok = ok && good
			if good {
				t.Interrupt = b.(bool)
			}
		case isKind(k.Value):
		default:
			f, found := findField(spec.Keys, k.Value)
			if !found {
				p.errorAt(k, p.unknownKeyHint(k.Value, spec.Kind, spec.Arg, append(fieldNames(triggerCommonKeys), fieldNames(spec.Keys)...)), "unknown key %q in %s trigger", k.Value, spec.Kind)
				ok = false
				continue
			}
			ok = p.field(args, f.Type, k, v) && ok
		}
	}
	t.Args = args
	p.checkTrigger(t)
	return t, ok
}

func (p *parser) checkTrigger(t *Trigger) {
	if t.Spec.Check != nil {
		t.Spec.Check(t, &Reporter{p: p})
	}
}

// parseFile reads one flow file into a Flow, with every problem found in
// the file itself (references to other flows are checked by the Set).
func parseFile(file string, src []byte, opts *Options) (*Flow, *parser) {
	p := newParser(file, src, opts)
	sum := sha256.Sum256(src)
	f := &Flow{File: file, Source: src, Version: "sha256:" + hex.EncodeToString(sum[:8])}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.report(SeverityError, Pos{1, 1}, "a flow needs name: and steps:, and triggers: unless only start:, the API or an operator start it", "the file is empty")
		} else {
			p.yamlError(err)
		}
		f.Diags = p.diags
		return f, p
	}
	var extra yaml.Node
	err := dec.Decode(&extra)
	for err == nil && len(extra.Content) == 1 && isNull(extra.Content[0]) && extra.Content[0].Value == "" {
		extra = yaml.Node{} // an empty document, after a final ---, is no other flow
		err = dec.Decode(&extra)
	}
	if err == nil {
		p.report(SeverityError, Pos{extra.Line, extra.Column}, "put each flow in its own file", "a flow file holds one flow, but this one has another document after ---")
		// The rest must still be YAML: its syntax error is reported too.
		for {
			var more yaml.Node
			if err := dec.Decode(&more); err != nil {
				if !errors.Is(err, io.EOF) {
					p.yamlError(err)
				}
				break
			}
		}
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		p.report(SeverityError, Pos{1, 1}, "a flow needs name: and steps:, and triggers: unless only start:, the API or an operator start it", "the file is empty")
		f.Diags = p.diags
		return f, p
	}
	p.flow(root, f)
	p.resolveRefs()
	// The checks below go on after an error wherever they can: the
	// variables of steps that did not parse count as written (with a type
	// not known), and the graph is only analysed when every step parsed.
	p.checkVars()
	p.checkWrites()
	if !p.stepsBroken {
		analyse(p, f)
		lintCooldownHours(p, f)
	}
	p.keepParsed(f)
	f.Diags = p.diags.unique()
	return f, p
}

// keepParsed gives the flow what parsed of its steps and triggers, for
// the checks between flows (start:, ties, menu keys), which go on for a
// file with errors.
func (p *parser) keepParsed(f *Flow) {
	for _, b := range p.built {
		if b.s != nil {
			f.parsedSteps = append(f.parsedSteps, b.s)
		}
	}
	for _, b := range p.triggers {
		switch {
		case b.ok:
			f.parsedTriggers = append(f.parsedTriggers, b.t)
		case b.t == nil || b.t.Kind == "menu":
			f.menuUnsure = true
		}
	}
}

// yamlError reports a YAML syntax error where PlaceYAMLError puts it.
func (p *parser) yamlError(err error) {
	s := PlaceYAMLError(p.src, err)
	p.report(SeverityError, Pos{Line: s.Line, Col: s.Col}, s.Hint, "YAML syntax error: "+s.Message)
}

// flow parses the top-level map of a flow file.
func (p *parser) flow(n *yaml.Node, f *Flow) {
	n, ok := p.deref(n)
	if !ok {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorAt(n, "a flow is a map with name:, steps: and usually triggers:", "expected a flow, got %s", describeNode(n))
		return
	}
	o, _ := p.object(n, flowKeys, nil, "flow")
	if o == nil {
		return
	}
	f.Name = o.String("name")
	f.NamePos = o.At("name")
	f.Description = o.String("description")
	f.Account = o.String("account")
	if f.Account != "" {
		p.checkAccount(f.Account, o.At("account"))
	}
	f.Cooldown = o.Duration("cooldown", 0)
	if o.Given("cooldown") {
		f.cooldownPos = o.At("cooldown")
	}
	f.Reentry = o.String("reentry")
	if ds, ok := o.Get("vars").([]VarDecl); ok {
		f.VarDecls = ds
	}
	if f.Reentry == "" {
		f.Reentry = "ignore"
	}
	if ts, ok := o.Get("triggers").([]*Trigger); ok {
		f.Triggers = ts
	}
	if ss, ok := o.Get("steps").([]*Step); ok {
		f.Steps = ss
	}
}

// resolveRefs checks that every jump names a step of the flow.
func (p *parser) resolveRefs() {
	var ids []string
	for id := range p.ids {
		ids = append(ids, id)
	}
	for _, r := range p.refs {
		if _, ok := p.ids[r.id]; ok {
			continue
		}
		if p.badIDs[r.id] {
			// A step declares it, as an invalid id: that error says it.
			p.unresolved = true
			continue
		}
		hint := didYouMean(r.id, ids)
		if hint == "" {
			if len(ids) == 0 {
				hint = "give the target step an id: " + r.id
			} else {
				hint = "step ids in this flow: " + strings.Join(sortedCopy(ids), ", ")
			}
		}
		p.report(SeverityError, r.pos, hint, fmt.Sprintf("no step has id %q", r.id))
		p.unresolved = true
	}
}

// AccountIDPattern is what an account id may be (a config's accounts:,
// a flow's account:): 1 to 32 lowercase letters, digits, _ or -,
// starting with a letter or digit.
var AccountIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// checkAccount checks a flow's account: an id a config could declare, and
// one the config serves when it is known (Options.Accounts).
func (p *parser) checkAccount(id string, at Pos) {
	if !AccountIDPattern.MatchString(id) {
		p.report(SeverityError, at, "write the account's id as the config names it (main, shop-hk)",
			fmt.Sprintf("account %q is no account id: 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit", id))
		return
	}
	if p.opts != nil && p.opts.Accounts != nil && !slices.Contains(p.opts.Accounts, id) {
		hint := "the config's accounts are " + strings.Join(p.opts.Accounts, ", ")
		if d := didYouMean(id, p.opts.Accounts); d != "" {
			hint = d
		}
		p.report(SeverityWarning, at, hint, fmt.Sprintf("the config serves no account %q: this flow never starts", id))
	}
}
