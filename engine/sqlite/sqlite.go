package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // the embedded store's driver

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the embedded store: one SQLite file in WAL mode, one
// writer connection (transactions begin IMMEDIATE) and a separate read pool.
type Store struct {
	// runID is the largest run ID given (NewRunID) or stored.
	runID atomic.Int64
	w, r  *sql.DB
	// wc is the writer connection, held for the store's life: Update
	// runs its transactions on it with BEGIN and COMMIT of its own
	// (wsem lets one at a time), so that its statements carry no
	// cancellable context. database/sql gives every transaction one, and
	// then starts a goroutine to watch it for every query, and go-sqlite3
	// one for every statement, which the writer waits for: about a tenth
	// of the CPU of ingesting a follow, for transactions that last
	// milliseconds.
	wc    *sql.Conn
	wsem  chan struct{}
	wst   map[string]*sql.Stmt
	rst   map[string]*sql.Stmt
	saves atomic.Int64
	// stateBuf is the writer's scratch for encoding run states (Update
	// runs one at a time): grown once, not for every run.
	stateBuf []byte
	// migrated are the migrations Open applied.
	migrated []string
	// readOnly is Options.ReadOnly.
	readOnly bool
	// lock holds the file for Options.Exclusive until Close.
	lock *os.File
	// path and file are the locked file's path and what it was when
	// opened, wal its write-ahead log as first seen: Update commits only
	// while the paths still name them.
	path string
	file os.FileInfo
	wal  os.FileInfo
}

// Options tunes the store.
type Options struct {
	// Synchronous is SQLite's synchronous setting: "FULL" (the default:
	// a commit survives a power cut) or "NORMAL" (survives a crash of the
	// process, not of the machine; faster).
	Synchronous string
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// ReadOnly opens an existing store for reading only, for the
	// commands that read a store a server may be running on (wxflow
	// plan, export-test): Open creates nothing and applies no
	// migration, refusing a file that is not a store or that a wxflow
	// other than this one migrated (the statements of a newer or older
	// schema do not match), and Update fails with ErrReadOnly.
	ReadOnly bool
	// KeepSchema applies no migration to a file that holds a store, for
	// the admin commands (wxflow menu push, qrcode), which write beside
	// a running server: a newer wxflow's command must not migrate the
	// store under an older server. A store another wxflow migrated,
	// newer or older, is refused (as ReadOnly does); a file without a
	// store gets one, as serve would make it.
	KeepSchema bool
	// Exclusive holds the file for this process alone (serve's engine):
	// Open fails with ErrInUse while another process holds it. Two
	// engines on one file assign the same run ids and each sends again
	// the messages the other is sending; the commands that read or write
	// beside a server (backup, plan, export-test, menu push) do not ask.
	Exclusive bool
}

// ErrInUse is the error of Open with Options.Exclusive when another
// process holds the file.
var ErrInUse = errors.New("another wxflow serve is using this database: one process serves a SQLite file (stop it first; to run several, use PostgreSQL, docs/scaling.md)")

// ErrReadOnly is the error of Update on a store opened read-only
// (Options.ReadOnly; engine.ErrReadOnly).
var ErrReadOnly = engine.ErrReadOnly

// Open opens (creating if needed) the store at path and applies the
// embedded migrations it has not applied yet.
func Open(ctx context.Context, file string, opts Options) (*Store, error) {
	sync := strings.ToUpper(opts.Synchronous)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("open store: synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if InMemory(file) {
		return nil, fmt.Errorf("open store %s: %w", file, ErrInMemory)
	}
	var lock *os.File
	path, plain := FilePath(file)
	if !opts.ReadOnly && plain {
		// A new file is made readable by its owner only: it will hold
		// the access tokens (docs/wechat.md). SQLite gives its -wal and
		// -shm files the database file's mode.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				f.Close()
			}
		}
	}
	if opts.Exclusive && plain {
		var err error
		if lock, err = lockFile(path); err != nil {
			return nil, fmt.Errorf("open store %s: %w", file, err)
		}
	}
	st, err := open(ctx, file, sync, opts)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	st.lock = lock
	if lock != nil {
		if st.file, err = lock.Stat(); err != nil {
			st.Close()
			return nil, fmt.Errorf("open store %s: %w", file, err)
		}
		st.path = path
		if wal, err := os.Stat(path + "-wal"); err == nil {
			st.wal = wal
		}
	}
	return st, nil
}

// ErrFileGone is returned by a served store's Update when its file is no
// longer at its path: deleted, moved or replaced while the server ran.
// Nothing is committed: what would be written there is lost at the next
// start, and another server could start on a new file at the path.
var ErrFileGone = errors.New("the database file was deleted, moved or replaced while the server ran: nothing more is written to it; stop wxflow, put the store back (or restore a backup, docs/config.md#backup-and-restore) and start it again")

// checkFile returns ErrFileGone when the path of the store's locked file
// names another file or none.
func (s *Store) checkFile() error {
	if s.file == nil {
		return nil
	}
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(fi, s.file)) {
		return fmt.Errorf("store %s: %w", s.path, ErrFileGone)
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	// The write-ahead log too: SQLite keeps it while the writer's
	// connection is open. Deleted, the commits in it since the last
	// checkpoint were lost at a crash (a clean stop still checkpoints
	// them from the file it has open).
	wal, err := os.Stat(s.path + "-wal")
	switch {
	case err == nil && s.wal == nil:
		s.wal = wal
	case errors.Is(err, fs.ErrNotExist) && s.wal == nil:
	case errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(wal, s.wal)):
		return fmt.Errorf("store %s-wal: %w", s.path, ErrFileGone)
	case err != nil:
		return fmt.Errorf("store %s-wal: %w", s.path, err)
	}
	return nil
}

// IsFilePath reports whether a database setting names a file by its path,
// not a "file:" URI (passed to SQLite as written) or ":memory:".
func IsFilePath(file string) bool {
	return !strings.HasPrefix(file, ":") && !strings.HasPrefix(file, "file:")
}

