package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/triggers"
)

// DefaultMaxJumps is how many `goto` jumps a run may make before it stops
// as `looping`.
const DefaultMaxJumps = 100

// Config holds what an Engine is built from.
type Config struct {
	// Store is where everything is kept (required).
	Store Store
	// Channel sends messages and owns the platform's rules (required).
	Channel channels.Channel
	// Clock is the one source of time (default: the system clock).
	Clock Clock
	// Zone is the server's time zone for `hours` and `schedule` without a
	// timezone (default: time.Local).
	Zone *time.Location
	// HTTPClient makes the `http` steps' calls (default: a client with no
	// overall timeout; each call has its step's timeout). The engine
	// uses a copy that does not follow redirects (noRedirects).
	HTTPClient *http.Client
	// Logger receives the engine's log lines (default: discarded).
	Logger *slog.Logger
	// LoadOptions are used to load stored flow versions again.
	LoadOptions flows.Options
	// BatchSize is how many events (or other jobs) at most share one
	// transaction (default 512).
	BatchSize int
	// MaxJumps overrides DefaultMaxJumps.
	MaxJumps int
	// SendWorkers is how many contacts' messages are sent in parallel
	// (default 16).
	SendWorkers int
	// Secrets are the values `${secret.NAME}` stands for in `http` steps
	// (the config's secrets:). They are put in only when a request is
	// sent; whatever the call gives back (error texts, the response) has
	// each value replaced by `${secret.NAME}` before it is kept.
	Secrets map[string]string
	// OnFenced is called once when the engine's store is shared by
	// several nodes (a Node) and this node lost its lease: the engine
	// commits and sends nothing more, and the process should stop (its
	// supervisor starts it again as a new node).
	OnFenced func()
	// People are the operators and teams that take conversations over
	// from flows (the config's operators: and teams:).
	People People
	// AutoClose is, per account, how long after the contact's last
	// interaction an open conversation closes by itself; an account not
	// listed (or 0) takes DefaultAutoClose.
	AutoClose map[string]time.Duration
	// Writers are more stores of Store's database, for more writers
	// (PostgreSQL): the engine runs a writer on each besides Store's,
	// each a node of its own (Store and each of them must be a Node)
	// holding a share of the lanes, and hands a contact's work to the
	// writer holding its lane, so that the database does their
	// transactions in parallel. The caller closes them, after Stop.
	Writers []Store
}

// Engine runs flows: it ingests events, advances runs, fires timers and
// schedules, and hands the outbox to the channel. Create it with New, load
// flows with Load, then Start it.
type Engine struct {
	cfg   Config
	store Store
	clock Clock
	log   *slog.Logger

	jobs chan *job
	// ingestQueued counts the events (ingest jobs) queued for the
	// writer and not taken yet.
	ingestQueued atomic.Int64
	// closeAt is when the first open conversation of this node comes due
	// for auto_close (Unix nanoseconds; closeUnknown, closeNone).
	closeAt atomic.Int64
	// closeGen counts the conversations opened, so that a read of
	// closeAt's time that ran meanwhile is not kept.
	closeGen atomic.Uint64

	// changed is closed, and replaced, when a commit changed contacts or
	// messages while someone watched (Changed).
	changedMu sync.Mutex
	changed   chan struct{}
	// changes counts the wakes of Changed's watchers (Watch).
	changes uint64
	watched atomic.Bool
	// feed carries word of such commits between the nodes of a shared
	// store (nil on a store of one process): the live pages of one node
	// follow what the others commit.
	feed ChangeFeed

	flows    atomic.Pointer[flowSet]
	versions sync.Map // version -> *program

	gates sync.Map // ContactRef -> *replyGate
	// open are the messages reserved for the API and not finished: a
	// passive reply must not overtake them.
	open openMessages
	// holds are the messages of accounts whose sends the channel paused.
	holds holds

	outMu      sync.Mutex
	outq       []*OutboxEntry
	backlog    bool
	claimedMax int64
	// resyncs counts the commits whose outcome was not seen (see
	// resync); resynced is the count the dispatcher last caught up with.
	resyncs, resynced atomic.Int64
	// kickArmed is set while a kick of the dispatcher is due in a while
	// (kickSoon).
	kickArmed atomic.Bool
	// recall is set while the runs waiting for an `http` call are to be
	// read again (resync): the timer loop does it (recallCalls).
	recall atomic.Bool
	// unfollowed are the contacts who unfollowed lately: their messages
	// reserved before are not sent.
	unfollowed unfollows
	// callsMu guards inCall: the runs whose `http` call is under way
	// here, by run ID, with the run's Seq at the call.
	callsMu sync.Mutex
	inCall  map[int64]int64

	busyMu    sync.Mutex
	busyCond  *sync.Cond
	busy      int
	dispatchQ bool
	kick      chan struct{}
	timerKick chan struct{}
	// queueCap bounds the dispatcher's in-memory queue (maxQueuedOutbox;
	// tests lower it).
	queueCap int
	// timerWake is when the timer loop will wake next, in Unix
	// nanoseconds of the engine's clock; 0 while it reads what is due
	// (see timerSet).
	timerWake atomic.Int64

	stopMu    sync.RWMutex
	stopped   bool
	startOnce sync.Once
	startAll  sync.Once // of an engine of several writers
	stopOnce  sync.Once
	leaveOnce sync.Once
	// leaveErr is why giving up the lanes at Stop failed (leave).
	leaveErr error
	stop     chan struct{}
	wg       sync.WaitGroup
	// sendStop asks the dispatcher to finish; it stops before the writer
	// so that the outcomes of its last sends are recorded.
	sendStop chan struct{}
	// markAhead is, by sender, how many messages it recorded as started
	// ahead at the end of its last round (see starts).
	markAhead []atomic.Int32
	sendWG    sync.WaitGroup
	started   atomic.Bool

	// lanes are the lanes this engine holds when its store is a Node;
	// nil when it holds every lane.
	lanes *lanes
	// inflight counts, by lane, the messages claimed for sending whose
	// outcome is not recorded yet (on a Node only).
	inflight [LaneCount]atomic.Int32

	// more are the engine's other writers (Config.Writers), each an
	// engine on its own store; parent is, in each of them, the engine
	// that runs them (nil in an engine of one writer).
	more   []*Engine
	parent *Engine

	// stats are shared by the writers of an engine.
	stats *stats
	// commitErr is the error of the last commit that failed, nil once a
	// later one (not a health check's alone) succeeded.
	commitErr atomic.Pointer[error]
}

