package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LaneCount is how many lanes the contacts are split into. A lane is
// held by one node at a time; a contact's events, runs, timers and
// messages are handled by the node holding its lane. It never changes:
// stored rows carry their lane.
const LaneCount = 256

// LaneOf returns a contact's lane: a hash of the account and the OpenID.
func LaneOf(account, contact string) int {
	h := fnv.New32a()
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write([]byte(contact))
	return int(h.Sum32() % LaneCount)
}

// ErrFenced is the error of a store shared by several nodes for a write
// of a node that lost its lease: it may no longer commit anything (the
// lanes it held have moved, or are about to).
var ErrFenced = errors.New("this node lost its lease: it commits and sends nothing more")

// Node is a store shared by several engine processes (nodes), each
// holding some lanes under a lease (engine/postgres implements it). A
// store that is not a Node is used by one process, which holds every
// lane.
//
// The node's lease is kept by Renew, called by a goroutine of its own
// every Renewal, apart from everything else the engine does; every write
// transaction of the node checks it (fencing), so a node that lost it,
// or was paused past it, commits nothing more. A lane's owner changes
// only when the owner gives it back (Release, Leave) or its lease
// expired.
type Node interface {
	// Join starts the node's lease.
	Join(ctx context.Context) error
	// Renew renews the lease. It returns ErrFenced only when the store
	// says the lease is over, and an error wrapping ErrNewerSchema when
	// a newer wxflow migrated the database since the node joined (the
	// node stops as a fenced one does: its code does not know the
	// schema); another error (a lost connection, ctx done) says nothing
	// about the lease, and the renewal is tried again. It must never
	// wait for Balance, Release or the writer.
	Renew(ctx context.Context) error
	// Renewal is how often the lease is renewed: less than half the
	// lease.
	Renewal() time.Duration
	// Balance takes free lanes (never held, given back, or held by a
	// node whose lease expired) up to this node's share of the live
	// nodes, and returns them with how many lanes it holds above its
	// share (ErrFenced when this node's lease was found over). Taking a
	// lane recovers what its dead owner left, in the same commit: its
	// sends that had started are unknown, the rest are unclaimed again.
	Balance(ctx context.Context) (Taken, error)
	// Release gives lanes back: the node has stopped all work on them.
	Release(ctx context.Context, lanes []int) error
	// Work sets the lanes whose work the store's transactions see (due
	// timers, the backlog of messages to claim): the engine calls it in
	// the writer's jobs that change the lanes it works on, so that a
	// lane being given back is out of every later claim.
	Work(lanes []int)
	// Leave gives every lane back and ends the lease.
	Leave(ctx context.Context) error
	// Lease is how long a lease lasts without renewal.
	Lease() time.Duration
	// Queued returns a channel that receives when items were queued
	// for lanes (by any node), or nil.
	Queued() <-chan struct{}
	// Listening reports whether Queued's notifications arrive now (its
	// connection is up): while they do not, every batch reads the queue.
	Listening() bool
}

// Taken is what Balance did.
type Taken struct {
	// Lanes are the lanes taken.
	Lanes []int
	// Unknown is how many sends of their dead owners were marked
	// unknown.
	Unknown int
	// Surplus is how many lanes the node holds above its share.
	Surplus int
}

// QueueTx is the transaction of a store shared by several nodes: work for
// a contact whose lane another node holds is queued for that node.
type QueueTx interface {
	// QueueItem keeps an item until the node holding its lane takes it.
	// An event item with the key of one queued before is dropped.
	QueueItem(q *Queued) error
	// TakeQueued removes and returns up to limit queued items of the
	// lanes, in the order they were queued.
	TakeQueued(lanes []int, limit int) ([]*Queued, error)
}

// QueueAheadTx is a QueueTx that can send the take of the queue ahead,
// with the transaction's next statements: a batch takes the queue before
// its events, and on PostgreSQL both were a round trip each.
type QueueAheadTx interface {
	// TakeQueuedAhead takes what TakeQueued would, sent with the next
	// statements whose answer the transaction waits for (AddEvents);
	// the function it returns gives the items then, sending the take
	// alone if nothing was sent since.
	TakeQueuedAhead(lanes []int, limit int) func() ([]*Queued, error)
}

