package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/steps"
)

// ErrRefused is returned by Act for a reply the channel refused before
// sending it (window closed, quota used, ...): errors.As finds the
// *channels.Refusal with the reason. The refused reply is kept in the
// transcript as failed, with the reason.
var ErrRefused = errors.New("reply refused")

// ErrNobodyToPick is returned by Act for an assignment whose pick found
// no operator of the team on shift and not away.
var ErrNobodyToPick = errors.New("nobody to assign")

// ErrAlreadyClosed is returned by Act for closing a conversation that is
// closed already (by another operator, a flow, or auto-close): the second
// close's note and category would otherwise be dropped without a word.
var ErrAlreadyClosed = errors.New("conversation already closed")

// AlreadyClosedError is ErrAlreadyClosed (errors.Is) with who closed the
// conversation and when, for whoever says it to a person in their own
// format (the console says "3 h 12 min ago").
type AlreadyClosedError struct {
	// By is who closed it ("operator bob"); At when, and Now when the
	// second close came. At is zero for a contact with no conversation.
	By      string
	At, Now time.Time
}

func (e *AlreadyClosedError) Error() string {
	return ErrAlreadyClosed.Error() + closedBy(Conversation{ClosedBy: e.By, ClosedAt: e.At}, e.Now)
}

// Is makes errors.Is(err, ErrAlreadyClosed) hold.
func (e *AlreadyClosedError) Is(target error) bool { return target == ErrAlreadyClosed }

// ErrUnknownOperator is returned by Act for an operator the server does
// not declare.
var ErrUnknownOperator = errors.New("no such operator")

// ActionKind is what an operator (or the API) does to a conversation.
type ActionKind string

// The actions on a conversation.
const (
	ActReply   ActionKind = "reply"
	ActAssign  ActionKind = "assign"
	ActOpen    ActionKind = "open"
	ActClose   ActionKind = "close"
	ActComment ActionKind = "comment"
	ActStart   ActionKind = "start"
)

// Action is one thing an operator does to a contact's conversation.
type Action struct {
	Kind ActionKind `json:"kind"`
	// Operator is who does it: a declared operator's name, or "" for the
	// admin (the API's admin token; recorded as "api").
	Operator string `json:"operator,omitempty"`
	// Message is a reply's message.
	Message *channels.Message `json:"message,omitempty"`
	// Handover is an assignment (as the `assign` step's).
	Handover steps.Handover `json:"handover,omitzero"`
	// Note and Category close a conversation; Text is a comment.
	Note     string `json:"note,omitempty"`
	Category string `json:"category,omitempty"`
	Text     string `json:"text,omitempty"`
	// Flow and Vars start a flow.
	Flow string         `json:"flow,omitempty"`
	Vars map[string]any `json:"vars,omitempty"`
}

// by names who does an action in notes and the transcript.
func (a *Action) by() string {
	if a.Operator == "" {
		return "api"
	}
	return "operator " + a.Operator
}

// ActResult is what an action did.
type ActResult struct {
	// Outbox is a reply's outbox entry (sent later; failed when refused).
	Outbox *OutboxEntry
	// Run is the run a start started.
	Run *Run
	// Conversation is the conversation after the action.
	Conversation Conversation
}

