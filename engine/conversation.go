package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
	"github.com/wxflow/wxflow/triggers"
)

// DefaultAutoClose is how long an open conversation stays open after the
// contact's last interaction when the account sets no auto_close: the
// window's end, after which nobody can reply anyway.
const DefaultAutoClose = 48 * time.Hour

// People are the operators and teams of a server (or a test scenario).
type People struct {
	// Operators in the order they are declared: round_robin takes them
	// in this order.
	Operators []Operator
	// Teams by name. A team's hours say when its operators are on shift;
	// nil hours mean always.
	Teams map[string]*steps.Hours
}

// Operator is a person who answers conversations in the console.
type Operator struct {
	// Name is how flows, the API and the transcript name them.
	Name string
	// Display is the name the console shows (Name when empty).
	Display string
	// Teams the operator belongs to.
	Teams []string
}

// Operator returns a declared operator by name.
func (p *People) Operator(name string) (*Operator, bool) {
	for i := range p.Operators {
		if p.Operators[i].Name == name {
			return &p.Operators[i], true
		}
	}
	return nil, false
}

// RunHandedOver is the final status of a run that waited for an answer
// when people took the conversation (assign).
const RunHandedOver RunStatus = "handed_over"

// maxConvDepth bounds how many conversation triggers one job follows in
// a chain (a closed flow that opens, an opened flow that closes, ...).
const maxConvDepth = 8

// autoClose is an account's auto_close.
func (e *Engine) autoClose(account string) time.Duration {
	if d := e.cfg.AutoClose[account]; d > 0 {
		return d
	}
	return DefaultAutoClose
}

// convEnv is `conversation` of expressions.
func (w *work) convEnv(c *Conversation) flows.ConversationEnv {
	st := string(c.Status)
	if st == "" {
		st = string(ConvClosed)
	}
	return flows.ConversationEnv{Status: st, Assignee: c.Operator, Team: c.Team, OpenedAt: w.local(c.OpenedAt)}
}

// convStore is the transaction's conversation reads.
func convStore(tx ReadTx) (ConversationStore, error) {
	cs, ok := storeTx[ConversationStore](tx)
	if !ok {
		return nil, errors.New("the store keeps no conversations")
	}
	return cs, nil
}

// note records a conversation note in the job's transaction.
func (w *work) note(cs *contactState, kind ConvNoteKind, by, text string, outbox int64) error {
	nw, ok := storeTx[ConvNoteWriter](w.tx)
	if !ok {
		return errors.New("the store keeps no conversation notes")
	}
	return nw.AddConvNote(&ConvNote{Account: cs.c.Account, Contact: cs.c.ID, At: w.now, Kind: kind, By: by, Text: text, OutboxID: outbox})
}

// openConv opens a contact's conversation; it reports whether it was
// closed. An open by the contact's own interaction leaves no note (the
// transcript shows the interaction), so events pay no extra write.
func (w *work) openConv(cs *contactState, by string) (bool, error) {
	c := &cs.c.Conv
	if c.Open() {
		return false, nil
	}
	// How it last closed stays (ClosedAt, ClosedBy, Note, Category).
	*c = Conversation{Status: ConvOpen, OpenedAt: w.now, OpenedBy: by, ClosedAt: c.ClosedAt, ClosedBy: c.ClosedBy,
		Note: c.Note, Category: c.Category}
	cs.dirtyC = true
	due := idleSince(cs.c).Add(w.e.autoClose(cs.c.Account))
	w.after = append(w.after, func() { w.e.closeSoon(due) })
	if by == byContact {
		return true, nil
	}
	return true, w.note(cs, NoteOpened, by, "opened", 0)
}

// idleSince is when auto_close counts a conversation's idle time from:
// the contact's last interaction, or its opening when that came later (an
// operator or a flow opened it for a contact silent since).
func idleSince(c *Contact) time.Time {
	if c.Conv.OpenedAt.After(c.LastSeen) {
		return c.Conv.OpenedAt
	}
	return c.LastSeen
}

// byContact names the contact as the one who opened a conversation.
const byContact = "contact"

