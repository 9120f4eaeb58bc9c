// Package scenario reads and runs `*.test.yaml` test scenarios: a
// simulated follower's actions (follow, say, wait, ...) and what the flows
// should answer, run on an sandbox.Sandbox with a virtual clock. `wxflow
// test` runs them; docs/testing.md describes the format.
package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

// DefaultStart is where the virtual clock starts in a scenario without
// start: Monday 16 November 2026, 10:00 in Beijing, a working day during
// business hours.
var DefaultStart = time.Date(2026, 11, 16, 10, 0, 0, 0, time.FixedZone("+08:00", 8*3600))

// DefaultContact is the id of the contact a scenario plays when its
// contact: gives none.
const DefaultContact = "alice"

// Problem is a mistake in a scenario file, with its place and a hint.
type Problem struct {
	File    string
	Line    int
	Col     int
	Message string
	Hint    string
}

// String renders the problem as "file:line:col: message (hint)".
func (p Problem) String() string {
	s := fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	if p.Hint != "" {
		s += " (" + p.Hint + ")"
	}
	return s
}

// Problems is a list of problems; as an error it is their lines.
type Problems []Problem

// Error joins the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// File is a parsed `.test.yaml` file.
type File struct {
	Path      string
	Scenarios []*Scenario
	// Problems are the file's own problems (YAML syntax): the
	// scenarios after the first of them could not be read.
	Problems Problems
}

// Scenario is one YAML document of a test file: a starting state, HTTP
// stubs and a script.
type Scenario struct {
	File string
	// Pos is where the document starts.
	Pos  flows.Pos
	Name string
	// Start is where the virtual clock starts (DefaultStart when start:
	// is not given).
	Start time.Time
	// Zone is the server's time zone, for `hours` and `schedule` without
	// a timezone (UTC when timezone: is not given).
	Zone *time.Location
	// Account is the account the contact writes to.
	Account string
	// Settings are the account's window, quota and region rules.
	Settings wechat.Settings
	// Contact is the contact the scenario plays, as it is at the start.
	Contact Contact
	// HTTP answers the flows' http steps.
	HTTP   []*Stub
	Script []*Action
	// People are the operators and teams of the header (operators:,
	// teams:), or nil when it declares none; FlowPeople are their names,
	// against which the flows' assign steps are checked.
	People     *engine.People
	FlowPeople *flows.People
	// AutoClose is the account's auto_close (0: engine.DefaultAutoClose).
	AutoClose time.Duration
	// Problems are what is wrong with the scenario; it does not run when
	// there are any.
	Problems Problems
}

// Contact is the contact a scenario plays. With Seed, it exists before
// the script starts (a follower with these tags and fields).
type Contact struct {
	ID     string
	Seed   bool
	Tags   []string
	Fields map[string]any
}

// Stub is one canned answer to HTTP requests whose method and URL match.
type Stub struct {
	Pos flows.Pos
	// Method is the request's method; "" matches any.
	Method string
	// URL is a glob on the whole URL, query included.
	URL     string
	Status  int
	Headers map[string]string
	Body    []byte
	// Error, when set, fails the request instead of answering it:
	// "timeout" as a timeout, anything else as a network error with
	// this text.
	Error string
}

// The kinds of actions in a script.
const (
	ActFollow        = "follow"
	ActUnfollow      = "unfollow"
	ActScan          = "scan"
	ActMenu          = "menu"
	ActTap           = "tap"
	ActSay           = "say"
	ActImage         = "image"
	ActLocation      = "location"
	ActWait          = "wait"
	ActFailNext      = "fail_next"
	ActExpect        = "expect"
	ActExpectNone    = "expect_none"
	ActExpectContact = "expect_contact"
	ActExpectRun     = "expect_run"
	// What operators do (the scenario's operators: header).
	ActReply              = "reply"
	ActComment            = "comment"
	ActClose              = "close"
	ActAssign             = "assign"
	ActOpen               = "open"
	ActExpectConversation = "expect_conversation"
)

var actionKinds = []string{ActFollow, ActUnfollow, ActScan, ActMenu, ActTap, ActSay, ActImage, ActLocation, ActWait,
	ActFailNext, ActExpect, ActExpectNone, ActExpectContact, ActExpectRun,
	ActReply, ActComment, ActClose, ActAssign, ActOpen, ActExpectConversation}

