package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
)

// ErrNotStarted is returned by StartFlow when the flow's rules kept it
// from starting: the contact unfollowed, the flow is cooling down for
// them, or it runs already and its reentry is `ignore`.
var ErrNotStarted = errors.New("flow not started")

// ErrQueued is returned by StartFlow (and Act) when another node holds
// the contact's lane (on a store shared by several nodes): the start (or
// the action) is queued for that node, which starts the flow, its rules permitting, in a
// moment; no run is returned.
var ErrQueued = errors.New("queued for the node that holds the contact")

// StartFlow starts a loaded flow for a contact the account knows, as
// another system asks (the admin API: a CRM, a shop), and runs it until
// it waits or ends. vars become the run's first variables. The run's
// `event.type` is "api". The flow's cooldown and reentry apply, as for a
// `start:` step; the run does not take the conversation over from a run
// waiting for an answer unless it asks something itself. An unknown flow
// or contact is ErrNotFound.
func (e *Engine) StartFlow(ctx context.Context, account, contact, flow string, vars map[string]any) (*Run, error) {
	if w := e.writerFor(account, contact); w != e {
		return w.StartFlow(ctx, account, contact, flow, vars)
	}
	if account == "" || contact == "" || flow == "" {
		return nil, fmt.Errorf("%w: account, contact and flow are required", ErrBadEvent)
	}
	var run *Run
	var refused error
	err := e.submit(ctx, func(w *work) error {
		run, refused = nil, nil
		p, ok := w.e.flows.Load().byName[flow]
		if !ok {
			refused = fmt.Errorf("%w: no flow %q is loaded", ErrNotFound, flow)
			return nil
		}
		if err := p.serves(account); err != nil {
			refused = badRequest(err)
			return nil
		}
		vars, err := p.flow.FitVars(vars)
		if err != nil {
			refused = badRequest(err)
			return nil
		}
		if !w.direct(account, contact) {
			// The contact's node starts it; what can be told now is.
			c, err := w.tx.Contact(account, contact)
			switch {
			case errors.Is(err, ErrNotFound):
				refused = fmt.Errorf("%w: account %s has no contact %q", ErrNotFound, account, contact)
				return nil
			case err != nil:
				return err
			case !c.Followed:
				refused = fmt.Errorf("%w: %s unfollowed the account", ErrNotStarted, contact)
				return nil
			}
			refused = fmt.Errorf("%w: start of %s for %s", ErrQueued, flow, contact)
			return w.queue(&Queued{Kind: QueuedStart, Account: account, Contact: contact, Name: flow, Vars: maps.Clone(vars)})
		}
		cs, err := w.contact(account, contact, false)
		if errors.Is(err, ErrNotFound) {
			refused = fmt.Errorf("%w: account %s has no contact %q", ErrNotFound, account, contact)
			return nil
		}
		if err != nil {
			return err
		}
		if !cs.c.Followed {
			refused = fmt.Errorf("%w: %s unfollowed the account", ErrNotStarted, contact)
			return nil
		}
		cooling, err := w.coolingDown(cs, p.flow)
		if err != nil {
			return err
		}
		if cooling {
			refused = fmt.Errorf("%w: %s is cooling down for %s (cooldown %s)", ErrNotStarted, flow, contact, p.flow.Cooldown)
			return nil
		}
		r, err := w.startFlow(cs, p, eventEnvAt("api", w.now), startOpts{by: startedByAPI, vars: maps.Clone(vars)})
		if err != nil {
			return err
		}
		if r == nil {
			refused = fmt.Errorf("%w: %s runs already for %s (reentry: ignore)", ErrNotStarted, flow, contact)
			return nil
		}
		copied := *r
		run = &copied
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start %s for %s: %w", flow, contact, err)
	}
	return run, refused
}

// StepAt returns the step of a flow at a run's position (Run.Pos), or nil
// when the position is past the end of the flow or does not fit it.
func (e *Engine) StepAt(f *flows.Flow, pos string) *flows.Step {
	path, err := parsePos(pos)
	if err != nil || f == nil {
		return nil
	}
	return e.programFor(f).at(path)
}

// Window describes a contact's session as the account's policy sees it
// now: open or not, until when, and the replies left.
func (e *Engine) Window(account string, s channels.Session) channels.Window {
	return e.cfg.Channel.Policy(account).Window(s, e.clock.Now())
}

// FlowVersion returns the flow of a stored version (the one a run keeps),
// loading it from the store when it is not in memory.
func (e *Engine) FlowVersion(ctx context.Context, version string) (*flows.Flow, error) {
	var p *program
	err := e.store.View(ctx, func(tx ReadTx) error {
		var err error
		p, err = e.version(tx, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p.flow, nil
}

// CheckWrite reports whether the store takes writes: it commits a small
// write through the writer, as an event would be (a read-only file or a
// lost database fail it), and reports the last failed commit of the
// engine's own work when none succeeded since (a full disk can take the
// check's small row and refuse every event). Health checks call it.
func (e *Engine) CheckWrite(ctx context.Context) error {
	for _, w := range e.more {
		if err := w.CheckWrite(ctx); err != nil {
			return err
		}
	}
	err := e.enqueueJob(ctx, false, &job{probe: true, done: make(chan error, 1), fn: func(w *work) error {
		return w.tx.PutChannelState(healthKey, w.now.UTC().Format(time.RFC3339Nano), w.now.Add(time.Hour), w.now)
	}})
	if err != nil {
		return fmt.Errorf("store write check: %w", err)
	}
	if last := e.commitErr.Load(); last != nil {
		return fmt.Errorf("store write check: the last commit failed: %w", *last)
	}
	return nil
}

// healthKey is the channel-state row CheckWrite writes.
const healthKey = "wxflow:health"
