package flows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// WeChat's custom menu limits (WECHAT.md, menu/create).
const (
	MenuMaxButtons    = 3
	MenuMaxSubButtons = 5
	MenuMaxNameBytes  = 16
	MenuMaxSubName    = 60
	MenuMaxKeyBytes   = 128
	MenuMaxURLBytes   = 1024
)

// Menu is an account's custom menu, from menu.yaml.
type Menu struct {
	File    string
	Buttons []*MenuButton

	// written are the click buttons written in the file, also those with
	// errors (which Buttons may lack), with their keys; nil when the file
	// is not YAML.
	written []*MenuButton
}

// MenuButton is one button: a click (Key), a link (URL), or a top-level
// button with sub-buttons (Items).
type MenuButton struct {
	Name   string
	Key    string
	URL    string
	Items  []*MenuButton
	Pos    Pos
	KeyPos Pos
}

// ClickButtons returns every button that sends a click key, in order.
func (m *Menu) ClickButtons() []*MenuButton {
	var out []*MenuButton
	for _, b := range m.Buttons {
		if b.Key != "" {
			out = append(out, b)
		}
		for _, s := range b.Items {
			if s.Key != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// Keys returns the menu's click keys in order.
func (m *Menu) Keys() []string {
	var out []string
	for _, b := range m.ClickButtons() {
		out = append(out, b.Key)
	}
	return out
}

var menuButtonFields = []Field{
	{Name: "name", Type: String, Required: true, Example: "Help", Doc: "The button's label (16 bytes at most on top, 60 in a sub-menu)."},
	{Name: "key", Type: String, Doc: "A click key (128 bytes at most); flows start on it with `- menu: KEY`."},
	{Name: "url", Type: String, Doc: "A link the button opens (1024 bytes at most)."},
	{Name: "items", Type: ListOf(ObjectOf("menu button", "menu button", Field{Name: "name", Type: String, Required: true, Example: "Help"},
		Field{Name: "key", Type: String}, Field{Name: "url", Type: String}), false), Doc: "Sub-buttons (1 to 5)."},
}

// MenuKeys returns the keys of menu.yaml's buttons, for the docs.
func MenuKeys() []Field { return menuButtonFields }

// LoadMenu parses and checks a menu.yaml against WeChat's limits.
func LoadMenu(file string, src []byte) (*Menu, Diagnostics) {
	p := newParser(file, src, &Options{})
	m := &Menu{File: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.report(SeverityError, Pos{1, 1}, "write menu: and a list of buttons", "menu.yaml is empty")
		} else {
			p.yamlError(err)
		}
		return m, p.diags
	}
	// A second document was ignored: the menu pushed was the first one.
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.yamlError(err)
			}
			break
		}
		if len(extra.Content) == 1 && isNull(extra.Content[0]) {
			continue // an empty document, after a final ---
		}
		p.report(SeverityError, Pos{extra.Line, extra.Column}, "put every button under the one menu: of the first document",
			"menu.yaml holds one menu, but this one has another document after ---")
		break
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	m.written = writtenKeys(root, p, nil)
	// The buttons are parsed one by one, each as far as it goes, so that
	// a problem of one (an unknown key) does not hide the others' and the
	// limits' (a list of buttons with one problem had no value at all).
	buttonList := &Type{Name: "list of menu buttons", kinds: kSeq, parse: func(p *parser, n *yaml.Node) (any, bool) {
		if n.Kind != yaml.SequenceNode {
			p.errorAt(n, "write a list: [a, b] or one \"- item\" per line", "expected a list of menu buttons, got %s", describeNode(n))
			return nil, false
		}
		return n, true
	}}
	topFields := append([]Field(nil), menuButtonFields...)
	for i := range topFields {
		if topFields[i].Name == "items" {
			topFields[i].Type = buttonList
		}
	}
	subFields := menuButtonFields[len(menuButtonFields)-1].Type.Elem.Fields
	buttonNodes := func(v any, sub bool) []any {
		seq, _ := v.(*yaml.Node)
		if seq == nil {
			return nil
		}
		out := make([]any, 0, len(seq.Content))
		for _, c := range seq.Content {
			if c, ok := p.deref(c); ok {
				fields := topFields
				if sub {
					fields = subFields
				}
				bo, _ := p.object(c, fields, nil, "menu button")
				if bo != nil {
					out = append(out, bo)
				}
			}
		}
		return out
	}
	top := []Field{{Name: "menu", Type: buttonList, Required: true, Example: "[{ name: Help, key: MENU_HELP }]"}}
	o, _ := p.object(root, top, nil, "menu.yaml")
	if o == nil {
		return m, p.diags
	}
	items := buttonNodes(o.Get("menu"), false)
	if o.Has("menu") && (len(items) < 1 || len(items) > MenuMaxButtons) {
		p.report(SeverityError, o.At("menu"), "WeChat allows 1 to 3 top-level buttons", fmt.Sprintf("the menu has %d buttons", len(items)))
	}
	keys := map[string]Pos{}
	var button func(v any, sub bool) *MenuButton
	button = func(v any, sub bool) *MenuButton {
		bo, ok := v.(*Object)
		if !ok {
			return nil
		}
		b := &MenuButton{Name: bo.String("name"), Key: bo.String("key"), URL: bo.String("url"), Pos: bo.Pos, KeyPos: bo.At("key")}
		kinds := 0
		for _, k := range []string{"key", "url", "items"} {
			if bo.Has(k) {
				kinds++
			}
		}
		switch {
		case kinds == 0 && sub:
			p.report(SeverityError, bo.Pos, "give it key: (a click) or url: (a link)", fmt.Sprintf("menu button %q does nothing", b.Name))
		case kinds == 0:
			p.report(SeverityError, bo.Pos, "give it key: (a click), url: (a link) or items: (a sub-menu)", fmt.Sprintf("menu button %q does nothing", b.Name))
		case kinds > 1:
			p.report(SeverityError, bo.Pos, "use one of key:, url: and items: per button", fmt.Sprintf("menu button %q has more than one action", b.Name))
		}
		limit := MenuMaxNameBytes
		if sub {
			limit = MenuMaxSubName
		}
		switch {
		case b.Name == "" && bo.Has("name"):
			p.report(SeverityError, bo.At("name"), "give the button a label", "menu button has an empty name")
		case len(b.Name) > limit:
			p.report(SeverityError, bo.At("name"), fmt.Sprintf("WeChat allows %d bytes here; a Chinese character takes 3", limit),
				fmt.Sprintf("menu button name %q is %d bytes", b.Name, len(b.Name)))
		}
		if bo.Has("key") {
			if len(b.Key) > MenuMaxKeyBytes || b.Key == "" {
				p.report(SeverityError, b.KeyPos, "WeChat allows 1 to 128 bytes", fmt.Sprintf("menu key %q is %d bytes", b.Key, len(b.Key)))
			}
			if first, dup := keys[b.Key]; dup {
				p.report(SeverityError, b.KeyPos, fmt.Sprintf("it is first used at line %d", first.Line), fmt.Sprintf("duplicate menu key %q", b.Key))
			} else {
				keys[b.Key] = b.KeyPos
			}
		}
		if bo.Has("url") {
			if !strings.HasPrefix(b.URL, "http://") && !strings.HasPrefix(b.URL, "https://") {
				p.report(SeverityError, bo.At("url"), "links start with https:// or http://", fmt.Sprintf("invalid menu link %q", b.URL))
			} else if len(b.URL) > MenuMaxURLBytes {
				p.report(SeverityError, bo.At("url"), "WeChat allows 1024 bytes", fmt.Sprintf("menu link is %d bytes", len(b.URL)))
			}
		}
		if subs := buttonNodes(bo.Get("items"), true); bo.Has("items") {
			if len(subs) < 1 || len(subs) > MenuMaxSubButtons {
				p.report(SeverityError, bo.At("items"), "WeChat allows 1 to 5 sub-buttons", fmt.Sprintf("menu button %q has %d sub-buttons", b.Name, len(subs)))
			}
			for _, s := range subs {
				if sb := button(s, true); sb != nil {
					b.Items = append(b.Items, sb)
				}
			}
		}
		return b
	}
	for _, it := range items {
		if b := button(it, false); b != nil {
			m.Buttons = append(m.Buttons, b)
		}
	}
	p.diags.Sort()
	return m, p.diags
}

// writtenKeys returns a button for every `key:` with a text value in a
// menu.yaml's tree, in order, whatever else is wrong with the file.
func writtenKeys(n *yaml.Node, p *parser, out []*MenuButton) []*MenuButton {
	if out == nil {
		out = []*MenuButton{}
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return out
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "key" && v.Kind == yaml.ScalarNode && !isNull(v) && v.Value != "" {
				out = append(out, &MenuButton{Key: v.Value, Pos: p.pos(n), KeyPos: p.pos(v)})
			}
		}
	}
	for _, c := range n.Content {
		out = writtenKeys(c, p, out)
	}
	return out
}
