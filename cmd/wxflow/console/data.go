package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// The views below are what the pages show and the API returns: one
// gathering, two renderings. None holds a secret.

// FlowView is a loaded flow.
type FlowView struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	File        string   `json:"file"`
	Version     string   `json:"version"`
	Account     string   `json:"account,omitempty"`
	Triggers    []string `json:"triggers"`
	// Vars are the variables the flow declares (`vars:`), which a start
	// (the flow page's form, the API) may give.
	Vars []VarView `json:"vars"`
	// Waiting counts the flow's active runs; Steps says where they are.
	Waiting     int        `json:"active_runs"`
	Steps       []StepView `json:"active_steps"`
	Diagnostics []DiagView `json:"diagnostics"`
	// NotLoaded is set when the flow's file failed the last reload (its
	// Diagnostics have errors): the file on disk is not what runs, the
	// Version shown still does.
	NotLoaded bool          `json:"not_loaded,omitempty"`
	Graph     string        `json:"graph_mermaid,omitempty"`
	SVG       template.HTML `json:"-"`
	flow      *flows.Flow   `json:"-"`
	// waiting counts the active runs of the current version per step.
	waiting map[*flows.Step]int
}

// StepView counts the active runs at one step of one version.
type StepView struct {
	Step    string           `json:"step"`
	Pos     string           `json:"pos"`
	Status  engine.RunStatus `json:"status"`
	Version string           `json:"version"`
	Current bool             `json:"current_version"`
	Runs    int              `json:"runs"`
}

// DiagView is a validation problem.
type DiagView struct {
	At       string `json:"at"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
}

// RunSummary is a run in a list.
type RunSummary struct {
	ID        int64            `json:"id"`
	Account   string           `json:"account"`
	Contact   string           `json:"contact"`
	Flow      string           `json:"flow"`
	Version   string           `json:"version"`
	Status    engine.RunStatus `json:"status"`
	Active    bool             `json:"active"`
	Step      string           `json:"step"`
	StartedAt time.Time        `json:"started_at"`
	UpdatedAt time.Time        `json:"updated_at"`
	EndedAt   *time.Time       `json:"ended_at,omitempty"`
	// Duration is how long an ended run took.
	Duration string `json:"duration,omitempty"`
	Error    string `json:"error,omitempty"`
	// Messages counts the run's messages by outcome; Undelivered is set
	// for a run that ended having reserved messages that all failed:
	// whatever its status, it reached nobody.
	Messages    *MessageCounts `json:"message_counts,omitempty"`
	Undelivered bool           `json:"undelivered,omitempty"`
}

// RunView is a run with its timeline.
type RunView struct {
	RunSummary
	Vars         map[string]any  `json:"vars"`
	Answer       any             `json:"answer,omitempty"`
	Timeline     []TimelineEntry `json:"timeline"`
	TrailDropped int             `json:"timeline_dropped,omitempty"`
	// Messages are every message of the run, in order.
	Messages []MessageView `json:"messages"`
}

// TimelineEntry is one step of a run, with the messages it reserved.
type TimelineEntry struct {
	At       time.Time     `json:"at"`
	Step     string        `json:"step,omitempty"`
	Kind     string        `json:"kind,omitempty"`
	What     string        `json:"what"`
	Messages []MessageView `json:"messages,omitempty"`
}

// MessageView is an outbound message and what became of it.
type MessageView struct {
	ID      int64               `json:"id"`
	RunID   int64               `json:"run_id"`
	Account string              `json:"account"`
	Contact string              `json:"contact"`
	Type    string              `json:"type"`
	Summary string              `json:"summary"`
	Status  engine.OutboxStatus `json:"status"`
	Reason  channels.Reason     `json:"reason,omitempty"`
	// Why says in words why the message was not sent.
	Why       string            `json:"why,omitempty"`
	Code      int               `json:"errcode,omitempty"`
	Detail    string            `json:"detail,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	Message   *channels.Message `json:"message"`
}

