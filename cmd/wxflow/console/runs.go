package console

import (
	"context"
	"slices"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// MessageCounts counts a run's messages by outcome.
type MessageCounts struct {
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
	// Pending counts the messages not sent yet (pending or sending).
	Pending int `json:"pending"`
}

// Total is how many messages the run reserved.
func (m MessageCounts) Total() int { return m.Sent + m.Failed + m.Unknown + m.Pending }

// countMessages counts messages by outcome.
func countMessages(msgs []*engine.OutboxEntry) MessageCounts {
	var m MessageCounts
	for _, o := range msgs {
		switch o.Status {
		case engine.OutboxSent:
			m.Sent++
		case engine.OutboxFailed:
			m.Failed++
		case engine.OutboxUnknown:
			m.Unknown++
		default:
			m.Pending++
		}
	}
	return m
}

// setMessages gives a run summary its messages' outcomes: a run that
// ended after reserving messages, every one of which failed, reached
// nobody (Undelivered), whatever its status says.
func (s *RunSummary) setMessages(msgs []*engine.OutboxEntry) {
	m := countMessages(msgs)
	s.Messages = &m
	s.Undelivered = !s.Active && m.Total() > 0 && m.Failed == m.Total()
}

// withMessages gives each summary its messages' outcomes, a read per
// run (a page holds 50).
func withMessages(tx engine.ReadTx, sums []RunSummary) error {
	for i := range sums {
		s := &sums[i]
		msgs, err := tx.Outbox(engine.OutboxFilter{Account: s.Account, Contact: s.Contact, RunID: s.ID})
		if err != nil {
			return err
		}
		s.setMessages(msgs)
	}
	return nil
}

// startedRun is a run just started with its messages' outcomes, as the
// runs list gives them: a run that ended having reserved only refused
// messages is undelivered already. On an error the summary is still given.
func (c *Console) startedRun(ctx context.Context, run *engine.Run) (RunSummary, error) {
	sums := []RunSummary{runSummary(run)}
	err := c.eng.Store().View(ctx, func(tx engine.ReadTx) error { return withMessages(tx, sums) })
	return sums[0], err
}

// runDuration is how long an ended run took, in words ("" while it runs).
func runDuration(r *engine.Run) string {
	if r.EndedAt.IsZero() {
		return ""
	}
	d := r.EndedAt.Sub(r.StartedAt)
	if d < time.Second {
		return "under 1s"
	}
	return flows.FormatDuration(d.Truncate(time.Second))
}

// maxChoiceRuns is how many recent runs the run list's contact choices
// come from.
const maxChoiceRuns = 500

// runChoices are the run list's filter choices: the loaded flows and the
// flows of recent runs, and the contacts of recent runs, by name; the
// ones the query selects are always among them.
func (c *Console) runChoices(ctx context.Context, flow, contact string) (flowNames, contacts []string, err error) {
	seenF, seenC := map[string]bool{}, map[string]bool{}
	add := func(list *[]string, seen map[string]bool, v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			*list = append(*list, v)
		}
	}
	if set := c.eng.Flows(); set != nil {
		for _, f := range set.Flows {
			add(&flowNames, seenF, f.Name)
		}
	}
	err = c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		runs, err := tx.Runs(engine.RunFilter{Limit: maxChoiceRuns})
		for _, r := range runs {
			add(&flowNames, seenF, r.Flow)
			add(&contacts, seenC, r.Contact)
		}
		return err
	})
	add(&flowNames, seenF, flow)
	add(&contacts, seenC, contact)
	slices.Sort(flowNames)
	slices.Sort(contacts)
	return flowNames, contacts, err
}
