package postgres

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// Conversations (migration 005): kept with their contacts, listed through
// the partial indexes on the derived columns conv_status, conv_operator
// and conv_team, each ordered by (conv_seen, account, id); conv_seen is
// last_seen for every contact these indexes hold. Reads in a write
// transaction send its buffered writes first (query), so they see them.

// convCols are the columns of contactWithSession, of contacts c and
// sessions s.
const convCols = `c.account, c.id, c.followed, c.first_seen, c.last_seen, c.tags, c.fields, c.conv, s.followed, s.last, s.kind, s.used, s.closed`

// convCursorZero reports whether a cursor is the zero one (no position).
func convCursorZero(c engine.ConvCursor) bool {
	return c.Seen.IsZero() && c.Account == "" && c.ID == ""
}

// params numbers a query's parameters.
type params struct{ args []any }

func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// convKeys is the column of the index that Conversations(f) reads
// through ("" for the statuses' index) and the keys of its branches: the
// operator's index when f names one, the teams' when it names teams, the
// statuses' otherwise. Every index starts with its column and the
// status, so that each (key, status) branch reads the index in the
// inbox's order, without a sort. ok is false when nothing can match.
func convKeys(f engine.ConversationFilter) (col string, keys, statuses []string, ok bool) {
	switch {
	case f.Operator != "":
		if f.Unassigned {
			return "", nil, nil, false
		}
		col, keys = "conv_operator", []string{f.Operator}
	case len(f.Teams) > 0:
		col = "conv_team"
		for _, team := range f.Teams {
			if team != "" && !contains(keys, team) {
				keys = append(keys, team)
			}
		}
	}
	switch {
	case f.Unassigned && f.Status != "" && f.Status != engine.ConvOpen:
		return "", nil, nil, false
	case f.Unassigned:
		statuses = []string{string(engine.ConvOpen)}
	case f.Status != "":
		statuses = []string{string(f.Status)}
	default:
		statuses = []string{string(engine.ConvOpen), string(engine.ConvClosed)}
	}
	if col != "" && len(keys) == 0 {
		return "", nil, nil, false
	}
	if col == "" {
		keys = []string{""}
	}
	return col, keys, statuses, true
}

