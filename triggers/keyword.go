package triggers

import (
	"regexp"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// Keywords is a keyword trigger's argument: words matched against the whole
// trimmed message case-insensitively, or a pattern whose groups land in
// event.match.
type Keywords struct {
	Words   []string
	Pattern *regexp.Regexp
}

var keywordsType = flows.Refine(flows.OneOf("keywords",
	flows.ListOf(flows.Literal(flows.String, "keyword", "matched", "for a text that depends on the contact, use a message trigger with an if: on event.text"), true),
	flows.ObjectOf("keyword pattern", "keyword trigger", flows.Field{Name: "pattern", Type: flows.Regex, Required: true, Example: `"^order ([0-9]+)$"`, Doc: "A regular expression (Go's RE2 syntax) matched against the trimmed text: case-sensitive unless it starts with `(?i)`, and anywhere in the text unless anchored (`^...$`); its groups land in event.match. Not empty: a `message` trigger with `type: text` takes any text."})),
	"keywords", "A list of words (`[hi, hello, 你好]`), or `{pattern: REGEX}`; written as is (not templates: `${...}` in them is an error).",
	func(v any, at flows.Pos, r *flows.Reporter) (any, bool) {
		switch v := v.(type) {
		case []any:
			k := &Keywords{}
			for _, w := range v {
				word := strings.TrimSpace(w.(string))
				if word == "" {
					r.Errorf(at, "remove the empty word", "empty keyword")
					return nil, false
				}
				k.Words = append(k.Words, word)
			}
			return k, true
		case *flows.Object:
			re, _ := v.Get("pattern").(*regexp.Regexp)
			if re != nil && re.String() == "" {
				r.Errorf(v.At("pattern"), "for any text, use a message trigger with type: text", "empty pattern: it matches every text")
				return nil, false
			}
			return &Keywords{Pattern: re}, true
		}
		return nil, false
	})

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:        "keyword",
		Summary:     "The contact sends a text that is one of the words, or matches the pattern.",
		Input:       "text message",
		Arg:         keywordsType,
		ArgRequired: true,
		ArgDoc:      "a list of words, or {pattern: REGEX}",
		Interaction: "message",
		Inputs: func(t *flows.Trigger) ([]string, int) {
			k, _ := t.Arg.(*Keywords)
			if k == nil {
				return nil, 0
			}
			if k.Pattern != nil {
				return []string{"text-pattern:" + k.Pattern.String()}, SpecificityPattern
			}
			var out []string
			for _, w := range k.Words {
				// As the index matches texts (foldKey): case and
				// full-width spaces do not tell two keywords apart.
				out = append(out, "text:"+foldKey(strings.TrimSpace(w)))
			}
			return out, SpecificityExact
		},
		Example: `- keyword: [hi, hello, 你好]
- keyword: { pattern: "^order ([0-9]+)$" }`,
	})
}
