package flows

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// ExprKind says what an expression must produce.
type ExprKind int

const (
	// ExprAny accepts any result (templates).
	ExprAny ExprKind = iota
	// ExprBool requires a boolean (`if:`, `audience:`).
	ExprBool
	// ExprTime requires a time (`until:`).
	ExprTime
)

// Expr is an expression compiled at load time.
type Expr struct {
	// Src is the expression's source text.
	Src string
	// Pos is where the expression starts in its file.
	Pos     Pos
	program *vm.Program
	// secrets are the expression's readings of `secret`, and alone the
	// NAME when it is exactly secret.NAME.
	secrets []secretUse
	alone   string
}

// Eval runs the expression in env.
func (e *Expr) Eval(env *Env) (any, error) {
	out, err := expr.Run(e.program, env)
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", e.Src, err)
	}
	return out, nil
}

// EvalBool runs a boolean expression in env. A nil expression is true.
func (e *Expr) EvalBool(env *Env) (bool, error) {
	if e == nil {
		return true, nil
	}
	out, err := e.Eval(env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: got %T, want a boolean", e.Src, out)
	}
	return b, nil
}

// compiled is one cached compilation: expressions are compiled once per
// distinct source and kind, however many flows use them.
type compiled struct {
	program *vm.Program
	err     *exprError
	secrets []secretUse
	alone   string
}

type exprKey struct {
	src  string
	kind ExprKind
}

var exprCache sync.Map // exprKey -> *compiled

// exprError is a compile error with its position inside the expression.
type exprError struct {
	line, col int // 1-based line, 0-based column inside the expression
	msg, hint string
}

var timeType = reflect.TypeOf(time.Time{})

func compileExpr(src string, kind ExprKind) *compiled {
	key := exprKey{src, kind}
	if c, ok := exprCache.Load(key); ok {
		return c.(*compiled)
	}
	c := &compiled{}
	opts := []expr.Option{expr.Env(Env{}), withDate, expr.Patch(envPatch{})}
	if kind == ExprBool {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		c.err = translateExprError(err, src)
	} else if kind == ExprTime {
		if t := p.Node().Type(); t != nil && t != timeType && t.Kind() != reflect.Interface {
			c.err = &exprError{line: 1, msg: fmt.Sprintf("expression must give a time, but gives %s", t)}
		}
	}
	if c.err == nil {
		c.err = checkConstCalls(src, p.Node())
	}
	if c.err == nil {
		// Checked as written, the expression runs with nothing in no
		// order (envPatch.order): a patch made where the check found no
		// error, so that errors are always those of what was written.
		if po, err := expr.Compile(src, append(opts[:len(opts):len(opts)], expr.Patch(envPatch{order: true}))...); err == nil {
			p = po
		}
		c.program = p
		c.secrets, c.alone = secretUses(src)
	}
	actual, _ := exprCache.LoadOrStore(key, c)
	return actual.(*compiled)
}

// envPatch adapts expressions to the flow language, after expr has
// parsed and typed them:
//
//   - A field or an index of nothing gives nothing, as `?.` does:
//     `vars.r.body.id` after a failed call, or over an answer without
//     `body`, is nil (an empty text in a template), not an error that
//     fails the run. Only members of values whose type is not known when
//     the flow loads (JSON answers, variables, fields) are made so; a
//     method's callee is left as written, for a call needs its member.
//   - Nothing is in no order: an ordering comparison (<, >, <=, >=) with
//     nothing on either side is false, and `!nothing` is true, as an
//     `if:` of nothing is false (`contact.fields.age >= 18` for a contact
//     without an age), not an error that fails the run. Comparisons whose
//     operand types are known not to fit are left to the checker's error.
//   - date() without a zone reads its text in the server's zone (that of
//     `now`), as every other time of a flow is; expr's own default is UTC.
//     (date is withDate's function, not expr's builtin.)
type envPatch struct {
	// order patches the ordering comparisons and `!` (only).
	order bool
}

// Visit implements ast.Visitor.
func (v envPatch) Visit(node *ast.Node) {
	if v.order {
		v.visitOrder(node)
		return
	}
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if n.Optional || n.Node.Type() == nil || n.Node.Type().Kind() != reflect.Interface {
			return
		}
		n.Optional = true
		chain := &ast.ChainNode{Node: n}
		ast.Patch(node, chain)
	case *ast.CallNode:
		// Unwrap a callee: expr calls a method of a member, not of a chain.
		if ch, ok := n.Callee.(*ast.ChainNode); ok {
			if m, ok := ch.Node.(*ast.MemberNode); ok && m.Optional {
				m.Optional = false
				n.Callee = m
			}
		}
		if isDateCall(n) && len(n.Arguments) > 0 && !isServerZone(n.Arguments[0]) {
			n.Arguments = append([]ast.Node{serverZone()}, n.Arguments...)
		}
	}
}

