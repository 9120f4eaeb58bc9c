package engine

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// IngestBuckets are the upper bounds, in seconds, of the ingest latency
// histogram in Stats.
var IngestBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Stats is a snapshot of what the engine counted since it was built, for
// metrics. Counts only include committed work: a transaction that is
// rolled back and run again counts once.
type Stats struct {
	// Events counts the new events ingested, by kind; Duplicates the
	// platform retries ingested again.
	Events     map[channels.Kind]uint64
	Duplicates uint64
	// Queued counts the events this node queued for the node holding
	// their contact's lane; Dequeued the queued events it took and
	// handled (on a store shared by several nodes).
	Queued, Dequeued uint64
	// Lanes is how many lanes this node holds (LaneCount on a store of
	// one process); WriterLanes, of an engine of several writers
	// (Config.Writers), how many each of them holds.
	Lanes       int
	WriterLanes []int
	// Node is set when the engine is a node of a store shared by several
	// processes (PostgreSQL), under a lease per writer: LeaseRenewals
	// counts the renewals that succeeded, LeaseRenewFailures the attempts
	// that failed (tried again at once), and LeaseLeft is how long the
	// lease is known to hold from the last renewal that succeeded, per
	// writer in order (past it the writer sends nothing, and the node
	// stops when the database says another node took over).
	Node                              bool
	LeaseRenewals, LeaseRenewFailures uint64
	LeaseLeft                         []time.Duration
	// RunsStarted counts the runs started, by flow; RunsEnded the runs
	// that ended, by status.
	RunsStarted map[string]uint64
	RunsEnded   map[RunStatus]uint64
	// Messages counts the messages whose outcome is known (sent, failed,
	// unknown), by status and reason.
	Messages map[MessageKey]uint64
	// TimersFired counts the timers that resumed a run; TimerLag is how
	// late the last of them fired (its due time to the clock's now).
	TimersFired uint64
	TimerLag    time.Duration
	// WriterQueue is how many jobs wait for the writer; OutboxQueue how
	// many committed messages wait in memory for the dispatcher.
	WriterQueue, OutboxQueue int
	// EventQueue is how many of the writer's queued jobs are events.
	EventQueue int
	// IngestCounts[i] counts the ingests that took at most
	// IngestBuckets[i] (and more than the bound before); the last element
	// counts the slower ones. IngestSum is their total, in seconds.
	IngestCounts []uint64
	IngestSum    float64
	// Pruned counts the rows the Pruner deleted, by kind: "events",
	// "locations", "runs" and "messages".
	Pruned map[string]uint64
	// Paused are the accounts whose sends the channel paused, with their
	// held messages (see SendPause). SendPauses counts, by account, the
	// times its sends were paused; SendProbes the probes sent after a
	// pause.
	Paused                 []SendPause
	SendPauses, SendProbes map[string]uint64
	// FirstResponse is, by team ("" for none), how long conversations
	// people took waited for an operator's first reply; Resolution how
	// long conversations stayed open, by the team that held them when
	// they closed. RepliesRefused counts the operators' replies the
	// channel refused before sending, by reason.
	FirstResponse, Resolution map[string]*Histogram
	RepliesRefused            map[channels.Reason]uint64
}

// MessageKey is a message outcome: its status and, when it failed, why.
type MessageKey struct {
	Status OutboxStatus
	Reason channels.Reason
}

// statDelta is what one job counted; it joins the engine's stats after
// the job's commit.
type statDelta struct {
	events      map[channels.Kind]uint64
	duplicates  uint64
	queued      uint64
	dequeued    uint64
	runsStarted map[string]uint64
	runsEnded   map[RunStatus]uint64
	messages    map[MessageKey]uint64
	timers      uint64
	lag         time.Duration
	prunedRows  map[string]uint64
	// firstReply and resolution are the conversations' first response
	// and resolution times, by team; refused the operators' replies the
	// channel refused, by reason.
	firstReply, resolution map[string]*Histogram
	refused                map[channels.Reason]uint64
}

