package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Retention says how long the store keeps what the engine no longer
// needs. A zero duration keeps that kind of data forever.
type Retention struct {
	// Dedupe is how long an event's dedupe key is kept, to recognise the
	// platform's retries of its callback (WeChat retries within about
	// 15 seconds): at least MinRetention.
	Dedupe time.Duration
	// Locations is how long location reports (LOCATION events, sent as
	// often as every 5 seconds) are kept.
	Locations time.Duration
	// Runs is how long a run is kept after it ended, with its messages.
	Runs time.Duration
	// Messages is how long a finished message (sent, failed, unknown) of
	// a run that ended, or of no run, is kept.
	Messages time.Duration
	// Transcript is how long the other inbound events are kept, as the
	// contact's history.
	Transcript time.Duration
}

// DefaultRetention is what wxflow serve keeps unless configured.
var DefaultRetention = Retention{
	Dedupe:     24 * time.Hour,
	Locations:  24 * time.Hour,
	Runs:       90 * 24 * time.Hour,
	Messages:   90 * 24 * time.Hour,
	Transcript: 90 * 24 * time.Hour,
}

// MinRetention is the shortest retention of any kind: longer than the
// platform's retries of a callback, which must find its event (and the
// passive reply it got).
const MinRetention = time.Minute

// Check returns an error naming the first retention that is neither zero
// (forever) nor at least MinRetention.
func (r Retention) Check() error {
	for _, k := range []struct {
		name string
		d    time.Duration
	}{{"dedupe", r.Dedupe}, {"locations", r.Locations}, {"runs", r.Runs}, {"messages", r.Messages}, {"transcript", r.Transcript}} {
		if k.d < 0 || (k.d > 0 && k.d < MinRetention) {
			return fmt.Errorf("retention %s %s: want 0 (forever) or at least %s", k.name, k.d, MinRetention)
		}
	}
	return nil
}

// keepLonger is the longer of two retentions, zero (forever) being the
// longest.
func keepLonger(a, b time.Duration) time.Duration {
	if a == 0 || b == 0 {
		return 0
	}
	return max(a, b)
}

// PrunerConfig says what a Pruner keeps and how it deletes.
type PrunerConfig struct {
	// Retention says how long each kind of data is kept.
	Retention Retention
	// Every is how often the pruner runs (default 1m).
	Every time.Duration
	// Batch is how many rows one transaction deletes at most (default
	// 500), so that the writer is never held long.
	Batch int
	// Pause is how long the pruner waits, on the engine's clock, before
	// its next batch when the writer has other work waiting (default
	// 200ms), leaving the writer to the hot path; when the writer is idle,
	// batches follow each other. A negative Pause never waits.
	Pause time.Duration
}

// Pruned counts the rows a Pruner deleted.
type Pruned struct {
	// Events are inbound events other than location reports;
	// Locations, location reports.
	Events, Locations int
	// Runs are ended runs; Messages, finished outbox entries (with their
	// runs or on their own).
	Runs, Messages int
	// Uploads are files kept for messages (images operators uploaded).
	Uploads int
}

// Total is the number of rows deleted.
func (p Pruned) Total() int { return p.Events + p.Locations + p.Runs + p.Messages + p.Uploads }

func (p *Pruned) add(q Pruned) {
	p.Events += q.Events
	p.Locations += q.Locations
	p.Runs += q.Runs
	p.Messages += q.Messages
	p.Uploads += q.Uploads
}

// Pruner deletes what the store no longer needs to keep, by the retention
// of each kind: old events (the dedupe keys and the transcript), location
// reports, ended runs and finished messages. It never deletes an active
// run, its timers or its messages, nor a message not yet finished. It
// deletes in small batches, each a job of the engine's writer, and yields
// to the other jobs between them. Start it after the engine and stop it before.
type Pruner struct {
	e   *Engine
	cfg PrunerConfig

	startOnce, stopOnce sync.Once
	stop                chan struct{}
	done                chan struct{}
}