// flowSet is the flows currently loaded: new runs start from these.
type flowSet struct {
	byName map[string]*program
	index  *triggers.Index
	set    *flows.Set
	// loaded is false before the first Load: conversations are not
	// closed for auto_close then (their closed flows are not known).
	loaded bool
	// convTriggers is set when a flow has a conversation trigger: only
	// then is a conversation's opening matched against them.
	convTriggers bool
}

type job struct {
	fn   func(w *work) error
	done chan error
	// probe marks CheckWrite's job: its commit says nothing of the
	// others'.
	probe bool
	// ev is the event of an ingest job, which the writer may record
	// together with the batch's others (recordEvents); nil for other jobs.
	ev *channels.Event
	// leave lets its caller stop waiting when its context ends: the job
	// still runs (an event's, whose callback WeChat retries and the
	// store dedupes). Other jobs are waited for to the end, for their
	// callers act on what they did.
	leave bool
}

// New builds an engine. It does not start anything.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Channel == nil {
		return nil, errors.New("engine: Store and Channel are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Zone == nil {
		cfg.Zone = time.Local
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	cfg.HTTPClient = noRedirects(cfg.HTTPClient)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.MaxJumps <= 0 {
		cfg.MaxJumps = DefaultMaxJumps
	}
	if cfg.SendWorkers <= 0 {
		cfg.SendWorkers = 16
	}
	writers := cfg.Writers
	cfg.Writers = nil
	e := &Engine{
		cfg: cfg, store: cfg.Store, clock: cfg.Clock, log: cfg.Logger,
		jobs:      make(chan *job, 4*cfg.BatchSize),
		kick:      make(chan struct{}, 1),
		timerKick: make(chan struct{}, 1),
		queueCap:  maxQueuedOutbox,
		stop:      make(chan struct{}),
		sendStop:  make(chan struct{}),
		stats:     &stats{},
	}
	e.busyCond = sync.NewCond(&e.busyMu)
	e.holds.ledger = &pauseLedger{}
	e.markAhead = make([]atomic.Int32, cfg.SendWorkers)
	if n, ok := cfg.Store.(Node); ok {
		e.lanes = &lanes{node: n}
		e.feed, _ = cfg.Store.(ChangeFeed)
	}
	e.flows.Store(&flowSet{byName: map[string]*program{}, index: triggers.NewIndex(nil), set: &flows.Set{}})
	if err := e.addWriters(writers); err != nil {
		return nil, err
	}
	return e, nil
}