// errQueuedFirst ends the transaction of a batch that took the queue
// ahead of its events (takeAhead) and found items: they go before the
// events, so the batch runs again, taking them first.
var errQueuedFirst = errors.New("queued work goes before the batch's events")

// QueuedKind says what a queued item asks for.
type QueuedKind string

// The kinds of queued items.
const (
	// QueuedEvent is an inbound event another node received.
	QueuedEvent QueuedKind = "event"
	// QueuedSchedule is a schedule's firing for one contact.
	QueuedSchedule QueuedKind = "schedule"
	// QueuedStart is a flow started through the admin API.
	QueuedStart QueuedKind = "start"
	// QueuedAction is an operator's action on a conversation (Act).
	QueuedAction QueuedKind = "action"
)

// Queued is work for a contact, waiting for the node holding its lane.
type Queued struct {
	ID               int64
	Lane             int
	Kind             QueuedKind
	Account, Contact string
	// Key dedupes events (the event's dedupe key); "" for other kinds.
	Key string
	// Event is the event of an event item.
	Event *EventRecord
	// Name is the schedule's key, or the started flow's name.
	Name string
	// Due is the firing's due time of a schedule item.
	Due time.Time
	// Vars are a started flow's first variables.
	Vars     map[string]any
	QueuedAt time.Time
}

// lanes is what an engine on a Node holds.
type lanes struct {
	node Node
	// held is a bitmap of the lanes whose work this engine does. It
	// changes only inside the writer's jobs (and before the engine
	// starts), so that jobs see it change between two of them.
	held [LaneCount / 64]atomic.Uint64
	// validUntil is the monotonic time until which the lease is known to
	// hold (the last renewal's start plus the lease): past it, nothing
	// is sent until a renewal succeeds (only the store's ErrFenced ends
	// the node).
	mu         sync.Mutex
	validUntil time.Time
	fenced     atomic.Bool
	// why is what fenced the node (stopFor).
	why atomic.Pointer[error]
	// renewStop stops the renewal loop when the engine fails to start
	// after joining.
	renewStop chan struct{}
	// drainFull is set by a batch that took a full page of queued items:
	// more may wait, so this batch's events are queued behind them.
	drainFull bool
	// queued is set when work may have been queued for the held lanes
	// (a notification, lanes taken, a full page taken, every tick): the
	// next batch takes the queue first. Batches skip the read otherwise.
	queued atomic.Bool
	// renewals and renewFailures count the lease's renewals that
	// succeeded and the attempts that failed (Stats).
	renewals, renewFailures atomic.Uint64
	// renewErr is the error of the renewals failing since the last that
	// succeeded (nil while they succeed): said when the node is fenced.
	renewErr atomic.Pointer[error]
	// careful is set when a batch that did queued items failed: the next
	// ones do each item in a savepoint, so that one item that cannot be
	// done does not stop every batch (see doQueuedCarefully).
	careful atomic.Bool
}

func (l *lanes) holds(lane int) bool {
	return l.held[lane/64].Load()&(1<<(lane%64)) != 0
}

func (l *lanes) set(ls []int, on bool) {
	defer func() { l.node.Work(l.list()) }()
	for _, lane := range ls {
		w := &l.held[lane/64]
		for {
			old := w.Load()
			nw := old | 1<<(lane%64)
			if !on {
				nw = old &^ (1 << (lane % 64))
			}
			if w.CompareAndSwap(old, nw) {
				break
			}
		}
	}
}

// list returns the held lanes in order.
func (l *lanes) list() []int {
	var out []int
	for lane := 0; lane < LaneCount; lane++ {
		if l.holds(lane) {
			out = append(out, lane)
		}
	}
	return out
}

