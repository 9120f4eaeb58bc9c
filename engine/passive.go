package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// PassiveDetail is the detail of an outbox entry sent as a passive reply.
const PassiveDetail = "passive reply"

// passiveByAPIDetail is the detail of a passive reply WeChat did not get,
// sent through the API instead.
const passiveByAPIDetail = "passive reply not delivered (the answer to WeChat could not be written in time): sent by the API"

// replyRetryWindow is how long after a passive reply a retry of its
// callback is answered with it again. WeChat retries a callback three
// times, five seconds apart; a replay later than this is not a retry.
const replyRetryWindow = time.Minute

// Reply is a message to send as the passive reply to a callback: WeChat
// takes it in the HTTP answer, and it spends none of the contact's quota.
// The caller answers the callback with it and then calls
// Engine.FinishReply, whatever happened.
type Reply struct {
	// Message is the rendered message.
	Message channels.Message
	entry   *OutboxEntry
	gate    *replyGate
	// retry is set when the reply is given again, to a platform retry.
	retry bool
	// writer is the engine (of an engine's writers) that holds the gate.
	writer *Engine
}

// replyGate holds back a contact's other messages until its passive reply
// went out, so that they reach the contact after it.
type replyGate struct {
	key ContactRef
	// event is the dedupe key of the callback being answered.
	event string
	done  chan struct{}
	once  sync.Once
}

func (g *replyGate) open(e *Engine) {
	g.once.Do(func() {
		e.gates.Delete(g.key)
		close(g.done)
	})
}

// passiveReq is what an ingest job that may answer passively carries.
type passiveReq struct {
	key      ContactRef
	deadline time.Time
	// event is the callback's dedupe key, set when the job ingests it.
	event   string
	decided bool
	entry   *OutboxEntry
	// retry is set when entry is the reply an earlier attempt of the
	// same callback was given.
	retry bool
}

// passiveOK reports whether a message can be a passive reply: WeChat's
// passive replies carry text, news or media already uploaded.
func passiveOK(m *channels.Message) bool {
	switch m.Type {
	case "text":
		return m.Text != ""
	case "news":
		return m.News != nil && m.News.Title != ""
	case "image", "voice", "video":
		return m.Media != nil && m.Media.MediaID != ""
	}
	return false
}

