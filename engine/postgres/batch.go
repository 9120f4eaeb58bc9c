package postgres

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// Set-based work: a transaction's writes whose answer nobody waits for
// are kept by table in a writeBuffer and go to the server as one
// statement per kind of write (arrays unnested into rows), and AddEvents
// records a batch's events in one statement, reading their contacts,
// sessions and active runs in the same round trip into a cache that the
// transaction's writes keep up to date.

// keyed is a buffer's rows by key, in the order their keys came.
type keyed[K comparable, V any] struct {
	idx  map[K]int
	rows []V
}

// put sets the row of a key: a new one at the end, or in the place of
// the key's row.
func (k *keyed[K, V]) put(key K, v V) {
	if i, ok := k.idx[key]; ok {
		k.rows[i] = v
		return
	}
	if k.idx == nil {
		k.idx = map[K]int{}
	}
	k.idx[key] = len(k.rows)
	k.rows = append(k.rows, v)
}

// at returns a pointer to a key's row, nil when it has none.
func (k *keyed[K, V]) at(key K) *V {
	if i, ok := k.idx[key]; ok {
		return &k.rows[i]
	}
	return nil
}

type contactRow struct {
	account, id  string
	followed     bool
	first, last  int64
	tags, fields string
	// conv is the conversation's JSON (engine.EncodeConversationJSON);
	// status, operator and team are its indexed columns.
	conv, status, operator, team string
	// fresh is set for a contact the transaction read and found absent:
	// it goes in by a plain insert (see allFresh).
	fresh bool
}

// seen is the contact's conv_seen: last_seen once its conversation
// opened, 0 before (see migration 005).
func (r *contactRow) seen() int64 {
	if r.status == "" {
		return 0
	}
	return r.last
}

type sessionRow struct {
	account, contact string
	followed         bool
	last             int64
	kind, used       int32
	closed           bool
	// fresh: the transaction read the session and found none.
	fresh bool
}

type runRow struct {
	id                                                 int64
	account, contact, flow, version, status, pos, step string
	state                                              string
	seq, started, updated, ended                       int64
}

type timerOp struct {
	del              bool
	runID, seq, due  int64
	account, contact string
}

type outboxRow struct {
	id, runID                                 int64
	account, contact, message, status, reason string
	code                                      int32
	detail                                    string
	created, updated                          int64
}

type finishRow struct {
	id             int64
	status, reason string
	code           int32
	detail         string
	at             int64
}

// writeBuffer holds the writes not yet sent, by table. Writes of one row
// are merged (the last one wins; an update or an outcome merges into the
// row's insert), so that each statement touches a row once; writes of
// different rows, or of different tables, do not depend on their order.
// A write that cannot merge (an outcome after a start of the same
// message, an insert of a run after its update) sends the buffer first.
type writeBuffer struct {
	n          int
	contacts   keyed[[2]string, contactRow]
	sessions   keyed[[2]string, sessionRow]
	runs       keyed[int64, runRow]
	runUpdates keyed[int64, runRow]
	timers     keyed[int64, timerOp]
	outbox     keyed[int64, outboxRow]
	finishes   keyed[int64, finishRow]
	starts     keyed[int64, int64]
}

// writeBuffers keeps spilled write buffers for the next transactions:
// their maps and slices, grown to a batch's size, are cleared and used
// again instead of grown anew for each batch (the garbage collector's
// work slows the writer: a follow ingest with GOGC=400 was 8-12% faster).
var writeBuffers = sync.Pool{New: func() any { return new(writeBuffer) }}

// reset empties the buffer, keeping its room.
func (wb *writeBuffer) reset() {
	wb.n = 0
	wb.contacts.reset()
	wb.sessions.reset()
	wb.runs.reset()
	wb.runUpdates.reset()
	wb.timers.reset()
	wb.outbox.reset()
	wb.finishes.reset()
	wb.starts.reset()
}

// reset empties k, keeping its room; the rows are zeroed so that they
// hold on to nothing.
func (k *keyed[K, V]) reset() {
	clear(k.idx)
	clear(k.rows)
	k.rows = k.rows[:0]
}

