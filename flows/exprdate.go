package flows

import (
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
)

// withDate replaces expr's builtin date() by exprDate: the same arguments,
// types and checks (expr's own Validate), but a wall-clock time read in a
// zone is turned into an instant by WallTime's rule, not time.Date's.
// Every compilation of a flow's expressions takes it: with it expr parses
// date(...) as a call of a function (an ast.CallNode named date), not as
// its builtin (an ast.BuiltinNode).
//
// It also declares the functions envPatch puts in place of the ordering
// comparisons and of `!` (exprOrder, exprNot).
var withDate expr.Option = func(c *conf.Config) {
	b := builtin.Builtins[builtin.Index["date"]]
	c.Functions["date"] = &builtin.Function{Name: "date", Func: exprDate, Validate: b.Validate, Deref: b.Deref}
	c.Functions[orderFunc] = &builtin.Function{Name: orderFunc, Func: exprOrder, Validate: givesBool(3)}
	c.Functions[notFunc] = &builtin.Function{Name: notFunc, Func: exprNot, Validate: givesBool(1)}
	c.Functions[fieldFunc] = &builtin.Function{Name: fieldFunc, Func: exprField, Validate: givesAny(2)}
}

// givesAny checks a call of n arguments whose value's type is known only
// when it runs.
func givesAny(n int) func([]reflect.Type) (reflect.Type, error) {
	return func(args []reflect.Type) (reflect.Type, error) {
		if len(args) != n {
			return nil, fmt.Errorf("%d arguments, want %d", len(args), n)
		}
		return reflect.TypeOf((*any)(nil)).Elem(), nil
	}
}

// givesBool checks a call of n arguments that gives a boolean; the
// checker still checks each argument (an unknown name in it is its
// error).
func givesBool(n int) func([]reflect.Type) (reflect.Type, error) {
	return func(args []reflect.Type) (reflect.Type, error) {
		if len(args) != n {
			return nil, fmt.Errorf("%d arguments, want %d", len(args), n)
		}
		return reflect.TypeOf(false), nil
	}
}

// dateLayouts are the layouts date() tries, in order, when it is given
// none: expr's.
var dateLayouts = []string{
	"2006-01-02",
	"15:04:05",
	"2006-01-02 15:04:05",
	time.RFC3339,
	time.RFC822,
	time.RFC850,
	time.RFC1123,
}

// exprDate is date(text), date(text, layout) and date(text, layout,
// zone), with the zone envPatch puts first (the server's) when none is
// given. It reads as expr's builtin does, with ParseInZone for
// time.ParseInLocation.
func exprDate(args ...any) (any, error) {
	tz := time.UTC
	if loc, ok := args[0].(*time.Location); ok {
		if loc != nil {
			tz = loc
		}
		args = args[1:]
	}
	if len(args) == 0 || len(args) > 3 {
		return nil, fmt.Errorf("invalid number of arguments (expected 1 to 3, got %d)", len(args))
	}
	strs := make([]string, len(args))
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("date: argument %d must be text, not %T", i+1, a)
		}
		strs[i] = s
	}
	text := strs[0]
	switch len(strs) {
	case 3:
		loc, err := time.LoadLocation(strs[2])
		if err != nil {
			return nil, err
		}
		return ParseInZone(strs[1], text, loc)
	case 2:
		return ParseInZone(strs[1], text, tz)
	}
	for _, layout := range dateLayouts {
		if t, err := ParseInZone(layout, text, tz); err == nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("invalid date %s", text)
}