// live reports whether the lease is known to hold now.
func (l *lanes) live() bool {
	if l.fenced.Load() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.validUntil)
}

func (l *lanes) renewed(start time.Time) {
	l.mu.Lock()
	if until := start.Add(l.node.Lease()); until.After(l.validUntil) {
		l.validUntil = until
	}
	l.mu.Unlock()
}

// leaseLeft is how long the lease is known to hold, from the last
// renewal that succeeded (negative once past it).
func (l *lanes) leaseLeft() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Until(l.validUntil)
}

// owns reports whether this engine does the work of a contact's lane
// (always, on a store that is not a Node).
func (e *Engine) owns(account, contact string) bool {
	return e.lanes == nil || e.lanes.holds(LaneOf(account, contact))
}

// tick is how often a node balances lanes.
func (l *lanes) tick() time.Duration {
	return max(l.node.Lease()/5, 10*time.Millisecond)
}

// renewLoop keeps the node's lease: every Renewal, counted from the
// start of the last renewal, it renews the lease, on a goroutine of its
// own and the store's connection of its own, so that balancing (its
// transaction, taking lanes, giving them back and waiting for their
// sends), the writer and its queue never delay it. Real time, not the
// engine's clock: the lease runs on the database's clock. A renewal that
// fails, or takes longer than half the lease (then abandoned: its
// connection is opened again), is tried again soon; meanwhile the node
// sends nothing once its last renewal's lease may have run out (live),
// and carries on as soon as one succeeds. Only the store ends the node:
// ErrFenced, when the server says the lease is over.
func (e *Engine) renewLoop() {
	defer e.wg.Done()
	l := e.lanes
	every := l.node.Renewal()
	retry := max(every/5, 10*time.Millisecond)
	attempt := max(l.node.Lease()/2, every)
	t := time.NewTimer(every)
	defer t.Stop()
	var failing time.Time // since when renewals fail
	for {
		select {
		case <-e.stop:
			return
		case <-l.renewStop:
			return
		case <-t.C:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), attempt)
		err := l.node.Renew(ctx)
		cancel()
		next := every
		switch {
		case errors.Is(err, ErrFenced):
			e.fence()
			return
		case errors.Is(err, ErrNewerSchema):
			e.stopFor(err)
			return
		case err != nil:
			l.renewFailures.Add(1)
			l.renewErr.Store(&err)
			if failing.IsZero() {
				failing = start
				e.log.Warn("lanes: renewing the lease failed; trying again", "err", err)
			}
			next = retry
		default:
			l.renewed(start)
			l.renewals.Add(1)
			if !failing.IsZero() {
				e.log.Info("lanes: the lease is renewed again", "failing", time.Since(failing).Round(time.Millisecond))
				failing = time.Time{}
				l.renewErr.Store(nil)
			}
		}
		t.Reset(max(next-time.Since(start), 0))
	}
}

// queuedPage is how many queued items one transaction takes at most.
const queuedPage = 2048

// laneLoop keeps the node's lease and lanes: it balances them every
// tick, takes up what Balance gave and gives back its surplus.
func (e *Engine) laneLoop() {
	defer e.wg.Done()
	l := e.lanes
	for {
		e.balanceLanes()
		if l.fenced.Load() {
			return
		}
		// Whatever a notification missed (or a batch that failed left)
		// is taken within a tick.
		l.queued.Store(true)
		select {
		case <-e.stop:
			return
		case <-time.After(l.tick()):
			// Real time, not the engine's clock: the lease runs on the
			// database's clock, and a virtual clock (tests, benchmarks)
			// would let it lapse.
		case <-l.node.Queued():
			l.queued.Store(true)
		}
		// A job takes what was queued (runBatch reads the queue of the
		// held lanes first), even when no event comes to start one.
		if len(l.list()) > 0 {
			go func() {
				// A node that lost its lease (resumed after a pause past
				// it) says so once, as it stops: this was an ERROR more.
				if err := e.submit(context.Background(), func(w *work) error { return nil }); err != nil && !errors.Is(err, ErrStopped) && !errors.Is(err, ErrFenced) {
					e.log.Error("lanes: taking queued work", "err", err)
				}
			}()
		}
	}
}

