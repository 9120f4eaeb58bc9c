// Package storecopy copies a SQLite store into an empty PostgreSQL
// database: the way from one wxflow serve on its embedded store to
// several nodes sharing PostgreSQL, keeping every contact, conversation,
// run (waiting ones resume where they wait), timer, message, schedule,
// flow version and login.
//
// Both stores keep the same tables with the same columns (times as Unix
// nanoseconds, the same encodings), so the copy goes table by table,
// column by column, in one PostgreSQL transaction: all of it, or nothing.
// What differs is derived as the PostgreSQL store would have written it:
// each outbox entry's and timer's lane, a contact's conv_seen, an outbox
// entry's start mark (a table of its own on SQLite). Messages that were
// being sent when the SQLite server stopped are recovered as a restart of
// it would: unknown when their request may have started, pending (to be
// sent once) otherwise.
package storecopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// Table is what the copy did to one table.
type Table struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// Result is what a copy copied, table by table in the order copied.
type Result struct {
	Tables []Table `json:"tables"`
	// Unknown is how many messages that were being sent when the SQLite
	// server stopped were copied as unknown (their requests may have
	// started); Released how many held back by a pause of the account's
	// sends were copied as plainly pending, to be sent once.
	Unknown, Released int64
	Took              time.Duration
	// Unanalyzed is set when the copy committed and the ANALYZE after it
	// failed: the tables hold the data, without the planner's statistics.
	Unanalyzed error
}

// Rows is the number of rows copied in all.
func (r *Result) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// ErrNotEmpty is the error of a copy into a database that holds a store
// with data, or where a node runs.
var ErrNotEmpty = errors.New("the PostgreSQL database is not empty")

// ErrSourceChanged is the error of a copy during which another process
// (a wxflow serve still running) committed to the SQLite store: the copy
// would miss it, so nothing is copied.
var ErrSourceChanged = errors.New("another process (a wxflow serve still running?) wrote to the SQLite store during the copy: stop it and copy again")

// copied is called once the tables are copied, before the check that the
// SQLite store did not change (tests write to it there).
var copied = func() {}

// skipped are the tables of one store the other has no need of: SQLite's
// bookkeeping (its outbox's claim cursor and start marks, read into the
// outbox's columns), PostgreSQL's nodes, lanes and queue (nodes make
// them), and each store's own migrations.
var skipped = []string{"schema_migrations", "outbox_cursor", "outbox_started", "nodes", "lanes", "queue"}

// recoveredDetail is what a message being sent when the server stopped
// says, as the SQLite store's recovery at a start writes it.
const recoveredDetail = "the process stopped while the message was being sent or marked to be sent next: it may have reached WeChat"

