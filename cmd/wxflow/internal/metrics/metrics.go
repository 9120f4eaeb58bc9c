package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// callbackBuckets are the upper bounds, in seconds, of the callback
// answer-time histogram.
var callbackBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Metrics is what `wxflow serve` exports at /metrics: the engine's
// counters (mirrored at each scrape), the callback endpoint's and the
// WeChat API client's, fed through their Observe hooks.
type Metrics struct {
	// Registry is what /metrics serves.
	Registry *Registry

	callbacks   *Vec
	callbackDur *Histogram
	apiCalls    *Vec
	apiErrors   *Vec

	mu        sync.Mutex
	refreshes map[string]func() int64
	// openByTeam counts the open conversations by team at each scrape;
	// openTeams are the teams it has given, kept at 0 once they have
	// none open.
	openByTeam func(context.Context) (map[string]int, error)
	openTeams  map[string]bool
}

// openByTeamTimeout bounds the store read of a scrape's open
// conversations: a scrape that cannot read them keeps the last counts.
const openByTeamTimeout = 5 * time.Second

// SetBuild adds wxflow_build_info: 1, labelled with the version of
// wxflow the process runs and the Go release that built it, so that a
// dashboard shows which nodes run which version.
func (m *Metrics) SetBuild(version, goVersion string) {
	m.Registry.Gauge("wxflow_build_info", "Always 1: the version of wxflow this process runs and the Go release that built it.", "version", "go_version").Set(1, version, goVersion)
}

// New registers wxflow's metrics, reading the engine's counters at
// every scrape.
func New(stats func() engine.Stats) *Metrics {
	r := NewRegistry()
	m := &Metrics{Registry: r, refreshes: map[string]func() int64{}, openTeams: map[string]bool{}}
	events := r.Counter(Events, "Events ingested, by type (platform retries not included).", "type")
	dups := r.Counter(EventDuplicates, "Events ingested again: platform retries of an event already stored.")
	queued := r.Counter("wxflow_events_queued_total", "Events this node queued for the node holding their contact's lane (several nodes on PostgreSQL).")
	dequeued := r.Counter("wxflow_events_dequeued_total", "Events other nodes queued that this node took and handled.")
	lanes := r.Gauge("wxflow_node_lanes", "Lanes this node holds (256 when it runs alone or on SQLite).")
	renewals := r.Counter("wxflow_lease_renewals_total", "Renewals of this node's leases (a lease per writer; several nodes on PostgreSQL), by result: ok, or failed (tried again at once; past the lease, nothing is sent).", "result")
	leaseLeft := r.Gauge("wxflow_lease_remaining_seconds", "How long a writer's lease is known to hold from its last renewal, by writer (1, 2, ...; several nodes on PostgreSQL): with the defaults (a 5 s lease renewed every second) between 4 and 5; near 0, the writer is about to stop sending.", "writer")
	started := r.Counter("wxflow_runs_started_total", "Runs started, by flow.", "flow")
	ended := r.Counter("wxflow_runs_ended_total", "Runs ended, by final status.", "status")
	msgs := r.Counter("wxflow_messages_total", "Outbound messages whose outcome is known, by status (sent, failed, unknown) and reason.", "status", "reason")
	timers := r.Counter("wxflow_timers_fired_total", "Timers (waits, ask timeouts) that resumed a run.")
	lag := r.Gauge("wxflow_timer_lag_seconds", "How late the last timer fired, from its due time.")
	queue := r.Gauge("wxflow_queue_depth", "Work waiting: jobs for the store writer, committed messages for the dispatcher.", "queue")
	ingest := r.Histogram("wxflow_ingest_duration_seconds", "Time from handing an event to the engine to its commit (or to its end when it did not commit).", engine.IngestBuckets)
	refreshes := r.Counter("wxflow_token_refreshes_total", "WeChat access tokens fetched, by account.", "account")
	breaker := r.Gauge("wxflow_send_breaker_state", "An account's sends after a storm of WeChat errors: 0 sending, 1 paused (open), 2 probing (half-open).", "account")
	held := r.Gauge("wxflow_send_held", "Messages held back, pending, while their account's sends are paused.", "account")
	pauses := r.Counter("wxflow_send_pauses_total", "Times an account's sends were paused after a storm of WeChat errors.", "account")
	probes := r.Counter("wxflow_send_probes_total", "Probe messages sent after a pause, by account.", "account")
	pruned := r.Counter(Pruned, "Rows the pruner deleted by retention, by kind (events, locations, runs, messages, uploads).", "kind")
	m.callbacks = r.Counter("wxflow_callbacks_total", "Callbacks answered, by account, event type (empty when rejected) and HTTP status.", "account", "type", "code")
	m.callbackDur = r.Histogram("wxflow_callback_duration_seconds", "Time to answer a callback.", callbackBuckets)
	m.apiCalls = r.Counter("wxflow_wechat_api_calls_total", "WeChat API attempts, by account and API path.", "account", "api")
	m.apiErrors = r.Counter("wxflow_wechat_api_errors_total", "WeChat API attempts that failed, by account, API path and errcode (or http_NNN, network).", "account", "api", "errcode")
	open := r.Gauge(ConversationsOpen, "Open conversations, by the team holding them (empty: no team).", "team")
	firstResponse := r.HistogramVec("wxflow_conversation_first_response_seconds", "Time from people taking a conversation to an operator's first reply, by team (empty: no team).", "team", engine.ConvBuckets)
	resolution := r.HistogramVec("wxflow_conversation_resolution_seconds", "Time conversations stayed open, from opening to closing, by the team holding them when they closed (empty: no team).", "team", engine.ConvBuckets)
	refused := r.Counter("wxflow_replies_refused_total", "Operators' replies refused before they reached WeChat, by reason (window_closed, quota_exhausted, ...).", "reason")
	r.OnCollect(func() {
		s := stats()
		for k, n := range s.Events {
			events.Set(float64(n), string(k))
		}
		dups.Set(float64(s.Duplicates))
		queued.Set(float64(s.Queued))
		dequeued.Set(float64(s.Dequeued))
		lanes.Set(float64(s.Lanes))
		if s.Node {
			renewals.Set(float64(s.LeaseRenewals), "ok")
			renewals.Set(float64(s.LeaseRenewFailures), "failed")
			for i, left := range s.LeaseLeft {
				leaseLeft.Set(max(left.Seconds(), 0), strconv.Itoa(i+1))
			}
		}
		for f, n := range s.RunsStarted {
			started.Set(float64(n), f)
		}
		for st, n := range s.RunsEnded {
			ended.Set(float64(n), string(st))
		}
		for k, n := range s.Messages {
			msgs.Set(float64(n), string(k.Status), string(k.Reason))
		}
		timers.Set(float64(s.TimersFired))
		lag.Set(s.TimerLag.Seconds())
		queue.Set(float64(s.WriterQueue), "writer")
		queue.Set(float64(s.OutboxQueue), "outbox")
		ingest.SetCounts(s.IngestCounts, s.IngestSum)
		for acc, n := range s.SendPauses {
			pauses.Set(float64(n), acc)
			breaker.Set(0, acc)
			held.Set(0, acc)
		}
		for acc, n := range s.SendProbes {
			probes.Set(float64(n), acc)
		}
		for _, p := range s.Paused {
			state := 1.0
			if p.State == "half-open" {
				state = 2
			}
			breaker.Set(state, p.Account)
			held.Set(float64(p.Held), p.Account)
		}
		for k, n := range s.Pruned {
			pruned.Set(float64(n), k)
		}
		for team, h := range s.FirstResponse {
			firstResponse.SetCounts(team, h.Counts, h.Sum)
		}
		for team, h := range s.Resolution {
			resolution.SetCounts(team, h.Counts, h.Sum)
		}
		for reason, n := range s.RepliesRefused {
			refused.Set(float64(n), string(reason))
		}
		m.collectOpen(open)
		m.mu.Lock()
		for acc, fn := range m.refreshes {
			refreshes.Set(float64(fn()), acc)
		}
		m.mu.Unlock()
	})
	return m
}

