package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
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
// outcome, claiming the next round's messages in the same commit.
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
		claimed, marked, err := e.nextBatch(context.Background())
		for err == nil && len(claimed) > 0 {
			claimed, marked, err = e.dispatchOnce(context.Background(), claimed, marked)
		}
		// Paused accounts: wake up when their pause ends.
		e.armHolds()
		if err != nil && !errors.Is(err, ErrStopped) {
			e.log.Error("outbox", "err", err)
			// Try again in a while: the messages stay pending.
			e.kickSoon()
		}
		e.addBusy(-1)
	}
}

// kickSoon wakes the dispatcher and the timer loop a second from now,
// once however often it is asked meanwhile: after a failure, so as not
// to fail again in a loop with it (while the database is away, every
// callback's commit fails).
func (e *Engine) kickSoon() {
	if !e.kickArmed.CompareAndSwap(false, true) {
		return
	}
	go func() {
		select {
		case <-e.clock.After(time.Second):
			e.kickArmed.Store(false)
			e.kickOutbox()
			e.kickTimers()
		case <-e.sendStop:
		}
	}()
}

type sendResult struct {
	o      *OutboxEntry
	status OutboxStatus
	reason channels.Reason
	code   int
	detail string
	// held is set for a message not attempted, held back while its
	// account is paused; paused is the channel's pause, when it said so.
	held   bool
	paused *channels.Paused
	// carry is set, on a node, for a message neither sent nor held back
	// (recording its start failed, or the lease was in doubt): it stays
	// claimed and in flight, and goes first in the next round.
	carry bool
	// at is when the send was attempted (the engine's clock): a refusal
	// for the window, quota or follow closes the session only if no
	// interaction opened a new window since.
	at time.Time
}

// storeTx returns the store's own transaction (a write or a read one)
// under the engine's wrappers as a T, if it is one.
func storeTx[T any](tx ReadTx) (T, bool) {
	for {
		if r, ok := tx.(*outboxRecorder); ok {
			tx = r.Tx
			continue
		}
		t, ok := tx.(T)
		return t, ok
	}
}

// outboxRecorder notes the messages a job reserved for sending, so that
// after the commit the dispatcher gets them without reading them back.
type outboxRecorder struct {
	Tx
	pending []*OutboxEntry
	// reserved is shared by the jobs of one transaction: the contacts
	// they reserved messages for.
	reserved map[ContactRef]bool
}

// InsertOutbox records pending entries after storing them.
func (r *outboxRecorder) InsertOutbox(o *OutboxEntry) error {
	if err := r.Tx.InsertOutbox(o); err != nil {
		return err
	}
	if o.Status == OutboxPending {
		r.pending = append(r.pending, o)
		if r.reserved != nil {
			r.reserved[ContactRef{o.Account, o.Contact}] = true
		}
	}
	return nil
}

// maxQueuedOutbox bounds the messages handed to the dispatcher in memory;
// past it, the dispatcher reads them back from the store instead, so a
// dispatcher slower than ingest costs no more memory. Reading them back
// costs the writer: with 8,192, a burst of 40,000 follows on SQLite spent
// 8% of the writer's time claiming and decoding the backlog, and took 7%
// longer; 32,768 entries hold a burst that size in about 16 MB (peak RSS
// of IngestWithWaitingRuns 102 MB instead of 89 MB).
const maxQueuedOutbox = 32768

// queueOutbox hands committed pending messages to the dispatcher. The
// queue holds the newest messages, in order and without a gap; when it
// would grow past its bound (maxQueuedOutbox) it is dropped, and the dispatcher
// claims from the store (the backlog) until its claims reach the queue
// again.
func (e *Engine) queueOutbox(entries []*OutboxEntry) {
	if len(entries) == 0 {
		return
	}
	e.outMu.Lock()
	if len(e.outq)+len(entries) > e.queueCap {
		e.backlog = true
		e.outq = nil
	} else {
		e.outq = append(e.outq, entries...)
	}
	e.outMu.Unlock()
}