// Start recovers from a previous stop or crash and starts the writer, the
// outbox dispatcher and the timer loop. Sends that were under way when the
// process stopped are marked `unknown`, never sent again; `http` calls
// that were under way are made again.
func (e *Engine) Start(ctx context.Context) error {
	var err error
	if len(e.more) > 0 {
		e.startAll.Do(func() { err = e.startWriters(ctx) })
		return err
	}
	e.startOnce.Do(func() { err = e.start(ctx) })
	return err
}

func (e *Engine) start(ctx context.Context) error {
	var calling []*Run
	now := e.clock.Now()
	if e.lanes != nil {
		// Each lane taken recovers what its former owner left.
		if err := e.joinLanes(ctx); err != nil {
			return fmt.Errorf("start engine: %w", err)
		}
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		if e.lanes == nil {
			n, err := tx.RecoverOutbox(now)
			if err != nil {
				return err
			}
			e.recovered(n)
		}
		var err error
		calling, err = tx.Runs(RunFilter{Status: RunCalling})
		return err
	})
	if err != nil {
		if e.lanes != nil {
			close(e.lanes.renewStop) // joinLanes started it
		}
		return fmt.Errorf("start engine: %w", err)
	}
	e.backlog = true
	e.started.Store(true)
	e.wg.Add(2)
	e.sendWG.Add(1)
	go e.writer()
	go e.dispatcher()
	go e.timerLoop()
	if e.lanes != nil {
		e.wg.Add(1)
		go e.laneLoop()
	}
	if e.feed != nil && e.parent == nil {
		e.wg.Add(1)
		go e.feedLoop()
	}
	for _, r := range calling {
		if r.State.Request != nil && e.owns(r.Account, r.Contact) {
			e.call(r, r.State.Request)
		}
	}
	e.kickOutbox()
	return nil
}

// Stop stops accepting work, lets the sends under way finish and records
// their outcomes, finishes the transactions under way and stops the
// engine's goroutines. Runs stay resumable. It is idempotent.
func (e *Engine) Stop() {
	stopAll(e.writers())
}

// halt stops the engine's work: the sends under way finish and are
// recorded, then the writer and the other goroutines stop.
func (e *Engine) halt() {
	e.stopOnce.Do(func() {
		e.stopMu.Lock()
		e.stopped = true
		close(e.sendStop)
		e.stopMu.Unlock()
		e.sendWG.Wait()
		close(e.stop)
		e.wg.Wait()
	})
}

// leave gives up the node's lanes after halt: every send is finished
// and recorded, so the lanes may move.
func (e *Engine) leave() {
	e.leaveOnce.Do(func() {
		if e.lanes != nil && !e.lanes.fenced.Load() {
			if err := e.lanes.node.Leave(context.Background()); err != nil {
				e.log.Error("lanes: leaving", "err", err)
				e.leaveErr = err
			}
		}
	})
}

// LeaveErr is, after Stop, why a writer of the engine could not give up
// its lanes (the database did not answer): they move to another node
// only when its lease ends. Nil when every writer left, or holds every
// lane (SQLite).
func (e *Engine) LeaveErr() error {
	for _, w := range e.writers() {
		if w.leaveErr != nil {
			return w.leaveErr
		}
	}
	return nil
}

// recovered notes the messages RecoverOutbox (or taking a dead node's
// lanes) marked unknown.
func (e *Engine) recovered(n int) {
	if n > 0 {
		e.log.Warn("messages whose sending was interrupted are marked unknown", "count", n)
		e.stats.add(&statDelta{messages: map[MessageKey]uint64{{Status: OutboxUnknown}: uint64(n)}})
	}
}

// ErrStopped is returned for work submitted to a stopped engine.
var ErrStopped = errors.New("engine stopped")

// submit runs fn in the writer's next transaction and waits for its
// commit.
func (e *Engine) submit(ctx context.Context, fn func(w *work) error) error {
	return e.enqueue(ctx, false, fn)
}

// enqueue queues a job for the writer. The dispatcher's jobs (internal)
// are taken while the engine stops, until the dispatcher is done: the
// writer runs until then.
func (e *Engine) enqueue(ctx context.Context, internal bool, fn func(w *work) error) error {
	return e.enqueueJob(ctx, internal, &job{fn: fn, done: make(chan error, 1)})
}