// buf returns the transaction's write buffer.
func (t *pgTx) buf() *writeBuffer {
	if t.wb == nil {
		t.wb = writeBuffers.Get().(*writeBuffer)
	}
	t.wb.n++
	return t.wb
}

func (t *pgTx) bufInsertRun(r runRow) {
	if wb := t.wb; wb != nil && (wb.runs.at(r.id) != nil || wb.runUpdates.at(r.id) != nil) {
		// A second insert of the run fails in the server, in order.
		t.spill()
	}
	t.buf().runs.put(r.id, r)
	t.touch(r.account, r.contact)
	t.cacheRun(r, false)
}

func (t *pgTx) bufUpdateRun(r runRow) {
	t.touch(r.account, r.contact)
	wb := t.buf()
	if ins := wb.runs.at(r.id); ins != nil {
		ins.status, ins.pos, ins.step, ins.state = r.status, r.pos, r.step, r.state
		ins.seq, ins.updated, ins.ended = r.seq, r.updated, r.ended
		t.cacheRun(*ins, false)
		return
	}
	wb.runUpdates.put(r.id, r)
	t.cacheRun(r, true)
}

func (t *pgTx) bufFinish(f finishRow) {
	if wb := t.wb; wb != nil && wb.starts.at(f.id) != nil {
		t.spill()
	}
	wb := t.buf()
	if o := wb.outbox.at(f.id); o != nil {
		o.status, o.reason, o.code, o.detail, o.updated = f.status, f.reason, f.code, f.detail, f.at
		return
	}
	wb.finishes.put(f.id, f)
}

func (t *pgTx) bufStart(ids []int64, at int64) {
	if wb := t.wb; wb != nil {
		for _, id := range ids {
			if wb.finishes.at(id) != nil {
				t.spill()
				break
			}
		}
	}
	wb := t.buf()
	for _, id := range ids {
		if o := wb.outbox.at(id); o != nil {
			if o.status == string(engine.OutboxPending) {
				o.status, o.updated = string(engine.OutboxSending), at
			}
			continue
		}
		if wb.starts.at(id) == nil {
			// A second start of a message changes nothing: the first
			// made it sending, or found it not pending.
			wb.starts.put(id, at)
		}
	}
}