// visitOrder puts exprOrder in place of an ordering comparison and
// exprNot in place of `!`, where the types allow nothing on a side.
func (envPatch) visitOrder(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "<", ">", "<=", ">=":
			// Only a side of a type not known when the flow loads can
			// be nothing: typed comparisons run as expr compiles them.
			if (untyped(n.Left.Type()) || untyped(n.Right.Type())) && orderable(n.Left.Type(), n.Right.Type()) {
				call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: orderFunc}, Arguments: []ast.Node{&ast.StringNode{Value: n.Operator}, n.Left, n.Right}}
				ast.Patch(node, call)
			}
		}
	case *ast.MemberNode:
		// A field of a value that is there but has no fields (a text,
		// a number, a boolean: the text body of an answer that is not
		// JSON, the empty body of a failed call or a 204) is nothing,
		// as a field of nothing is: expr would fail the run with
		// "invalid operation: int(string)". A method's callee is left.
		if _, name := n.Property.(*ast.StringNode); name && !n.Method && untyped(n.Node.Type()) {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fieldFunc}, Arguments: []ast.Node{n.Node, n.Property}})
		}
	case *ast.UnaryNode:
		if (n.Operator == "!" || n.Operator == "not") && untyped(n.Node.Type()) {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: notFunc}, Arguments: []ast.Node{n.Node}})
		}
	}
}

// untyped reports whether a value of type t may be nothing: its type is
// not known when the flow loads (an interface).
func untyped(t reflect.Type) bool { return t != nil && t.Kind() == reflect.Interface }

// orderFunc and notFunc name the functions envPatch calls for an
// ordering comparison and for `!`; a name no flow can write.
const (
	orderFunc = "$order"
	notFunc   = "$not"
	fieldFunc = "$field"
)

// orderable reports whether values of types a and b may be ordered, as
// far as their types tell: one is not known (nothing, an interface), or
// both are numbers, texts, times or durations. A side whose type is not
// there (its check failed) is left to the checker's error.
func orderable(a, b reflect.Type) bool {
	if a == nil || b == nil {
		// Not typed: the check failed on a side, which its error says.
		return false
	}
	if a.Kind() == reflect.Interface || b.Kind() == reflect.Interface {
		return true
	}
	num := func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			return t != durationType
		}
		return false
	}
	switch {
	case num(a) && num(b):
		return true
	case a == durationType || b == durationType:
		return a == b
	case a == timeType || b == timeType:
		return a == b
	}
	return a.Kind() == reflect.String && b.Kind() == reflect.String
}

// exprOrder is an ordering comparison: false when either side is
// nothing, else expr's own (which fails on values that do not compare).
func exprOrder(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("%s: %d arguments", orderFunc, len(args))
	}
	op, _ := args[0].(string)
	a, b := args[1], args[2]
	if isNothing(a) || isNothing(b) {
		return false, nil
	}
	switch op {
	case "<":
		return runtime.Less(a, b), nil
	case ">":
		return runtime.More(a, b), nil
	case "<=":
		return runtime.LessOrEqual(a, b), nil
	case ">=":
		return runtime.MoreOrEqual(a, b), nil
	}
	return nil, fmt.Errorf("%s: operator %q", orderFunc, op)
}

// exprNot is `!`: true of nothing, else the negation of a boolean.
func exprNot(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%s: %d arguments", notFunc, len(args))
	}
	if isNothing(args[0]) {
		return true, nil
	}
	b, ok := args[0].(bool)
	if !ok {
		return nil, fmt.Errorf("invalid operation: ! %T", args[0])
	}
	return !b, nil
}

// exprField is a field of a value whose type is not known when the flow
// loads: nothing when the value is nothing or has no fields (a text, a
// number, a boolean), else expr's own member access (a map's key, which
// may be missing: nothing too).
func exprField(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%s: %d arguments", fieldFunc, len(args))
	}
	from := args[0]
	if isNothing(from) {
		return nil, nil
	}
	switch reflect.ValueOf(from).Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, nil
	}
	return runtime.Fetch(from, args[1]), nil
}