// enqueueJob queues a job for the writer and waits for its outcome.
func (e *Engine) enqueueJob(ctx context.Context, internal bool, j *job) error {
	if !e.started.Load() {
		return errors.New("engine not started")
	}
	// The read lock keeps Stop from closing the queue between the check
	// and the send: every job queued is one the writer will answer.
	e.stopMu.RLock()
	if e.stopped && !internal {
		e.stopMu.RUnlock()
		return ErrStopped
	}
	e.addBusy(1)
	select {
	case e.jobs <- j:
		if j.ev != nil {
			e.ingestQueued.Add(1)
		}
		e.stopMu.RUnlock()
	case <-ctx.Done():
		e.stopMu.RUnlock()
		e.addBusy(-1)
		return ctx.Err()
	}
	if !j.leave {
		return <-j.done
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		// Its done channel has room for the answer nobody reads.
		return ctx.Err()
	}
}

func (e *Engine) addBusy(n int) {
	e.busyMu.Lock()
	e.busy += n
	if e.busy == 0 {
		e.busyCond.Broadcast()
	}
	e.busyMu.Unlock()
}

// Sync waits until everything the engine has been given so far is done:
// events committed, runs advanced, calls answered and messages sent.
// Tests and the simulator call it after each action.
func (e *Engine) Sync(ctx context.Context) error {
	if err := e.syncMore(ctx); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		e.busyMu.Lock()
		for e.busy > 0 {
			e.busyCond.Wait()
		}
		e.busyMu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the one goroutine that writes: it takes the queued jobs, up to
// BatchSize at a time, runs them in one transaction and answers each only
// after the commit (group commit).
func (e *Engine) writer() {
	defer e.wg.Done()
	batch := make([]*job, 0, e.cfg.BatchSize)
	for {
		var first *job
		select {
		case first = <-e.jobs:
		case <-e.stop:
			// Drain what was queued before the stop.
			for {
				select {
				case j := <-e.jobs:
					e.runBatch([]*job{j})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < e.cfg.BatchSize {
			select {
			case j := <-e.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		for _, j := range batch {
			if j.ev != nil {
				e.ingestQueued.Add(-1)
			}
		}
		e.runBatch(batch)
	}
}

// runBatch commits a batch of jobs in one transaction. When a job fails,
// the transaction is rolled back and the jobs are run again one by one,
// so that one bad job never loses the others.
func (e *Engine) runBatch(batch []*job) {
	if e.lanes != nil && e.lanes.fenced.Load() {
		// A stopped node commits nothing more: not even while its lease
		// still holds on the server (a newer wxflow migrated the
		// database: stopFor).
		why := ErrFenced
		if p := e.lanes.why.Load(); p != nil {
			why = *p
		}
		for _, j := range batch {
			e.finish(j, nil, why)
		}
		return
	}
	works := make([]*work, len(batch))
	recs := make([]*outboxRecorder, len(batch))
	failed := -1
	var drainRec *outboxRecorder
	var drainWork *work
	// The jobs count into one delta, added once at the commit (a delta of
	// its own per job, with its maps, was 6% of a follow ingest's
	// allocations).
	counts := &statDelta{}
	err := e.store.Update(context.Background(), func(tx Tx) error {
		// The contacts for which this transaction reserved messages for
		// the API so far (not yet in e.open).
		reserved := map[ContactRef]bool{}
		var taken func() error
		if e.lanes != nil {
			drainRec = &outboxRecorder{Tx: tx, reserved: reserved}
			events := e.handlesEvents(batch)
			if taken = e.takeAhead(drainRec, events); taken == nil {
				var err error
				if drainWork, err = e.drainQueued(drainRec, events); err != nil {
					return err
				}
			}
		}
		for i := range batch {
			recs[i] = &outboxRecorder{Tx: tx, reserved: reserved}
			works[i] = newWork(e, recs[i])
			works[i].reserved = reserved
			works[i].stats = counts
		}
		// The batch's events in one call, where the store does that
		// set-based; when that fails, the jobs run one by one.
		if err := recordEvents(tx, batch, works, taken != nil); err != nil {
			failed = 0
			return err
		}
		if taken != nil {
			if err := taken(); err != nil {
				return err
			}
		}
		for i, j := range batch {
			if err := works[i].run(j.fn); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	if err == nil {
		if drainWork != nil || wrote(batch, works) {
			e.commitErr.Store(nil)
		}
		if drainWork != nil {
			e.open.track(drainRec.pending)
			e.queueOutbox(drainRec.pending)
			e.stats.add(drainWork.stats)
			for _, fn := range drainWork.after {
				fn()
			}
		}
		e.stats.add(counts)
		for i, j := range batch {
			e.open.track(recs[i].pending)
			e.queueOutbox(recs[i].pending)
			works[i].stats = nil // added above, once for the batch
			e.finish(j, works[i], nil)
		}
		return
	}
	if errors.Is(err, errQueuedFirst) {
		// Nothing was stored: the batch again, the queue first.
		e.runBatch(batch)
		return
	}
	if failed < 0 {
		// The commit itself failed. Health checks say so until a commit
		// succeeds again.
		e.commitErr.Store(&err)
		if !e.retryCommit(err) && !errors.Is(err, ErrFenced) && !errors.Is(err, ErrStopped) {
			// Not a conflict the database reported: the commit may have
			// gone through all the same (a connection lost at COMMIT).
			e.resync()
		}
	}
	if e.lanes != nil {
		// Queued work the batch took is queued again; should an item of
		// it be what failed, the next batches do items one at a time.
		e.lanes.queued.Store(true)
		if drainWork != nil {
			e.lanes.careful.Store(true)
		}
		if errors.Is(err, ErrFenced) {
			e.fence()
		}
	}
	if len(batch) == 1 {
		e.finish(batch[0], nil, err)
		return
	}
	if failed < 0 && !e.retryCommit(err) {
		for _, j := range batch {
			e.finish(j, nil, err)
		}
		return
	}
	for _, j := range batch {
		e.runBatch([]*job{j})
	}
}

// wrote reports whether a committed batch says the store takes writes
// again: a job of it is neither CheckWrite's probe nor one that found
// nothing to do. (A timer loop's round with nothing due commits even
// on a full disk; it used to clear the error health checks report.)
func wrote(batch []*job, works []*work) bool {
	for i, j := range batch {
		if !j.probe && !works[i].quiet {
			return true
		}
	}
	return false
}

// resync follows a commit that failed without saying whether it went
// through: a connection lost at COMMIT, or a database that stopped, may
// leave the transaction's writes stored while the writer saw an error.
// Memory cannot tell, so what the transaction may have written is read
// back from the store, a second later (kickSoon): the dispatcher claims
// from the store (backlog) and, on a node, first gives back the claims
// it holds there and not in memory (see unclaimIdle); the timer loop,
// the next auto-close and the runs waiting for an `http` call
// (recallCalls) are read again.
// (Without it, a message such a commit reserved stayed pending until
// the node stopped: found by the three-node test, across a restart of
// PostgreSQL.)
func (e *Engine) resync() {
	e.outMu.Lock()
	e.backlog = true
	e.outMu.Unlock()
	e.resyncs.Add(1)
	e.closeAt.Store(closeUnknown)
	e.recall.Store(true)
	e.kickSoon()
}

// retryCommit reports whether the jobs of a batch whose commit failed
// run again one by one: nothing of it was stored, and a commit that lost
// to a conflict (on PostgreSQL, a deadlock between two nodes' queue
// writes, 40P01, or a serialization failure) goes through alone, as does
// one whose plain insert of a row it had read absent found the row there
// (23505: the PostgreSQL store inserts such contacts without ON
// CONFLICT; each job alone reads the row again); a fenced node or a
// stopping engine does not try.
func (e *Engine) retryCommit(err error) bool {
	if errors.Is(err, ErrFenced) || errors.Is(err, ErrStopped) || errors.Is(err, context.Canceled) {
		return false
	}
	var c interface{ SQLState() string }
	if !errors.As(err, &c) {
		return false
	}
	switch c.SQLState() {
	case "40P01", "40001", "23505":
		return true
	}
	return false
}

func (e *Engine) finish(j *job, w *work, err error) {
	if err == nil && w != nil {
		e.stats.add(w.stats)
		for _, fn := range w.after {
			fn()
		}
	}
	j.done <- err
	e.addBusy(-1)
}

// Load makes a set of flows the current one: events start these flows
// from now on, while runs keep the version they started with. Each flow's
// content is stored by its version (a content hash).
//
// An engine of several writers stores the set with each writer's store
// first and makes it current in all of them only when every one stored
// it: a writer whose store refused it does not leave the others serving
// the new flows while it serves the old (the caller tries again).
func (e *Engine) Load(ctx context.Context, set *flows.Set) error {
	all := e.writers()
	sets := make([]*flowSet, len(all))
	for i, w := range all {
		fs, err := w.load(ctx, set)
		if err != nil {
			return err
		}
		sets[i] = fs
	}
	for i, w := range all {
		w.flows.Store(sets[i])
		w.kickTimers()
	}
	return nil
}

// load stores a set of flows and returns it ready to be made current.
func (e *Engine) load(ctx context.Context, set *flows.Set) (*flowSet, error) {
	if set.Diags.HasErrors() {
		return nil, fmt.Errorf("load flows: %d errors", set.Diags.Count(flows.SeverityError))
	}
	fs := &flowSet{byName: map[string]*program{}, set: set, loaded: true}
	var list []*flows.Flow
	for _, f := range set.Flows {
		if f.Diags.HasErrors() {
			return nil, fmt.Errorf("load flows: %s has errors", f.File)
		}
		p := e.programFor(f)
		fs.byName[f.Name] = p
		list = append(list, f)
	}
	fs.index = triggers.NewIndex(list)
	for _, which := range []string{"opened", "closed"} {
		if len(fs.index.Match(triggers.Input{Kind: "conversation", Key: which, AnyAccount: true})) > 0 {
			fs.convTriggers = true
		}
	}
	now := e.clock.Now()
	loaded := make(map[string]string, len(list))
	for _, f := range list {
		loaded[f.Name] = f.Version
	}
	loadedJSON, err := json.Marshal(loaded)
	if err != nil {
		return nil, fmt.Errorf("load flows: %w", err)
	}
	err = e.store.Update(ctx, func(tx Tx) error {
		for _, f := range list {
			if err := tx.PutFlowVersion(&FlowVersion{Version: f.Version, Name: f.Name, File: f.File, Source: f.Source, LoadedAt: now}); err != nil {
				return err
			}
		}
		// What runs now, for wxflow plan beside the server: the store
		// keeps every version ever loaded, also of flows long removed.
		if err := tx.PutChannelState(loadedFlowsKey, string(loadedJSON), now.AddDate(100, 0, 0), now); err != nil {
			return err
		}
		return e.syncSchedules(tx, fs, now)
	})
	if err != nil {
		return nil, fmt.Errorf("load flows: %w", err)
	}
	return fs, nil
}

// loadedFlowsKey is the channel state that keeps the flows the last
// load made current: name to version, as JSON.
const loadedFlowsKey = "flows:loaded"

// LoadedFlows reads the flows a server's last load made current (name to
// version); ok is false when no server of this version loaded flows
// into the store.
func LoadedFlows(tx ReadTx, now time.Time) (loaded map[string]string, ok bool, err error) {
	v, _, seen, err := tx.ChannelState(loadedFlowsKey, now)
	if err != nil || !seen {
		return nil, false, err
	}
	if err := json.Unmarshal([]byte(v), &loaded); err != nil {
		return nil, false, fmt.Errorf("the flows loaded: %w", err)
	}
	return loaded, true, nil
}

// programFor returns the program of a flow version, building it once.
func (e *Engine) programFor(f *flows.Flow) *program {
	if p, ok := e.versions.Load(f.Version); ok {
		return p.(*program)
	}
	p, _ := e.versions.LoadOrStore(f.Version, newProgram(f))
	return p.(*program)
}

// version returns the program of a stored flow version, loading it from
// the store when it is not in memory.
func (e *Engine) version(tx ReadTx, version string) (*program, error) {
	if p, ok := e.versions.Load(version); ok {
		return p.(*program), nil
	}
	v, err := tx.FlowVersion(version)
	if err != nil {
		return nil, fmt.Errorf("flow version %s: %w", version, err)
	}
	// The version was checked against the config's names when it was
	// loaded; a config changed since (a secret or an operator the new
	// flows no longer use, removed with them) does not take it from the
	// runs that keep it: they meet the missing name only where they
	// reach it, as they would have without the restart.
	opts := e.cfg.LoadOptions
	opts.CheckSecrets, opts.Secrets, opts.People = false, nil, nil
	f, diags := flows.LoadFile(v.File, v.Source, opts)
	if f == nil || diags.HasErrors() {
		return nil, fmt.Errorf("flow version %s (%s) no longer loads: %v", version, v.File, diags.Err())
	}
	return e.programFor(f), nil
}

// Flows returns the flow set currently loaded.
func (e *Engine) Flows() *flows.Set { return e.flows.Load().set }

// Clock returns the engine's clock.
func (e *Engine) Clock() Clock { return e.clock }

// Store returns the engine's store, for reading.
func (e *Engine) Store() Store { return e.store }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }
