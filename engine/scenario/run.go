package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

// Result is the outcome of one scenario.
type Result struct {
	Scenario *Scenario
	Passed   bool
	// Report explains a failure: where, what was expected and what came
	// instead, then the transcript so far. It is empty for a pass.
	Report string
	// Transcript is what happened, a line each (see Report), for a
	// scenario that ran.
	Transcript []string
}

// Summary counts the scenarios that passed and failed.
type Summary struct {
	Passed, Failed int
}

// Add adds another summary's counts.
func (s *Summary) Add(o Summary) {
	s.Passed += o.Passed
	s.Failed += o.Failed
}

// String is the closing line of `wxflow test`: "N passed, N failed".
func (s Summary) String() string { return fmt.Sprintf("%d passed, %d failed", s.Passed, s.Failed) }

// Options tune RunFile.
type Options struct {
	// Verbose prints a line for every scenario, passed or not.
	Verbose bool
	// Match, when set, selects the scenarios to run by name.
	Match func(name string) bool
	// Cover, when set, counts the steps and branches the scenarios'
	// runs reached (see Coverage).
	Cover *Coverage
}

// RunFile runs every scenario of a file against a flow set, one after
// another, and writes to w the file's problems and the report of every
// failure (with Verbose, a line for every scenario too). A file problem
// (YAML syntax) counts as one failure.
func RunFile(ctx context.Context, f *File, set *flows.Set, opts Options, w io.Writer) Summary {
	var sum Summary
	if len(f.Problems) > 0 {
		for _, p := range f.Problems {
			fmt.Fprintln(w, p.String())
		}
		fmt.Fprintln(w)
		sum.Failed++
	}
	sets := &peopleSets{}
	for _, sc := range f.Scenarios {
		if opts.Match != nil && !opts.Match(sc.Name) {
			continue
		}
		res := run(ctx, sc, sets.forScenario(set, sc), opts.Cover)
		if res.Passed {
			sum.Passed++
			if opts.Verbose {
				fmt.Fprintf(w, "ok   %s:%d: %s\n", sc.File, sc.Pos.Line, sc.Name)
				for _, l := range res.Transcript {
					fmt.Fprintln(w, "      "+l)
				}
			}
			continue
		}
		sum.Failed++
		if opts.Verbose {
			fmt.Fprintf(w, "FAIL %s:%d: %s\n", sc.File, sc.Pos.Line, sc.Name)
		}
		fmt.Fprintln(w, res.Report)
	}
	return sum
}

// Run runs one scenario on a new sandbox (an empty store) with set's
// flows.
func Run(ctx context.Context, sc *Scenario, set *flows.Set) *Result {
	return run(ctx, sc, (&peopleSets{}).forScenario(set, sc), nil)
}

// flowNameProblems reports the flow names of the script's checks
// (expect_run's flow:, expect's from: flow NAME) that name no flow of
// set: such a check can never pass, and its failure ("there is none")
// did not say that the name was wrong.
func flowNameProblems(sc *Scenario, set *flows.Set) Problems {
	if set == nil {
		return nil
	}
	var names []string
	for _, f := range set.Flows {
		names = append(names, f.Name)
	}
	var ps Problems
	check := func(at flows.Pos, name string) {
		if name == "" || set.Flow(name) != nil {
			return
		}
		hint := flows.DidYouMean(name, names)
		if hint == "" {
			hint = "the flows are " + strings.Join(names, ", ")
			if len(names) == 0 {
				hint = "there are no flows beside the test file"
			}
		}
		ps = append(ps, Problem{File: sc.File, Line: at.Line, Col: at.Col, Message: fmt.Sprintf("no flow named %q", name), Hint: hint})
	}
	for _, a := range sc.Script {
		if a.ExpectRun != nil {
			check(a.ExpectRun.FlowPos, a.ExpectRun.Flow)
		}
		if a.Expect != nil {
			if name, ok := strings.CutPrefix(a.Expect.From, "flow "); ok {
				check(a.Expect.FromPos, name)
			}
		}
	}
	return ps
}