// FilePath is the file a database setting names: a path itself, or the
// path of a "file:" URI (file:data/wx.db, file:///var/lib/wx.db, its
// parameters left out); ok is false for an in-memory database.
func FilePath(file string) (path string, ok bool) {
	if InMemory(file) {
		return "", false
	}
	if IsFilePath(file) {
		return file, true
	}
	rest, _ := strings.CutPrefix(file, "file:")
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, "#")
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		// file://HOST/PATH: SQLite takes an empty host or localhost.
		host, p, _ := strings.Cut(after, "/")
		if host != "" && host != "localhost" {
			return "", false
		}
		rest = "/" + p
	}
	p, err := url.PathUnescape(rest)
	if err != nil || p == "" {
		return "", false
	}
	return p, true
}

// InMemory reports whether a database setting is an in-memory database
// (":memory:", a file: URI with mode=memory or of :memory:), which cannot
// be a store (ErrInMemory).
func InMemory(file string) bool {
	if file == ":memory:" {
		return true
	}
	rest, ok := strings.CutPrefix(file, "file:")
	if !ok {
		return false
	}
	name, query, _ := strings.Cut(rest, "?")
	q, _ := url.ParseQuery(query)
	return name == ":memory:" || q.Get("mode") == "memory"
}

// ErrInMemory refuses an in-memory database as a store.
var ErrInMemory = errors.New("an in-memory database cannot be a store: wxflow reads and writes it over several connections, each of which would see a database of its own, and everything would be lost when the process ends; name a file (to try flows, wxflow serve without a config runs the sandbox)")

// dsn is the SQLite URI that opens a database setting with the
// connection's parameters q: a path escaped (fileURI), a "file:" URI as
// written, its own parameters first (SQLite reads the first of a name).
func dsn(file string, q url.Values) string {
	if IsFilePath(file) {
		return fileURI(file) + "?" + q.Encode()
	}
	if strings.Contains(file, "?") {
		return file + "&" + q.Encode()
	}
	return file + "?" + q.Encode()
}

// open opens the store (see Open), sync being its synchronous setting.
func open(ctx context.Context, file, sync string, opts Options) (*Store, error) {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", sync)
	q.Set("_foreign_keys", "off")
	q.Set("_cache_size", "-32000")
	if opts.ReadOnly {
		// Neither the file nor its tables are made, and its journal mode
		// stays (setting it is a write: a backup, made by VACUUM INTO
		// in rollback mode, could not be read).
		q.Set("mode", "ro")
	} else {
		q.Set("_journal_mode", "WAL")
	}
	w, err := sql.Open("sqlite3", dsn(file, q))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", file, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s := &Store{w: w, readOnly: opts.ReadOnly}
	migrate := s.migrate
	switch {
	case opts.ReadOnly:
		migrate = s.checkSchema
	case opts.KeepSchema:
		migrate = s.migrateIfNew
	}
	if err := migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", file, err)
	}
	var maxRun int64
	if err := w.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM runs`).Scan(&maxRun); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: run ids: %w", file, err)
	}
	s.runID.Store(maxRun)
	rq := url.Values{}
	rq.Set("mode", "ro")
	rq.Set("_busy_timeout", "10000")
	rq.Set("_cache_size", "-8000")
	r, err := sql.Open("sqlite3", dsn(file, rq))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", file, err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	s.r = r
	if s.wc, err = w.Conn(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", file, err)
	}
	s.wsem = make(chan struct{}, 1)
	if s.wst, err = prepare(ctx, s.wc, !opts.ReadOnly); err == nil {
		s.rst, err = prepare(ctx, r, false)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", file, err)
	}
	return s, nil
}

// Schema is the name of the newest migration this binary knows: the
// schema it migrates a store to.
func Schema() string {
	names, err := engine.MigrationNames(migrations, "migrations")
	if err != nil || len(names) == 0 {
		return ""
	}
	return strings.TrimSuffix(names[len(names)-1], ".sql")
}

// ErrNewerSchema is the error of Open for a database migrated by a newer
// wxflow (engine.ErrNewerSchema).
var ErrNewerSchema = engine.ErrNewerSchema

// pendingMigrations returns the embedded migrations the store has not
// applied, in order; ErrNewerSchema when it applied one this binary does
// not know.
func (s *Store) pendingMigrations(ctx context.Context) ([]string, error) {
	known, err := engine.MigrationNames(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	rows, err := s.w.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read the migrations applied: %w", err)
	}
	defer rows.Close()
	var applied []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read the migrations applied: %w", err)
		}
		applied = append(applied, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the migrations applied: %w", err)
	}
	return engine.PendingMigrations(known, applied)
}

// ErrForeign is the error of Open for a SQLite database that holds
// another application's tables and no wxflow store: wxflow does not add
// its tables to it (a path mistyped, or the wrong file).
var ErrForeign = errors.New("a SQLite database of something else, not a wxflow store: wxflow keeps its store in a file of its own (give the path of a new file)")

// migrateIfNew migrates a file without a store, and checks one that
// holds a store (checkSchema) without migrating it
// (Options.KeepSchema).
func (s *Store) migrateIfNew(ctx context.Context) error {
	if err := s.checkSchema(ctx); !errors.Is(err, ErrNotAStore) {
		return err
	}
	return s.migrate(ctx)
}

// checkEmpty returns ErrForeign, naming a few of them, when the file
// holds tables, views, indexes or triggers (SQLite's own aside).
func (s *Store) checkEmpty(ctx context.Context) error {
	rows, err := s.w.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY type = 'table' DESC, name LIMIT 4`)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("read schema: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if len(names) == 0 {
		return nil
	}
	if len(names) > 3 {
		names[3] = "..."
	}
	return fmt.Errorf("it holds %s: %w", strings.Join(names, ", "), ErrForeign)
}

// checkSchema is what a read-only Open does instead of migrating: the
// file must be a store this wxflow migrated, neither a newer nor an
// older one's. It writes nothing.
func (s *Store) checkSchema(ctx context.Context) error {
	has, err := holdsStore(ctx, s.w)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if !has {
		return ErrNotAStore
	}
	missing, err := s.pendingMigrations(ctx)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("an older wxflow migrated it (it lacks %s), and this command uses a store as it is, without migrating it: apply this version's migrations first with wxflow migrate (which only migrates: this version's wxflow serve migrates the store too when it starts, and sends, fires timers and takes callbacks on it), or run it with the wxflow that serves the store", strings.Join(missing, ", "))
	}
	return nil
}

