package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// Conversations (migration 009): kept with their contacts, listed through
// the partial indexes on the derived columns conv_status, conv_operator
// and conv_team, each ordered by (last_seen, account, id).

// convOrder is the inbox's order: newest interaction first.
const convOrder = ` ORDER BY c.last_seen DESC, c.account DESC, c.id DESC`

// convCursorZero reports whether a cursor is the zero one (no position).
func convCursorZero(c engine.ConvCursor) bool {
	return c.Seen.IsZero() && c.Account == "" && c.ID == ""
}

// convKeys is the index that Conversations(f) reads through and the
// keys of its branches: the operator's index when f names one, the
// teams' when it names teams, the statuses' otherwise. Every index
// starts with its column and the status, so that each (key, status)
// branch reads the index in the inbox's order, without a sort. ok is
// false when nothing can match.
func convKeys(f engine.ConversationFilter) (index, col string, keys, statuses []string, ok bool) {
	switch {
	case f.Operator != "":
		if f.Unassigned {
			return "", "", nil, nil, false
		}
		index, col, keys = "contacts_conv_operator", "conv_operator", []string{f.Operator}
	case len(f.Teams) > 0:
		index, col = "contacts_conv_team", "conv_team"
		for _, team := range f.Teams {
			if team != "" && !contains(keys, team) {
				keys = append(keys, team)
			}
		}
	default:
		index = "contacts_conv"
	}
	switch {
	case f.Unassigned && f.Status != "" && f.Status != engine.ConvOpen:
		return "", "", nil, nil, false
	case f.Unassigned:
		statuses = []string{string(engine.ConvOpen)}
	case f.Status != "":
		statuses = []string{string(f.Status)}
	default:
		statuses = []string{string(engine.ConvOpen), string(engine.ConvClosed)}
	}
	if col != "" && len(keys) == 0 {
		return "", "", nil, nil, false
	}
	return index, col, keys, statuses, true
}