// ObserveCallback is the callback endpoint's Observe hook.
func (m *Metrics) ObserveCallback(account string, kind channels.Kind, status int, took time.Duration) {
	m.callbacks.Add(1, account, string(kind), strconv.Itoa(status))
	m.callbackDur.Observe(took.Seconds())
}

// ObserveAPI returns the WeChat client's Observe hook for an account.
func (m *Metrics) ObserveAPI(account string) func(path, result string) {
	return func(path, result string) {
		m.apiCalls.Add(1, account, path)
		if result != "0" {
			m.apiErrors.Add(1, account, path, result)
		}
	}
}

// CountRefreshes reads an account's token refresh count at each scrape.
func (m *Metrics) CountRefreshes(account string, count func() int64) {
	m.mu.Lock()
	m.refreshes[account] = count
	m.mu.Unlock()
}

// CountOpenConversations reads the open conversations by team at each
// scrape (engine.Engine.OpenByTeam).
func (m *Metrics) CountOpenConversations(count func(context.Context) (map[string]int, error)) {
	m.mu.Lock()
	m.openByTeam = count
	m.mu.Unlock()
}

// collectOpen sets the open conversations gauge; a team that had some
// and has none now reads 0. A failed read keeps the last counts.
func (m *Metrics) collectOpen(open *Vec) {
	m.mu.Lock()
	count := m.openByTeam
	m.mu.Unlock()
	if count == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), openByTeamTimeout)
	defer cancel()
	counts, err := count(ctx)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for team := range counts {
		m.openTeams[team] = true
	}
	for team := range m.openTeams {
		open.Set(float64(counts[team]), team)
	}
}

// Names of metrics that tools read (wxflow bench).
const (
	// Events counts events ingested, by type.
	Events = "wxflow_events_total"
	// EventDuplicates counts platform retries of stored events.
	EventDuplicates = "wxflow_events_duplicate_total"
	// Pruned counts the rows deleted by retention, by kind.
	Pruned = "wxflow_pruned_total"
	// ConversationsOpen is the open conversations by team.
	ConversationsOpen = "wxflow_conversations_open"
)