// Action is one step of a script: something the contact does, time
// passing, or a check.
type Action struct {
	Kind string
	Pos  flows.Pos
	// Arg is the scene (follow, scan), the key (menu), the item id (tap),
	// the text (say) or the media id (image).
	Arg string
	// Location is where a location message points.
	Location channels.Geo
	// Wait is how far the clock moves.
	Wait time.Duration
	// Fail is what fail_next makes the platform answer, and Count how
	// many sends it applies to.
	Fail  error
	Count int
	// Expect, ExpectContact and ExpectRun are the checks.
	Expect        *MessageCheck
	ExpectContact *ContactCheck
	ExpectRun     *RunCheck
	// Operator is who does an operator's action (reply, comment, close,
	// assign, open), and Do what they do.
	Operator string
	Do       *engine.Action
	// ExpectConversation is the expect_conversation check.
	ExpectConversation *ConvCheck
}

// MessageCheck is what `expect` wants of the next outbound message. Empty
// fields are not checked.
type MessageCheck struct {
	// Text is a glob on a text message's text.
	Text *string
	// Image, Voice and Video are globs on the media: its file path, file
	// name, URL or media id.
	Image, Voice, Video *string
	// News is a glob on a news article's title.
	News *string
	// Menu is a glob on a message menu's head, items or tail: one of
	// them must match.
	Menu *string
	// Type is the message type.
	Type string
	// Status is sent, failed, unknown or pending; without it, failed
	// when Reason is given and sent otherwise.
	Status string
	// Reason is why the message failed.
	Reason string
	// From, when set, is who sent it: an operator's name, "flow NAME"
	// (a run of that flow) or "flow" (any flow); FromPos is where it is
	// written.
	From    string
	FromPos flows.Pos
}

// ContactCheck is what `expect_contact` wants of the contact.
type ContactCheck struct {
	// Fields maps field names to values; a string is a glob on the
	// field's value as text, null means the field is not set.
	Fields     map[string]any
	FieldOrder []string
	// Tags must all be on the contact, NoTags none of them.
	Tags, NoTags []string
	// Followed, when set, is whether the contact follows.
	Followed *bool
}

// RunCheck is what `expect_run` wants of the newest run of a flow (of any
// flow when Flow is "").
type RunCheck struct {
	// Flow is the flow's name, written at FlowPos.
	Flow    string
	FlowPos flows.Pos
	// Status is the run's status (waiting_reply, completed, ...).
	Status string
	// Step is a glob on the run's step: its id, or kind and line.
	Step *string
	// Vars are checked like ContactCheck.Fields.
	Vars     map[string]any
	VarOrder []string
}

// runStatuses are the statuses expect_run can name.
var runStatuses = []string{
	string(engine.RunRunning), string(engine.RunWaitingReply), string(engine.RunWaitingTime), string(engine.RunCalling),
	string(engine.RunWaitingSend), string(engine.RunCompleted), string(engine.RunTimedOut), string(engine.RunInvalid), string(engine.RunInterrupted),
	string(engine.RunRestarted), string(engine.RunUnfollowed), string(engine.RunLooping), string(engine.RunFailed),
	string(engine.RunHandedOver),
}

// reasons are the failure reasons a scenario can name.
var reasons = []string{
	string(channels.ReasonWindowClosed), string(channels.ReasonQuotaExhausted), string(channels.ReasonUnfollowed),
	string(channels.ReasonMediaTooLarge), string(channels.ReasonMediaType), string(channels.ReasonRegion), string(channels.ReasonAPIError),
}

var (
	messageTypes   = []string{"text", "image", "voice", "video", "news", "menu"}
	outboxStatuses = []string{string(engine.OutboxSent), string(engine.OutboxFailed), string(engine.OutboxUnknown), string(engine.OutboxPending)}
	httpMethods    = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
	scenarioKeys   = []string{"name", "start", "timezone", "account", "contact", "operators", "teams", "http", "script"}
)

// LoadFile reads and parses a test file. The error is only for a file
// that cannot be read; mistakes in it are Problems.
func LoadFile(path string) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src), nil
}

// Parse parses the source of a test file: one scenario per YAML document.
func Parse(path string, src []byte) *File {
	f := &File{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Problems = append(f.Problems, yamlProblem(path, src, err))
			break
		}
		root := &doc
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
			continue // an empty document, e.g. after a final ---
		}
		p := &parser{file: path}
		sc := p.scenario(root)
		sort.SliceStable(p.problems, func(i, j int) bool {
			a, b := p.problems[i], p.problems[j]
			return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
		})
		sc.Problems = p.problems
		f.Scenarios = append(f.Scenarios, sc)
	}
	if len(f.Scenarios) == 0 && len(f.Problems) == 0 {
		f.Problems = append(f.Problems, Problem{File: path, Line: 1, Col: 1, Message: "the file has no scenarios",
			Hint: "a scenario is a YAML document with name: and script:"})
	}
	return f
}