// spill queues the buffered writes as statements, one per kind of write,
// before the statements queued after them.
func (t *pgTx) spill() {
	wb := t.wb
	if wb == nil || wb.n == 0 {
		return
	}
	t.wb = nil
	if rows := wb.contacts.rows; len(rows) > 0 {
		a, ids, followed := make([]string, len(rows)), make([]string, len(rows)), make([]bool, len(rows))
		first, last, tags, fields := make([]int64, len(rows)), make([]int64, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		conv, status, operator, team, seen := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]int64, len(rows))
		for i, r := range rows {
			a[i], ids[i], followed[i], first[i], last[i], tags[i], fields[i] = r.account, r.id, r.followed, r.first, r.last, r.tags, r.fields
			conv[i], status[i], operator[i], team[i], seen[i] = r.conv, r.status, r.operator, r.team, r.seen()
		}
		q := `INSERT INTO contacts (` + contactCols + `, conv_status, conv_operator, conv_team, conv_seen)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[])`
		what := "insert contact"
		if !allFresh(rows, func(r *contactRow) bool { return r.fresh }) {
			what = "put contact"
			q += `
			ON CONFLICT (account, id) DO UPDATE SET followed = excluded.followed, first_seen = excluded.first_seen, last_seen = excluded.last_seen, tags = excluded.tags, fields = excluded.fields,
				conv = excluded.conv, conv_status = excluded.conv_status, conv_operator = excluded.conv_operator, conv_team = excluded.conv_team, conv_seen = excluded.conv_seen`
		}
		t.rawWrite(label(what, len(rows)), q, nil, a, ids, followed, first, last, tags, fields, conv, status, operator, team, seen)
	}
	if rows := wb.sessions.rows; len(rows) > 0 {
		a, c, followed, last := make([]string, len(rows)), make([]string, len(rows)), make([]bool, len(rows)), make([]int64, len(rows))
		kind, used, closed := make([]int32, len(rows)), make([]int32, len(rows)), make([]bool, len(rows))
		for i, r := range rows {
			a[i], c[i], followed[i], last[i], kind[i], used[i], closed[i] = r.account, r.contact, r.followed, r.last, r.kind, r.used, r.closed
		}
		q := `INSERT INTO sessions (account, contact, followed, last, kind, used, closed)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::bigint[], $5::int[], $6::int[], $7::bool[])`
		what := "insert session"
		if !allFresh(rows, func(r *sessionRow) bool { return r.fresh }) {
			what = "put session"
			q += `
			ON CONFLICT (account, contact) DO UPDATE SET followed = excluded.followed, last = excluded.last, kind = excluded.kind, used = excluded.used, closed = excluded.closed`
		}
		t.rawWrite(label(what, len(rows)), q, nil, a, c, followed, last, kind, used, closed)
	}
	if rows := wb.runs.rows; len(rows) > 0 {
		what := fmt.Sprintf("insert run %d", rows[0].id)
		if len(rows) > 1 {
			what = fmt.Sprintf("insert %d runs (ids %d to %d)", len(rows), rows[0].id, rows[len(rows)-1].id)
		}
		t.rawWrite(what, `INSERT INTO runs (`+runCols+`)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])`,
			nil, runArrays(rows, true)...)
	}
	if rows := wb.runUpdates.rows; len(rows) > 0 {
		want := make([]int64, len(rows))
		for i, r := range rows {
			want[i] = r.id
		}
		q := t.rawQueue(`UPDATE runs SET status = u.status, pos = u.pos, step = u.step, state = u.state, seq = u.seq, updated_at = u.updated_at, ended_at = u.ended_at
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[]) AS u(id, status, pos, step, state, seq, updated_at, ended_at)
			WHERE runs.id = u.id AND runs.id = ANY($1) RETURNING runs.id`, runArrays(rows, false)...)
		q.Query(func(rows pgx.Rows) error {
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if len(got) == len(want) {
				return nil
			}
			found := map[int64]bool{}
			for _, id := range got {
				found[id] = true
			}
			for _, id := range want {
				if !found[id] {
					return fmt.Errorf("update run %d: %w", id, engine.ErrNotFound)
				}
			}
			return nil
		})
		q.Fn = t.wrapFn(label("update run", len(rows)), q.Fn)
	}
	if rows := wb.timers.rows; len(rows) > 0 {
		var del, ids, seqs, dues []int64
		var accounts, contacts []string
		var lanes []int32
		for _, r := range rows {
			if r.del {
				del = append(del, r.runID)
				continue
			}
			ids, seqs, dues = append(ids, r.runID), append(seqs, r.seq), append(dues, r.due)
			accounts, contacts = append(accounts, r.account), append(contacts, r.contact)
			lanes = append(lanes, int32(engine.LaneOf(r.account, r.contact)))
		}
		if len(del) > 0 {
			t.rawWrite(label("delete timer", len(del)), `DELETE FROM timers WHERE run_id = ANY($1::bigint[])`, nil, del)
		}
		if len(ids) > 0 {
			t.rawWrite(label("set timer", len(ids)), `INSERT INTO timers (run_id, seq, due, account, contact, lane)
				SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::integer[])
				ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq, due = excluded.due, account = excluded.account, contact = excluded.contact, lane = excluded.lane`,
				nil, ids, seqs, dues, accounts, contacts, lanes)
		}
	}
	if rows := wb.outbox.rows; len(rows) > 0 {
		n := len(rows)
		ids, runIDs, code, created, updated := make([]int64, n), make([]int64, n), make([]int32, n), make([]int64, n), make([]int64, n)
		a, c, msg, status, reason, detail := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		lanes := make([]int32, n)
		for i, r := range rows {
			ids[i], runIDs[i], a[i], c[i], msg[i], status[i], reason[i] = r.id, r.runID, r.account, r.contact, r.message, r.status, r.reason
			code[i], detail[i], created[i], updated[i] = r.code, r.detail, r.created, r.updated
			lanes[i] = int32(engine.LaneOf(r.account, r.contact))
		}
		t.rawWrite(label("insert outbox", n), `INSERT INTO outbox (`+outboxCols+`, lane)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::bigint[], $11::bigint[], $12::integer[])`,
			nil, ids, runIDs, a, c, msg, status, reason, code, detail, created, updated, lanes)
	}
	if rows := wb.finishes.rows; len(rows) > 0 {
		n := len(rows)
		ids, code, at := make([]int64, n), make([]int32, n), make([]int64, n)
		status, reason, detail := make([]string, n), make([]string, n), make([]string, n)
		for i, r := range rows {
			ids[i], status[i], reason[i], code[i], detail[i], at[i] = r.id, r.status, r.reason, r.code, r.detail, r.at
		}
		what := fmt.Sprintf("finish outbox %d", ids[0])
		if n > 1 {
			what = fmt.Sprintf("finish %d outbox entries", n)
		}
		t.rawWrite(what, `UPDATE outbox SET status = u.status, reason = u.reason, code = u.code, detail = u.detail, updated_at = u.at, started = false
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[]) AS u(id, status, reason, code, detail, at)
			WHERE outbox.id = u.id AND outbox.id = ANY($1)`, nil, ids, status, reason, code, detail, at)
	}
	if rows := wb.starts.rows; len(rows) > 0 {
		ids := make([]int64, len(rows))
		at := rows[0]
		for id, i := range wb.starts.idx {
			ids[i] = id
			at = max(at, rows[i])
		}
		// The flag is in no index: a heap-only update (migration 007).
		// One time for the transaction's marks (its latest), so that
		// the rows are found by id = ANY alone: joined with unnest, and
		// with statistics taken before a burst (a fresh database's), the
		// planner read every pending message through outbox_open (it
		// leads with status), 41,000 for 500 marks, or nested a loop
		// over the marks inside one over the rows. Status is tested in a
		// form no index answers, for the same reason.
		t.rawWrite("start outbox", `UPDATE outbox SET started = true, updated_at = $2
			WHERE id = ANY($1) AND (status = 'pending') IS TRUE AND NOT started`, nil, ids, at)
	}
	// The statements hold arrays of their own: the rows may go.
	wb.reset()
	writeBuffers.Put(wb)
}

