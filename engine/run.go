package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// runner advances one run inside a job. It is the steps.Runtime the
// steps see.
type runner struct {
	w     *work
	cs    *contactState
	run   *Run
	prog  *program
	path  []int
	env   flows.Env
	isNew bool
	// fresh is set for a run started in this job.
	fresh  bool
	starts []startReq
	// timer is set when the run had a timer before this advance.
	timer bool
	// abort is a store error a step met through the runtime: it aborts the
	// transaction rather than failing the run.
	abort error
	// undo puts back, last first, what the step running now changed of
	// the run's variables and the contact's fields and tags: a step that
	// fails changes none of them (a set: whose second value fails leaves
	// the first unwritten).
	undo []func()
	// msgs are the outbox IDs reserved since the last trail note.
	msgs []int64
	// last is the message the last Send reserved.
	last *OutboxEntry
}

func (w *work) newRunner(cs *contactState, r *Run, p *program) (*runner, error) {
	path, err := parsePos(r.Pos)
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", r.ID, err)
	}
	if r.State.Vars == nil {
		r.State.Vars = map[string]any{}
	}
	// A run's state keeps a time as RFC 3339 text: the variables of type
	// time are times again, as the flow's expressions were checked.
	for _, name := range p.times {
		if s, ok := r.State.Vars[name].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				r.State.Vars[name] = t.In(w.e.cfg.Zone)
			}
		}
	}
	x := &runner{w: w, cs: cs, run: r, prog: p, path: path}
	x.timer = r.Status.timed()
	x.env = flows.Env{
		Contact:      w.contactEnv(cs),
		Answer:       r.State.Answer,
		Vars:         r.State.Vars,
		Now:          w.local(w.now),
		Flow:         flows.FlowEnv{Name: r.Flow, Version: r.Version},
		Conversation: w.convEnv(&cs.c.Conv),
		Account:      flows.AccountEnv{ID: r.Account},
	}
	if r.State.Event != nil {
		x.env.Event = *r.State.Event
		x.env.Event.At = w.local(x.env.Event.At)
	}
	if r.State.HTTP != nil {
		x.env.HTTP = *r.State.HTTP
	}
	return x, nil
}

// Env implements steps.Runtime.
func (x *runner) Env() *flows.Env { return &x.env }

// Now implements steps.Runtime.
func (x *runner) Now() time.Time { return x.w.now.In(x.w.e.cfg.Zone) }

// Send implements steps.Runtime: it renders the message, asks the
// channel's policy, and reserves the message in the outbox as pending (to
// be sent after the commit) or failed with the policy's reason.
func (x *runner) Send(m *flows.Message) (bool, error) {
	msg, err := render(m, &x.env)
	if err != nil {
		return false, err
	}
	w, cs := x.w, x.cs
	o := &OutboxEntry{RunID: x.run.ID, Account: x.run.Account, Contact: x.run.Contact, Message: *msg, Status: OutboxPending, CreatedAt: w.now, UpdatedAt: w.now}
	passive := x.takePassive(msg)
	if err := cs.policy.Check(cs.s, msg, w.local(w.now)); err != nil {
		var ref *channels.Refusal
		if !errors.As(err, &ref) {
			return false, fmt.Errorf("policy: %w", err)
		}
		o.Status, o.Reason, o.Detail, o.Code = OutboxFailed, ref.Reason, ref.Detail, ref.Code
	} else if passive {
		// The callback's answer carries it: no quota spent, and the
		// dispatcher never sees it.
		o.Status, o.Detail = OutboxSending, PassiveDetail
		w.passive.entry = o
	} else {
		cs.s = cs.policy.Spend(cs.s)
		cs.dirtyS = true
		w.sends = true
	}
	if err := w.tx.InsertOutbox(o); err != nil {
		x.abort = err
		return false, err
	}
	if w.passive != nil && w.passive.entry == o {
		if err := w.replied(o); err != nil {
			x.abort = err
			return false, err
		}
	}
	x.msgs = append(x.msgs, o.ID)
	x.last = o
	if o.Status == OutboxFailed {
		w.count().message(o.Status, o.Reason)
	}
	x.env.Contact.Window = w.window(cs)
	return o.Status == OutboxPending || o.Status == OutboxSending, nil
}

// Save implements steps.Runtime.
func (x *runner) Save(path string, value any) error {
	value = flows.PlainValue(value)
	switch {
	case strings.HasPrefix(path, "vars."):
		name := strings.TrimPrefix(path, "vars.")
		if t, ok := x.prog.declared[name]; ok {
			// Validation refuses a write of a known other type; a value
			// of a type known only now (an answer, a response) must fit
			// the declaration too.
			fit, err := flows.FitVar(t, value)
			if err != nil {
				return fmt.Errorf("vars.%s is declared %s: %w", name, t, err)
			}
			value = fit
		}
		x.keep(x.run.State.Vars, name)
		x.run.State.Vars[name] = value
	case strings.HasPrefix(path, "contact.fields."):
		if x.cs.c.Fields == nil {
			x.cs.c.Fields = map[string]any{}
			x.env.Contact.Fields = x.cs.c.Fields
		}
		name := strings.TrimPrefix(path, "contact.fields.")
		x.keep(x.cs.c.Fields, name)
		x.cs.c.Fields[name] = value
		x.cs.dirtyC = true
	default:
		return fmt.Errorf("cannot save to %q", path)
	}
	return nil
}

// keep notes, for undo, the value m has at name now (or that it has
// none).
func (x *runner) keep(m map[string]any, name string) {
	old, had := m[name]
	x.undo = append(x.undo, func() {
		if had {
			m[name] = old
		} else {
			delete(m, name)
		}
	})
}

// keepTags notes, for undo, the contact's tags as they are now.
func (x *runner) keepTags() {
	old := slices.Clone(x.cs.c.Tags)
	x.undo = append(x.undo, func() {
		x.cs.c.Tags = old
		x.env.Contact.Tags = old
	})
}

// SetAnswer implements steps.Runtime.
func (x *runner) SetAnswer(v any) {
	x.env.Answer = v
	x.run.State.Answer = v
}

// SetHTTP implements steps.Runtime.
func (x *runner) SetHTTP(h flows.HTTPEnv) {
	x.env.HTTP = h
	x.run.State.HTTP = &h
}

// Tag implements steps.Runtime.
func (x *runner) Tag(tags ...string) {
	x.keepTags()
	for _, t := range tags {
		if !x.cs.c.HasTag(t) {
			x.cs.c.Tags = append(x.cs.c.Tags, t)
			x.cs.dirtyC = true
		}
	}
	x.env.Contact.Tags = x.cs.c.Tags
}

// Untag implements steps.Runtime.
func (x *runner) Untag(tags ...string) {
	x.keepTags()
	kept := x.cs.c.Tags[:0]
	for _, t := range x.cs.c.Tags {
		drop := false
		for _, u := range tags {
			drop = drop || t == u
		}
		if drop {
			x.cs.dirtyC = true
			continue
		}
		kept = append(kept, t)
	}
	x.cs.c.Tags = kept
	x.env.Contact.Tags = kept
}

// startReq is a flow a `start` step asked for, with the variables it
// gives the new run.
type startReq struct {
	flow string
	vars map[string]any
	// conv, instead of a flow, is a conversation change ("opened",
	// "closed") whose triggers start their flow.
	conv string
	// step names the start step, for the run's trail when the flow
	// cannot start.
	step string
}

// Start implements steps.Runtime.
func (x *runner) Start(flow string, vars map[string]any) error {
	// The step says "start: FLOW:" before these errors (they said
	// "start:" again).
	p, ok := x.w.e.flows.Load().byName[flow]
	if !ok {
		return errors.New("no flow of this name is loaded")
	}
	if err := p.serves(x.run.Account); err != nil {
		return err
	}
	vars, err := p.flow.FitVars(vars)
	if err != nil {
		return err
	}
	x.starts = append(x.starts, startReq{flow: flow, vars: vars, step: x.prog.describe(x.path)})
	return nil
}

// fromBeforeHandover reports whether people hold the contact's
// conversation and this run is from before they took it: it was active
// when they did (Conversation.HeldBefore), it is not the run whose assign
// step handed the conversation over, and it did not start in this job
// (as by an interrupting event). A run started after, also at the same
// instant (a start: after the assign step; a scenario's clock standing
// still), is not. A conversation stored before HeldBefore was recorded
// takes the runs that started no later than the assignment.
func (x *runner) fromBeforeHandover() bool {
	c := &x.cs.c.Conv
	if !c.Held() || c.AssignedAt.IsZero() || x.fresh || x.run.ID == c.AssignedBy {
		return false
	}
	if c.HeldBefore != nil {
		return slices.Contains(c.HeldBefore, x.run.ID)
	}
	return !x.run.StartedAt.After(c.AssignedAt)
}

