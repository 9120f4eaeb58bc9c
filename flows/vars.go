package flows

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"go.yaml.in/yaml/v3"
)

// VarType is the type of a run variable, as the flow language names it.
type VarType string

// The types a variable can have (`vars: { order_id: text }`).
const (
	VarText   VarType = "text"
	VarNumber VarType = "number"
	VarBool   VarType = "bool"
	VarTime   VarType = "time"
	VarList   VarType = "list"
	VarMap    VarType = "map"
	VarAny    VarType = "any"
)

// VarTypes lists the type names a `vars:` declaration accepts.
var VarTypes = []string{string(VarText), string(VarNumber), string(VarBool), string(VarTime), string(VarList), string(VarMap), string(VarAny)}

// goType is the Go type expressions see for a variable of this type.
func (t VarType) goType() reflect.Type {
	switch t {
	case VarText:
		return reflect.TypeOf("")
	case VarNumber:
		return reflect.TypeOf(float64(0))
	case VarBool:
		return reflect.TypeOf(false)
	case VarTime:
		return timeType
	case VarList:
		return reflect.TypeOf([]any{})
	case VarMap:
		return reflect.TypeOf(map[string]any{})
	}
	return reflect.TypeOf((*any)(nil)).Elem()
}

// VarWrite is a run variable a step writes (`save: vars.x`, `set:
// {vars.x: ...}`), with the type of what it stores (VarAny when that is
// not known at load time).
type VarWrite struct {
	// Name is the variable's name, without "vars.".
	Name string
	Type VarType
	// Pos is where the step names the variable.
	Pos Pos
	// Value is the value written, when the step writes one it was given
	// (set:): with Type any, a template reading the flow's variables may
	// still have a type the variables' types give (typedVarTypeOf).
	Value any
}

// VarDecl is a variable a flow declares under `vars:`.
type VarDecl struct {
	Name string
	Type VarType
	Pos  Pos
}

// VarTypeOf gives the type of a value written in a flow (a `set:` value
// as the loader parsed it): a template that is exactly one `${expr}` has
// the expression's type when it is known, other templates are text.
func VarTypeOf(v any) VarType {
	switch v := v.(type) {
	case *Template:
		if v == nil {
			return VarAny
		}
		if !v.Whole() {
			return VarText
		}
		if p := v.parts[0].expr.program; p != nil {
			return varTypeOfGo(p.Node().Type())
		}
		return VarAny
	case string:
		return VarText
	case bool:
		return VarBool
	case int, int64, float64:
		return VarNumber
	case []any:
		return VarList
	case map[string]any, *Object:
		return VarMap
	}
	return VarAny
}

// typedVarTypeOf is VarTypeOf with the flow's variables typed (env, of
// typedEnv): a template that is exactly one ${expr} reading them has the
// type the expression gives with them (`"${vars.txt}"` is text when
// vars.txt is), which the untyped compilation does not know.
func typedVarTypeOf(v any, env any) VarType {
	t := VarTypeOf(v)
	tpl, ok := v.(*Template)
	if t != VarAny || !ok || tpl == nil || !tpl.Whole() || env == nil {
		return t
	}
	return varTypeOfGo(wholeGoType(tpl, env))
}

// wholeGoType is the Go type of a template that is exactly one ${...},
// compiled against env, or nil when it is not known.
func wholeGoType(tpl *Template, env any) reflect.Type {
	if tpl == nil || !tpl.Whole() || env == nil {
		return nil
	}
	prog, err := expr.Compile(tpl.parts[0].expr.Src, expr.Env(env), withDate, expr.Patch(envPatch{}))
	if err != nil {
		return nil
	}
	return prog.Node().Type()
}

var durationType = reflect.TypeOf(time.Duration(0))

func varTypeOfGo(t reflect.Type) VarType {
	if t == nil {
		return VarAny
	}
	switch {
	case t == durationType:
		// A duration is none of the variable types: not a number
		// (vars.d + 1 fails, vars.d.Hours() works).
		return VarAny
	case t == timeType:
		return VarTime
	case t.Kind() == reflect.String:
		return VarText
	case t.Kind() == reflect.Bool:
		return VarBool
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return VarNumber
	case t.Kind() == reflect.Slice:
		return VarList
	case t.Kind() == reflect.Map:
		return VarMap
	}
	return VarAny
}