// Act does an operator's action on a contact's conversation, in one
// transaction, recorded with who did it. A reply obeys WeChat's rules as
// a flow's send does: checked against the window and quota before it
// goes (ErrRefused, kept as failed with the reason), and counted against
// the same quota. On a store shared by several nodes, an action for a
// contact another node holds is queued for that node (ErrQueued, no
// result). An unknown contact is ErrNotFound.
func (e *Engine) Act(ctx context.Context, ref ContactRef, a Action) (*ActResult, error) {
	if w := e.writerFor(ref.Account, ref.ID); w != e {
		return w.Act(ctx, ref, a)
	}
	if ref.Account == "" || ref.ID == "" {
		return nil, fmt.Errorf("%w: account and contact are required", ErrBadEvent)
	}
	if a.Operator != "" {
		if _, ok := e.cfg.People.Operator(a.Operator); !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownOperator, a.Operator)
		}
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	if p, ok := e.flows.Load().byName[a.Flow]; ok && a.Kind == ActStart {
		// Told now, also when the contact's node starts it.
		if _, err := p.flow.FitVars(a.Vars); err != nil {
			return nil, badRequest(err)
		}
	}
	var res *ActResult
	var refused error
	err := e.submit(ctx, func(w *work) error {
		res, refused = nil, nil
		if !w.direct(ref.Account, ref.ID) {
			// The contact's node does it; an unknown contact is told now.
			c, err := w.tx.Contact(ref.Account, ref.ID)
			if errors.Is(err, ErrNotFound) {
				refused = fmt.Errorf("%w: account %s has no contact %q", ErrNotFound, ref.Account, ref.ID)
				return nil
			} else if err != nil {
				return err
			}
			if a.Kind == ActStart {
				// So is what the contact's node would refuse before
				// reading its lane, as StartFlow tells it: an unknown
				// flow, one of another account, a contact who
				// unfollowed (queued, it was dropped with a log line
				// there, after a 202 here).
				if refused = startRefusedNow(w.e.flows.Load(), c, a.Flow); refused != nil {
					return nil
				}
			}
			refused = fmt.Errorf("%w: %s for %s", ErrQueued, a.Kind, ref.ID)
			if a.Kind == ActStart {
				refused = fmt.Errorf("%w: start of %s for %s", ErrQueued, a.Flow, ref.ID)
			}
			b, err := json.Marshal(&a)
			if err != nil {
				return err
			}
			return w.queue(&Queued{Kind: QueuedAction, Account: ref.Account, Contact: ref.ID, Name: string(a.Kind), Vars: map[string]any{"action": string(b)}})
		}
		var err error
		res, refused, err = w.act(ref, &a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s for %s: %w", a.Kind, ref.ID, err)
	}
	return res, refused
}

// Limits of what an action records: the transcript keeps it, and the
// inbox shows it (comments, notes and categories are never pruned).
const (
	// MaxActionText bounds a comment's, a close note's and a text reply's
	// bytes.
	MaxActionText = 16 << 10
	// MaxCategory bounds a close category's bytes (a label).
	MaxCategory = 100
)

// check refuses an action that lacks what it needs, or whose texts are
// past the limits.
func (a *Action) check() error {
	if len(a.Text) > MaxActionText || len(a.Note) > MaxActionText || (a.Message != nil && len(a.Message.Text) > MaxActionText) {
		return fmt.Errorf("%w: a text, note or reply of an action is %d bytes at most", ErrBadEvent, MaxActionText)
	}
	if len(a.Category) > MaxCategory {
		return fmt.Errorf("%w: a category is %d bytes at most", ErrBadEvent, MaxCategory)
	}
	switch a.Kind {
	case ActReply:
		if a.Message == nil || (a.Message.Type == "text" && a.Message.Text == "") || a.Message.Type == "" {
			return fmt.Errorf("%w: a reply needs a message", ErrBadEvent)
		}
	case ActComment:
		if a.Text == "" {
			return fmt.Errorf("%w: a comment needs a text", ErrBadEvent)
		}
	case ActStart:
		if a.Flow == "" {
			return fmt.Errorf("%w: start needs a flow", ErrBadEvent)
		}
	case ActAssign, ActOpen, ActClose:
	default:
		return fmt.Errorf("%w: unknown action %q", ErrBadEvent, a.Kind)
	}
	return nil
}

// act does an action for a contact of a held lane. refused is the
// action's own failure (the transaction commits what it recorded).
func (w *work) act(ref ContactRef, a *Action) (res *ActResult, refused error, err error) {
	cs, err := w.contact(ref.Account, ref.ID, false)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: account %s has no contact %q", ErrNotFound, ref.Account, ref.ID), nil
	}
	if err != nil {
		return nil, nil, err
	}
	res = &ActResult{}
	by := a.by()
	changed := ""
	switch a.Kind {
	case ActReply:
		res.Outbox, refused, err = w.reply(cs, a)
		if refused != nil {
			// A refused reply joins the transcript and changes nothing
			// else.
			break
		}
		if err == nil && !cs.c.Conv.Open() {
			// A reply opens a closed conversation.
			if _, err = w.openConv(cs, by); err == nil {
				changed = "opened"
			}
		}
		if err == nil && a.Operator != "" && !cs.c.Conv.Held() {
			// An operator who replies takes a conversation nobody
			// holds: flows stop answering while they talk. The reply
			// is the first response to the taking (0 s): the metric
			// skipped it and timed the next reply from the taking.
			if err = w.assignConv(cs, a.Operator, "", by, nil); err == nil {
				c := &cs.c.Conv
				c.FirstReplyAt = w.now
				w.count().replied(c.Team, 0)
			}
		}
	case ActAssign:
		wasOpen := cs.c.Conv.Open()
		var ok bool
		ok, err = w.handover(cs, a.Handover, by, nil)
		if err == nil && !ok {
			refused = fmt.Errorf("%w: no operator of team %s is on shift and not away", ErrNobodyToPick, a.Handover.Team)
		}
		if ok && !wasOpen && cs.c.Conv.Open() {
			changed = "opened"
		}
	case ActOpen:
		var opened bool
		if opened, err = w.openConv(cs, by); opened {
			changed = "opened"
		}
	case ActClose:
		if c := cs.c.Conv; !c.Open() {
			refused = &AlreadyClosedError{By: c.ClosedBy, At: c.ClosedAt, Now: w.now}
			break
		}
		var closed bool
		if closed, err = w.closeConv(cs, by, a.Note, a.Category); closed {
			changed = "closed"
		}
	case ActComment:
		err = w.note(cs, NoteComment, by, a.Text, 0)
	case ActStart:
		res.Run, refused, err = w.startFor(cs, a.Flow, a.Vars, by)
		if err == nil && refused == nil {
			err = w.note(cs, NoteComment, by, "started flow "+a.Flow, 0)
		}
	}
	if err == nil && changed != "" {
		err = w.convTriggered(cs, changed, by)
	}
	if err != nil {
		return nil, nil, err
	}
	res.Conversation = cs.c.Conv
	return res, refused, nil
}

