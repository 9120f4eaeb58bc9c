package steps

import (
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// Answer kinds an ask can expect.
var expectKinds = []string{"text", "number", "email", "phone", "url", "date", "location", "image", "choice", "pattern"}

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "ask",
		Summary:     "Sends a question and waits for the contact's answer.",
		Arg:         flows.MessageType,
		ArgRequired: true,
		ArgDoc:      "the question: a text, or a message map like send's",
		Keys: []flows.Field{
			{Name: "expect", Type: flows.Enum(expectKinds...), Default: "text (pattern when pattern: is given)", Doc: "What a valid answer is."},
			{Name: "min", Type: flows.Number, Doc: "The smallest number accepted (expect: number)."},
			{Name: "max", Type: flows.Number, Doc: "The largest number accepted (expect: number)."},
			{Name: "pattern", Type: flows.Regex, Doc: "A regular expression the whole answer must match."},
			{Name: "choices", Type: flows.MapOf(flows.ListOf(flows.String, true)), Doc: "For expect: choice, each value with the replies that choose it (matched case-insensitively)."},
			{Name: "save", Type: flows.SavePath, Doc: "Where the accepted answer goes."},
			{Name: "retries", Type: flows.Int, Default: "2", Doc: "How many invalid answers are answered with `invalid` before giving up."},
			{Name: "invalid", Type: flows.Text, Default: "a message saying what is expected", Doc: "The text sent after an invalid answer."},
			{Name: "timeout", Type: flows.Duration, Default: "24h", Doc: "How long to wait for an answer."},
			{Name: "on_timeout", Type: flows.Ref, Doc: "The step to go to when no answer comes in time; without it the run ends."},
			{Name: "on_invalid", Type: flows.Ref, Doc: "The step to go to after the last invalid answer; without it the run ends."},
		},
		Sends:    true,
		Suspends: true,
		Check:    checkAsk,
		Example: `- ask: "How many people?"
  expect: number
  min: 1
  max: 12
  save: vars.party
  invalid: "Please reply with a number from 1 to 12."
  timeout: 30m
  on_timeout: gave_up`,
	})
}

func checkAsk(s *flows.Step, r *flows.Reporter) {
	a := s.Args
	expect := a.String("expect")
	if a.Given("expect") && expect == "" {
		return // an invalid expect: is reported already; rules below depend on it
	}
	switch {
	case a.Given("pattern") && expect != "" && expect != "pattern" && expect != "text":
		r.Errorf(a.KeyPos["pattern"], "remove expect:, or remove pattern:", "pattern: applies to text answers, but this ask expects %s", expect)
	case expect == "pattern" && !a.Given("pattern"):
		r.Errorf(a.KeyPos["expect"], `add pattern: "^[0-9]{6}$" or similar`, "expect: pattern needs a pattern:")
	}
	if a.Given("choices") && expect != "choice" {
		r.Errorf(a.KeyPos["choices"], "add expect: choice", "choices: only apply to an ask that expects a choice")
	}
	if expect == "choice" && !a.Given("choices") {
		r.Errorf(a.KeyPos["expect"], `add choices:, e.g. choices: { yes: ["1", "yes"], no: ["2", "no"] }`, "expect: choice needs choices:")
	}
	for _, k := range []string{"min", "max"} {
		if a.Given(k) && expect != "number" {
			r.Errorf(a.KeyPos[k], "add expect: number", "%s: only applies to an ask that expects a number", k)
		}
	}
	if mn, ok := a.Get("min").(float64); ok {
		if mx, ok := a.Get("max").(float64); ok && mn > mx {
			r.Errorf(a.At("min"), "", "min (%v) is larger than max (%v)", mn, mx)
		}
	}
	if n := a.Int("retries", 2); n < 0 || n > 10 {
		r.Errorf(a.At("retries"), "use a number from 0 to 10", "retries must be between 0 and 10")
	}
	if choices, ok := a.Get("choices").(*flows.Object); ok {
		seen := map[string]string{}
		for _, value := range choices.Keys {
			replies, _ := choices.Get(value).([]any)
			for _, rep := range replies {
				word := strings.ToLower(strings.TrimSpace(rep.(string)))
				if other, dup := seen[word]; dup && other != value {
					r.Errorf(choices.At(value), "each reply may choose one value only", "reply %q chooses both %q and %q", rep, other, value)
				}
				seen[word] = value
			}
		}
	}
}
