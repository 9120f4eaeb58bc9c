package scenario

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

// ExportOptions say which conversation Export turns into a scenario.
type ExportOptions struct {
	// Account and Contact name the contact (required).
	Account, Contact string
	// Since, when set, leaves out what happened before it.
	Since time.Time
	// Zone is the time zone the scenario's clock is written in and its
	// flows run in (default UTC); ZoneName is its IANA name, written as
	// the scenario's timezone: ("" or "Local": none).
	Zone     *time.Location
	ZoneName string
	// Settings are the account's window, quota and region rules; the
	// ones that differ from the product rules are written in account:.
	Settings wechat.Settings
	// AutoClose is the account's auto_close (0: the default), written in
	// account: when it is another.
	AutoClose time.Duration
	// People are the server's operators and teams, written as the
	// scenario's operators: and teams: (the teams' hours left out), so
	// that the flows' assign steps find the names they use.
	People *engine.People
	// MaxEvents, when set, is the most events read: a conversation with
	// more (since Since) is refused with ErrExportTooLong rather than
	// read whole (200,000 events took 329 MB; the console exports inside
	// the server).
	MaxEvents int
}

// ErrNothingToExport is returned by Export for a contact with no
// recorded event and no message in the time asked for.
var ErrNothingToExport = errors.New("nothing to export")

// ErrExportTooLong is returned by Export for a conversation with more
// events than ExportOptions.MaxEvents.
var ErrExportTooLong = errors.New("too long to export whole")

// exportWaitSlack is how long after the clock a message may be reserved
// and still count as caused by what the clock stands at (the engine's
// own work, an http call); a later one came from a timer, and the clock
// is moved to it first.
const exportWaitSlack = time.Second

