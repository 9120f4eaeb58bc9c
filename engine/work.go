package engine

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
)

// work is one job's view of the writer's transaction: the contacts it
// touched (written back when the job ends) and what to do after the
// commit.
type work struct {
	e   *Engine
	tx  Tx
	now time.Time
	// order are the contacts the job loaded, in order; contacts indexes
	// them once there are more than smallJob (nil before: a job of a few
	// contacts, most of them, finds them in order without a map).
	contacts map[ContactRef]*contactState
	order    []*contactState
	after    []func()
	// received is when the queued event being done was received by the
	// node that queued it (zero otherwise).
	received time.Time
	sends    bool
	// quiet is set by a job that found nothing to do (no timer due, no
	// message to claim): it wrote nothing, so its commit says nothing of
	// whether the store takes writes (see Engine.commitErr).
	quiet bool
	// timerDue is the earliest due time of the timers the job set (zero:
	// none).
	timerDue time.Time
	// passive is set in the job of a callback that may get a passive
	// reply.
	passive *passiveReq
	// reserved are the contacts this job's transaction reserved messages
	// for the API for (shared with the other jobs of the transaction).
	reserved map[ContactRef]bool
	// stats is what the job counted (nil until it counts something).
	stats *statDelta
	// recorded is the job's event when the writer recorded it ahead of
	// the job, with the batch's others (recordEvents).
	recorded *recordedEvent
	// draining is set for the work that does queued items: they are
	// handled here, never queued again.
	draining bool
	// convDepth is how deep conversation triggers started flows that
	// changed the conversation again (see maxConvDepth).
	convDepth int
}

// contactState is a contact, its session and its active runs, loaded
// once per job.
type contactState struct {
	c        *Contact
	s        channels.Session
	policy   channels.Policy
	dirtyC   bool
	dirtyS   bool
	active   []*Run
	activeOK bool
	// created is set for a contact this job made (first seen now).
	created bool
}

func newWork(e *Engine, tx Tx) *work {
	return &work{e: e, tx: tx, now: e.clock.Now()}
}

// run runs a job and writes back the contacts it changed.
func (w *work) run(fn func(w *work) error) error {
	if err := fn(w); err != nil {
		return err
	}
	changed := false
	for _, cs := range w.order {
		changed = changed || cs.dirtyC
		if cs.dirtyC {
			if err := w.tx.PutContact(cs.c); err != nil {
				return err
			}
		}
		if cs.dirtyS {
			if err := w.tx.PutSession(cs.c.Account, cs.c.ID, cs.s); err != nil {
				return err
			}
		}
	}
	if w.sends {
		w.after = append(w.after, w.e.kickOutbox)
	}
	if changed && w.e.changesWanted() {
		w.after = append(w.after, w.e.notifyChanged)
	}
	if due := w.timerDue; !due.IsZero() {
		w.after = append(w.after, func() { w.e.timerSet(due) })
	}
	return nil
}

// setTimer sets a run's timer, and notes its due time for the timer
// loop (timerSet, after the commit).
func (w *work) setTimer(t Timer) error {
	if w.timerDue.IsZero() || t.Due.Before(w.timerDue) {
		w.timerDue = t.Due
	}
	return w.tx.SetTimer(t)
}

// contact loads a contact's state; create makes a new contact when there
// is none.
func (w *work) contact(account, id string, create bool) (*contactState, error) {
	if cs := w.loaded(ContactRef{account, id}); cs != nil {
		return cs, nil
	}
	c, err := w.tx.Contact(account, id)
	created := false
	switch {
	case errors.Is(err, ErrNotFound):
		if !create {
			return nil, err
		}
		c = &Contact{Account: account, ID: id, FirstSeen: w.now, LastSeen: w.now, Fields: map[string]any{}}
		created = true
	case err != nil:
		return nil, fmt.Errorf("contact %s: %w", id, err)
	}
	// A session is only ever written with its contact: a new contact has
	// none.
	var s channels.Session
	if !created {
		if s, _, err = w.tx.Session(account, id); err != nil {
			return nil, fmt.Errorf("session of %s: %w", id, err)
		}
	}
	// Nor has it any runs.
	cs := &contactState{c: c, s: s, dirtyC: created, activeOK: created, created: created}
	w.keep(cs)
	return cs, nil
}

// forget drops a contact's loaded state from the job (a savepoint that
// changed it was rolled back): it is read again when needed, and not
// written back.
func (w *work) forget(account, id string) {
	k := ContactRef{account, id}
	if w.loaded(k) == nil {
		return
	}
	delete(w.contacts, k)
	for i, cs := range w.order {
		if cs.c.Account == account && cs.c.ID == id {
			w.order = append(w.order[:i], w.order[i+1:]...)
			break
		}
	}
}

// smallJob is how many contacts a job finds in order before it indexes
// them (a map per job was 3% of a follow ingest's allocations).
const smallJob = 8

// loaded returns the job's state of a contact, nil when it has not
// loaded it.
func (w *work) loaded(k ContactRef) *contactState {
	if w.contacts != nil {
		return w.contacts[k]
	}
	for _, cs := range w.order {
		if cs.c.ID == k.ID && cs.c.Account == k.Account {
			return cs
		}
	}
	return nil
}

