package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is engine.Store on PostgreSQL: one writer connection (the engine
// writes from one goroutine) and a pool of readers.
type Store struct {
	w, r *pgxpool.Pool
	opts Options
	// lease is the node's lease once it joined (engine.Node), nil
	// before.
	lease *lease
	// migrated are the migrations Open applied.
	migrated []string

	// mu guards ids and runIDs, the outbox and run ids taken from their
	// sequences and not used yet (used in order, by the writer).
	mu     sync.Mutex
	ids    []int64
	runIDs []int64
	// runMax is the largest run id taken from the sequence: the
	// sequence is past it. runChosen is the largest run id a caller
	// chose: a block taken before the sequence was set past it may hold
	// it, and such ids are dropped.
	runMax, runChosen int64

	updates, trips atomic.Int64

	// stateBuf is the writer's scratch for encoding run states (its
	// transactions run one at a time): grown once, not for every run.
	stateBuf []byte

	// cache is a node's cache of the contacts of its lanes (cache.go).
	cache contactCache
	// behind are the migrations a read-only store's database lacks
	// (Behind).
	behind []string
	// known are the embedded migrations' names (Renew looks for others).
	known []string
}

// WriterStats counts the writer's work since Open.
type WriterStats struct {
	// Updates is the number of write transactions (Update calls that
	// reached the server).
	Updates int64
	// RoundTrips is the number of times the writer sent statements and
	// waited for their answer (BEGIN, writes and COMMIT sent together
	// count once).
	RoundTrips int64
}

// WriterStats returns the writer's counts, for benchmarks and metrics.
func (s *Store) WriterStats() WriterStats {
	return WriterStats{Updates: s.updates.Load(), RoundTrips: s.trips.Load()}
}

// Options tunes the store.
type Options struct {
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// Lease is a node's lease (default DefaultLease). The store is a
	// node (engine.Node) once an engine joins it.
	Lease time.Duration
	// Renew is how often the node's engine renews its lease (default
	// Lease/5); it must be less than half the lease.
	Renew time.Duration
	// NodeName names the node in the nodes table (default host:pid).
	NodeName string
	// Version is the version of wxflow the node runs, shown in the nodes
	// table (wxflow nodes); "" for none.
	Version string
	// Now, when set, is the clock leases are measured with (tests);
	// by default the database's.
	Now func() time.Time
	// ReadOnly opens the store for reading only, for the commands that
	// read a database nodes may be running on (wxflow plan, export-test,
	// nodes): Open applies no migration (a newer wxflow's plan must not
	// migrate the schema under the nodes it is about to replace), and
	// Update fails. A database migrated by a newer wxflow is refused, one
	// an older wxflow migrated is read as it is (Behind names what it
	// lacks), and a database wxflow never migrated is refused.
	ReadOnly bool
	// KeepSchema applies no migration to a database that has a store,
	// for the admin commands (wxflow menu push, qrcode), which write
	// beside running nodes: a newer wxflow's command must not migrate
	// the schema under them (nodes of an older version stop when it
	// changes). A database a newer wxflow migrated is refused, one an
	// older wxflow migrated is used as it is (Behind), and one with no
	// store yet is migrated, as serve would.
	KeepSchema bool
	// TxTimeout is how long a transaction may take before it is
	// abandoned: a write (Update) always, and once the store is a node
	// (Join), its reads (View) and its lanes' moves too. The transaction's
	// connection is closed, so that the server rolls it back, and the
	// call fails (a commit that was on the wire is read back, as after
	// any failed commit). Default: twice the lease, and at least 10 s. A
	// database that stalls (its storage or its host hangs, a connection
	// dies without a word) then holds the writer, the node's loops and
	// its stop no longer than that. The commands' reads are not bounded:
	// a command may read much.
	TxTimeout time.Duration
}

// txTimeout is Options.TxTimeout or its default.
func (s *Store) txTimeout() time.Duration {
	if s.opts.TxTimeout > 0 {
		return s.opts.TxTimeout
	}
	return max(2*s.Lease(), 10*time.Second)
}

// bounded is ctx with the store's TxTimeout when the store is a node
// (or always, for a write): see Options.TxTimeout.
func (s *Store) bounded(ctx context.Context, write bool) (context.Context, context.CancelFunc) {
	if !write && s.lease == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.txTimeout())
}

// idBlock is how many outbox ids the writer takes from the sequence at a
// time: one round trip per block instead of one per message.
const idBlock = 256

// idLow is how few ids of a sequence left make a transaction take the
// next block with its next round trip (refill), so that the next
// transactions find ids without a round trip for them (a follow ingest
// takes a run id and an outbox id per event, about a hundred in a
// batch of 115).
const idLow = idBlock / 2

// IsURL reports whether a database setting names a PostgreSQL database
// (a postgres:// or postgresql:// URL) rather than a SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// DefaultConnectTimeout bounds the opening of a connection (the TCP
// connection, TLS and the server's authentication) when the URL sets no
// connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// secretParams are the URL parameters that hold a secret: the password,
// and the passphrase of the client's TLS key.
var secretParams = []string{"password", "sslpassword"}

// Redact returns a database URL with its password, if any, replaced by
// "xxxxx", for logs, errors and the console (and so the passphrase of a
// TLS key, sslpassword). A string that does not parse as a URL is
// returned as its scheme only.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		// A password of characters a URL's user information may not hold
		// as they are (] [ ^ \ " or a letter beyond ASCII), which pgx
		// takes as libpq does: the rest of the URL still says where the
		// database is.
		if masked, _, ok := maskPassword(dsn); ok {
			if u, err = url.Parse(masked); err == nil {
				return redactQuery(u)
			}
		}
		if i := strings.Index(dsn, "://"); i >= 0 {
			return dsn[:i+3] + "…"
		}
		return "(a database URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return redactQuery(u)
}