// maxStepsPerAdvance stops a run that keeps running without suspending:
// only goto can loop, and it is bounded, so this is a safety net.
const maxStepsPerAdvance = 10000

// stepLimit is the safety net of exec: never less than what the jump
// limit lets a run do (between two jumps a run goes forward, so it runs
// each of the flow's steps at most once), so that only the jump limit
// stops a loop, as looping, however long its body.
func (x *runner) stepLimit() int {
	return max(maxStepsPerAdvance, (x.w.e.cfg.MaxJumps+2)*(x.prog.steps+1))
}

// exec runs steps from the run's position until it suspends or ends.
func (x *runner) exec() error {
	limit := x.stepLimit()
	for n := 0; ; n++ {
		if n > limit {
			return x.end(RunFailed, "the run took too many steps without waiting")
		}
		s := x.prog.at(x.path)
		if s == nil {
			return x.end(RunCompleted, "")
		}
		if s.If != nil {
			ok, err := s.If.EvalBool(&x.env)
			if err != nil {
				return x.fail(s, fmt.Errorf("if: %w", err))
			}
			if !ok {
				x.note(s, "skipped: its if: is false")
				x.path = x.prog.next(x.path)
				continue
			}
		}
		if s.Kind == "ask" && x.fromBeforeHandover() {
			// People hold the conversation since after this run began:
			// its question would compete with them, and its answer is
			// theirs (a run from before the assignment answers no ask).
			return x.end(RunHandedOver, "people took the conversation before this ask")
		}
		impl := steps.Lookup(s.Kind)
		if impl == nil {
			return x.fail(s, fmt.Errorf("step kind %q has no runtime", s.Kind))
		}
		done, err := x.handle(s, func() (steps.Outcome, error) { return impl.Run(x, s) })
		if err != nil || done {
			return err
		}
	}
}

// handle runs one step's Run or Resume and applies its outcome; done is
// true when the run suspended or ended.
func (x *runner) handle(s *flows.Step, step func() (steps.Outcome, error)) (done bool, err error) {
	x.undo = x.undo[:0]
	out, err := step()
	if x.abort != nil {
		return true, x.abort
	}
	if err != nil {
		for i := len(x.undo) - 1; i >= 0; i-- {
			x.undo[i]()
		}
		x.undo = x.undo[:0]
		return true, x.fail(s, err)
	}
	if out.Kind == steps.WaitSent && !x.awaitable() {
		// Sent with the callback's answer: nothing to wait for.
		out = steps.Outcome{Kind: steps.Next}
	}
	if out.Kind != steps.End {
		// An end is noted by end itself, with the run's status.
		x.note(s, outcomeWords(out, x.w.e.cfg.Zone))
	}
	return x.apply(s, out)
}

// resume hands a suspended run's step its input, then runs on.
func (x *runner) resume(in steps.Input) error {
	s := x.prog.at(x.path)
	if s == nil {
		return x.end(RunCompleted, "")
	}
	impl, ok := steps.Lookup(s.Kind).(steps.Resumer)
	if !ok {
		return x.fail(s, fmt.Errorf("step kind %q cannot be resumed", s.Kind))
	}
	x.run.Status = RunRunning
	x.note(s, inputWords(in, x.run.State.Event))
	done, err := x.handle(s, func() (steps.Outcome, error) { return impl.Resume(x, s, in) })
	if err != nil || done {
		return err
	}
	return x.exec()
}