// closedBy says who closed a conversation and how long ago, for a second
// close's refusal.
func closedBy(c Conversation, now time.Time) string {
	if c.ClosedAt.IsZero() {
		return ": the contact has no conversation yet"
	}
	return fmt.Sprintf(" by %s %s ago", c.ClosedBy, now.Sub(c.ClosedAt).Round(time.Second))
}

// reply reserves an operator's reply, or records it refused.
func (w *work) reply(cs *contactState, a *Action) (*OutboxEntry, error, error) {
	msg := *a.Message
	o := &OutboxEntry{Account: cs.c.Account, Contact: cs.c.ID, Message: msg, Status: OutboxPending, CreatedAt: w.now, UpdatedAt: w.now}
	var refused error
	if err := cs.policy.Check(cs.s, &msg, w.local(w.now)); err != nil {
		var ref *channels.Refusal
		if !errors.As(err, &ref) {
			return nil, nil, fmt.Errorf("policy: %w", err)
		}
		o.Status, o.Reason, o.Detail, o.Code = OutboxFailed, ref.Reason, ref.Detail, ref.Code
		refused = fmt.Errorf("%w: %w", ErrRefused, ref)
		w.count().refusedReply(ref.Reason)
		w.count().message(o.Status, o.Reason)
	} else {
		cs.s = cs.policy.Spend(cs.s)
		cs.dirtyS = true
		w.sends = true
	}
	if err := w.tx.InsertOutbox(o); err != nil {
		return nil, nil, err
	}
	if err := w.note(cs, NoteReply, a.by(), "", o.ID); err != nil {
		return nil, nil, err
	}
	c := &cs.c.Conv
	if refused == nil && a.Operator != "" {
		c.WaitingSince = time.Time{}
		cs.dirtyC = true
		if c.Held() && c.FirstReplyAt.IsZero() && !c.AssignedAt.IsZero() {
			c.FirstReplyAt = w.now
			w.count().replied(c.Team, w.now.Sub(c.AssignedAt))
		}
	}
	return o, refused, nil
}

