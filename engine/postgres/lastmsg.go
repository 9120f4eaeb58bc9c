package postgres

import (
	"encoding/json"
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
	var failed error
	for _, r := range refs {
		lo, hi := channels.DedupeKeyRange(r.Account, r.ID)
		t.queue(recentEventsQuery, r.Account, r.ID, int64(math.MaxInt64), 1, lo, hi).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var e engine.EventRecord
				var payload string
				var received int64
				if err := rows.Scan(&e.Key, &payload, &received); err != nil {
					return err
				}
				if err := json.Unmarshal([]byte(payload), &e.Event); err != nil && failed == nil {
					failed = fmt.Errorf("event %s: %w", e.Key, err)
				}
				e.ReceivedAt = engine.FromUnixNanos(received)
				m := out[r]
				m.In = &e
				out[r] = m
			}
			return rows.Err()
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
	if failed != nil {
		return nil, failed
	}
	return out, nil
}