// closeConv closes a contact's conversation; it reports whether it was
// open.
func (w *work) closeConv(cs *contactState, by, note, category string) (bool, error) {
	c := &cs.c.Conv
	if !c.Open() {
		return false, nil
	}
	w.count().resolved(c.Team, w.now.Sub(c.OpenedAt))
	*c = Conversation{Status: ConvClosed, OpenedAt: c.OpenedAt, OpenedBy: c.OpenedBy, ClosedAt: w.now, ClosedBy: by,
		Note: note, Category: category}
	cs.dirtyC = true
	text := "closed"
	if note != "" {
		text += ": " + note
	}
	if category != "" {
		text += " [" + category + "]"
	}
	return true, w.note(cs, NoteClosed, by, text, 0)
}

// assignConv hands a contact's conversation to an operator and/or a team
// ("" and "" hands it back to flows, leaving a closed one closed),
// opening it when it is closed. When
// people take it, a run waiting for an answer (other than keep) ends as
// handed_over.
func (w *work) assignConv(cs *contactState, operator, team, by string, keep *Run) error {
	if operator == "" && team == "" && !cs.c.Conv.Open() {
		// Back to flows: a closed conversation is theirs already, and
		// opening it would start the flows of conversation: opened.
		return nil
	}
	if _, err := w.openConv(cs, by); err != nil {
		return err
	}
	c := &cs.c.Conv
	was := c.Held()
	c.Operator, c.Team = operator, team
	cs.dirtyC = true
	if !c.Held() {
		c.AssignedAt, c.FirstReplyAt, c.WaitingSince, c.AssignedBy, c.HeldBefore = time.Time{}, time.Time{}, time.Time{}, 0, nil
		return w.note(cs, NoteAssigned, by, "handed back to flows", 0)
	}
	if !was {
		c.AssignedAt, c.FirstReplyAt, c.WaitingSince, c.AssignedBy = w.now, time.Time{}, time.Time{}, 0
		if keep != nil {
			c.AssignedBy = keep.ID
		}
		if strings.HasPrefix(by, "flow ") || cs.s.Used == 0 {
			// The contact waits for people from their last interaction:
			// they asked for a person (a flow handed them over), or
			// nothing answered them since.
			c.WaitingSince = cs.c.LastSeen
		}
	}
	runs, err := w.activeRuns(cs)
	if err != nil {
		return err
	}
	before := []int64{}
	for _, r := range append([]*Run(nil), runs...) {
		if keep != nil && r.ID == keep.ID {
			continue
		}
		if r.Status == RunWaitingReply {
			if err := w.endRun(cs, r, RunHandedOver, "people took the conversation"); err != nil {
				return err
			}
			continue
		}
		before = append(before, r.ID)
	}
	if !was {
		// The runs from before the taking: they may not ask while people
		// hold it (runner.fromBeforeHandover).
		c.HeldBefore = before
	}
	return w.note(cs, NoteAssigned, by, assignWords(operator, team), 0)
}

// assignWords says an assignment in words.
func assignWords(operator, team string) string {
	switch {
	case operator != "" && team != "":
		return fmt.Sprintf("assigned to %s (%s)", operator, team)
	case operator != "":
		return "assigned to " + operator
	}
	return "assigned to team " + team
}

// handover applies an `assign` step's or an operator's assignment. ok is
// false, and nothing changed, when a pick found nobody on shift. Its
// errors do not name the action: its callers do (the assign step,
// "ACTION for CONTACT").
func (w *work) handover(cs *contactState, h steps.Handover, by string, keep *Run) (bool, error) {
	c := &cs.c.Conv
	switch {
	case h.None:
		return true, w.assignConv(cs, "", "", by, keep)
	case h.Team == "":
		if h.Operator == "" {
			return false, errors.New("no operator or team")
		}
		o, ok := w.e.cfg.People.Operator(h.Operator)
		if !ok {
			return false, fmt.Errorf("no operator %q is declared", h.Operator)
		}
		// The team is kept when the operator is of it; else the
		// operator holds it alone (operator and team must agree, as an
		// assignment naming both is refused otherwise).
		team := c.Team
		if !slices.Contains(o.Teams, team) {
			team = ""
		}
		return true, w.assignConv(cs, h.Operator, team, by, keep)
	}
	if _, ok := w.e.cfg.People.Teams[h.Team]; !ok {
		return false, fmt.Errorf("no team %q is declared", h.Team)
	}
	op := h.Operator
	if h.Pick != "" {
		var err error
		if op, err = w.pick(cs, h.Team, h.Pick); err != nil || op == "" {
			return false, err
		}
	}
	return true, w.assignConv(cs, op, h.Team, by, keep)
}

// onShift lists the team's operators on shift now, in declared order: the
// team's hours are open and they did not mark themselves away.
func (w *work) onShift(team string) ([]string, error) {
	hours, ok := w.e.cfg.People.Teams[team]
	if !ok || (hours != nil && !hours.Open(w.local(w.now))) {
		return nil, nil
	}
	var out []string
	for _, op := range w.e.cfg.People.Operators {
		if !slices.Contains(op.Teams, team) {
			continue
		}
		away, err := w.away(op.Name)
		if err != nil {
			return nil, err
		}
		if !away {
			out = append(out, op.Name)
		}
	}
	return out, nil
}

// The channel-state keys of the people's own state: an operator's away
// switch and a team's round-robin turn. They never expire.
const (
	awayKey = "wxflow:away:"
	turnKey = "wxflow:turn:"
)

// forever is the expiry of state that does not expire.
var forever = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) // within int64 nanoseconds

func (w *work) away(operator string) (bool, error) { return isAway(w.tx, operator, w.now) }

// isAway reports whether an operator marked themself away (SetAway).
func isAway(tx ReadTx, operator string, now time.Time) (bool, error) {
	v, _, ok, err := tx.ChannelState(awayKey+operator, now)
	return ok && v == "1", err
}

// KeyLocker is a write transaction that takes a lock by name until it
// ends, so that the transactions of several writers (nodes) that read
// and then write the same state take turns: the second to lock waits for
// the first to end, then reads what it committed. engine/postgres
// implements it; a store of one writer (SQLite) has no need to.
type KeyLocker interface {
	// LockKey takes the lock named key, waiting for a transaction that
	// holds it to end.
	LockKey(key string) error
}

// pick picks an on-shift operator of a team: "" when none is. The team's
// turn is locked first (KeyLocker): picks committed side by side by
// several writers go in turn, as one writer's do.
func (w *work) pick(cs *contactState, team, mode string) (string, error) {
	if l, ok := storeTx[KeyLocker](w.tx); ok {
		if err := l.LockKey(turnKey + team); err != nil {
			return "", err
		}
	}
	ops, err := w.onShift(team)
	if err != nil || len(ops) == 0 {
		return "", err
	}
	switch mode {
	case steps.PickRoundRobin:
		last, _, _, err := w.tx.ChannelState(turnKey+team, w.now)
		if err != nil {
			return "", err
		}
		next := ops[0]
		if last != "" {
			// The first on-shift operator declared after the last one
			// picked, around.
			all := w.e.cfg.People.Operators
			at := slices.IndexFunc(all, func(o Operator) bool { return o.Name == last })
			for i := 1; at >= 0 && i <= len(all); i++ {
				if n := all[(at+i)%len(all)].Name; slices.Contains(ops, n) {
					next = n
					break
				}
			}
		}
		return next, w.tx.PutChannelState(turnKey+team, next, forever, w.now)
	case steps.PickLeastOpen:
		if cs.dirtyC {
			// The counts must see this contact as it is now.
			if err := w.tx.PutContact(cs.c); err != nil {
				return "", err
			}
		}
		st, err := convStore(w.tx)
		if err != nil {
			return "", err
		}
		counts, err := st.OpenAssigned(ops)
		if err != nil {
			return "", err
		}
		best := ops[0]
		for _, o := range ops[1:] {
			if counts[o] < counts[best] {
				best = o
			}
		}
		return best, nil
	}
	return "", fmt.Errorf("unknown pick %q", mode)
}

