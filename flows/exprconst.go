package flows

import (
	"errors"
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// constCalls finds the calls of the builtins of constCallHint (and of
// date, withDate's function in their place) whose arguments are all
// written out (duration("1x")) and runs each: one that fails would fail
// every time the flow gets there, so it is an error when the flow loads.
type constCalls struct {
	src []rune
	err *exprError
}

// Visit implements ast.Visitor.
func (c *constCalls) Visit(node *ast.Node) {
	if c.err != nil {
		return
	}
	var name string
	var args []ast.Node
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		name, args = n.Name, n.Arguments
	case *ast.CallNode: // date, withDate's function
		if !isDateCall(n) {
			return
		}
		name, args = "date", n.Arguments
	default:
		return
	}
	hint, checked := constCallHint[name]
	if !checked || len(args) == 0 {
		return
	}
	if isServerZone(args[0]) {
		args = args[1:] // envPatch's: the run's zone, not written out
	}
	for _, a := range args {
		switch a.(type) {
		case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		default:
			return
		}
	}
	call := (&ast.BuiltinNode{Name: name, Arguments: args}).String()
	p, err := expr.Compile(call, withDate)
	if err == nil {
		_, err = expr.Run(p, nil)
	}
	if err != nil {
		msg := firstLine(err.Error())
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		line, col := 1, 0
		for i, r := range c.src {
			if i >= (*node).Location().From {
				break
			}
			col++
			if r == '\n' {
				line, col = line+1, 0
			}
		}
		c.err = &exprError{line: line, col: col, msg: fmt.Sprintf("%s fails whenever it runs: %s", call, msg),
			hint: hint}
	}
}

// constCallHint holds the builtins whose written-out arguments can be
// wrong in a way only running them shows (a unit, a date, a zone), with
// the hint for each.
var constCallHint = map[string]string{
	"duration": `units are ns, us, ms, s, m and h: duration("90m")`,
	"date":     `write the date as 2026-11-16, or give its layout: date("16/11/2026", "02/01/2006")`,
	"timezone": `use an IANA name such as "Asia/Shanghai"`,
}

// checkConstCalls returns the error of the first call of a builtin with
// written-out arguments that fails, or nil.
func checkConstCalls(src string, root ast.Node) *exprError {
	c := &constCalls{src: []rune(src)}
	ast.Walk(&root, c)
	return c.err
}