// nextBatch claims the next messages to send: the held messages of
// paused accounts that may go again (see holds), then new ones. marked
// are the messages it recorded as started with the claim (premark).
func (e *Engine) nextBatch(ctx context.Context) (round []*OutboxEntry, marked []int64, err error) {
	if e.stoppingSends() {
		return nil, nil, ErrStopped
	}
	var batch, taken []*OutboxEntry
	err = e.enqueue(ctx, true, func(w *work) error {
		marked = nil
		unclaimed, err := e.unclaimIdle(w)
		if err != nil {
			return err
		}
		taken = e.holds.take(w.now)
		if err := heldMarks(w, nil, taken, e.holds.cause); err != nil {
			return err
		}
		batch, err = e.claim(w)
		w.quiet = !unclaimed && len(taken) == 0 && len(batch) == 0
		if err == nil {
			marked = e.premark(w, append(append([]*OutboxEntry(nil), taken...), batch...))
			w.after = append(w.after, func() { e.inflightAdd(taken, 1); e.inflightAdd(batch, 1) })
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	e.holds.took(taken)
	markHeld(nil, taken)
	e.claimed(batch)
	return append(taken, batch...), marked, nil
}

// IdleUnclaimer is the transaction of a store shared by several nodes:
// it gives back a node's claims that its memory lost.
type IdleUnclaimer interface {
	// UnclaimIdle gives back the node's claims of pending messages of
	// its lanes that were not started, but those with the IDs in keep:
	// they are pending and unclaimed again.
	UnclaimIdle(keep []int64) error
}

// resyncing reports whether a commit's outcome was not seen since the
// dispatcher last caught up (see resync): claims wait for nextBatch.
func (e *Engine) resyncing() bool {
	return e.lanes != nil && e.resyncs.Load() != e.resynced.Load()
}

// unclaimIdle, in nextBatch's job after a commit whose outcome was not
// seen (resync), gives back the claims this node holds in the store and
// not in memory: such a commit may have claimed messages (claimHeld,
// the backlog) that the dispatcher, which saw it fail, never sent. At
// the start of a round the dispatcher holds no claim in memory but the
// messages of paused accounts (holds), so every other claim of this
// node's that is not started is one of those; given back, the backlog
// claims them again in order with the contacts' later messages. It
// reports whether it gave claims back.
func (e *Engine) unclaimIdle(w *work) (bool, error) {
	// Only this writer's failed commits count up resyncs, and it is
	// running this job: n stays what it is until the commit.
	n := e.resyncs.Load()
	if e.lanes == nil || n == e.resynced.Load() {
		return false, nil
	}
	u, ok := storeTx[IdleUnclaimer](w.tx)
	if ok {
		if err := u.UnclaimIdle(e.holds.ids()); err != nil {
			return false, err
		}
	}
	w.after = append(w.after, func() { e.resynced.Store(n) })
	return ok, nil
}

// shard splits a round's messages among the senders: a contact's
// messages go to one sender, in order.
func (e *Engine) shard(round []*OutboxEntry) [][]*OutboxEntry {
	shards := make([][]*OutboxEntry, e.cfg.SendWorkers)
	for _, o := range round {
		h := fnv.New32a()
		h.Write([]byte(o.Account))
		h.Write([]byte{0})
		h.Write([]byte(o.Contact))
		i := int(h.Sum32() % uint32(len(shards)))
		shards[i] = append(shards[i], o)
	}
	return shards
}

// firstMarks are the messages of a round recorded as started before its
// senders begin: each sender's first ones, as many as it marked ahead at
// the end of its last round (senders whose sends are faster than a
// commit start there instead of ramping up again). ahead is, by sender,
// that number.
func (e *Engine) firstMarks(shards [][]*OutboxEntry) (firsts []int64, ahead []int) {
	ahead = make([]int, len(shards))
	for i, shard := range shards {
		ahead[i] = max(1, int(e.markAhead[i].Load()))
		for _, o := range shard[:min(ahead[i], len(shard))] {
			firsts = append(firsts, o.ID)
		}
	}
	return firsts, ahead
}

// premark records, in the job that claims a round, its first marks
// (firstMarks), which dispatchOnce would otherwise record in a commit of
// its own right after this one: a commit less a round, and the same
// messages marked before the same sends. It returns the ids marked, none
// when recording them failed (dispatchOnce tries again) or on several
// nodes, where a node's writes are checked against its lease at the
// commit, which a failed mark must not take the claim down with.
func (e *Engine) premark(w *work, round []*OutboxEntry) []int64 {
	if e.lanes != nil || len(round) == 0 {
		return nil
	}
	ids, _ := e.firstMarks(e.shard(round))
	if err := w.tx.Savepoint(func() error { return w.tx.StartOutbox(ids, w.now) }); err != nil {
		return nil
	}
	return ids
}

// claim claims, in a job, the next messages to send. While there is a
// backlog (after a start: messages committed but not sent before the
// stop; or messages the queue could not hold) it claims from the store;
// then it takes the messages jobs handed over, which are claimed with one
// write, since each batch is a prefix of the outbox.
func (e *Engine) claim(w *work) ([]*OutboxEntry, error) {
	e.outMu.Lock()
	backlog := e.backlog
	e.outMu.Unlock()
	if backlog {
		batch, err := w.tx.ClaimOutbox(sendBatch, w.now)
		if err != nil || len(batch) > 0 {
			return batch, err
		}
	}
	e.outMu.Lock()
	defer e.outMu.Unlock()
	// The store holds no more unclaimed messages than the queue.
	e.backlog = false
	if e.lanes != nil {
		return e.claimHeld(w)
	}
	n := min(len(e.outq), sendBatch)
	if n == 0 {
		return nil, nil
	}
	batch := append([]*OutboxEntry(nil), e.outq[:n]...)
	return batch, w.tx.ClaimOutboxThrough(batch[n-1].ID, w.now)
}

// SentRecorder is the transaction of a store that records many messages
// as sent in one statement: FinishOutbox(id, OutboxSent, "", 0, "", at)
// for each of ids, at the cost of one.
type SentRecorder interface {
	FinishSent(ids []int64, at time.Time) error
}

// IDClaimer is the transaction of a store shared by several nodes: the
// queued messages a node claims are not a prefix of the outbox, so they
// are claimed by ID.
type IDClaimer interface {
	// ClaimOutboxIDs claims those of the entries with these IDs that
	// are pending and not claimed, and returns their IDs.
	ClaimOutboxIDs(ids []int64, at time.Time) ([]int64, error)
}

// claimHeld claims the queued messages of the held lanes, by ID (with
// e.outMu held). The queue's messages of lanes given back are dropped:
// their new node claims them from the store.
func (e *Engine) claimHeld(w *work) ([]*OutboxEntry, error) {
	ic, ok := storeTx[IDClaimer](w.tx)
	if !ok {
		return nil, errors.New("outbox: the store cannot claim messages by id")
	}
	var batch []*OutboxEntry
	i := 0
	kept := e.outq[:0:0]
	for ; i < len(e.outq) && len(batch) < sendBatch; i++ {
		if o := e.outq[i]; e.lanes.holds(LaneOf(o.Account, o.Contact)) {
			batch = append(batch, o)
			kept = append(kept, o)
		} else {
			// Its lane's new node sends it: it holds up no passive
			// reply here.
			e.open.settle(o.ID)
		}
	}
	// The batch stays queued until its claim commits (claimed drops it
	// then): should this job's transaction fail, as when another job of
	// its batch deadlocks at the commit, the next claim takes it again,
	// before the contacts' later messages. (Taking it out here lost it
	// from the queue on a failed commit; the contacts' later messages
	// went first and it waited for the store to be read again.)
	e.outq = append(kept, e.outq[i:]...)
	if len(batch) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(batch))
	for k, o := range batch {
		ids[k] = o.ID
	}
	got, err := ic.ClaimOutboxIDs(ids, w.now)
	if err != nil {
		return nil, err
	}
	in := make(map[int64]bool, len(got))
	for _, id := range got {
		in[id] = true
	}
	// An entry claimed already (from the store, in the backlog) is not
	// sent twice.
	return slices.DeleteFunc(batch, func(o *OutboxEntry) bool { return !in[o.ID] }), nil
}

// inflightAdd counts messages claimed (d 1) or finished (d -1) by lane.
func (e *Engine) inflightAdd(entries []*OutboxEntry, d int32) {
	if e.lanes == nil {
		return
	}
	for _, o := range entries {
		e.inflightOne(o, d)
	}
}

// inflightOne counts one message claimed (d 1) or finished (d -1).
func (e *Engine) inflightOne(o *OutboxEntry, d int32) {
	if e.lanes != nil {
		e.inflight[LaneOf(o.Account, o.Contact)].Add(d)
	}
}

// inflightOf counts the messages of lanes claimed and not finished.
func (e *Engine) inflightOf(lanes []int) int {
	n := 0
	for _, l := range lanes {
		n += int(e.inflight[l].Load())
	}
	return n
}

// claimed drops a committed claim's messages from the queue. When the
// claims from the store reach the queue, the backlog is over: the queue
// holds the messages after its first without a gap, and the store's
// claims go in order.
func (e *Engine) claimed(batch []*OutboxEntry) {
	if len(batch) == 0 {
		return
	}
	e.open.track(batch)
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if e.lanes != nil {
		// Claimed by ID (claimHeld) or from the store, in no ID order:
		// the queue keeps only what was not claimed.
		got := make(map[int64]bool, len(batch))
		for _, o := range batch {
			got[o.ID] = true
		}
		e.outq = slices.DeleteFunc(e.outq, func(o *OutboxEntry) bool { return got[o.ID] })
		return
	}
	e.claimedMax = max(e.claimedMax, batch[len(batch)-1].ID)
	if e.backlog && len(e.outq) > 0 && e.outq[0].ID <= e.claimedMax {
		e.backlog = false
	}
	for len(e.outq) > 0 && e.outq[0].ID <= e.claimedMax {
		e.outq = e.outq[1:]
	}
}

// dispatchOnce sends claimed messages and records the outcomes. It
// returns the next messages to send, claimed in the same commit (in a
// commit of its own while accounts are paused). A message the channel
// did not attempt because its account is paused is held back, and so is
// every later message of that account in the round, and every message of
// an account with messages held: nothing overtakes them.
func (e *Engine) dispatchOnce(ctx context.Context, claimed []*OutboxEntry, marked []int64) ([]*OutboxEntry, []int64, error) {
	shards := e.shard(claimed)
	// Every sender's first messages are recorded as started in one job
	// (then each records its next ones while one is on the wire), unless
	// the claim recorded them (premark).
	firsts, ahead := e.firstMarks(shards)
	var firstErr error
	if !slices.Equal(firsts, marked) {
		firstErr = e.enqueue(ctx, true, func(w *work) error { return w.tx.StartOutbox(firsts, w.now) })
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
			var paused map[string]bool // accounts held back in this shard
			marks := &starts{e: e, ctx: ctx, shard: shard, ahead: ahead[i], marked: min(ahead[i], len(shard)), first: firstErr}
			defer func() { e.markAhead[i].Store(int32(marks.ahead)) }()
			// A mark still being recorded commits before the outcomes
			// do: finishBatch unmarks what was not sent, and a mark
			// committed after it would make such a message `unknown`.
			defer marks.settle()
			// unmarked is set once recording a start failed: the
			// shard's later messages are not sent this round either, so
			// that none goes before one of its contact's that waits.
			unmarked := false
			// refused are the contacts WeChat refused a message of in
			// this round for their window, quota or follow (45015,
			// 45047, 43004): their later messages are failed here, with
			// the same reason, not sent to be refused again (finishBatch
			// closes the session for the rounds after).
			var refused map[[2]string]sendResult
			for k, o := range shard {
				held := paused[o.Account] || e.holds.holding(o)
				if (unmarked || e.stoppingSends()) && !held {
					// Not sent this round: pending again, its start
					// unmarked with the outcomes (FinishOutbox). Once
					// the engine stops, the sends under way finish and
					// no other starts: at the next start they go out,
					// none is lost to `unknown` or holds up the stop.
					results[i] = append(results[i], sendResult{o: o, status: OutboxPending})
					continue
				}
				if !held {
					e.waitGate(ctx, o.Account, o.Contact)
				}
				err := marks.wait(k)
				if held {
					results[i] = append(results[i], sendResult{o: o, status: OutboxPending, held: true})
					continue
				}
				unmarked = err != nil
				if prev, ok := refused[[2]string{o.Account, o.Contact}]; ok && err == nil {
					if !e.interactedSince(ctx, o.Account, o.Contact, prev.at) {
						results[i] = append(results[i], sendResult{o: o, status: OutboxFailed, reason: prev.reason, at: prev.at,
							detail: fmt.Sprintf("not sent: WeChat refused an earlier message to this contact (errcode %d): %s", prev.code, prev.detail)})
						continue
					}
					// The contact wrote (or followed again) while the
					// refused message was at the API: a new window,
					// which the refusal is not about. WeChat decides.
					delete(refused, [2]string{o.Account, o.Contact})
				}
				r := e.sendStarted(ctx, o, err)
				if r.status == OutboxFailed && r.code != 0 && closesSession(r.reason) {
					if refused == nil {
						refused = map[[2]string]sendResult{}
					}
					refused[[2]string{o.Account, o.Contact}] = r
				}
				if r.held {
					if paused == nil {
						paused = map[string]bool{}
					}
					paused[o.Account] = true
				}
				results[i] = append(results[i], r)
			}
		}(i, shard)
	}
	wg.Wait()
	var parked []sendResult
	for i, rs := range results {
		kept := rs[:0]
		for _, r := range rs {
			if r.held {
				parked = append(parked, r)
			} else {
				kept = append(kept, r)
			}
		}
		results[i] = kept
	}
	involved := len(parked) > 0 || e.holds.any()
	var carried []*OutboxEntry
	all := 0
	if e.lanes != nil && !e.stoppingSends() {
		for i := range results {
			all += len(results[i])
			for k := range results[i] {
				if r := &results[i][k]; r.status == OutboxPending {
					r.carry = true
					carried = append(carried, r.o)
				}
			}
		}
	}
	// The outcomes are known now: try hard to record them, since a
	// message left claimed becomes `unknown` at the next start.
	failing := time.Now()
	for attempt := 0; ; attempt++ {
		next, marked, err := e.finishBatch(ctx, results, parked, involved)
		if err == nil {
			if involved {
				e.holds.settle(results, parked, e.clock.Now())
				next, marked, err = e.nextBatch(ctx)
				if err != nil && len(carried) > 0 {
					// The claim is tried again with the next round.
					return carried, nil, nil
				}
			}
			if len(carried) > 0 && len(carried) == all {
				// Nothing went out this round: not again at once.
				e.pauseSends(100 * time.Millisecond)
			}
			return append(carried, next...), marked, err
		}
		if errors.Is(err, ErrStopped) || !e.retryFinish(attempt, failing, err) {
			return next, marked, err
		}
		e.log.Warn("recording send outcomes failed; retrying", "err", err)
	}
}

// retryFinish reports whether recording a round's outcomes is tried
// again after it failed attempt+1 times since failing. One process tries
// five times (what it could not record is recovered at its next start).
// A node tries until its lease is surely over, waiting a little longer
// each time: a database away for less than the lease (a restart) must
// not leave its messages claimed by a node that lives on, and past the
// lease the node is fenced, and the lanes' next node recovers them.
func (e *Engine) retryFinish(attempt int, failing time.Time, err error) bool {
	if e.lanes == nil {
		return attempt < 4
	}
	if errors.Is(err, ErrFenced) || e.lanes.fenced.Load() || time.Since(failing) > 2*e.lanes.node.Lease() {
		return false
	}
	return e.pauseSends(backoff(attempt))
}

// backoff is how long to wait before trying a failed commit again after
// attempt+1 failures: 10 ms, doubling, at most a second.
func backoff(attempt int) time.Duration {
	return min(10*time.Millisecond<<min(attempt, 7), time.Second)
}

// pauseSends waits d in real time (the database's time, not the
// engine's clock); false when the engine stopped first.
func (e *Engine) pauseSends(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.stop:
		return false
	}
}