// yamlProblem places a YAML syntax error of src.
func yamlProblem(path string, src []byte, err error) Problem {
	s := flows.PlaceYAMLError(src, err)
	return Problem{File: path, Line: s.Line, Col: s.Col, Message: "YAML syntax error: " + s.Message, Hint: s.Hint}
}

// parser collects the problems of one scenario.
type parser struct {
	file     string
	problems Problems
	// names are the operator and team names the script uses, checked
	// against the header once it is read.
	names []nameRef
}

func pos(n *yaml.Node) flows.Pos { return flows.Pos{Line: n.Line, Col: n.Column} }

func (p *parser) errorf(n *yaml.Node, hint, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: n.Line, Col: n.Column, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node is, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

// pair is a key and its value.
type pair struct{ k, v *yaml.Node }

// mapping returns the pairs of a map whose keys must be among keys
// (reported with a hint otherwise, and left out); ok is false when n is
// not a map.
func (p *parser) mapping(n *yaml.Node, what string, keys []string, hint string) ([]pair, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, hint, "%s must be a map, got %s", what, describe(n))
		return nil, false
	}
	var out []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if line, dup := seen[k.Value]; dup {
			p.errorf(k, fmt.Sprintf("it is first given at line %d", line), "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = k.Line
		if keys != nil && !contains(keys, k.Value) {
			h := flows.DidYouMean(k.Value, keys)
			if h == "" && what == "a scenario" && contains(actionKinds, k.Value) {
				// An action written beside script: rather than in it.
				h = fmt.Sprintf("%s is an action: write it as an item of script: (- %s)", k.Value, k.Value)
			}
			if h == "" {
				h = what + " takes " + strings.Join(keys, ", ")
			}
			p.errorf(k, h, "unknown key %q in %s", k.Value, what)
			continue
		}
		out = append(out, pair{k, v})
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// text returns a scalar's text; null and collections are reported.
func (p *parser) text(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, textHint(n, what), "%s must be a text, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// textHint says how to write a text where n, nothing or a collection,
// stands.
func textHint(n *yaml.Node, what string) string {
	switch {
	case what == "name" && isNull(n):
		return `write what the scenario shows after name:, e.g. name: "a new follower is greeted"`
	case isNull(n):
		return fmt.Sprintf("write the %s after the colon", what)
	case n.Kind == yaml.AliasNode:
		return fmt.Sprintf("write the %s out; the alias names no text", what)
	}
	return fmt.Sprintf(`write the %s as one text, in quotes when it holds ": " or starts with [ or {`, what)
}

// oneOf returns a scalar that must be one of values.
func (p *parser) oneOf(n *yaml.Node, what string, values []string) (string, bool) {
	s, ok := p.text(n, what)
	if !ok {
		return "", false
	}
	if !contains(values, s) {
		h := flows.DidYouMean(s, values)
		if h == "" {
			h = "one of " + strings.Join(values, ", ")
		}
		p.errorf(n, h, "unknown %s %q", what, s)
		return "", false
	}
	return s, true
}

func (p *parser) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := p.text(n, what)
	if !ok {
		return 0, false
	}
	d, err := flows.ParseDuration(s)
	if err != nil {
		p.errorf(n, "write durations like 90s, 30m, 2h, 3d or 1h30m", "%s: %v", what, err)
		return 0, false
	}
	return d, true
}

func (p *parser) integer(n *yaml.Node, what string, min int) (int, bool) {
	i, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.errorf(n, "", "%s must be a whole number, got %s", what, describe(n))
		return 0, false
	}
	if i < min {
		p.errorf(n, "", "%s must be at least %d", what, min)
		return 0, false
	}
	return i, true
}

func (p *parser) float(n *yaml.Node, what string) (float64, bool) {
	f, err := strconv.ParseFloat(n.Value, 64)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.errorf(n, "", "%s must be a number, got %s", what, describe(n))
		return 0, false
	}
	return f, true
}

// degrees returns a number between -max and max (a latitude or a
// longitude).
func (p *parser) degrees(n *yaml.Node, what string, max float64, hint string) (float64, bool) {
	f, ok := p.float(n, what)
	if !ok {
		return 0, false
	}
	if !(f >= -max && f <= max) {
		p.errorf(n, hint, "%s %s is out of range: it must be between %g and %g", what, n.Value, -max, max)
		return 0, false
	}
	return f, true
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	p.errorf(n, "", "%s must be true or false, got %s", what, describe(n))
	return false, false
}