// Export writes a contact's conversation, as the store recorded it, as a
// test scenario (FLOW-LANGUAGE.md "Test scenarios"): the contact's
// events as script actions, the messages the flows tried to send as
// expect lines (a platform's refusal as fail_next before it), the
// virtual clock started and moved where the real events were, and
// expect_none at the end. Run against the flow versions that were in
// force, it passes. The store's read transactions must implement
// engine.EventLister (both stores do).
func Export(ctx context.Context, st engine.Store, o ExportOptions) ([]byte, error) {
	if o.Account == "" || o.Contact == "" {
		return nil, errors.New("export: a contact needs an account and an id")
	}
	if o.Zone == nil {
		o.Zone = time.UTC
	}
	var events []*engine.EventRecord
	var msgs []*engine.OutboxEntry
	var runs []*engine.Run
	err := st.View(ctx, func(tx engine.ReadTx) error {
		l, ok := tx.(engine.EventLister)
		if !ok {
			return fmt.Errorf("this store (%T) cannot list a contact's events", tx)
		}
		var err error
		limit := 0
		if o.MaxEvents > 0 {
			limit = o.MaxEvents + 1
		}
		if events, err = l.ContactEvents(o.Account, o.Contact, o.Since, limit); err != nil {
			return err
		}
		if o.MaxEvents > 0 && len(events) > o.MaxEvents {
			return fmt.Errorf("%w: the conversation has more than %d events%s; export its last part: wxflow export-test --contact %s/%s --since 7d (or a time)",
				ErrExportTooLong, o.MaxEvents, sinceWords(o.Since, o.Zone), o.Account, o.Contact)
		}
		all, err := tx.Outbox(engine.OutboxFilter{Account: o.Account, Contact: o.Contact})
		if err != nil {
			return err
		}
		for _, m := range all {
			if !m.CreatedAt.Before(o.Since) {
				msgs = append(msgs, m)
			}
		}
		runs, err = tx.Runs(engine.RunFilter{Account: o.Account, Contact: o.Contact})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export %s/%s: %w", o.Account, o.Contact, err)
	}
	if len(events) == 0 && len(msgs) == 0 {
		return nil, fmt.Errorf("export %s/%s: %w: the store has no event and no message of this contact%s", o.Account, o.Contact, ErrNothingToExport, sinceWords(o.Since, o.Zone))
	}
	return writeExport(o, events, msgs, runs), nil
}

func sinceWords(since time.Time, zone *time.Location) string {
	if since.IsZero() {
		return ""
	}
	return " since " + since.In(zone).Format("2006-01-02 15:04:05 -07:00")
}

// exportItem is an event or a message on the conversation's timeline.
type exportItem struct {
	at  time.Time
	ev  *engine.EventRecord
	msg *engine.OutboxEntry
}

// exportPoint is a line of the script that makes something happen (an
// action or a wait), with the fail_next it needs before it and the
// expect lines of what it caused.
type exportPoint struct {
	comments []string
	line     string
	// fail is the platform refusal of the first messages sent after
	// the point; failCount how many in a row.
	fail      exportFail
	failCount int
	// sends counts the messages it caused that reached the channel.
	sends int
	// sameInstant is set on the first of actions at one instant.
	sameInstant bool
	expects     []string
}

func writeExport(o ExportOptions, events []*engine.EventRecord, msgs []*engine.OutboxEntry, runs []*engine.Run) []byte {
	// Events of one instant in the order of their keys, numbers by
	// value (the platform's message ids; the sandbox's action counter).
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b *engine.EventRecord) int {
		if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
			return c
		}
		return naturalCompare(a.Key, b.Key)
	})
	var items []exportItem
	for _, e := range events {
		if e.Event.Kind == channels.LocationReport {
			// Reported every few seconds while a follower shares
			// their location; nothing a scenario plays.
			continue
		}
		items = append(items, exportItem{at: e.ReceivedAt, ev: e})
	}
	for _, m := range msgs {
		items = append(items, exportItem{at: m.CreatedAt, msg: m})
	}
	// Runs started through the admin API or by an operator: no action of
	// the scenario starts them, so their messages are comments.
	outside := map[int64]bool{}
	for _, r := range runs {
		if r.StartedFromOutside() {
			outside[r.ID] = true
		}
	}
	// By time; at the same time events go first (what they cause is
	// reserved then), messages in the order they were reserved.
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if (a.ev != nil) != (b.ev != nil) {
			return a.ev != nil
		}
		if a.msg != nil && b.msg != nil {
			return a.msg.ID < b.msg.ID
		}
		return false
	})
	start := items[0].at.Truncate(time.Millisecond).In(o.Zone)
	clock := start
	points := []*exportPoint{{}}
	// cur is the last point; first the first of the points at the same
	// instant as it, without a message between them (events at one
	// instant, as the sandbox's virtual clock gives them, are played
	// before the messages of that instant; a refusal's fail_next goes
	// before the first of them, which is as good: it refuses the next
	// sends).
	cur, first := points[0], points[0]
	var curAt time.Time
	moveTo := func(t time.Time) {
		t = ceilMillis(t)
		if t.After(clock) {
			cur = &exportPoint{line: "wait: " + waitWords(t.Sub(clock))}
			first = cur
			points = append(points, cur)
			clock = t.In(o.Zone)
		}
	}
	for _, it := range items {
		if it.ev != nil {
			moveTo(it.at)
			line, note := actionLine(&it.ev.Event)
			if line == "" {
				// Nothing to play: a comment says what came.
				cur.expects = append(cur.expects, "# "+note)
				continue
			}
			p := &exportPoint{line: line}
			if note != "" {
				p.comments = append(p.comments, note)
			}
			if !it.at.Equal(curAt) || len(cur.expects) > 0 || first.sends > 0 {
				first = p
			} else if first != cur || cur.line != "" && !strings.HasPrefix(cur.line, "wait:") {
				if !first.sameInstant {
					first.comments = append(first.comments, "what the next actions caused follows them all: they came at the same instant (the sandbox's clock)")
					first.sameInstant = true
				}
			}
			cur, curAt = p, it.at
			points = append(points, cur)
			continue
		}
		if it.at.Sub(clock) > exportWaitSlack {
			moveTo(it.at)
		}
		if it.msg.RunID != 0 && outside[it.msg.RunID] {
			cur.expects = append(cur.expects, "# "+notPlayedStart+": "+oneLine(expectLine(it.msg)))
			continue
		}
		cur.addMessage(it.msg, first)
	}

	var b bytes.Buffer
	begin, last := items[0].at.In(o.Zone), items[len(items)-1].at.In(o.Zone)
	fmt.Fprintf(&b, "# Exported by wxflow export-test: what contact %s/%s did and what the flows\n", oneLine(o.Account), oneLine(o.Contact))
	fmt.Fprintf(&b, "# sent, from %s to %s, as the store recorded it.\n", begin.Format("2006-01-02 15:04:05 -07:00"), last.Format("2006-01-02 15:04:05 -07:00"))
	if vs := runVersions(runs, begin); len(vs) > 0 {
		b.WriteString("# It passes against the flow versions its runs had:\n")
		for _, v := range vs {
			b.WriteString("#   " + oneLine(v) + "\n")
		}
	}
	if !o.Since.IsZero() {
		b.WriteString("# What happened before --since is left out: give contact: the tags and\n# fields the flows read, if any.\n")
	}
	fmt.Fprintf(&b, "name: %s\n", quote(fmt.Sprintf("conversation of %s/%s from %s", o.Account, o.Contact, begin.Format("2006-01-02 15:04"))))
	fmt.Fprintf(&b, "start: %s\n", start.Format("2006-01-02T15:04:05.000Z07:00"))
	if o.ZoneName != "" && o.ZoneName != "Local" {
		fmt.Fprintf(&b, "timezone: %s\n", quote(o.ZoneName))
	}
	if acc := accountLine(o); acc != "" {
		b.WriteString(acc)
	}
	b.WriteString(peopleLines(o.People))
	fmt.Fprintf(&b, "contact: { id: %s }\n", quote(o.Contact))
	b.WriteString("script:\n")
	for _, p := range points {
		for _, c := range p.comments {
			b.WriteString("  # " + oneLine(c) + "\n")
		}
		if p.failCount > 0 {
			fmt.Fprintf(&b, "  - fail_next: %s\n", p.fail.arg(p.failCount))
		}
		if p.line != "" {
			b.WriteString("  - " + p.line + "\n")
		}
		for _, e := range p.expects {
			if strings.HasPrefix(e, "#") {
				b.WriteString("  " + oneLine(e) + "\n")
				continue
			}
			b.WriteString("  - " + e + "\n")
		}
	}
	b.WriteString("  - expect_none\n")
	return b.Bytes()
}