// balanceLanes runs one round of Balance and acts on it. It may wait
// long (the writer's queue, a lane's sends being given back): the lease
// is renewed apart (renewLoop).
func (e *Engine) balanceLanes() {
	l := e.lanes
	t, err := l.node.Balance(context.Background())
	if errors.Is(err, ErrFenced) {
		e.fence()
		return
	}
	if err != nil {
		e.log.Error("lanes: balancing lanes", "err", err)
		return
	}
	if len(t.Lanes) > 0 {
		e.takeLanes(t.Lanes)
	}
	e.recovered(t.Unknown)
	if t.Surplus > 0 {
		held := l.list()
		if len(held) > 0 {
			e.giveLanes(held[len(held)-min(t.Surplus, len(held)):])
		}
	}
}

// fence stops everything after the lease was lost: nothing more is
// committed (the store refuses) nor sent (the dispatcher checks).
func (e *Engine) fence() {
	e.stopFor(ErrFenced)
}

// stopFor stops the node as fence does, for why: ErrFenced, or an error
// wrapping ErrNewerSchema (a newer wxflow migrated the database: this
// node's code must not go on with it). It renews its lease no more, so
// that the other nodes take its lanes once it ends.
func (e *Engine) stopFor(why error) {
	// The reason first, so that whoever sees the node fenced finds it.
	if !e.lanes.why.CompareAndSwap(nil, &why) {
		return
	}
	e.lanes.fenced.Store(true)
	if errors.Is(why, ErrNewerSchema) {
		e.log.Error("lanes: a newer wxflow migrated the database: this node stops, sending and committing nothing more; its lanes move to other nodes when its lease ends", "err", why)
	} else {
		const msg = "lanes: this node lost its lease (paused, cut off from the database, or the database took no writes, past it): it stops; its lanes have moved to other nodes"
		if err := e.lanes.renewErr.Load(); err != nil {
			// What the renewals met says which: a database that took
			// no writes (a standby after a failover) reads otherwise
			// as a node paused or cut off.
			e.log.Error(msg, "renewals_failed_with", *err)
		} else {
			e.log.Error(msg)
		}
	}
	if e.cfg.OnFenced != nil {
		go e.cfg.OnFenced()
	}
}

// Fenced returns why the node stopped (Config.OnFenced): nil while it
// runs (and for an engine that is not a node), ErrFenced when it lost
// its lease, an error wrapping ErrNewerSchema when a newer wxflow
// migrated the database. For an engine of several writers, that of a
// writer that stopped.
func (e *Engine) Fenced() error {
	for _, w := range e.writers() {
		if w.lanes == nil {
			continue
		}
		if why := w.lanes.why.Load(); why != nil {
			return *why
		}
	}
	return nil
}

// takeLanes starts the work of lanes just taken: in a job, so that the
// next jobs see them held (the first batch takes their queued items
// before anything else); then the messages their former owner left,
// their timers, and the calls that were under way.
func (e *Engine) takeLanes(taken []int) {
	sort.Ints(taken)
	var calling []*Run
	err := e.submit(context.Background(), func(w *work) error {
		// The messages the lanes' former node left are claimed from the
		// store before the ones this node reserves for them from now on:
		// set before the next job can claim (claims run in jobs too).
		e.outMu.Lock()
		e.backlog = true
		e.outMu.Unlock()
		e.lanes.set(taken, true)
		// Their open conversations may come due before this node's.
		e.closeAt.Store(closeUnknown)
		e.lanes.queued.Store(true)
		// The later jobs of this batch handle the lanes' events
		// themselves: what was queued for the lanes goes first.
		if err := w.takeQueuedOf(taken); err != nil {
			return err
		}
		runs, err := w.tx.Runs(RunFilter{Status: RunCalling})
		if err != nil {
			return err
		}
		in := map[int]bool{}
		for _, lane := range taken {
			in[lane] = true
		}
		calling = calling[:0]
		for _, r := range runs {
			if in[LaneOf(r.Account, r.Contact)] {
				calling = append(calling, r)
			}
		}
		return nil
	})
	if err != nil {
		// The lanes stay held in the store; the next rounds keep them.
		e.log.Error("lanes: starting taken lanes", "err", err)
	}
	for _, r := range calling {
		if r.State.Request != nil {
			e.call(r, r.State.Request)
		}
	}
	e.kickOutbox()
	e.kickTimers()
}

