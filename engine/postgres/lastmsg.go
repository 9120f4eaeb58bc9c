package postgres

import (
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// LastMessages implements engine.ConversationStore: two reads per
// contact, all sent in one round trip (a page of the inbox would
// otherwise cost a hundred).
func (t *pgTx) LastMessages(refs []engine.ContactRef) (map[engine.ContactRef]engine.LastMessage, error) {
	out := make(map[engine.ContactRef]engine.LastMessage, len(refs))
	if t.err != nil {
		return nil, t.flush()
	}
	for _, r := range refs {
		lo, hi := channels.DedupeKeyRange(r.Account, r.ID)
		var evs []*engine.EventRecord
		scan := scanEvents(&evs)
		t.queue(recentEventsQuery, r.Account, r.ID, int64(math.MaxInt64), 1, lo, hi).Query(func(rows pgx.Rows) error {
			if err := scan(rows); err != nil {
				return err
			}
			if len(evs) > 0 {
				m := out[r]
				m.In = evs[0]
				out[r] = m
			}
			return nil
		})
		t.queue(`SELECT `+outboxCols+` FROM `+outboxView+` WHERE account = $1 AND contact = $2 ORDER BY id DESC LIMIT 1`, r.Account, r.ID).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				o, err := scanOutbox(rows)
				if err != nil {
					return err
				}
				m := out[r]
				m.Out = o
				out[r] = m
			}
			return rows.Err()
		})
	}
	if err := t.flush(); err != nil {
		return nil, fmt.Errorf("last messages: %w", err)
	}
	return out, nil
}
