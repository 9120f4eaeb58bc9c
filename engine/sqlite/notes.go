package sqlite

import (
	"fmt"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// Event notes (migration 008): why an event started nothing.

func (t *sqliteTx) AddEventNote(n *engine.EventNote) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO event_notes (key, account, contact, kind, at, why) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET why = excluded.why`,
		n.Key, n.Account, n.Contact, string(n.Kind), engine.UnixNanos(n.At), n.Why)
	if err != nil {
		return fmt.Errorf("add event note: %w", err)
	}
	return nil
}

func (t *sqliteTx) EventNotes(account, contact string, limit int) ([]*engine.EventNote, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT key, kind, at, why FROM event_notes INDEXED BY event_notes_contact
		WHERE account = ? AND contact = ? ORDER BY at DESC, key DESC LIMIT ?`, account, contact, limit)
	if err != nil {
		return nil, fmt.Errorf("event notes: %w", err)
	}
	defer rows.Close()
	var out []*engine.EventNote
	for rows.Next() {
		n := &engine.EventNote{Account: account, Contact: contact}
		var kind string
		var at int64
		if err := rows.Scan(&n.Key, &kind, &at, &n.Why); err != nil {
			return nil, fmt.Errorf("event notes: %w", err)
		}
		n.Kind, n.At = channels.Kind(kind), engine.FromUnixNanos(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

func (t *sqliteTx) PruneEventNotes(before time.Time, limit int) (int, error) {
	res, err := t.tx.ExecContext(t.ctx, `DELETE FROM event_notes WHERE key IN (SELECT key FROM event_notes INDEXED BY event_notes_age
		WHERE at < ? LIMIT ?)`, engine.UnixNanos(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune event notes: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