// accountLine writes the account: header when the account is not the
// sandbox's or its rules are not the product's.
func accountLine(o ExportOptions) string {
	var parts []string
	if o.Account != sandbox.DefaultAccount {
		parts = append(parts, "id: "+quote(o.Account))
	}
	s, d := o.Settings, wechat.Defaults()
	if s.Region != "" && s.Region != d.Region {
		parts = append(parts, "region: "+s.Region)
	}
	if s.Window != 0 && s.Window != d.Window {
		parts = append(parts, "window: "+flows.FormatDuration(s.Window))
	}
	if s.EventWindow != 0 && s.EventWindow != s.Window && s.EventWindow != d.EventWindow {
		parts = append(parts, "event_window: "+flows.FormatDuration(s.EventWindow))
	}
	if s.MessageQuota != 0 && s.MessageQuota != d.MessageQuota {
		parts = append(parts, "message_quota: "+strconv.Itoa(s.MessageQuota))
	}
	if s.EventQuota != 0 && s.EventQuota != d.EventQuota {
		parts = append(parts, "event_quota: "+strconv.Itoa(s.EventQuota))
	}
	if o.AutoClose > 0 && o.AutoClose != engine.DefaultAutoClose {
		parts = append(parts, "auto_close: "+flows.FormatDuration(o.AutoClose))
	}
	if len(parts) == 0 {
		return ""
	}
	return "account: { " + strings.Join(parts, ", ") + " }\n"
}