// convListQuery builds the query of Conversations: a branch per key and
// status of the index (see convKeys), each in the index's order and
// limited, merged by a UNION ALL when there are several.
func convListQuery(f engine.ConversationFilter) (q string, args []any, ok bool) {
	index, col, keys, statuses, ok := convKeys(f)
	if !ok {
		return "", nil, false
	}
	// The conditions of every branch but its key and status. The
	// partial index's own condition is repeated, so that SQLite may use
	// it.
	where := []string{"c.conv_status <> ''"}
	var common []any
	if col != "" {
		where = append(where, "c."+col+" <> ''")
	}
	if f.Account != "" {
		// Unary +: a filter only. As a constant of the order, SQLite
		// would sort ties of last_seen instead of reading the index's
		// order (account, id).
		where, common = append(where, "+c.account = ?"), append(common, f.Account)
	}
	if f.Unassigned && f.Operators != nil {
		b, _ := json.Marshal(f.Operators)
		where, common = append(where, "(c.conv_operator = '' OR c.conv_operator NOT IN (SELECT value FROM json_each(?)))"), append(common, string(b))
	} else if f.Unassigned {
		where = append(where, "c.conv_operator = ''")
	}
	if len(f.Teams) > 0 && col != "conv_team" {
		b, _ := json.Marshal(f.Teams)
		where, common = append(where, "c.conv_team IN (SELECT value FROM json_each(?))"), append(common, string(b))
	}
	if !convCursorZero(f.Before) {
		where = append(where, "(c.last_seen, c.account, c.id) < (?, ?, ?)")
		common = append(common, engine.UnixNanos(f.Before.Seen), f.Before.Account, f.Before.ID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	key := "c.conv_status = ?"
	if col != "" {
		key = "c." + col + " = ? AND " + key
	} else {
		keys = []string{""}
	}
	branch := `SELECT c.account, c.id, c.followed, c.first_seen, c.last_seen, c.tags, c.fields, c.conv, s.followed, s.last, s.kind, s.used, s.closed
		FROM contacts AS c INDEXED BY ` + index + ` LEFT JOIN sessions s ON s.account = c.account AND s.contact = c.id
		WHERE ` + key + ` AND ` + strings.Join(where, " AND ") + convOrder + ` LIMIT ?`
	var parts []string
	for _, k := range keys {
		for _, st := range statuses {
			if col != "" {
				args = append(args, k)
			}
			args = append(append(append(args, st), common...), limit)
			parts = append(parts, `SELECT * FROM (`+branch+`)`)
		}
	}
	if len(parts) == 1 {
		return branch, args, true
	}
	// Columns 5, 1 and 2 are last_seen, account and id.
	q = strings.Join(parts, " UNION ALL ") + ` ORDER BY 5 DESC, 1 DESC, 2 DESC LIMIT ?`
	return q, append(args, limit), true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Conversations implements engine.ConversationStore.
func (t *sqliteTx) Conversations(f engine.ConversationFilter) ([]*engine.Contact, error) {
	q, args, ok := convListQuery(f)
	if !ok {
		return nil, nil
	}
	out, err := collector(t.scanContactSession)(t.tx.QueryContext(t.ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	return out, nil
}

// staleQuery lists open conversations whose contact last interacted
// before a time, oldest first, after a cursor.
const staleQuery = `SELECT c.account, c.id, c.followed, c.first_seen, c.last_seen, c.tags, c.fields, c.conv, s.followed, s.last, s.kind, s.used, s.closed
		FROM contacts AS c INDEXED BY contacts_conv LEFT JOIN sessions s ON s.account = c.account AND s.contact = c.id
		WHERE c.conv_status = 'open' AND c.conv_status <> '' AND c.last_seen < ? AND (c.last_seen, c.account, c.id) > (?, ?, ?)
		ORDER BY c.last_seen, c.account, c.id LIMIT ?`

// StaleConversations implements engine.ConversationStore.
func (t *sqliteTx) StaleConversations(before time.Time, after engine.ConvCursor, limit int) ([]*engine.Contact, error) {
	if limit <= 0 {
		limit = -1
	}
	// The zero cursor is before every row: (-1, "", "") (the zero time
	// is stored as 0).
	seen := int64(-1)
	if !convCursorZero(after) {
		seen = engine.UnixNanos(after.Seen)
	}
	out, err := collector(t.scanContactSession)(t.tx.QueryContext(t.ctx, staleQuery,
		engine.UnixNanos(before), seen, after.Account, after.ID, limit))
	if err != nil {
		return nil, fmt.Errorf("stale conversations: %w", err)
	}
	return out, nil
}

// OpenAssigned implements engine.ConversationStore: every operator asked
// for has a count, 0 when none is open.
func (t *sqliteTx) OpenAssigned(operators []string) (map[string]int, error) {
	out := make(map[string]int, len(operators))
	for _, op := range operators {
		out[op] = 0
	}
	if len(operators) == 0 {
		return out, nil
	}
	b, err := json.Marshal(operators)
	if err != nil {
		return nil, fmt.Errorf("open assigned: %w", err)
	}
	rows, err := t.tx.QueryContext(t.ctx, `SELECT conv_operator, count(*) FROM contacts INDEXED BY contacts_conv_operator
		WHERE conv_operator <> '' AND conv_operator IN (SELECT value FROM json_each(?)) AND conv_status = 'open' GROUP BY conv_operator`, string(b))
	if err != nil {
		return nil, fmt.Errorf("open assigned: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		var n int
		if err := rows.Scan(&op, &n); err != nil {
			return nil, fmt.Errorf("open assigned: %w", err)
		}
		out[op] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("open assigned: %w", err)
	}
	return out, nil
}

// OpenByTeam implements engine.ConversationStore.
func (t *sqliteTx) OpenByTeam() (map[string]int, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT conv_team, count(*) FROM contacts INDEXED BY contacts_conv
		WHERE conv_status <> '' AND conv_status = 'open' GROUP BY conv_team`)
	if err != nil {
		return nil, fmt.Errorf("open by team: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var team string
		var n int
		if err := rows.Scan(&team, &n); err != nil {
			return nil, fmt.Errorf("open by team: %w", err)
		}
		out[team] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("open by team: %w", err)
	}
	return out, nil
}

// AddConvNote implements engine.ConvNoteWriter.
func (t *sqliteTx) AddConvNote(n *engine.ConvNote) error {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO conv_notes (account, contact, at, kind, "by", text, outbox_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		n.Account, n.Contact, engine.UnixNanos(n.At), string(n.Kind), n.By, n.Text, n.OutboxID)
	if err != nil {
		return fmt.Errorf("add conversation note: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("add conversation note: %w", err)
	}
	n.ID = id
	return nil
}

// ConvNotes implements engine.ConversationStore.
func (t *sqliteTx) ConvNotes(account, contact string, beforeID int64, limit int) ([]*engine.ConvNote, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id, at, kind, "by", text, outbox_id FROM conv_notes INDEXED BY conv_notes_contact
		WHERE account = ? AND contact = ? AND id < ? ORDER BY id DESC LIMIT ?`, account, contact, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("conversation notes: %w", err)
	}
	defer rows.Close()
	var out []*engine.ConvNote
	for rows.Next() {
		n := &engine.ConvNote{Account: account, Contact: contact}
		var at int64
		var kind string
		if err := rows.Scan(&n.ID, &at, &kind, &n.By, &n.Text, &n.OutboxID); err != nil {
			return nil, fmt.Errorf("conversation notes: %w", err)
		}
		n.At, n.Kind = engine.FromUnixNanos(at), engine.ConvNoteKind(kind)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("conversation notes: %w", err)
	}
	return out, nil
}

// recentEventsQuery reads a contact's events received before a time,
// newest first.
const recentEventsQuery = `SELECT key, payload, received_at FROM events
	WHERE key >= ? AND key < ? AND account = ? AND contact = ? AND received_at < ? ORDER BY received_at DESC, key DESC LIMIT ?`

// RecentEvents implements engine.ConversationStore, through the events'
// primary key: a contact's dedupe keys share a prefix
// (channels.DedupeKeyRange), so no index by contact costs every event.
func (t *sqliteTx) RecentEvents(account, contact string, before time.Time, limit int) ([]*engine.EventRecord, error) {
	until := int64(math.MaxInt64)
	if !before.IsZero() {
		until = engine.UnixNanos(before)
	}
	if limit <= 0 {
		limit = -1
	}
	lo, hi := channels.DedupeKeyRange(account, contact)
	out, err := t.contactEvents(recentEventsQuery, lo, hi, account, contact, until, limit)
	if err != nil {
		return nil, fmt.Errorf("recent events of %s/%s: %w", account, contact, err)
	}
	return out, nil
}

var (
	_ engine.ConversationStore = (*sqliteTx)(nil)
	_ engine.ConvNoteWriter    = (*sqliteTx)(nil)
)