// convChanged records, for a runner, that its step opened or closed the
// conversation: the conversation triggers run once it suspends or ends.
func (x *runner) convChanged(which string) {
	x.starts = append(x.starts, startReq{conv: which})
	x.env.Conversation = x.w.convEnv(&x.cs.c.Conv)
}

// Assign implements steps.Runtime.
func (x *runner) Assign(h steps.Handover) (bool, error) {
	wasOpen := x.cs.c.Conv.Open()
	ok, err := x.w.handover(x.cs, h, "flow "+x.run.Flow, x.run)
	if err != nil || !ok {
		return ok, err
	}
	if !wasOpen {
		x.convChanged("opened")
	}
	x.env.Conversation = x.w.convEnv(&x.cs.c.Conv)
	return true, nil
}

// OpenConversation implements steps.Runtime.
func (x *runner) OpenConversation() error {
	opened, err := x.w.openConv(x.cs, "flow "+x.run.Flow)
	if opened {
		x.convChanged("opened")
	}
	return err
}

// CloseConversation implements steps.Runtime.
func (x *runner) CloseConversation(note, category string) error {
	closed, err := x.w.closeConv(x.cs, "flow "+x.run.Flow, note, category)
	if closed {
		x.convChanged("closed")
	}
	return err
}

// Comment implements steps.Runtime.
func (x *runner) Comment(text string) error {
	return x.w.note(x.cs, NoteComment, "flow "+x.run.Flow, text, 0)
}

// convCandidates are the `conversation: opened` or `closed` triggers of
// an account.
func (w *work) convCandidates(account, which string) []triggers.Candidate {
	fs := w.e.flows.Load()
	if !fs.convTriggers {
		return nil
	}
	return fs.index.Match(triggers.Input{Account: account, Kind: "conversation", Key: which})
}

// convTriggered starts the flow a conversation's opening or closing
// starts, if any: the first candidate whose guard lets it.
func (w *work) convTriggered(cs *contactState, which string, by string) error {
	if w.convDepth >= maxConvDepth {
		w.e.log.Warn("conversation triggers: too many in a chain; this one starts nothing", "contact", cs.c.ID, "conversation", which)
		return nil
	}
	w.convDepth++
	defer func() { w.convDepth-- }()
	ev := eventEnvAt("conversation", w.now)
	ev.Key = which
	fs := w.e.flows.Load()
	// As for an event's triggers: unless it says interrupt: true, a
	// conversation trigger starts nothing while the contact is answering
	// an ask or while people hold the conversation (an operator's reply
	// opened it: the flow would talk over them).
	waiting, err := w.waitingRun(cs)
	if err != nil {
		return err
	}
	held := cs.c.Conv.Held()
	for _, c := range w.convCandidates(cs.c.Account, which) {
		if (waiting != nil || held) && !c.Trigger.Interrupt {
			continue
		}
		ok, err := w.guard(cs, &c, ev)
		if err != nil {
			return err
		}
		if ok {
			_, err := w.startFlow(cs, fs.byName[c.Flow.Name], ev, startOpts{by: "started by the conversation " + which + " (" + by + ")"})
			return err
		}
	}
	return nil
}

// lastFrom clips a message for the inbox list.
func lastFrom(at time.Time, from string, m *channels.Message) *ConvLast {
	text := m.Text
	switch m.Type {
	case "text", "":
	case "news":
		text = "[news] "
		if m.News != nil {
			text += m.News.Title
		}
	case "menu":
		text = "[menu] "
		if m.Menu != nil {
			text += m.Menu.Head
		}
	default:
		text = "[" + m.Type + "]"
	}
	return &ConvLast{At: at, From: from, Text: clip(text, 120)}
}

// lastIn is the inbox line of an inbound event.
func lastIn(ev *channels.Event) *ConvLast {
	text := strings.TrimSpace(ev.Text)
	switch {
	case ev.Kind == channels.Text:
	case text != "":
		text = "[" + string(ev.Kind) + "] " + text
	default:
		text = "[" + string(ev.Kind) + "]"
		if ev.Key != "" {
			text += " " + ev.Key
		}
	}
	return &ConvLast{At: ev.At, From: byContact, Text: clip(text, 120)}
}
