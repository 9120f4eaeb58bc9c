package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
	"github.com/wxflow/wxflow/triggers"
)

// ErrBadEvent is returned by Ingest for an event it cannot take.
var ErrBadEvent = errors.New("bad event")

// badInput is a request's mistake that is ErrBadEvent (a 400) and says
// only what is wrong, without "bad event:" before it (a flow's
// variables, the account a flow serves).
type badInput struct{ err error }

func (b badInput) Error() string { return b.err.Error() }

// Is makes it ErrBadEvent.
func (b badInput) Is(target error) bool { return target == ErrBadEvent }

// Unwrap gives the mistake.
func (b badInput) Unwrap() error { return b.err }

// badRequest wraps err as a badInput.
func badRequest(err error) error { return badInput{err} }

// Ingest takes one inbound event. In one transaction, shared with other
// events arriving at the same time, it dedupes the event, creates or
// updates the contact, opens or refreshes the contact's session, and then
// delivers the event to the contact's run waiting for an answer or starts
// the flow the triggers pick. It returns after the commit: an event
// Ingest accepted is never lost. A duplicate (a platform retry) is
// accepted and changes nothing. When ctx ends first, Ingest returns
// without waiting further: the event was not accepted, though it may
// still be committed (its retry then finds it).
func (e *Engine) Ingest(ctx context.Context, ev channels.Event) error {
	if w := e.writerFor(ev.Account, ev.Contact); w != e {
		return w.Ingest(ctx, ev)
	}
	return e.ingest(ctx, ev, nil)
}

// ingest submits an event's job; setup, when set, prepares each attempt
// of the job.
func (e *Engine) ingest(ctx context.Context, ev channels.Event, setup func(w *work)) error {
	if ev.Account == "" || ev.Contact == "" || ev.Kind == "" {
		return fmt.Errorf("%w: account, contact and kind are required", ErrBadEvent)
	}
	start := time.Now()
	defer func() { e.stats.observeIngest(time.Since(start)) }()
	given := ev
	return e.enqueueJob(ctx, false, &job{fn: func(w *work) error {
		if setup != nil {
			setup(w)
		}
		// Each attempt starts from the event as given.
		attempt := ev
		return w.ingest(&attempt)
	}, done: make(chan error, 1), ev: &given, leave: setup == nil})
}