// keep adds a loaded contact to the job.
func (w *work) keep(cs *contactState) {
	cs.policy = w.e.cfg.Channel.Policy(cs.c.Account)
	w.order = append(w.order, cs)
	switch {
	case w.contacts != nil:
		w.contacts[ContactRef{cs.c.Account, cs.c.ID}] = cs
	case len(w.order) > smallJob:
		w.contacts = make(map[ContactRef]*contactState, 2*len(w.order))
		for _, o := range w.order {
			w.contacts[ContactRef{o.c.Account, o.c.ID}] = o
		}
	}
}

// preload loads many contacts with their sessions and active runs in
// two reads, for a job that will touch them all (a batch of due timers).
// Contacts the job has loaded, and contacts that do not exist, are left
// to contact.
func (w *work) preload(refs []ContactRef) error {
	todo := refs[:0:0]
	seen := map[ContactRef]bool{}
	for _, r := range refs {
		if r.ID != "" && !seen[r] && w.loaded(r) == nil {
			seen[r] = true
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	contacts, err := w.tx.ContactsOf(todo)
	if err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	runs, err := w.tx.ActiveRunsOf(todo)
	if err != nil {
		return fmt.Errorf("active runs: %w", err)
	}
	byContact := map[ContactRef][]*Run{}
	for _, r := range runs {
		k := ContactRef{r.Account, r.Contact}
		byContact[k] = append(byContact[k], r)
	}
	for _, c := range contacts {
		s, _, err := w.tx.Session(c.Account, c.ID)
		if err != nil {
			return fmt.Errorf("session of %s: %w", c.ID, err)
		}
		w.keep(&contactState{c: c, s: s, active: byContact[ContactRef{c.Account, c.ID}], activeOK: true})
	}
	return nil
}

// activeRuns returns the contact's runs that have not ended.
func (w *work) activeRuns(cs *contactState) ([]*Run, error) {
	if !cs.activeOK {
		runs, err := w.tx.Runs(RunFilter{Account: cs.c.Account, Contact: cs.c.ID, Active: true})
		if err != nil {
			return nil, fmt.Errorf("runs of %s: %w", cs.c.ID, err)
		}
		cs.active, cs.activeOK = runs, true
	}
	return cs.active, nil
}

// activeRun returns a run with its contact's state, when the run is still
// active: the contact's copy of it, so that one job changes one copy.
// account and contact may be "" when unknown; the run is then read first.
func (w *work) activeRun(account, contact string, id int64) (*contactState, *Run, error) {
	if contact == "" {
		r, err := w.tx.Run(id)
		if errors.Is(err, ErrNotFound) {
			return nil, nil, nil
		}
		if err != nil || !r.Status.Active() {
			return nil, nil, err
		}
		account, contact = r.Account, r.Contact
	}
	cs, err := w.contact(account, contact, false)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	runs, err := w.activeRuns(cs)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range runs {
		if r.ID == id {
			return cs, r, nil
		}
	}
	return cs, nil, nil
}

// forget drops an ended run from the contact's active runs.
func (cs *contactState) forget(r *Run) {
	for i, a := range cs.active {
		if a.ID == r.ID {
			cs.active = append(cs.active[:i], cs.active[i+1:]...)
			return
		}
	}
}

// remember adds a run to the contact's active runs, replacing a stale
// copy of it.
func (cs *contactState) remember(r *Run) {
	cs.forget(r)
	cs.active = append(cs.active, r)
	sort.Slice(cs.active, func(i, j int) bool { return cs.active[i].ID < cs.active[j].ID })
}

// window is the contact's session as flows see it now.
func (w *work) window(cs *contactState) flows.WindowEnv {
	win := cs.policy.Window(cs.s, w.now)
	return flows.WindowEnv{Open: win.Open, ExpiresAt: w.local(win.ExpiresAt), QuotaLeft: win.QuotaLeft}
}

// local is t in the server's zone (the config's), as flows see every
// time; the zero time stays zero.
func (w *work) local(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(w.e.cfg.Zone)
}

// contactEnv is the `contact` of expressions.
func (w *work) contactEnv(cs *contactState) flows.ContactEnv {
	return flows.ContactEnv{
		ID: cs.c.ID, Tags: cs.c.Tags, Fields: cs.c.Fields, Followed: cs.c.Followed,
		FirstSeen: w.local(cs.c.FirstSeen), LastSeen: w.local(cs.c.LastSeen), Window: w.window(cs),
	}
}

// endRun ends a run that is not running now (interrupted, restarted,
// unfollowed).
func (w *work) endRun(cs *contactState, r *Run, status RunStatus, why string) error {
	hadTimer := r.Status.timed()
	r.Status = status
	r.Seq++
	r.UpdatedAt, r.EndedAt = w.now, w.now
	if why != "" {
		r.State.Error = why
	}
	r.State.Request = nil
	what := "ended: " + string(status)
	if why != "" {
		what += " (" + why + ")"
	}
	r.trail(TrailEntry{At: w.now, Step: r.Step, What: what})
	w.count().runEnded(status)
	if err := w.tx.UpdateRun(r); err != nil {
		return err
	}
	if hadTimer {
		if err := w.tx.DeleteTimer(r.ID); err != nil {
			return err
		}
	}
	cs.forget(r)
	return nil
}