// texts returns a list of texts. A single text is refused, with a hint
// to write it as a list of one: the documentation says a list.
func (p *parser) texts(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		p.errorf(n, fmt.Sprintf("write a list, even of one: [%s]", n.Value), "%s must be a list of texts, got %s", what, describe(n))
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "", "%s must be a list of texts, got %s", what, describe(n))
		return nil, false
	}
	var out []string
	ok := true
	for _, c := range n.Content {
		s, good := p.text(deref(c), what+" item")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// value decodes any YAML value into Go values (strings, int, float64,
// bool, nil, []any, map[string]any).
func (p *parser) value(n *yaml.Node, what string) (any, bool) {
	var v any
	if err := n.Decode(&v); err != nil {
		p.errorf(n, "", "%s: %v", what, err)
		return nil, false
	}
	return flows.JSONShape(v), true
}

// values parses a map of names to values (contact fields, run vars),
// keeping the order they were written in.
func (p *parser) values(n *yaml.Node, what string) (map[string]any, []string, bool) {
	pairs, ok := p.mapping(n, what, nil, "")
	if !ok {
		return nil, nil, false
	}
	out := map[string]any{}
	var order []string
	for _, kv := range pairs {
		v, good := p.value(kv.v, what+"."+kv.k.Value)
		ok = ok && good
		out[kv.k.Value] = v
		order = append(order, kv.k.Value)
	}
	return out, order, ok
}

// scenario parses one document.
func (p *parser) scenario(n *yaml.Node) *Scenario {
	sc := &Scenario{File: p.file, Pos: pos(n), Start: DefaultStart, Zone: time.UTC, Account: sandbox.DefaultAccount,
		Contact: Contact{ID: DefaultContact}}
	pairs, ok := p.mapping(n, "a scenario", scenarioKeys, "a scenario is a map with name: and script:")
	if !ok {
		return sc
	}
	var hasName, hasScript bool
	for _, kv := range pairs {
		k, v := kv.k, kv.v
		switch k.Value {
		case "name":
			hasName = true
			if s, ok := p.text(v, "name"); ok {
				sc.Name = s
			}
		case "start":
			s, ok := p.text(v, "start")
			if !ok {
				break
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				p.errorf(v, "write it as 2026-11-20T10:00:00+08:00", "start: %q is not an RFC 3339 time", s)
				break
			}
			sc.Start = t
		case "timezone":
			s, ok := p.text(v, "timezone")
			if !ok {
				break
			}
			z, err := time.LoadLocation(s)
			if err != nil || s == "Local" || s == "" {
				p.errorf(v, "use an IANA name such as Asia/Shanghai", "unknown time zone %q", s)
				break
			}
			sc.Zone = z
		case "account":
			p.account(v, sc)
		case "contact":
			p.contact(v, sc)
		case "operators":
			p.operators(v, sc)
		case "teams":
			p.teams(v, sc)
		case "http":
			p.stubs(v, sc)
		case "script":
			hasScript = true
			p.script(v, sc)
		}
	}
	if !hasName {
		p.errorf(n, `add name: "what this scenario shows"`, "a scenario needs a name:")
	}
	if !hasScript {
		p.errorf(n, "add script: with the follower's actions and expect: checks", "a scenario needs a script:")
	}
	p.people(sc)
	if err := sc.Settings.Validate(); err != nil && len(p.problems) == 0 {
		p.errorf(n, "", "account: %v", err)
	}
	return sc
}

var accountKeys = []string{"id", "region", "window", "message_quota", "event_quota", "event_window", "auto_close"}

func (p *parser) account(n *yaml.Node, sc *Scenario) {
	pairs, _ := p.mapping(n, "account", accountKeys, "e.g. account: { region: international, message_quota: 20 }")
	var eventWindow *yaml.Node
	defer func() {
		// Replies after an event may not go out longer than after a
		// message: WeChat's event window is the shorter one.
		window := sc.Settings.Window
		if window == 0 {
			window = wechat.DefaultWindow
		}
		if eventWindow != nil && sc.Settings.EventWindow > window {
			p.errorf(eventWindow, fmt.Sprintf("make it %s or shorter (WeChat's own document says 1m), or make window: longer", flows.FormatDuration(window)),
				"event_window %s is longer than the window %s", flows.FormatDuration(sc.Settings.EventWindow), flows.FormatDuration(window))
		}
	}()
	for _, kv := range pairs {
		v := kv.v
		switch kv.k.Value {
		case "id":
			if s, ok := p.text(v, "account id"); ok {
				if !flows.AccountIDPattern.MatchString(s) {
					p.errorf(v, "1 to 32 lowercase letters, digits, _ or -, as the config's accounts: and a flow's account: (leave id: out for the sandbox's account)", "account id %q is not an account id", s)
					break
				}
				sc.Account = s
			}
		case "region":
			if s, ok := p.oneOf(v, "region", []string{wechat.RegionMainland, wechat.RegionInternational}); ok {
				sc.Settings.Region = s
			}
		case "window":
			if d, ok := p.duration(v, "window"); ok {
				sc.Settings.Window = d
			}
		case "event_window":
			if d, ok := p.duration(v, "event_window"); ok {
				sc.Settings.EventWindow = d
				eventWindow = v
			}
		case "auto_close":
			if d, ok := p.duration(v, "auto_close"); ok {
				if d <= 0 {
					p.errorf(v, "write how long a conversation stays open after the contact's last interaction, like 24h", "auto_close must be longer than zero")
					break
				}
				sc.AutoClose = d
			}
		case "message_quota":
			if i, ok := p.integer(v, "message_quota", 1); ok {
				sc.Settings.MessageQuota = i
			}
		case "event_quota":
			if i, ok := p.integer(v, "event_quota", 1); ok {
				sc.Settings.EventQuota = i
			}
		}
	}
}

func (p *parser) contact(n *yaml.Node, sc *Scenario) {
	pairs, ok := p.mapping(n, "contact", []string{"id", "tags", "fields"}, "e.g. contact: { tags: [vip], fields: { city: Shanghai } }")
	if !ok {
		return
	}
	c := &sc.Contact
	for _, kv := range pairs {
		v := kv.v
		switch kv.k.Value {
		case "id":
			if s, ok := p.text(v, "contact id"); ok {
				if s == "" {
					p.errorf(v, "leave id: out for the default contact, or write an OpenID, e.g. o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "contact id is empty")
				}
				c.ID = s
			}
		case "tags":
			c.Seed = true
			if l, ok := p.texts(v, "tags"); ok {
				c.Tags = l
			}
		case "fields":
			c.Seed = true
			if m, _, ok := p.values(v, "fields"); ok {
				c.Fields = m
			}
		}
	}
}

// headerValueNode returns the node of key k's value in the map n, or n.
func headerValueNode(n *yaml.Node, k string) *yaml.Node {
	n = deref(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return n.Content[i+1]
		}
	}
	return n
}

// describeValue names a YAML value's kind for a problem.
func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%v", v)
}