// ContactView is a contact with its session and runs.
type ContactView struct {
	Account   string         `json:"account"`
	ID        string         `json:"id"`
	Followed  bool           `json:"followed"`
	FirstSeen time.Time      `json:"first_seen"`
	LastSeen  time.Time      `json:"last_seen"`
	Tags      []string       `json:"tags"`
	Fields    map[string]any `json:"fields"`
	Session   *SessionView   `json:"session,omitempty"`
	Active    []RunSummary   `json:"active_runs,omitempty"`
	Runs      []RunSummary   `json:"recent_runs,omitempty"`
	Messages  []MessageView  `json:"recent_messages,omitempty"`
	// Notes are the recent events that started no flow and answered no
	// run, with why, newest first.
	Notes []NoteView `json:"event_notes,omitempty"`
}

// SessionView is a contact's WeChat session now.
type SessionView struct {
	// Open is set when a message may go now (followed, in the window,
	// replies left); WindowOpen when the window itself is open, replies
	// left or not, and ClosesAt when it closes (given while WindowOpen).
	Open       bool       `json:"open"`
	WindowOpen bool       `json:"window_open"`
	ClosesAt   *time.Time `json:"closes_at,omitempty"`
	QuotaLeft  int        `json:"quota_left"`
	// LastInteraction is the kind of the interaction that opened the
	// window (message or event) and LastAt when it came.
	LastInteraction string     `json:"last_interaction"`
	LastAt          *time.Time `json:"last_at,omitempty"`
	Used            int        `json:"replies_used"`
	// ClosedByWeChat is set when WeChat said the window is closed or the
	// quota used (45015, 45047), until the next interaction.
	ClosedByWeChat bool `json:"closed_by_wechat,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func runSummary(r *engine.Run) RunSummary {
	return RunSummary{ID: r.ID, Account: r.Account, Contact: r.Contact, Flow: r.Flow, Version: r.Version,
		Status: r.Status, Active: r.Status.Active(), Step: r.Step, StartedAt: r.StartedAt, UpdatedAt: r.UpdatedAt,
		EndedAt: timePtr(r.EndedAt), Duration: runDuration(r), Error: r.State.Error}
}

func runSummaries(runs []*engine.Run) []RunSummary {
	out := make([]RunSummary, len(runs))
	for i, r := range runs {
		out[i] = runSummary(r)
	}
	return out
}

func messageView(o *engine.OutboxEntry) MessageView {
	m := o.Message
	v := MessageView{ID: o.ID, RunID: o.RunID, Account: o.Account, Contact: o.Contact, Type: m.Type,
		Summary: messageSummary(&m), Status: o.Status, Reason: o.Reason, Code: o.Code, Detail: o.Detail,
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Message: &m}
	if o.Reason != "" {
		v.Why = o.Reason.Describe()
	}
	return v
}

func messageViews(entries []*engine.OutboxEntry) []MessageView {
	out := make([]MessageView, len(entries))
	for i, o := range entries {
		out[i] = messageView(o)
	}
	return out
}

// messageSummary says what a message is in one line.
func messageSummary(m *channels.Message) string {
	switch {
	case m.Text != "":
		return m.Text
	case m.Title != "":
		return m.Title
	case m.News != nil && m.News.Title != "":
		return m.News.Title
	case m.Menu != nil:
		items := make([]string, len(m.Menu.Items))
		for i, it := range m.Menu.Items {
			items[i] = it.Text
		}
		return strings.TrimSpace(m.Menu.Head + " [" + strings.Join(items, " | ") + "]")
	case m.Media != nil:
		if m.Media.Upload != "" {
			return m.Type + ": uploaded"
		}
		for _, name := range []string{m.Media.Path, m.Media.URL, m.Media.MediaID} {
			if name != "" {
				return m.Type + ": " + name
			}
		}
	}
	return m.Type
}

func sessionView(w channels.Window, s channels.Session, now time.Time) *SessionView {
	v := &SessionView{Open: w.Open, WindowOpen: windowOpen(w, s.Followed, now), QuotaLeft: w.QuotaLeft, LastInteraction: s.Kind.String(), LastAt: timePtr(s.Last), Used: s.Used, ClosedByWeChat: s.Closed}
	if v.WindowOpen {
		v.ClosesAt = timePtr(w.ExpiresAt)
	}
	return v
}

func diagViews(ds flows.Diagnostics) []DiagView {
	out := make([]DiagView, 0, len(ds))
	for _, d := range ds {
		out = append(out, DiagView{At: fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Col), Severity: d.Severity.String(), Message: d.Message, Hint: d.Hint})
	}
	return out
}

// diagnostics are the problems of the last load of the flow folder.
func (c *Console) diagnostics() flows.Diagnostics {
	if c.cfg.Diagnostics != nil {
		return c.cfg.Diagnostics()
	}
	return c.eng.Flows().Diags
}

// flowViews lists the loaded flows with where their runs wait.
func (c *Console) flowViews(ctx context.Context) ([]*FlowView, error) {
	set := c.eng.Flows()
	var counts []engine.StepCount
	err := c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		var err error
		counts, err = tx.ActiveSteps()
		return err
	})
	if err != nil {
		return nil, err
	}
	diags := c.diagnostics()
	byName := map[string]*FlowView{}
	var out []*FlowView
	for _, f := range set.Flows {
		v := &FlowView{Name: f.Name, Description: f.Description, File: f.File, Version: f.Version, Account: f.Account,
			Triggers: []string{}, Vars: varViews(f), Steps: []StepView{}, flow: f, waiting: map[*flows.Step]int{}}
		for _, t := range f.Triggers {
			v.Triggers = append(v.Triggers, t.Describe())
		}
		var mine flows.Diagnostics
		for _, d := range diags {
			if d.File == f.File {
				mine = append(mine, d)
			}
		}
		v.Diagnostics = diagViews(mine)
		v.NotLoaded = mine.HasErrors()
		byName[f.Name] = v
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *FlowView) int { return cmp.Compare(a.Name, b.Name) })
	for _, sc := range counts {
		v, ok := byName[sc.Flow]
		if !ok {
			continue // a flow no longer loaded: its runs finish on their version
		}
		v.Waiting += sc.N
		current := sc.Version == v.Version
		v.Steps = append(v.Steps, StepView{Step: sc.Step, Pos: sc.Pos, Status: sc.Status, Version: sc.Version, Current: current, Runs: sc.N})
		if current {
			if s := c.eng.StepAt(v.flow, sc.Pos); s != nil {
				v.waiting[s] += sc.N
			}
		}
	}
	return out, nil
}

// flowView is one flow with its diagram.
func (c *Console) flowView(ctx context.Context, name string) (*FlowView, error) {
	all, err := c.flowViews(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range all {
		if v.Name == name {
			v.Graph = flows.Mermaid(v.flow)
			badges := map[*flows.Step]string{}
			for s, n := range v.waiting {
				badges[s] = strconv.Itoa(n)
			}
			v.SVG = template.HTML(flows.SVG(v.flow, flows.SVGOptions{Badges: badges}))
			return v, nil
		}
	}
	return nil, fmt.Errorf("%w: no flow %q is loaded", engine.ErrNotFound, name)
}

// otherDiagnostics are the problems of files that are not loaded flows
// (a broken new file, menu.yaml).
func (c *Console) otherDiagnostics(views []*FlowView) []DiagView {
	files := map[string]bool{}
	for _, v := range views {
		files[v.File] = true
	}
	var rest flows.Diagnostics
	for _, d := range c.diagnostics() {
		if !files[d.File] {
			rest = append(rest, d)
		}
	}
	return diagViews(rest)
}

// pageSize is how many rows a list shows at once.
const pageSize = 50

// listQuery reads the common list parameters: before (an ID) and limit.
func listQuery(q url.Values) (before int64, limit int, err error) {
	limit = pageSize
	if s := q.Get("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before < 0 {
			return 0, 0, badRequest("before must be a message or run id, not %q", s)
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 500 {
			return 0, 0, badRequest("limit must be a number from 1 to 500, not %q", s)
		}
	}
	return before, limit, nil
}

// runStatuses are the statuses a run list can be filtered by.
var runStatuses = []engine.RunStatus{engine.RunRunning, engine.RunWaitingReply, engine.RunWaitingTime, engine.RunCalling,
	engine.RunWaitingSend, engine.RunCompleted, engine.RunTimedOut, engine.RunInvalid, engine.RunInterrupted, engine.RunRestarted,
	engine.RunUnfollowed, engine.RunLooping, engine.RunFailed}

// runList lists runs by the query's flow, contact, account, status and
// active filters, newest first.
// It reads extra rows past the query's limit (a page reads one, to know
// whether there is a next).
func (c *Console) runList(ctx context.Context, q url.Values, extra int) ([]RunSummary, error) {
	before, limit, err := listQuery(q)
	if err != nil {
		return nil, err
	}
	limit += extra
	f := engine.RunFilter{Account: q.Get("account"), Contact: q.Get("contact"), Flow: q.Get("flow"), BeforeID: before, Limit: limit}
	switch a := q.Get("active"); a {
	case "true":
		f.Active = true
	case "", "false":
	default:
		return nil, badRequest("active=%s: write active=true, or leave it out", a)
	}
	if s := q.Get("status"); s != "" {
		if !slices.Contains(runStatuses, engine.RunStatus(s)) {
			return nil, badRequest("unknown run status %q (one of %v)", s, runStatuses)
		}
		f.Status = engine.RunStatus(s)
	}
	var sums []RunSummary
	err = c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		runs, err := tx.Runs(f)
		if err != nil {
			return err
		}
		sums = runSummaries(runs)
		return withMessages(tx, sums)
	})
	if err != nil {
		return nil, err
	}
	return sums, nil
}

// runView is a run with its timeline and messages.
func (c *Console) runView(ctx context.Context, idText string) (*RunView, error) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: no run %q", engine.ErrNotFound, idText)
	}
	var run *engine.Run
	var msgs []*engine.OutboxEntry
	err = c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		if run, err = tx.Run(id); err != nil {
			return err
		}
		msgs, err = tx.Outbox(engine.OutboxFilter{Account: run.Account, Contact: run.Contact, RunID: run.ID})
		return err
	})
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("%w: no run %d", engine.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	v := &RunView{RunSummary: runSummary(run), Vars: run.State.Vars, Answer: run.State.Answer,
		TrailDropped: run.State.TrailDropped, Messages: messageViews(msgs), Timeline: []TimelineEntry{}}
	v.RunSummary.setMessages(msgs)
	if v.Vars == nil {
		v.Vars = map[string]any{}
	}
	byID := map[int64]MessageView{}
	for _, m := range v.Messages {
		byID[m.ID] = m
	}
	for _, t := range run.State.Trail {
		e := TimelineEntry{At: t.At, Step: t.Step, Kind: t.Kind, What: t.What}
		for _, id := range t.Messages {
			if m, ok := byID[id]; ok {
				e.Messages = append(e.Messages, m)
			}
		}
		v.Timeline = append(v.Timeline, e)
	}
	return v, nil
}

// messageList lists the outbox, newest first, by the query's status,
// reason, account and contact.
// It reads extra rows past the query's limit (a page reads one, to know
// whether there is a next).
func (c *Console) messageList(ctx context.Context, q url.Values, extra int) ([]MessageView, error) {
	before, limit, err := listQuery(q)
	if err != nil {
		return nil, err
	}
	limit += extra
	f := engine.OutboxFilter{Account: q.Get("account"), Contact: q.Get("contact"), BeforeID: before, Limit: limit, Newest: true}
	if s := q.Get("status"); s != "" {
		if !slices.Contains(outboxStatuses, engine.OutboxStatus(s)) {
			return nil, badRequest("unknown message status %q (one of %v)", s, outboxStatuses)
		}
		f.Status = engine.OutboxStatus(s)
	}
	if s := q.Get("reason"); s != "" {
		if !slices.Contains(reasons, channels.Reason(s)) {
			return nil, badRequest("unknown reason %q (one of %v)", s, reasons)
		}
		f.Reason = channels.Reason(s)
	}
	var entries []*engine.OutboxEntry
	err = c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		entries, err = tx.Outbox(f)
		return err
	})
	if err != nil {
		return nil, err
	}
	return messageViews(entries), nil
}

var outboxStatuses = []engine.OutboxStatus{engine.OutboxPending, engine.OutboxSending, engine.OutboxSent, engine.OutboxFailed, engine.OutboxUnknown}

var reasons = []channels.Reason{channels.ReasonWindowClosed, channels.ReasonQuotaExhausted, channels.ReasonUnfollowed,
	channels.ReasonMediaTooLarge, channels.ReasonMediaType, channels.ReasonRegion, channels.ReasonAPIError, channels.ReasonPaused}

// contactList lists followers, by account and id, after the query's
// position.
// It reads extra rows past the query's limit (a page reads one, to know
// whether there is a next).
func (c *Console) contactList(ctx context.Context, q url.Values, extra int) ([]ContactView, error) {
	_, limit, err := listQuery(q)
	if err != nil {
		return nil, err
	}
	limit += extra
	if (q.Get("after") == "") != (q.Get("after_account") == "") {
		return nil, badRequest("after and after_account go together: pass both, as the last page's next link does")
	}
	var cs []*engine.Contact
	err = c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		cs, err = tx.Contacts(q.Get("account"), q.Get("after_account"), q.Get("after"), limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]ContactView, len(cs))
	for i, ct := range cs {
		out[i] = contactView(ct)
	}
	return out, nil
}

func contactView(ct *engine.Contact) ContactView {
	v := ContactView{Account: ct.Account, ID: ct.ID, Followed: ct.Followed, FirstSeen: ct.FirstSeen, LastSeen: ct.LastSeen, Tags: ct.Tags, Fields: ct.Fields}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if v.Fields == nil {
		v.Fields = map[string]any{}
	}
	return v
}

// contactDetail is a contact with its session, runs and recent messages.
func (c *Console) contactDetail(ctx context.Context, account, id string) (*ContactView, error) {
	var v ContactView
	var s channels.Session
	err := c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		ct, err := tx.Contact(account, id)
		if err != nil {
			return err
		}
		v = contactView(ct)
		if s, _, err = tx.Session(account, id); err != nil {
			return err
		}
		runs, err := tx.Runs(engine.RunFilter{Account: account, Contact: id, Limit: 20})
		if err != nil {
			return err
		}
		v.Runs = runSummaries(runs)
		if err := withMessages(tx, v.Runs); err != nil {
			return err
		}
		active, err := tx.Runs(engine.RunFilter{Account: account, Contact: id, Active: true})
		if err != nil {
			return err
		}
		slices.SortFunc(active, func(a, b *engine.Run) int { return cmp.Compare(a.ID, b.ID) })
		v.Active = runSummaries(active)
		msgs, err := tx.Outbox(engine.OutboxFilter{Account: account, Contact: id, Newest: true, Limit: 20})
		if err != nil {
			return err
		}
		v.Messages = messageViews(msgs)
		notes, err := tx.EventNotes(account, id, maxNotes)
		v.Notes = noteViews(notes)
		return err
	})
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("%w: account %s has no contact %q", engine.ErrNotFound, account, id)
	}
	if err != nil {
		return nil, err
	}
	v.Session = sessionView(c.eng.Window(account, s), s, c.eng.Clock().Now())
	return &v, nil
}