// redactQuery returns u with the values of its secret parameters
// replaced by "xxxxx".
func redactQuery(u *url.URL) string {
	q := u.Query()
	changed := false
	for _, k := range secretParams {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// maskPassword finds a URL's password as pgx does (libpq's way: the user
// information ends at the first @ before any /, the password after its
// first colon) and returns the URL with it replaced by "xxxxx", and the
// password as written; ok is false when the URL has no password.
func maskPassword(dsn string) (masked, password string, ok bool) {
	i := strings.Index(dsn, "://")
	if i < 0 {
		return "", "", false
	}
	head, p := dsn[:i+3], dsn[i+3:]
	at := strings.IndexAny(p, "@/")
	if at < 0 || p[at] != '@' {
		return "", "", false
	}
	user, password, has := strings.Cut(p[:at], ":")
	if !has {
		return "", "", false
	}
	return head + user + ":xxxxx" + p[at:], password, true
}

// redacted is an error whose text had a password taken out.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// scrub takes a database URL's password out of an error's text.
func scrub(err error, dsn string) error {
	if err == nil {
		return nil
	}
	var pw []string
	u, perr := url.Parse(dsn)
	hint := ""
	if pieces := ambiguousPassword(dsn, u, perr); len(pieces) > 0 {
		pw = append(pw, pieces...)
		hint = " (if the password holds @ / ? # or :, percent-encode them in the URL: @ as %40, / as %2F, ? as %3F, # as %23, : as %3A, % as %25; or leave it out of the URL and set PGPASSWORD)"
	}
	if perr != nil {
		// A password pgx takes and Go's URLs do not (Redact).
		if masked, p, ok := maskPassword(dsn); ok {
			if p != "" {
				pw = append(pw, p)
				if d, err := url.PathUnescape(p); err == nil && d != p {
					pw = append(pw, d)
				}
			}
			u, perr = url.Parse(masked)
		}
	}
	if perr == nil {
		if p, ok := u.User.Password(); ok && p != "" && p != "xxxxx" {
			pw = append(pw, p)
		}
		for _, k := range secretParams {
			if p := u.Query().Get(k); p != "" {
				pw = append(pw, p)
			}
		}
	}
	msg := err.Error()
	for _, p := range pw {
		msg = maskWord(msg, p)
		msg = maskWord(msg, url.QueryEscape(p))
		msg = maskWord(msg, url.PathEscape(p))
	}
	msg += hint
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// ambiguousPassword returns, for a URL whose password holds characters
// a URL gives a meaning to, written as they are (p@ss:w/o?rd), the
// password as far as it may reach (up to the URL's last @) and the
// pieces those characters cut it into, longer than one character: pgx
// reads such a URL its own way, and its errors showed pieces of the
// password ("lookup ss@db: no such host"). None when Go's reading of
// the URL (u, or the error perr) and pgx's agree on the password.
func ambiguousPassword(dsn string, u *url.URL, perr error) []string {
	_, first, ok := maskPassword(dsn)
	if !ok {
		return nil
	}
	if perr == nil {
		if p, _ := u.User.Password(); p == first {
			return nil
		}
	}
	rest := dsn[strings.Index(dsn, "://")+3:]
	colon, last := strings.Index(rest, ":"), strings.LastIndex(rest, "@")
	if colon < 0 || last <= colon || strings.Count(rest, "@") < 2 {
		return nil
	}
	widest := rest[colon+1 : last]
	out := []string{widest}
	for _, piece := range strings.FieldsFunc(widest, func(r rune) bool { return strings.ContainsRune("@/?#:&=", r) }) {
		if len(piece) > 1 {
			out = append(out, piece)
		}
	}
	return out
}

// maskWord replaces the occurrences of secret in s by "xxxxx", but not
// one that is only part of a longer word (a password "ed" in "failed",
// "x" in "context"): the message stays readable, and shows nothing of
// the secret that its own words do not.
func maskWord(s, secret string) string {
	if secret == "" {
		return s
	}
	word := func(b byte) bool {
		return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b >= 0x80
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, secret)
		if i < 0 {
			break
		}
		end := i + len(secret)
		inWord := (i > 0 && word(rest[i-1]) && word(secret[0])) ||
			(end < len(rest) && word(rest[end]) && word(secret[len(secret)-1]))
		if inWord {
			b.WriteString(rest[:i+1])
			rest = rest[i+1:]
			continue
		}
		b.WriteString(rest[:i])
		b.WriteString("xxxxx")
		rest = rest[end:]
	}
	b.WriteString(rest)
	return b.String()
}

// Open connects to the PostgreSQL database of a postgres:// URL and
// applies the embedded migrations it has not applied yet, under an
// advisory lock so that one of several nodes starting at once migrates. A
// database migrated by a newer wxflow (a migration this binary does not
// know) is refused. Errors never carry the URL's password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	name := Redact(dsn)
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, scrub(err, dsn))
	}
	cfg.MaxConns, cfg.MinConns = 1, 0
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A server that takes the connection and never answers (a host
		// half up, a firewall that drops) would hold a start, or a
		// command, for ever: connect_timeout in the URL overrides this.
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	// The store's transactions are read committed: a claim skips rows
	// other nodes locked, a duplicate event is the insert that found a
	// committed one, a lane's lease is read as committed last. A database
	// or role whose default is repeatable read or serializable (ALTER
	// DATABASE ... SET default_transaction_isolation) would turn those
	// into serialization failures, lost dedupes and stalls; the setting
	// sent at connection start overrides it.
	switch iso := strings.ToLower(strings.TrimSpace(cfg.ConnConfig.RuntimeParams["default_transaction_isolation"])); iso {
	case "", "read committed":
		cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	default:
		return nil, fmt.Errorf("open store %s: default_transaction_isolation=%s in the URL: wxflow's store works at read committed (its claims, dedupe and leases rely on it); leave the setting out", name, iso)
	}
	if cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] == "" {
		// A node paused in the middle of a transaction holds its lease's
		// row: the server ends the transaction, so that the node taking
		// over its lanes does not wait for it.
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "10s"
	}
	// plan_cache_mode is PostgreSQL's (auto) unless the URL sets it: a
	// prepared statement is planned with its parameters five times, then
	// keeps a generic plan when that costs no more. Planning every
	// execution (force_custom_plan, the store's setting before) cost the
	// server a fifth of its time end to end (wxflow
	// bench, mixed, 20,000 followers, one node: 19.7 s of server CPU
	// against 13.3 s, 2,602 acknowledgements a second against 3,012).
	// The statements are written so that a generic plan finds rows by
	// key (arrays unnested into LATERAL lookups, id = ANY), and an empty
	// table is not analyzed after migrating (analyze), so that generic
	// plans made on a fresh database are index lookups, not the
	// sequential scans that statistics saying "empty" would give.
	if cfg.ConnConfig.RuntimeParams["random_page_cost"] == "" {
		// Cost an index probe as the read of a cached page, not of a
		// disk's: with the default (4), a batch's rows updated by id
		// from arrays (a batch's message outcomes) were planned as a hash
		// join over the whole outbox, growing with it, rather than as a
		// few hundred lookups.
		cfg.ConnConfig.RuntimeParams["random_page_cost"] = "1.1"
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		// Which connections are wxflow's, and whose, in pg_stat_activity
		// (unless the URL or PGAPPNAME names them).
		cfg.ConnConfig.RuntimeParams["application_name"] = appName(opts)
	}
	rcfg := cfg.Copy()
	rcfg.MaxConns = int32(opts.ReadConns)
	w, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, scrub(err, dsn))
	}
	known, err := engine.MigrationNames(migrations, "migrations")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	s := &Store{w: w, opts: opts, known: known}
	migrate := s.migrate
	switch {
	case opts.ReadOnly:
		migrate = s.checkSchema
	case opts.KeepSchema:
		migrate = s.migrateIfNew
	}
	if err := migrate(ctx); err != nil {
		w.Close()
		if !errors.Is(err, ErrNewerSchema) {
			err = scrub(err, dsn)
		}
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	if s.r, err = pgxpool.NewWithConfig(ctx, rcfg); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", name, scrub(err, dsn))
	}
	return s, nil
}

// appName is the application_name of the store's connections: "wxflow"
// and the node's name (host:pid by default, the name column of the
// nodes table), or "wxflow read-only" and host:pid for the commands that
// read beside the nodes. PostgreSQL keeps its first 63 bytes.
func appName(opts Options) string {
	name := opts.NodeName
	if name == "" {
		name = defaultNodeName()
	}
	if opts.ReadOnly {
		return "wxflow read-only " + name
	}
	return "wxflow " + name
}

// defaultNodeName names a node by its process: host:pid.
func defaultNodeName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// Schema is the name of the newest migration this binary knows: the
// schema it migrates a database to.
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

// ErrReadOnly is the error of Update and Join on a store opened
// read-only (Options.ReadOnly; engine.ErrReadOnly).
var ErrReadOnly = engine.ErrReadOnly

