package console

import (
	"context"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// NoteView is an event that started no flow and answered no run, and
// why.
type NoteView struct {
	At   time.Time     `json:"at"`
	Kind channels.Kind `json:"kind"`
	Why  string        `json:"why"`
}

// maxNotes is how many of a contact's event notes its page shows.
const maxNotes = 20

func noteViews(notes []*engine.EventNote) []NoteView {
	out := make([]NoteView, len(notes))
	for i, n := range notes {
		out[i] = NoteView{At: n.At, Kind: n.Kind, Why: n.Why}
	}
	return out
}

// rememberWhy adds to a simulated contact's chat why the action played
// since since started nothing, when the engine noted it.
func (c *Console) rememberWhy(ctx context.Context, contact string, since time.Time) error {
	sb := c.cfg.Sandbox
	var notes []*engine.EventNote
	err := c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		var err error
		notes, err = tx.EventNotes(sb.Account(), contact, 1)
		return err
	})
	if err != nil || len(notes) == 0 || notes[0].At.Before(since) {
		return err
	}
	n := notes[0]
	after, err := c.lastMessage(ctx, sb.Account(), contact)
	if err != nil {
		return err
	}
	c.simMu.Lock()
	defer c.simMu.Unlock()
	list := c.said[contact]
	for _, s := range list {
		if s.key == n.Key {
			return nil
		}
	}
	list = append(list, simSaid{what: "nothing happened: " + n.Why, at: n.At, after: after, key: n.Key})
	if len(list) > maxSaid {
		list = list[len(list)-maxSaid:]
	}
	c.said[contact] = list
	return nil
}

// line is the chat line of something the follower did, or of the
// engine's note of why it started nothing.
func (s simSaid) line() ChatLine {
	if s.key != "" {
		return ChatLine{From: "engine", At: s.at, What: s.what}
	}
	return ChatLine{From: "contact", At: s.at, What: s.what}
}

// simSkips are the chat lines of the steps a simulated contact's runs
// skipped because their if: was false, each placed after the run's
// message before it (or just before the run's first message).
func (c *Console) simSkips(ctx context.Context, contact string, msgs []*engine.OutboxEntry) ([]simSaid, error) {
	skips, err := c.cfg.Sandbox.Skips(ctx, contact, map[int64]int{})
	if err != nil {
		return nil, err
	}
	first := map[int64]int64{}
	for _, o := range msgs {
		if _, ok := first[o.RunID]; !ok {
			first[o.RunID] = o.ID
		}
	}
	var out []simSaid
	for _, s := range skips {
		after := s.After
		if after == 0 {
			after = first[s.RunID] - 1
			if first[s.RunID] == 0 {
				after = 1<<63 - 1
			}
		}
		out = append(out, simSaid{what: "skipped " + s.Step + " of " + s.Flow + ": its if: is false", at: s.At, after: after, key: "skip"})
	}
	return out, nil
}