// IngestReply ingests ev like Ingest and, when a run the event started
// sends a message before it first waits, and its transaction runs before
// deadline (on the engine's clock; zero for none), returns that first
// message as a passive reply instead of sending it through the API: its
// outbox entry is `sending` until FinishReply records it. It returns nil
// when there is no passive reply to give (the event started nothing, the
// run's first message is one WeChat does not take as a passive reply, the
// deadline passed, another callback of the same contact is being
// answered, or messages reserved earlier for the contact have not been
// sent yet: a passive reply never overtakes them).
//
// A platform retry of a callback that was answered with a passive reply
// gets the same reply again: WeChat retries only when it did not get the
// answer, and it takes the answer of one attempt.
func (e *Engine) IngestReply(ctx context.Context, ev channels.Event, deadline time.Time) (*Reply, error) {
	if w := e.writerFor(ev.Account, ev.Contact); w != e {
		return w.IngestReply(ctx, ev, deadline)
	}
	key := ContactRef{ev.Account, ev.Contact}
	var event string
	if ev.MsgID != "" || !ev.At.IsZero() {
		event = ev.DedupeKey()
	}
	g := &replyGate{key: key, event: event, done: make(chan struct{})}
	for {
		held, busy := e.gates.LoadOrStore(key, g)
		if !busy {
			break
		}
		h := held.(*replyGate)
		if event == "" || h.event != event {
			// Another callback of the contact is being answered: this
			// one's messages go by the API, after that reply.
			return nil, e.Ingest(ctx, ev)
		}
		// A retry of the callback being answered: its answer decides
		// whether this one gives the reply again.
		var wait <-chan time.Time
		if !deadline.IsZero() {
			wait = e.clock.After(deadline.Sub(e.clock.Now()))
		}
		select {
		case <-h.done:
		case <-wait:
			return nil, e.Ingest(ctx, ev)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var req *passiveReq
	err := e.ingest(ctx, ev, func(w *work) {
		// A job may run twice (alone, after a batch failed): start over.
		req = &passiveReq{key: key, deadline: deadline}
		w.passive = req
	})
	if err != nil || req == nil || req.entry == nil {
		g.open(e)
		return nil, err
	}
	return &Reply{Message: req.entry.Message, entry: req.entry, gate: g, retry: req.retry, writer: e}, nil
}

// FinishReply records how the passive reply went. written is true when
// the HTTP answer carrying it was written in time: it is `sent` (should
// the answer still be lost, WeChat retries the callback and the retry
// gets the reply again). Otherwise WeChat did not get it (it could not be
// rendered, writing failed, or it came after WeChat's deadline), and the
// message goes by the API now, before the contact's other messages, with
// the window and quota checked as for any message. A reply given again
// to a retry that could not be written changes nothing: another attempt
// of the callback may have delivered it. It is safe to call with a nil
// Reply.
func (e *Engine) FinishReply(ctx context.Context, r *Reply, written bool) error {
	if r == nil {
		return nil
	}
	if r.writer != nil && r.writer != e {
		return r.writer.FinishReply(ctx, r, written)
	}
	defer r.gate.open(e)
	// The callback's request may be gone; what it started must finish.
	ctx = context.WithoutCancel(ctx)
	if r.retry && !written {
		return nil
	}
	if written {
		err := e.submit(ctx, func(w *work) error {
			w.count().message(OutboxSent, "")
			return w.tx.FinishOutbox(r.entry.ID, OutboxSent, "", 0, PassiveDetail, w.now)
		})
		if err != nil {
			return fmt.Errorf("record passive reply: %w", err)
		}
		return nil
	}
	// Reserve it for the API as any other message: the policy decides.
	o := *r.entry
	send := false
	err := e.submit(ctx, func(w *work) error {
		send = false
		cs, err := w.contact(o.Account, o.Contact, false)
		if err != nil {
			return err
		}
		if err := cs.policy.Check(cs.s, &o.Message, w.local(w.now)); err != nil {
			var ref *channels.Refusal
			if !errors.As(err, &ref) {
				return fmt.Errorf("policy: %w", err)
			}
			w.count().message(OutboxFailed, ref.Reason)
			return w.tx.FinishOutbox(o.ID, OutboxFailed, ref.Reason, ref.Code, passiveByAPIDetail+": "+ref.Detail, w.now)
		}
		cs.s = cs.policy.Spend(cs.s)
		cs.dirtyS = true
		send = true
		return w.tx.FinishOutbox(o.ID, OutboxSending, "", 0, passiveByAPIDetail, w.now)
	})
	if err != nil {
		return fmt.Errorf("passive reply by the API: %w", err)
	}
	if !send {
		return nil
	}
	res := e.send(ctx, &o)
	if res.held {
		// The channel paused the account's sends: the message waits
		// with the account's others, first among them.
		return e.holdReply(ctx, res)
	}
	detail := passiveByAPIDetail
	if res.detail != "" {
		detail += ": " + res.detail
	}
	err = e.submit(ctx, func(w *work) error {
		w.count().message(res.status, res.reason)
		if err := w.tx.FinishOutbox(o.ID, res.status, res.reason, res.code, detail, w.now); err != nil {
			return err
		}
		if res.status == OutboxFailed && closesSession(res.reason) {
			// As for the dispatcher's sends (finishBatch).
			return w.closeSession(res)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record passive reply sent by the API: %w", err)
	}
	return nil
}

// holdReply hands a passive reply going by the API to the dispatcher's
// held messages when the channel paused its account: it is marked held
// (pending, reason paused) and sent, in ID order before the contact's
// later messages, when the pause is over.
func (e *Engine) holdReply(ctx context.Context, res sendResult) error {
	parked := []sendResult{res}
	err := e.submit(ctx, func(w *work) error {
		return heldMarks(w, parked, nil, e.holds.cause)
	})
	if err != nil {
		return fmt.Errorf("hold passive reply sent by the API: %w", err)
	}
	markHeld(parked, nil)
	e.open.track([]*OutboxEntry{res.o})
	e.holds.settle(nil, parked, e.clock.Now())
	e.kickOutbox()
	return nil
}

// waitGate waits until the contact's passive reply, if one is being
// answered, went out.
func (e *Engine) waitGate(ctx context.Context, account, contact string) {
	g, ok := e.gates.Load(ContactRef{account, contact})
	if !ok {
		return
	}
	select {
	case <-g.(*replyGate).done:
	case <-ctx.Done():
	case <-e.sendStop:
	}
}

// takePassive decides, for a message a run reserves, whether it is the
// passive reply of the job's callback: the first message of the contact
// in the job, from a run the event started, of a kind WeChat takes, when
// no message reserved earlier for the contact is still to be sent.
func (x *runner) takePassive(msg *channels.Message) bool {
	p := x.w.passive
	if p == nil || p.decided || p.key != (ContactRef{x.run.Account, x.run.Contact}) {
		return false
	}
	p.decided = true
	late := !p.deadline.IsZero() && x.w.now.After(p.deadline)
	return x.fresh && !late && passiveOK(msg) && p.event != "" && !x.w.e.queued(x.w, p.key)
}

// queued reports whether messages reserved for a contact through the API
// may still be on their way: reserved earlier in this transaction, or
// committed and not finished, or (while the dispatcher reads a backlog
// from the store) not known to memory at all.
func (e *Engine) queued(w *work, k ContactRef) bool {
	if w.reserved[k] || e.open.has(k) {
		return true
	}
	e.outMu.Lock()
	defer e.outMu.Unlock()
	return e.backlog
}

// retryReply is called for a platform retry of a callback that may get a
// passive reply: when the original was answered with one (recently, and
// WeChat did not get it through the API instead), the retry gets it too.
func (w *work) retryReply(key string) error {
	p := w.passive
	p.decided = true
	id, err := w.tx.EventReply(key)
	if err != nil || id == 0 {
		return err
	}
	o, err := w.tx.OutboxEntry(id)
	if err != nil {
		return fmt.Errorf("passive reply %d: %w", id, err)
	}
	if w.now.Sub(o.CreatedAt) > replyRetryWindow || !strings.HasPrefix(o.Detail, PassiveDetail) || strings.HasPrefix(o.Detail, passiveByAPIDetail) {
		return nil
	}
	switch o.Status {
	case OutboxSent, OutboxUnknown:
		p.entry, p.retry = o, true
	}
	return nil
}

// replied notes, in the job's transaction, the passive reply a callback
// gets, so that a retry of it gets the same.
func (w *work) replied(o *OutboxEntry) error {
	return w.tx.SetEventReply(w.passive.event, o.ID)
}

// openMessages tracks the messages reserved for the API and not finished
// yet, by contact. It is what the engine holds in memory; the backlog
// (messages in the store the dispatcher has not read yet) is not in it.
type openMessages struct {
	mu  sync.Mutex
	ids map[int64]ContactRef
	n   map[ContactRef]int
}

// track adds entries (already tracked ones are left as they are).
func (m *openMessages) track(entries []*OutboxEntry) {
	if len(entries) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids == nil {
		m.ids, m.n = map[int64]ContactRef{}, map[ContactRef]int{}
	}
	for _, o := range entries {
		if _, ok := m.ids[o.ID]; ok {
			continue
		}
		k := ContactRef{o.Account, o.Contact}
		m.ids[o.ID] = k
		m.n[k]++
	}
}

// settle removes a finished entry.
func (m *openMessages) settle(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.ids[id]
	if !ok {
		return
	}
	delete(m.ids, id)
	if m.n[k]--; m.n[k] <= 0 {
		delete(m.n, k)
	}
}

// has reports whether a contact has tracked entries.
func (m *openMessages) has(k ContactRef) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[k] > 0
}

// settled forgets the messages of a recorded round whose outcome is
// final; one that is still pending (not attempted) stays open.
func (e *Engine) settled(results [][]sendResult) {
	for _, rs := range results {
		for _, r := range rs {
			if r.status != OutboxPending && r.status != OutboxSending {
				e.open.settle(r.o.ID)
			}
		}
	}
}
