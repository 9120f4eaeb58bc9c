package engine

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// minHold is the shortest a pause the channel reports is waited out, so
// that a channel answering a pause already over cannot make the
// dispatcher spin.
const minHold = time.Second

// SendPause is an account whose sends the channel paused, as the
// dispatcher sees it: messages of the account wait, pending, until a probe
// goes through.
type SendPause struct {
	Account string
	// State is "open" while the pause lasts, "half-open" once it is over
	// and a probe is due or under way.
	State string
	// Since is when the dispatcher first held a message back; Until when
	// the channel lets a probe through.
	Since, Until time.Time
	// Cause is the channel's reason ("5 failures in a row, the last:
	// WeChat answered -1 (system busy)").
	Cause string
	// Held is how many messages wait.
	Held int
}

// holds is the dispatcher's memory of the accounts whose sends the
// channel paused. Their messages (claimed, then held back: pending with
// reason paused in the store) wait here in order; when the pause is over
// the oldest goes alone, as the probe, and once a probe was sent the
// others follow, a batch a round. While an account has messages held,
// its newly claimed messages are held behind them without a send, so
// that nothing overtakes them.
type holds struct {
	mu       sync.Mutex
	accounts map[string]*accountHold
	// pauses counts, by account, the times its sends were paused (each
	// pause once for all the writers, see pauseLedger); probes the probes
	// sent.
	pauses, probes map[string]uint64
	// ledger, shared by an engine's writers, tells whether another
	// writer counted a pause already (nil: none shared).
	ledger *pauseLedger
	// wake is the earliest wake-up armed (zero: none).
	wake time.Time
}

// accountHold is one paused account.
type accountHold struct {
	held         []*OutboxEntry // in ID order
	since, until time.Time
	cause        string
	// resume is set once a probe was sent: the held messages go again.
	resume bool
	// taken are the held messages in the current round; probe is the
	// probe among them (0: none).
	taken map[int64]bool
	probe int64
}

// pauseLedger remembers, by account, the start of the last pause one of
// an engine's writers counted: the channel pauses an account for every
// writer, and each writer holds its messages back, but it is one pause.
type pauseLedger struct {
	mu      sync.Mutex
	counted map[string]time.Time
}

// first reports whether the pause p (the one that made a writer hold an
// account's messages back) is not counted yet, and records it. A pause
// whose start the channel does not tell counts each time.
func (l *pauseLedger) first(account string, p *channels.Paused) bool {
	if l == nil || p == nil || p.Since.IsZero() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.counted[account]; ok && last.Equal(p.Since) {
		return false
	}
	if l.counted == nil {
		l.counted = map[string]time.Time{}
	}
	l.counted[account] = p.Since
	return true
}

// take picks, in a job, the held messages to send in the next round
// (nothing changes until took).
func (h *holds) take(now time.Time) []*OutboxEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*OutboxEntry
	for _, a := range h.accounts {
		switch {
		case a.resume:
			out = append(out, a.held[:min(len(a.held), sendBatch)]...)
		case !now.Before(a.until) && len(a.held) > 0:
			out = append(out, a.held[0])
		}
	}
	slices.SortFunc(out, func(x, y *OutboxEntry) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// took removes the messages of a committed take from the held ones.
func (h *holds) took(taken []*OutboxEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range taken {
		a := h.accounts[o.Account]
		if a == nil {
			continue
		}
		if a.taken == nil {
			a.taken = map[int64]bool{}
		}
		a.taken[o.ID] = true
		if !a.resume {
			a.probe = o.ID
		}
		a.held = slices.DeleteFunc(a.held, func(x *OutboxEntry) bool { return x.ID == o.ID })
	}
}

// holding reports whether o must be held back without a send: its
// account is paused and o is not one of the held messages taken for this
// round.
func (h *holds) holding(o *OutboxEntry) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.accounts[o.Account]
	// Resuming with every held message taken: what follows them in the
	// round may go after them.
	return a != nil && !a.taken[o.ID] && !(a.resume && len(a.held) == 0)
}

// drop forgets the held messages that gone chooses (their lanes moved
// to another node); an account left with none is no longer paused here.
func (h *holds) drop(gone func(*OutboxEntry) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for account, a := range h.accounts {
		a.held = slices.DeleteFunc(a.held, gone)
		if len(a.held) == 0 && len(a.taken) == 0 {
			delete(h.accounts, account)
		}
	}
}

// ids returns the IDs of the messages held, or taken for this round.
func (h *holds) ids() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := []int64{}
	for _, a := range h.accounts {
		for _, o := range a.held {
			ids = append(ids, o.ID)
		}
		for id := range a.taken {
			ids = append(ids, id)
		}
	}
	return ids
}

// any reports whether an account is paused.
func (h *holds) any() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.accounts) > 0
}

// cause returns the cause of an account's pause.
func (h *holds) cause(account string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := h.accounts[account]; a != nil {
		return a.cause
	}
	return ""
}

