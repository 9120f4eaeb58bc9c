package engine

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// sendBatch is how many outbox entries one round claims.
const sendBatch = 512

// kickOutbox tells the dispatcher that pending messages may be waiting.
func (e *Engine) kickOutbox() {
	e.busyMu.Lock()
	if !e.dispatchQ {
		e.dispatchQ = true
		e.busy++
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	e.busyMu.Unlock()
}

// dispatcher sends the outbox. Each round claims pending messages
// (marking them `sending` in a commit of its own, so a crash afterwards
// leaves them `unknown`, never sent twice), sends them, one contact's
// messages in order and different contacts in parallel, and records each
// outcome.
func (e *Engine) dispatcher() {
	defer e.sendWG.Done()
	for {
		select {
		case <-e.sendStop:
			return
		case <-e.kick:
		}
		e.busyMu.Lock()
		e.dispatchQ = false
		e.busyMu.Unlock()
		for {
			n, err := e.dispatchOnce(context.Background())
			if err != nil {
				if !errors.Is(err, ErrStopped) {
					e.log.Error("outbox", "err", err)
					// Try again in a while: the messages stay pending.
					go func() {
						select {
						case <-e.clock.After(time.Second):
							e.kickOutbox()
						case <-e.sendStop:
						}
					}()
				}
				break
			}
			if n < sendBatch || e.stoppingSends() {
				break
			}
		}
		e.addBusy(-1)
	}
}

type sendResult struct {
	o      *OutboxEntry
	status OutboxStatus
	reason channels.Reason
	code   int
	detail string
}

// outboxRecorder notes the messages a job reserved for sending, so that
// after the commit the dispatcher gets them without reading them back.
type outboxRecorder struct {
	Tx
	pending []*OutboxEntry
}

// InsertOutbox records pending entries after storing them.
func (r *outboxRecorder) InsertOutbox(o *OutboxEntry) error {
	if err := r.Tx.InsertOutbox(o); err != nil {
		return err
	}
	if o.Status == OutboxPending {
		r.pending = append(r.pending, o)
	}
	return nil
}

// maxQueuedOutbox bounds the messages handed to the dispatcher in memory;
// past it, the dispatcher reads them back from the store instead, so a
// dispatcher slower than ingest costs no memory.
const maxQueuedOutbox = 8192

// queueOutbox hands committed pending messages to the dispatcher.
func (e *Engine) queueOutbox(entries []*OutboxEntry) {
	if len(entries) == 0 {
		return
	}
	e.outMu.Lock()
	if e.backlog || len(e.outq)+len(entries) > maxQueuedOutbox {
		e.backlog = true
		e.outq = nil
	} else {
		e.outq = append(e.outq, entries...)
	}
	e.outMu.Unlock()
}

// nextBatch returns the next messages to send and claims them. After a
// start it first claims what the store holds (messages committed but not
// sent before the stop); then it takes the messages jobs handed over,
// which are claimed with one write, since each batch is a prefix of the
// outbox.
func (e *Engine) nextBatch(ctx context.Context) ([]*OutboxEntry, error) {
	if e.stoppingSends() {
		return nil, ErrStopped
	}
	var batch []*OutboxEntry
	err := e.enqueue(ctx, true, func(w *work) error {
		batch = nil
		e.outMu.Lock()
		backlog := e.backlog
		e.outMu.Unlock()
		if backlog {
			var err error
			batch, err = w.tx.ClaimOutbox(sendBatch, w.now)
			if err != nil {
				return err
			}
			if len(batch) > 0 {
				return nil
			}
		}
		e.outMu.Lock()
		defer e.outMu.Unlock()
		// The store holds no more unclaimed messages than the queue.
		e.backlog = false
		n := min(len(e.outq), sendBatch)
		if n == 0 {
			return nil
		}
		batch = append([]*OutboxEntry(nil), e.outq[:n]...)
		return w.tx.ClaimOutboxThrough(batch[n-1].ID, w.now)
	})
	if err != nil {
		return nil, err
	}
	if len(batch) > 0 {
		e.outMu.Lock()
		last := batch[len(batch)-1].ID
		if last > e.claimedMax {
			e.claimedMax = last
		}
		// Drop what is claimed now, the backlog's claims included.
		for len(e.outq) > 0 && e.outq[0].ID <= e.claimedMax {
			e.outq = e.outq[1:]
		}
		e.outMu.Unlock()
	}
	return batch, nil
}

func (e *Engine) dispatchOnce(ctx context.Context) (int, error) {
	claimed, err := e.nextBatch(ctx)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	shards := make([][]*OutboxEntry, e.cfg.SendWorkers)
	for _, o := range claimed {
		h := fnv.New32a()
		h.Write([]byte(o.Account))
		h.Write([]byte{0})
		h.Write([]byte(o.Contact))
		i := int(h.Sum32() % uint32(len(shards)))
		shards[i] = append(shards[i], o)
	}
	results := make([][]sendResult, len(shards))
	var wg sync.WaitGroup
	for i, shard := range shards {
		if len(shard) == 0 {
			continue
		}
		wg.Add(1)
		go func(i int, shard []*OutboxEntry) {
			defer wg.Done()
			for _, o := range shard {
				results[i] = append(results[i], e.sendOne(ctx, o))
			}
		}(i, shard)
	}
	wg.Wait()
	// The outcomes are known now: try hard to record them, since a
	// message left claimed becomes `unknown` at the next start.
	for attempt := 0; ; attempt++ {
		err = e.finishBatch(ctx, results)
		if err == nil || errors.Is(err, ErrStopped) || attempt == 4 {
			return len(claimed), err
		}
		e.log.Warn("recording send outcomes failed; retrying", "err", err)
	}
}

// finishBatch records the outcomes of a round of sends.
func (e *Engine) finishBatch(ctx context.Context, results [][]sendResult) error {
	// Recorded even while the engine stops: the messages went out.
	return e.enqueue(ctx, true, func(w *work) error {
		for _, rs := range results {
			for _, r := range rs {
				if err := w.tx.FinishOutbox(r.o.ID, r.status, r.reason, r.code, r.detail, w.now); err != nil {
					return err
				}
				w.count().message(r.status, r.reason)
				if r.reason == channels.ReasonWindowClosed || r.reason == channels.ReasonQuotaExhausted || r.reason == channels.ReasonUnfollowed {
					// The platform knows better: close the session so the
					// next send is refused here.
					cs, err := w.contact(r.o.Account, r.o.Contact, false)
					if err != nil {
						return err
					}
					cs.s.Closed = true
					cs.dirtyS = true
				}
			}
		}
		return nil
	})
}

// stoppingSends reports whether Stop asked the dispatcher to finish.
func (e *Engine) stoppingSends() bool {
	select {
	case <-e.sendStop:
		return true
	default:
		return false
	}
}

func (e *Engine) sendOne(ctx context.Context, o *OutboxEntry) sendResult {
	e.waitGate(ctx, o.Account, o.Contact)
	err := e.cfg.Channel.Send(ctx, o.Account, o.Contact, &o.Message)
	if err == nil {
		return sendResult{o: o, status: OutboxSent}
	}
	var ref *channels.Refusal
	switch {
	case errors.As(err, &ref):
		return sendResult{o: o, status: OutboxFailed, reason: ref.Reason, code: ref.Code, detail: ref.Detail}
	case errors.Is(err, channels.ErrUnknown):
		return sendResult{o: o, status: OutboxUnknown, detail: err.Error()}
	}
	return sendResult{o: o, status: OutboxFailed, reason: channels.ReasonAPIError, detail: err.Error()}
}
