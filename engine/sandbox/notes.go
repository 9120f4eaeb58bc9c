package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// maxNotes bounds the event notes Notes returns.
const maxNotes = 10000

// Notes returns a contact's event notes, oldest first: for each event
// that started no flow and answered no run, why.
func (s *Sandbox) Notes(ctx context.Context, contact string) ([]*engine.EventNote, error) {
	var out []*engine.EventNote
	err := s.store.View(ctx, func(tx engine.ReadTx) error {
		var err error
		out, err = tx.EventNotes(s.account, contact, maxNotes)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: notes of %s: %w", contact, err)
	}
	slices.Reverse(out)
	return out, nil
}

// Skip is a step a run skipped because its `if:` was false.
type Skip struct {
	RunID int64
	Flow  string
	// Step names the step (its id, or kind and line).
	Step string
	// After is the ID of the run's last message before the skip (0 for
	// none).
	After int64
	// At is when the run skipped it.
	At time.Time
}

// skippedWords is what a run's trail says of a step whose if: was false.
const skippedWords = "skipped: its if: is false"

// Skips returns, oldest run first, the steps the contact's runs skipped
// that seen does not count yet, and counts them: seen maps a run's ID to
// the trail entries already looked at.
func (s *Sandbox) Skips(ctx context.Context, contact string, seen map[int64]int) ([]Skip, error) {
	var out []Skip
	err := s.newTrail(ctx, contact, seen, func(what string) bool { return what == skippedWords },
		func(r *engine.Run, e engine.TrailEntry, after int64) {
			out = append(out, Skip{RunID: r.ID, Flow: r.Flow, Step: e.Step, After: after, At: e.At})
		})
	return out, err
}

// newTrail calls add, oldest run first, with each entry of the
// contact's runs' trails that seen does not count yet and match takes
// (by what it says), and the ID of the run's last message before it;
// then counts the entries in seen (run ID to the entries looked at).
func (s *Sandbox) newTrail(ctx context.Context, contact string, seen map[int64]int, match func(what string) bool,
	add func(r *engine.Run, e engine.TrailEntry, after int64)) error {
	runs, err := s.Runs(ctx, contact)
	if err != nil {
		return err
	}
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		var last int64
		done := seen[r.ID] - r.State.TrailDropped
		for k, e := range r.State.Trail {
			for _, id := range e.Messages {
				last = max(last, id)
			}
			if k >= done && match(e.What) {
				add(r, e, last)
			}
		}
		seen[r.ID] = r.State.TrailDropped + len(r.State.Trail)
	}
	return nil
}

// NotStarted is a flow a run's `start` step asked for that its cooldown
// or reentry kept from starting.
type NotStarted struct {
	RunID int64
	// Flow is the flow of the run whose step asked.
	Flow string
	// Step names the start step (its id, or kind and line).
	Step string
	// Why says which flow did not start, and why, in words.
	Why string
	// After is the ID of the run's last message before it (0 for none).
	After int64
	At    time.Time
}

// NotStarted returns, oldest run first, the flows the contact's runs'
// start steps could not start that seen does not count yet, and counts
// them: seen maps a run's ID to the trail entries already looked at (a
// map of its own, not the one of Skips).
func (s *Sandbox) NotStarted(ctx context.Context, contact string, seen map[int64]int) ([]NotStarted, error) {
	var out []NotStarted
	err := s.newTrail(ctx, contact, seen, func(what string) bool { return strings.HasPrefix(what, engine.NotStartedPrefix) },
		func(r *engine.Run, e engine.TrailEntry, after int64) {
			out = append(out, NotStarted{RunID: r.ID, Flow: r.Flow, Step: e.Step, Why: e.What, After: after, At: e.At})
		})
	return out, err
}

// Failures returns, oldest first, the contact's runs that ended failed
// or looping and that seen (by run ID) does not hold yet, and adds them
// to it: what a chat shows, as a scenario's report does, instead of
// silence.
func (s *Sandbox) Failures(ctx context.Context, contact string, seen map[int64]bool) ([]*engine.Run, error) {
	runs, err := s.Runs(ctx, contact)
	if err != nil {
		return nil, err
	}
	var out []*engine.Run
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if (r.Status == engine.RunFailed || r.Status == engine.RunLooping) && !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// Unsent is an http step's call that failed before it reached the
// network: the run's values made the request impossible (not sent: ...),
// or a secret it reads is not there.
type Unsent struct {
	RunID int64
	Flow  string
	// Step names the step (its id, or kind and line).
	Step string
	// Why is the call's error, as the run's trail has it.
	Why string
}

// callFailedWords starts what a run's trail says of a call that failed.
const callFailedWords = "the call failed: "

// UnsentCalls returns, oldest run first, the calls of the contact's runs
// that failed before they were made and that seen does not count yet,
// and counts them (seen as Skips's, kept apart from it). The chat shows
// the calls made as its transport sees them; these never reach it.
func (s *Sandbox) UnsentCalls(ctx context.Context, contact string, seen map[int64]int) ([]Unsent, error) {
	var out []Unsent
	err := s.newTrail(ctx, contact, seen, func(what string) bool {
		why, ok := strings.CutPrefix(what, callFailedWords)
		return ok && (strings.HasPrefix(why, "not sent: ") || strings.HasPrefix(why, "secret "))
	}, func(r *engine.Run, e engine.TrailEntry, _ int64) {
		out = append(out, Unsent{RunID: r.ID, Flow: r.Flow, Step: e.Step, Why: strings.TrimPrefix(e.What, callFailedWords)})
	})
	return out, err
}
