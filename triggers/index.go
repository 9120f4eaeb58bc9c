package triggers

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wxflow/wxflow/flows"
)

// Input is an inbound event in the flow language's words, as the engine
// hands it to Match.
type Input struct {
	// Account is the account the event came to.
	Account string
	// Kind is "follow", "unfollow", "scan", "menu", or a message type:
	// "text", "image", "voice", "video", "location", "link". Kind
	// "message" with MsgType set is accepted too. Kind "conversation",
	// with Key ConversationOpened or ConversationClosed, matches the
	// conversation triggers (and nothing else).
	Kind string
	// Scene is the QR code's scene of a scan, or of a follow that came
	// through a QR code ("" for a plain follow).
	Scene string
	// Key is the menu key of a menu click, or "opened" or "closed" for
	// Kind "conversation".
	Key string
	// Text is the content of a text message.
	Text string
	// MsgType is the message type when Kind is "message"; it is ignored
	// when Kind already names the type.
	MsgType string
	// AnyAccount matches the flows of every account, to say which ones
	// an event missed for its account.
	AnyAccount bool
}

// accepts reports whether a flow may start on the input's account.
func (in *Input) accepts(f *flows.Flow) bool {
	return in.AnyAccount || f.Account == "" || f.Account == in.Account
}

// Candidate is a trigger that matches an input.
type Candidate struct {
	Flow    *flows.Flow
	Trigger *flows.Trigger
	// Match holds what a keyword trigger matched, like
	// regexp.FindStringSubmatch: Match[0] is the whole (trimmed) text and
	// Match[1] the pattern's first group. It is nil for other kinds.
	Match []string
	// Specificity is the trigger's SpecificityExact, SpecificityPattern or
	// SpecificityBare.
	Specificity int
}

// ScheduleTrigger is a schedule trigger of a flow.
type ScheduleTrigger struct {
	Flow    *flows.Flow
	Trigger *flows.Trigger
	// Key names the trigger stably across reloads: the flow name, the
	// trigger's index in the flow, the cron source and the time zone
	// ("" for the server's), joined by "#". A changed cron or zone gives a
	// new key, and so a fresh due time; a trigger that only moved keeps
	// its due time (Moved).
	Key string
}

// Index answers which triggers of a set of flows match an input. Exact
// keys, scenes, keywords and message types are looked up in maps; only
// globs, patterns and bare kinds are tried one by one. An Index is
// immutable and safe for concurrent use.
type Index struct {
	follow    []*entry            // bare follow
	qrExact   map[string][]*entry // follow: scene, scan: scene
	qrGlob    []*entry            // follow: glob, scan: glob
	unfollow  []*entry            // unfollow
	menuExact map[string][]*entry // menu: KEY
	menuGlob  []*entry            // menu: glob
	words     map[string][]*entry // keyword: [words], by folded word
	patterns  []*entry            // keyword: {pattern}
	msgType   map[string][]*entry // message with type:
	msgAny    []*entry            // bare message
	convo     map[string][]*entry // conversation: opened|closed
	schedules []ScheduleTrigger
}

// entry is one trigger in the index, with what its precedence is decided
// by.
type entry struct {
	flow     *flows.Flow
	trigger  *flows.Trigger
	flowRank int // the flow's position in name order
	index    int // the trigger's position in its flow
	spec     int
	glob     string         // the glob of a glob entry; "" matches all
	prefix   string         // the glob's literal start, checked first
	pattern  *regexp.Regexp // the pattern of a keyword pattern entry
}

// messageTypes are the Input kinds that are messages.
var messageTypes = map[string]bool{"text": true, "image": true, "voice": true, "video": true, "location": true, "link": true}

