package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
	"github.com/wxflow/wxflow/triggers"
)

// timerBatch is how many due timers one transaction resumes.
const timerBatch = 512

// timerSet wakes the timer loop, after the commit of a job that set a
// timer due at due, when the loop sleeps past due or is reading what is
// due (a read that began before the commit may have missed it). A job
// setting timers no earlier than the loop's next wake (an ask's timeout,
// a long wait) leaves it asleep: it would otherwise read the store after
// every such commit (measured: 425 rounds, each a transaction and a
// read, for 12,000 callbacks, none of which found a timer due).
func (e *Engine) timerSet(due time.Time) {
	if wake := e.timerWake.Load(); wake == 0 || due.UnixNano() < wake {
		e.kickTimers()
	}
}

// kickTimers wakes the timer loop: a timer or schedule may now be due
// earlier than it thought.
func (e *Engine) kickTimers() {
	select {
	case e.timerKick <- struct{}{}:
	default:
	}
}

// timerLoop resumes runs whose timers are due and fires due schedules, on
// the engine's clock.
func (e *Engine) timerLoop() {
	defer e.wg.Done()
	for {
		// A stop wins over a due timer: work submitted once the writer
		// has stopped would never be answered.
		select {
		case <-e.stop:
			return
		default:
		}
		wait := time.Minute
		// From here until it sleeps, every timer set wakes it again.
		e.timerWake.Store(0)
		// The whole round counts as busy, so that Sync waits for it
		// (its jobs are apart: between two, nothing else would be).
		e.addBusy(1)
		err := e.recallCalls(context.Background())
		if err == nil {
			err = e.fireDue(context.Background())
		}
		e.addBusy(-1)
		if err != nil {
			if errors.Is(err, ErrStopped) {
				return
			}
			// What failed is still due: try again in a while, not at once.
			e.log.Error("timers", "err", err)
			wait = timerRetry
		} else if next, ok, err := e.nextDue(context.Background()); err == nil && ok {
			wait = min(next.Sub(e.clock.Now()), time.Minute)
		}
		e.timerWake.Store(max(e.clock.Now().Add(wait).UnixNano(), 1))
		select {
		case <-e.stop:
			return
		case <-e.timerKick:
		case <-e.clock.After(wait):
		}
	}
}

// timerRetry is how long the timer loop waits after FireDue failed.
const timerRetry = time.Second

// NextDue returns the earliest time a timer or a schedule of the loaded
// flows comes due. (A stored schedule no loaded flow has, before the
// first Load, is not due: FireDue would not fire it.)
func (e *Engine) NextDue(ctx context.Context) (time.Time, bool, error) {
	next, ok, err := e.nextDue(ctx)
	if err != nil {
		return next, ok, err
	}
	return e.nextDueMore(ctx, next, ok)
}

// nextDue is NextDue of this writer's timers, schedules and
// conversations (the timer loop's).
func (e *Engine) nextDue(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	var ok bool
	loaded := map[string]bool{}
	for _, st := range e.flows.Load().index.Schedules() {
		loaded[st.Key] = true
	}
	// Before the read's snapshot: a conversation opened after this
	// load and before the snapshot is seen; one opened after the
	// snapshot changes the count (see closeDue).
	gen := e.closeGen.Load()
	err := e.store.View(ctx, func(tx ReadTx) error {
		t, has, err := tx.NextTimer()
		if err != nil {
			return err
		}
		if has {
			next, ok = t, true
		}
		scheds, err := tx.Schedules()
		if err != nil {
			return err
		}
		for key, due := range scheds {
			if !loaded[key] || due.IsZero() {
				// (Zero: the cron has no next time; it never fires.)
				continue
			}
			if !ok || due.Before(next) {
				next, ok = due, true
			}
		}
		due, has, err := e.closeDue(tx, gen)
		if err == nil && has && (!ok || due.Before(next)) {
			next, ok = due, true
		}
		return err
	})
	return next, ok, err
}