// Statements over a set of rows name them in arrays, and are written so
// that every plan finds each row by its key: a join of the unnested
// arrays with a table may otherwise be planned as a hash join over the
// whole table (the planner takes an index probe for a disk read), which
// grows with the table (measured: 5 ms per batch for the contacts read
// and 8 ms for the messages' outcomes at 20,000 rows, where the lookups
// take 0.4 and 0.6 ms). An UPDATE ... FROM unnest also says id = ANY;
// a read goes through LATERAL subqueries that LIMIT or OFFSET keeps from
// being flattened into a join.

// contactsOfQuery reads the contacts of refs ($1 accounts, $2 ids) that
// exist, each joined with its session: the columns of contactWithSession.
const contactsOfQuery = `SELECT c.account, c.id, c.followed, c.first_seen, c.last_seen, c.tags, c.fields, c.conv, s.followed, s.last, s.kind, s.used, s.closed
	FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS u(account, id)
	CROSS JOIN LATERAL (SELECT * FROM contacts c WHERE c.account = u.account AND c.id = u.id LIMIT 1) c
	LEFT JOIN LATERAL (SELECT * FROM sessions s WHERE s.account = u.account AND s.contact = u.id LIMIT 1) s ON true`

// aheadQuery reads, for AddEvents, the contacts and sessions of refs ($1
// accounts, $2 ids): a row for each ref that has either (found is false
// for no contact; the session's columns are null for none), none for a
// ref that has neither, so that a burst of new contacts reads nothing
// back. The columns scanAhead reads.
const aheadQuery = `SELECT u.account, u.id, c.id IS NOT NULL, coalesce(c.followed, false), coalesce(c.first_seen, 0), coalesce(c.last_seen, 0),
		coalesce(c.tags, ''), coalesce(c.fields, ''), coalesce(c.conv, ''), s.followed, s.last, s.kind, s.used, s.closed
	FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS u(account, id)
	LEFT JOIN LATERAL (SELECT * FROM contacts c WHERE c.account = u.account AND c.id = u.id LIMIT 1) c ON true
	LEFT JOIN LATERAL (SELECT * FROM sessions s WHERE s.account = u.account AND s.contact = u.id LIMIT 1) s ON true
	WHERE c.id IS NOT NULL OR s.contact IS NOT NULL`