// apply moves the run as the outcome says; done is true when the run
// suspended or ended.
func (x *runner) apply(s *flows.Step, out steps.Outcome) (done bool, err error) {
	switch out.Kind {
	case steps.Next:
		x.path = x.prog.next(x.path)
	case steps.Goto:
		x.run.State.Jumps++
		if x.run.State.Jumps > x.w.e.cfg.MaxJumps {
			return true, x.end(RunLooping, fmt.Sprintf("stopped after %d jumps (goto %s)", x.w.e.cfg.MaxJumps, out.Target))
		}
		p, ok := x.prog.ids[out.Target]
		if !ok {
			return true, x.fail(s, fmt.Errorf("no step with id %q", out.Target))
		}
		x.path = append([]int(nil), p...)
	case steps.Enter:
		if len(out.Steps) == 0 {
			x.path = x.prog.next(x.path)
			break
		}
		p, ok := x.prog.enter(x.path, s, out.Steps)
		if !ok {
			return true, x.fail(s, errors.New("the step entered a list that is not its own"))
		}
		x.path = p
	case steps.WaitReply:
		if err := x.takeConversation(); err != nil {
			return true, err
		}
		x.run.State.Attempts = out.Attempts
		return true, x.suspend(RunWaitingReply, out.Until)
	case steps.WaitUntil:
		x.run.State.Attempts = 0
		return true, x.suspend(RunWaitingTime, out.Until)
	case steps.Call:
		if out.Request == nil {
			return true, x.fail(s, errors.New("call without a request"))
		}
		x.run.State.Request = out.Request
		x.run.State.Response = nil
		if err := x.save(RunCalling); err != nil {
			return true, err
		}
		r, req := *x.run, out.Request
		x.w.after = append(x.w.after, func() { x.w.e.call(&r, req) })
		return true, nil
	case steps.WaitSent:
		return true, x.awaitSend()
	case steps.End:
		status := RunStatus(out.Status)
		if status == "" {
			status = RunCompleted
		}
		return true, x.end(status, "")
	default:
		return true, x.fail(s, fmt.Errorf("unknown outcome %d", out.Kind))
	}
	return false, nil
}

// takeConversation makes this run the contact's one run waiting for an
// answer: any other such run ends as interrupted.
func (x *runner) takeConversation() error {
	runs, err := x.w.activeRuns(x.cs)
	if err != nil {
		return err
	}
	for _, r := range append([]*Run(nil), runs...) {
		if r.ID != x.run.ID && r.Status == RunWaitingReply {
			if err := x.w.endRun(x.cs, r, RunInterrupted, fmt.Sprintf("%s took the conversation over", x.run.Flow)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *runner) suspend(status RunStatus, until time.Time) error {
	// The jump limit guards against loops that never wait: a run that
	// waits starts counting again.
	x.run.State.Jumps = 0
	x.timer = false // SetTimer below replaces the old timer
	if err := x.save(status); err != nil {
		return err
	}
	x.timer = true
	return x.w.setTimer(Timer{RunID: x.run.ID, Seq: x.run.Seq, Due: until, Account: x.run.Account, Contact: x.run.Contact})
}

func (x *runner) fail(s *flows.Step, err error) error {
	where := x.prog.describe(x.path)
	x.w.e.log.Warn("run failed", "run", x.run.ID, "flow", x.run.Flow, "step", where, "err", err)
	return x.end(RunFailed, fmt.Sprintf("%s: %v", where, err))
}

func (x *runner) end(status RunStatus, why string) error {
	if why != "" {
		x.run.State.Error = why
	}
	x.run.State.Request = nil
	x.run.EndedAt = x.w.now
	what := "ended: " + string(status)
	if why != "" {
		what += " (" + why + ")"
	}
	var s *flows.Step
	if status != RunCompleted {
		s = x.prog.at(x.path)
	}
	x.note(s, what)
	x.w.count().runEnded(status)
	return x.save(status)
}

// save writes the run with its new status and position.
func (x *runner) save(status RunStatus) error {
	r := x.run
	hadTimer := x.timer
	r.Status = status
	r.Pos = formatPos(x.path)
	r.Step = x.prog.describe(x.path)
	r.UpdatedAt = x.w.now
	r.Seq++
	var err error
	if x.isNew {
		err = x.w.tx.InsertRun(r)
		x.isNew = false
	} else {
		err = x.w.tx.UpdateRun(r)
	}
	if err != nil {
		return err
	}
	if hadTimer {
		x.timer = false
		if err := x.w.tx.DeleteTimer(r.ID); err != nil {
			return err
		}
	}
	if status.Active() {
		x.cs.remember(r)
	} else {
		x.cs.forget(r)
	}
	return nil
}