// closeDue returns when the first open conversation of this node's
// contacts comes due for auto_close, as last computed (closeAt), or
// computes it when it is not known. The timer loop asks at every round;
// a read of the oldest conversations at each would cost every batch.
// gen is closeGen loaded before tx's snapshot was taken (its first
// read): loaded later, an opening committed in between counted already
// while the snapshot missed it, and the time computed without it was
// kept (the sandbox's auto-close test, 1 in 100 runs on a busy machine,
// skipped the close the wait had to stop at).
func (e *Engine) closeDue(tx ReadTx, gen uint64) (time.Time, bool, error) {
	if !e.flows.Load().loaded {
		return time.Time{}, false, nil
	}
	switch at := e.closeAt.Load(); at {
	case closeNone:
		return time.Time{}, false, nil
	case closeUnknown:
	default:
		return time.Unix(0, at), true, nil
	}
	due, has, err := e.nextAutoClose(tx)
	if err != nil {
		return due, has, err
	}
	at := int64(closeNone)
	if has {
		at = due.UnixNano()
	}
	// Unless a conversation opened meanwhile: this read may have missed
	// it, so it is read again next time. (Checked again after the swap:
	// an opening between the first check and the swap saw closeAt
	// unknown and could not lower it.)
	if e.closeGen.Load() == gen && e.closeAt.CompareAndSwap(closeUnknown, at) && e.closeGen.Load() != gen {
		e.closeAt.Store(closeUnknown)
	}
	return due, has, nil
}

// The values of Engine.closeAt besides a due time: not known (read it),
// and no open conversation.
const (
	closeUnknown = 0
	closeNone    = math.MaxInt64
)

// closeSoon records, after the commit that opened a conversation of this
// node, that it comes due for auto_close at due: the timer loop wakes for
// it if it is the first.
func (e *Engine) closeSoon(due time.Time) {
	e.closeGen.Add(1)
	n := due.UnixNano()
	for {
		at := e.closeAt.Load()
		if at == closeUnknown || at <= n {
			return
		}
		if e.closeAt.CompareAndSwap(at, n) {
			return
		}
	}
}

// nextAutoClose returns when the first open conversation of this node's
// contacts comes due for auto_close: the earliest in the first page of
// the oldest conversations that holds some of this node's (accounts may
// set different auto_close times). On several nodes, pages of other
// nodes' contacts are read past.
func (e *Engine) nextAutoClose(tx ReadTx) (time.Time, bool, error) {
	st, ok := storeTx[ConversationStore](tx)
	if !ok {
		return time.Time{}, false, nil
	}
	far := e.clock.Now().Add(100 * 365 * 24 * time.Hour)
	var after ConvCursor
	for {
		open, err := st.StaleConversations(far, after, 64)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("open conversations: %w", err)
		}
		var next time.Time
		has := false
		for _, c := range open {
			after = ConvCursor{Seen: c.LastSeen, Account: c.Account, ID: c.ID}
			if e.lanes != nil && !e.lanes.holds(LaneOf(c.Account, c.ID)) {
				continue
			}
			if due := idleSince(c).Add(e.autoClose(c.Account)); !has || due.Before(next) {
				next, has = due, true
			}
		}
		if has || len(open) < 64 {
			return next, has, nil
		}
	}
}