// startRefusedNow is why a start of flow for contact c is refused before
// its lane's state is read (the flow is not loaded or serves another
// account, the contact unfollowed), or nil.
func startRefusedNow(set *flowSet, c *Contact, flow string) error {
	p, ok := set.byName[flow]
	if !ok {
		return fmt.Errorf("%w: no flow %q is loaded", ErrNotFound, flow)
	}
	if err := p.serves(c.Account); err != nil {
		return badRequest(err)
	}
	if !c.Followed {
		return fmt.Errorf("%w: %s unfollowed the account", ErrNotStarted, c.ID)
	}
	return nil
}

// startFor starts a flow for a contact as an operator asks.
func (w *work) startFor(cs *contactState, flow string, vars map[string]any, by string) (*Run, error, error) {
	set := w.e.flows.Load()
	if refused := startRefusedNow(set, cs.c, flow); refused != nil {
		return nil, refused, nil
	}
	p := set.byName[flow]
	vars, err := p.flow.FitVars(vars)
	if err != nil {
		return nil, badRequest(err), nil
	}
	cooling, err := w.coolingDown(cs, p.flow)
	if err != nil {
		return nil, nil, err
	}
	if cooling {
		return nil, fmt.Errorf("%w: %s is cooling down for %s (cooldown %s)", ErrNotStarted, flow, cs.c.ID, p.flow.Cooldown), nil
	}
	r, err := w.startFlow(cs, p, eventEnvAt("api", w.now), startOpts{by: startedByPrefix + by, vars: maps.Clone(vars)})
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: %s runs already for %s (reentry: ignore)", ErrNotStarted, flow, cs.c.ID), nil
	}
	copied := *r
	return &copied, nil, nil
}

// doQueuedAction does an action queued by another node.
func (w *work) doQueuedAction(q *Queued) error {
	s, _ := q.Vars["action"].(string)
	var a Action
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		w.e.log.Error("a queued conversation action cannot be read; it is dropped", "account", q.Account, "contact", q.Contact, "err", err)
		return nil
	}
	_, refused, err := w.act(ContactRef{q.Account, q.Contact}, &a)
	if refused != nil {
		// Who asked, as the node that queued it logged them: its
		// operator was told only that it was queued.
		by := a.Operator
		if by == "" {
			by = "admin"
		}
		args := []any{"action", a.Kind, "account", q.Account, "contact", q.Contact, "by", by, "why", refused}
		if a.Note != "" || a.Category != "" {
			// The close's note is kept nowhere else: the operator who
			// wrote it was told it was queued.
			args = append(args, "note", a.Note, "category", a.Category)
		}
		w.e.log.Info("a queued conversation action was refused", args...)
	}
	return err
}

// SetAway marks an operator away (or back): round_robin and least_open
// skip away operators. It survives restarts.
func (e *Engine) SetAway(ctx context.Context, operator string, away bool) error {
	if _, ok := e.cfg.People.Operator(operator); !ok {
		return fmt.Errorf("%w: %q", ErrUnknownOperator, operator)
	}
	return e.submit(ctx, func(w *work) error {
		v := "0"
		if away {
			v = "1"
		}
		return w.tx.PutChannelState(awayKey+operator, v, forever, w.now)
	})
}

// Away reports which declared operators marked themselves away.
func (e *Engine) Away(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	now := e.clock.Now()
	err := e.store.View(ctx, func(tx ReadTx) error {
		for _, op := range e.cfg.People.Operators {
			away, err := isAway(tx, op.Name, now)
			if err != nil {
				return err
			}
			out[op.Name] = away
		}
		return nil
	})
	return out, err
}

// People returns the server's operators and teams.
func (e *Engine) People() *People { return &e.cfg.People }

// InboxItem is a conversation as the inbox lists it.
type InboxItem struct {
	Contact *Contact
	// Window is the contact's WeChat window now.
	Window channels.Window
}