// varTypeAliases are other languages' names for the variable types, for
// did-you-mean hints.
var varTypeAliases = map[string]string{"string": "text", "str": "text", "int": "number", "integer": "number", "float": "number",
	"boolean": "bool", "date": "time", "datetime": "time", "timestamp": "time", "array": "list", "object": "map", "dict": "map"}

// varTypeHint suggests the type a misspelt or foreign type name means.
func varTypeHint(word string) string {
	cands := append([]string(nil), VarTypes...)
	for a := range varTypeAliases {
		cands = append(cands, a)
	}
	sort.Strings(cands)
	s := suggest(strings.ToLower(word), cands)
	if alias, ok := varTypeAliases[s]; ok {
		s = alias
	}
	if s == "" {
		return ""
	}
	return fmt.Sprintf("did you mean %q?", s)
}

// Phrase names a type in a sentence ("vars.plan is text", "a list").
func (t VarType) Phrase() string {
	switch t {
	case VarText:
		return "text"
	case VarBool:
		return "true or false"
	case VarAny:
		return "any value"
	}
	return article(string(t))
}

var reVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// varsDecl is the flow's `vars:` key: a map of variable name to type.
var varsDecl = &Type{Name: "variable declarations", Doc: "A map of variable name to type: " + strings.Join(VarTypes, ", ") + ". A name is ASCII letters, digits and `_`, not starting with a digit.", kinds: kMap}

func init() {
	varsDecl.parse = func(p *parser, n *yaml.Node) (any, bool) {
		var out []VarDecl
		if n.Kind != yaml.MappingNode {
			p.errorAt(n, "write vars: { order_id: text }", "vars: expected a map of variable name to type, got %s", describeNode(n))
			p.writesUnknown = true
			return nil, false
		}
		// The declarations that parse are kept even when others do not,
		// and the names of those with an invalid type are lost (not
		// unknown), so that reading them is no second error.
		defer func() { p.varDecls = out }()
		ok := true
		for _, kv := range p.pairs(n) {
			k, v := kv[0], kv[1]
			name := strings.TrimPrefix(k.Value, "vars.")
			if !reVarName.MatchString(name) {
				p.errorAt(k, "a name is ASCII letters, digits and _, not starting with a digit", "invalid variable name %q", k.Value)
				ok = false
				continue
			}
			v, good := p.deref(v)
			if !good {
				p.lostVars[name] = true
				ok = false
				continue
			}
			typ := VarAny
			switch {
			case isNull(v):
			case v.Kind != yaml.ScalarNode:
				p.errorAt(v, "types are "+strings.Join(VarTypes, ", "), "vars: %s: expected a type, got %s", name, describeNode(v))
				p.lostVars[name] = true
				ok = false
				continue
			default:
				found := false
				for _, t := range VarTypes {
					if v.Value == t {
						typ, found = VarType(t), true
					}
				}
				if !found {
					hint := varTypeHint(v.Value)
					if hint == "" {
						hint = "types are " + strings.Join(VarTypes, ", ")
					}
					p.errorAt(v, hint, "vars: %s: unknown type %q", name, v.Value)
					p.lostVars[name] = true
					ok = false
					continue
				}
			}
			out = append(out, VarDecl{Name: name, Type: typ, Pos: p.pos(k)})
		}
		return out, ok
	}
	varsDecl.schema = func(*schemaGen) map[string]any {
		enum := make([]any, len(VarTypes))
		for i, t := range VarTypes {
			enum[i] = t
		}
		return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string", "enum": enum}}
	}
}

// exprUse is one expression compiled while a file was parsed, kept so
// that its reads of `vars` can be checked once the whole flow is known.
type exprUse struct {
	e    *Expr
	kind ExprKind
	off  int
}