// NewIndex indexes the triggers of flows. Nil flows and flows without
// triggers are skipped. When two flows have the same name, the earlier one
// in flows comes first on a tie.
func NewIndex(fs []*flows.Flow) *Index {
	ix := &Index{
		qrExact:   map[string][]*entry{},
		menuExact: map[string][]*entry{},
		words:     map[string][]*entry{},
		msgType:   map[string][]*entry{},
		convo:     map[string][]*entry{},
	}
	var named []*flows.Flow
	for _, f := range fs {
		if f != nil && len(f.Triggers) > 0 {
			named = append(named, f)
		}
	}
	slices.SortStableFunc(named, func(a, b *flows.Flow) int { return strings.Compare(a.Name, b.Name) })
	for rank, f := range named {
		for i, t := range f.Triggers {
			if t != nil {
				ix.add(&entry{flow: f, trigger: t, flowRank: rank, index: i})
			}
		}
	}
	return ix
}

// add files one trigger under the maps and lists it can be found by.
func (ix *Index) add(e *entry) {
	t := e.trigger
	e.spec = SpecificityBare
	if t.Spec != nil && t.Spec.Inputs != nil {
		_, e.spec = t.Spec.Inputs(t)
	}
	switch t.Kind {
	case "follow", "scan", "menu":
		glob, _ := t.Arg.(string)
		exact, globs := ix.qrExact, &ix.qrGlob
		if t.Kind == "menu" {
			exact, globs = ix.menuExact, &ix.menuGlob
		}
		switch {
		case glob == "" && t.Kind == "follow":
			ix.follow = append(ix.follow, e)
		case glob == "":
			// scan and menu need an argument; a trigger loaded without one
			// matches every input of its kind, as its Inputs say.
			*globs = append(*globs, e)
		case flows.IsGlob(glob):
			e.glob = glob
			e.prefix = glob[:strings.IndexAny(glob, "*?")]
			*globs = append(*globs, e)
		default:
			exact[glob] = append(exact[glob], e)
		}
	case "unfollow":
		ix.unfollow = append(ix.unfollow, e)
	case "keyword":
		k, _ := t.Arg.(*Keywords)
		switch {
		case k == nil:
		case k.Pattern != nil:
			e.pattern = k.Pattern
			ix.patterns = append(ix.patterns, e)
		default:
			seen := map[string]bool{}
			for _, w := range k.Words {
				key := foldKey(strings.TrimSpace(w))
				if !seen[key] {
					seen[key] = true
					ix.words[key] = append(ix.words[key], e)
				}
			}
		}
	case "message":
		if typ := t.Args.String("type"); typ != "" {
			ix.msgType[typ] = append(ix.msgType[typ], e)
		} else {
			ix.msgAny = append(ix.msgAny, e)
		}
	case "conversation":
		if arg, _ := t.Arg.(string); arg != "" {
			ix.convo[arg] = append(ix.convo[arg], e)
		}
	case "schedule":
		ix.schedules = append(ix.schedules, ScheduleTrigger{Flow: e.flow, Trigger: t, Key: scheduleKey(e.flow.Name, e.index, t)})
	}
}

// Moved reports whether key is the Key the same schedule (its flow, cron
// and time zone) had at another place among its flow's triggers: a
// trigger added or removed before it moved it, which changes nothing of
// when it fires.
func (st ScheduleTrigger) Moved(key string) bool {
	if key == st.Key {
		return false
	}
	i := strings.IndexByte(st.Key[len(st.Flow.Name)+1:], '#') + len(st.Flow.Name) + 1
	prefix, suffix := st.Key[:len(st.Flow.Name)+1], st.Key[i:]
	if len(key) <= len(prefix)+len(suffix) || !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, suffix) {
		return false
	}
	for _, c := range key[len(prefix) : len(key)-len(suffix)] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// scheduleKey is a ScheduleTrigger's Key.
func scheduleKey(flow string, index int, t *flows.Trigger) string {
	o, _ := t.Arg.(*flows.Object)
	src := ""
	if c, ok := o.Get("cron").(*flows.Cron); ok && c != nil {
		src = c.Src
	}
	zone := ""
	switch z := o.Get("timezone").(type) {
	case *time.Location:
		if z != nil {
			zone = z.String()
		}
	case string:
		zone = z
	}
	return fmt.Sprintf("%s#%d#%s#%s", flow, index, src, zone)
}