// Inbox lists conversations by f, newest interaction first.
func (e *Engine) Inbox(ctx context.Context, f ConversationFilter) ([]InboxItem, error) {
	var out []InboxItem
	now := e.clock.Now()
	err := e.store.View(ctx, func(tx ReadTx) error {
		st, err := convStore(tx)
		if err != nil {
			return err
		}
		cs, err := st.Conversations(f)
		if err != nil {
			return err
		}
		refs := make([]ContactRef, len(cs))
		for i, c := range cs {
			refs[i] = ContactRef{c.Account, c.ID}
		}
		last, err := st.LastMessages(refs)
		if err != nil {
			return err
		}
		out = make([]InboxItem, 0, len(cs))
		for _, c := range cs {
			s, _, err := tx.Session(c.Account, c.ID)
			if err != nil {
				return err
			}
			if c.Conv.Last, err = lastWithSender(tx, st, last[ContactRef{c.Account, c.ID}]); err != nil {
				return err
			}
			out = append(out, InboxItem{Contact: c, Window: e.cfg.Channel.Policy(c.Account).Window(s, now)})
		}
		return nil
	})
	return out, err
}

// lastOf is the newest message of a contact's transcript: what they sent
// or what was sent to them, whichever came last (nil for none).
func lastOf(m LastMessage) *ConvLast {
	var last *ConvLast
	if m.In != nil {
		ev := m.In.Event
		if ev.At.IsZero() {
			ev.At = m.In.ReceivedAt
		}
		last = lastIn(&ev)
	}
	if m.Out != nil && (last == nil || !m.Out.CreatedAt.Before(last.At)) {
		last = lastFrom(m.Out.CreatedAt, "", &m.Out.Message)
		last.Status, last.Reason = m.Out.Status, m.Out.Reason
		if m.Out.Reason != "" {
			last.Why = m.Out.Reason.Describe()
		}
	}
	return last
}

// LastMessage returns the inbox line of a contact's newest message, as
// Inbox lists it (with who sent it), nil when there is none.
func (e *Engine) LastMessage(ctx context.Context, ref ContactRef) (*ConvLast, error) {
	var last *ConvLast
	err := e.store.View(ctx, func(tx ReadTx) error {
		st, err := convStore(tx)
		if err != nil {
			return err
		}
		m, err := st.LastMessages([]ContactRef{ref})
		if err != nil {
			return err
		}
		last, err = lastWithSender(tx, st, m[ref])
		return err
	})
	return last, err
}

// lastWithSender is lastOf with who sent an outbound message (senderOf).
func lastWithSender(tx ReadTx, st ConversationStore, m LastMessage) (*ConvLast, error) {
	last := lastOf(m)
	if last != nil && last.From == "" && m.Out != nil {
		var err error
		if last.From, err = senderOf(tx, st, m.Out); err != nil {
			return nil, err
		}
	}
	return last, nil
}

// senderOf names who sent a message, as the transcript does: "flow
// NAME" for a run's, the operator (or "admin") of a reply, "api" for
// another (a send through the admin API).
func senderOf(tx ReadTx, st ConversationStore, o *OutboxEntry) (string, error) {
	if o.RunID != 0 {
		r, err := tx.Run(o.RunID)
		switch {
		case err == nil:
			return "flow " + r.Flow, nil
		case !errors.Is(err, ErrNotFound):
			return "", err
		}
		return "flow", nil // its run was pruned
	}
	// A reply's note is among the contact's newest.
	notes, err := st.ConvNotes(o.Account, o.Contact, 0, 20)
	if err != nil {
		return "", err
	}
	for _, n := range notes {
		if n.Kind == NoteReply && n.OutboxID == o.ID {
			return n.By, nil
		}
	}
	return "api", nil
}

// OpenByTeam counts the open conversations by team ("" for none).
func (e *Engine) OpenByTeam(ctx context.Context) (map[string]int, error) {
	var out map[string]int
	err := e.store.View(ctx, func(tx ReadTx) error {
		st, err := convStore(tx)
		if err != nil {
			return err
		}
		out, err = st.OpenByTeam()
		return err
	})
	return out, err
}