// activeRunsOfQuery reads the active runs of the contacts of refs ($1
// accounts, $2 ids), newest first.
const activeRunsOfQuery = `SELECT r.* FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS u(account, contact)
	CROSS JOIN LATERAL (SELECT ` + runCols + ` FROM runs WHERE runs.account = u.account AND runs.contact = u.contact AND ended_at = 0 OFFSET 0) r
	ORDER BY r.id DESC`

// allFresh reports whether a transaction read every one of its buffered
// contacts (or sessions) and found it absent: they then go in by a plain
// INSERT. An INSERT ... ON CONFLICT DO UPDATE costs the server a
// speculative insertion per row: a follow ingest's contacts took 1.2-1.8
// times as long to write that way, its sessions 1.6-2.4 times
// (pg_stat_statements, 40,000 new contacts in batches of about 160). A batch that mixes new and known
// rows writes them all in one upsert: a statement of its own for the new
// ones cost more than it saved in batches of a few rows (wxflow bench,
// mixed: 3,000 new contacts in 800 statements, 23 µs a row). A row read
// absent stays absent until the transaction writes it: only the node
// holding a contact's lane writes its contact and session, and its
// transactions run one at a time; should it be there anyway, the insert
// fails and so does the transaction, which stores nothing.
func allFresh[V any](rows []V, fresh func(*V) bool) bool {
	for i := range rows {
		if !fresh(&rows[i]) {
			return false
		}
	}
	return len(rows) > 0
}

// label names a write of n rows in an error.
func label(what string, n int) string {
	if n == 1 {
		return what
	}
	return fmt.Sprintf("%s (%d rows)", what, n)
}

// runArrays is the runs' columns as arrays: every column for an insert,
// the id and the mutable ones for an update.
func runArrays(rows []runRow, insert bool) []any {
	n := len(rows)
	ids, seq, started, updated, ended := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	a, c, flow, version, status, pos, step, state := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rows {
		ids[i], a[i], c[i], flow[i], version[i], status[i], pos[i], step[i], state[i] = r.id, r.account, r.contact, r.flow, r.version, r.status, r.pos, r.step, r.state
		seq[i], started[i], updated[i], ended[i] = r.seq, r.started, r.updated, r.ended
	}
	if insert {
		return []any{ids, a, c, flow, version, status, pos, step, state, seq, started, updated, ended}
	}
	return []any{ids, status, pos, step, state, seq, updated, ended}
}

// rawQueue adds a statement to the next batch as it is, after the
// statements queued before it (the buffered writes are not spilled).
func (t *pgTx) rawQueue(sql string, args ...any) *pgx.QueuedQuery {
	if t.b == nil {
		t.b = &pgx.Batch{}
	}
	return t.b.Queue(sql, args...)
}

// rawWrite queues a write whose failure becomes the transaction's, with
// an optional check of its command tag.
func (t *pgTx) rawWrite(what, sql string, check func(pgconn.CommandTag) error, args ...any) {
	if check == nil {
		check = func(pgconn.CommandTag) error { return nil }
	}
	q := t.rawQueue(sql, args...)
	q.Exec(check)
	q.Fn = t.wrapFn(what, q.Fn)
}