// NewPruner returns a pruner of the engine's store.
func NewPruner(e *Engine, cfg PrunerConfig) (*Pruner, error) {
	if err := cfg.Retention.Check(); err != nil {
		return nil, err
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Pause == 0 {
		cfg.Pause = 200 * time.Millisecond
	}
	return &Pruner{e: e, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start runs the pruner every cfg.Every, beginning now, until Stop or the
// end of ctx.
func (p *Pruner) Start(ctx context.Context) {
	p.startOnce.Do(func() { go p.loop(ctx) })
}

// Stop stops the pruner, waiting for a batch under way to commit. It is
// idempotent.
func (p *Pruner) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	started := true
	p.startOnce.Do(func() { started = false })
	if started {
		<-p.done
	}
}

func (p *Pruner) loop(ctx context.Context) {
	defer close(p.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		n, err := p.Prune(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, ErrStopped):
			return
		case err != nil:
			p.e.log.Warn("pruning the store failed; trying again later", "err", err)
		case n.Total() > 0:
			p.e.log.Info("pruned the store", "events", n.Events, "locations", n.Locations, "runs", n.Runs, "messages", n.Messages, "uploads", n.Uploads)
		}
		select {
		case <-p.e.clock.After(p.cfg.Every):
		case <-ctx.Done():
			return
		}
	}
}

// Prune deletes, batch by batch, everything older than its retention now,
// and returns what it deleted (also when it stops on an error).
func (p *Pruner) Prune(ctx context.Context) (Pruned, error) {
	now := p.e.clock.Now()
	r := p.cfg.Retention
	cutoff := func(d time.Duration) time.Time {
		if d == 0 {
			return time.Time{}
		}
		return now.Add(-d)
	}
	// A run is the record of a flow's cooldown: keep it at least that
	// long.
	runs := r.Runs
	if runs > 0 {
		for _, f := range p.e.Flows().Flows {
			runs = max(runs, f.Cooldown)
		}
	}
	// Messages are looked at in ID order from the first: after is how
	// far this pass got (committed), last how far the batch under way
	// got.
	var after, last int64
	kinds := []struct {
		before time.Time
		// batch deletes a batch; more is false once nothing is left.
		batch func(tx Tx, before time.Time, limit int) (p Pruned, more bool, err error)
		// committed, when set, follows a batch's commit.
		committed func()
	}{
		{cutoff(keepLonger(r.Dedupe, r.Transcript)), func(tx Tx, before time.Time, limit int) (Pruned, bool, error) {
			n, err := tx.PruneEvents(before, false, limit)
			return Pruned{Events: n}, n == limit, err
		}, nil},
		// The notes of the events gone (why they started nothing), a
		// batch at a time too: all at once, a year's notes held the
		// writer for half a minute.
		{cutoff(keepLonger(r.Dedupe, r.Transcript)), func(tx Tx, before time.Time, limit int) (Pruned, bool, error) {
			n, err := tx.PruneEventNotes(before, limit)
			return Pruned{}, n == limit, err
		}, nil},
		{cutoff(keepLonger(r.Dedupe, r.Locations)), func(tx Tx, before time.Time, limit int) (Pruned, bool, error) {
			n, err := tx.PruneEvents(before, true, limit)
			return Pruned{Locations: n}, n == limit, err
		}, nil},
		{cutoff(runs), func(tx Tx, before time.Time, limit int) (Pruned, bool, error) {
			n, m, err := tx.PruneRuns(before, limit)
			return Pruned{Runs: n, Messages: m}, n == limit, err
		}, nil},
		{cutoff(r.Messages), func(tx Tx, before time.Time, limit int) (Pruned, bool, error) {
			n, l, done, err := tx.PruneOutbox(before, now, after, limit)
			last = l
			return Pruned{Messages: n}, !done, err
		}, func() { after = last }},
		// An upload (an operator's image) goes once every message that
		// may name it could have gone: after the longer of the runs' and
		// the messages' retention, and never while a message naming it
		// is pending or being sent.
		{cutoff(keepLonger(runs, r.Messages)), func(tx Tx, before time.Time, limit int) (Pruned, bool, error) {
			us, ok := storeTx[UploadStore](tx)
			if !ok {
				return Pruned{}, false, nil
			}
			n, err := us.PruneUploads(before, limit)
			return Pruned{Uploads: n}, n == limit, err
		}, nil},
	}
	var total Pruned
	for _, k := range kinds {
		if k.before.IsZero() {
			continue
		}
		for {
			var got Pruned
			var more bool
			err := p.e.submit(ctx, func(w *work) error {
				var err error
				got, more, err = k.batch(w.tx, k.before, p.cfg.Batch)
				if err == nil {
					w.count().pruned(got)
				}
				return err
			})
			if err != nil {
				return total, fmt.Errorf("prune: %w", err)
			}
			total.add(got)
			if k.committed != nil {
				k.committed()
			}
			if !more {
				break
			}
			if p.cfg.Pause > 0 && p.e.writerBusy() {
				select {
				case <-p.e.clock.After(p.cfg.Pause):
				case <-ctx.Done():
					return total, ctx.Err()
				}
			}
		}
	}
	return total, nil
}

// writerBusy reports whether jobs other than the caller's are queued for
// the writer or running. The caller's last job may still count as
// running for a moment after its commit was answered: one job in flight
// is not busy.
func (e *Engine) writerBusy() bool {
	e.busyMu.Lock()
	defer e.busyMu.Unlock()
	return e.busy > 1 || len(e.jobs) > 0
}