// migrate applies the migrations the store lacks. A file without a store
// must hold nothing else (ErrForeign).
func (s *Store) migrate(ctx context.Context) error {
	has, err := holdsStore(ctx, s.w)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if !has {
		if err := s.checkEmpty(ctx); err != nil {
			return err
		}
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pending, err := s.pendingMigrations(ctx)
	if err != nil {
		return err
	}
	for _, name := range pending {
		src, err := migrations.ReadFile(path.Join("migrations", name))
		if err != nil {
			return err
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(src)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		s.migrated = append(s.migrated, strings.TrimSuffix(name, ".sql"))
	}
	return nil
}

// Migrated returns the migrations Open applied to the file, oldest first
// (none when it was migrated already, or for a store opened read-only).
func (s *Store) Migrated() []string {
	return s.migrated
}

const contactCols = `account, id, followed, first_seen, last_seen, tags, fields, conv`
const runCols = `id, account, contact, flow, version, status, pos, step, state, seq, started_at, updated_at, ended_at`
const outboxCols = `id, run_id, account, contact, message, status, reason, code, detail, created_at, updated_at`

// contactWithSession selects a contact with its session, the columns
// scanContactSession reads.
const contactWithSession = `SELECT c.account, c.id, c.followed, c.first_seen, c.last_seen, c.tags, c.fields, c.conv, s.followed, s.last, s.kind, s.used, s.closed
		FROM contacts c LEFT JOIN sessions s ON s.account = c.account AND s.contact = c.id`

// refsParam is a parameter holding many contacts (refsJSON) as a list of
// (account, id) rows, for IN.
const refsParam = `(SELECT value->>0, value->>1 FROM json_each(?))`

var readQueries = map[string]string{
	"contact":    contactWithSession + ` WHERE c.account = ? AND c.id = ?`,
	"contactsOf": contactWithSession + ` WHERE (c.account, c.id) IN ` + refsParam,
	"activeRunsOf": `SELECT ` + runCols + ` FROM runs INDEXED BY runs_active
		WHERE ended_at = 0 AND (account, contact) IN ` + refsParam + ` ORDER BY id DESC`,
	"session":    `SELECT followed, last, kind, used, closed FROM sessions WHERE account = ? AND contact = ?`,
	"run":        `SELECT ` + runCols + ` FROM runs WHERE id = ?`,
	"eventReply": `SELECT reply FROM events WHERE key = ?`,
	"outboxOne":  `SELECT ` + outboxCols + ` FROM ` + outboxView + ` WHERE id = ?`,
	"activeRuns": `SELECT ` + runCols + ` FROM runs WHERE account = ? AND contact = ? AND ended_at = 0 ORDER BY id DESC`,
	"lastStart":  `SELECT max(started_at) FROM runs WHERE account = ? AND contact = ? AND flow = ?`,
	"flow":       `SELECT version, name, file, source, loaded_at FROM flow_versions WHERE version = ?`,
	"dueTimers":  `SELECT run_id, seq, due, account, contact FROM timers WHERE due <= ? ORDER BY due, run_id LIMIT ?`,
	"nextTimer":  `SELECT min(due) FROM timers`,
	"schedules":  `SELECT key, due FROM schedules`,
	"chanState":  `SELECT value, expires FROM channel_state WHERE key = ?`,
}

var writeQueries = map[string]string{
	"addEvent":    `INSERT INTO events (key, account, contact, kind, payload, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
	"setReply":    `UPDATE events SET reply = ? WHERE key = ?`,
	"putContact":  `INSERT INTO contacts (` + contactCols + `, conv_status, conv_operator, conv_team) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, id) DO UPDATE SET followed = excluded.followed, first_seen = excluded.first_seen, last_seen = excluded.last_seen, tags = excluded.tags, fields = excluded.fields, conv = excluded.conv, conv_status = excluded.conv_status, conv_operator = excluded.conv_operator, conv_team = excluded.conv_team`,
	"putSession":  `INSERT INTO sessions (account, contact, followed, last, kind, used, closed) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, contact) DO UPDATE SET followed = excluded.followed, last = excluded.last, kind = excluded.kind, used = excluded.used, closed = excluded.closed`,
	"insertRun":   `INSERT INTO runs (id, account, contact, flow, version, status, pos, step, state, seq, started_at, updated_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	"updateRun":   `UPDATE runs SET status = ?, pos = ?, step = ?, state = ?, seq = ?, updated_at = ?, ended_at = ? WHERE id = ?`,
	"setTimer":    `INSERT INTO timers (run_id, seq, due, account, contact) VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq, due = excluded.due, account = excluded.account, contact = excluded.contact`,
	"delTimer":    `DELETE FROM timers WHERE run_id = ?`,
	"insertOut":   `INSERT INTO outbox (run_id, account, contact, message, status, reason, code, detail, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	"finishOut":   `UPDATE outbox SET status = ?, reason = ?, code = ?, detail = ?, updated_at = ? WHERE id = ?`,
	"finishSent":  `UPDATE outbox SET status = 'sent', reason = '', code = 0, detail = '', updated_at = ? WHERE id IN (SELECT value FROM json_each(?))`,
	"startOut":    `INSERT OR IGNORE INTO outbox_started (id) SELECT id FROM outbox WHERE id = ? AND status = 'pending'`,
	"startOuts":   `INSERT OR IGNORE INTO outbox_started (id) SELECT id FROM outbox WHERE id IN (SELECT value FROM json_each(?)) AND status = 'pending'`,
	"unstartOut":  `DELETE FROM outbox_started WHERE id = ?`,
	"unstartOuts": `DELETE FROM outbox_started WHERE id IN (SELECT value FROM json_each(?))`,
	"putFlow":     `INSERT INTO flow_versions (version, name, file, source, loaded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING`,
	"setSched":    `INSERT INTO schedules (key, due) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET due = excluded.due`,
	"delSched":    `DELETE FROM schedules WHERE key = ?`,
	"putState":    `INSERT INTO channel_state (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
	"purgeState":  `DELETE FROM channel_state WHERE expires <= ?`,
}

// preparer is a database or a connection.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

func prepare(ctx context.Context, db preparer, write bool) (map[string]*sql.Stmt, error) {
	out := map[string]*sql.Stmt{}
	add := func(qs map[string]string) error {
		for name, q := range qs {
			st, err := db.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare %s: %w", name, err)
			}
			out[name] = st
		}
		return nil
	}
	if err := add(readQueries); err != nil {
		return nil, err
	}
	if write {
		if err := add(writeQueries); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	for _, m := range []map[string]*sql.Stmt{s.wst, s.rst} {
		for _, st := range m {
			st.Close()
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.wc != nil {
		errs = append(errs, s.wc.Close())
	}
	errs = append(errs, s.w.Close())
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// Update runs fn in one write transaction on the writer connection.
//
// A cancelled ctx keeps the transaction from beginning; one under way runs
// to its end (its statements run without ctx's cancellation, see wc).
func (s *Store) Update(ctx context.Context, fn func(tx engine.Tx) error) (err error) {
	if s.readOnly {
		return ErrReadOnly
	}
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("begin: %w", ctx.Err())
	}
	defer func() { <-s.wsem }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := s.wc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// fn failed or panicked, or the commit failed: nothing of
			// the transaction stays. (A failed COMMIT may have ended it:
			// then there is nothing to roll back.)
			s.wc.ExecContext(ctx, "ROLLBACK")
		}
	}()
	t := &sqliteTx{ctx: ctx, tx: s.wc, st: s.wst, store: s}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.unstart(); err != nil {
		return err
	}
	if err := s.checkFile(); err != nil {
		return err
	}
	if _, err := s.wc.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	done = true
	return nil
}

// View runs fn in a read transaction from the read pool.
func (s *Store) View(ctx context.Context, fn func(tx engine.ReadTx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&sqliteTx{ctx: ctx, tx: tx, rtx: tx, st: s.rst, cache: map[string]*sql.Stmt{}, store: s})
}

type sqliteTx struct {
	ctx context.Context
	// tx runs statements: the writer connection in a transaction of
	// Update, or rtx.
	tx querier
	// rtx is View's read transaction: the read pool's statements are
	// bound to it (and kept in cache); Update's are prepared on the
	// writer connection.
	rtx   *sql.Tx
	st    map[string]*sql.Stmt
	cache map[string]*sql.Stmt
	store *Store
	// sessions holds the sessions read with their contacts in this
	// transaction (engine.Contact reads both in one query).
	sessions map[[2]string]cachedSession
	// finished are the ids of the entries whose outcome the transaction
	// recorded: their start marks go in one statement before the commit.
	finished []int64
}

// unstart removes the start marks of the entries finished in the
// transaction.
func (t *sqliteTx) unstart() error {
	if len(t.finished) == 0 {
		return nil
	}
	if len(t.finished) == 1 {
		_, err := t.exec("unstartOut", t.finished[0])
		return err
	}
	_, err := t.exec("unstartOuts", idsJSON(t.finished))
	return err
}

type cachedSession struct {
	s  channels.Session
	ok bool
}

// querier runs SQL: *sql.Conn or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (t *sqliteTx) stmt(name string) *sql.Stmt {
	if t.rtx == nil {
		return t.st[name]
	}
	if s, ok := t.cache[name]; ok {
		return s
	}
	s := t.rtx.StmtContext(t.ctx, t.st[name])
	t.cache[name] = s
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

type scanner interface{ Scan(dest ...any) error }

func scanContact(row scanner) (*engine.Contact, error) {
	var c engine.Contact
	var first, last int64
	var tags, fields, conv string
	if err := row.Scan(&c.Account, &c.ID, &c.Followed, &first, &last, &tags, &fields, &conv); err != nil {
		return nil, err
	}
	if err := decodeContact(&c, first, last, tags, fields, conv); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeContact sets a contact's times, tags, fields and conversation
// from their columns.
func decodeContact(c *engine.Contact, first, last int64, tags, fields, conv string) error {
	c.FirstSeen, c.LastSeen = engine.FromUnixNanos(first), engine.FromUnixNanos(last)
	if err := engine.DecodeContactJSON(c, tags, fields); err != nil {
		return err
	}
	return engine.DecodeConversationJSON(c, conv)
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return engine.ErrNotFound
	}
	return err
}

func (t *sqliteTx) Contact(account, id string) (*engine.Contact, error) {
	c, err := t.scanContactSession(t.stmt("contact").QueryRowContext(t.ctx, account, id))
	if err != nil {
		return nil, notFound(err)
	}
	return c, nil
}

// scanContactSession scans a contact joined with its session (the
// columns of contactWithSession) and keeps the session for Session.
func (t *sqliteTx) scanContactSession(row scanner) (*engine.Contact, error) {
	var c engine.Contact
	var first, last int64
	var tags, fields, conv string
	var sFollowed, sClosed sql.NullBool
	var sLast, sKind, sUsed sql.NullInt64
	err := row.Scan(&c.Account, &c.ID, &c.Followed, &first, &last, &tags, &fields, &conv,
		&sFollowed, &sLast, &sKind, &sUsed, &sClosed)
	if err != nil {
		return nil, err
	}
	if err := decodeContact(&c, first, last, tags, fields, conv); err != nil {
		return nil, err
	}
	var cs cachedSession
	if sLast.Valid {
		cs = cachedSession{ok: true, s: channels.Session{Followed: sFollowed.Bool, Last: engine.FromUnixNanos(sLast.Int64),
			Kind: channels.Interaction(sKind.Int64), Used: int(sUsed.Int64), Closed: sClosed.Bool}}
	}
	if t.sessions == nil {
		t.sessions = map[[2]string]cachedSession{}
	}
	t.sessions[[2]string{c.Account, c.ID}] = cs
	return &c, nil
}

func (t *sqliteTx) ContactsOf(refs []engine.ContactRef) ([]*engine.Contact, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	return collector(t.scanContactSession)(t.stmt("contactsOf").QueryContext(t.ctx, refsJSON(refs)))
}

func (t *sqliteTx) ActiveRunsOf(refs []engine.ContactRef) ([]*engine.Run, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	return collectRuns(t.stmt("activeRunsOf").QueryContext(t.ctx, refsJSON(refs)))
}

// refsJSON writes contact references as a JSON array of [account, id]
// pairs, the parameter of the queries that read many contacts at once.
func refsJSON(refs []engine.ContactRef) string {
	b := make([]byte, 0, 32*len(refs))
	b = append(b, '[')
	for i, r := range refs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = engine.AppendJSONString(b, r.Account)
		b = append(b, ',')
		b = engine.AppendJSONString(b, r.ID)
		b = append(b, ']')
	}
	return string(append(b, ']'))
}

func (t *sqliteTx) Contacts(account, afterAccount, afterID string, limit int) ([]*engine.Contact, error) {
	q := `SELECT ` + contactCols + ` FROM contacts WHERE followed = 1 AND (account, id) > (?, ?)`
	args := []any{afterAccount, afterID}
	if account != "" {
		q += ` AND account = ?`
		args = append(args, account)
	}
	q += ` ORDER BY account, id LIMIT ?`
	args = append(args, limit)
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*engine.Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *sqliteTx) Session(account, contact string) (channels.Session, bool, error) {
	if cs, ok := t.sessions[[2]string{account, contact}]; ok {
		return cs.s, cs.ok, nil
	}
	var s channels.Session
	var last int64
	var kind int
	err := t.stmt("session").QueryRowContext(t.ctx, account, contact).Scan(&s.Followed, &last, &kind, &s.Used, &s.Closed)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	s.Last, s.Kind = engine.FromUnixNanos(last), channels.Interaction(kind)
	return s, true, nil
}

// collector returns a function that scans every row of a query with scan.
func collector[T any](scan func(scanner) (*T, error)) func(rows *sql.Rows, err error) ([]*T, error) {
	return func(rows *sql.Rows, err error) ([]*T, error) {
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []*T
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, rows.Err()
	}
}

var (
	collectRuns   = collector(scanRun)
	collectOutbox = collector(scanOutbox)
)

func scanRun(row scanner) (*engine.Run, error) {
	var r engine.Run
	var state string
	var started, updated, ended int64
	if err := row.Scan(&r.ID, &r.Account, &r.Contact, &r.Flow, &r.Version, &r.Status, &r.Pos, &r.Step, &state, &r.Seq, &started, &updated, &ended); err != nil {
		return nil, err
	}
	r.StartedAt, r.UpdatedAt, r.EndedAt = engine.FromUnixNanos(started), engine.FromUnixNanos(updated), engine.FromUnixNanos(ended)
	if err := engine.DecodeState([]byte(state), &r.State); err != nil {
		return nil, fmt.Errorf("run %d state: %w", r.ID, err)
	}
	return &r, nil
}

func (t *sqliteTx) Run(id int64) (*engine.Run, error) {
	r, err := scanRun(t.stmt("run").QueryRowContext(t.ctx, id))
	if err != nil {
		return nil, notFound(err)
	}
	return r, nil
}

func (t *sqliteTx) Runs(f engine.RunFilter) ([]*engine.Run, error) {
	if f.Active && f.Account != "" && f.Contact != "" && f.Flow == "" && f.Status == "" && f.Limit == 0 && f.BeforeID == 0 {
		return collectRuns(t.stmt("activeRuns").QueryContext(t.ctx, f.Account, f.Contact))
	}
	q, args := runsQuery(f)
	return collectRuns(t.tx.QueryContext(t.ctx, q, args...))
}

// runsQuery is the query of Runs for a filter, with its arguments.
func runsQuery(f engine.RunFilter) (string, []any) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{{"account", f.Account}, {"contact", f.Contact}, {"flow", f.Flow}, {"status", string(f.Status)}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if f.Active {
		where = append(where, "ended_at = 0")
	}
	if f.BeforeID != 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	q := `SELECT ` + runCols + ` FROM runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Account != "" && f.Contact != "" && f.Flow != "" {
		// A contact's runs of a flow come from runs_flow in its order
		// (the rowid, id, is its last column): ORDER BY id alone read
		// every such run to sort them, for LIMIT 1 too (a schedule's
		// check of its last firing, once a minute for every contact,
		// grew with the runs: 3 days of a scenario took 11 s).
		q += " ORDER BY started_at DESC, id DESC"
	} else {
		q += " ORDER BY id DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return q, args
}

func (t *sqliteTx) LastStart(account, contact, flow string) (time.Time, bool, error) {
	var n sql.NullInt64
	if err := t.stmt("lastStart").QueryRowContext(t.ctx, account, contact, flow).Scan(&n); err != nil {
		return time.Time{}, false, err
	}
	if !n.Valid {
		return time.Time{}, false, nil
	}
	return engine.FromUnixNanos(n.Int64), true, nil
}

func scanOutbox(row scanner) (*engine.OutboxEntry, error) {
	var o engine.OutboxEntry
	var msg string
	var created, updated int64
	if err := row.Scan(&o.ID, &o.RunID, &o.Account, &o.Contact, &msg, &o.Status, &o.Reason, &o.Code, &o.Detail, &created, &updated); err != nil {
		return nil, err
	}
	o.CreatedAt, o.UpdatedAt = engine.FromUnixNanos(created), engine.FromUnixNanos(updated)
	if err := json.Unmarshal([]byte(msg), &o.Message); err != nil {
		return nil, fmt.Errorf("outbox %d message: %w", o.ID, err)
	}
	return &o, nil
}

// outboxView shows claimed entries that are still pending as sending (see
// the outbox_cursor table), but for those held back (reason `paused`).
const outboxView = `(SELECT id, run_id, account, contact, message,
	CASE WHEN status = 'pending' AND reason != 'paused' AND id <= (SELECT claimed FROM outbox_cursor) THEN 'sending' ELSE status END AS status,
	reason, code, detail, created_at, updated_at FROM outbox)`

func (t *sqliteTx) Outbox(f engine.OutboxFilter) ([]*engine.OutboxEntry, error) {
	where := []string{"id > ?"}
	args := []any{f.AfterID}
	for _, c := range []struct{ col, val string }{{"account", f.Account}, {"contact", f.Contact}, {"status", string(f.Status)}, {"reason", string(f.Reason)}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if f.BeforeID != 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	if f.RunID != 0 {
		where = append(where, "run_id = ?")
		args = append(args, f.RunID)
	}
	q := `SELECT ` + outboxCols + ` FROM ` + outboxView + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
	if f.Newest {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return collectOutbox(t.tx.QueryContext(t.ctx, q, args...))
}

func (t *sqliteTx) FlowVersion(version string) (*engine.FlowVersion, error) {
	var v engine.FlowVersion
	var loaded int64
	err := t.stmt("flow").QueryRowContext(t.ctx, version).Scan(&v.Version, &v.Name, &v.File, &v.Source, &loaded)
	if err != nil {
		return nil, notFound(err)
	}
	v.LoadedAt = engine.FromUnixNanos(loaded)
	return &v, nil
}

func (t *sqliteTx) DueTimers(now time.Time, limit int) ([]engine.Timer, error) {
	rows, err := t.stmt("dueTimers").QueryContext(t.ctx, now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engine.Timer
	for rows.Next() {
		var tm engine.Timer
		var due int64
		if err := rows.Scan(&tm.RunID, &tm.Seq, &due, &tm.Account, &tm.Contact); err != nil {
			return nil, err
		}
		tm.Due = engine.FromUnixNanos(due)
		out = append(out, tm)
	}
	return out, rows.Err()
}

func (t *sqliteTx) NextTimer() (time.Time, bool, error) {
	var n sql.NullInt64
	if err := t.stmt("nextTimer").QueryRowContext(t.ctx).Scan(&n); err != nil {
		return time.Time{}, false, err
	}
	if !n.Valid {
		return time.Time{}, false, nil
	}
	return engine.FromUnixNanos(n.Int64), true, nil
}

func (t *sqliteTx) Schedules() (map[string]time.Time, error) {
	rows, err := t.stmt("schedules").QueryContext(t.ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var k string
		var due int64
		if err := rows.Scan(&k, &due); err != nil {
			return nil, err
		}
		out[k] = engine.FromUnixNanos(due)
	}
	return out, rows.Err()
}

func (t *sqliteTx) ChannelState(key string, now time.Time) (string, time.Time, bool, error) {
	var v string
	var exp int64
	err := t.stmt("chanState").QueryRowContext(t.ctx, key).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, err
	}
	if exp <= engine.UnixNanos(now) {
		return "", time.Time{}, false, nil
	}
	return v, engine.FromUnixNanos(exp), true, nil
}

func (t *sqliteTx) Counts() (map[string]int, error) {
	out := map[string]int{}
	for _, table := range []string{"contacts", "sessions", "events", "runs", "timers", "outbox", "schedules", "flow_versions", "conv_notes"} {
		var n int
		if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			return nil, err
		}
		out[table] = n
	}
	return out, nil
}

func (t *sqliteTx) ActiveSteps() ([]engine.StepCount, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT flow, version, pos, step, status, count(*) FROM runs
		WHERE ended_at = 0 GROUP BY flow, version, pos, step, status ORDER BY flow, version, pos, status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engine.StepCount
	for rows.Next() {
		var c engine.StepCount
		if err := rows.Scan(&c.Flow, &c.Version, &c.Pos, &c.Step, &c.Status, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *sqliteTx) exec(name string, args ...any) (sql.Result, error) {
	res, err := t.stmt(name).ExecContext(t.ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

func (t *sqliteTx) AddEvent(e *engine.EventRecord) (bool, error) {
	payload, err := json.Marshal(e.Event)
	if err != nil {
		return false, err
	}
	res, err := t.exec("addEvent", e.Key, e.Event.Account, e.Event.Contact, string(e.Event.Kind), string(payload), engine.UnixNanos(e.ReceivedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *sqliteTx) SetEventReply(key string, outboxID int64) error {
	res, err := t.exec("setReply", outboxID, key)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("event reply: event %q: %w", key, engine.ErrNotFound)
	}
	return nil
}

func (t *sqliteTx) EventReply(key string) (int64, error) {
	var id int64
	err := t.stmt("eventReply").QueryRowContext(t.ctx, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

func (t *sqliteTx) OutboxEntry(id int64) (*engine.OutboxEntry, error) {
	o, err := scanOutbox(t.stmt("outboxOne").QueryRowContext(t.ctx, id))
	if err != nil {
		return nil, notFound(err)
	}
	return o, nil
}

func (t *sqliteTx) PutContact(c *engine.Contact) error {
	tj, fj, err := engine.EncodeContactJSON(c)
	if err != nil {
		return err
	}
	cj, err := engine.EncodeConversationJSON(c)
	if err != nil {
		return err
	}
	_, err = t.exec("putContact", c.Account, c.ID, b2i(c.Followed), engine.UnixNanos(c.FirstSeen), engine.UnixNanos(c.LastSeen), string(tj), string(fj), string(cj),
		string(c.Conv.Status), c.Conv.Operator, c.Conv.Team)
	return err
}

func (t *sqliteTx) PutSession(account, contact string, s channels.Session) error {
	_, err := t.exec("putSession", account, contact, b2i(s.Followed), engine.UnixNanos(s.Last), int(s.Kind), s.Used, b2i(s.Closed))
	if err != nil {
		return err
	}
	if t.sessions != nil {
		t.sessions[[2]string{account, contact}] = cachedSession{s: s, ok: true}
	}
	return nil
}

// NewRunID gives one more than the largest run ID given or stored: one
// process writes a SQLite store.
func (t *sqliteTx) NewRunID() (int64, error) {
	return t.store.runID.Add(1), nil
}

// sawRunID keeps NewRunID above a run ID stored.
func (s *Store) sawRunID(id int64) {
	for {
		cur := s.runID.Load()
		if id <= cur || s.runID.CompareAndSwap(cur, id) {
			return
		}
	}
}

// encodeState returns a run's state in the engine's codec, encoded in
// the writer's scratch buffer (valid until the next call).
func (t *sqliteTx) encodeState(r *engine.Run) ([]byte, error) {
	b, err := engine.AppendState(t.store.stateBuf[:0], &r.State)
	t.store.stateBuf = b[:0]
	return b, err
}

func (t *sqliteTx) InsertRun(r *engine.Run) error {
	state, err := t.encodeState(r)
	if err != nil {
		return fmt.Errorf("run state: %w", err)
	}
	id := r.ID
	if id == 0 {
		id, _ = t.NewRunID()
	}
	if _, err := t.exec("insertRun", id, r.Account, r.Contact, r.Flow, r.Version, string(r.Status), r.Pos, r.Step, string(state), r.Seq, engine.UnixNanos(r.StartedAt), engine.UnixNanos(r.UpdatedAt), engine.UnixNanos(r.EndedAt)); err != nil {
		return err
	}
	r.ID = id
	t.store.sawRunID(id)
	return nil
}

func (t *sqliteTx) UpdateRun(r *engine.Run) error {
	state, err := t.encodeState(r)
	if err != nil {
		return fmt.Errorf("run %d state: %w", r.ID, err)
	}
	res, err := t.exec("updateRun", string(r.Status), r.Pos, r.Step, string(state), r.Seq, engine.UnixNanos(r.UpdatedAt), engine.UnixNanos(r.EndedAt), r.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update run %d: %w", r.ID, engine.ErrNotFound)
	}
	return nil
}

func (t *sqliteTx) SetTimer(tm engine.Timer) error {
	_, err := t.exec("setTimer", tm.RunID, tm.Seq, engine.UnixNanos(tm.Due), tm.Account, tm.Contact)
	return err
}

func (t *sqliteTx) DeleteTimer(runID int64) error {
	_, err := t.exec("delTimer", runID)
	return err
}

func (t *sqliteTx) InsertOutbox(o *engine.OutboxEntry) error {
	msg, err := json.Marshal(o.Message)
	if err != nil {
		return fmt.Errorf("outbox message: %w", err)
	}
	res, err := t.exec("insertOut", o.RunID, o.Account, o.Contact, string(msg), string(o.Status), string(o.Reason), o.Code, o.Detail, engine.UnixNanos(o.CreatedAt), engine.UnixNanos(o.UpdatedAt))
	if err != nil {
		return err
	}
	o.ID, err = res.LastInsertId()
	return err
}

func (t *sqliteTx) ClaimOutbox(limit int, at time.Time) ([]*engine.OutboxEntry, error) {
	out, err := collectOutbox(t.tx.QueryContext(t.ctx, `SELECT `+outboxCols+` FROM outbox WHERE status = 'pending' AND id > (SELECT claimed FROM outbox_cursor) ORDER BY id LIMIT ?`, limit))
	if err != nil || len(out) == 0 {
		return nil, err
	}
	if err := t.ClaimOutboxThrough(out[len(out)-1].ID, at); err != nil {
		return nil, err
	}
	for _, o := range out {
		o.Status = engine.OutboxSending
	}
	return out, nil
}

func (t *sqliteTx) ClaimOutboxThrough(id int64, at time.Time) error {
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE outbox_cursor SET claimed = max(claimed, ?)`, id); err != nil {
		return fmt.Errorf("claim outbox: %w", err)
	}
	return nil
}

func (t *sqliteTx) FinishOutbox(id int64, status engine.OutboxStatus, reason channels.Reason, code int, detail string, at time.Time) error {
	if _, err := t.exec("finishOut", string(status), string(reason), code, detail, engine.UnixNanos(at), id); err != nil {
		return err
	}
	if status == engine.OutboxPending {
		// Held back, not attempted: unmarked now (it may start again in
		// this transaction).
		_, err := t.exec("unstartOut", id)
		return err
	}
	// A final outcome: the mark goes with the commit (unstart), with the
	// others'.
	t.finished = append(t.finished, id)
	return nil
}

// FinishSent records the entries as sent in one statement (engine's
// SentRecorder); one statement for each cost the follow ingest about 3%
// of its time.
func (t *sqliteTx) FinishSent(ids []int64, at time.Time) error {
	if _, err := t.exec("finishSent", engine.UnixNanos(at), idsJSON(ids)); err != nil {
		return err
	}
	t.finished = append(t.finished, ids...)
	return nil
}

// StartOutbox marks the entries in one statement (one for each entry
// cost the follow ingest 3% of its time).
func (t *sqliteTx) StartOutbox(ids []int64, at time.Time) error {
	switch len(ids) {
	case 0:
		return nil
	case 1:
		_, err := t.exec("startOut", ids[0])
		return err
	}
	_, err := t.exec("startOuts", idsJSON(ids))
	return err
}

// idsJSON returns ids as a JSON array, for json_each.
func idsJSON(ids []int64) string {
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

func (t *sqliteTx) RecoverOutbox(at time.Time) (int, error) {
	res, err := t.tx.ExecContext(t.ctx, `UPDATE outbox SET status = 'unknown',
		detail = CASE WHEN detail = '' THEN '' ELSE detail || ': ' END || 'the process stopped while the message was being sent or marked to be sent next: it may have reached WeChat', updated_at = ? WHERE status = 'sending' OR (status = 'pending' AND id IN (SELECT id FROM outbox_started))`, engine.UnixNanos(at))
	if err != nil {
		return 0, fmt.Errorf("recover outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM outbox_started`); err != nil {
		return 0, fmt.Errorf("recover outbox: %w", err)
	}
	// Entries claimed and never started, and entries held back, were not
	// attempted: unclaimed again, the cursor goes back below the first
	// (every claimed entry after it is finished or pending now).
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE outbox_cursor SET claimed = min(claimed,
		coalesce((SELECT min(id) FROM outbox WHERE status = 'pending' AND id <= (SELECT claimed FROM outbox_cursor)), claimed + 1) - 1)`); err != nil {
		return 0, fmt.Errorf("recover outbox: unclaim entries not started: %w", err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE outbox SET reason = '', detail = '', updated_at = ? WHERE status = 'pending' AND reason = 'paused'`, engine.UnixNanos(at)); err != nil {
		return 0, fmt.Errorf("recover outbox: unclaim held entries: %w", err)
	}
	return int(n), nil
}

func (t *sqliteTx) PutFlowVersion(v *engine.FlowVersion) error {
	_, err := t.exec("putFlow", v.Version, v.Name, v.File, v.Source, engine.UnixNanos(v.LoadedAt))
	return err
}

func (t *sqliteTx) PutChannelState(key, value string, expires, now time.Time) error {
	if _, err := t.exec("purgeState", engine.UnixNanos(now)); err != nil {
		return err
	}
	_, err := t.exec("putState", key, value, engine.UnixNanos(expires))
	return err
}

func (t *sqliteTx) SetSchedule(key string, due time.Time) error {
	_, err := t.exec("setSched", key, engine.UnixNanos(due))
	return err
}

func (t *sqliteTx) DeleteSchedule(key string) error {
	_, err := t.exec("delSched", key)
	return err
}

func (t *sqliteTx) Savepoint(fn func() error) error {
	name := "sp" + strconv.FormatInt(t.store.saves.Add(1), 10)
	if _, err := t.tx.ExecContext(t.ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	finished := len(t.finished)
	if err := fn(); err != nil {
		t.sessions = nil
		t.finished = t.finished[:finished]
		if _, rerr := t.tx.ExecContext(t.ctx, "ROLLBACK TO "+name+"; RELEASE "+name); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, "RELEASE "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// Retention: the pruner's deletes, each through an index of migration
// 006, a batch at a time.

// pruneEventsQuery deletes a batch of one class of events (location
// reports or the rest) received before a time.
const pruneEventsQuery = `DELETE FROM events WHERE key IN (SELECT key FROM events INDEXED BY events_age
	WHERE (kind = 'location_report') = ? AND received_at < ? LIMIT ?)`

// pruneRunsQuery selects a batch of runs that ended before a time and may
// go: none of their messages is still to be sent or the newest, and none
// is the newest run.
const pruneRunsQuery = `SELECT id, account, contact FROM runs INDEXED BY runs_ended
	WHERE ended_at != 0 AND ended_at < ? AND id < (SELECT max(id) FROM runs)
	AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.account = runs.account AND o.contact = runs.contact AND o.run_id = runs.id
		AND (o.status IN ('pending', 'sending') OR o.id = (SELECT max(id) FROM outbox)))
	LIMIT ?`

// pruneOutboxQuery deletes the finished messages of a range of ids
// reserved and finished before a time, except the newest and those of
// active runs.
const pruneOutboxQuery = `DELETE FROM outbox WHERE id > ? AND id <= ? AND created_at < ?3 AND updated_at < ?3
	AND status IN ('sent', 'failed', 'unknown') AND id < (SELECT max(id) FROM outbox)
	AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = outbox.run_id AND r.ended_at = 0)`

func (t *sqliteTx) PruneEvents(before time.Time, locations bool, limit int) (int, error) {
	res, err := t.tx.ExecContext(t.ctx, pruneEventsQuery, b2i(locations), engine.UnixNanos(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *sqliteTx) PruneRuns(before time.Time, limit int) (int, int, error) {
	rows, err := t.tx.QueryContext(t.ctx, pruneRunsQuery, engine.UnixNanos(before), limit)
	if err != nil {
		return 0, 0, fmt.Errorf("prune runs: %w", err)
	}
	var refs []byte
	n := 0
	for rows.Next() {
		var id int64
		var account, contact string
		if err := rows.Scan(&id, &account, &contact); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("prune runs: %w", err)
		}
		if n == 0 {
			refs = append(refs, '[')
		} else {
			refs = append(refs, ',')
		}
		refs = append(strconv.AppendInt(append(refs, '['), id, 10), ',')
		refs = append(engine.AppendJSONString(append(engine.AppendJSONString(refs, account), ','), contact), ']')
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("prune runs: %w", err)
	}
	if n == 0 {
		return 0, 0, nil
	}
	list := string(append(refs, ']'))
	res, err := t.tx.ExecContext(t.ctx, `DELETE FROM outbox WHERE id IN (SELECT o.id FROM json_each(?) j
		JOIN outbox o ON o.account = j.value->>1 AND o.contact = j.value->>2 AND o.run_id = j.value->>0)`, list)
	if err != nil {
		return 0, 0, fmt.Errorf("prune runs' messages: %w", err)
	}
	msgs, err := res.RowsAffected()
	if err != nil {
		return 0, 0, err
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM runs WHERE id IN (SELECT value->>0 FROM json_each(?))`, list); err != nil {
		return 0, 0, fmt.Errorf("prune runs: %w", err)
	}
	return n, int(msgs), nil
}

func (t *sqliteTx) PruneOutbox(before, now time.Time, after int64, limit int) (int, int64, bool, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id, created_at FROM outbox WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return 0, after, false, fmt.Errorf("prune outbox: %w", err)
	}
	last, seen, done := after, 0, false
	for rows.Next() {
		var id, created int64
		if err := rows.Scan(&id, &created); err != nil {
			rows.Close()
			return 0, after, false, fmt.Errorf("prune outbox: %w", err)
		}
		seen++
		if created >= engine.UnixNanos(before) && created <= engine.UnixNanos(now) {
			done = true
			break
		}
		last = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, after, false, fmt.Errorf("prune outbox: %w", err)
	}
	done = done || seen < limit
	if last == after {
		return 0, last, done, nil
	}
	res, err := t.tx.ExecContext(t.ctx, pruneOutboxQuery, after, last, engine.UnixNanos(before))
	if err != nil {
		return 0, after, false, fmt.Errorf("prune outbox: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), last, done, err
}
