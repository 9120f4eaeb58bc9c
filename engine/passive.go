package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// PassiveDetail is the detail of an outbox entry sent as a passive reply.
const PassiveDetail = "passive reply"

// Reply is a message to send as the passive reply to a callback: WeChat
// takes it in the HTTP answer, and it spends none of the contact's quota.
// The caller answers the callback with it and then calls
// Engine.FinishReply, whatever happened.
type Reply struct {
	// Message is the rendered message.
	Message channels.Message
	entry   *OutboxEntry
	gate    *replyGate
}

// replyGate holds back a contact's other messages until its passive reply
// went out, so that they reach the contact after it.
type replyGate struct {
	key  ContactRef
	done chan struct{}
	once sync.Once
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
	decided  bool
	entry    *OutboxEntry
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
// deadline passed, or another callback of the same contact is being
// answered).
func (e *Engine) IngestReply(ctx context.Context, ev channels.Event, deadline time.Time) (*Reply, error) {
	key := ContactRef{ev.Account, ev.Contact}
	g := &replyGate{key: key, done: make(chan struct{})}
	if _, busy := e.gates.LoadOrStore(key, g); busy {
		return nil, e.Ingest(ctx, ev)
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
	return &Reply{Message: req.entry.Message, entry: req.entry, gate: g}, nil
}

// FinishReply records how the passive reply went: sent when the HTTP
// answer carrying it was written, unknown otherwise (WeChat may or may not
// have it). The contact's other messages are sent after it.
func (e *Engine) FinishReply(ctx context.Context, r *Reply, written bool) error {
	if r == nil {
		return nil
	}
	defer r.gate.open(e)
	status, detail := OutboxSent, PassiveDetail
	if !written {
		status, detail = OutboxUnknown, PassiveDetail+": the answer to WeChat could not be written"
	}
	err := e.submit(ctx, func(w *work) error {
		w.count().message(status, "")
		return w.tx.FinishOutbox(r.entry.ID, status, "", 0, detail, w.now)
	})
	if err != nil {
		return fmt.Errorf("record passive reply: %w", err)
	}
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
// in the job, from a run the event started, of a kind WeChat takes.
func (x *runner) takePassive(msg *channels.Message) bool {
	p := x.w.passive
	if p == nil || p.decided || p.key != (ContactRef{x.run.Account, x.run.Contact}) {
		return false
	}
	p.decided = true
	late := !p.deadline.IsZero() && x.w.now.After(p.deadline)
	return x.fresh && !late && passiveOK(msg)
}