// interactedSince reports whether the contact's last interaction, as
// the writer holds it, came after at (when a send WeChat refused for the
// window, quota or follow started): the refusal is then about a window
// the contact has since replaced (see closeSession). Asked only after
// such a refusal, of the writer in a job of its own; false when it
// cannot tell.
func (e *Engine) interactedSince(ctx context.Context, account, contact string, at time.Time) bool {
	if at.IsZero() {
		return false
	}
	since := false
	err := e.enqueue(ctx, true, func(w *work) error {
		since = false
		if !w.direct(account, contact) {
			return nil
		}
		cs, err := w.contact(account, contact, false)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		since = cs.s.Last.After(at)
		return nil
	})
	return err == nil && since
}

// closesSession reports whether a refusal for this reason, from the
// platform, closes the contact's session: the window, the quota, the
// follow.
func closesSession(reason channels.Reason) bool {
	return reason == channels.ReasonWindowClosed || reason == channels.ReasonQuotaExhausted || reason == channels.ReasonUnfollowed
}

// closeSession closes the session of the contact of a message refused
// for its window, quota or follow: the platform knows better, and the
// next send is refused here. A refusal is about the window in force when
// the send was attempted: when an interaction opened a new window since
// (the contact wrote while the send was at the API), WeChat counts from
// that one, and the session stays open.
func (w *work) closeSession(r sendResult) error {
	cs, err := w.contact(r.o.Account, r.o.Contact, false)
	if err != nil {
		return err
	}
	if !r.at.IsZero() && cs.s.Last.After(r.at) {
		return nil
	}
	cs.s.Closed = true
	cs.dirtyS = true
	return nil
}

