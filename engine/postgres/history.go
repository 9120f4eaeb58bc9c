package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// ContactEvents implements engine.EventLister, through the events'
// primary key (a contact's dedupe keys share a prefix).
func (t *pgTx) ContactEvents(account, contact string, since time.Time, limit int) ([]*engine.EventRecord, error) {
	lo, hi := channels.DedupeKeyRange(account, contact)
	q := `SELECT key, payload, received_at FROM events WHERE key >= $4 AND key < $5 AND account = $1 AND contact = $2 AND received_at >= $3 ORDER BY received_at, key`
	args := []any{account, contact, engine.UnixNanos(since), lo, hi}
	if limit > 0 {
		q += ` LIMIT $6`
		args = append(args, limit)
	}
	var out []*engine.EventRecord
	err := t.query(q, args, scanEvents(&out))
	if err != nil {
		return nil, fmt.Errorf("events of %s/%s: %w", account, contact, err)
	}
	return out, nil
}

// scanEvents reads events (key, payload, received_at) into out.
func scanEvents(out *[]*engine.EventRecord) func(rows pgx.Rows) error {
	return func(rows pgx.Rows) error {
		for rows.Next() {
			var e engine.EventRecord
			var payload string
			var received int64
			if err := rows.Scan(&e.Key, &payload, &received); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(payload), &e.Event); err != nil {
				return fmt.Errorf("event %s: %w", e.Key, err)
			}
			e.ReceivedAt = engine.FromUnixNanos(received)
			*out = append(*out, &e)
		}
		return rows.Err()
	}
}

// FlowVersions implements engine.FlowVersionLister.
func (t *pgTx) FlowVersions() ([]*engine.FlowVersion, error) {
	var out []*engine.FlowVersion
	err := t.query(`SELECT version, name, file, source, loaded_at FROM flow_versions ORDER BY loaded_at DESC, version`, nil, func(rows pgx.Rows) error {
		for rows.Next() {
			var v engine.FlowVersion
			var loaded int64
			if err := rows.Scan(&v.Version, &v.Name, &v.File, &v.Source, &loaded); err != nil {
				return err
			}
			v.LoadedAt = engine.FromUnixNanos(loaded)
			out = append(out, &v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("flow versions: %w", err)
	}
	return out, nil
}

var (
	_ engine.EventLister       = (*pgTx)(nil)
	_ engine.FlowVersionLister = (*pgTx)(nil)
)