func (w *work) ingest(ev *channels.Event) error {
	if ev.At.IsZero() {
		ev.At = w.now
	}
	key := ev.DedupeKey()
	// When it was received: now, or, for an event another node received
	// and queued, when that node did (WeChat's window opened then, not
	// when this node took the lane).
	at := w.now
	if r := w.received; !r.IsZero() && r.Before(at) {
		at = r
	}
	var added bool
	if r := w.recorded; r != nil && r.key == key {
		// The writer recorded it with the batch's other events, having
		// found that this job handles it (direct).
		w.recorded = nil
		added = r.added
	} else {
		if !w.direct(ev.Account, ev.Contact) {
			// Another node holds the contact's lane (or work queued for it
			// waits): it handles the event, in order.
			w.count().queued++
			return w.queue(&Queued{Kind: QueuedEvent, Account: ev.Account, Contact: ev.Contact, Key: key,
				Event: &EventRecord{Key: key, Event: *ev, ReceivedAt: at}})
		}
		var err error
		if added, err = w.tx.AddEvent(&EventRecord{Key: key, Event: *ev, ReceivedAt: at}); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
	p := w.passive
	if p != nil && p.key == (ContactRef{ev.Account, ev.Contact}) {
		p.event = key
	}
	if !added {
		w.count().duplicates++
		if p != nil && p.event == key {
			return w.retryReply(key)
		}
		return nil
	}
	w.count().event(ev.Kind)
	cs, err := w.contact(ev.Account, ev.Contact, true)
	if err != nil {
		return err
	}
	interaction := ev.Kind.Interaction()
	// The window opens when the contact acted: the platform's time of
	// the event (WeChat's CreateTime) when that is earlier than its
	// arrival. A retry of an older interaction arriving after a newer one
	// (its first tries got no answer in time) is then seen as older, and
	// changes nothing (Interact).
	opened := at
	if ev.At.Before(opened) {
		opened = ev.At
	}
	if interaction != channels.NoInteraction && unfollowedSince(cs, ev.Kind, opened) {
		// A retry of an interaction from before the contact unfollowed
		// (its first tries got no answer in time, the unfollow was
		// stored meanwhile): stored, and flows see it, but it neither
		// follows again nor opens a window or a conversation. (It made
		// the contact a follower again: flows replied, and WeChat
		// refused with 43004.)
		interaction = channels.NoInteraction
	}
	if interaction != channels.NoInteraction || ev.Kind == channels.Unfollow {
		cs.s = cs.policy.Interact(cs.s, ev.Kind, opened)
		cs.dirtyS = true
		cs.c.LastSeen = at
		cs.c.Followed = ev.Kind != channels.Unfollow
		cs.dirtyC = true
		ref := ContactRef{ev.Account, ev.Contact}
		if ev.Kind == channels.Unfollow {
			w.after = append(w.after, func() { w.e.unfollowed.note(ref, at) })
		} else if w.e.unfollowed.some.Load() {
			w.after = append(w.after, func() { w.e.unfollowed.forget(ref) })
		}
	} else if cs.created && (ev.Kind == channels.View || ev.Kind == channels.LocationReport) {
		// Only followers open the account's menu links and report their
		// location: a contact first seen through one of those follows,
		// with no window open. (An event of another kind says nothing.)
		cs.c.Followed, cs.s.Followed = true, true
		cs.dirtyS = true
	}
	fs := w.e.flows.Load()
	evEnv := eventEnv(ev)
	// The conversation: an interaction opens it (its `conversation:
	// opened` triggers compete with the event's own), an unfollow closes
	// it (its `closed` ones compete with the `unfollow` triggers).
	var convCands []triggers.Candidate
	conv := &cs.c.Conv
	if ev.Kind == channels.Unfollow {
		runs, err := w.activeRuns(cs)
		if err != nil {
			return err
		}
		for _, r := range append([]*Run(nil), runs...) {
			if err := w.endRun(cs, r, RunUnfollowed, "the contact unfollowed"); err != nil {
				return err
			}
		}
		closed, err := w.closeConv(cs, "unfollow", "", "")
		if err != nil {
			return err
		}
		if closed {
			convCands = w.convCandidates(ev.Account, "closed")
		}
	} else if interaction != channels.NoInteraction {
		opened, err := w.openConv(cs, byContact)
		if err != nil {
			return err
		}
		if opened {
			convCands = w.convCandidates(ev.Account, "opened")
		}
		if conv.Held() && conv.WaitingSince.IsZero() && ev.Kind.IsMessage() {
			conv.WaitingSince = w.now
		}
	}
	// People hold the conversation: only triggers that interrupt (and
	// events, which do by default) start flows.
	held := conv.Held()
	in := triggers.Input{Account: ev.Account, Kind: string(ev.Kind), Scene: ev.Scene, Key: ev.Key, Text: ev.Text}
	if ev.Kind == channels.MenuClick && ev.Text != "" {
		// A tap on a message-menu item is a text message on WeChat (one
		// carrying bizmsgmenuid), not a click of the account's menu: the
		// triggers see its text, so that it answers the ask that showed
		// the menu unless an interrupting keyword takes it.
		in = triggers.Input{Account: ev.Account, Kind: string(channels.Text), Text: ev.Text}
	}
	cands := fs.index.Match(in)
	if len(convCands) > 0 {
		cands = triggers.Merge(cands, convCands)
	}
	// A message, or a tap on a message-menu item, answers the run that
	// waits for one, unless a trigger that interrupts matches.
	answers := ev.Kind.IsMessage() || (ev.Kind == channels.MenuClick && ev.Text != "")
	var waiting *Run
	if interaction != channels.NoInteraction {
		if waiting, err = w.waitingRun(cs); err != nil {
			return err
		}
	}
	var pick *triggers.Candidate
	for i := range cands {
		c := &cands[i]
		if (waiting != nil || held) && !c.Trigger.Interrupt {
			continue
		}
		ok, err := w.guard(cs, c, evEnv)
		if err != nil {
			return err
		}
		if ok {
			pick = c
			break
		}
	}
	if pick != nil {
		env := evEnv
		env.Match = pick.Match
		if pick.Trigger.Kind == "conversation" {
			// A conversation trigger's flow sees a conversation event,
			// as when an operator or auto_close changes it (the text
			// that opened it is kept).
			env = eventEnvAt("conversation", evEnv.At)
			env.Key, _ = pick.Trigger.Arg.(string)
			env.Text = evEnv.Text
		}
		r, err := w.startFlow(cs, fs.byName[pick.Flow.Name], env, startOpts{interactive: true, by: "started by " + eventWords(env)})
		if err != nil || r != nil {
			return err
		}
		// Its reentry kept it from starting.
		return w.nothingHappened(cs, ev, in, cands, waiting, pick)
	}
	if waiting != nil && answers {
		return w.answer(cs, waiting, evEnv)
	}
	return w.nothingHappened(cs, ev, in, cands, waiting, nil)
}

// unfollowedSince reports whether an interaction of kind k, made at at,
// is older than the contact's unfollow: the contact does not follow (an
// unfollow closed the session), and the unfollow arrived (LastSeen, which
// only interactions and unfollows move) after at. A follow always counts:
// only a follower can write, click or scan, while following again is
// what an unfollowed contact does.
func unfollowedSince(cs *contactState, k channels.Kind, at time.Time) bool {
	return k != channels.Follow && !cs.created && !cs.s.Followed && cs.s.Closed && at.Before(cs.c.LastSeen)
}

// waitingRun returns the contact's run waiting for an answer (an ask), or
// nil.
func (w *work) waitingRun(cs *contactState) (*Run, error) {
	runs, err := w.activeRuns(cs)
	if err != nil {
		return nil, err
	}
	var waiting *Run
	for _, r := range runs {
		if r.Status == RunWaitingReply {
			waiting = r
		}
	}
	return waiting, nil
}

// guard reports whether a matching trigger may start its flow: its `if:`
// is true and the flow is not cooling down for the contact.
func (w *work) guard(cs *contactState, c *triggers.Candidate, ev flows.EventEnv) (bool, error) {
	if c.Trigger.If != nil {
		ev.Match = c.Match
		env := w.guardEnv(cs, ev, c.Flow)
		ok, err := c.Trigger.If.EvalBool(&env)
		if err != nil {
			w.e.log.Warn("trigger condition failed", "flow", c.Flow.Name, "line", c.Trigger.Pos.Line, "err", err)
			return false, nil
		}
		if !ok {
			return false, nil
		}
	}
	cooling, err := w.coolingDown(cs, c.Flow)
	return !cooling && err == nil, err
}

// coolingDown reports whether a flow's cooldown keeps it from starting
// for the contact now: it started for them less than cooldown ago. It
// holds for every way a flow starts: triggers, schedules and `start:`.
func (w *work) coolingDown(cs *contactState, f *flows.Flow) (bool, error) {
	if f.Cooldown <= 0 {
		return false, nil
	}
	last, ok, err := w.tx.LastStart(cs.c.Account, cs.c.ID, f.Name)
	if err != nil {
		return false, err
	}
	return ok && w.now.Sub(last) < f.Cooldown, nil
}

// startOpts say how a run starts.
type startOpts struct {
	// interactive is true when an inbound event started the run: it then
	// takes the conversation over from a run waiting for an answer.
	interactive bool
	// by says in words what started it, for the run's trail.
	by string
	// vars are the run's first variables.
	vars map[string]any
}

// startFlow starts a flow for a contact and runs it until it suspends or
// ends, then starts the flows its `start` steps named. It returns nil
// when reentry: ignore kept the flow from starting.
func (w *work) startFlow(cs *contactState, p *program, ev flows.EventEnv, o startOpts) (*Run, error) {
	f := p.flow
	runs, err := w.activeRuns(cs)
	if err != nil {
		return nil, err
	}
	for _, r := range append([]*Run(nil), runs...) {
		if r.Flow != f.Name {
			continue
		}
		if f.Reentry != "restart" {
			return nil, nil
		}
		if err := w.endRun(cs, r, RunRestarted, "the flow was started again"); err != nil {
			return nil, err
		}
	}
	if o.interactive {
		for _, r := range append([]*Run(nil), cs.active...) {
			if r.Status == RunWaitingReply {
				if err := w.endRun(cs, r, RunInterrupted, fmt.Sprintf("%s took the conversation over", f.Name)); err != nil {
					return nil, err
				}
			}
		}
	}
	id, err := w.tx.NewRunID()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", f.Name, err)
	}
	r := &Run{
		ID: id, Account: cs.c.Account, Contact: cs.c.ID, Flow: f.Name, Version: f.Version,
		Status: RunRunning, Pos: "0", StartedAt: w.now,
		State: RunState{Vars: o.vars, Event: &ev},
	}
	x, err := w.newRunner(cs, r, p)
	if err != nil {
		return nil, err
	}
	x.isNew = true
	x.fresh = true
	r.trail(TrailEntry{At: w.now, What: o.by})
	w.count().runStarted(f.Name)
	if err := x.exec(); err != nil {
		return nil, err
	}
	return r, w.startNamed(cs, x.starts, ev, r)
}

// NotStartedPrefix starts what a run's trail says of a `start` step whose
// flow the flow's cooldown or reentry kept from starting.
const NotStartedPrefix = "did not start "

// startNamed starts the flows `start` steps of the run from asked for,
// each with the variables its step gave. A flow its cooldown or reentry
// keeps from starting is noted on from's trail (and from saved again: it
// is rare).
func (w *work) startNamed(cs *contactState, reqs []startReq, ev flows.EventEnv, fromRun *Run) error {
	from := fromRun.Flow
	notStarted := func(req startReq, why string) error {
		fromRun.trail(TrailEntry{At: w.now, Step: req.step, Kind: "start", What: NotStartedPrefix + req.flow + ": " + why})
		fromRun.UpdatedAt = w.now
		return w.tx.UpdateRun(fromRun)
	}
	fs := w.e.flows.Load()
	for _, req := range reqs {
		if req.conv != "" {
			if err := w.convTriggered(cs, req.conv, "flow "+from); err != nil {
				return err
			}
			continue
		}
		name := req.flow
		p, ok := fs.byName[name]
		if !ok {
			w.e.log.Warn("start: flow not loaded", "flow", name)
			continue
		}
		cooling, err := w.coolingDown(cs, p.flow)
		if err != nil {
			return err
		}
		if cooling {
			w.e.log.Info("start: flow is cooling down for the contact", "flow", name, "contact", cs.c.ID)
			last, _, err := w.tx.LastStart(cs.c.Account, cs.c.ID, name)
			if err != nil {
				return err
			}
			until := last.Add(p.flow.Cooldown)
			if err := notStarted(req, fmt.Sprintf("it is cooling down until %s (cooldown %s)", when(until, w.e.cfg.Zone), flows.FormatDuration(p.flow.Cooldown))); err != nil {
				return err
			}
			continue
		}
		r, err := w.startFlow(cs, p, ev, startOpts{by: "started by flow " + from, vars: req.vars})
		if err != nil {
			return err
		}
		if r == nil {
			if err := notStarted(req, "the contact has a run of it already (reentry: ignore)"); err != nil {
				return err
			}
		}
	}
	return nil
}

