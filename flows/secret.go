package flows

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	exprparser "github.com/expr-lang/expr/parser"
)

// Secrets are values declared in the config (`secrets:`, each read from
// the environment variable of its name) that a flow reads as
// `${secret.NAME}`. Only an http step's url, query, headers, json and body
// may use them (Field.Secrets), each standing alone in its `${ }`. They
// are never evaluated: a template writes SecretPlaceholder(NAME) in their
// place, and the engine puts the value in when it sends the request, so
// that no trail, run state, console page, log line or error holds it.

// SecretPlaceholder is what a template writes in place of the secret
// NAME, and what run trails, run state and errors show instead of its
// value.
func SecretPlaceholder(name string) string { return "${secret." + name + "}" }

// reSecretName is what a secret's name looks like: an environment
// variable's name.
var reSecretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// IsSecretName reports whether name can name a secret: letters, digits
// and `_`, not starting with a digit (an environment variable's name).
func IsSecretName(name string) bool { return reSecretName.MatchString(name) }

// secretUse is one reading of `secret` in an expression.
type secretUse struct {
	// name is NAME when the reading is secret.NAME (or secret["NAME"])
	// with a valid name, "" otherwise.
	name string
	// col is where `secret` starts: its 1-based line and 0-based column
	// (in runes) inside the expression.
	line, col int
}

// secretUses finds the readings of `secret` in an expression, and the NAME
// when the whole expression is `secret.NAME`. The expression is parsed
// (not checked) again, so that the tree is the one written.
func secretUses(src string) (uses []secretUse, alone string) {
	if !strings.Contains(src, "secret") {
		return nil, ""
	}
	tree, err := exprparser.Parse(src)
	if err != nil {
		return nil, ""
	}
	v := &secretVisitor{named: map[*ast.IdentifierNode]string{}}
	ast.Walk(&tree.Node, v)
	for _, id := range v.idents {
		line, col := runePos(src, id.Location().From)
		uses = append(uses, secretUse{name: v.named[id], line: line, col: col})
	}
	if m, ok := tree.Node.(*ast.MemberNode); ok && !m.Optional && !m.Method {
		if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "secret" {
			alone = v.named[id]
		}
	}
	return uses, alone
}

// secretVisitor collects the identifiers `secret` and, for those read as
// secret.NAME, the NAME.
type secretVisitor struct {
	idents []*ast.IdentifierNode
	named  map[*ast.IdentifierNode]string
}

// Visit implements ast.Visitor.
func (v *secretVisitor) Visit(n *ast.Node) {
	switch n := (*n).(type) {
	case *ast.IdentifierNode:
		if n.Value == "secret" {
			v.idents = append(v.idents, n)
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, isStr := n.Property.(*ast.StringNode)
		if ok && isStr && id.Value == "secret" && !n.Method && IsSecretName(prop.Value) {
			v.named[id] = prop.Value
		}
	}
}

// runePos turns a rune offset into a 1-based line and 0-based column.
func runePos(src string, off int) (line, col int) {
	line = 1
	i := 0
	for _, r := range src {
		if i == off {
			break
		}
		if r == '\n' {
			line, col = line+1, 0
		} else {
			col++
		}
		i++
	}
	return line, col
}

// secretsHere is where secrets may be used, for hints.
const secretsHere = "secrets may only be used in an http step's url, query, headers, json and body"

// checkSecrets reports the secrets an expression reads where it may not:
// outside the keys that allow them (template false for `if:` and other
// expressions), not standing alone in their `${ }`, not written as
// secret.NAME, or not declared in the config.
func (p *parser) checkSecrets(src string, uses []secretUse, alone string, template bool, at Pos, off int) bool {
	ok := true
	for _, u := range uses {
		pos := p.exprErrorPos(src, &exprError{line: u.line, col: u.col}, at, off)
		report := func(hint, format string, args ...any) {
			p.diags = append(p.diags, Diagnostic{File: p.file, Line: pos.Line, Col: pos.Col, Severity: SeverityError,
				Message: fmt.Sprintf(format, args...), Hint: hint, Snippet: snippet(p.src, pos.Line, pos.Col)})
			ok = false
		}
		what := "secret"
		if u.name != "" {
			what = "secret." + u.name
		}
		switch {
		case !template || !p.secretsOK:
			report(secretsHere+": anywhere else the value would reach a follower or the store", "%s cannot be used here", what)
		case u.name == "":
			report("write secret.NAME, NAME being a secret declared in the config", "secret must be read as secret.NAME")
		case alone != u.name:
			report(fmt.Sprintf("write ${%s} on its own: the value is put in when the request is sent, and cannot be computed with", what), "%s must stand alone in its ${ }", what)
		case p.opts != nil && p.opts.CheckSecrets && !slices.Contains(p.opts.Secrets, u.name):
			hint := didYouMean(u.name, p.opts.Secrets)
			if hint == "" {
				hint = fmt.Sprintf("declare it under secrets: in the config, and set the environment variable %s", u.name)
			}
			report(hint, "secret %q is not declared", u.name)
		}
	}
	return ok
}