// varRead is one `vars.NAME` inside an expression.
type varRead struct {
	name string
	pos  Pos
}

// varReads returns the expression's `vars.NAME` and `vars["NAME"]`, and
// whether it also uses `vars` in a way that names no variable (`vars[k]`,
// `len(vars)`), which cannot be checked.
func varReads(node ast.Node) (reads []varRead, locs []file.Location, dynamic bool) {
	named := map[ast.Node]bool{}
	var all []ast.Node
	ast.Find(node, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.MemberNode:
			if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "vars" {
				if s, ok := n.Property.(*ast.StringNode); ok {
					named[id] = true
					reads = append(reads, varRead{name: s.Value})
					locs = append(locs, s.Location())
				}
			}
		case *ast.IdentifierNode:
			if n.Value == "vars" {
				all = append(all, n)
			}
		}
		return false
	})
	for _, n := range all {
		if !named[n] {
			dynamic = true
		}
	}
	return reads, locs, dynamic
}

// flowVars is what a flow knows of its variables: their types and where
// each is written or declared.
type flowVars struct {
	types map[string]VarType
	where map[string]string // "saved by the ask at line 5"
}

// collectVars gathers the flow's declared variables and those its steps
// write. A declaration fixes the type; otherwise writes that agree give
// it, and writes that disagree make it any.
func collectVars(f *Flow) flowVars { return collectVarsOf(f.VarDecls, f.Walk) }

// collectVarsOf gathers the variables of the declarations decls and of
// the steps walk visits (see collectVars).
func collectVarsOf(decls []VarDecl, walk func(fn func(s *Step))) flowVars {
	fv := flowVars{types: map[string]VarType{}, where: map[string]string{}}
	for _, d := range decls {
		fv.types[d.Name] = d.Type
		fv.where[d.Name] = fmt.Sprintf("declared at line %d", d.Pos.Line)
	}
	walk(func(s *Step) {
		if s.Spec == nil || s.Spec.Writes == nil {
			return
		}
		for _, w := range s.Spec.Writes(s) {
			if _, declared := findDecl(decls, w.Name); declared {
				continue
			}
			old, seen := fv.types[w.Name]
			switch {
			case !seen:
				fv.types[w.Name] = w.Type
				fv.where[w.Name] = fmt.Sprintf("from the %s step at line %d", s.Kind, w.Pos.Line)
			case old != w.Type:
				fv.types[w.Name] = VarAny
			}
		}
	})
	return fv
}

// vars gathers the variables of the file being parsed from what parsed:
// the declarations that parsed and the steps without an error give
// types; a variable that a key with an error may declare or write is
// known, but its type is not (unless a declaration that parsed gives it).
func (p *parser) vars() flowVars {
	fv := collectVarsOf(p.varDecls, p.walkParsed)
	for name := range p.lostVars {
		if _, declared := findDecl(p.varDecls, name); !declared {
			fv.types[name] = VarAny
			if _, seen := fv.where[name]; !seen {
				fv.where[name] = "written or declared where there is an error"
			}
		}
	}
	return fv
}

// walkParsed calls fn for every step that parsed without error, nested
// ones included, in document order.
func (p *parser) walkParsed(fn func(s *Step)) {
	for _, b := range p.built {
		if b.ok {
			fn(b.s)
		}
	}
}

func (f *Flow) declared(name string) (VarDecl, bool) { return findDecl(f.VarDecls, name) }

func findDecl(decls []VarDecl, name string) (VarDecl, bool) {
	for _, d := range decls {
		if d.Name == name {
			return d, true
		}
	}
	return VarDecl{}, false
}

// Variables returns the flow's variables, declared and written, with
// their types.
func (f *Flow) Variables() map[string]VarType { return collectVars(f).types }