// The cache of what AddEvents read ahead.

// cacheRun keeps a written run in the cache of its contact's active runs,
// when the transaction read them ahead; update is set for an UpdateRun,
// whose row has only the id, the contact and the columns it writes.
func (t *pgTx) cacheRun(r runRow, update bool) {
	k := [2]string{r.account, r.contact}
	runs, ok := t.active[k]
	if !ok {
		return
	}
	kept := runs[:0:0]
	found := false
	for _, a := range runs {
		if a.id != r.id {
			kept = append(kept, a)
			continue
		}
		found = true
		if update {
			// The columns an update does not write are the cached run's.
			r.flow, r.version, r.started = a.flow, a.version, a.started
		}
	}
	if r.ended == 0 {
		if !found && update {
			// An update of an active run the cache does not know: read
			// the contact's runs again when asked.
			delete(t.active, k)
			return
		}
		kept = append(kept, r)
		sort.Slice(kept, func(i, j int) bool { return kept[i].id > kept[j].id })
	}
	t.active[k] = kept
}

// cachedRuns answers a read of a contact's active runs from the cache.
func (t *pgTx) cachedRuns(rf engine.RunFilter) ([]*engine.Run, bool, error) {
	if t.active == nil || !rf.Active || rf.Flow != "" || rf.Status != "" || rf.BeforeID != 0 || rf.Limit != 0 || rf.Contact == "" {
		return nil, false, nil
	}
	rows, ok := t.active[[2]string{rf.Account, rf.Contact}]
	if !ok {
		return nil, false, nil
	}
	var out []*engine.Run
	for _, row := range rows {
		r := &engine.Run{ID: row.id, Account: row.account, Contact: row.contact, Flow: row.flow, Version: row.version,
			Status: engine.RunStatus(row.status), Pos: row.pos, Step: row.step, Seq: row.seq,
			StartedAt: engine.FromUnixNanos(row.started), UpdatedAt: engine.FromUnixNanos(row.updated), EndedAt: engine.FromUnixNanos(row.ended)}
		if err := engine.DecodeState([]byte(row.state), &r.State); err != nil {
			return nil, true, fmt.Errorf("run %d state: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, true, nil
}

// cachedContact answers a read of a contact from the cache: ok is false
// when the cache does not know it, c is nil when there is no such
// contact.
func (t *pgTx) cachedContact(account, id string) (c *engine.Contact, ok bool, err error) {
	row, ok := t.known[[2]string{account, id}]
	if !ok {
		return nil, false, nil
	}
	if row == nil {
		return nil, true, nil
	}
	c = &engine.Contact{Account: row.account, ID: row.id, Followed: row.followed}
	if err := decodeContact(c, row.first, row.last, row.tags, row.fields, row.conv); err != nil {
		return nil, true, fmt.Errorf("contact %s: %w", id, err)
	}
	return c, true, nil
}

// AddEvents records a batch's events in one statement and, in the same
// round trip, reads their contacts with their sessions and active runs
// into the transaction's cache (see engine.BatchTx).
func (t *pgTx) AddEvents(recs []*engine.EventRecord) ([]bool, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	n := len(recs)
	keys, accounts, contacts, kinds, payloads := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	received := make([]int64, 0, n)
	first := make(map[string]int, n)
	var refs [2][]string
	seen := make(map[[2]string]bool, n)
	for i, e := range recs {
		if err := text("add event", e.Key, e.Event.Account, e.Event.Contact, string(e.Event.Kind)); err != nil {
			return nil, err
		}
		if _, dup := first[e.Key]; dup {
			continue
		}
		first[e.Key] = i
		payload, err := json.Marshal(e.Event)
		if err != nil {
			return nil, fmt.Errorf("add event: %w", err)
		}
		keys, accounts, contacts = append(keys, e.Key), append(accounts, e.Event.Account), append(contacts, e.Event.Contact)
		kinds, payloads, received = append(kinds, string(e.Event.Kind)), append(payloads, string(payload)), append(received, engine.UnixNanos(e.ReceivedAt))
		if k := [2]string{e.Event.Account, e.Event.Contact}; !seen[k] {
			seen[k] = true
			refs[0], refs[1] = append(refs[0], k[0]), append(refs[1], k[1])
		}
	}
	if t.err != nil {
		return nil, t.flush()
	}
	inserted := make(map[string]bool, len(keys))
	t.queue(`INSERT INTO events (key, account, contact, kind, payload, received_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
		ON CONFLICT (key) DO NOTHING RETURNING key`, keys, accounts, contacts, kinds, payloads, received).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			inserted[k] = true
		}
		return rows.Err()
	})
	// The contacts the node's cache holds are not read (see cache.go).
	var hits map[[2]string]cacheEntry
	read := refs
	if t.store.lease != nil {
		hits, read = t.store.cache.lookup(refs, t.touched)
	}
	known := make(map[[2]string]*contactRow, len(read[0]))
	sessions := make(map[[2]string]cachedSession, len(read[0]))
	active := make(map[[2]string][]runRow, len(read[0]))
	if len(read[0]) > 0 {
		t.readAhead(read, known, sessions, active)
	}
	t.ahead = nil
	if err := t.flush(); err != nil {
		return nil, fmt.Errorf("add events: %w", err)
	}
	if t.known == nil {
		t.known = map[[2]string]*contactRow{}
	}
	if t.active == nil {
		t.active = map[[2]string][]runRow{}
	}
	if t.sessions == nil {
		// Sessions written from now on are kept for reads, too.
		t.sessions = map[[2]string]cachedSession{}
	}
	for i := range refs[0] {
		k := [2]string{refs[0][i], refs[1][i]}
		if e, ok := hits[k]; ok {
			t.known[k], t.sessions[k], t.active[k] = e.contact, e.session, e.runs
			continue
		}
		t.known[k] = known[k]
		t.sessions[k] = sessions[k]
		t.active[k] = active[k]
	}
	added := make([]bool, n)
	for i, e := range recs {
		added[i] = first[e.Key] == i && inserted[e.Key]
	}
	return added, nil
}