// giveLanes gives lanes back: in a job, so that later jobs queue their
// work; once no message of theirs is being sent, the store releases
// them.
func (e *Engine) giveLanes(give []int) {
	in := map[int]bool{}
	for _, l := range give {
		in[l] = true
	}
	err := e.submit(context.Background(), func(w *work) error {
		e.lanes.set(give, false)
		// Messages held back while their account is paused stay
		// pending in the store: the lanes' new node holds them.
		e.holds.drop(func(o *OutboxEntry) bool { return in[LaneOf(o.Account, o.Contact)] })
		return nil
	})
	if err != nil {
		e.log.Error("lanes: giving lanes back", "err", err)
		return
	}
	if !e.waitSendsOf(give) {
		// A send's outcome could not be recorded: keep the lanes, so
		// that no other node sends their messages again.
		e.log.Error("lanes: messages of lanes being given back are still claimed; keeping the lanes", "lanes", len(give))
		if err := e.submit(context.Background(), func(w *work) error { e.lanes.set(give, true); return nil }); err != nil {
			e.log.Error("lanes: keeping lanes", "err", err)
		}
		return
	}
	if err := e.lanes.node.Release(context.Background(), give); err != nil {
		e.log.Error("lanes: giving lanes back", "err", err)
	}
}

// giveBackWait bounds how long lanes being given back wait for their
// messages' sends to be recorded.
const giveBackWait = 30 * time.Second

// waitSendsOf waits until no message of the lanes is claimed for sending
// (in real time: it waits for sends, not for the engine's clock); false
// when that took longer than giveBackWait or the engine stops.
func (e *Engine) waitSendsOf(ls []int) bool {
	deadline := time.Now().Add(giveBackWait)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for e.inflightOf(ls) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-e.stop:
			return false
		case <-t.C:
		}
	}
	return true
}

// takeAhead, for a batch of events when nothing is known to be queued
// for the held lanes (the common case), sends the take of the queue
// together with the batch's events (recordEvents) instead of in a round
// trip of its own: a batch then costs two round trips on PostgreSQL
// instead of three. The function it returns, called once the events are
// recorded, fails with errQueuedFirst when the take found items after
// all (queued since the last notification): the transaction, which
// recorded the batch's events before them, does not commit, and the
// batch runs again with drainQueued. It returns nil when the batch
// takes the queue the usual way.
func (e *Engine) takeAhead(tx *outboxRecorder, events bool) func() error {
	qa, ok := storeTx[QueueAheadTx](tx)
	if !ok || !events || e.lanes.careful.Load() || !e.lanes.node.Listening() || e.lanes.queued.Load() {
		return nil
	}
	held := e.lanes.list()
	if len(held) == 0 {
		return nil
	}
	e.lanes.drainFull = false
	take := qa.TakeQueuedAhead(held, queuedPage)
	return func() error {
		items, err := take()
		if err != nil {
			e.lanes.queued.Store(true)
			return fmt.Errorf("queued work: %w", err)
		}
		if len(items) > 0 {
			e.lanes.queued.Store(true)
			return errQueuedFirst
		}
		return nil
	}
}

