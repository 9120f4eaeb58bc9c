package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// An engine of several writers (Config.Writers) runs an engine of its own
// on each store besides its own: each is a node of the store's (Node),
// with its writer, its transactions, its dispatcher and its timers,
// holding a share of the lanes as any node does. The engine hands a
// contact's work to the writer that holds the contact's lane; when none
// of them does (another process's node holds it, or it is moving), to
// its own, which queues it for the lane's holder as any node does. So
// everything that holds of several nodes holds of the writers (each
// contact's order, fencing, recovery per lane, one firing of each cron),
// and the database runs their transactions side by side: one writer
// waits for the server most of the time (a PostgreSQL backend runs its
// statements one after another), and two keep two backends busy.

// DefaultNodeWriters is how many writers (the engine's own and
// Config.Writers) a node on a store shared by several nodes runs unless
// configured otherwise: on a 2-core machine, two ingested 1.4-2.6 times
// what one did on PostgreSQL, four no more than two (docs/benchmarks.md).
const DefaultNodeWriters = 2

// addWriters builds the engines of the other writers.
func (e *Engine) addWriters(stores []Store) error {
	if len(stores) == 0 {
		return nil
	}
	if e.lanes == nil {
		return errors.New("engine: Writers need a store shared by several nodes (PostgreSQL)")
	}
	for i, st := range stores {
		// The engine's own store is writer 1's.
		n := i + 2
		if _, ok := st.(Node); !ok {
			return fmt.Errorf("engine: writer %d: its store is not shared by several nodes (PostgreSQL)", n)
		}
		cfg := e.cfg
		cfg.Store = st
		cfg.Logger = e.log.With("writer", n)
		w, err := New(cfg)
		if err != nil {
			return fmt.Errorf("engine: writer %d: %w", n, err)
		}
		w.parent = e
		w.stats = e.stats
		w.holds.ledger = e.holds.ledger
		e.more = append(e.more, w)
	}
	return nil
}

// writers returns the engine's writers: itself, then the others.
func (e *Engine) writers() []*Engine {
	return append([]*Engine{e}, e.more...)
}

// writerFor returns the writer that holds a contact's lane, or e when
// none does (or e has one writer).
func (e *Engine) writerFor(account, contact string) *Engine {
	if len(e.more) == 0 {
		return e
	}
	lane := LaneOf(account, contact)
	for _, w := range e.more {
		if w.lanes.holds(lane) {
			return w
		}
	}
	return e
}

// top returns the engine that runs this writer (itself when it is not
// one of another's).
func (e *Engine) top() *Engine {
	if e.parent != nil {
		return e.parent
	}
	return e
}

// startWriters starts an engine of several writers: each joins the
// store's nodes before any takes lanes (each takes its share at once),
// then each starts. When one cannot, those started stop and nothing is
// left running.
func (e *Engine) startWriters(ctx context.Context) error {
	all := e.writers()
	joined := 0
	for _, w := range all {
		if err := w.joinNode(ctx); err != nil {
			for _, j := range all[:joined] {
				close(j.lanes.renewStop)
				j.wg.Wait()
			}
			return fmt.Errorf("start engine: %w", err)
		}
		joined++
	}
	for i, w := range all {
		var err error
		w.startOnce.Do(func() { err = w.start(ctx) })
		if err != nil {
			// w.start closed its own renewal; the later ones never
			// started theirs.
			for _, j := range all[i+1:] {
				close(j.lanes.renewStop)
				j.wg.Wait()
			}
			stopAll(all[:i])
			return err
		}
	}
	return nil
}

// stopAll stops writers together: each finishes its sends and
// transactions, then each leaves its lanes (so that none takes the
// lanes another just left while stopping itself).
func stopAll(all []*Engine) {
	var wg sync.WaitGroup
	for _, w := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.halt()
		}()
	}
	wg.Wait()
	for _, w := range all {
		w.leave()
	}
}

// syncMore is Sync over the other writers.
func (e *Engine) syncMore(ctx context.Context) error {
	for _, w := range e.more {
		if err := w.Sync(ctx); err != nil {
			return err
		}
	}
	return nil
}

// nextDueMore is the earliest of the other writers' NextDue and next.
func (e *Engine) nextDueMore(ctx context.Context, next time.Time, ok bool) (time.Time, bool, error) {
	for _, w := range e.more {
		t, has, err := w.nextDue(ctx)
		if err != nil {
			return next, ok, err
		}
		if has && (!ok || t.Before(next)) {
			next, ok = t, true
		}
	}
	return next, ok, nil
}