// TranscriptItem is one entry of a conversation's transcript: exactly one
// of Event (what the contact sent), Outbox (what the account sent) and
// Note (a comment or a change) is set.
type TranscriptItem struct {
	At     time.Time
	Event  *EventRecord
	Outbox *OutboxEntry
	// From says who sent an outbound message: "flow NAME" (Step names
	// the step when the run's trail still has it) or "operator NAME".
	From, Step string
	Note       *ConvNote
	// noteID is the note of an operator's reply, for the order.
	noteID int64
}

// Transcript returns the newest limit entries of a contact's
// conversation, oldest first: inbound events (kept until retention
// prunes them), outbound messages with their status and reason, and the
// conversation's notes.
func (e *Engine) Transcript(ctx context.Context, ref ContactRef, limit int) ([]TranscriptItem, error) {
	if limit <= 0 {
		limit = 100
	}
	var items []TranscriptItem
	err := e.store.View(ctx, func(tx ReadTx) error {
		st, err := convStore(tx)
		if err != nil {
			return err
		}
		evs, err := st.RecentEvents(ref.Account, ref.ID, time.Time{}, limit)
		if err != nil {
			return err
		}
		for i := len(evs) - 1; i >= 0; i-- {
			items = append(items, TranscriptItem{At: evs[i].ReceivedAt, Event: evs[i]})
		}
		out, err := tx.Outbox(OutboxFilter{Account: ref.Account, Contact: ref.ID, Newest: true, Limit: limit})
		if err != nil {
			return err
		}
		notes, err := st.ConvNotes(ref.Account, ref.ID, 0, limit)
		if err != nil {
			return err
		}
		replies := map[int64]*ConvNote{}
		for _, n := range notes {
			if n.Kind == NoteReply {
				replies[n.OutboxID] = n
				continue
			}
			items = append(items, TranscriptItem{At: n.At, Note: n})
		}
		runs := map[int64]*Run{}
		for _, o := range out {
			it := TranscriptItem{At: o.CreatedAt, Outbox: o}
			if n := replies[o.ID]; n != nil {
				it.From, it.noteID = n.By, n.ID
			}
			if o.RunID != 0 {
				r, ok := runs[o.RunID]
				if !ok {
					if r, err = tx.Run(o.RunID); err != nil && !errors.Is(err, ErrNotFound) {
						return err
					}
					runs[o.RunID] = r
				}
				if r != nil {
					it.From = "flow " + r.Flow
					it.Step = r.State.Trail.stepOf(o.ID)
				}
			}
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Oldest first; at the same instant (one job's work), what the
	// contact sent comes first, then notes, then messages, each source
	// in its own order.
	rank := func(it *TranscriptItem) (int, int64) {
		switch {
		case it.Event != nil:
			return 0, 0
		case it.Note != nil:
			return 1, it.Note.ID
		case it.noteID != 0:
			// An operator's reply is in the notes' order (its note).
			return 1, it.noteID
		}
		return 2, it.Outbox.ID
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := &items[i], &items[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		ra, ia := rank(a)
		rb, ib := rank(b)
		if ra != rb {
			return ra < rb
		}
		return ia < ib
	})
	if len(items) > limit {
		items = items[len(items)-limit:]
	}
	return items, nil
}

// closeStale closes the open conversations whose contact did not
// interact for their account's auto_close, and starts their `closed`
// flows. FireDue calls it; it reads the index of open conversations up to
// the cut (usually nothing), and writes only the conversations due. It
// does not trust closeAt, which only says when the timer loop wakes.
func (e *Engine) closeStale(ctx context.Context) error {
	if !e.flows.Load().loaded {
		return nil
	}
	if at := e.closeAt.Load(); at != closeUnknown && at != closeNone && e.clock.Now().UnixNano() >= at {
		// Read again after this sweep: when the next one comes due.
		defer e.closeAt.Store(closeUnknown)
	}
	shortest := DefaultAutoClose
	for _, d := range e.cfg.AutoClose {
		if d > 0 && d < shortest {
			shortest = d
		}
	}
	var after ConvCursor
	for {
		var due []ContactRef
		more := false
		now := e.clock.Now()
		err := e.store.View(ctx, func(tx ReadTx) error {
			st, ok := storeTx[ConversationStore](tx)
			if !ok {
				return nil
			}
			// At its due time exactly, as NextDue says (the read is exclusive).
			stale, err := st.StaleConversations(now.Add(-shortest).Add(time.Nanosecond), after, timerBatch)
			if err != nil {
				return err
			}
			more = len(stale) == timerBatch
			for _, c := range stale {
				after = ConvCursor{Seen: c.LastSeen, Account: c.Account, ID: c.ID}
				if now.Sub(idleSince(c)) >= e.autoClose(c.Account) {
					due = append(due, ContactRef{c.Account, c.ID})
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("stale conversations: %w", err)
		}
		if len(due) > 0 {
			err = e.submit(ctx, func(w *work) error {
				for _, ref := range due {
					if !w.direct(ref.Account, ref.ID) {
						continue
					}
					cs, err := w.contact(ref.Account, ref.ID, false)
					if err != nil {
						return err
					}
					// Checked again in the transaction: the contact may
					// have written since the read.
					if !cs.c.Conv.Open() || w.now.Sub(idleSince(cs.c)) < w.e.autoClose(ref.Account) {
						continue
					}
					if _, err := w.closeConv(cs, "auto_close", "", ""); err != nil {
						return err
					}
					w.after = append(w.after, func() { e.closeAt.Store(closeUnknown) })
					if err := w.convTriggered(cs, "closed", "auto_close"); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// Changed returns a channel that is closed after the next commit that
// changes a contact (its conversation, tags, fields) or records a
// message's outcome, this node's or, on a store shared by several nodes
// (ChangeFeed), another node's: the console's live inbox waits on it.
// On a store of one process, commits pay for it only while someone
// watches.
func (e *Engine) Changed() <-chan struct{} {
	ch, _ := e.Watch()
	return ch
}

// Watch is Changed with a count of the changes said so far: a page
// rendered after Watch returned n shows every change committed before;
// when a later Watch returns more than n, a change may have come after
// (the console's live pages render with n, and their stream tells them
// to read themselves again at once when it moved on meanwhile). Until
// the next change is said, every commit that changes a contact or a
// message's outcome counts.
func (e *Engine) Watch() (changed <-chan struct{}, n uint64) {
	e = e.top() // the writers share the engine's watchers
	e.changedMu.Lock()
	defer e.changedMu.Unlock()
	if e.changed == nil {
		e.changed = make(chan struct{})
	}
	e.watched.Store(true)
	return e.changed, e.changes
}

// ChangeFeed is a store shared by several processes (nodes) that carries
// word of changes between them, so that the console's live pages on one
// node follow what the others commit (engine/postgres implements it,
// with LISTEN and NOTIFY).
type ChangeFeed interface {
	// PublishChanged tells the other nodes that this one committed a
	// change to a contact or a message's outcome. It does not wait; the
	// store may send several as one.
	PublishChanged()
	// OthersChanged receives after another node published.
	OthersChanged() <-chan struct{}
}

// changesWanted reports whether a commit that changed a contact or a
// message's outcome must say so (notifyChanged): someone here watches,
// or the other nodes may.
func (e *Engine) changesWanted() bool {
	t := e.top()
	return t.feed != nil || t.watched.Load()
}

// notifyChanged wakes the watchers of Changed, and tells the other
// nodes.
func (e *Engine) notifyChanged() {
	e = e.top() // the writers share the engine's watchers
	if e.feed != nil {
		e.feed.PublishChanged()
	}
	e.wakeWatchers()
}

// wakeWatchers wakes the watchers of Changed.
func (e *Engine) wakeWatchers() {
	e.changedMu.Lock()
	defer e.changedMu.Unlock()
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
	e.changes++
	e.watched.Store(false)
}

// feedLoop wakes the watchers of Changed when another node published a
// change, until the engine stops.
func (e *Engine) feedLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case <-e.feed.OthersChanged():
			e.wakeWatchers()
		}
	}
}