// migrate applies the embedded migrations not applied yet, each in a
// transaction of its own, holding a session advisory lock (per schema) so
// that nodes starting together migrate once; then analyzes the tables, so
// that the planner's first plans (and the generic plans of prepared
// statements, chosen from the sixth execution on) know their sizes.
func (s *Store) migrate(ctx context.Context) error {
	c, err := s.w.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer c.Release()
	conn := c.Conn()
	if err := schemaExists(ctx, conn); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := checkWritable(ctx, conn); err != nil {
		return err
	}
	// A node waits for another's migration, and a migration's DDL may
	// take long on large tables: neither may be cut short by the
	// database's or the role's lock_timeout or statement_timeout, which
	// would stop every node but the first of several starting together.
	// The session's own values come back after.
	if _, err := conn.Exec(ctx, `SET lock_timeout = 0; SET statement_timeout = 0`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	const lockKey = `hashtextextended('wxflow/migrate:' || coalesce(current_schema(), ''), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		_, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock(`+lockKey+`); RESET lock_timeout; RESET statement_timeout`)
		if err != nil {
			// The lock and the settings go with the session: close it.
			conn.Close(context.Background())
		}
	}()
	// CREATE TABLE IF NOT EXISTS needs the schema's CREATE privilege
	// even when the table exists: a node's role may have only its rows'.
	var have bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	missing := s.known
	if !have {
		if err := schemaEmpty(ctx, conn); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := mayCreate(ctx, conn); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	} else {
		var err error
		if missing, err = missingMigrations(ctx, conn, s.known); err != nil {
			return err
		}
	}
	if len(missing) > 0 && have { // a new table's schema was checked above
		if err := mayCreate(ctx, conn); err != nil {
			return fmt.Errorf("migrate to %s: %w", strings.TrimSuffix(missing[len(missing)-1], ".sql"), err)
		}
	}
	n := 0
	for _, name := range missing {
		src, err := migrations.ReadFile(path.Join("migrations", name))
		if err != nil {
			return err
		}
		first := n == 0 && !have
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if first {
				// With the first migration, so that a migration that
				// fails leaves no store that looks migrated (an empty
				// schema_migrations).
				if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at bigint NOT NULL)`); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, string(src)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		n++
		s.migrated = append(s.migrated, strings.TrimSuffix(name, ".sql"))
	}
	if n > 0 {
		if err := backfillLanes(ctx, conn); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := analyze(ctx, conn); err != nil {
			return err
		}
	}
	return checkPrivileges(ctx, conn)
}

// storeTables and storeSequences are the tables and sequences the
// migrations leave in wxflow's schema (TestStoreRelations keeps the
// lists in step with them).
var (
	storeTables = []string{"schema_migrations", "flow_versions", "contacts", "sessions", "events", "runs", "timers",
		"outbox", "schedules", "channel_state", "nodes", "lanes", "queue", "event_notes", "conv_notes",
		"console_logins", "uploads"}
	storeSequences = []string{"outbox_ids", "run_ids", "queue_id_seq", "conv_notes_id_seq"}
)

// checkPrivileges refuses, at the start of a node, a role that lacks a
// privilege on one of wxflow's tables or sequences, or on its fence
// function, naming the GRANT that gives it. PostgreSQL's own error
// comes only when a node first touches the table (a console login, an
// upload, the pruner): the node started, answered its health checks,
// and its console said it could not reach its database. It happens to a
// role given the rows' privileges before a migration added a table
// (GRANT ... ON ALL TABLES without ALTER DEFAULT PRIVILEGES, or default
// privileges set by a role other than the one that migrates).
func checkPrivileges(ctx context.Context, conn *pgx.Conn) error {
	var schema, role string
	var tables, seqs []string
	var fence bool
	err := conn.QueryRow(ctx, `SELECT current_schema(), current_user,
		coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
			WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relkind = 'r' AND c.relname = ANY($1)
			AND NOT (has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
				AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE'))), '{}'),
		coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
			WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relkind = 'S' AND c.relname = ANY($2)
			AND NOT (has_sequence_privilege(c.oid, 'USAGE') AND has_sequence_privilege(c.oid, 'SELECT')
				AND has_sequence_privilege(c.oid, 'UPDATE'))), '{}'),
		coalesce((SELECT has_function_privilege(p.oid, 'EXECUTE') FROM pg_proc p
			WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND p.proname = 'wxflow_fence' LIMIT 1), true)`,
		storeTables, storeSequences).Scan(&schema, &role, &tables, &seqs, &fence)
	if err != nil {
		return fmt.Errorf("check the role's privileges: %w", err)
	}
	if len(tables) == 0 && len(seqs) == 0 && fence {
		return nil
	}
	s, r := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{role}.Sanitize()
	var lacks, grants []string
	if len(tables) > 0 {
		lacks = append(lacks, "tables "+strings.Join(tables, ", ")+" (SELECT, INSERT, UPDATE, DELETE)")
		grants = append(grants, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+s+" TO "+r)
	}
	if len(seqs) > 0 {
		lacks = append(lacks, "sequences "+strings.Join(seqs, ", ")+" (USAGE, SELECT, UPDATE)")
		grants = append(grants, "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "+s+" TO "+r)
	}
	if !fence {
		lacks = append(lacks, "function wxflow_fence (EXECUTE)")
		grants = append(grants, "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "+s+" TO "+r)
	}
	return fmt.Errorf("the role %s lacks privileges on wxflow's %s in schema %s: as their owner, %s; and, for the tables of later migrations, ALTER DEFAULT PRIVILEGES as the role that migrates (docs/scaling.md#roles-and-privileges)",
		role, strings.Join(lacks, "; "), schema, strings.Join(grants, "; "))
}

// schemaExists says what to do when no schema of the connection's
// search_path exists, or none the role may use: PostgreSQL's own error,
// at the first CREATE, would only say that none was selected. A name of
// the search_path written with capitals and without double quotes is
// one PostgreSQL lower-cases (search_path=Wxflow is wxflow): when the
// schema as written exists, the error says to quote it. It first checks
// the database's encoding (checkEncoding).
func schemaExists(ctx context.Context, conn *pgx.Conn) error {
	if err := checkEncoding(ctx, conn); err != nil {
		return err
	}
	var schema *string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if schema != nil {
		return nil
	}
	var path, role string
	if err := conn.QueryRow(ctx, `SELECT current_setting('search_path'), current_user`).Scan(&path, &role); err != nil {
		return err
	}
	entries := searchPath(path)
	var names, written []string
	for _, e := range entries {
		names = append(names, e.name)
		if e.written != e.name {
			written = append(written, e.written)
		}
	}
	var denied, cased []string
	err := conn.QueryRow(ctx, `SELECT
		coalesce((SELECT array_agg(nspname::text ORDER BY nspname) FROM pg_namespace WHERE nspname = ANY($1) AND NOT has_schema_privilege(oid, 'USAGE')), '{}'),
		coalesce((SELECT array_agg(nspname::text ORDER BY nspname) FROM pg_namespace WHERE nspname = ANY($2)), '{}')`,
		names, written).Scan(&denied, &cased)
	if err != nil {
		return err
	}
	if len(denied) > 0 {
		return fmt.Errorf("the role %s may not use schema %s of the search_path (%s): GRANT USAGE ON SCHEMA %s TO %s (and CREATE, for wxflow serve to make or migrate its tables there)",
			role, denied[0], path, pgx.Identifier{denied[0]}.Sanitize(), pgx.Identifier{role}.Sanitize())
	}
	if len(cased) > 0 {
		for _, e := range entries {
			if e.written == cased[0] {
				q := pgx.Identifier{cased[0]}.Sanitize()
				return fmt.Errorf("no schema of the search_path (%s) exists: PostgreSQL lower-cases a name not in double quotes, so %s is schema %s, and the schema %s is another: quote its name, search_path=%s in the URL (%s)",
					path, e.written, e.name, q, url.QueryEscape(q), q)
			}
		}
	}
	return fmt.Errorf("no schema of the search_path (%s) exists: create it first (CREATE SCHEMA name AUTHORIZATION the_user), or leave search_path out of the URL for the user's default", path)
}

// pathEntry is a schema of a search_path: its name as written (without
// its double quotes, if any) and the name PostgreSQL takes it for.
type pathEntry struct{ written, name string }

// searchPath splits a search_path setting as PostgreSQL does
// (SplitIdentifierString): names separated by commas, white space around
// them ignored, a name in double quotes kept as it is ("" for a quote),
// one without them lower-cased (ASCII letters, as in a UTF8 database).
func searchPath(path string) []pathEntry {
	var out []pathEntry
	rest := path
	for {
		rest = strings.TrimLeft(rest, " \t\n\r\f\v")
		if rest == "" {
			return out
		}
		var e pathEntry
		if rest[0] == '"' {
			var b strings.Builder
			i := 1
			for i < len(rest) {
				if rest[i] == '"' {
					if i+1 < len(rest) && rest[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(rest[i])
				i++
			}
			e = pathEntry{written: b.String(), name: b.String()}
			rest = rest[i:]
		} else {
			end := strings.IndexAny(rest, ", \t\n\r\f\v")
			if end < 0 {
				end = len(rest)
			}
			w := rest[:end]
			e = pathEntry{written: w, name: lowerASCII(w)}
			rest = rest[end:]
		}
		out = append(out, e)
		rest = strings.TrimLeft(rest, " \t\n\r\f\v")
		if !strings.HasPrefix(rest, ",") {
			return out
		}
		rest = rest[1:]
	}
}

// lowerASCII lower-cases the ASCII letters of s, as PostgreSQL does with
// an identifier not in double quotes.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checkWritable refuses a server that takes no writes: a standby (in
// recovery), or one whose transactions are read-only by default
// (default_transaction_read_only, set for the role, the database, the
// server or in the URL). PostgreSQL's own error would come at the first
// write, and say only "cannot execute INSERT in a read-only transaction".
func checkWritable(ctx context.Context, conn *pgx.Conn) error {
	var standby bool
	var readOnly, role, db string
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_setting('transaction_read_only'), current_user, current_database()`).Scan(&standby, &readOnly, &role, &db); err != nil {
		return err
	}
	switch {
	case standby:
		return errors.New("the server is a standby (in recovery) and takes no writes: point database: at the primary; with the primary and its standbys listed in the URL (postgres://db1,db2/wxflow), add target_session_attrs=read-write, and a node connects to whichever is the primary (docs/scaling.md#running-on-postgresql)")
	case readOnly == "on":
		return fmt.Errorf("transactions of role %s in database %s are read-only by default (default_transaction_read_only is on, for the role, the database, the server or in the URL), and wxflow writes: ALTER ROLE %s SET default_transaction_read_only = off, or remove the setting where it was made",
			role, db, pgx.Identifier{role}.Sanitize())
	}
	return nil
}

// checkEncoding refuses a database whose encoding is not UTF8. WeChat's
// text (Chinese, emoji) is UTF-8; in a LATIN1 database its bytes are
// stored as LATIN1 characters they are not (the connection's encoding is
// the server's unless set): garbled for every other client, and
// corrupted by a conversion to UTF8 (a dump restored into a UTF8
// database); with client_encoding=UTF8, every such event fails.
func checkEncoding(ctx context.Context, conn *pgx.Conn) error {
	var enc, db string
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_encoding'), current_database()`).Scan(&enc, &db); err != nil {
		return err
	}
	if enc == "UTF8" {
		return nil
	}
	return fmt.Errorf("the database %s is encoded in %s: wxflow stores WeChat's text (Chinese, emoji) and needs UTF8: CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0, and copy what it holds there", db, enc, pgx.Identifier{db + "_utf8"}.Sanitize())
}

// mayCreate says what to do when the role may not create tables in the
// schema wxflow's would go to: PostgreSQL's own error is "permission
// denied for schema", and since PostgreSQL 15 only the database's owner
// may create in public.
func mayCreate(ctx context.Context, conn *pgx.Conn) error {
	var schema, role string
	var ok bool
	err := conn.QueryRow(ctx, `SELECT current_schema(), current_user, has_schema_privilege(current_schema(), 'CREATE')`).Scan(&schema, &role, &ok)
	if err != nil || ok {
		return err
	}
	why := ""
	if schema == "public" {
		why = " (since PostgreSQL 15, only the database's owner may in public)"
	}
	return fmt.Errorf("the role %s may not create tables in schema %s%s: GRANT CREATE ON SCHEMA %s TO %s, or give wxflow a schema of its own (CREATE SCHEMA wxflow AUTHORIZATION %s, then search_path=wxflow in the URL); or have the schema's owner, or a role that may create there, migrate it (wxflow migrate --database with that role's URL) and run the nodes as this one (docs/scaling.md#roles-and-privileges)",
		role, schema, why, pgx.Identifier{schema}.Sanitize(), pgx.Identifier{role}.Sanitize(), pgx.Identifier{role}.Sanitize())
}

// missingMigrations returns the migrations of known that the database has
// not applied, in order; ErrNewerSchema when it applied one that known
// lacks.
func missingMigrations(ctx context.Context, conn *pgx.Conn, known []string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if hasCode(err, "42703") { // undefined_column
		return nil, errForeignMigrations
	}
	if err != nil {
		return nil, fmt.Errorf("read the migrations applied: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the migrations applied: %w", err)
	}
	return engine.PendingMigrations(known, applied)
}

// ErrForeign is the error of Open for a database whose schema (the
// first of the search_path) holds another application's tables and no
// wxflow store: wxflow does not add its tables among them.
var ErrForeign = errors.New("another application's tables are there, and no wxflow store: give wxflow a database of its own, or a schema of its own (CREATE SCHEMA wxflow, and search_path=wxflow in the URL)")