// ConvBuckets are the upper bounds, in seconds, of the conversations'
// first response and resolution time histograms: 30 s to 2 days.
var ConvBuckets = []float64{30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800}

// Histogram counts observations in ConvBuckets: Counts[i] those at most
// ConvBuckets[i] (and above the bound before), the last element the
// larger ones; Sum is their total in seconds.
type Histogram struct {
	Counts []uint64
	Sum    float64
}

func (h *Histogram) observe(d time.Duration) {
	if h.Counts == nil {
		h.Counts = make([]uint64, len(ConvBuckets)+1)
	}
	sec := d.Seconds()
	i := 0
	for i < len(ConvBuckets) && sec > ConvBuckets[i] {
		i++
	}
	h.Counts[i]++
	h.Sum += sec
}

func (h *Histogram) add(o *Histogram) {
	if h.Counts == nil {
		h.Counts = make([]uint64, len(ConvBuckets)+1)
	}
	for i, n := range o.Counts {
		h.Counts[i] += n
	}
	h.Sum += o.Sum
}

func observeIn(m *map[string]*Histogram, team string, d time.Duration) {
	if *m == nil {
		*m = map[string]*Histogram{}
	}
	h := (*m)[team]
	if h == nil {
		h = &Histogram{}
		(*m)[team] = h
	}
	h.observe(d)
}

func addHists(dst *map[string]*Histogram, src map[string]*Histogram) {
	for team, h := range src {
		if *dst == nil {
			*dst = map[string]*Histogram{}
		}
		if (*dst)[team] == nil {
			(*dst)[team] = &Histogram{}
		}
		(*dst)[team].add(h)
	}
}

func cloneHists(m map[string]*Histogram) map[string]*Histogram {
	out := make(map[string]*Histogram, len(m))
	for k, h := range m {
		out[k] = &Histogram{Counts: append([]uint64(nil), h.Counts...), Sum: h.Sum}
	}
	return out
}

func (d *statDelta) resolved(team string, took time.Duration) { observeIn(&d.resolution, team, took) }

func (d *statDelta) replied(team string, took time.Duration) { observeIn(&d.firstReply, team, took) }

func (d *statDelta) refusedReply(r channels.Reason) {
	if d.refused == nil {
		d.refused = map[channels.Reason]uint64{}
	}
	d.refused[r]++
}

func (d *statDelta) event(k channels.Kind) {
	if d.events == nil {
		d.events = map[channels.Kind]uint64{}
	}
	d.events[k]++
}

func (d *statDelta) runStarted(flow string) {
	if d.runsStarted == nil {
		d.runsStarted = map[string]uint64{}
	}
	d.runsStarted[flow]++
}

func (d *statDelta) runEnded(s RunStatus) {
	if d.runsEnded == nil {
		d.runsEnded = map[RunStatus]uint64{}
	}
	d.runsEnded[s]++
}

func (d *statDelta) message(s OutboxStatus, r channels.Reason) {
	if d.messages == nil {
		d.messages = map[MessageKey]uint64{}
	}
	d.messages[MessageKey{s, r}]++
}

func (d *statDelta) pruned(p Pruned) {
	if d.prunedRows == nil {
		d.prunedRows = map[string]uint64{}
	}
	for k, n := range map[string]int{"events": p.Events, "locations": p.Locations, "runs": p.Runs, "messages": p.Messages, "uploads": p.Uploads} {
		if n > 0 {
			d.prunedRows[k] += uint64(n)
		}
	}
}

// count returns the job's counters.
func (w *work) count() *statDelta {
	if w.stats == nil {
		w.stats = &statDelta{}
	}
	return w.stats
}

// stats is the engine's running totals: the committed jobs' counters
// added up, and the ingest latency histogram.
type stats struct {
	mu     sync.Mutex
	totals statDelta

	ingest    [14]atomic.Uint64 // len(IngestBuckets)+1
	ingestSum atomic.Uint64     // nanoseconds
}