// readAhead queues the reads of refs' contacts with their sessions, and
// of their active runs, into known, sessions and active.
func (t *pgTx) readAhead(refs [2][]string, known map[[2]string]*contactRow, sessions map[[2]string]cachedSession, active map[[2]string][]runRow) {
	t.queue(aheadQuery, refs[0], refs[1]).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := scanAhead(rows, known, sessions); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	t.queue(activeRunsOfQuery, refs[0], refs[1]).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var r runRow
			if err := rows.Scan(&r.id, &r.account, &r.contact, &r.flow, &r.version, &r.status, &r.pos, &r.step, &r.state, &r.seq, &r.started, &r.updated, &r.ended); err != nil {
				return err
			}
			k := [2]string{r.account, r.contact}
			active[k] = append(active[k], r)
		}
		return rows.Err()
	})
}

// scanAhead scans a row of aheadQuery: its contact into contacts and its
// session into sessions, each when found (a ref missing from sessions has
// none).
func scanAhead(row pgx.Row, contacts map[[2]string]*contactRow, sessions map[[2]string]cachedSession) error {
	var c contactRow
	var found bool
	var sFollowed, sClosed *bool
	var sLast, sKind, sUsed *int64
	if err := row.Scan(&c.account, &c.id, &found, &c.followed, &c.first, &c.last, &c.tags, &c.fields, &c.conv,
		&sFollowed, &sLast, &sKind, &sUsed, &sClosed); err != nil {
		return err
	}
	k := [2]string{c.account, c.id}
	if sLast != nil {
		sessions[k] = cachedSession{ok: true, s: channels.Session{Followed: *sFollowed, Last: engine.FromUnixNanos(*sLast),
			Kind: channels.Interaction(*sKind), Used: int(*sUsed), Closed: *sClosed}}
	}
	if found {
		contacts[k] = &c
	}
	return nil
}