// run runs one scenario and, when cov is set, counts what its runs did.
func run(ctx context.Context, sc *Scenario, set *flows.Set, cov *Coverage) *Result {
	res := &Result{Scenario: sc}
	if len(sc.Problems) > 0 {
		// The flow names too, so that one run shows every problem.
		ps := append(append(Problems(nil), sc.Problems...), flowNameProblems(sc, set)...)
		sort.SliceStable(ps, func(i, j int) bool {
			return ps[i].Line < ps[j].Line || (ps[i].Line == ps[j].Line && ps[i].Col < ps[j].Col)
		})
		res.Report = fmt.Sprintf("%s:%d:%d: scenario %q cannot run:\n%s\n", sc.File, sc.Pos.Line, sc.Pos.Col, sc.Name, indent(ps.Error(), "    "))
		return res
	}
	if set != nil && set.Diags.HasErrors() {
		// The flows' names of operators and teams, against the header.
		var lines []string
		for _, d := range set.Diags {
			if d.Severity == flows.SeverityError {
				lines = append(lines, d.String())
			}
		}
		why := "the flows have errors"
		if sc.FlowPeople != nil {
			why += " against its operators: and teams:"
		}
		res.Report = fmt.Sprintf("%s:%d:%d: scenario %q cannot run: %s\n%s\n",
			sc.File, sc.Pos.Line, sc.Pos.Col, sc.Name, why, indent(strings.Join(lines, "\n"), "    "))
		return res
	}
	if ps := flowNameProblems(sc, set); len(ps) > 0 {
		res.Report = fmt.Sprintf("%s:%d:%d: scenario %q cannot run:\n%s\n", sc.File, sc.Pos.Line, sc.Pos.Col, sc.Name, indent(ps.Error(), "    "))
		return res
	}
	client, stubs := newStubClient(sc.HTTP)
	cfg := sandbox.Config{
		Set: set, Start: sc.Start, Account: sc.Account, Settings: sc.Settings, HTTPClient: client, Zone: sc.Zone, AutoClose: sc.AutoClose,
		Secrets: testSecrets(set),
	}
	if sc.People != nil {
		cfg.People = *sc.People
	}
	sb, err := sandbox.New(ctx, cfg)
	if err != nil {
		res.Report = fmt.Sprintf("%s:%d:%d: scenario %q cannot run: %v\n", sc.File, sc.Pos.Line, sc.Pos.Col, sc.Name, err)
		return res
	}
	defer sb.Close()
	if cov != nil {
		defer func() {
			if runs, err := sb.Runs(ctx, sc.Contact.ID); err == nil {
				cov.Record(set, runs)
			}
		}()
	}
	r := &runner{ctx: ctx, sc: sc, sb: sb, stubs: stubs, contact: sc.Contact.ID, replies: map[int64]string{}}
	stubs.setMark(r.lastID)
	if sc.Contact.Seed {
		c := engine.Contact{ID: sc.Contact.ID, Followed: true, Tags: sc.Contact.Tags, Fields: sc.Contact.Fields}
		if err := sb.SeedContact(ctx, c); err != nil {
			res.Report = r.report(flows.Pos{Line: sc.Pos.Line, Col: sc.Pos.Col}, err.Error())
			return res
		}
	}
	for _, a := range sc.Script {
		if msg := r.do(a); msg != "" {
			res.Report = r.report(a.Pos, msg)
			return res
		}
	}
	if msg := r.unexpectedFailures(); msg != "" {
		res.Report = r.report(flows.Pos{Line: sc.Pos.Line, Col: sc.Pos.Col}, msg)
		return res
	}
	res.Passed = true
	res.Transcript = r.transcript()
	return res
}

// runner plays one scenario's script.
type runner struct {
	ctx     context.Context
	sc      *Scenario
	sb      *sandbox.Sandbox
	stubs   *stubTransport
	contact string
	// cursor is the ID of the last message an expect took.
	cursor int64
	// notes are the actions played, for the transcript.
	notes []note
	// why is what of the engine's notes and the runs' skipped steps the
	// transcript has.
	why whyState
	// replies are the operators' replies: outbox ID to operator.
	replies map[int64]string
	// expected are the runs an expect_run found failed (or looping) as
	// it expected: the others fail the scenario at its end.
	expected map[int64]bool
}

