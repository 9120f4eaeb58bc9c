package sqlite

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// ContactEvents implements engine.EventLister, through the events'
// primary key (a contact's dedupe keys share a prefix).
func (t *sqliteTx) ContactEvents(account, contact string, since time.Time, limit int) ([]*engine.EventRecord, error) {
	if limit <= 0 {
		limit = -1
	}
	lo, hi := channels.DedupeKeyRange(account, contact)
	out, err := t.contactEvents(`SELECT key, payload, received_at FROM events
		WHERE key >= ? AND key < ? AND account = ? AND contact = ? AND received_at >= ? ORDER BY received_at, key LIMIT ?`,
		lo, hi, account, contact, engine.UnixNanos(since), limit)
	if err != nil {
		return nil, fmt.Errorf("events of %s/%s: %w", account, contact, err)
	}
	return out, nil
}

// contactEvents reads events (key, payload, received_at) a query selects.
func (t *sqliteTx) contactEvents(q string, args ...any) ([]*engine.EventRecord, error) {
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engine.EventRecord
	for rows.Next() {
		var e engine.EventRecord
		var payload string
		var received int64
		if err := rows.Scan(&e.Key, &payload, &received); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(payload), &e.Event); err != nil {
			return nil, fmt.Errorf("event %s: %w", e.Key, err)
		}
		e.ReceivedAt = engine.FromUnixNanos(received)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// FlowVersions implements engine.FlowVersionLister.
func (t *sqliteTx) FlowVersions() ([]*engine.FlowVersion, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT version, name, file, source, loaded_at FROM flow_versions ORDER BY loaded_at DESC, version`)
	if err != nil {
		return nil, fmt.Errorf("flow versions: %w", err)
	}
	defer rows.Close()
	var out []*engine.FlowVersion
	for rows.Next() {
		var v engine.FlowVersion
		var loaded int64
		if err := rows.Scan(&v.Version, &v.Name, &v.File, &v.Source, &loaded); err != nil {
			return nil, fmt.Errorf("flow versions: %w", err)
		}
		v.LoadedAt = engine.FromUnixNanos(loaded)
		out = append(out, &v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flow versions: %w", err)
	}
	return out, nil
}

var (
	_ engine.EventLister       = (*sqliteTx)(nil)
	_ engine.FlowVersionLister = (*sqliteTx)(nil)
)