// runVersions lists "flow version" of the runs that started from first
// on, in the order they started.
func runVersions(runs []*engine.Run, first time.Time) []string {
	seen := map[string]bool{}
	var out []string
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		r := runs[i]
		if r.StartedAt.Before(first.Add(-exportWaitSlack)) {
			continue
		}
		v := r.Flow + " " + r.Version
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// waitWords writes a wait's duration as people read it: 2m, 24h10m,
// 25h30m1.5s, 3d.
func waitWords(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return flows.FormatDuration(d)
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s := d % time.Minute; s > 0 {
		b.WriteString(strconv.FormatFloat(s.Seconds(), 'f', -1, 64) + "s")
	}
	return b.String()
}

// naturalCompare orders texts with their runs of digits compared as
// numbers: "a-9" before "a-10".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digits counts the digits s starts with.
func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func ceilMillis(t time.Time) time.Time {
	c := t.Truncate(time.Millisecond)
	if c.Before(t) {
		c = c.Add(time.Millisecond)
	}
	return c
}

// actionLine writes an event as a script action; an event the scenario
// language cannot play gives "" and a note saying what it was.
func actionLine(ev *channels.Event) (line, note string) {
	switch ev.Kind {
	case channels.Follow:
		if ev.Scene != "" {
			return "follow: " + quote(ev.Scene), ""
		}
		return "follow", ""
	case channels.Unfollow:
		return "unfollow", ""
	case channels.Scan:
		return "scan: " + quote(ev.Scene), ""
	case channels.MenuClick:
		if ev.Text != "" {
			return "tap: " + quote(ev.Key), fmt.Sprintf("tapped %q", ev.Text)
		}
		return "menu: " + quote(ev.Key), ""
	case channels.Text:
		if ev.Text == "" {
			// WeChat sends none, and say: "" is refused; keep the trace.
			return "", "said an empty text, which a scenario cannot play"
		}
		return "say: " + quote(ev.Text), ""
	case channels.Image:
		return "image: " + quote(ev.MediaID), ""
	case channels.Location:
		if l := ev.Location; l != nil {
			s := fmt.Sprintf("location: { lat: %s, lng: %s", strconv.FormatFloat(l.Lat, 'f', -1, 64), strconv.FormatFloat(l.Lng, 'f', -1, 64))
			if l.Label != "" {
				s += ", label: " + quote(l.Label)
			}
			if l.Scale != 0 {
				s += ", scale: " + strconv.Itoa(l.Scale)
			}
			return s + " }", ""
		}
	}
	what := string(ev.Kind)
	switch ev.Kind {
	case channels.Voice, channels.Video:
		what = "a " + what + " message"
	case channels.Link:
		what = "a link: " + ev.Text
	case channels.View:
		what = "a menu link opened: " + ev.Key
	case channels.Other:
		what = "a platform event " + ev.Name
	case channels.OtherMessage:
		what = "a message of type " + ev.Name
	}
	return "", fmt.Sprintf("%s: %s", NotPlayed, what)
}

// NotPlayed begins the comment of an event the export writes no action
// for; a scenario with one may not pass as exported.
const NotPlayed = "not played (the scenario language has no action for it)"

// notPlayedPerson begins the comment of a person's reply.
const notPlayedPerson = NotPlayed + ", a person's reply"

// notPlayedStart begins the comment of a message of a run started
// through the admin API or by an operator.
const notPlayedStart = NotPlayed + ", a run started through the API or by an operator"

// addMessage adds the expect line of a message reserved after the
// point, and the fail_next that makes the simulated channel refuse it as
// the platform did
// at point f (the first point of its instant).
func (p *exportPoint) addMessage(m *engine.OutboxEntry, f *exportPoint) {
	if m.RunID == 0 {
		// A person's reply (the console's inbox): the export plays no
		// people's actions, and an expect for it would fail.
		p.expects = append(p.expects, "# "+notPlayedPerson+": "+oneLine(expectLine(m)))
		return
	}
	platform, fail := platformFailure(m)
	reached := platform || m.Status != engine.OutboxFailed
	if platform && f.sends == f.failCount && (f.failCount == 0 || f.fail == fail) {
		f.fail = fail
		f.failCount++
	} else if platform {
		p.expects = append(p.expects, "# the platform refused the next message, but fail_next cannot make the sandbox refuse it alone")
	}
	if reached {
		f.sends++
	}
	if m.Status == engine.OutboxPending || m.Status == engine.OutboxSending {
		p.expects = append(p.expects, "# the next message was not sent yet when exported")
	}
	p.expects = append(p.expects, expectLine(m))
}

// exportFail is what fail_next makes the simulated channel answer.
type exportFail struct {
	reason string
	code   int
}

// arg writes fail_next's argument for count messages.
func (f exportFail) arg(count int) string {
	if f.code == 0 && count == 1 {
		return f.reason
	}
	s := "{ reason: " + f.reason
	if f.code != 0 {
		s += ", code: " + strconv.Itoa(f.code)
	}
	if count > 1 {
		s += ", count: " + strconv.Itoa(count)
	}
	return s + " }"
}

// platformFailure tells a message the platform refused (or may not
// have sent) from one the engine refused itself (window, quota, ...),
// which the sandbox refuses again.
func platformFailure(m *engine.OutboxEntry) (bool, exportFail) {
	switch {
	case m.Status == engine.OutboxUnknown:
		return true, exportFail{reason: "unknown"}
	case m.Status != engine.OutboxFailed:
		return false, exportFail{}
	case m.Code != 0 || m.Reason == channels.ReasonAPIError || m.Reason == "":
		return true, exportFail{reason: reasonOr(m.Reason), code: m.Code}
	}
	return false, exportFail{}
}

func reasonOr(r channels.Reason) string {
	if r == "" {
		return string(channels.ReasonAPIError)
	}
	return string(r)
}

// expectLine writes the expect line of a message.
func expectLine(m *engine.OutboxEntry) string {
	var parts []string
	msg := &m.Message
	switch msg.Type {
	case "text":
		parts = append(parts, "text: "+quote(msg.Text))
	case "image", "voice", "video":
		if name := mediaGlob(msg.Media); name != "" {
			parts = append(parts, msg.Type+": "+quote(name))
		} else {
			parts = append(parts, "type: "+msg.Type)
		}
	case "news":
		if msg.News != nil {
			parts = append(parts, "news: "+quote(msg.News.Title))
		} else {
			parts = append(parts, "type: news")
		}
	case "menu":
		if msg.Menu != nil && msg.Menu.Head != "" {
			parts = append(parts, "menu: "+quote(msg.Menu.Head))
		} else {
			parts = append(parts, "type: menu")
		}
	default:
		parts = append(parts, "type: "+quote(msg.Type))
	}
	switch m.Status {
	case engine.OutboxFailed:
		parts = append(parts, "status: failed", "reason: "+reasonOr(m.Reason))
	case engine.OutboxUnknown:
		parts = append(parts, "status: unknown")
	}
	if len(parts) == 1 && msg.Type == "text" {
		return "expect: " + quote(msg.Text)
	}
	return "expect: { " + strings.Join(parts, ", ") + " }"
}

// mediaGlob names a media file as a check matches it.
func mediaGlob(m *channels.Media) string {
	switch {
	case m == nil:
		return ""
	case m.Path != "":
		return filepath.Base(m.Path)
	case m.URL != "":
		return m.URL
	case m.Upload != "":
		return m.Upload
	}
	return m.MediaID
}

// oneLine keeps a comment on its line: line breaks become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if yamlPrintable(r) && r != '\u0085' && r != '\u2028' && r != '\u2029' {
			return r
		}
		return ' '
	}, s)
}