// unexpectedFailures says which runs failed with an error (or were
// stopped looping) without an expect_run expecting it, or "": a script
// whose checks all passed while a run broke (an index out of range in a
// template) passed, and nothing showed the error.
func (r *runner) unexpectedFailures() string {
	seen := map[int64]bool{}
	maps.Copy(seen, r.expected)
	bad, err := r.failedRuns(seen)
	if err != nil {
		return err.Error()
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("every check passed, but %s (if it should, check it with expect_run: { flow: NAME, status: failed })", strings.Join(bad, "; "))
}

// failedRuns says, oldest first, which of the contact's runs failed or
// were stopped looping, but those in seen.
func (r *runner) failedRuns(seen map[int64]bool) ([]string, error) {
	runs, err := r.sb.Failures(r.ctx, r.contact, seen)
	var out []string
	for _, x := range runs {
		out = append(out, fmt.Sprintf("run %d of %s %s: %s", x.ID, x.Flow, x.Status, x.State.Error))
	}
	return out, err
}

// note is a line of the transcript that is not a message: it comes after
// the message with ID after.
type note struct {
	after int64
	text  string
}

// lastID returns the ID of the last message in the contact's transcript.
func (r *runner) lastID() int64 {
	entries, err := r.sb.Transcript(r.ctx, r.contact, 0)
	if err != nil || len(entries) == 0 {
		return 0
	}
	return entries[len(entries)-1].ID
}

func (r *runner) note(format string, args ...any) {
	r.notes = append(r.notes, note{after: r.lastID(), text: fmt.Sprintf(format, args...)})
}

// do plays one action; it returns what went wrong, or "".
func (r *runner) do(a *Action) string {
	ctx, sb, c := r.ctx, r.sb, r.contact
	var err error
	switch a.Kind {
	case ActFollow:
		r.note("%s", strings.TrimSpace("> follow "+a.Arg))
		err = sb.Follow(ctx, c, a.Arg)
	case ActUnfollow:
		r.note("> unfollow")
		err = sb.Unfollow(ctx, c)
	case ActScan:
		r.note("> scan %s", a.Arg)
		err = sb.Scan(ctx, c, a.Arg)
	case ActMenu:
		r.note("> menu %s", a.Arg)
		err = sb.Menu(ctx, c, a.Arg)
	case ActTap:
		text, ok, terr := r.menuItem(a.Arg)
		if terr != nil {
			return terr.Error()
		}
		if !ok {
			return fmt.Sprintf("cannot tap %q: no message menu sent so far has an item with this id", a.Arg)
		}
		r.note("> tap %s %q", a.Arg, text)
		err = sb.Tap(ctx, c, a.Arg, text)
	case ActSay:
		r.note("> say %q", a.Arg)
		err = sb.Say(ctx, c, a.Arg)
	case ActImage:
		r.note("%s", strings.TrimSpace("> image "+a.Arg))
		err = sb.Image(ctx, c, a.Arg)
	case ActLocation:
		l := a.Location
		r.note("> location %v,%v %q", l.Lat, l.Lng, l.Label)
		err = sb.Ingest(ctx, channels.Event{Contact: c, Kind: channels.Location, Location: &l})
	case ActWait:
		// The note says where the clock stopped, but goes before the
		// messages the wait caused.
		before := r.lastID()
		err = sb.Advance(ctx, a.Wait)
		r.notes = append(r.notes, note{after: before, text: fmt.Sprintf("> wait %s (now %s)", flows.FormatDuration(a.Wait), sb.Now().Format("Mon 2006-01-02 15:04 -07:00"))})
	case ActFailNext:
		r.note("> fail_next %d: %v", a.Count, a.Fail)
		sb.Channel().FailNext(a.Count, a.Fail)
	case ActExpect:
		return r.expect(a.Expect)
	case ActExpectNone:
		return r.expectNone()
	case ActExpectContact:
		return r.expectContact(a.ExpectContact)
	case ActExpectRun:
		return r.expectRun(a.ExpectRun)
	case ActReply, ActComment, ActClose, ActAssign, ActOpen:
		err = r.act(a)
	case ActExpectConversation:
		return r.expectConversation(a.ExpectConversation)
	}
	if err != nil {
		return fmt.Sprintf("%s failed: %v", a.Kind, err)
	}
	r.whyNotes()
	return ""
}

// menuItem finds the text of a message menu item by id, newest menu
// first (the rule the simulator and wxflow chat follow too).
func (r *runner) menuItem(id string) (string, bool, error) {
	return r.sb.MenuItem(r.ctx, r.contact, id)
}

// expect takes the next message of the transcript and checks it.
func (r *runner) expect(c *MessageCheck) string {
	entries, err := r.sb.Transcript(r.ctx, r.contact, r.cursor)
	if err != nil {
		return err.Error()
	}
	if len(entries) == 0 {
		return fmt.Sprintf("expected %s, got no message: nothing more was sent", c.describe())
	}
	o := entries[0]
	r.cursor = o.ID
	if !c.matches(o) || (c.From != "" && !r.fromMatches(c.From, o)) {
		got := r.summarize(o)
		if c.From != "" && r.replies[o.ID] == "" {
			if from := r.from(o); from != "" {
				got += " (from " + from + ")"
			}
		}
		return fmt.Sprintf("expected %s, got message %d: %s", c.describe(), r.number(o.ID), got)
	}
	return ""
}

// number returns the position of a message in the contact's transcript.
func (r *runner) number(id int64) int {
	entries, _ := r.sb.Transcript(r.ctx, r.contact, 0)
	for i, o := range entries {
		if o.ID == id {
			return i + 1
		}
	}
	return 0
}

func (r *runner) expectNone() string {
	entries, err := r.sb.Transcript(r.ctx, r.contact, r.cursor)
	if err != nil {
		return err.Error()
	}
	if len(entries) == 0 {
		return ""
	}
	var got []string
	for _, o := range entries {
		got = append(got, fmt.Sprintf("message %d: %s", r.number(o.ID), r.summarize(o)))
	}
	return fmt.Sprintf("expected no more messages, got %d: %s", len(entries), strings.Join(got, "; "))
}

func (r *runner) expectContact(c *ContactCheck) string {
	st, err := r.sb.State(r.ctx, r.contact)
	if err != nil {
		return err.Error()
	}
	if st.Contact == nil {
		return fmt.Sprintf("expected contact %s, but the account has never seen it", r.contact)
	}
	ct := st.Contact
	var bad []string
	for _, k := range c.FieldOrder {
		want := c.Fields[k]
		got, has := ct.Fields[k]
		if !has {
			got = nil
		}
		if !valueMatches(want, got) {
			bad = append(bad, fmt.Sprintf("field %s %s, got %s", k, showWant(want), showGot(got, has)))
		}
	}
	for _, t := range c.Tags {
		if !ct.HasTag(t) {
			bad = append(bad, fmt.Sprintf("tag %s, but the contact's tags are %s", t, showTags(ct.Tags)))
		}
	}
	for _, t := range c.NoTags {
		if ct.HasTag(t) {
			bad = append(bad, fmt.Sprintf("no tag %s, but the contact has it", t))
		}
	}
	if c.Followed != nil && *c.Followed != ct.Followed {
		if *c.Followed {
			bad = append(bad, "the contact to follow, but it does not")
		} else {
			bad = append(bad, "the contact not to follow, but it does")
		}
	}
	if len(bad) > 0 {
		return "expected " + strings.Join(bad, "; expected ")
	}
	return ""
}

func (r *runner) expectRun(c *RunCheck) string {
	runs, err := r.sb.Runs(r.ctx, r.contact)
	if err != nil {
		return err.Error()
	}
	var run *engine.Run
	for _, x := range runs { // newest first
		if c.Flow == "" || x.Flow == c.Flow {
			run = x
			break
		}
	}
	which := "a run"
	if c.Flow != "" {
		which = "a run of " + c.Flow
	}
	if run == nil {
		return fmt.Sprintf("expected %s, but there is none", which)
	}
	var bad []string
	if c.Status != "" && string(run.Status) != c.Status {
		msg := fmt.Sprintf("status %s, got %s", c.Status, run.Status)
		if run.State.Error != "" {
			msg += " (" + run.State.Error + ")"
		}
		bad = append(bad, msg)
	}
	if c.Step != nil && !flows.MatchGlob(*c.Step, run.Step) {
		bad = append(bad, fmt.Sprintf("step %q, got %q", *c.Step, run.Step))
	}
	for _, k := range c.VarOrder {
		want := c.Vars[k]
		got, has := run.State.Vars[k]
		if !valueMatches(want, got) {
			bad = append(bad, fmt.Sprintf("vars.%s %s, got %s", k, showWant(want), showGot(got, has)))
		}
	}
	if len(bad) > 0 {
		return fmt.Sprintf("expected %s (the newest, run %d) with %s", which, run.ID, strings.Join(bad, "; "))
	}
	if c.Status == string(engine.RunFailed) || c.Status == string(engine.RunLooping) {
		if r.expected == nil {
			r.expected = map[int64]bool{}
		}
		r.expected[run.ID] = true
	}
	return ""
}

// report renders a failure: the place and what went wrong, then the
// transcript so far and the runs that failed.
func (r *runner) report(at flows.Pos, msg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: scenario %q: %s\n", r.sc.File, at.Line, at.Col, r.sc.Name, msg)
	b.WriteString("    transcript:\n")
	lines := r.transcript()
	if len(lines) == 0 {
		b.WriteString("      (nothing happened)\n")
	}
	for _, l := range lines {
		b.WriteString("      " + l + "\n")
	}
	if failed, err := r.failedRuns(map[int64]bool{}); err == nil {
		if len(failed) > 0 {
			b.WriteString("    runs that failed:\n")
			for _, l := range failed {
				b.WriteString("      " + l + "\n")
			}
		}
	}
	return b.String()
}

// transcript renders the actions, the http requests and the messages in
// the order they happened, each message numbered.
func (r *runner) transcript() []string {
	entries, err := r.sb.Transcript(r.ctx, r.contact, 0)
	if err != nil {
		return []string{"(cannot read the transcript: " + err.Error() + ")"}
	}
	type line struct {
		after int64
		kind  int // 0 a message (after is its ID), 1 a note
		seq   int
		text  string
	}
	var lines []line
	for i, o := range entries {
		lines = append(lines, line{after: o.ID, text: fmt.Sprintf("%2d. %s", i+1, r.summarize(o))})
	}
	seq := 0
	for _, n := range r.notes {
		seq++
		lines = append(lines, line{after: n.after, kind: 1, seq: seq, text: n.text})
	}
	for _, c := range r.stubs.made() {
		seq++
		lines = append(lines, line{after: c.after, kind: 1, seq: seq, text: fmt.Sprintf("    http %s %s -> %s", c.method, c.url, c.result)})
	}
	sort.SliceStable(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if a.after != b.after {
			return a.after < b.after
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.seq < b.seq
	})
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

// status returns the status the check wants.
func (c *MessageCheck) status() string {
	switch {
	case c.Status != "":
		return c.Status
	case c.Reason != "":
		return string(engine.OutboxFailed)
	}
	return string(engine.OutboxSent)
}

// describe says what the check wants, for failure messages.
func (c *MessageCheck) describe() string {
	article := "a "
	if c.status() == string(engine.OutboxUnknown) {
		article = "an "
	}
	s := article + c.status() + " message"
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	var parts []string
	if c.Type != "" {
		parts = append(parts, "type "+c.Type)
	}
	for _, g := range []struct {
		name string
		glob *string
	}{{"text", c.Text}, {"image", c.Image}, {"voice", c.Voice}, {"video", c.Video}, {"news", c.News}, {"menu", c.Menu}} {
		if g.glob != nil {
			parts = append(parts, fmt.Sprintf("%s %q", g.name, *g.glob))
		}
	}
	if len(parts) > 0 {
		s += " with " + strings.Join(parts, ", ")
	}
	if c.From != "" {
		s += " from " + c.From
	}
	return s
}

// matches reports whether an outbox entry is what the check wants.
func (c *MessageCheck) matches(o *engine.OutboxEntry) bool {
	m := &o.Message
	if string(o.Status) != c.status() || (c.Reason != "" && string(o.Reason) != c.Reason) {
		return false
	}
	if c.Type != "" && m.Type != c.Type {
		return false
	}
	if c.Text != nil && (m.Type != "text" || !flows.MatchGlob(*c.Text, m.Text)) {
		return false
	}
	for _, g := range []struct {
		kind string
		glob *string
	}{{"image", c.Image}, {"voice", c.Voice}, {"video", c.Video}} {
		if g.glob != nil && (m.Type != g.kind || !mediaMatches(*g.glob, m.Media)) {
			return false
		}
	}
	if c.News != nil && (m.News == nil || !flows.MatchGlob(*c.News, m.News.Title)) {
		return false
	}
	if c.Menu != nil && !menuMatches(*c.Menu, m.Menu) {
		return false
	}
	return true
}

// mediaMatches matches a glob against a media file's path, file name,
// URL, the file name in the URL's path, media id or upload.
func mediaMatches(glob string, m *channels.Media) bool {
	if m == nil {
		return false
	}
	urlName := ""
	if u, err := url.Parse(m.URL); err == nil && m.URL != "" {
		urlName = path.Base(u.Path)
	}
	for _, s := range []string{m.Path, filepath.Base(m.Path), m.URL, urlName, m.MediaID, m.Upload} {
		if s == "/" {
			continue
		}
		if s != "" && s != "." && flows.MatchGlob(glob, s) {
			return true
		}
	}
	return false
}

// menuMatches matches a glob against a message menu's head, items and
// tail.
func menuMatches(glob string, m *channels.Menu) bool {
	if m == nil {
		return false
	}
	texts := []string{m.Head, m.Tail}
	for _, it := range m.Items {
		texts = append(texts, it.Text)
	}
	for _, s := range texts {
		if s != "" && flows.MatchGlob(glob, s) {
			return true
		}
	}
	return false
}

// summarize renders an outbox entry: its status (and reason), then the
// message.
func summarize(o *engine.OutboxEntry) string {
	s := string(o.Status)
	if o.Reason != "" {
		s += " (" + string(o.Reason) + ")"
	}
	return s + ": " + Describe(&o.Message)
}

// Describe renders a message on one line: `text "Hello"`, `image
// "map.png"`, `news "New this week" <https://...>`, `menu "How can we
// help?" [1 "Hours", 2 "Orders"]`.
func Describe(m *channels.Message) string {
	switch m.Type {
	case "text":
		return "text " + strconv.Quote(m.Text)
	case "image", "voice", "video":
		s := m.Type + " " + strconv.Quote(MediaName(m.Media))
		if m.Title != "" {
			s += " " + strconv.Quote(m.Title)
		}
		return s
	case "news":
		if m.News == nil {
			return "news"
		}
		return fmt.Sprintf("news %q <%s>", m.News.Title, m.News.URL)
	case "menu":
		if m.Menu == nil {
			return "menu"
		}
		var items []string
		for _, it := range m.Menu.Items {
			items = append(items, fmt.Sprintf("%s %q", it.ID, it.Text))
		}
		s := fmt.Sprintf("menu %q [%s]", m.Menu.Head, strings.Join(items, ", "))
		if m.Menu.Tail != "" {
			s += " " + strconv.Quote(m.Menu.Tail)
		}
		return s
	}
	return m.Type
}

// MediaName names a media file for people: its file name, URL, upload
// or media id.
func MediaName(m *channels.Media) string {
	switch {
	case m == nil:
		return ""
	case m.Path != "":
		return filepath.Base(m.Path)
	case m.URL != "":
		return m.URL
	case m.Upload != "":
		return "upload:" + m.Upload
	}
	return "media_id:" + m.MediaID
}

// valueMatches compares an expected value from a scenario with a stored
// one: a text is a glob on the value written as text, null means not set,
// numbers and booleans compare as such, a map matches when each of its
// keys matches (other keys are not looked at), a list when it has as many
// items and each matches.
func valueMatches(want, got any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case string:
		s, ok := asText(got)
		return ok && flows.MatchGlob(w, s)
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case int, int64, uint64, float64:
		wf, _ := toFloat(w)
		gf, ok := toFloat(got)
		return ok && wf == gf
	case map[string]any:
		g, ok := jsonNormal(got).(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !valueMatches(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := jsonNormal(got).([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !valueMatches(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(jsonNormal(want), jsonNormal(got))
}

// asText writes a stored scalar as text; ok is false for nil, lists and
// maps.
func asText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case json.Number:
		return v.String(), true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	}
	return "", false
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// jsonNormal returns v as JSON would give it back.
func jsonNormal(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

func showWant(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if v == nil {
		return "not set"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func showGot(v any, has bool) string {
	if !has || v == nil {
		return "nothing"
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func showTags(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return "[" + strings.Join(tags, ", ") + "]"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// reSecretUse finds the secrets a flow's source reads.
var reSecretUse = regexp.MustCompile(`\$\{\s*secret\.([A-Za-z_][A-Za-z0-9_]*)\s*\}`)

// secretValue is the value a scenario gives ${secret.NAME}: scenarios
// never see the config's secrets (nor reach the network), and an http
// step that reads one is answered by the stubs like any other.
func secretValue(name string) string { return "test-secret-" + name }

// testSecrets gives every secret the flows read its secretValue.
func testSecrets(set *flows.Set) map[string]string {
	out := map[string]string{}
	for _, f := range set.Flows {
		for _, m := range reSecretUse.FindAllSubmatch(f.Source, -1) {
			name := string(m[1])
			out[name] = secretValue(name)
		}
	}
	return out
}