// drainQueued takes the queued items of the held lanes, in the
// transaction of a batch before its jobs, and does them: an item queued
// before the batch's events is handled before them. It returns the work
// that did them (nil when there were none).
func (e *Engine) drainQueued(tx *outboxRecorder, events bool) (*work, error) {
	e.lanes.drainFull = false
	qt, ok := storeTx[QueueTx](tx)
	if !ok {
		return nil, nil
	}
	held := e.lanes.list()
	// A batch that handles events of the held lanes reads the queue
	// first, always: a node that queued a contact's event notifies at
	// its commit, but nothing orders that notification before the
	// contact's next callback, which WeChat sends as soon as the queued
	// one was answered; handled before the notification arrived, it
	// would go before the queued one. Other batches read the queue when
	// work may have been queued.
	queued := e.lanes.queued.Swap(false)
	if len(held) == 0 || (!events && !queued && e.lanes.node.Listening()) {
		if queued {
			e.lanes.queued.Store(true)
		}
		return nil, nil
	}
	items, err := qt.TakeQueued(held, queuedPage)
	if err != nil {
		e.lanes.queued.Store(true)
	}
	if err != nil {
		return nil, fmt.Errorf("queued work: %w", err)
	}
	e.lanes.drainFull = len(items) == queuedPage
	if e.lanes.drainFull {
		e.lanes.queued.Store(true)
	}
	if len(items) == 0 {
		return nil, nil
	}
	w := newWork(e, tx)
	w.reserved = tx.reserved
	w.draining = true
	careful := e.lanes.careful.Load()
	err = w.run(func(w *work) error {
		for _, q := range items {
			if careful {
				if err := w.doQueuedCarefully(q); err != nil {
					return err
				}
				continue
			}
			if err := w.doQueued(q); err != nil {
				return fmt.Errorf("queued %s of %s: %w", q.Kind, q.Contact, err)
			}
		}
		return nil
	})
	if careful && err == nil {
		w.after = append(w.after, func() { e.lanes.careful.Store(false) })
	}
	return w, err
}

// doQueuedCarefully does a queued item in a savepoint. An item that
// fails alone is not done again (it would fail every batch): an event is
// still recorded, with a note saying why nothing came of it, and the
// failure is logged.
func (w *work) doQueuedCarefully(q *Queued) error {
	rec, _ := w.tx.(*outboxRecorder)
	var pending int
	if rec != nil {
		pending = len(rec.pending)
	}
	err := w.tx.Savepoint(func() error { return w.doQueued(q) })
	if err == nil {
		return nil
	}
	// What the item loaded may hold its undone changes, and the
	// messages it reserved are gone.
	w.forget(q.Account, q.Contact)
	if rec != nil {
		rec.pending = rec.pending[:pending]
	}
	w.e.log.Error("lanes: a queued item failed alone and is not done again", "kind", q.Kind, "account", q.Account, "contact", q.Contact, "key", q.Key, "err", err)
	if q.Kind != QueuedEvent || q.Event == nil {
		return nil
	}
	added, aerr := w.tx.AddEvent(q.Event)
	if aerr != nil || !added {
		return aerr
	}
	return w.tx.AddEventNote(&EventNote{Key: q.Event.Key, Account: q.Account, Contact: q.Contact, Kind: q.Event.Event.Kind, At: w.now,
		Why: "it could not be handled: " + err.Error()})
}

// handlesEvents reports whether a batch has jobs with events of held
// lanes (which must come after what was queued for them).
func (e *Engine) handlesEvents(batch []*job) bool {
	for _, j := range batch {
		if j.ev != nil && e.owns(j.ev.Account, j.ev.Contact) {
			return true
		}
	}
	return false
}

// takeQueuedOf does, in a job, the queued items of lanes the job just
// took, before the batch's later jobs, which see the lanes held (the
// batch took the queue of the lanes it held when it began). A full page
// leaves the rest to the next batch, and the later jobs queue their
// events behind it.
func (w *work) takeQueuedOf(taken []int) error {
	qt, ok := storeTx[QueueTx](w.tx)
	if !ok {
		return nil
	}
	items, err := qt.TakeQueued(taken, queuedPage)
	if err != nil {
		return fmt.Errorf("queued work: %w", err)
	}
	if len(items) == queuedPage {
		w.e.lanes.drainFull = true
	}
	draining := w.draining
	w.draining = true
	defer func() { w.draining = draining }()
	for _, q := range items {
		if err := w.doQueued(q); err != nil {
			return fmt.Errorf("queued %s of %s: %w", q.Kind, q.Contact, err)
		}
	}
	return nil
}

