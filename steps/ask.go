package steps

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// Answer kinds an ask can expect.
var expectKinds = []string{"text", "number", "email", "phone", "url", "date", "location", "image", "choice", "pattern"}

func init() {
	register("ask", askStep{})
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
			{Name: "pattern", Type: flows.Regex, Doc: "A regular expression the whole answer must match; not empty (leave it out to accept any text)."},
			{Name: "choices", Type: flows.MapOf(flows.ListOf(choiceReply, true)), Doc: "For expect: choice, each value (not empty) with the replies that choose it (matched case-insensitively, around spaces trimmed, so not blank; written as is, not templates). A tap on an item of the question's message menu is matched by the item's id (a choice or a reply) and its text; an item that chooses nothing is a warning: a tap on it is always an invalid answer."},
			{Name: "save", Type: flows.SavePath, Doc: "Where the accepted answer goes."},
			{Name: "retries", Type: flows.Int, Default: "2", Doc: "How many invalid answers are answered with `invalid` before giving up: 0 to 10 (with 0, `invalid` is never sent: a warning)."},
			{Name: "invalid", Type: flows.Text, Default: "a message saying what is expected", Doc: "The text sent after an invalid answer."},
			{Name: "timeout", Type: flows.Duration, Default: "24h", Doc: "How long to wait for an answer, from the question: an invalid answer asks again (the `invalid:` text) and the wait starts over."},
			{Name: "on_timeout", Type: flows.Ref, Doc: "The step to go to when no answer comes in time; without it the run ends."},
			{Name: "on_invalid", Type: flows.Ref, Doc: "The step to go to after the last invalid answer; without it the run ends."},
		},
		Sends:    true,
		Suspends: true,
		Check:    checkAsk,
		Writes:   askWrites,
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