// FireDue resumes every run whose `wait` or `ask` timeout is due by the
// clock's now, earliest first, fires the schedules that are due, and
// wakes the dispatcher when accounts are paused (a pause that ended lets
// its probe go). Each writer's timer loop does so for its own (fireDue);
// tests and the sandbox call it after moving a virtual clock, then Sync
// waits for all of it.
//
// On several writers, a writer's firing of a schedule queues the firings
// of the contacts whose lanes another writer holds; each writer then
// takes its queue, so that Sync waits for those too (they waited for the
// holder's next batch with events, or the queue's notification).
func (e *Engine) FireDue(ctx context.Context) error {
	for _, w := range e.more {
		if err := w.fireDue(ctx); err != nil {
			return err
		}
	}
	if err := e.fireDue(ctx); err != nil || len(e.more) == 0 {
		return err
	}
	for _, w := range e.writers() {
		w.lanes.queued.Store(true)
		if err := w.enqueue(ctx, true, func(*work) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// fireDue is FireDue of this writer's timers, schedules and
// conversations (the timer loop's).
func (e *Engine) fireDue(ctx context.Context) error {
	if e.holds.any() {
		e.kickOutbox()
	}
	for {
		n := 0
		err := e.submit(ctx, func(w *work) error {
			timers, err := w.tx.DueTimers(w.now, timerBatch)
			if err != nil {
				return fmt.Errorf("due timers: %w", err)
			}
			n = len(timers)
			w.quiet = n == 0
			refs := make([]ContactRef, len(timers))
			for i, t := range timers {
				refs[i] = ContactRef{t.Account, t.Contact}
			}
			if err := w.preload(refs); err != nil {
				return err
			}
			for _, t := range timers {
				if !w.direct(t.Account, t.Contact) {
					// Given back meanwhile: the lane's new node fires
					// it (and a page of them must not spin here).
					n = 0
					continue
				}
				if err := w.fireTimer(t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n < timerBatch {
			break
		}
	}
	if err := e.closeStale(ctx); err != nil {
		return err
	}
	return e.fireSchedules(ctx)
}

// fireTimer resumes the run of a due timer, if the timer is still the
// run's current one.
func (w *work) fireTimer(t Timer) error {
	cs, r, err := w.activeRun(t.Account, t.Contact, t.RunID)
	if err != nil {
		return err
	}
	if r == nil || r.Seq != t.Seq || !r.Status.timed() {
		return w.tx.DeleteTimer(t.RunID)
	}
	if r.Status == RunWaitingSend {
		return w.checkSend(cs, r)
	}
	d := w.count()
	d.timers++
	d.lag = w.now.Sub(t.Due)
	in := steps.Input{Kind: steps.Elapsed}
	if r.Status == RunWaitingReply {
		in = steps.Input{Kind: steps.Timeout, Attempts: r.State.Attempts}
	}
	return w.resume(cs, r, in, nil)
}

// scheduleZoneKey is the channel state that keeps the server's time
// zone the stored schedules' due times were computed in.
const scheduleZoneKey = "schedules:zone"

// syncSchedules gives every schedule trigger of a flow set a due time,
// keeping the stored one, and forgets schedules no flow has any more.
// When the server's zone changed since the due times were computed, the
// schedules without a timezone: of their own get theirs again, in the
// new zone (a firing missed while stopped across the change is not
// made up).
func (e *Engine) syncSchedules(tx Tx, fs *flowSet, now time.Time) error {
	stored, err := tx.Schedules()
	if err != nil {
		return err
	}
	zone := e.cfg.Zone.String()
	was, _, seen, err := tx.ChannelState(scheduleZoneKey, now)
	if err != nil {
		return err
	}
	moved := seen && was != zone
	if !seen || moved {
		if err := tx.PutChannelState(scheduleZoneKey, zone, now.AddDate(100, 0, 0), now); err != nil {
			return err
		}
	}
	keep := map[string]bool{}
	for _, st := range fs.index.Schedules() {
		keep[st.Key] = true
	}
	// A schedule a trigger added or removed before it moved among its
	// flow's triggers keeps its due time under its new key (a firing due,
	// or missed while wxflow was stopped, still comes); stored keys are
	// taken in order, each once.
	old := make([]string, 0, len(stored))
	for key := range stored {
		if !keep[key] {
			old = append(old, key)
		}
	}
	// In the order of their places: the same flow's keys differ only in
	// their index.
	slices.SortFunc(old, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	taken := map[string]bool{}
	for _, st := range fs.index.Schedules() {
		recompute := moved && !triggers.OwnZone(st.Trigger)
		if _, ok := stored[st.Key]; ok && !recompute {
			continue
		}
		due := triggers.Next(st.Trigger, now, e.cfg.Zone)
		if _, ok := stored[st.Key]; !ok && !recompute {
			for _, key := range old {
				if !taken[key] && st.Moved(key) {
					taken[key], due = true, stored[key]
					break
				}
			}
		}
		if err := tx.SetSchedule(st.Key, due); err != nil {
			return err
		}
	}
	for key := range stored {
		if !keep[key] {
			if err := tx.DeleteSchedule(key); err != nil {
				return err
			}
		}
	}
	return nil
}

// contactPage is how many contacts one transaction of a schedule visits.
const contactPage = 500

// fireSchedules starts each due schedule's flow for the contacts its
// audience chooses, one page of contacts per transaction. A schedule that
// came due several times while wxflow was stopped fires once. Its next
// due time is stored with the last page, and a contact whose run this
// firing already started is not started again: a stop between two pages
// leaves the schedule due, and the next FireDue finishes the firing,
// neither skipping the contacts of the later pages nor repeating the
// earlier ones.
func (e *Engine) fireSchedules(ctx context.Context) error {
	fs := e.flows.Load()
	for _, st := range fs.index.Schedules() {
		var due time.Time // the due time being fired; zero before the first page
		var afterAccount, afterID string
		for {
			select {
			case <-e.stop:
				return ErrStopped
			default:
			}
			// The job may run more than once (a batch is retried job by
			// job): it reads only these copies and sets the results.
			pageDue, pageAccount, pageID := due, afterAccount, afterID
			var firing bool
			var firedAt time.Time
			var nextAccount, nextID string
			err := e.submit(ctx, func(w *work) error {
				firing, firedAt, nextAccount, nextID = false, time.Time{}, "", ""
				// Quiet unless it fires (see work.quiet).
				w.quiet = true
				if w.e.lanes != nil && !w.e.lanes.holds(0) {
					// The node holding lane 0 fires the schedules.
					return nil
				}
				stored, err := w.tx.Schedules()
				if err != nil {
					return err
				}
				at, ok := stored[st.Key]
				if ok && pageDue.IsZero() && at.After(w.now) {
					if next := triggers.Next(st.Trigger, w.now, e.cfg.Zone); !next.IsZero() && afterNext(st, next, at, e.cfg.Zone) {
						// Computed by a clock ahead of this one (set
						// right since): due at its next time from now.
						w.quiet = false
						return w.tx.SetSchedule(st.Key, next)
					}
				}
				if !ok || at.IsZero() || at.After(w.now) || (!pageDue.IsZero() && !at.Equal(pageDue)) {
					// Not due, fired meanwhile, or never (zero: the cron
					// has no next time, triggers.Next).
					return nil
				}
				firing, firedAt = true, at
				w.quiet = false
				nextAccount, nextID, err = w.scheduleRuns(st, at, pageAccount, pageID)
				if err != nil || nextID != "" {
					return err
				}
				return w.tx.SetSchedule(st.Key, triggers.Next(st.Trigger, w.now, e.cfg.Zone))
			})
			if err != nil {
				return err
			}
			if !firing || nextID == "" {
				break
			}
			due, afterAccount, afterID = firedAt, nextAccount, nextID
		}
	}
	return nil
}

// afterNext reports whether a schedule's stored due time at is later
// than its time after next (its next time from now): no clock that only
// went forward stored it, since every due time is a next time from the
// clock's now of then. It was computed while the clock ran ahead (a
// wrong clock set right again, or another node's clock ahead by more
// than the cron's period); one time later is kept, so that a firing the
// clock ahead of this one fired (the clocks 5 minutes apart around its
// time) is not made again.
func afterNext(st triggers.ScheduleTrigger, next, at time.Time, zone *time.Location) bool {
	then := triggers.Next(st.Trigger, next, zone)
	return !then.IsZero() && at.After(then)
}

// scheduleRuns starts a schedule's flow, for its firing of due, for one
// page of contacts and returns where the next page starts ("" when done).
func (w *work) scheduleRuns(st triggers.ScheduleTrigger, due time.Time, afterAccount, afterID string) (string, string, error) {
	p := w.e.flows.Load().byName[st.Flow.Name]
	if p == nil {
		return "", "", nil
	}
	contacts, err := w.tx.Contacts(st.Flow.Account, afterAccount, afterID, contactPage)
	if err != nil {
		return "", "", err
	}
	for _, c := range contacts {
		if !w.direct(c.Account, c.ID) {
			// Another node holds the contact's lane: it starts the run.
			if err := w.queue(&Queued{Kind: QueuedSchedule, Account: c.Account, Contact: c.ID, Name: st.Key, Due: due}); err != nil {
				return "", "", err
			}
			continue
		}
		if err := w.scheduleContact(st, p, due, c.Account, c.ID); err != nil {
			return "", "", err
		}
	}
	if len(contacts) < contactPage {
		return "", "", nil
	}
	last := contacts[len(contacts)-1]
	return last.Account, last.ID, nil
}

// scheduleContact starts a schedule's flow, for its firing of due, for
// one contact, if the firing applies to them.
func (w *work) scheduleContact(st triggers.ScheduleTrigger, p *program, due time.Time, account, contact string) error {
	cs, err := w.contact(account, contact, false)
	if err != nil {
		return err
	}
	// The firing's time: on a node whose clock is behind the firing
	// node's (a firing queued for this node's contact), its due time,
	// so that the firing's run is known as its own (scheduleApplies).
	at := w.now
	if at.Before(due) {
		at = due
	}
	ev := eventEnvAt("schedule", at)
	ok, err := w.scheduleApplies(cs, p.flow, due, triggers.Audience(st.Trigger), ev)
	if err != nil || !ok {
		return err
	}
	if !st.Trigger.Interrupt {
		// `interrupt: false`: not for a contact who is answering an ask
		// or whose conversation people hold, at this firing.
		if busy, err := w.busy(cs); err != nil || busy {
			return err
		}
	}
	_, err = w.startFlow(cs, p, ev, startOpts{by: "started by its schedule"})
	return err
}

// busy reports whether a contact is in the middle of a conversation that
// a trigger without `interrupt` leaves alone: a run of theirs waits for
// an answer, or people hold their conversation.
func (w *work) busy(cs *contactState) (bool, error) {
	if cs.c.Conv.Held() {
		return true, nil
	}
	waiting, err := w.waitingRun(cs)
	return waiting != nil, err
}

// scheduleOne does a schedule's firing queued for one contact by the
// node that fired it.
//
// A reload that moved the schedule among its flow's triggers gave it
// another key: the firing is the moved schedule's (the same flow, cron
// and zone; ScheduleTrigger.Moved), as its due time is (syncSchedules).
func (w *work) scheduleOne(key string, due time.Time, account, contact string) error {
	fs := w.e.flows.Load()
	all := fs.index.Schedules()
	i := slices.IndexFunc(all, func(st triggers.ScheduleTrigger) bool { return st.Key == key })
	if i < 0 {
		i = slices.IndexFunc(all, func(st triggers.ScheduleTrigger) bool { return st.Moved(key) })
	}
	if i < 0 {
		// The schedule is no longer loaded here (a reload removed it).
		return nil
	}
	st := all[i]
	p := fs.byName[st.Flow.Name]
	if p == nil {
		return nil
	}
	err := w.scheduleContact(st, p, due, account, contact)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// scheduleApplies reports whether a firing of a schedule due at due
// starts its flow for a contact: the firing has not started it already
// (before a stop cut the firing short), the flow is not cooling down, and
// the audience chooses the contact.
func (w *work) scheduleApplies(cs *contactState, f *flows.Flow, due time.Time, audience *flows.Expr, ev flows.EventEnv) (bool, error) {
	runs, err := w.tx.Runs(RunFilter{Account: cs.c.Account, Contact: cs.c.ID, Flow: f.Name, Limit: 1})
	if err != nil {
		return false, err
	}
	if len(runs) > 0 {
		// (Its event's time, not when it started: on a node whose clock
		// is behind the firing node's, this firing's run started before
		// the due time by this clock; scheduleContact.) A run whose time
		// is later than now and the due time was started while the clock
		// ran ahead (set right since): not by this firing.
		latest := w.now
		if latest.Before(due) {
			latest = due
		}
		if last := runs[0].State.Event; last != nil && last.Type == "schedule" && !last.At.Before(due) && !last.At.After(latest) {
			return false, nil
		}
	}
	if cooling, err := w.coolingDown(cs, f); err != nil || cooling {
		return false, err
	}
	if audience == nil {
		return true, nil
	}
	env := w.guardEnv(cs, ev, f)
	ok, err := audience.EvalBool(&env)
	if err != nil {
		w.e.log.Warn("schedule audience failed", "flow", f.Name, "contact", cs.c.ID, "err", err)
		return false, nil
	}
	return ok, nil
}