// Copy copies the SQLite store in the file from into the PostgreSQL
// database of the URL to, which it migrates first (a database without a
// store gets one). The database must hold no data and no node: Copy
// refuses it with ErrNotEmpty, having written nothing. The SQLite store
// must be one this wxflow migrated; wxflow serve must not run on it (what
// it commits after the copy began is not copied). now is the time the
// recovered messages' outcomes are recorded at.
func Copy(ctx context.Context, from, to string, now time.Time) (*Result, error) {
	start := time.Now()
	// The SQLite store as this wxflow knows it: opened read-only, it is
	// refused when another wxflow migrated it.
	st, err := sqlite.Open(ctx, from, sqlite.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	st.Close()
	abs, err := filepath.Abs(from)
	if err != nil {
		return nil, err
	}
	src, err := sql.Open("sqlite3", (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_busy_timeout=10000"}).String())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", from, err)
	}
	defer src.Close()
	// A connection of its own watches the file: PRAGMA data_version
	// changes when another connection commits.
	watch, err := src.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", from, err)
	}
	defer watch.Close()
	version0, err := dataVersion(ctx, watch)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", from, err)
	}
	// One read transaction: the copy is of one moment of the file.
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", from, err)
	}
	defer stx.Rollback()

	cfg, err := pgx.ParseConfig(to)
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "wxflow copy-store"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgres.DefaultConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())

	// Another program's tables (a database or schema that is not
	// wxflow's) are refused before the migration writes wxflow's beside
	// them.
	sqliteTables, err := sqliteTableNames(ctx, stx)
	if err != nil {
		return nil, err
	}
	if err := foreignTables(ctx, conn, sqliteTables, true); err != nil {
		return nil, err
	}
	// The PostgreSQL store, migrated to this wxflow's schema (a newer
	// wxflow's is refused here, before its tables are looked at).
	pst, err := postgres.Open(ctx, to, postgres.Options{ReadConns: 1})
	if err != nil {
		return nil, err
	}
	pst.Close()
	if err := foreignTables(ctx, conn, sqliteTables, false); err != nil {
		return nil, err
	}

	res := &Result{}
	tables, err := copiedTables(ctx, sqliteTables, conn)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, conn, func(dst pgx.Tx) error {
		// Nothing may write the tables while they are checked and
		// filled: a node starting now waits for the commit.
		locked := append(slices.Clone(tables), "nodes")
		if _, err := dst.Exec(ctx, `LOCK TABLE `+strings.Join(quoteAll(locked), ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock the tables: %w", err)
		}
		for _, t := range locked {
			var any bool
			if err := dst.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&any); err != nil {
				return fmt.Errorf("check %s: %w", t, err)
			}
			if any {
				what := "its table " + t + " has rows"
				if t == "nodes" {
					what = "a wxflow serve ran on it (its nodes table has rows)"
				}
				return fmt.Errorf("%w: %s; copy into a new database, or a new schema (search_path in the URL)", ErrNotEmpty, what)
			}
		}
		started, err := startMarks(ctx, stx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			n, err := copyTable(ctx, stx, dst, t, started, engine.UnixNanos(now), res)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
			res.Tables = append(res.Tables, Table{Name: t, Rows: n})
		}
		copied()
		if v, err := dataVersion(ctx, watch); err != nil {
			return fmt.Errorf("read %s: %w", from, err)
		} else if v != version0 {
			return ErrSourceChanged
		}
		// The ids the store gives next follow the copied ones.
		for _, q := range []string{
			`SELECT setval('run_ids', (SELECT coalesce(max(id), 0) + 1 FROM runs), false)`,
			`SELECT setval('outbox_ids', (SELECT coalesce(max(id), 0) + 1 FROM outbox), false)`,
			`SELECT setval(pg_get_serial_sequence('conv_notes', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM conv_notes), false)`,
		} {
			if _, err := dst.Exec(ctx, q); err != nil {
				return fmt.Errorf("set the next ids: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The planner's statistics of the filled tables (the plan-cache trap
	// of unanalysed tables: see engine/postgres). PostgreSQL skips, with
	// no more than a notice, the tables a role may not analyze (only
	// their owner, the database's, or a superuser may).
	rows, err := conn.Query(ctx, `SELECT relname::text FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relname = ANY($1)
		AND NOT pg_has_role(current_user, relowner, 'USAGE')
		AND NOT pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
		ORDER BY relname`, tables)
	var foreign []string
	if err == nil {
		foreign, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	switch {
	case err != nil:
		res.Unanalyzed = err
	case len(foreign) > 0:
		res.Unanalyzed = fmt.Errorf("the role may not analyze %s, which it does not own (run ANALYZE as their owner; autovacuum does within a minute or so)", strings.Join(foreign, ", "))
	}
	if _, err := conn.Exec(ctx, `ANALYZE `+strings.Join(quoteAll(tables), ", ")); err != nil && res.Unanalyzed == nil {
		res.Unanalyzed = err
	}
	res.Took = time.Since(start)
	return res, nil
}

// dataVersion is SQLite's data_version of a connection.
func dataVersion(ctx context.Context, c *sql.Conn) (int64, error) {
	var v int64
	err := c.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
	return v, err
}

// quoteAll quotes table names.
func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pgx.Identifier{n}.Sanitize()
	}
	return out
}

// copiedTables are the tables both stores have, in the SQLite file's
// order. A table of the SQLite store the PostgreSQL one lacks (and the
// other way round), other than those skipped, is a defect of this wxflow
// and stops the copy.
func copiedTables(ctx context.Context, sqliteTables []string, conn *pgx.Conn) ([]string, error) {
	pgTables, err := pgTableNames(ctx, conn)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range sqliteTables {
		switch {
		case slices.Contains(skipped, t) || strings.HasPrefix(t, "sqlite_"):
			// SQLite's own (sqlite_sequence, the statistics of an
			// ANALYZE someone ran).
		case !slices.Contains(pgTables, t):
			return nil, fmt.Errorf("the SQLite store has a table %s the PostgreSQL store lacks", t)
		default:
			out = append(out, t)
		}
	}
	for _, t := range pgTables {
		if !slices.Contains(skipped, t) && !slices.Contains(out, t) {
			return nil, fmt.Errorf("the PostgreSQL store has a table %s the SQLite store lacks", t)
		}
	}
	return out, nil
}

// sqliteTableNames are the SQLite store's tables, in the file's order.
func sqliteTableNames(ctx context.Context, stx *sql.Tx) ([]string, error) {
	rows, err := stx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("list the SQLite tables: %w", err)
	}
	return textColumn(rows)
}

// textColumn reads rows of one text column, and closes them.
func textColumn(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// pgTableNames are the tables of the PostgreSQL database's current
// schema (none when no schema of the search_path exists).
func pgTableNames(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("list the PostgreSQL tables: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the PostgreSQL tables: %w", err)
	}
	return out, nil
}

// foreignTables refuses, with ErrNotEmpty, a PostgreSQL schema holding
// tables that are not wxflow's: any table when it holds no wxflow store
// (no schema_migrations), else those neither store knows. Before the
// migration (before) a wxflow store is left to it: a newer wxflow's,
// with tables this one does not know, is refused as such.
func foreignTables(ctx context.Context, conn *pgx.Conn, sqliteTables []string, before bool) error {
	pgTables, err := pgTableNames(ctx, conn)
	if err != nil {
		return err
	}
	store := slices.Contains(pgTables, "schema_migrations")
	if before && store {
		return nil
	}
	var foreign []string
	for _, t := range pgTables {
		if !store || !slices.Contains(sqliteTables, t) && !slices.Contains(skipped, t) {
			foreign = append(foreign, t)
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	return fmt.Errorf("%w: it holds tables that are not wxflow's (%s); copy into a new database, or a new schema (search_path in the URL)", ErrNotEmpty, strings.Join(foreign, ", "))
}

// startMarks are the ids of the outbox entries whose requests may have
// started (SQLite's outbox_started).
func startMarks(ctx context.Context, stx *sql.Tx) (map[int64]bool, error) {
	rows, err := stx.QueryContext(ctx, `SELECT id FROM outbox_started`)
	if err != nil {
		return nil, fmt.Errorf("read the start marks: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// column is a PostgreSQL column: its name and type.
type column struct {
	name, typ string
	// defaulted columns the SQLite store lacks are left to their
	// default (derived ones are set by derive).
	defaulted bool
}

// copyTable copies one table with COPY and returns the rows copied.
func copyTable(ctx context.Context, stx *sql.Tx, dst pgx.Tx, table string, started map[int64]bool, now int64, res *Result) (int64, error) {
	rows, err := dst.Query(ctx, `SELECT column_name, data_type, column_default IS NOT NULL FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return 0, err
	}
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.defaulted); err != nil {
			rows.Close()
			return 0, err
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	srcCols, err := sqliteColumns(ctx, stx, table)
	if err != nil {
		return 0, err
	}
	d := derivations[table]
	var names []string
	var copied []column
	for _, c := range cols {
		_, derived := d[c.name]
		switch {
		case slices.Contains(srcCols, c.name) || derived:
			names = append(names, c.name)
			copied = append(copied, c)
		case c.defaulted:
			// Left to its default (an outbox entry's claimed_by).
		default:
			return 0, fmt.Errorf("column %s has no value in the SQLite store", c.name)
		}
	}
	for _, c := range srcCols {
		if !slices.ContainsFunc(cols, func(p column) bool { return p.name == c }) {
			return 0, fmt.Errorf("the SQLite store's column %s is not in the PostgreSQL store", c)
		}
	}
	srows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(quoteSQLite(srcCols), ", ")+` FROM `+quoteSQLite([]string{table})[0])
	if err != nil {
		return 0, err
	}
	defer srows.Close()
	src := &rowSource{rows: srows, srcCols: srcCols, cols: copied, derive: d, table: table, started: started, now: now, res: res}
	n, err := dst.CopyFrom(ctx, pgx.Identifier{table}, names, src)
	if err != nil {
		if src.err != nil {
			return 0, src.err
		}
		return 0, err
	}
	return n, nil
}

// sqliteColumns are a SQLite table's columns, in order.
func sqliteColumns(ctx context.Context, stx *sql.Tx, table string) ([]string, error) {
	rows, err := stx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	return textColumn(rows)
}

// quoteSQLite quotes SQLite identifiers.
func quoteSQLite(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
	}
	return out
}

// row is a SQLite row by column name.
type row map[string]any

// str is a text column's value.
func (r row) str(name string) string {
	switch v := r[name].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// num is an integer column's value.
func (r row) num(name string) int64 {
	v, _ := r[name].(int64)
	return v
}

// derivations give the PostgreSQL columns the SQLite store keeps
// elsewhere or not at all, and rewrite others, per table.
var derivations = map[string]map[string]func(r row) any{
	"contacts": {
		// The inbox's order: last_seen once the conversation opened
		// (engine/postgres).
		"conv_seen": func(r row) any {
			if r.str("conv_status") == "" {
				return int64(0)
			}
			return r.num("last_seen")
		},
	},
	"timers": {
		"lane": func(r row) any { return int32(engine.LaneOf(r.str("account"), r.str("contact"))) },
	},
	"outbox": {
		"lane":    func(r row) any { return int32(engine.LaneOf(r.str("account"), r.str("contact"))) },
		"started": func(row) any { return false },
	},
}

// rowSource feeds COPY from the SQLite rows.
type rowSource struct {
	rows    *sql.Rows
	srcCols []string
	cols    []column
	derive  map[string]func(r row) any
	table   string
	started map[int64]bool
	now     int64
	res     *Result
	vals    []any
	err     error
}

func (s *rowSource) Next() bool {
	if s.err != nil || !s.rows.Next() {
		return false
	}
	raw := make([]any, len(s.srcCols))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := s.rows.Scan(ptrs...); err != nil {
		s.err = err
		return false
	}
	r := make(row, len(raw))
	for i, c := range s.srcCols {
		r[c] = raw[i]
	}
	if s.table == "outbox" {
		s.recover(r)
	}
	s.vals = make([]any, len(s.cols))
	for i, c := range s.cols {
		var v any
		if f, ok := s.derive[c.name]; ok {
			v = f(r)
		} else {
			v = r[c.name]
		}
		cv, err := convert(v, c.typ)
		if err != nil {
			s.err = fmt.Errorf("column %s: %w", c.name, err)
			return false
		}
		s.vals[i] = cv
	}
	return true
}

// recover does to an outbox entry what the SQLite store's recovery at a
// start does: a message whose request may have started (being sent, or
// marked started) is unknown; one held back by a pause is plainly
// pending again. One claimed and not started is pending already (SQLite
// claims with a cursor, not copied): the node holding its lane sends it.
func (s *rowSource) recover(r row) {
	id, status := r.num("id"), r.str("status")
	switch {
	case status == "sending" || (status == "pending" && s.started[id]):
		detail := recoveredDetail
		if d := r.str("detail"); d != "" {
			detail = d + ": " + detail
		}
		r["status"], r["detail"], r["updated_at"] = "unknown", detail, s.now
		s.res.Unknown++
	case status == "pending" && r.str("reason") == "paused":
		r["reason"], r["detail"], r["updated_at"] = "", "", s.now
		s.res.Released++
	}
}

func (s *rowSource) Values() ([]any, error) { return s.vals, nil }

func (s *rowSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// convert makes a SQLite value (int64, float64, string, []byte or nil)
// the Go value of a PostgreSQL column type.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		if n, ok := v.(int64); ok {
			return n != 0, nil
		}
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "integer":
		switch n := v.(type) {
		case int64:
			if n < -1<<31 || n > 1<<31-1 {
				return nil, fmt.Errorf("%d does not fit an integer", n)
			}
			return int32(n), nil
		case int32:
			return n, nil
		}
	case "bigint":
		switch n := v.(type) {
		case int64:
			return n, nil
		case int32:
			return int64(n), nil
		}
	case "text":
		switch s := v.(type) {
		case string:
			return s, nil
		case []byte:
			return string(s), nil
		}
	case "bytea":
		switch b := v.(type) {
		case []byte:
			return b, nil
		case string:
			return []byte(b), nil
		}
	default:
		return nil, fmt.Errorf("a %s column: the copy knows no such type", typ)
	}
	return nil, fmt.Errorf("a %T value for a %s column", v, typ)
}