var stubKeys = []string{"method", "url", "status", "headers", "json", "body", "error"}

func (p *parser) stubs(n *yaml.Node, sc *Scenario) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "http: is a list of stubs, e.g. - { url: \"https://crm.example.com/*\", json: { id: 7 } }", "http must be a list, got %s", describe(n))
		return
	}
	for _, item := range n.Content {
		item = deref(item)
		pairs, ok := p.mapping(item, "an http stub", stubKeys, "a stub is a map with url: and status:, json:, body: or error:")
		if !ok {
			continue
		}
		st := &Stub{Pos: pos(item), Status: 200}
		var hasURL, hasStatus, hasJSON, hasBody bool
		for _, kv := range pairs {
			v := kv.v
			switch kv.k.Value {
			case "method":
				if s, ok := p.text(v, "method"); ok {
					s = strings.ToUpper(s)
					if !contains(httpMethods, s) {
						p.errorf(v, "one of "+strings.Join(httpMethods, ", "), "unknown method %q", s)
					}
					st.Method = s
				}
			case "url":
				hasURL = true
				if s, ok := p.text(v, "url"); ok {
					st.URL = s
				}
			case "status":
				hasStatus = true
				if i, ok := p.integer(v, "status", 100); ok {
					if i > 599 {
						p.errorf(v, "", "status %d is not an HTTP status", i)
					}
					st.Status = i
				}
			case "headers":
				m, order, ok := p.values(v, "headers")
				if ok {
					st.Headers = map[string]string{}
					for _, k := range order {
						switch x := m[k].(type) {
						case string, bool, int, int64, float64:
							st.Headers[k] = flows.TextOf(x)
						default:
							// A list, a map or nothing has no header text
							// ("[1 map[a:b]]", "<nil>" were sent).
							p.errorf(headerValueNode(v, k), `write the header's value as text, e.g. X-Request-Id: "abc-1"`, "header %s must be a text, got %s", k, describeValue(x))
						}
					}
				}
			case "json":
				hasJSON = true
				if val, ok := p.value(v, "json"); ok {
					b, err := json.Marshal(val)
					if err != nil {
						p.errorf(v, "", "json: %v", err)
						break
					}
					st.Body = b
				}
			case "body":
				hasBody = true
				if s, ok := p.text(v, "body"); ok {
					st.Body = []byte(s)
				}
			case "error":
				if s, ok := p.text(v, "error"); ok {
					st.Error = s
				}
			}
		}
		if hasJSON && !hasHeader(st.Headers, "Content-Type") {
			if st.Headers == nil {
				st.Headers = map[string]string{}
			}
			st.Headers["Content-Type"] = "application/json"
		}
		switch {
		case !hasURL:
			p.errorf(item, `add url: with a glob such as "https://crm.example.com/*"`, "an http stub needs a url:")
		case hasJSON && hasBody:
			p.errorf(item, "use json: for JSON, body: for anything else", "an http stub has both json: and body:")
		case st.Error != "" && (hasJSON || hasBody || hasStatus):
			p.errorf(item, "a failed request has no answer: drop status:, json: and body:", "an http stub with error: cannot answer too")
		}
		sc.HTTP = append(sc.HTTP, st)
	}
}