// compareEntries orders entries by precedence: higher priority first, then
// higher specificity, then flow name, then the trigger's order in its flow.
func compareEntries(a, b *entry) int {
	if c := cmp.Compare(b.trigger.Priority, a.trigger.Priority); c != 0 {
		return c
	}
	if c := cmp.Compare(b.spec, a.spec); c != 0 {
		return c
	}
	if c := cmp.Compare(a.flowRank, b.flowRank); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}

// hit is an entry that matched, with what a keyword matched.
type hit struct {
	e     *entry
	match []string
}

// Match returns the triggers that match in, best first: higher priority,
// then more specific (an exact key, scene or keyword before a glob or
// pattern, before a message of one type, before a bare kind), then flow
// name, then the trigger's order in its flow. Schedule triggers never match. A flow with account: only
// matches events of that account.
//
// The engine takes the first candidate whose if: guard, cooldown and
// interrupt allow it. So a flow appears once, with its best trigger,
// unless that trigger could be refused where a later one of the same flow
// would be taken: a trigger is left out only when a better trigger of its
// flow has no if: and interrupts at least as readily.
func (ix *Index) Match(in Input) []Candidate {
	var buf [16]hit
	hits := buf[:0]
	add := func(list []*entry, match []string) {
		for _, e := range list {
			if in.accepts(e.flow) {
				hits = append(hits, hit{e, match})
			}
		}
	}
	addGlobs := func(list []*entry, s string) {
		for _, e := range list {
			if in.accepts(e.flow) &&
				strings.HasPrefix(s, e.prefix) && (e.glob == "" || flows.MatchGlob(e.glob, s)) {
				hits = append(hits, hit{e, nil})
			}
		}
	}
	switch typ := messageType(in); {
	case in.Kind == "follow":
		add(ix.follow, nil)
		if in.Scene != "" {
			add(ix.qrExact[in.Scene], nil)
			addGlobs(ix.qrGlob, in.Scene)
		}
	case in.Kind == "scan":
		// A follower's scan is no follow: only scan triggers match it.
		n := len(hits)
		add(ix.qrExact[in.Scene], nil)
		addGlobs(ix.qrGlob, in.Scene)
		kept := hits[:n]
		for _, h := range hits[n:] {
			if h.e.trigger.Kind == "scan" {
				kept = append(kept, h)
			}
		}
		hits = kept
	case in.Kind == "unfollow":
		add(ix.unfollow, nil)
	case in.Kind == "menu":
		add(ix.menuExact[in.Key], nil)
		addGlobs(ix.menuGlob, in.Key)
	case in.Kind == "conversation":
		add(ix.convo[in.Key], nil)
	case in.Kind == "other_message":
		// A message of a type no trigger names: bare message triggers.
		add(ix.msgAny, nil)
	case typ != "":
		if typ == "text" {
			text := strings.TrimSpace(in.Text)
			if list := ix.words[foldKey(text)]; len(list) > 0 {
				add(list, []string{text})
			}
			for _, e := range ix.patterns {
				if !in.accepts(e.flow) {
					continue
				}
				if m := e.pattern.FindStringSubmatch(text); m != nil {
					hits = append(hits, hit{e, m})
				}
			}
		}
		add(ix.msgType[typ], nil)
		add(ix.msgAny, nil)
	}
	if len(hits) == 0 {
		return nil
	}
	slices.SortFunc(hits, func(a, b hit) int { return compareEntries(a.e, b.e) })
	return candidates(hits)
}