// joinNode joins the store's nodes and starts renewing the lease. An
// engine of several writers joins them all before any takes its lanes,
// so that each takes its share at once.
func (e *Engine) joinNode(ctx context.Context) error {
	l := e.lanes
	start := time.Now()
	if err := l.node.Join(ctx); err != nil {
		return err
	}
	l.renewed(start)
	l.renewStop = make(chan struct{})
	e.wg.Add(1)
	go e.renewLoop()
	return nil
}

// joinLanes starts the node's lease and its renewal, and takes its first
// lanes before the engine's other goroutines start. The caller closes
// l.renewStop when the engine does not start after all.
func (e *Engine) joinLanes(ctx context.Context) error {
	l := e.lanes
	if l.renewStop == nil {
		if err := e.joinNode(ctx); err != nil {
			return err
		}
	}
	t, err := l.node.Balance(ctx)
	if err != nil {
		close(l.renewStop)
		return err
	}
	l.set(t.Lanes, true)
	l.queued.Store(true)
	e.recovered(t.Unknown)
	return nil
}

// queue keeps work for the node holding a contact's lane.
func (w *work) queue(q *Queued) error {
	qt, ok := storeTx[QueueTx](w.tx)
	if !ok {
		return errors.New("lanes: the store cannot queue work for another node")
	}
	q.Lane = LaneOf(q.Account, q.Contact)
	q.QueuedAt = w.now
	return qt.QueueItem(q)
}

// direct reports whether a job handles a contact's work itself: the
// engine holds its lane and nothing queued for it may wait.
func (w *work) direct(account, contact string) bool {
	l := w.e.lanes
	return l == nil || w.draining || (l.holds(LaneOf(account, contact)) && !l.drainFull)
}

// doQueued does a queued item for a contact of a held lane.
func (w *work) doQueued(q *Queued) error {
	switch q.Kind {
	case QueuedEvent:
		ev := q.Event.Event
		w.count().dequeued++
		w.received = q.Event.ReceivedAt
		defer func() { w.received = time.Time{} }()
		return w.ingest(&ev)
	case QueuedSchedule:
		return w.scheduleOne(q.Name, q.Due, q.Account, q.Contact)
	case QueuedAction:
		return w.doQueuedAction(q)
	case QueuedStart:
		p, ok := w.e.flows.Load().byName[q.Name]
		if !ok {
			w.e.log.Warn("a flow started through the API is no longer loaded", "flow", q.Name, "contact", q.Contact)
			return nil
		}
		dropped := func(why string) error {
			w.e.log.Info("a flow started through the API did not start", "flow", q.Name, "account", q.Account, "contact", q.Contact, "why", why)
			return nil
		}
		cs, err := w.contact(q.Account, q.Contact, false)
		if errors.Is(err, ErrNotFound) {
			return dropped("no such contact")
		}
		if err != nil {
			return err
		}
		if !cs.c.Followed {
			return dropped("the contact unfollowed the account")
		}
		if cooling, err := w.coolingDown(cs, p.flow); err != nil || cooling {
			if err == nil {
				return dropped("the flow is cooling down for the contact")
			}
			return err
		}
		r, err := w.startFlow(cs, p, eventEnvAt("api", w.now), startOpts{by: startedByAPI, vars: q.Vars})
		if err != nil {
			return err
		}
		if r == nil {
			// The API answered 202 on the node that queued it: this log
			// is the only word of the start's refusal.
			return dropped("the flow runs already for the contact (reentry: ignore)")
		}
		return nil
	}
	w.e.log.Error("lanes: a queued item of an unknown kind is dropped", "kind", q.Kind, "contact", q.Contact)
	return nil
}