// settle updates the holds after a round's outcomes were recorded: the
// messages held back join their account's held ones, a pause the channel
// reported starts or extends the account's pause, a probe sent resumes
// it, and an account with nothing held left is no longer paused.
func (h *holds) settle(results [][]sendResult, parked []sendResult, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pauses == nil {
		h.pauses, h.probes = map[string]uint64{}, map[string]uint64{}
	}
	if h.accounts == nil {
		h.accounts = map[string]*accountHold{}
	}
	reported := map[string]bool{}
	for _, r := range parked {
		if a := h.accounts[r.o.Account]; a != nil && a.probe == r.o.ID {
			// A probe the channel held back again (WeChat refused it
			// in the storm): it waits for the next probe.
			h.probes[r.o.Account]++
		}
		a := h.accounts[r.o.Account]
		if a == nil {
			a = &accountHold{since: now, until: now}
			h.accounts[r.o.Account] = a
			if h.ledger.first(r.o.Account, r.paused) {
				h.pauses[r.o.Account]++
			}
		}
		a.held = append(a.held, r.o)
		if p := r.paused; p != nil {
			until := p.Until
			if until.Before(now.Add(minHold)) {
				until = now.Add(minHold)
			}
			if !reported[r.o.Account] || until.After(a.until) {
				a.until = until
			}
			reported[r.o.Account] = true
			a.cause, a.resume = p.Cause, false
		}
	}
	for _, rs := range results {
		for _, r := range rs {
			a := h.accounts[r.o.Account]
			if a == nil || a.probe != r.o.ID {
				continue
			}
			h.probes[r.o.Account]++
			// A probe that was sent resumes the account; one that
			// failed leaves it to the next probe (the channel
			// answers with its next pause).
			a.resume = r.status == OutboxSent && !reported[r.o.Account]
		}
	}
	for acc, a := range h.accounts {
		a.taken, a.probe = nil, 0
		if len(a.held) == 0 && !reported[acc] {
			delete(h.accounts, acc)
			continue
		}
		slices.SortFunc(a.held, func(x, y *OutboxEntry) int { return cmp.Compare(x.ID, y.ID) })
	}
}

// due returns when the dispatcher must look at the holds again: the
// earliest end of a pause not yet armed (zero: none).
func (h *holds) due() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var next time.Time
	for _, a := range h.accounts {
		if !a.resume && (next.IsZero() || a.until.Before(next)) {
			next = a.until
		}
	}
	if next.IsZero() || (!h.wake.IsZero() && !h.wake.After(next)) {
		return time.Time{}
	}
	h.wake = next
	return next
}

// woke forgets an armed wake-up that fired.
func (h *holds) woke(at time.Time) {
	h.mu.Lock()
	if h.wake.Equal(at) {
		h.wake = time.Time{}
	}
	h.mu.Unlock()
}

// report returns the paused accounts and the counters, for Stats.
func (h *holds) report(now time.Time) (paused []SendPause, pauses, probes map[string]uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for acc, a := range h.accounts {
		p := SendPause{Account: acc, State: "open", Since: a.since, Until: a.until, Cause: a.cause, Held: len(a.held) + len(a.taken)}
		if a.resume || !now.Before(a.until) {
			p.State = "half-open"
		}
		paused = append(paused, p)
	}
	slices.SortFunc(paused, func(x, y SendPause) int { return cmp.Compare(x.Account, y.Account) })
	return paused, maps.Clone(h.pauses), maps.Clone(h.probes)
}

// SendPauses returns the accounts whose sends are paused, by account.
func (e *Engine) SendPauses() []SendPause {
	p, _, _ := e.holds.report(e.clock.Now())
	for _, w := range e.more {
		p = mergePauses(p, w.SendPauses())
	}
	return p
}

// mergePauses joins two writers' pauses (the channel pauses an account
// for every writer): one per account, with the messages both hold, the
// earliest start and the latest end, open while either is.
func mergePauses(a, b []SendPause) []SendPause {
	for _, q := range b {
		i := slices.IndexFunc(a, func(p SendPause) bool { return p.Account == q.Account })
		if i < 0 {
			a = append(a, q)
			continue
		}
		p := &a[i]
		p.Held += q.Held
		if q.Since.Before(p.Since) {
			p.Since, p.Cause = q.Since, q.Cause
		}
		if q.Until.After(p.Until) {
			p.Until = q.Until
		}
		if q.State == "open" {
			p.State = "open"
		}
	}
	slices.SortFunc(a, func(x, y SendPause) int { return cmp.Compare(x.Account, y.Account) })
	return a
}

// armHolds arms a wake-up for the end of the earliest pause: the
// dispatcher then sends the probes. It is called by the dispatcher
// before it rests, so that a test that syncs and moves its clock finds
// the wake-up armed.
func (e *Engine) armHolds() {
	at := e.holds.due()
	if at.IsZero() {
		return
	}
	ch := e.clock.After(at.Sub(e.clock.Now()))
	go func() {
		select {
		case <-ch:
			e.holds.woke(at)
			e.kickOutbox()
		case <-e.sendStop:
		}
	}()
}

// heldMarks writes, in a job, what the store must know of a round's held
// messages: those held back now are marked (pending, reason paused: not
// in flight), those taken to be sent again are claimed again.
func heldMarks(w *work, parked []sendResult, taken []*OutboxEntry, causeOf func(string) string) error {
	// The cause the channel gave in this round, else the pause's.
	causes := map[string]string{}
	for _, r := range parked {
		if r.paused != nil {
			causes[r.o.Account] = r.paused.Cause
		}
	}
	for _, r := range parked {
		if r.o.Reason == channels.ReasonPaused {
			continue
		}
		cause, ok := causes[r.o.Account]
		if !ok {
			cause = causeOf(r.o.Account)
		}
		if err := w.tx.FinishOutbox(r.o.ID, OutboxPending, channels.ReasonPaused, 0, "sending paused: "+cause, w.now); err != nil {
			return err
		}
	}
	for _, o := range taken {
		if err := w.tx.FinishOutbox(o.ID, OutboxPending, "", 0, "", w.now); err != nil {
			return err
		}
	}
	return nil
}

// markHeld notes, after the commit, which messages carry the store's mark.
func markHeld(parked []sendResult, taken []*OutboxEntry) {
	for _, o := range taken {
		o.Reason, o.Detail = "", ""
	}
	for _, r := range parked {
		r.o.Reason = channels.ReasonPaused
	}
}