func addAll[K comparable](dst *map[K]uint64, src map[K]uint64) {
	if len(src) == 0 {
		return
	}
	if *dst == nil {
		*dst = map[K]uint64{}
	}
	for k, v := range src {
		(*dst)[k] += v
	}
}

// add joins a committed job's counters.
func (s *stats) add(d *statDelta) {
	if d == nil {
		return
	}
	s.mu.Lock()
	t := &s.totals
	addAll(&t.events, d.events)
	addAll(&t.runsStarted, d.runsStarted)
	addAll(&t.runsEnded, d.runsEnded)
	addAll(&t.messages, d.messages)
	addAll(&t.prunedRows, d.prunedRows)
	addAll(&t.refused, d.refused)
	addHists(&t.firstReply, d.firstReply)
	addHists(&t.resolution, d.resolution)
	t.duplicates += d.duplicates
	t.queued += d.queued
	t.dequeued += d.dequeued
	if d.timers > 0 {
		t.timers += d.timers
		t.lag = d.lag
	}
	s.mu.Unlock()
}

// observeIngest records how long an ingest took, in real time (a measure,
// not a behaviour: the injected clock does not apply).
func (s *stats) observeIngest(took time.Duration) {
	sec := took.Seconds()
	i := 0
	for i < len(IngestBuckets) && sec > IngestBuckets[i] {
		i++
	}
	s.ingest[i].Add(1)
	s.ingestSum.Add(uint64(took))
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.mu.Lock()
	t := &s.totals
	out := Stats{
		Events: maps.Clone(t.events), Duplicates: t.duplicates, Queued: t.queued, Dequeued: t.dequeued,
		RunsStarted: maps.Clone(t.runsStarted), RunsEnded: maps.Clone(t.runsEnded),
		Messages: maps.Clone(t.messages), TimersFired: t.timers, TimerLag: t.lag,
		Pruned:        maps.Clone(t.prunedRows),
		FirstResponse: cloneHists(t.firstReply), Resolution: cloneHists(t.resolution), RepliesRefused: maps.Clone(t.refused),
	}
	s.mu.Unlock()
	out.IngestCounts = make([]uint64, len(s.ingest))
	for i := range s.ingest {
		out.IngestCounts[i] = s.ingest[i].Load()
	}
	out.IngestSum = time.Duration(s.ingestSum.Load()).Seconds()
	e.writerStats(&out)
	for _, w := range e.more {
		// The counters are shared; what each writer holds adds up.
		var m Stats
		w.writerStats(&m)
		out.WriterQueue += m.WriterQueue
		out.EventQueue += m.EventQueue
		out.OutboxQueue += m.OutboxQueue
		out.Lanes += m.Lanes
		out.WriterLanes = append(out.WriterLanes, m.Lanes)
		out.LeaseRenewals += m.LeaseRenewals
		out.LeaseRenewFailures += m.LeaseRenewFailures
		out.LeaseLeft = append(out.LeaseLeft, m.LeaseLeft...)
		out.Paused = mergePauses(out.Paused, m.Paused)
		addAll(&out.SendPauses, m.SendPauses)
		addAll(&out.SendProbes, m.SendProbes)
	}
	return out
}

// writerStats fills in what is this writer's own: its queues, its
// lanes, its accounts' pauses.
func (e *Engine) writerStats(out *Stats) {
	out.WriterQueue = len(e.jobs)
	out.EventQueue = int(e.ingestQueued.Load())
	out.Lanes = LaneCount
	if e.lanes != nil {
		out.Lanes = len(e.lanes.list())
		out.Node = true
		out.LeaseRenewals, out.LeaseRenewFailures = e.lanes.renewals.Load(), e.lanes.renewFailures.Load()
		out.LeaseLeft = []time.Duration{e.lanes.leaseLeft()}
	}
	e.outMu.Lock()
	out.OutboxQueue = len(e.outq)
	e.outMu.Unlock()
	out.Paused, out.SendPauses, out.SendProbes = e.holds.report(e.clock.Now())
	if len(e.more) > 0 {
		out.WriterLanes = []int{out.Lanes}
	}
}