// checkVars reports every read of a variable the flow neither writes nor
// declares, and type errors that the variables' types reveal (a
// non-boolean `if:` over a text answer). It runs on what parsed, also
// in a file with errors: a variable that a key with an error may write
// is not reported, and an expression that reads one is not type-checked.
func (p *parser) checkVars() {
	fv := p.vars()
	names := make([]string, 0, len(fv.types))
	for n := range fv.types {
		names = append(names, n)
	}
	sort.Strings(names)
	var env any // the typed environment, built on first use
	for _, u := range p.exprUses {
		reads, locs, dynamic := varReads(u.e.program.Node())
		if len(reads) == 0 {
			continue
		}
		known, typed := true, false
		for i, r := range reads {
			t, ok := fv.types[r.name]
			if ok {
				typed = typed || t != VarAny
				continue
			}
			known = false
			if p.writesUnknown {
				continue // what the flow writes is not known: no read is unknown
			}
			ee := (&file.Error{Location: locs[i]}).Bind(file.NewSource(u.e.Src))
			pos := p.exprErrorPos(u.e.Src, &exprError{line: ee.Line, col: ee.Column}, u.e.Pos, u.off)
			p.diags = append(p.diags, Diagnostic{File: p.file, Line: pos.Line, Col: pos.Col, Severity: SeverityError,
				Message: fmt.Sprintf("unknown variable \"vars.%s\": the flow neither writes nor declares it", r.name),
				Hint:    unknownVarHint(r.name, names), Snippet: snippet(p.src, pos.Line, pos.Col)})
		}
		if !known || dynamic || !typed {
			continue
		}
		if env == nil {
			env = typedEnv(fv.types)
		}
		if e := typedCheck(u.e.Src, u.kind, env); e != nil {
			var hints []string
			seen := map[string]bool{}
			for _, r := range reads {
				if t := fv.types[r.name]; t != VarAny && !seen[r.name] {
					seen[r.name] = true
					hints = append(hints, fmt.Sprintf("vars.%s is %s (%s)", r.name, t.Phrase(), fv.where[r.name]))
				}
			}
			if e.hint != "" {
				if u.kind == ExprBool && len(seen) == 1 && strings.HasPrefix(e.msg, "condition must be") {
					e.hint = compareHint(reads[0].name, fv.types[reads[0].name])
				}
				hints = append(hints, e.hint)
			}
			e.hint = strings.Join(hints, "; ")
			pos := p.exprErrorPos(u.e.Src, e, u.e.Pos, u.off)
			p.diags = append(p.diags, Diagnostic{File: p.file, Line: pos.Line, Col: pos.Col, Severity: SeverityError,
				Message: e.msg, Hint: e.hint, Snippet: snippet(p.src, pos.Line, pos.Col)})
		}
	}
}

// checkWrites reports a write of a declared variable whose value has
// another type than the declaration's (`vars: { n: number }` and `set:
// { vars.n: "abc" }`, an ask that expects a number saving to a text): the
// run would hold a value of another type than every read of it is
// checked against. Values of a type not known at load time, and
// variables declared any, are accepted.
func (p *parser) checkWrites() {
	var env any
	p.walkParsed(func(s *Step) {
		if s.Spec.Writes == nil {
			return
		}
		for _, w := range s.Spec.Writes(s) {
			d, ok := findDecl(p.varDecls, w.Name)
			if !ok || d.Type == VarAny || w.Type == d.Type {
				continue
			}
			if w.Type == VarAny && w.Value != nil {
				if env == nil {
					env = typedEnv(p.vars().types)
				}
				w.Type = typedVarTypeOf(w.Value, env)
				if tpl, ok := w.Value.(*Template); ok && wholeGoType(tpl, env) == durationType {
					p.report(SeverityError, w.Pos,
						fmt.Sprintf("vars: at line %d declares %s %s; a duration fits only a variable declared any, or store a number such as .Minutes()", d.Pos.Line, d.Name, d.Type),
						fmt.Sprintf("vars.%s is declared %s, but this %s step writes a duration", w.Name, d.Type, s.Kind))
					continue
				}
			}
			if w.Type == VarAny || w.Type == d.Type {
				continue
			}
			if d.Type == VarTime && w.Type == VarText && w.Value != nil {
				// A time may be written as RFC 3339 text.
				if err := timeText(w.Value); err != nil {
					p.report(SeverityError, w.Pos, fmt.Sprintf("vars: at line %d declares %s time", d.Pos.Line, d.Name), fmt.Sprintf("vars.%s %s", w.Name, err))
				}
				continue
			}
			verb := "saves"
			if s.Kind == "set" {
				verb = "writes"
			}
			p.report(SeverityError, w.Pos,
				fmt.Sprintf("vars: at line %d declares %s %s; store %s in it, or declare it %s", d.Pos.Line, d.Name, d.Type, d.Type.Phrase(), w.Type),
				fmt.Sprintf("vars.%s is declared %s, but this %s step %s %s", w.Name, d.Type, s.Kind, verb, w.Type.Phrase()))
		}
	})
}

// timeText checks a text given for a variable of type time: written
// out, it must be RFC 3339; a template's text is checked when it is
// given (FitVar).
func timeText(v any) error {
	tpl, ok := v.(*Template)
	if !ok || !tpl.IsConst() {
		return nil
	}
	text, err := tpl.Render(&Env{})
	if err != nil {
		return nil
	}
	_, err = FitVar(VarTime, text)
	return err
}

// compareHint shows how to turn a variable of type t into a condition.
func compareHint(name string, t VarType) string {
	switch t {
	case VarText:
		return fmt.Sprintf(`compare it, e.g. vars.%s == "yes", or vars.%s != ""`, name, name)
	case VarNumber:
		return fmt.Sprintf("compare it, e.g. vars.%s > 0", name)
	case VarList, VarMap:
		return fmt.Sprintf("test its size, e.g. len(vars.%s) > 0", name)
	case VarTime:
		return fmt.Sprintf("compare it, e.g. vars.%s.Before(now)", name)
	}
	return "compare it"
}

func unknownVarHint(name string, names []string) string {
	if !reVarName.MatchString(name) {
		return SavePathHint("vars." + name)
	}
	if s := suggest(name, names); s != "" {
		return fmt.Sprintf("did you mean vars.%s?", s)
	}
	h := "a variable given by start:, the API or an operator is declared: vars: { " + name + ": text }"
	if len(names) == 0 {
		return "the flow writes no variables (save: vars." + name + ", set:); " + h
	}
	return "the flow's variables are vars." + strings.Join(names, ", vars.") + "; " + h
}

// typedEnv builds a value shaped like Env whose `vars` is a struct with
// one field per variable, of the variable's type, so that expr checks
// what the flow does with them.
func typedEnv(types map[string]VarType) any {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	vars := make([]reflect.StructField, len(names))
	for i, n := range names {
		vars[i] = reflect.StructField{Name: fmt.Sprintf("V%d", i), Type: types[n].goType(), Tag: reflect.StructTag(`expr:"` + n + `"`)}
	}
	et := reflect.TypeOf(Env{})
	fields := make([]reflect.StructField, 0, et.NumField())
	for i := 0; i < et.NumField(); i++ {
		f := et.Field(i)
		if f.Name == "Vars" {
			f.Type = reflect.StructOf(vars)
		}
		fields = append(fields, f)
	}
	return reflect.New(reflect.StructOf(fields)).Elem().Interface()
}

// typedCheck compiles an expression against a typed environment and
// returns its error in the language's words, or nil.
func typedCheck(src string, kind ExprKind, env any) *exprError {
	opts := []expr.Option{expr.Env(env), withDate, expr.Patch(envPatch{})}
	if kind == ExprBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		e := translateExprError(err, src)
		e.msg = goTypeWords.Replace(e.msg)
		return e
	}
	if kind == ExprTime {
		if t := prog.Node().Type(); t != nil && t != timeType && t.Kind() != reflect.Interface {
			return &exprError{line: 1, msg: fmt.Sprintf("expression must give a time, but gives %s", goTypeWords.Replace(t.String()))}
		}
	}
	return nil
}

// goTypeWords names Go's types in the flow language's words in messages
// about variables.
var goTypeWords = strings.NewReplacer("float64", "number", "string", "text", "[]interface {}", "list", "map[string]interface {}", "map", "time.Time", "time")