func (p *parser) script(n *yaml.Node, sc *Scenario) {
	hint := `script: is a list of actions such as - follow, - say: hi, - expect: "Welcome*"`
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, hint, "script must be a list of actions, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		p.errorf(n, hint, "script has no actions")
		return
	}
	for _, item := range n.Content {
		if a := p.action(deref(item)); a != nil {
			sc.Script = append(sc.Script, a)
		}
	}
}

// actionHint says how each action is written.
var actionHint = map[string]string{
	ActFollow:             "- follow, or - follow: store_1 for a follow through a QR code",
	ActUnfollow:           "- unfollow",
	ActScan:               "- scan: store_1",
	ActMenu:               "- menu: MENU_HELP",
	ActTap:                "- tap: ITEM_ID, the id of an item of the last message menu",
	ActSay:                "- say: hello",
	ActImage:              "- image, or - image: MEDIA_ID",
	ActLocation:           "- location: { lat: 31.23, lng: 121.47, label: People's Square }",
	ActWait:               "- wait: 2h",
	ActFailNext:           "- fail_next: api_error, or - fail_next: { reason: api_error, code: 45015, count: 2 }",
	ActExpect:             `- expect: "Welcome*", or - expect: { status: failed, reason: window_closed }`,
	ActExpectNone:         "- expect_none",
	ActExpectContact:      "- expect_contact: { fields: { name: Alice }, tags: [vip], no_tags: [lead] }",
	ActExpectRun:          "- expect_run: { flow: welcome, status: completed }",
	ActReply:              `- reply: { operator: amy, text: "Sorry! Let me check." }, or { operator: amy, image: MEDIA_ID }`,
	ActComment:            `- comment: { operator: amy, text: "courier delayed" }`,
	ActClose:              "- close: { operator: amy, note: solved, category: delivery }",
	ActAssign:             "- assign: { operator: amy, to: bob }, { operator: amy, team: support, pick: round_robin }, or { operator: amy, to: none }",
	ActOpen:               "- open: { operator: amy }",
	ActExpectConversation: "- expect_conversation: { status: open, assignee: amy, team: support }",
}