// convListQuery builds the query of Conversations: a branch per key and
// status of the index (see convKeys), each in the index's order and
// limited, merged by a UNION ALL when there are several.
func convListQuery(f engine.ConversationFilter) (q string, args []any, ok bool) {
	col, keys, statuses, ok := convKeys(f)
	if !ok {
		return "", nil, false
	}
	var p params
	var limit any // NULL: no limit
	if f.Limit > 0 {
		limit = f.Limit
	}
	var branches []string
	for _, k := range keys {
		for _, st := range statuses {
			// The partial index's own condition is repeated, so that the
			// planner needs no proof that the key implies it.
			where := []string{"c.conv_status = " + p.add(st), "c.conv_status <> ''"}
			if col != "" {
				where = append([]string{"c." + col + " = " + p.add(k), "c." + col + " <> ''"}, where...)
			}
			if f.Account != "" {
				where = append(where, "c.account = "+p.add(f.Account))
			}
			if f.Unassigned && f.Operators != nil {
				where = append(where, "(c.conv_operator = '' OR NOT c.conv_operator = ANY("+p.add(f.Operators)+"))")
			} else if f.Unassigned {
				where = append(where, "c.conv_operator = ''")
			}
			if len(f.Teams) > 0 && col != "conv_team" {
				where = append(where, "c.conv_team = ANY("+p.add(f.Teams)+")")
			}
			if !convCursorZero(f.Before) {
				where = append(where, "(c.conv_seen, c.account, c.id) < ("+p.add(engine.UnixNanos(f.Before.Seen))+", "+p.add(f.Before.Account)+", "+p.add(f.Before.ID)+")")
			}
			branches = append(branches, `SELECT `+convCols+` FROM contacts c
			LEFT JOIN sessions s ON s.account = c.account AND s.contact = c.id
			WHERE `+strings.Join(where, " AND ")+`
			ORDER BY c.conv_seen DESC, c.account DESC, c.id DESC LIMIT `+p.add(limit))
		}
	}
	if len(branches) == 1 {
		return branches[0], p.args, true
	}
	// Columns 5, 1 and 2 are last_seen, account and id.
	q = `(` + strings.Join(branches, `) UNION ALL (`) + `) ORDER BY 5 DESC, 1 DESC, 2 DESC LIMIT ` + p.add(limit)
	return q, p.args, true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// contacts reads the contacts, with their sessions, of a query of
// convCols.
func (t *pgTx) contacts(what, sql string, args []any) ([]*engine.Contact, error) {
	var out []*engine.Contact
	err := t.query(sql, args, func(rows pgx.Rows) error {
		for rows.Next() {
			c, err := t.scanContactSession(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Conversations implements engine.ConversationStore.
func (t *pgTx) Conversations(f engine.ConversationFilter) ([]*engine.Contact, error) {
	q, args, ok := convListQuery(f)
	if !ok {
		return nil, nil
	}
	return t.contacts("conversations", q, args)
}

// staleQuery lists open conversations whose contact last interacted
// before a time, oldest first, after a cursor.
const staleQuery = `SELECT ` + convCols + ` FROM contacts c
	LEFT JOIN sessions s ON s.account = c.account AND s.contact = c.id
	WHERE c.conv_status = 'open' AND c.conv_status <> '' AND c.conv_seen < $1 AND (c.conv_seen, c.account, c.id) > ($2, $3, $4)
	ORDER BY c.conv_seen, c.account, c.id LIMIT $5`

// StaleConversations implements engine.ConversationStore.
func (t *pgTx) StaleConversations(before time.Time, after engine.ConvCursor, limit int) ([]*engine.Contact, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	// The zero cursor is before every row: (-1, "", "") (the zero time
	// is stored as 0).
	seen := int64(-1)
	if !convCursorZero(after) {
		seen = engine.UnixNanos(after.Seen)
	}
	return t.contacts("stale conversations", staleQuery, []any{engine.UnixNanos(before), seen, after.Account, after.ID, lim})
}

// OpenAssigned implements engine.ConversationStore: every operator asked
// for has a count, 0 when none is open.
func (t *pgTx) OpenAssigned(operators []string) (map[string]int, error) {
	out := make(map[string]int, len(operators))
	for _, op := range operators {
		out[op] = 0
	}
	if len(operators) == 0 {
		return out, nil
	}
	if err := text("open assigned", operators...); err != nil {
		return nil, err
	}
	err := t.query(`SELECT conv_operator, count(*) FROM contacts
		WHERE conv_operator <> '' AND conv_operator = ANY($1) AND conv_status = 'open' GROUP BY conv_operator`, []any{operators}, func(rows pgx.Rows) error {
		for rows.Next() {
			var op string
			var n int64
			if err := rows.Scan(&op, &n); err != nil {
				return err
			}
			out[op] = int(n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("open assigned: %w", err)
	}
	return out, nil
}

// OpenByTeam implements engine.ConversationStore.
func (t *pgTx) OpenByTeam() (map[string]int, error) {
	out := map[string]int{}
	err := t.query(`SELECT conv_team, count(*) FROM contacts WHERE conv_status <> '' AND conv_status = 'open' GROUP BY conv_team`, nil, func(rows pgx.Rows) error {
		for rows.Next() {
			var team string
			var n int64
			if err := rows.Scan(&team, &n); err != nil {
				return err
			}
			out[team] = int(n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("open by team: %w", err)
	}
	return out, nil
}

// AddConvNote implements engine.ConvNoteWriter. It costs a round trip
// (with the writes buffered before it): the note's id comes from the
// table's sequence.
func (t *pgTx) AddConvNote(n *engine.ConvNote) error {
	if err := text("add conversation note", n.Account, n.Contact, string(n.Kind), n.By, n.Text); err != nil {
		return err
	}
	var id int64
	if err := t.queryRow(`INSERT INTO conv_notes (account, contact, at, kind, "by", text, outbox_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		[]any{n.Account, n.Contact, engine.UnixNanos(n.At), string(n.Kind), n.By, n.Text, n.OutboxID}, &id); err != nil {
		return fmt.Errorf("add conversation note: %w", err)
	}
	n.ID = id
	return nil
}

// ConvNotes implements engine.ConversationStore.
func (t *pgTx) ConvNotes(account, contact string, beforeID int64, limit int) ([]*engine.ConvNote, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	var lim any
	if limit > 0 {
		lim = limit
	}
	var out []*engine.ConvNote
	err := t.query(`SELECT id, at, kind, "by", text, outbox_id FROM conv_notes
		WHERE account = $1 AND contact = $2 AND id < $3 ORDER BY id DESC LIMIT $4`, []any{account, contact, beforeID, lim}, func(rows pgx.Rows) error {
		for rows.Next() {
			n := &engine.ConvNote{Account: account, Contact: contact}
			var at int64
			var kind string
			if err := rows.Scan(&n.ID, &at, &kind, &n.By, &n.Text, &n.OutboxID); err != nil {
				return err
			}
			n.At, n.Kind = engine.FromUnixNanos(at), engine.ConvNoteKind(kind)
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("conversation notes: %w", err)
	}
	return out, nil
}

// recentEventsQuery reads a contact's events received before a time,
// newest first.
const recentEventsQuery = `SELECT key, payload, received_at FROM events
	WHERE key >= $5 AND key < $6 AND account = $1 AND contact = $2 AND received_at < $3 ORDER BY received_at DESC, key DESC LIMIT $4`

// RecentEvents implements engine.ConversationStore, through the events'
// primary key: a contact's dedupe keys share a prefix
// (channels.DedupeKeyRange), so no index by contact costs every event.
func (t *pgTx) RecentEvents(account, contact string, before time.Time, limit int) ([]*engine.EventRecord, error) {
	until := int64(math.MaxInt64)
	if !before.IsZero() {
		until = engine.UnixNanos(before)
	}
	var lim any
	if limit > 0 {
		lim = limit
	}
	var out []*engine.EventRecord
	lo, hi := channels.DedupeKeyRange(account, contact)
	err := t.query(recentEventsQuery, []any{account, contact, until, lim, lo, hi}, scanEvents(&out))
	if err != nil {
		return nil, fmt.Errorf("recent events of %s/%s: %w", account, contact, err)
	}
	return out, nil
}

var (
	_ engine.ConversationStore = (*pgTx)(nil)
	_ engine.ConvNoteWriter    = (*pgTx)(nil)
)