// yamlPrintable reports whether YAML allows r unescaped.
func yamlPrintable(r rune) bool {
	return r == '\t' || r >= 0x20 && r < 0x7f || r == 0x85 || r >= 0xa0 && r != 0xfffe && r != 0xffff
}

// quote writes s as a YAML double-quoted scalar (JSON's escapes are
// YAML's too).
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	// JSON leaves DEL and the C1 controls as they are; YAML wants them
	// escaped.
	return strings.Map(func(r rune) rune {
		if yamlPrintable(r) || r == '\n' || r == '\r' {
			return r
		}
		return -1
	}, strings.NewReplacer(escapes()...).Replace(out))
}

// escapes pairs each character YAML wants escaped that JSON leaves as
// it is with its escape.
func escapes() []string {
	var out []string
	for r := rune(0x7f); r <= 0x9f; r++ {
		if r != 0x85 {
			out = append(out, string(r), fmt.Sprintf("\\u%04x", r))
		}
	}
	return out
}

// peopleLines writes the server's operators and teams as a scenario's
// header (the teams always on shift: their hours are not written), or ""
// for none.
func peopleLines(p *engine.People) string {
	if p == nil || (len(p.Operators) == 0 && len(p.Teams) == 0) {
		return ""
	}
	var b strings.Builder
	if len(p.Operators) > 0 {
		ops := make([]string, len(p.Operators))
		for i, op := range p.Operators {
			teams := make([]string, len(op.Teams))
			for j, t := range op.Teams {
				teams[j] = quote(t)
			}
			ops[i] = quote(op.Name) + ": [" + strings.Join(teams, ", ") + "]"
		}
		b.WriteString("operators: { " + strings.Join(ops, ", ") + " }\n")
	}
	if len(p.Teams) > 0 {
		names := slices.Sorted(maps.Keys(p.Teams))
		for i, n := range names {
			names[i] = quote(n) + ":"
		}
		b.WriteString("# The teams' hours are not written: here they are always on shift.\n")
		b.WriteString("teams: { " + strings.Join(names, ", ") + " }\n")
	}
	return b.String()
}