// choiceReply is one reply that chooses a value of an ask's choices:
// written as is, and not blank, since answers are trimmed before they are
// matched.
var choiceReply = flows.Refine(flows.Literal(flows.String, "choices", "matched", "replies cannot change with the run; for that, save the answer and branch on it"),
	flows.String.Name, flows.String.Doc,
	func(v any, at flows.Pos, r *flows.Reporter) (any, bool) {
		if strings.TrimSpace(v.(string)) == "" {
			r.Errorf(at, "remove it, or write the word that should choose this value",
				"blank reply %q: answers are trimmed before they are matched, so no answer can be it", v)
			return nil, false
		}
		return v, true
	})

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
	if re, ok := a.Get("pattern").(*regexp.Regexp); ok && re.String() == "" {
		r.Errorf(a.At("pattern"), "leave pattern: out to accept any text", "empty pattern: only an empty answer would match it, so every answer would be invalid")
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
			r.Errorf(a.At("min"), fmt.Sprintf("swap them: min: %v and max: %v", mx, mn), "min (%v) is larger than max (%v): no number would be a valid answer", mn, mx)
		}
	}
	if n := a.Int("retries", 2); n < 0 || n > 10 {
		r.Errorf(a.At("retries"), "use a number from 0 to 10", "retries must be between 0 and 10")
	} else if n == 0 && a.Given("invalid") {
		r.Warnf(a.KeyPos["invalid"], "remove invalid:, or allow retries (retries: 1 or more)", "invalid: is never sent: with retries: 0 the first invalid answer ends the ask (on_invalid, or the run ends)")
	}
	if msg, ok := s.Arg.(*flows.Message); ok && msg.Menu != nil && expect == "choice" && a.Given("choices") {
		// A tap on an item that chooses nothing is an invalid answer,
		// every time: the menu offers what the ask refuses.
		for _, it := range msg.Menu.Items {
			if it.Text == nil || !it.Text.IsConst() {
				continue // its text is known only when it is sent
			}
			text, _ := it.Text.Render(&flows.Env{})
			ev := flows.EventEnv{Type: "menu", Key: it.ID, Text: text}
			if _, ok := matchChoice(a, &ev, text); !ok {
				r.Warnf(a.At("choices"), fmt.Sprintf("add %q to the replies of the choice it stands for, or make the item's id a choice", it.ID),
					"the menu item %q (%s) chooses nothing: a tap on it is an invalid answer", it.ID, text)
			}
		}
	}
	if choices, ok := a.Get("choices").(*flows.Object); ok {
		seen := map[string]string{}
		for _, value := range choices.Keys {
			if strings.TrimSpace(value) == "" {
				word := "empty"
				if value != "" {
					word = "blank"
				}
				r.Errorf(choices.KeyPos[value], `name the value, e.g. yes: ["1", "yes"]: it is what save: keeps and what a branch compares`,
					"%s choice value %q: saved, it looks like no answer at all", word, value)
			}
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

// askWrites gives the variable an ask saves its answer to, typed by
// expect: (see checkAnswer): a number, a map for a location, text
// otherwise.
func askWrites(s *flows.Step) []flows.VarWrite {
	path := s.Args.String("save")
	if !strings.HasPrefix(path, "vars.") {
		return nil
	}
	t := flows.VarText
	switch expectKind(s.Args) {
	case "number":
		t = flows.VarNumber
	case "location":
		t = flows.VarMap
	}
	return []flows.VarWrite{{Name: strings.TrimPrefix(path, "vars."), Type: t, Pos: s.Args.At("save")}}
}

// The statuses an ask ends a run with when it has nowhere to go.
const (
	// StatusTimedOut ends a run whose ask got no answer in time and has
	// no on_timeout.
	StatusTimedOut = "timed_out"
	// StatusInvalid ends a run whose ask got no valid answer after its
	// retries and has no on_invalid.
	StatusInvalid = "invalid"
)

// askStep sends a question, waits for the answer and checks it.
type askStep struct{}

// Run sends the question and waits for the reply until the timeout. A
// question the channel refuses still waits: the contact may write first.
func (askStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	msg, _ := s.Arg.(*flows.Message)
	if msg == nil {
		return Outcome{}, errors.New("ask: no question")
	}
	if _, err := rt.Send(msg); err != nil {
		return Outcome{}, fmt.Errorf("ask: %w", err)
	}
	return waitReply(rt, s, 0), nil
}

func waitReply(rt Runtime, s *flows.Step, attempts int) Outcome {
	timeout := s.Args.Duration("timeout", flows.DefaultAskTimeout)
	return Outcome{Kind: WaitReply, Until: rt.Now().Add(timeout), Attempts: attempts}
}

// Resume checks an answer: a valid one becomes `answer` (and is saved),
// an invalid one is answered with `invalid` until the retries are used
// up, then on_invalid is taken. A timeout takes on_timeout.
func (askStep) Resume(rt Runtime, s *flows.Step, in Input) (Outcome, error) {
	switch in.Kind {
	case Timeout:
		return refOr(s.Args.Ref("on_timeout"), Outcome{Kind: End, Status: StatusTimedOut}), nil
	case Answer:
	default:
		return Outcome{}, fmt.Errorf("ask: resumed with %s, want an answer or a timeout", in.Kind)
	}
	a := s.Args
	value, ok := checkAnswer(a, &rt.Env().Event)
	if ok {
		rt.SetAnswer(value)
		if path := a.String("save"); path != "" {
			if err := rt.Save(path, value); err != nil {
				return Outcome{}, fmt.Errorf("ask: %w", err)
			}
		}
		return Outcome{Kind: Next}, nil
	}
	if in.Attempts >= a.Int("retries", 2) {
		return refOr(a.Ref("on_invalid"), Outcome{Kind: End, Status: StatusInvalid}), nil
	}
	reply := a.Template("invalid")
	if reply == nil {
		reply = flows.LiteralTemplate(expectedText(a))
	}
	if _, err := rt.Send(&flows.Message{Type: "text", Text: reply, Pos: a.At("invalid")}); err != nil {
		return Outcome{}, fmt.Errorf("ask: invalid: %w", err)
	}
	return waitReply(rt, s, in.Attempts+1), nil
}

// expectKind returns what an ask expects: its expect:, or pattern when it
// has a pattern: and text otherwise.
func expectKind(a *flows.Object) string {
	if e := a.String("expect"); e != "" {
		if e == "text" && a.Has("pattern") {
			return "pattern"
		}
		return e
	}
	if a.Has("pattern") {
		return "pattern"
	}
	return "text"
}

// checkAnswer validates the event that resumed an ask and returns the
// value to keep: the trimmed text, a float64 (number), "YYYY-MM-DD"
// (date), {lat, lng, label} (location), the media id (image) or the
// choice's key.
func checkAnswer(a *flows.Object, ev *flows.EventEnv) (any, bool) {
	text := strings.TrimSpace(ev.Text)
	switch expectKind(a) {
	case "text":
		return text, text != ""
	case "number":
		f, ok := parseNumber(text)
		if !ok {
			return nil, false
		}
		if mn, has := a.Get("min").(float64); has && f < mn {
			return nil, false
		}
		if mx, has := a.Get("max").(float64); has && f > mx {
			return nil, false
		}
		return f, true
	case "email":
		email := narrow(text)
		return email, reEmail.MatchString(email)
	case "phone":
		return parsePhone(text)
	case "url":
		u, err := url.Parse(text)
		ok := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && !strings.ContainsAny(text, " \t\n")
		return text, ok
	case "date":
		return parseDate(text)
	case "location":
		if ev.Type != "location" {
			return nil, false
		}
		l := ev.Location
		return map[string]any{"lat": l.Lat, "lng": l.Lng, "label": l.Label}, true
	case "image":
		return ev.MediaID, ev.Type == "image" && ev.MediaID != ""
	case "choice":
		return matchChoice(a, ev, text)
	case "pattern":
		re, _ := a.Get("pattern").(*regexp.Regexp)
		if re == nil {
			return nil, false
		}
		return text, wholeMatch(re, text)
	}
	return nil, false
}

var (
	reEmail  = regexp.MustCompile(`^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$`)
	reNumber = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)
	wholeRes sync.Map // *regexp.Regexp -> *regexp.Regexp anchored at both ends
)

// wholeMatch reports whether re matches all of s, not just a part.
func wholeMatch(re *regexp.Regexp, s string) bool {
	if w, ok := wholeRes.Load(re); ok {
		return w.(*regexp.Regexp).MatchString(s)
	}
	w, err := regexp.Compile(`^(?:` + re.String() + `)$`)
	if err != nil {
		return false
	}
	wholeRes.Store(re, w)
	return w.MatchString(s)
}

// narrow turns full-width ASCII (０-９, ＡＢＣ, ＠, ．) and the ideographic
// space into their ordinary forms, as Chinese keyboards often type them.
func narrow(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFF01 + '!'
		case r == 0x3000:
			return ' '
		}
		return r
	}, s)
}

