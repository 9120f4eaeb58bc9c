package engine

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/triggers"
)

// maxWhyCandidates is how many of the triggers that matched an event
// and lost a note names.
const maxWhyCandidates = 3

// nothingHappened records, for an interaction that started no flow and
// answered no run, why: no trigger matched (an unknown menu key; a flow
// of another account), or how each of the nearest matching triggers
// lost (its if: was false, cooldown, reentry, another flow's priority,
// the contact answering another flow). picked is the trigger that won
// and could not start (reentry), or nil. It costs nothing on the events
// that start something: it runs only when nothing happened.
func (w *work) nothingHappened(cs *contactState, ev *channels.Event, in triggers.Input, cands []triggers.Candidate, waiting *Run, picked *triggers.Candidate) error {
	if ev.Kind.Interaction() == channels.NoInteraction {
		return nil
	}
	why, err := w.whyNothing(cs, ev, in, cands, waiting, picked)
	if err != nil {
		return err
	}
	return w.tx.AddEventNote(&EventNote{Key: ev.DedupeKey(), Account: ev.Account, Contact: ev.Contact, Kind: ev.Kind, At: w.now, Why: why})
}

// whyNothing says in words why an event started nothing.
func (w *work) whyNothing(cs *contactState, ev *channels.Event, in triggers.Input, cands []triggers.Candidate, waiting *Run, picked *triggers.Candidate) (string, error) {
	what := eventWords(eventEnv(ev))
	if conv := &cs.c.Conv; conv.Held() {
		who := assignWords(conv.Operator, conv.Team)
		held := "a person holds the conversation (" + who + "): " + what + " is for them"
		if len(cands) == 0 {
			return held, nil
		}
		s, err := w.whyCandidates(cs, ev, cands, waiting, picked, what)
		return held + "; " + s, err
	}
	if len(cands) == 0 {
		s := "no trigger matched " + what
		if in.Kind == string(channels.MenuClick) {
			s = fmt.Sprintf("unknown menu key %q: no flow has a menu trigger for it", in.Key)
		}
		any := in
		any.AnyAccount = true
		var others []string
		for _, c := range w.e.flows.Load().index.Match(any) {
			if len(others) == maxWhyCandidates {
				break
			}
			others = append(others, fmt.Sprintf("%s (%s) is for account %s", c.Flow.Name, triggerAt(c.Flow, c.Trigger), c.Flow.Account))
		}
		if len(others) > 0 {
			s += "; " + strings.Join(others, "; ")
		}
		return s, nil
	}
	return w.whyCandidates(cs, ev, cands, waiting, picked, what)
}

// whyCandidates says why each matching trigger lost.
func (w *work) whyCandidates(cs *contactState, ev *channels.Event, cands []triggers.Candidate, waiting *Run, picked *triggers.Candidate, what string) (string, error) {
	var lost []string
	for i := range cands {
		if len(lost) == maxWhyCandidates {
			break
		}
		c := &cands[i]
		why, err := w.whyLost(cs, c, ev, waiting, picked)
		if err != nil {
			return "", err
		}
		lost = append(lost, fmt.Sprintf("%s (%s): %s", c.Flow.Name, triggerAt(c.Flow, c.Trigger), why))
	}
	if n := len(cands) - len(lost); n > 0 {
		lost = append(lost, fmt.Sprintf("%d more", n))
	}
	return "no flow started for " + what + ": " + strings.Join(lost, "; "), nil
}

// whyLost says why a matching trigger did not start its flow.
func (w *work) whyLost(cs *contactState, c *triggers.Candidate, ev *channels.Event, waiting *Run, picked *triggers.Candidate) (string, error) {
	if picked != nil {
		if c.Flow == picked.Flow && c.Trigger == picked.Trigger {
			return "the contact has a run of it already (reentry: ignore)", nil
		}
		if c.Flow.Name != picked.Flow.Name {
			return fmt.Sprintf("%s comes first (priority %d, then the more specific trigger, then the name)", picked.Flow.Name, picked.Trigger.Priority), nil
		}
	}
	if cs.c.Conv.Held() && !c.Trigger.Interrupt {
		return "a person holds the conversation and this trigger does not interrupt", nil
	}
	if waiting != nil && !c.Trigger.Interrupt {
		return fmt.Sprintf("the contact is answering %s and this trigger does not interrupt", waiting.Flow), nil
	}
	if c.Trigger.If != nil {
		env := eventEnv(ev)
		env.Match = c.Match
		genv := w.guardEnv(cs, env, c.Flow)
		ok, err := c.Trigger.If.EvalBool(&genv)
		if err != nil {
			return "its if: failed: " + err.Error(), nil
		}
		if !ok {
			return fmt.Sprintf("its if: is false (%s)", clip(c.Trigger.If.Src, 80)), nil
		}
	}
	if c.Flow.Cooldown > 0 {
		last, ok, err := w.tx.LastStart(cs.c.Account, cs.c.ID, c.Flow.Name)
		if err != nil {
			return "", err
		}
		if until := last.Add(c.Flow.Cooldown); ok && w.now.Before(until) {
			return fmt.Sprintf("cooling down until %s (cooldown %s)", when(until, w.e.cfg.Zone), flows.FormatDuration(c.Flow.Cooldown)), nil
		}
	}
	return "not taken", nil
}

// triggerAt names a trigger by its flow file and line.
func triggerAt(f *flows.Flow, t *flows.Trigger) string {
	return fmt.Sprintf("%s:%d", filepath.Base(f.File), t.Pos.Line)
}