// schemaEmpty returns ErrForeign, naming a few of them, when the schema
// wxflow's tables would go to holds tables, views or sequences of its
// own (an extension's objects aside: PostGIS's spatial_ref_sys, say).
func schemaEmpty(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY c.relkind NOT IN ('r', 'p'), c.relname LIMIT 4`)
	if err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	if len(names) == 0 {
		return nil
	}
	if len(names) > 3 {
		names[3] = "..."
	}
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	return fmt.Errorf("schema %s holds %s: %w", schema, strings.Join(names, ", "), ErrForeign)
}

// errForeignMigrations refuses a schema_migrations table of another
// tool's layout.
var errForeignMigrations = errors.New("the schema_migrations table here is not wxflow's (another tool's, such as golang-migrate, keeps its own there): give wxflow a schema of its own (CREATE SCHEMA wxflow, and search_path=wxflow in the URL)")

// errNoStore is checkSchema's error for a database without a store.
var errNoStore = errors.New("no wxflow store in this database (no schema_migrations table in the search_path's schema): wxflow serve creates it when it starts")

// checkSchema is what a read-only Open does instead of migrating: it
// refuses a database wxflow never migrated and one a newer wxflow did,
// and notes the migrations a database an older wxflow migrated lacks
// (Behind). It takes no lock and writes nothing. A store that will
// write (KeepSchema: the admin commands) is refused a server that takes
// no writes (checkWritable) before it tries.
func (s *Store) checkSchema(ctx context.Context) error {
	c, err := s.w.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	defer c.Release()
	conn := c.Conn()
	if err := schemaExists(ctx, conn); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if !s.opts.ReadOnly {
		if err := checkWritable(ctx, conn); err != nil {
			return err
		}
	}
	var table *string
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations')::text`).Scan(&table); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if table == nil {
		return errNoStore
	}
	s.behind, err = missingMigrations(ctx, conn, s.known)
	if err == nil && len(s.behind) == len(s.known) {
		// An empty table (a first migration that failed before wxflow
		// made it in the same transaction): no store yet.
		return errNoStore
	}
	return err
}

// migrateIfNew migrates a database that has no store yet, and checks
// one that has (checkSchema) without migrating it (Options.KeepSchema).
func (s *Store) migrateIfNew(ctx context.Context) error {
	if err := s.checkSchema(ctx); !errors.Is(err, errNoStore) {
		return err
	}
	return s.migrate(ctx)
}

// Behind returns the migrations this wxflow knows and the database lacks,
// for a store opened read-only (Options.ReadOnly): the database was
// migrated by an older wxflow, whose nodes may still run on it, and is
// read as it is (a command that needs what a migration adds fails with
// PostgreSQL's error for it). Nil when none is missing, and for a store
// Open migrated.
func (s *Store) Behind() []string {
	return s.behind
}

// Migrated returns the migrations Open applied to the database, oldest
// first (none when it was migrated already, or for a store opened
// read-only).
func (s *Store) Migrated() []string {
	return s.migrated
}

// analyze gathers the planner's statistics of the tables that hold rows,
// after a migration. Empty tables are left unanalyzed on purpose: the
// planner then assumes a table of some pages and plans index lookups,
// while statistics saying "empty" make it plan sequential scans, which
// prepared statements keep as their generic plan (from the sixth
// execution on) until autovacuum analyzes the table, a minute or more
// later; ingest on a fresh database was several times slower meanwhile.
func analyze(ctx context.Context, conn *pgx.Conn) error {
	for _, table := range append(tables, "channel_state") {
		var has bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&has); err != nil {
			return fmt.Errorf("migrate: analyze %s: %w", table, err)
		}
		if !has {
			continue
		}
		if _, err := conn.Exec(ctx, `ANALYZE `+table); err != nil {
			return fmt.Errorf("migrate: analyze %s: %w", table, err)
		}
	}
	return nil
}

// tables are the tables Counts counts.
var tables = []string{"contacts", "sessions", "events", "runs", "timers", "outbox", "schedules", "flow_versions", "conv_notes"}

// Close closes both connection pools.
func (s *Store) Close() error {
	if s.r != nil {
		s.r.Close()
	}
	s.closeLease()
	s.w.Close()
	return nil
}

// Update runs fn in one transaction on the writer connection. Writes
// whose result fn does not need are queued and sent with the next read or
// with the commit, in one round trip (see the package documentation). An
// error of a database that could not be reached or did not answer wraps
// engine.ErrUnavailable.
func (s *Store) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return unavailable(ctx, s.update(ctx, fn))
}

func (s *Store) update(ctx context.Context, fn func(tx engine.Tx) error) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	ctx, cancel := s.bounded(ctx, true)
	defer cancel()
	c, err := s.w.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &pgTx{ctx: ctx, conn: c.Conn(), store: s, trips: &s.trips}
	s.updates.Add(1)
	committed := false
	defer func() {
		if !committed {
			t.rollback()
			// The database may hold the transaction's writes or not (a
			// commit the client saw fail may have gone through).
			s.cache.clear()
		}
		c.Release()
	}()
	t.queue(`BEGIN`)
	if s.lease != nil {
		t.fence()
	}
	ferr := fn(t)
	if t.err != nil {
		// A queued write failed: that is the cause, whatever fn made of
		// the error a later read returned.
		return t.err
	}
	if ferr != nil {
		return ferr
	}
	if err := t.flushQueued(); err != nil {
		return err
	}
	t.queue(`COMMIT`)
	if err := t.flush(); err != nil {
		if t.err != nil {
			return t.err
		}
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	if s.lease != nil {
		s.cache.committed(t)
	}
	return nil
}

// View runs fn in a read-only transaction (one snapshot) from the read
// pool. An error of a database that could not be reached or did not
// answer wraps engine.ErrUnavailable.
func (s *Store) View(ctx context.Context, fn func(tx engine.ReadTx) error) error {
	return unavailable(ctx, s.view(ctx, fn))
}