// isNothing reports whether v is nil, or a nil pointer, map or slice
// held in an interface.
func isNothing(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

// serverZone is the expression now.Location(): the server's zone in a
// run (the scenario's in a test).
func serverZone() ast.Node {
	return &ast.CallNode{Callee: &ast.MemberNode{Node: &ast.IdentifierNode{Value: "now"}, Property: &ast.StringNode{Value: "Location"}, Method: true}}
}

// isDateCall reports whether n calls date(), withDate's function.
func isDateCall(n *ast.CallNode) bool {
	id, ok := n.Callee.(*ast.IdentifierNode)
	return ok && id.Value == "date"
}

// isServerZone reports whether n is serverZone's node.
func isServerZone(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok || len(c.Arguments) != 0 {
		return false
	}
	m, ok := c.Callee.(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	p, ok2 := m.Property.(*ast.StringNode)
	return ok && ok2 && id.Value == "now" && p.Value == "Location"
}

var (
	reUnknownName = regexp.MustCompile(`^unknown name (\S+)$`)
	reNoField     = regexp.MustCompile(`^type (\S+) has no field (\S+)$`)
	reExpected    = regexp.MustCompile(`^expected bool, but got (.+)$`)
	reModulo      = regexp.MustCompile(`^invalid operation: % \(mismatched types (\S+) and (\S+)\)$`)
)

// translateExprError turns expr's error into a position and a message in
// the flow language's words, with a did-you-mean hint where possible.
func translateExprError(err error, src string) *exprError {
	var fe *file.Error
	if !errors.As(err, &fe) {
		fe = &file.Error{Line: 1, Message: err.Error()}
	}
	e := &exprError{line: max(fe.Line, 1), col: fe.Column, msg: fe.Message}
	if m := reUnknownName.FindStringSubmatch(fe.Message); m != nil {
		e.msg = fmt.Sprintf("unknown name %q", m[1])
		e.hint = didYouMean(m[1], EnvNames())
		if e.hint == "" {
			e.hint = "names are " + strings.Join(EnvNames(), ", ")
		}
	} else if m := reNoField.FindStringSubmatch(fe.Message); m != nil {
		if shape, ok := envShapes[m[1]]; ok {
			e.msg = fmt.Sprintf("%s has no field %q", shape.path, m[2])
			e.hint = didYouMean(m[2], shape.fields)
			if e.hint == "" {
				e.hint = shape.path + " has " + strings.Join(shape.fields, ", ")
			}
		}
	} else if strings.Contains(fe.Message, `unexpected token Operator("=")`) {
		e.msg = "a single = is not an operator"
		e.hint = "use == to compare"
	} else if m := reExpected.FindStringSubmatch(fe.Message); m != nil {
		e.msg = fmt.Sprintf("condition must be true or false, but gives %s", m[1])
		e.hint = `compare it, e.g. contact.fields.city == "Shanghai"`
	} else if m := reModulo.FindStringSubmatch(fe.Message); m != nil && (m[1] == "float64" || m[2] == "float64") {
		e.msg = goTypeWords.Replace(e.msg)
		e.hint = "% works on integers: " + moduloHint(src, fe.From, m[1] == "float64", m[2] == "float64")
	}
	return e
}

// moduloHint writes the % at offset from of src (or, when it cannot be
// found, an example) with int() around the operands that are numbers.
func moduloHint(src string, from int, left, right bool) string {
	wrap := func(n ast.Node, is bool) string {
		if is {
			return "int(" + n.String() + ")"
		}
		return n.String()
	}
	tree, err := exprparser.Parse(src)
	if err != nil {
		return "int(vars.n) % 2"
	}
	var found, only *ast.BinaryNode
	count := 0
	ast.Walk(&tree.Node, visitor(func(n *ast.Node) {
		if b, ok := (*n).(*ast.BinaryNode); ok && b.Operator == "%" {
			count++
			only = b
			if b.Location().From == from {
				found = b
			}
		}
	}))
	if found == nil && count == 1 {
		found = only
	}
	if found == nil {
		return "int(vars.n) % 2"
	}
	return wrap(found.Left, left) + " % " + wrap(found.Right, right)
}

// visitor is an ast.Visitor made of a function.
type visitor func(n *ast.Node)

func (v visitor) Visit(n *ast.Node) { v(n) }

// Template is a string with `${expr}` parts, compiled at load time.
// `$${` writes a literal `${`.
type Template struct {
	// Src is the template as written.
	Src   string
	parts []templatePart
}

type templatePart struct {
	lit  string
	expr *Expr
	// secret is the NAME of a `${secret.NAME}` part: it renders as
	// SecretPlaceholder(NAME), never as the value.
	secret string
}

// IsConst reports whether the template has no expressions.
func (t *Template) IsConst() bool {
	for _, p := range t.parts {
		if p.expr != nil {
			return false
		}
	}
	return true
}

// Exprs returns the template's expressions in order.
func (t *Template) Exprs() []*Expr {
	var out []*Expr
	for _, p := range t.parts {
		if p.expr != nil {
			out = append(out, p.expr)
		}
	}
	return out
}

// Eval renders the template in env. A template that is exactly one
// `${expr}` keeps the expression's type; otherwise the result is a string.
//
// A `${secret.NAME}` part renders as SecretPlaceholder(NAME): secrets are
// put in by the engine when it sends an http request (see Pieces).
func (t *Template) Eval(env *Env) (any, error) {
	if t.Whole() && t.parts[0].secret == "" {
		return t.parts[0].expr.Eval(env)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.secret != "" {
			b.WriteString(SecretPlaceholder(p.secret))
			continue
		}
		if p.expr == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := p.expr.Eval(env)
		if err != nil {
			return nil, err
		}
		b.WriteString(TextOf(v))
	}
	return b.String(), nil
}

// Whole reports whether the template is exactly one `${expr}`.
func (t *Template) Whole() bool { return len(t.parts) == 1 && t.parts[0].expr != nil }

// Secret returns NAME when the template is exactly `${secret.NAME}`.
func (t *Template) Secret() string {
	if t.Whole() {
		return t.parts[0].secret
	}
	return ""
}

// Piece is one part of a template rendered by Pieces: literal text as
// written, an expression's value, or a secret by its name.
type Piece struct {
	// Lit is literal text, as the flow writes it (when IsExpr is false
	// and Secret is "").
	Lit string
	// IsExpr marks an expression's value, Value.
	IsExpr bool
	Value  any
	// Secret is the NAME of a `${secret.NAME}` part; its value is not
	// known here.
	Secret string
}

// Pieces renders the template part by part, so that a caller can escape
// each expression's value for where it stands and leave each secret's
// place to be filled in later.
func (t *Template) Pieces(env *Env) ([]Piece, error) {
	out := make([]Piece, 0, len(t.parts))
	for _, p := range t.parts {
		switch {
		case p.secret != "":
			out = append(out, Piece{Secret: p.secret})
		case p.expr == nil:
			out = append(out, Piece{Lit: p.lit})
		default:
			v, err := p.expr.Eval(env)
			if err != nil {
				return nil, err
			}
			out = append(out, Piece{IsExpr: true, Value: v})
		}
	}
	return out, nil
}

// Render renders the template as a string.
func (t *Template) Render(env *Env) (string, error) {
	v, err := t.Eval(env)
	if err != nil {
		return "", err
	}
	return TextOf(v), nil
}

// templateSegment is a piece of a template: literal text, or the text of
// one `${...}` expression.
type templateSegment struct {
	isExpr bool
	lit    string
	expr   string
}

// splitTemplate cuts a template into literal text and expressions. It
// returns the byte offset and a message when a `${` is never closed.
func splitTemplate(s string) ([]templateSegment, int, string) {
	var segs []templateSegment
	var lit strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		start := i + 2
		end, ok := closingBrace(s, start)
		if !ok {
			return nil, i, "unclosed ${ in template"
		}
		if lit.Len() > 0 {
			segs = append(segs, templateSegment{lit: lit.String()})
			lit.Reset()
		}
		segs = append(segs, templateSegment{isExpr: true, expr: s[start:end]})
		i = end + 1
	}
	if lit.Len() > 0 {
		segs = append(segs, templateSegment{lit: lit.String()})
	}
	return segs, 0, ""
}

// closingBrace finds the `}` that closes an expression starting at start,
// skipping nested braces and string literals.
func closingBrace(s string, start int) (int, bool) {
	depth := 0
	for i := start; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' && c != '`' {
					i++
				}
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i, true
			}
			depth--
		}
	}
	return 0, false
}

// LiteralTemplate returns a template that renders s as it is, without
// looking for `${...}` in it.
func LiteralTemplate(s string) *Template {
	return &Template{Src: s, parts: []templatePart{{lit: s}}}
}