// parseNumber accepts "12", "-3", "12.5" and their full-width forms.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(narrow(s))
	if !reNumber.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// parsePhone accepts a Chinese mobile number (11 digits starting with 1)
// or an international one (+ or 00, then 7 to 15 digits), with spaces and
// dashes anywhere; it returns the number without them.
func parsePhone(s string) (any, bool) {
	s = strings.NewReplacer(" ", "", "-", "").Replace(narrow(s))
	intl := false
	switch {
	case strings.HasPrefix(s, "+"):
		s, intl = s[1:], true
	case strings.HasPrefix(s, "00"):
		s, intl = s[2:], true
	}
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return nil, false
	}
	if intl {
		return "+" + s, len(s) >= 7 && len(s) <= 15
	}
	return s, len(s) == 11 && s[0] == '1'
}

var dateLayouts = []string{"2006-1-2", "2006/1/2", "2006.1.2", "2006年1月2日"}

// parseDate accepts YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD (months and days
// may have one digit) and YYYY年M月D日, and returns "YYYY-MM-DD".
func parseDate(s string) (any, bool) {
	s = strings.TrimSpace(narrow(s))
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly), true
		}
	}
	return nil, false
}

// matchChoice finds the choice whose replies include the answer (trimmed,
// case-insensitive). A tap on a message-menu item (an event of type menu)
// is matched by the item's id too, against the choice keys and replies.
func matchChoice(a *flows.Object, ev *flows.EventEnv, text string) (any, bool) {
	choices, _ := a.Get("choices").(*flows.Object)
	if choices == nil {
		return nil, false
	}
	var tries []string
	if ev.Type == "menu" && ev.Key != "" {
		if choices.Has(ev.Key) {
			return ev.Key, true
		}
		tries = append(tries, ev.Key)
	}
	if text != "" {
		tries = append(tries, text)
	}
	for _, try := range tries {
		want := strings.ToLower(narrow(try))
		for _, key := range choices.Keys {
			replies, _ := choices.Get(key).([]any)
			for _, r := range replies {
				if rs, _ := r.(string); strings.ToLower(narrow(strings.TrimSpace(rs))) == want {
					return key, true
				}
			}
		}
	}
	return nil, false
}

// expectedText is the reply to an invalid answer when the ask has no
// invalid: it says what is expected.
func expectedText(a *flows.Object) string {
	switch expectKind(a) {
	case "number":
		mn, hasMin := a.Get("min").(float64)
		mx, hasMax := a.Get("max").(float64)
		switch {
		case hasMin && hasMax:
			return fmt.Sprintf("Please reply with a number from %s to %s.", formatNumber(mn), formatNumber(mx))
		case hasMin:
			return fmt.Sprintf("Please reply with a number of at least %s.", formatNumber(mn))
		case hasMax:
			return fmt.Sprintf("Please reply with a number of at most %s.", formatNumber(mx))
		}
		return "Please reply with a number."
	case "email":
		return "Please reply with an email address, e.g. name@example.com."
	case "phone":
		return "Please reply with a phone number: a mobile number, or + and the country code."
	case "url":
		return "Please reply with a web address starting with http:// or https://."
	case "date":
		return "Please reply with a date as YYYY-MM-DD, e.g. 2026-10-01."
	case "location":
		return "Please send a location."
	case "image":
		return "Please send an image."
	case "choice":
		var words []string
		if choices, _ := a.Get("choices").(*flows.Object); choices != nil {
			for _, key := range choices.Keys {
				replies, _ := choices.Get(key).([]any)
				for _, r := range replies {
					if rs, _ := r.(string); rs != "" {
						words = append(words, rs)
					}
				}
			}
		}
		return "Please reply with one of: " + strings.Join(words, ", ") + "."
	case "pattern":
		return "Sorry, that is not in the expected form. Please try again."
	}
	return "Please reply with a text message."
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