// finishBatch records the outcomes of a round of sends, and marks the
// messages held back, and, unless the engine stops or accounts are
// paused (involved: the holds change with this round's outcomes), claims
// the next round's messages in the same job.
func (e *Engine) finishBatch(ctx context.Context, results [][]sendResult, parked []sendResult, involved bool) (next []*OutboxEntry, marked []int64, err error) {
	// Recorded even while the engine stops: the messages went out.
	err = e.enqueue(ctx, true, func(w *work) error {
		next, marked = nil, nil
		sr, bulk := storeTx[SentRecorder](w.tx)
		var sent []int64
		for _, rs := range results {
			for _, r := range rs {
				if bulk && r.status == OutboxSent && r.reason == "" && r.code == 0 && r.detail == "" {
					sent = append(sent, r.o.ID)
				} else if err := w.tx.FinishOutbox(r.o.ID, r.status, r.reason, r.code, r.detail, w.now); err != nil {
					return err
				}
				w.count().message(r.status, r.reason)
				if closesSession(r.reason) {
					if err := w.closeSession(r); err != nil {
						return err
					}
				}
			}
		}
		if len(sent) > 0 {
			if err := sr.FinishSent(sent, w.now); err != nil {
				return err
			}
		}
		// The runs that wait for these outcomes (a send with on_fail)
		// go on, or to their on_fail.
		if err := w.resumeSenders(results); err != nil {
			return err
		}
		if err := heldMarks(w, parked, nil, e.holds.cause); err != nil {
			return err
		}
		if e.changesWanted() {
			w.after = append(w.after, e.notifyChanged)
		}
		// The messages finished, and those held back (no longer on
		// their way), are out of flight, whatever comes next; claimed
		// again from the holds, they count again (nextBatch).
		w.after = append(w.after, func() {
			for _, rs := range results {
				for _, r := range rs {
					if !r.carry {
						e.inflightOne(r.o, -1)
					}
				}
			}
			for _, r := range parked {
				e.inflightOne(r.o, -1)
			}
		})
		if involved || e.stoppingSends() {
			return nil
		}
		var err error
		if !e.resyncing() {
			// (Resyncing: the next round claims, see unclaimIdle.)
			next, err = e.claim(w)
		}
		if err == nil {
			// (carried is empty here: premark marks nothing on nodes.)
			marked = e.premark(w, next)
			w.after = append(w.after, func() { e.inflightAdd(next, 1) })
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	markHeld(parked, nil)
	e.settled(results)
	e.claimed(next)
	return next, marked, nil
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

// maxMarkAhead bounds the messages a sender records as started ahead of
// the one it sends.
const maxMarkAhead = 32

// starts records, for one sender's messages in turn, that each is about
// to start (status sending) before its request does: only a message
// whose request may have started can be `unknown` after a crash; one
// claimed and never started is sent by whoever runs next. The marks of
// the next messages are committed while a message is on the wire, one
// message ahead while sends take longer than a commit (WeChat's API), up
// to maxMarkAhead in one job when they are faster, so that recording
// costs the sends no time: at a crash, the message on the wire and the
// few marked ahead of it are `unknown`, none of the other claimed ones.
type starts struct {
	e     *Engine
	ctx   context.Context
	shard []*OutboxEntry
	// marked is how many of shard are recorded; pending, when not nil,
	// gives the outcome of the job recording up to pendingTo.
	marked, pendingTo int
	pending           chan error
	ahead             int
	// first is the outcome of recording the first messages (as many as
	// the sender marked ahead at the end of its last round, at least
	// one), in a job shared with the other senders.
	first error
}

// request records the next messages after marked in a job.
func (m *starts) request() {
	to := min(m.marked+m.ahead, len(m.shard))
	ids := make([]int64, 0, to-m.marked)
	for _, o := range m.shard[m.marked:to] {
		ids = append(ids, o.ID)
	}
	ch := make(chan error, 1)
	go func() {
		ch <- m.e.enqueue(m.ctx, true, func(w *work) error {
			return w.tx.StartOutbox(ids, w.now)
		})
	}()
	m.pending, m.pendingTo = ch, to
}

// wait returns once the k-th message's start is recorded (or recording
// it failed), and asks for the next ones to be recorded meanwhile.
func (m *starts) wait(k int) error {
	if m.first != nil {
		return m.first
	}
	for m.marked <= k {
		if m.pending == nil {
			m.request()
		}
		var err error
		select {
		case err = <-m.pending:
			// Recorded before it was needed: one ahead is enough.
			m.ahead = max(1, m.ahead/2)
		default:
			err = <-m.pending
			// The sends wait for the marks: record more at once.
			m.ahead = min(maxMarkAhead, 2*m.ahead)
		}
		m.pending = nil
		if err != nil {
			return err
		}
		m.marked = m.pendingTo
	}
	if m.pending == nil && m.marked < len(m.shard) {
		m.request()
	}
	return nil
}

// settle waits for the recording of marks under way, if any.
func (m *starts) settle() {
	if m.pending != nil {
		<-m.pending
		m.pending = nil
	}
}

// sendStarted sends a message unless recording its start failed (err):
// then it stays pending, claimed until the next start, which sends it.
func (e *Engine) sendStarted(ctx context.Context, o *OutboxEntry, err error) sendResult {
	if err != nil {
		e.log.Error("outbox: recording that a send starts", "id", o.ID, "err", err)
		return sendResult{o: o, status: OutboxPending}
	}
	return e.send(ctx, o)
}

// send sends one message through the channel and classifies the outcome.
func (e *Engine) send(ctx context.Context, o *OutboxEntry) sendResult {
	if e.lanes != nil && !e.lanes.live() {
		// The lease may have moved the lane: not sent, left claimed;
		// its new node sends it (or marks it unknown, its start being
		// recorded).
		return sendResult{o: o, status: OutboxPending}
	}
	at := e.clock.Now()
	if ref := e.unfollowed.refuses(o); ref != nil {
		return sendResult{o: o, status: OutboxFailed, reason: ref.Reason, detail: ref.Detail, at: at}
	}
	err := e.cfg.Channel.Send(ctx, o.Account, o.Contact, &o.Message)
	if err == nil {
		return sendResult{o: o, status: OutboxSent}
	}
	var ref *channels.Refusal
	var paused *channels.Paused
	switch {
	case errors.As(err, &paused):
		// Not attempted: the message stays pending, held back.
		return sendResult{o: o, status: OutboxPending, held: true, paused: paused}
	case errors.As(err, &ref):
		return sendResult{o: o, status: OutboxFailed, reason: ref.Reason, code: ref.Code, detail: ref.Detail, at: at}
	case errors.Is(err, channels.ErrUnknown):
		return sendResult{o: o, status: OutboxUnknown, detail: err.Error()}
	}
	return sendResult{o: o, status: OutboxFailed, reason: channels.ReasonAPIError, detail: err.Error()}
}
