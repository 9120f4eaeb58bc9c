package postgres

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// Event notes (migration 004): why an event started nothing.

func (t *pgTx) AddEventNote(n *engine.EventNote) error {
	if err := text("add event note", n.Key, n.Account, n.Contact, string(n.Kind), n.Why); err != nil {
		return err
	}
	t.write("add event note", `INSERT INTO event_notes (key, account, contact, kind, at, why) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (key) DO UPDATE SET why = excluded.why`,
		n.Key, n.Account, n.Contact, string(n.Kind), engine.UnixNanos(n.At), n.Why)
	return nil
}

func (t *pgTx) EventNotes(account, contact string, limit int) ([]*engine.EventNote, error) {
	var out []*engine.EventNote
	err := t.query(`SELECT key, kind, at, why FROM event_notes WHERE account = $1 AND contact = $2 ORDER BY at DESC, key DESC LIMIT $3`,
		[]any{account, contact, limit}, func(rows pgx.Rows) error {
			for rows.Next() {
				n := &engine.EventNote{Account: account, Contact: contact}
				var kind string
				var at int64
				if err := rows.Scan(&n.Key, &kind, &at, &n.Why); err != nil {
					return err
				}
				n.Kind, n.At = channels.Kind(kind), engine.FromUnixNanos(at)
				out = append(out, n)
			}
			return rows.Err()
		})
	if err != nil {
		return nil, fmt.Errorf("event notes: %w", err)
	}
	return out, nil
}