// Merge merges two lists of candidates, each as Match returns them, into
// the list Match would return had one input matched them all: best first
// by priority, then specificity, then flow name, then the trigger's order
// in its flow, and without the triggers a better trigger of the same flow
// makes redundant. The engine merges the candidates of the interaction
// that opens a contact's conversation with those of
// Input{Kind: "conversation", Key: ConversationOpened}, so that it still
// starts at most one flow.
func Merge(a, b []Candidate) []Candidate {
	switch {
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	}
	all := make([]Candidate, 0, len(a)+len(b))
	all = append(append(all, a...), b...)
	slices.SortStableFunc(all, func(x, y Candidate) int {
		if c := cmp.Compare(y.Trigger.Priority, x.Trigger.Priority); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Specificity, x.Specificity); c != 0 {
			return c
		}
		if c := strings.Compare(x.Flow.Name, y.Flow.Name); c != 0 {
			return c
		}
		if x.Flow != y.Flow {
			return 0 // two flows of one name: as given, as NewIndex does
		}
		return cmp.Compare(triggerIndex(x), triggerIndex(y))
	})
	out := all[:0]
	shadows := map[*flows.Flow]uint8{}
	for _, c := range all {
		s := shadows[c.Flow]
		if s == shadowAll || (s == shadowQuiet && !c.Trigger.Interrupt) {
			continue
		}
		shadows[c.Flow] = max(s, shadow(c.Trigger))
		out = append(out, c)
	}
	return out
}

// triggerIndex returns the position of a candidate's trigger in its flow.
func triggerIndex(c Candidate) int {
	for i, t := range c.Flow.Triggers {
		if t == c.Trigger {
			return i
		}
	}
	return len(c.Flow.Triggers)
}

// candidates turns sorted hits into candidates, leaving out the triggers
// that a better trigger of the same flow makes redundant: one without if:
// that interrupts (it is taken wherever a later one would be), or one
// without if: that does not, ahead of a later one that does not either.
func candidates(hits []hit) []Candidate {
	out := make([]Candidate, 0, len(hits))
	// shadows records, per flow (when there are many hits), the best
	// unguarded trigger seen so far; with few hits, the earlier hits are
	// looked through instead.
	var shadows map[int]uint8
	if len(hits) > 16 {
		shadows = make(map[int]uint8, len(hits))
	}
	for i, h := range hits {
		t := h.e.trigger
		var s uint8
		if shadows != nil {
			s = shadows[h.e.flowRank]
		} else {
			for _, p := range hits[:i] {
				if p.e.flowRank == h.e.flowRank {
					s = max(s, shadow(p.e.trigger))
				}
			}
		}
		if s == shadowAll || (s == shadowQuiet && !t.Interrupt) {
			continue
		}
		if shadows != nil {
			shadows[h.e.flowRank] = max(s, shadow(t))
		}
		out = append(out, Candidate{Flow: h.e.flow, Trigger: t, Match: h.match, Specificity: h.e.spec})
	}
	return out
}

// What a trigger tells about the later triggers of its flow: nothing
// (it has an if: guard), that it is taken wherever a later one that does
// not interrupt would be, or wherever any later one would be.
const (
	shadowNone uint8 = iota
	shadowQuiet
	shadowAll
)

// shadow returns what t tells about the later triggers of its flow.
func shadow(t *flows.Trigger) uint8 {
	switch {
	case t.If != nil:
		return shadowNone
	case t.Interrupt:
		return shadowAll
	}
	return shadowQuiet
}

// Schedules returns every schedule trigger, by flow name and then by order
// in the flow.
func (ix *Index) Schedules() []ScheduleTrigger {
	return slices.Clone(ix.schedules)
}

// messageType returns the message type of a message input, or "".
func messageType(in Input) string {
	if messageTypes[in.Kind] {
		return in.Kind
	}
	if in.Kind == "message" && messageTypes[in.MsgType] {
		return in.MsgType
	}
	return ""
}

// foldKey maps s to a key that is the same for two strings exactly when
// strings.EqualFold says they are equal, after turning full-width spaces
// (U+3000) into plain ones. It allocates only when s has upper-case
// letters, non-ASCII text or full-width spaces.
func foldKey(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == '\u3000' {
			r = ' '
		}
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune picks one rune of r's case-folding orbit (the runes
// strings.EqualFold treats as equal): the ASCII lower-case letter when
// there is one, so that lower-case ASCII text is its own key, and
// otherwise the smallest.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	best := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if 'a' <= f && f <= 'z' {
			return f
		}
		best = min(best, f)
	}
	return best
}