// action parses one item of a script: a bare kind or a map of one kind to
// its argument.
func (p *parser) action(n *yaml.Node) *Action {
	var k, v *yaml.Node
	switch {
	case n.Kind == yaml.ScalarNode && !isNull(n):
		k = n
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		k, v = n.Content[0], deref(n.Content[1])
		if isNull(v) {
			v = nil
		}
	case n.Kind == yaml.MappingNode && len(n.Content) > 2:
		// A key given twice (say: twice) is a duplicate key, as YAML 1.2
		// has it, not an action of two kinds.
		var names []string
		seen := map[string]int{}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i]
			if line, dup := seen[k.Value]; dup {
				p.errorf(k, fmt.Sprintf("it is first given at line %d", line), "duplicate key %q in an action", k.Value)
				continue
			}
			seen[k.Value] = k.Line
			names = append(names, k.Value)
		}
		if len(names) > 1 {
			p.errorf(n.Content[2], "write each action as its own list item", "an action has one kind, got %s", strings.Join(names, " and "))
		}
		return nil
	default:
		p.errorf(n, "e.g. - say: hello", "expected an action, got %s", describe(n))
		return nil
	}
	kind := k.Value
	if !contains(actionKinds, kind) {
		h := flows.DidYouMean(kind, actionKinds)
		if h == "" {
			h = "actions: " + strings.Join(actionKinds, ", ")
		}
		p.errorf(k, h, "unknown action %q", kind)
		return nil
	}
	a := &Action{Kind: kind, Pos: pos(k)}
	hint := actionHint[kind]
	need := func() bool {
		if v == nil {
			p.errorf(k, hint, "%s needs an argument", kind)
			return false
		}
		return true
	}
	none := func() bool {
		if v != nil {
			p.errorf(v, hint, "%s takes no argument", kind)
			return false
		}
		return true
	}
	switch kind {
	case ActFollow, ActImage:
		if v != nil {
			s, ok := p.text(v, kind)
			if !ok {
				return nil
			}
			a.Arg = s
		}
	case ActUnfollow, ActExpectNone:
		if !none() {
			return nil
		}
	case ActScan, ActMenu, ActTap, ActSay:
		if !need() {
			return nil
		}
		s, ok := p.text(v, kind)
		if !ok {
			return nil
		}
		if kind == ActSay && s == "" {
			p.errorf(v, "write what the contact says, e.g. say: hello", "say has an empty text, but WeChat sends no empty text message")
			return nil
		}
		a.Arg = s
	case ActLocation:
		if !need() || !p.location(v, a) {
			return nil
		}
	case ActWait:
		if !need() {
			return nil
		}
		d, ok := p.duration(v, "wait")
		if !ok {
			return nil
		}
		a.Wait = d
	case ActFailNext:
		if !need() || !p.failNext(v, a) {
			return nil
		}
	case ActExpect:
		if !need() {
			return nil
		}
		a.Expect = p.messageCheck(v)
		if a.Expect == nil {
			return nil
		}
	case ActExpectContact:
		if !need() {
			return nil
		}
		a.ExpectContact = p.contactCheck(v)
		if a.ExpectContact == nil {
			return nil
		}
	case ActExpectRun:
		if !need() {
			return nil
		}
		a.ExpectRun = p.runCheck(v)
		if a.ExpectRun == nil {
			return nil
		}
	case ActReply, ActComment, ActClose, ActAssign, ActOpen:
		if !need() || !p.operatorAction(v, a) {
			return nil
		}
	case ActExpectConversation:
		if !need() {
			return nil
		}
		a.ExpectConversation = p.convCheck(v)
		if a.ExpectConversation == nil {
			return nil
		}
	}
	return a
}

func (p *parser) location(n *yaml.Node, a *Action) bool {
	pairs, ok := p.mapping(n, "location", []string{"lat", "lng", "label", "scale"}, actionHint[ActLocation])
	if !ok {
		return false
	}
	var hasLat, hasLng bool
	for _, kv := range pairs {
		var good bool
		switch kv.k.Value {
		case "lat":
			hasLat = true
			a.Location.Lat, good = p.degrees(kv.v, "lat", 90, "a latitude is between -90 (the South Pole) and 90 (the North Pole), e.g. lat: 31.23")
		case "lng":
			hasLng = true
			a.Location.Lng, good = p.degrees(kv.v, "lng", 180, "a longitude is between -180 and 180 (east is positive), e.g. lng: 121.47")
		case "label":
			a.Location.Label, good = p.text(kv.v, "label")
		case "scale":
			a.Location.Scale, good = p.integer(kv.v, "scale", 0)
		}
		ok = ok && good
	}
	if !hasLat || !hasLng {
		p.errorf(n, actionHint[ActLocation], "a location needs lat: and lng:")
		return false
	}
	return ok
}

// failNext parses `fail_next: REASON` or `{reason, code, count}`.
func (p *parser) failNext(n *yaml.Node, a *Action) bool {
	values := append(append([]string(nil), reasons...), "unknown")
	reason, code, count := "", 0, 1
	if n.Kind == yaml.ScalarNode {
		r, ok := p.oneOf(n, "fail_next reason", values)
		if !ok {
			return false
		}
		reason = r
	} else {
		pairs, ok := p.mapping(n, "fail_next", []string{"reason", "code", "count"}, actionHint[ActFailNext])
		if !ok {
			return false
		}
		for _, kv := range pairs {
			var good bool
			switch kv.k.Value {
			case "reason":
				reason, good = p.oneOf(kv.v, "fail_next reason", values)
			case "code":
				code, good = p.integer(kv.v, "code", 0)
			case "count":
				count, good = p.integer(kv.v, "count", 1)
			}
			ok = ok && good
		}
		if !ok {
			return false
		}
		if reason == "" {
			reason = string(channels.ReasonAPIError)
		}
	}
	a.Count = count
	if reason == "unknown" {
		a.Fail = fmt.Errorf("the platform did not answer: %w", channels.ErrUnknown)
	} else {
		a.Fail = &channels.Refusal{Reason: channels.Reason(reason), Code: code, Detail: "fail_next in the scenario"}
	}
	return true
}

var messageCheckKeys = []string{"text", "image", "voice", "video", "news", "menu", "type", "status", "reason", "from"}

