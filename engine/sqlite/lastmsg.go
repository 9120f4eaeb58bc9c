package sqlite

import (
	"time"

	"github.com/wxflow/wxflow/engine"
)

// LastMessages implements engine.ConversationStore: two indexed reads per
// contact, each a few microseconds in the process.
func (t *sqliteTx) LastMessages(refs []engine.ContactRef) (map[engine.ContactRef]engine.LastMessage, error) {
	out := make(map[engine.ContactRef]engine.LastMessage, len(refs))
	for _, r := range refs {
		var m engine.LastMessage
		evs, err := t.RecentEvents(r.Account, r.ID, time.Time{}, 1)
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 {
			m.In = evs[0]
		}
		msgs, err := t.Outbox(engine.OutboxFilter{Account: r.Account, Contact: r.ID, Newest: true, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 {
			m.Out = msgs[0]
		}
		out[r] = m
	}
	return out, nil
}