// answer resumes the run waiting for an answer with the event.
func (w *work) answer(cs *contactState, r *Run, ev flows.EventEnv) error {
	return w.resume(cs, r, steps.Input{Kind: steps.Answer, Attempts: r.State.Attempts}, &ev)
}

// resume hands a suspended run its input and runs it on.
func (w *work) resume(cs *contactState, r *Run, in steps.Input, ev *flows.EventEnv) error {
	p, err := w.e.version(w.tx, r.Version)
	if err != nil {
		w.e.log.Error("run cannot resume", "run", r.ID, "err", err)
		return w.endRun(cs, r, RunFailed, err.Error())
	}
	if ev != nil {
		r.State.Event = ev
	}
	x, err := w.newRunner(cs, r, p)
	if err != nil {
		return err
	}
	if err := x.resume(in); err != nil {
		return err
	}
	evEnv := flows.EventEnv{}
	if r.State.Event != nil {
		evEnv = *r.State.Event
	}
	return w.startNamed(cs, x.starts, evEnv, r)
}

// eventEnv is the `event` of expressions for an inbound event.
func eventEnv(ev *channels.Event) flows.EventEnv {
	env := flows.EventEnv{Type: string(ev.Kind), Text: strings.TrimSpace(ev.Text), Scene: ev.Scene, Key: ev.Key, MediaID: ev.MediaID, At: ev.At}
	if ev.Location != nil {
		env.Location = flows.LocationEnv{Lat: ev.Location.Lat, Lng: ev.Location.Lng, Scale: ev.Location.Scale, Label: ev.Location.Label}
	}
	return env
}

// guardEnv is the environment of a trigger's `if:` and a schedule's
// `audience:`: the contact and the event, no run yet.
func (w *work) guardEnv(cs *contactState, ev flows.EventEnv, f *flows.Flow) flows.Env {
	ev.At = w.local(ev.At)
	return flows.Env{Contact: w.contactEnv(cs), Event: ev, Now: w.local(w.now), Vars: map[string]any{}, Conversation: w.convEnv(&cs.c.Conv),
		Flow: flows.FlowEnv{Name: f.Name, Version: f.Version}, Account: flows.AccountEnv{ID: cs.c.Account}}
}

// eventEnvAt is the `event` of a run no inbound event started (schedule).
func eventEnvAt(kind string, at time.Time) flows.EventEnv {
	return flows.EventEnv{Type: kind, At: at}
}

// eventWords describes an event for a run's trail: its type, and the
// scene, key or text that matched.
func eventWords(ev flows.EventEnv) string {
	s := ev.Type
	switch {
	case ev.Scene != "":
		s += " (scene " + ev.Scene + ")"
	case ev.Key != "":
		s += " (key " + ev.Key + ")"
	case ev.Text != "":
		s += fmt.Sprintf(" %q", cut(ev.Text, 60))
	}
	return s
}