func (p *parser) messageCheck(n *yaml.Node) *MessageCheck {
	c := &MessageCheck{}
	if n.Kind == yaml.ScalarNode {
		s, ok := p.text(n, "expect")
		if !ok {
			return nil
		}
		c.Text = &s
		return c
	}
	pairs, ok := p.mapping(n, "expect", messageCheckKeys, actionHint[ActExpect])
	if !ok {
		return nil
	}
	for _, kv := range pairs {
		v := kv.v
		var good bool
		glob := func(dst **string) {
			var s string
			if s, good = p.text(v, kv.k.Value); good {
				*dst = &s
			}
		}
		switch kv.k.Value {
		case "text":
			glob(&c.Text)
		case "image":
			glob(&c.Image)
		case "voice":
			glob(&c.Voice)
		case "video":
			glob(&c.Video)
		case "news":
			glob(&c.News)
		case "menu":
			glob(&c.Menu)
		case "type":
			c.Type, good = p.oneOf(v, "message type", messageTypes)
		case "status":
			c.Status, good = p.oneOf(v, "status", outboxStatuses)
		case "reason":
			c.Reason, good = p.oneOf(v, "reason", reasons)
		case "from":
			c.From, good = p.from(v)
			c.FromPos = pos(v)
		}
		ok = ok && good
	}
	if !ok {
		return nil
	}
	if !p.oneKind(pairs, c.Type) {
		return nil
	}
	if c.Reason != "" && c.Status != "" && c.Status != string(engine.OutboxFailed) {
		p.errorf(n, "drop status:, or make it failed", "only a failed message has a reason, but status is %s", c.Status)
		return nil
	}
	return c
}

// messageKinds are the keys of an expected message that each check a
// kind of message: a message is of one kind, so at most one may be given
// (and it must agree with type:).
var messageKinds = []string{"text", "image", "voice", "video", "news", "menu"}

// oneKind reports, at the second kind key, an expected message that
// checks two kinds (expect: { text: a, image: b }), or a kind key that
// disagrees with type:: no message could pass.
func (p *parser) oneKind(pairs []pair, typ string) bool {
	var first *yaml.Node
	for _, kv := range pairs {
		k := kv.k
		if !contains(messageKinds, k.Value) {
			continue
		}
		if first != nil {
			p.errorf(k, "a message has one kind: expect them as two messages, one - expect: each",
				"expect checks both %s: and %s:, but no message is both", first.Value, k.Value)
			return false
		}
		first = k
	}
	if first != nil && typ != "" && typ != first.Value {
		p.errorf(first, fmt.Sprintf("drop type:, or make it type: %s", first.Value),
			"expect checks %s:, but type: is %s, so no message could pass", first.Value, typ)
		return false
	}
	return true
}

func (p *parser) contactCheck(n *yaml.Node) *ContactCheck {
	pairs, ok := p.mapping(n, "expect_contact", []string{"fields", "tags", "no_tags", "followed"}, actionHint[ActExpectContact])
	if !ok {
		return nil
	}
	c := &ContactCheck{}
	for _, kv := range pairs {
		var good bool
		switch kv.k.Value {
		case "fields":
			c.Fields, c.FieldOrder, good = p.values(kv.v, "fields")
		case "tags":
			c.Tags, good = p.texts(kv.v, "tags")
		case "no_tags":
			c.NoTags, good = p.texts(kv.v, "no_tags")
		case "followed":
			var b bool
			if b, good = p.boolean(kv.v, "followed"); good {
				c.Followed = &b
			}
		}
		ok = ok && good
	}
	if !ok {
		return nil
	}
	return c
}

func (p *parser) runCheck(n *yaml.Node) *RunCheck {
	pairs, ok := p.mapping(n, "expect_run", []string{"flow", "status", "step", "vars"}, actionHint[ActExpectRun])
	if !ok {
		return nil
	}
	c := &RunCheck{}
	for _, kv := range pairs {
		var good bool
		switch kv.k.Value {
		case "flow":
			c.Flow, good = p.text(kv.v, "flow")
			c.FlowPos = pos(kv.v)
		case "status":
			c.Status, good = p.oneOf(kv.v, "run status", runStatuses)
		case "step":
			var s string
			if s, good = p.text(kv.v, "step"); good {
				c.Step = &s
			}
		case "vars":
			c.Vars, c.VarOrder, good = p.values(kv.v, "vars")
		}
		ok = ok && good
	}
	if !ok {
		return nil
	}
	return c
}

// hasHeader reports whether headers name h, in any case.
func hasHeader(headers map[string]string, h string) bool {
	for k := range headers {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	return false
}