func (s *Store) view(ctx context.Context, fn func(tx engine.ReadTx) error) error {
	ctx, cancel := s.bounded(ctx, false)
	defer cancel()
	c, err := s.r.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	t := &pgTx{ctx: ctx, conn: c.Conn(), store: s}
	defer func() {
		t.rollback()
		c.Release()
	}()
	t.queue(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`)
	return fn(t)
}

// pgTx is a transaction. Statements are queued in b and sent together
// (one round trip) with the next statement whose result is needed.
type pgTx struct {
	ctx   context.Context
	conn  *pgx.Conn
	store *Store
	b     *pgx.Batch
	// sent is true once a batch went to the server: the transaction is
	// open there.
	sent bool
	// err is the first failure of a queued write: the transaction can no
	// longer commit, and every call returns it (until a savepoint that
	// holds the write is rolled back).
	err error
	// depth is the number of savepoints open.
	depth int
	// queuedRows are the items the transaction queued, written at its
	// commit (flushQueued).
	queuedRows []queuedRow
	// trips counts the round trips (the writer's; nil for readers).
	trips *atomic.Int64
	// sessions holds the sessions read with their contacts in this
	// transaction (engine.Contact reads both in one query).
	sessions map[[2]string]cachedSession
	// ahead is the contact (with its session) read together with the
	// last event added, which the engine asks for next: Contact answers
	// it without a round trip of its own. Writing the contact, or rolling
	// a savepoint back, drops it.
	ahead *prefetched
	// refilled names the sequences whose next block the transaction
	// asked for (refill).
	refilled map[string]bool
	// wb holds the writes not sent yet, by table (see batch.go); they
	// are queued as statements before any other statement.
	wb *writeBuffer
	// known and active are the contacts (nil: none) and their active
	// runs that AddEvents read ahead, kept up to date by the writes;
	// rolling a savepoint back drops them.
	known  map[[2]string]*contactRow
	active map[[2]string][]runRow
	// touched are the contacts whose contact, session or runs the
	// transaction wrote (the node's cache drops or replaces them at the
	// commit); rolling a savepoint back keeps them.
	touched map[[2]string]bool
}

type prefetched struct {
	key [2]string
	c   *engine.Contact // nil: there is no such contact
	err error
}

type cachedSession struct {
	s  channels.Session
	ok bool
}

// queue adds a statement to the next batch, after the buffered writes.
func (t *pgTx) queue(sql string, args ...any) *pgx.QueuedQuery {
	t.spill()
	return t.rawQueue(sql, args...)
}

// write queues a statement whose result nobody waits for. Its failure is
// recorded in t.err.
func (t *pgTx) write(what, sql string, args ...any) {
	t.writeChecked(what, sql, func(pgconn.CommandTag) error { return nil }, args...)
}

// writeChecked queues a statement and a check of its command tag.
func (t *pgTx) writeChecked(what, sql string, check func(pgconn.CommandTag) error, args ...any) {
	q := t.queue(sql, args...)
	q.Exec(check)
	q.Fn = t.wrapFn(what, q.Fn)
}

// wrapFn records a queued write's failure as the transaction's.
func (t *pgTx) wrapFn(what string, fn func(pgx.BatchResults) error) func(pgx.BatchResults) error {
	return func(br pgx.BatchResults) error {
		err := fn(br)
		if err != nil && t.err == nil {
			t.err = fmt.Errorf("%s: %w", what, err)
		}
		return err
	}
}

// flush sends the queued statements and runs their callbacks. When a
// queued write failed, it returns an error that names it without
// wrapping it: the caller's own read did not fail for its reason (a
// missing row must not read as ErrNotFound of the read).
func (t *pgTx) flush() error {
	if t.err != nil {
		return fmt.Errorf("an earlier write of the transaction failed: %v", t.err)
	}
	t.spill()
	if t.b == nil || t.b.Len() == 0 {
		return nil
	}
	b := t.b
	t.b = nil
	t.sent = true
	t.trip()
	err := t.conn.SendBatch(t.ctx, b).Close()
	if t.err != nil {
		return fmt.Errorf("an earlier write of the transaction failed: %v", t.err)
	}
	return err
}

// trip counts a round trip of the writer.
func (t *pgTx) trip() {
	if t.trips != nil {
		t.trips.Add(1)
	}
}

// query queues a query and sends it with the statements before it.
func (t *pgTx) query(sql string, args []any, fn func(rows pgx.Rows) error) error {
	if t.err != nil {
		return t.flush()
	}
	t.queue(sql, args...).Query(fn)
	return t.flush()
}

// queryRow is query for one row; pgx.ErrNoRows is engine.ErrNotFound.
func (t *pgTx) queryRow(sql string, args []any, dest ...any) error {
	if t.err != nil {
		return t.flush()
	}
	var rowErr error
	t.queue(sql, args...).QueryRow(func(row pgx.Row) error {
		rowErr = row.Scan(dest...)
		return nil
	})
	if err := t.flush(); err != nil {
		return err
	}
	if errors.Is(rowErr, pgx.ErrNoRows) {
		return engine.ErrNotFound
	}
	return rowErr
}

// rollback ends a transaction that will not commit. A connection that
// cannot roll back is closed, so that the pool drops it.
func (t *pgTx) rollback() {
	t.b, t.wb = nil, nil
	if !t.sent {
		return
	}
	t.sent = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.trip()
	if err := t.conn.PgConn().Exec(ctx, `ROLLBACK`).Close(); err != nil {
		t.conn.Close(ctx)
	}
}

// text checks the strings a queued write stores: PostgreSQL text holds
// valid UTF-8 without NUL bytes, and a queued write must not fail later
// for it (the error belongs to the call that wrote it).
func text(what string, ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%s: %q is not valid UTF-8", what, s)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%s: %q holds a NUL byte", what, s)
		}
	}
	return nil
}

const contactCols = `account, id, followed, first_seen, last_seen, tags, fields, conv`
const runCols = `id, account, contact, flow, version, status, pos, step, state, seq, started_at, updated_at, ended_at`
const outboxCols = `id, run_id, account, contact, message, status, reason, code, detail, created_at, updated_at`

// contactWithSession selects a contact with its session, the columns
// scanContactSession reads.
const contactWithSession = `SELECT c.account, c.id, c.followed, c.first_seen, c.last_seen, c.tags, c.fields, c.conv, s.followed, s.last, s.kind, s.used, s.closed
	FROM contacts c LEFT JOIN sessions s ON s.account = c.account AND s.contact = c.id`

// outboxView shows claimed entries that are still pending as sending (see
// outbox.claimed_by), but for those held back (reason paused).
const outboxView = `(SELECT id, run_id, account, contact, message,
	CASE WHEN status = 'pending' AND reason <> 'paused' AND claimed_by <> '' THEN 'sending' ELSE status END AS status,
	reason, code, detail, created_at, updated_at FROM outbox) o`

func refArrays(refs []engine.ContactRef) []any {
	accounts := make([]string, len(refs))
	ids := make([]string, len(refs))
	for i, r := range refs {
		accounts[i], ids[i] = r.Account, r.ID
	}
	return []any{accounts, ids}
}

func decodeContact(c *engine.Contact, first, last int64, tags, fields, conv string) error {
	c.FirstSeen, c.LastSeen = engine.FromUnixNanos(first), engine.FromUnixNanos(last)
	if err := engine.DecodeContactJSON(c, tags, fields); err != nil {
		return err
	}
	return engine.DecodeConversationJSON(c, conv)
}

// scanContactSession scans a contact joined with its session (the
// columns of contactWithSession) and keeps the session for Session.
func (t *pgTx) scanContactSession(row pgx.Row) (*engine.Contact, error) {
	var c engine.Contact
	var first, last int64
	var tags, fields, conv string
	var sFollowed, sClosed *bool
	var sLast, sKind, sUsed *int64
	if err := row.Scan(&c.Account, &c.ID, &c.Followed, &first, &last, &tags, &fields, &conv,
		&sFollowed, &sLast, &sKind, &sUsed, &sClosed); err != nil {
		return nil, err
	}
	if err := decodeContact(&c, first, last, tags, fields, conv); err != nil {
		return nil, err
	}
	var cs cachedSession
	if sLast != nil {
		cs = cachedSession{ok: true, s: channels.Session{Followed: *sFollowed, Last: engine.FromUnixNanos(*sLast),
			Kind: channels.Interaction(*sKind), Used: int(*sUsed), Closed: *sClosed}}
	}
	if t.sessions == nil {
		t.sessions = map[[2]string]cachedSession{}
	}
	t.sessions[[2]string{c.Account, c.ID}] = cs
	return &c, nil
}

// contactQuery reads a contact with its session. The session is joined
// on the parameters, not on the contact's columns, so that every plan
// looks both up by their keys.
const contactQuery = contactWithSession + ` AND s.account = $1 AND s.contact = $2 WHERE c.account = $1 AND c.id = $2`

// queueContact queues the read of a contact; its result is in *into once
// the batch was sent.
func (t *pgTx) queueContact(account, id string, into *prefetched) {
	into.key = [2]string{account, id}
	t.queue(contactQuery, account, id).Query(func(rows pgx.Rows) error {
		if rows.Next() {
			into.c, into.err = t.scanContactSession(rows)
		}
		return rows.Err()
	})
}

func (t *pgTx) Contact(account, id string) (*engine.Contact, error) {
	if a := t.ahead; a != nil && a.key == [2]string{account, id} && t.err == nil {
		t.ahead = nil
		if a.err != nil {
			return nil, fmt.Errorf("contact %s: %w", id, a.err)
		}
		if a.c == nil {
			return nil, engine.ErrNotFound
		}
		return a.c, nil
	}
	var r prefetched
	if t.err != nil {
		return nil, t.flush()
	}
	if c, ok, err := t.cachedContact(account, id); ok {
		if err == nil && c == nil {
			err = engine.ErrNotFound
		}
		return c, err
	}
	t.queueContact(account, id, &r)
	err := t.flush()
	c := r.c
	if err == nil {
		err = r.err
	}
	if err != nil {
		return nil, fmt.Errorf("contact %s: %w", id, err)
	}
	if c == nil {
		return nil, engine.ErrNotFound
	}
	return c, nil
}

func (t *pgTx) ContactsOf(refs []engine.ContactRef) ([]*engine.Contact, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	var out []*engine.Contact
	err := t.query(contactsOfQuery, refArrays(refs), func(rows pgx.Rows) error {
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
		return nil, fmt.Errorf("contacts: %w", err)
	}
	return out, nil
}

func (t *pgTx) ActiveRunsOf(refs []engine.ContactRef) ([]*engine.Run, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	return t.runs(activeRunsOfQuery, refArrays(refs))
}

func (t *pgTx) Contacts(account, afterAccount, afterID string, limit int) ([]*engine.Contact, error) {
	q := `SELECT ` + contactCols + ` FROM contacts WHERE followed AND (account, id) > ($1, $2)`
	args := []any{afterAccount, afterID}
	if account != "" {
		q += ` AND account = $3`
		args = append(args, account)
	}
	args = append(args, limit)
	q += ` ORDER BY account, id LIMIT $` + strconv.Itoa(len(args))
	var out []*engine.Contact
	err := t.query(q, args, func(rows pgx.Rows) error {
		for rows.Next() {
			var c engine.Contact
			var first, last int64
			var tags, fields, conv string
			if err := rows.Scan(&c.Account, &c.ID, &c.Followed, &first, &last, &tags, &fields, &conv); err != nil {
				return err
			}
			if err := decodeContact(&c, first, last, tags, fields, conv); err != nil {
				return err
			}
			out = append(out, &c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	return out, nil
}

func (t *pgTx) Session(account, contact string) (channels.Session, bool, error) {
	if cs, ok := t.sessions[[2]string{account, contact}]; ok {
		return cs.s, cs.ok, nil
	}
	var s channels.Session
	var last, kind, used int64
	err := t.queryRow(`SELECT followed, last, kind, used, closed FROM sessions WHERE account = $1 AND contact = $2`,
		[]any{account, contact}, &s.Followed, &last, &kind, &used, &s.Closed)
	if errors.Is(err, engine.ErrNotFound) {
		return channels.Session{}, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("session of %s: %w", contact, err)
	}
	s.Last, s.Kind, s.Used = engine.FromUnixNanos(last), channels.Interaction(kind), int(used)
	return s, true, nil
}

func scanRun(row pgx.Row) (*engine.Run, error) {
	var r engine.Run
	var status, state string
	var started, updated, ended int64
	if err := row.Scan(&r.ID, &r.Account, &r.Contact, &r.Flow, &r.Version, &status, &r.Pos, &r.Step, &state, &r.Seq, &started, &updated, &ended); err != nil {
		return nil, err
	}
	r.Status = engine.RunStatus(status)
	r.StartedAt, r.UpdatedAt, r.EndedAt = engine.FromUnixNanos(started), engine.FromUnixNanos(updated), engine.FromUnixNanos(ended)
	if err := engine.DecodeState([]byte(state), &r.State); err != nil {
		return nil, fmt.Errorf("run %d state: %w", r.ID, err)
	}
	return &r, nil
}

// runs reads the runs of a query.
func (t *pgTx) runs(sql string, args []any) ([]*engine.Run, error) {
	var out []*engine.Run
	err := t.query(sql, args, func(rows pgx.Rows) error {
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	return out, nil
}

func (t *pgTx) Run(id int64) (*engine.Run, error) {
	runs, err := t.runs(`SELECT `+runCols+` FROM runs WHERE id = $1`, []any{id})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, engine.ErrNotFound
	}
	return runs[0], nil
}

// filter builds a WHERE clause with numbered parameters.
type filter struct {
	where []string
	args  []any
}

func (f *filter) add(cond string, arg any) {
	f.args = append(f.args, arg)
	f.where = append(f.where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(f.args))))
}

func (f *filter) sql() string {
	if len(f.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.where, " AND ")
}

func (f *filter) limit(n int) string {
	if n <= 0 {
		return ""
	}
	f.args = append(f.args, n)
	return " LIMIT $" + strconv.Itoa(len(f.args))
}

func (t *pgTx) Runs(rf engine.RunFilter) ([]*engine.Run, error) {
	if t.err != nil {
		return nil, t.flush()
	}
	if runs, ok, err := t.cachedRuns(rf); ok {
		return runs, err
	}
	var f filter
	for _, c := range []struct{ col, val string }{{"account", rf.Account}, {"contact", rf.Contact}, {"flow", rf.Flow}, {"status", string(rf.Status)}} {
		if c.val != "" {
			f.add(c.col+" = ?", c.val)
		}
	}
	if rf.Active {
		f.where = append(f.where, "ended_at = 0")
	}
	if rf.BeforeID != 0 {
		f.add("id < ?", rf.BeforeID)
	}
	order := ` ORDER BY id DESC`
	if rf.Account != "" && rf.Contact != "" && rf.Flow != "" {
		// In runs_flow's order, as on SQLite: no sort of all the
		// contact's runs of the flow for the last one.
		order = ` ORDER BY started_at DESC, id DESC`
	}
	q := `SELECT ` + runCols + ` FROM runs` + f.sql() + order
	q += f.limit(rf.Limit)
	return t.runs(q, f.args)
}

func (t *pgTx) LastStart(account, contact, flow string) (time.Time, bool, error) {
	var n *int64
	if err := t.queryRow(`SELECT max(started_at) FROM runs WHERE account = $1 AND contact = $2 AND flow = $3`, []any{account, contact, flow}, &n); err != nil {
		return time.Time{}, false, fmt.Errorf("last start: %w", err)
	}
	if n == nil {
		return time.Time{}, false, nil
	}
	return engine.FromUnixNanos(*n), true, nil
}

func scanOutbox(row pgx.Row) (*engine.OutboxEntry, error) {
	var o engine.OutboxEntry
	var msg, status, reason string
	var created, updated int64
	var code int32
	if err := row.Scan(&o.ID, &o.RunID, &o.Account, &o.Contact, &msg, &status, &reason, &code, &o.Detail, &created, &updated); err != nil {
		return nil, err
	}
	o.Status, o.Reason, o.Code = engine.OutboxStatus(status), channels.Reason(reason), int(code)
	o.CreatedAt, o.UpdatedAt = engine.FromUnixNanos(created), engine.FromUnixNanos(updated)
	if err := json.Unmarshal([]byte(msg), &o.Message); err != nil {
		return nil, fmt.Errorf("outbox %d message: %w", o.ID, err)
	}
	return &o, nil
}

// outbox reads the entries of a query.
func (t *pgTx) outbox(sql string, args []any) ([]*engine.OutboxEntry, error) {
	var out []*engine.OutboxEntry
	err := t.query(sql, args, func(rows pgx.Rows) error {
		for rows.Next() {
			o, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return out, nil
}

func (t *pgTx) Outbox(of engine.OutboxFilter) ([]*engine.OutboxEntry, error) {
	var f filter
	f.add("id > ?", of.AfterID)
	for _, c := range []struct{ col, val string }{{"account", of.Account}, {"contact", of.Contact}, {"status", string(of.Status)}, {"reason", string(of.Reason)}} {
		if c.val != "" {
			f.add(c.col+" = ?", c.val)
		}
	}
	if of.BeforeID != 0 {
		f.add("id < ?", of.BeforeID)
	}
	if of.RunID != 0 {
		f.add("run_id = ?", of.RunID)
	}
	q := `SELECT ` + outboxCols + ` FROM ` + outboxView + f.sql() + ` ORDER BY id`
	if of.Newest {
		q += " DESC"
	}
	q += f.limit(of.Limit)
	return t.outbox(q, f.args)
}

func (t *pgTx) OutboxEntry(id int64) (*engine.OutboxEntry, error) {
	out, err := t.outbox(`SELECT `+outboxCols+` FROM `+outboxView+` WHERE id = $1`, []any{id})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, engine.ErrNotFound
	}
	return out[0], nil
}

func (t *pgTx) EventReply(key string) (int64, error) {
	var id int64
	err := t.queryRow(`SELECT reply FROM events WHERE key = $1`, []any{key}, &id)
	if errors.Is(err, engine.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("event reply: %w", err)
	}
	return id, nil
}

func (t *pgTx) FlowVersion(version string) (*engine.FlowVersion, error) {
	var v engine.FlowVersion
	var loaded int64
	err := t.queryRow(`SELECT version, name, file, source, loaded_at FROM flow_versions WHERE version = $1`, []any{version},
		&v.Version, &v.Name, &v.File, &v.Source, &loaded)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("flow version %s: %w", version, err)
	}
	v.LoadedAt = engine.FromUnixNanos(loaded)
	return &v, nil
}

func (t *pgTx) DueTimers(now time.Time, limit int) ([]engine.Timer, error) {
	var out []engine.Timer
	err := t.query(`SELECT run_id, seq, due, account, contact FROM timers WHERE due <= $1 AND ($3::integer[] IS NULL OR lane = ANY($3)) ORDER BY due, run_id LIMIT $2`,
		[]any{now.UnixNano(), limit, t.lanesArg()}, func(rows pgx.Rows) error {
			for rows.Next() {
				var tm engine.Timer
				var due int64
				if err := rows.Scan(&tm.RunID, &tm.Seq, &due, &tm.Account, &tm.Contact); err != nil {
					return err
				}
				tm.Due = engine.FromUnixNanos(due)
				out = append(out, tm)
			}
			return rows.Err()
		})
	if err != nil {
		return nil, fmt.Errorf("due timers: %w", err)
	}
	return out, nil
}

func (t *pgTx) NextTimer() (time.Time, bool, error) {
	var n *int64
	if err := t.queryRow(`SELECT min(due) FROM timers WHERE $1::integer[] IS NULL OR lane = ANY($1)`, []any{t.lanesArg()}, &n); err != nil {
		return time.Time{}, false, fmt.Errorf("next timer: %w", err)
	}
	if n == nil {
		return time.Time{}, false, nil
	}
	return engine.FromUnixNanos(*n), true, nil
}

func (t *pgTx) Schedules() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := t.query(`SELECT key, due FROM schedules`, nil, func(rows pgx.Rows) error {
		for rows.Next() {
			var k string
			var due int64
			if err := rows.Scan(&k, &due); err != nil {
				return err
			}
			out[k] = engine.FromUnixNanos(due)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	return out, nil
}

func (t *pgTx) ChannelState(key string, now time.Time) (string, time.Time, bool, error) {
	var v string
	var exp int64
	err := t.queryRow(`SELECT value, expires FROM channel_state WHERE key = $1`, []any{key}, &v, &exp)
	if errors.Is(err, engine.ErrNotFound) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("channel state: %w", err)
	}
	if exp <= engine.UnixNanos(now) {
		return "", time.Time{}, false, nil
	}
	return v, engine.FromUnixNanos(exp), true, nil
}

func (t *pgTx) Counts() (map[string]int, error) {
	sels := make([]string, len(tables))
	for i, table := range tables {
		sels[i] = `(SELECT count(*) FROM ` + table + `)`
	}
	ns := make([]int64, len(tables))
	dest := make([]any, len(tables))
	for i := range ns {
		dest[i] = &ns[i]
	}
	if err := t.queryRow(`SELECT `+strings.Join(sels, ", "), nil, dest...); err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	out := map[string]int{}
	for i, table := range tables {
		out[table] = int(ns[i])
	}
	return out, nil
}

func (t *pgTx) ActiveSteps() ([]engine.StepCount, error) {
	var out []engine.StepCount
	err := t.query(`SELECT flow, version, pos, step, status, count(*) FROM runs
		WHERE ended_at = 0 GROUP BY flow, version, pos, step, status ORDER BY flow, version, pos, status`, nil, func(rows pgx.Rows) error {
		for rows.Next() {
			var c engine.StepCount
			var status string
			var n int64
			if err := rows.Scan(&c.Flow, &c.Version, &c.Pos, &c.Step, &status, &n); err != nil {
				return err
			}
			c.Status, c.N = engine.RunStatus(status), int(n)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("active steps: %w", err)
	}
	return out, nil
}

// Writes.

func (t *pgTx) AddEvent(e *engine.EventRecord) (bool, error) {
	payload, err := json.Marshal(e.Event)
	if err != nil {
		return false, err
	}
	if err := text("add event", e.Key, e.Event.Account, e.Event.Contact, string(e.Event.Kind)); err != nil {
		return false, err
	}
	if t.err != nil {
		return false, t.flush()
	}
	var n int64
	t.queue(`INSERT INTO events (key, account, contact, kind, payload, received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING`,
		e.Key, e.Event.Account, e.Event.Contact, string(e.Event.Kind), string(payload), engine.UnixNanos(e.ReceivedAt)).Exec(func(ct pgconn.CommandTag) error {
		n = ct.RowsAffected()
		return nil
	})
	// The engine reads the event's contact next: in the same round trip.
	ahead := &prefetched{}
	t.queueContact(e.Event.Account, e.Event.Contact, ahead)
	t.ahead = nil
	if err := t.flush(); err != nil {
		return false, fmt.Errorf("add event: %w", err)
	}
	if n == 1 {
		t.ahead = ahead
	}
	return n == 1, nil
}

func (t *pgTx) SetEventReply(key string, outboxID int64) error {
	if t.err != nil {
		return t.flush()
	}
	var n int64
	t.queue(`UPDATE events SET reply = $1 WHERE key = $2`, outboxID, key).Exec(func(ct pgconn.CommandTag) error {
		n = ct.RowsAffected()
		return nil
	})
	if err := t.flush(); err != nil {
		return fmt.Errorf("event reply: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("event reply: event %q: %w", key, engine.ErrNotFound)
	}
	return nil
}

func (t *pgTx) PutContact(c *engine.Contact) error {
	tj, fj, err := engine.EncodeContactJSON(c)
	if err != nil {
		return err
	}
	cj, err := engine.EncodeConversationJSON(c)
	if err != nil {
		return err
	}
	if err := text("put contact", c.Account, c.ID, string(c.Conv.Status), c.Conv.Operator, c.Conv.Team); err != nil {
		return err
	}
	if t.ahead != nil && t.ahead.key == [2]string{c.Account, c.ID} {
		t.ahead = nil
	}
	row := contactRow{account: c.Account, id: c.ID, followed: c.Followed, first: engine.UnixNanos(c.FirstSeen), last: engine.UnixNanos(c.LastSeen), tags: string(tj), fields: string(fj),
		conv: string(cj), status: string(c.Conv.Status), operator: c.Conv.Operator, team: c.Conv.Team}
	k := [2]string{c.Account, c.ID}
	wb := t.buf()
	if old := wb.contacts.at(k); old != nil {
		row.fresh = old.fresh
	} else if known, ok := t.known[k]; ok && known == nil {
		row.fresh = true
	}
	wb.contacts.put(k, row)
	t.touch(c.Account, c.ID)
	if t.known != nil {
		t.known[k] = &row
	}
	return nil
}

func (t *pgTx) PutSession(account, contact string, s channels.Session) error {
	if err := text("put session", account, contact); err != nil {
		return err
	}
	k := [2]string{account, contact}
	row := sessionRow{account: account, contact: contact, followed: s.Followed,
		last: engine.UnixNanos(s.Last), kind: int32(s.Kind), used: int32(s.Used), closed: s.Closed}
	wb := t.buf()
	if old := wb.sessions.at(k); old != nil {
		row.fresh = old.fresh
	} else if cs, ok := t.sessions[k]; ok && !cs.ok {
		row.fresh = true
	}
	wb.sessions.put(k, row)
	t.touch(account, contact)
	if t.sessions != nil {
		t.sessions[k] = cachedSession{s: s, ok: true}
	}
	return nil
}

// encodeState returns a run's state in the engine's codec, encoded in
// the writer's scratch buffer (valid until the next call).
func (t *pgTx) encodeState(r *engine.Run) ([]byte, error) {
	b, err := engine.AppendState(t.store.stateBuf[:0], &r.State)
	t.store.stateBuf = b[:0]
	return b, err
}

func (t *pgTx) InsertRun(r *engine.Run) error {
	b, err := t.encodeState(r)
	if err != nil {
		return fmt.Errorf("run state: %w", err)
	}
	state := string(b)
	if err := text("insert run", r.Account, r.Contact, r.Flow, r.Version, string(r.Status), r.Pos, r.Step, state); err != nil {
		return err
	}
	if r.ID == 0 {
		id, err := t.NewRunID()
		if err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		r.ID = id
	} else {
		// An id chosen by the caller (or given by NewRunID): the
		// sequence goes past it, and the ids kept from it that are not
		// past it are dropped. An id the sequence gave is behind it.
		s := t.store
		s.mu.Lock()
		given := r.ID <= s.runMax
		for len(s.runIDs) > 0 && s.runIDs[0] <= r.ID {
			s.runIDs = s.runIDs[1:]
		}
		if !given {
			s.runChosen = max(s.runChosen, r.ID)
		}
		s.mu.Unlock()
		if !given {
			t.write("run ids", `SELECT setval('run_ids', $1) WHERE $1 > (SELECT last_value FROM run_ids)`, r.ID)
		}
	}
	t.bufInsertRun(runRow{id: r.ID, account: r.Account, contact: r.Contact, flow: r.Flow, version: r.Version, status: string(r.Status),
		pos: r.Pos, step: r.Step, state: state, seq: r.Seq,
		started: engine.UnixNanos(r.StartedAt), updated: engine.UnixNanos(r.UpdatedAt), ended: engine.UnixNanos(r.EndedAt)})
	return nil
}

func (t *pgTx) UpdateRun(r *engine.Run) error {
	b, err := t.encodeState(r)
	if err != nil {
		return fmt.Errorf("run %d state: %w", r.ID, err)
	}
	state := string(b)
	if err := text("update run", string(r.Status), r.Pos, r.Step, state); err != nil {
		return err
	}
	t.bufUpdateRun(runRow{id: r.ID, account: r.Account, contact: r.Contact, status: string(r.Status), pos: r.Pos, step: r.Step,
		state: state, seq: r.Seq, updated: engine.UnixNanos(r.UpdatedAt), ended: engine.UnixNanos(r.EndedAt)})
	return nil
}

func (t *pgTx) SetTimer(tm engine.Timer) error {
	if err := text("set timer", tm.Account, tm.Contact); err != nil {
		return err
	}
	t.buf().timers.put(tm.RunID, timerOp{runID: tm.RunID, seq: tm.Seq, due: engine.UnixNanos(tm.Due), account: tm.Account, contact: tm.Contact})
	return nil
}

func (t *pgTx) DeleteTimer(runID int64) error {
	t.buf().timers.put(runID, timerOp{del: true, runID: runID})
	return nil
}

// outboxID takes the next outbox id, a block from the sequence when none
// is left.
func (t *pgTx) outboxID() (int64, error) {
	return t.takeID("outbox_ids", &t.store.ids)
}

// NewRunID takes the next run id from the run_ids sequence (a block at a
// time): no other process using the database gets it.
func (t *pgTx) NewRunID() (int64, error) {
	return t.takeID("run_ids", &t.store.runIDs)
}

// takeID takes the next id of a sequence from the block kept in free, a
// new block from the sequence when none is left.
func (t *pgTx) takeID(seq string, free *[]int64) (int64, error) {
	s := t.store
	s.mu.Lock()
	if len(*free) > 0 {
		id := (*free)[0]
		*free = (*free)[1:]
		low := len(*free) < idLow
		s.mu.Unlock()
		if low {
			t.refill(seq, free)
		}
		return id, nil
	}
	s.mu.Unlock()
	var ids []int64
	err := t.query(`SELECT nextval('`+seq+`') FROM generate_series(1, $1)`, []any{idBlock}, func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", seq, err)
	}
	s.mu.Lock()
	s.keepIDs(free, ids)
	if len(*free) == 0 {
		s.mu.Unlock()
		return 0, fmt.Errorf("%s: the sequence gave none", seq)
	}
	id := (*free)[0]
	*free = (*free)[1:]
	s.mu.Unlock()
	return id, nil
}

// refill queues the take of a sequence's next block with the
// transaction's next round trip (once per transaction and sequence):
// the ids are kept once it is answered. A transaction that ends before
// sending it takes none.
func (t *pgTx) refill(seq string, free *[]int64) {
	if t.refilled == nil {
		t.refilled = map[string]bool{}
	}
	if t.refilled[seq] {
		return
	}
	t.refilled[seq] = true
	// Queued as it is, without sending the writes buffered so far
	// ahead of it: they still go as one statement per table.
	t.rawQueue(`SELECT nextval('`+seq+`') FROM generate_series(1, $1)`, idBlock).Query(func(rows pgx.Rows) error {
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("%s: %w", seq, err)
		}
		t.store.mu.Lock()
		t.store.keepIDs(free, ids)
		t.store.mu.Unlock()
		return nil
	})
}

// keepIDs adds a block of ids from a sequence to those kept in free (with
// s.mu held), in order: the block follows every id kept, the sequence
// giving ids in order. Run ids not past an id a caller chose are
// dropped.
func (s *Store) keepIDs(free *[]int64, ids []int64) {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if free == &s.runIDs && len(ids) > 0 {
		s.runMax = max(s.runMax, ids[len(ids)-1])
		for len(ids) > 0 && ids[0] <= s.runChosen {
			ids = ids[1:]
		}
	}
	*free = append(*free, ids...)
}

func (t *pgTx) InsertOutbox(o *engine.OutboxEntry) error {
	msg, err := json.Marshal(o.Message)
	if err != nil {
		return fmt.Errorf("outbox message: %w", err)
	}
	if err := text("insert outbox", o.Account, o.Contact, string(o.Status), string(o.Reason), o.Detail); err != nil {
		return err
	}
	id, err := t.outboxID()
	if err != nil {
		return err
	}
	t.buf().outbox.put(id, outboxRow{id: id, runID: o.RunID, account: o.Account, contact: o.Contact, message: string(msg),
		status: string(o.Status), reason: string(o.Reason), code: int32(o.Code), detail: o.Detail,
		created: engine.UnixNanos(o.CreatedAt), updated: engine.UnixNanos(o.UpdatedAt)})
	o.ID = id
	return nil
}

// outboxSending is the condition of a message whose sending started and
// is not finished: pending and started (migration 007), or, written
// before it, status sending. Only such a message can be unknown.
const outboxSending = `status = 'sending' OR (status = 'pending' AND started)`

// claimQuery claims the oldest unclaimed pending entries in one
// statement (of the node's lanes, $3, unless it is NULL), in the order
// they were reserved: by time, then ID (a node's IDs come from blocks of
// the sequence, so IDs of two nodes do not follow their times). Messages
// held back by a pause (reason paused) are claimed while held, and left
// out of outbox_unclaimed, which the test of reason lets the plan use.
const claimQuery = `UPDATE outbox o SET claimed_by = $2 WHERE o.id IN (
		SELECT id FROM outbox WHERE status = 'pending' AND reason <> 'paused' AND claimed_by = '' AND ($3::integer[] IS NULL OR lane = ANY($3))
		ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
	RETURNING o.id, o.run_id, o.account, o.contact, o.message, o.status, o.reason, o.code, o.detail, o.created_at, o.updated_at`

// lanesArg is the lanes argument of a statement: the node's lanes, or
// NULL for every lane when the store is not a node.
func (t *pgTx) lanesArg() any {
	lanes, ok := t.store.heldLanes()
	if !ok {
		return nil
	}
	if lanes == nil {
		lanes = []int32{}
	}
	return lanes
}

func (t *pgTx) ClaimOutbox(limit int, at time.Time) ([]*engine.OutboxEntry, error) {
	out, err := t.outbox(claimQuery, []any{limit, t.store.claimer(), t.lanesArg()})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	for _, o := range out {
		o.Status = engine.OutboxSending
	}
	return out, nil
}

func (t *pgTx) ClaimOutboxThrough(id int64, at time.Time) error {
	t.write("claim outbox", `UPDATE outbox SET claimed_by = $2 WHERE status = 'pending' AND claimed_by = '' AND id <= $1`, id, t.store.claimer())
	return nil
}

func (t *pgTx) FinishOutbox(id int64, status engine.OutboxStatus, reason channels.Reason, code int, detail string, at time.Time) error {
	if err := text("finish outbox", string(status), string(reason), detail); err != nil {
		return err
	}
	t.bufFinish(finishRow{id: id, status: string(status), reason: string(reason), code: int32(code), detail: detail, at: engine.UnixNanos(at)})
	return nil
}

func (t *pgTx) StartOutbox(ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	t.bufStart(ids, engine.UnixNanos(at))
	return nil
}

func (t *pgTx) RecoverOutbox(at time.Time) (int, error) {
	if t.err != nil {
		return 0, t.flush()
	}
	var n int64
	t.queue(`UPDATE outbox SET status = 'unknown',
		detail = CASE WHEN detail = '' THEN '' ELSE detail || ': ' END || 'the process stopped while the message was being sent or marked to be sent next: it may have reached WeChat', updated_at = $1
		WHERE `+outboxSending, engine.UnixNanos(at)).Exec(func(ct pgconn.CommandTag) error {
		n = ct.RowsAffected()
		return nil
	})
	// Entries claimed and never started, and entries held back, were not
	// attempted: unclaimed again.
	t.queue(`UPDATE outbox SET claimed_by = '' WHERE status = 'pending' AND claimed_by <> ''`)
	t.queue(`UPDATE outbox SET reason = '', detail = '', updated_at = $1 WHERE status = 'pending' AND reason = 'paused'`, engine.UnixNanos(at))
	if err := t.flush(); err != nil {
		return 0, fmt.Errorf("recover outbox: %w", err)
	}
	return int(n), nil
}

func (t *pgTx) PutFlowVersion(v *engine.FlowVersion) error {
	if err := text("put flow version", v.Version, v.Name, v.File); err != nil {
		return err
	}
	t.write("put flow version", `INSERT INTO flow_versions (version, name, file, source, loaded_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (version) DO NOTHING`,
		v.Version, v.Name, v.File, v.Source, engine.UnixNanos(v.LoadedAt))
	return nil
}

func (t *pgTx) PutChannelState(key, value string, expires, now time.Time) error {
	if err := text("put channel state", key, value); err != nil {
		return err
	}
	t.write("put channel state", `DELETE FROM channel_state WHERE expires <= $1`, engine.UnixNanos(now))
	t.write("put channel state", `INSERT INTO channel_state (key, value, expires) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires`, key, value, engine.UnixNanos(expires))
	return nil
}

func (t *pgTx) SetSchedule(key string, due time.Time) error {
	if err := text("set schedule", key); err != nil {
		return err
	}
	t.write("set schedule", `INSERT INTO schedules (key, due) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET due = excluded.due`, key, engine.UnixNanos(due))
	return nil
}

func (t *pgTx) DeleteSchedule(key string) error {
	t.write("delete schedule", `DELETE FROM schedules WHERE key = $1`, key)
	return nil
}

// Savepoint runs fn inside a savepoint. The statements queued before it
// are sent first, and fn's at its end, so that a write that fails inside
// fn is undone with it and one outside is not.
func (t *pgTx) Savepoint(fn func() error) error {
	if t.err != nil {
		return t.flush()
	}
	t.depth++
	defer func() { t.depth-- }()
	name := "sp" + strconv.Itoa(t.depth)
	queued := len(t.queuedRows)
	t.queue(`SAVEPOINT ` + name)
	if err := t.flush(); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	err := fn()
	if err == nil && t.err == nil {
		t.queue(`RELEASE ` + name)
		if err = t.flush(); err == nil {
			return nil
		}
	}
	if t.err != nil {
		// The cause: a write of fn's.
		err = t.err
	}
	// Undo fn's writes: those sent and those still queued.
	t.b, t.wb, t.err, t.sessions, t.ahead, t.known, t.active = nil, nil, nil, nil, nil, nil, nil
	t.refilled = nil // a refill still queued is dropped with them
	t.queuedRows = t.queuedRows[:queued]
	t.trip()
	if rerr := t.conn.PgConn().Exec(t.ctx, `ROLLBACK TO `+name+`; RELEASE `+name).Close(); rerr != nil {
		t.err = fmt.Errorf("rollback to savepoint: %w", rerr)
		return errors.Join(err, t.err)
	}
	return err
}

// Retention.

func (t *pgTx) PruneEvents(before time.Time, locations bool, limit int) (int, error) {
	if t.err != nil {
		return 0, t.flush()
	}
	var n int64
	t.queue(`DELETE FROM events WHERE key IN (SELECT key FROM events
		WHERE (kind = 'location_report') = $1 AND received_at < $2 LIMIT $3)`, locations, engine.UnixNanos(before), limit).Exec(func(ct pgconn.CommandTag) error {
		n = ct.RowsAffected()
		return nil
	})
	if err := t.flush(); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return int(n), nil
}

func (t *pgTx) PruneEventNotes(before time.Time, limit int) (int, error) {
	if t.err != nil {
		return 0, t.flush()
	}
	var n int64
	t.queue(`DELETE FROM event_notes WHERE key IN (SELECT key FROM event_notes WHERE at < $1 LIMIT $2)`,
		engine.UnixNanos(before), limit).Exec(func(ct pgconn.CommandTag) error {
		n = ct.RowsAffected()
		return nil
	})
	if err := t.flush(); err != nil {
		return 0, fmt.Errorf("prune event notes: %w", err)
	}
	return int(n), nil
}

// pruneRunsQuery selects a batch of runs that ended before a time and may
// go: none of their messages is still to be sent or the newest, and none
// is the newest run.
const pruneRunsQuery = `SELECT id, account, contact FROM runs
	WHERE ended_at <> 0 AND ended_at < $1 AND id < (SELECT max(id) FROM runs)
	AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.account = runs.account AND o.contact = runs.contact AND o.run_id = runs.id
		AND (o.status IN ('pending', 'sending') OR o.id = (SELECT max(id) FROM outbox)))
	LIMIT $2`

func (t *pgTx) PruneRuns(before time.Time, limit int) (int, int, error) {
	var ids []int64
	var accounts, contacts []string
	err := t.query(pruneRunsQuery, []any{engine.UnixNanos(before), limit}, func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var account, contact string
			if err := rows.Scan(&id, &account, &contact); err != nil {
				return err
			}
			ids, accounts, contacts = append(ids, id), append(accounts, account), append(contacts, contact)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune runs: %w", err)
	}
	if len(ids) == 0 {
		return 0, 0, nil
	}
	var msgs int64
	t.queue(`DELETE FROM outbox o USING unnest($1::bigint[], $2::text[], $3::text[]) AS j(id, account, contact)
		WHERE o.account = j.account AND o.contact = j.contact AND o.run_id = j.id`, ids, accounts, contacts).Exec(func(ct pgconn.CommandTag) error {
		msgs = ct.RowsAffected()
		return nil
	})
	t.queue(`DELETE FROM runs WHERE id = ANY($1)`, ids)
	if err := t.flush(); err != nil {
		return 0, 0, fmt.Errorf("prune runs: %w", err)
	}
	return len(ids), int(msgs), nil
}

func (t *pgTx) PruneOutbox(before, now time.Time, after int64, limit int) (int, int64, bool, error) {
	last, seen, done := after, 0, false
	err := t.query(`SELECT id, created_at FROM outbox WHERE id > $1 ORDER BY id LIMIT $2`, []any{after, limit}, func(rows pgx.Rows) error {
		for rows.Next() {
			var id, created int64
			if err := rows.Scan(&id, &created); err != nil {
				return err
			}
			seen++
			if created >= engine.UnixNanos(before) && created <= engine.UnixNanos(now) {
				done = true
				break
			}
			last = id
		}
		return rows.Err()
	})
	if err != nil {
		return 0, after, false, fmt.Errorf("prune outbox: %w", err)
	}
	done = done || seen < limit
	if last == after {
		return 0, last, done, nil
	}
	var n int64
	t.queue(`DELETE FROM outbox WHERE id > $1 AND id <= $2 AND created_at < $3 AND updated_at < $3
		AND status IN ('sent', 'failed', 'unknown') AND id < (SELECT max(id) FROM outbox)
		AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = outbox.run_id AND r.ended_at = 0)`, after, last, engine.UnixNanos(before)).Exec(func(ct pgconn.CommandTag) error {
		n = ct.RowsAffected()
		return nil
	})
	if err := t.flush(); err != nil {
		return 0, after, false, fmt.Errorf("prune outbox: %w", err)
	}
	return int(n), last, done, nil
}

var _ engine.KeyLocker = (*pgTx)(nil)

// LockKey takes a transaction-level advisory lock named by the schema and
// key (released at the commit or rollback). It is queued with the
// transaction's next statement.
func (t *pgTx) LockKey(key string) error {
	if err := text("lock", key); err != nil {
		return err
	}
	t.write("lock "+key, `SELECT pg_advisory_xact_lock(hashtextextended(coalesce(current_schema(), '') || '/' || $1, 0))`, key)
	return nil
}
