package engine

import (
	"errors"
	"time"

	"github.com/wxflow/wxflow/steps"
)

// sendCheckEvery is how often a run waiting for a message's outcome (a
// `send` with on_fail) looks at the outbox, when the dispatcher did not
// resume it: after a restart, while its account is paused, or when
// another node took the contact's lane.
const sendCheckEvery = time.Minute

// timed reports whether a run with this status has a timer.
func (s RunStatus) timed() bool {
	return s == RunWaitingReply || s == RunWaitingTime || s == RunWaitingSend
}

// awaitable reports whether the last message the run reserved goes
// through the dispatcher, so that its outcome comes later.
func (x *runner) awaitable() bool {
	return x.last != nil && x.last.Status == OutboxPending
}

// awaitSend suspends the run until its last message has an outcome: the
// dispatcher resumes it when it records one (resumeSenders), and a timer
// looks at the outbox now and then in case it does not (checkSend).
func (x *runner) awaitSend() error {
	o := x.last
	o.awaited = true
	x.run.State.Awaits = o.ID
	x.run.State.Attempts = 0
	return x.suspend(RunWaitingSend, x.w.now.Add(sendCheckEvery))
}

// sentInput is the input that resumes a run waiting for a message with
// this outcome, and whether the outcome is final.
func sentInput(status OutboxStatus, reason string) (steps.Input, bool) {
	switch status {
	case OutboxSent:
		return steps.Input{Kind: steps.Sent}, true
	case OutboxUnknown:
		return steps.Input{Kind: steps.Sent, Reason: string(OutboxUnknown)}, true
	case OutboxFailed:
		return steps.Input{Kind: steps.Sent, Failed: true, Reason: reason}, true
	}
	return steps.Input{}, false
}

// resumeSenders resumes, with their messages' outcomes, the runs that
// wait for them (in the job that records the outcomes).
func (w *work) resumeSenders(results [][]sendResult) error {
	for _, rs := range results {
		for _, r := range rs {
			if !r.o.awaited {
				continue
			}
			in, final := sentInput(r.status, string(r.reason))
			if !final || !w.direct(r.o.Account, r.o.Contact) {
				continue
			}
			if err := w.resumeSender(r.o.Account, r.o.Contact, r.o.RunID, r.o.ID, in); err != nil {
				return err
			}
		}
	}
	return nil
}

// resumeSender resumes a run with the outcome of the message it waits
// for, if it still waits for that one.
func (w *work) resumeSender(account, contact string, runID, outboxID int64, in steps.Input) error {
	cs, r, err := w.activeRun(account, contact, runID)
	if err != nil || r == nil || r.Status != RunWaitingSend || r.State.Awaits != outboxID {
		return err
	}
	r.State.Awaits = 0
	return w.resume(cs, r, in, nil)
}

// checkSend looks at the message a run waits for when its timer fires:
// with an outcome, the run resumes; without one yet, it waits on.
func (w *work) checkSend(cs *contactState, r *Run) error {
	o, err := w.tx.OutboxEntry(r.State.Awaits)
	if errors.Is(err, ErrNotFound) {
		// Pruned: it was finished long ago, and not failed as far as
		// anyone knows.
		o, err = &OutboxEntry{ID: r.State.Awaits, Status: OutboxUnknown}, nil
	}
	if err != nil {
		return err
	}
	if in, final := sentInput(o.Status, string(o.Reason)); final {
		r.State.Awaits = 0
		return w.resume(cs, r, in, nil)
	}
	return w.setTimer(Timer{RunID: r.ID, Seq: r.Seq, Due: w.now.Add(sendCheckEvery), Account: r.Account, Contact: r.Contact})
}
