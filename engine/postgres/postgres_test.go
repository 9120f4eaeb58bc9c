package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/engine/storetest"
)

// serverURL returns the URL of the PostgreSQL server the tests use
// (see pgtest.ServerURL).
func serverURL(t testing.TB) string { return pgtest.ServerURL(t) }

// freshSchema returns the server's URL with a schema of the test's own
// as the search path (see pgtest.Schema).
func freshSchema(t testing.TB) string {
	dsn, _ := pgtest.Schema(t, "wxtest_")
	return dsn
}

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{ReadConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPostgresStore runs the store conformance suite, each case in a
// schema of its own.
func TestPostgresStore(t *testing.T) {
	serverURL(t)
	storetest.Run(t, func(t *testing.T) engine.Store {
		return open(t, freshSchema(t))
	})
}

// TestMigrationWaitsPastTimeouts: a node that waits for another's
// migration is not stopped by the session's lock_timeout or
// statement_timeout (a DBA's defaults, here in the URL): it waits, then
// finds the database migrated. The test holds the migration's lock as a
// node migrating would, until the store waits for it.
func TestMigrationWaitsPastTimeouts(t *testing.T) {
	dsn, schema := pgtest.Schema(t, "wxtest_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const lockKey = `hashtextextended('wxflow/migrate:' || $1, 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, schema); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		s, err := postgres.Open(ctx, dsn+"&lock_timeout=1ms&statement_timeout=50ms&application_name=wxtest-waiter-"+schema, postgres.Options{})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	// Until the store waits for the lock (longer than both timeouts).
	for waiting := false; !waiting; {
		select {
		case err := <-opened:
			t.Fatalf("Open did not wait for the migration's lock: %v", err)
		default:
		}
		err := conn.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND now() - query_start > interval '100 milliseconds'`, "wxtest-waiter-"+schema).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, schema); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("Open after waiting for the lock: %v", err)
	}
}

// TestTwoStoresOneDatabase: two stores opened at once on one database
// (two nodes starting) migrate it once, and both work on it.
func TestTwoStoresOneDatabase(t *testing.T) {
	dsn := freshSchema(t)
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 2)
	errs := make([]error, 2)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(context.Background(), dsn, postgres.Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var applied, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Errorf("schema_migrations has %d rows for %d migrations, want each once", applied, distinct)
	}
	// Each writes; each sees the other's writes; outbox ids never clash.
	ids := map[int64]bool{}
	for i, s := range stores {
		err := s.Update(ctx, func(tx engine.Tx) error {
			if err := tx.PutContact(&engine.Contact{Account: "a", ID: "c" + string(rune('0'+i)), Followed: true, FirstSeen: time.Unix(1, 0), LastSeen: time.Unix(2, 0)}); err != nil {
				return err
			}
			for range 3 {
				o := &engine.OutboxEntry{RunID: 1, Account: "a", Contact: "c", Message: channels.Message{Type: "text", Text: "x"}, Status: engine.OutboxPending}
				if err := tx.InsertOutbox(o); err != nil {
					return err
				}
				if ids[o.ID] {
					t.Errorf("store %d: outbox id %d given twice", i, o.ID)
				}
				ids[o.ID] = true
			}
			return nil
		})
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	for i, s := range stores {
		err := s.View(ctx, func(tx engine.ReadTx) error {
			for _, id := range []string{"c0", "c1"} {
				if _, err := tx.Contact("a", id); err != nil {
					return err
				}
			}
			os, err := tx.Outbox(engine.OutboxFilter{})
			if err != nil {
				return err
			}
			if len(os) != 6 {
				t.Errorf("store %d: %d outbox entries, want 6", i, len(os))
			}
			return nil
		})
		if err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
}

// TestNewerSchemaRefused: a database with a migration this binary does not
// know was migrated by a newer wxflow; Open says so and touches nothing.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := freshSchema(t)
	open(t, dsn).Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ('999_from_the_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a database migrated by a newer wxflow succeeded")
	}
	if !errors.Is(err, postgres.ErrNewerSchema) || !strings.Contains(err.Error(), "the database was migrated by a newer wxflow") || !strings.Contains(err.Error(), "999_from_the_future.sql") {
		t.Errorf("Open = %v; want ErrNewerSchema naming the migration", err)
	}
}

// TestFailedFirstMigrationLeavesNoStore: a schema holding another
// application's table is refused before anything is created there
// (wxflow added its tables among them); a first migration that fails (a
// type of a table's name is there already) leaves no schema_migrations
// behind (an empty one made the read-only commands call the schema an
// older wxflow's); a schema_migrations table of another tool's layout is
// refused as such.
func TestFailedFirstMigrationLeavesNoStore(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE customers (id serial PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(ctx, dsn, postgres.Options{}); !errors.Is(err, postgres.ErrForeign) || !strings.Contains(err.Error(), "holds customers, customers_id_seq") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open over another application's table: %v", err)
	}
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("%d tables after the refusal (%v); want the application's only", tables, err)
	}
	if _, err := conn.Exec(ctx, `DROP TABLE customers; CREATE TYPE contacts AS (x int)`); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(ctx, dsn, postgres.Options{}); err == nil || !strings.Contains(err.Error(), `"contacts" already exists`) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open over a type named contacts: %v", err)
	}
	var have bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&have); err != nil || have {
		t.Fatalf("schema_migrations after the failed migration: %v, %v", have, err)
	}
	if s, err := postgres.Open(ctx, dsn, postgres.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "no wxflow store in this database") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("a read-only open after it: %v", err)
	}
	if _, err := conn.Exec(ctx, `DROP TYPE contacts; CREATE TABLE schema_migrations (version bigint NOT NULL, dirty boolean NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		if s, err := postgres.Open(ctx, dsn, postgres.Options{ReadOnly: ro}); err == nil || !strings.Contains(err.Error(), "not wxflow's") {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open (read-only %v) over golang-migrate's table: %v", ro, err)
		}
	}
}

// TestMissingSchemaExplained: a URL whose search_path names no schema
// that exists is refused with what to do, not PostgreSQL's "no schema has
// been selected to create in".
func TestMissingSchemaExplained(t *testing.T) {
	dsn := pgtest.WithSchema(t, pgtest.ServerURL(t), "wxflow_no_such_schema")
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open with a missing schema succeeded")
	}
	if !strings.Contains(err.Error(), "no schema of the search_path (wxflow_no_such_schema) exists: create it first") {
		t.Errorf("Open = %v; want the missing schema named, with a hint", err)
	}
}

// TestCapitalSchemaExplained: a search_path naming, without double
// quotes, a schema whose name has capitals is refused saying that
// PostgreSQL lower-cases it and how to quote it (it said that the schema,
// which exists, should be created); quoted as it says, the schema is used.
func TestCapitalSchemaExplained(t *testing.T) {
	base := pgtest.ServerURL(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "wxtest_Case_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		conn.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	for _, ro := range []bool{false, true} {
		s, err := postgres.Open(ctx, pgtest.WithSchema(t, base, schema), postgres.Options{ReadOnly: ro})
		if err == nil {
			s.Close()
			t.Fatalf("read-only %v: Open with search_path=%s (unquoted) succeeded", ro, schema)
		}
		want := "PostgreSQL lower-cases a name not in double quotes, so " + schema + " is schema " + strings.ToLower(schema) +
			`, and the schema "` + schema + `" is another: quote its name, search_path=%22` + schema + `%22 in the URL`
		if !strings.Contains(err.Error(), want) {
			t.Errorf("read-only %v: Open = %v\nwant it to say %q", ro, err, want)
		}
	}
	s, err := postgres.Open(ctx, pgtest.WithSchema(t, base, `"`+schema+`"`), postgres.Options{})
	if err != nil {
		t.Fatalf("Open with the name quoted: %v", err)
	}
	s.Close()
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations'`, schema).Scan(&n); err != nil || n != 1 {
		t.Errorf("schema_migrations in %s: %d, %v; want the store there", schema, n, err)
	}
}

// TestQueuedWriteFailure: a queued write that fails (an UpdateRun of a run
// that does not exist) fails the transaction; a read sent with it does not
// answer ErrNotFound for it, and Update returns the write's error.
func TestQueuedWriteFailure(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	var readErr error
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if err := tx.PutContact(&engine.Contact{Account: "a", ID: "alice", Followed: true}); err != nil {
			return err
		}
		if err := tx.UpdateRun(&engine.Run{ID: 99, Status: engine.RunCompleted}); err != nil {
			return err
		}
		_, readErr = tx.Contact("a", "alice")
		return readErr
	})
	if readErr == nil || errors.Is(readErr, engine.ErrNotFound) {
		t.Errorf("read after a failed queued write = %v; want an error that is not ErrNotFound", readErr)
	}
	if !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), "update run 99") {
		t.Errorf("Update = %v; want the UpdateRun's ErrNotFound", err)
	}
	err = s.View(context.Background(), func(tx engine.ReadTx) error {
		_, err := tx.Contact("a", "alice")
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("the failed transaction's contact: err = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTextRefusedAtOnce: text PostgreSQL cannot hold fails the call that
// writes it, not a later one.
func TestTextRefusedAtOnce(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if err := tx.PutContact(&engine.Contact{Account: "a", ID: "bad\x00id"}); err == nil {
			t.Error("PutContact of an id with a NUL byte succeeded")
		}
		if err := tx.PutSession("a", "bad\xff", channels.Session{}); err == nil {
			t.Error("PutSession of a contact that is not UTF-8 succeeded")
		}
		return tx.PutContact(&engine.Contact{Account: "a", ID: "good"})
	})
	if err != nil {
		t.Fatalf("Update after refused writes: %v", err)
	}
}

// TestPasswordNotInErrors: a failed Open names the database without its
// password.
func TestPasswordNotInErrors(t *testing.T) {
	base := serverURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-Pa55word"
	u.User = url.UserPassword(u.User.Username(), secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, u.String(), postgres.Options{})
	if err == nil {
		s.Close()
		t.Skip("the server accepted any password (trust authentication)")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("Open's error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("Open's error does not name the database: %v", err)
	}
}

// TestSSLPasswordNotInErrors: pgx's error for a URL it cannot parse
// repeats the URL with its password masked but not sslpassword (the
// passphrase of the client's TLS key); Open's error masks both. No server
// is needed: the URL is refused before connecting.
func TestSSLPasswordNotInErrors(t *testing.T) {
	const secret = "Ssl-Secret-3"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://wx:pw-Secret-4@127.0.0.1:1/wxflow?sslpassword="+secret+"&connect_timeout=abc", postgres.Options{})
	if err == nil {
		t.Fatal("Open accepted connect_timeout=abc")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "pw-Secret-4") {
		t.Errorf("Open's error shows a secret: %v", err)
	}
	if !strings.Contains(err.Error(), "connect_timeout") {
		t.Errorf("Open's error does not say what is wrong: %v", err)
	}
}

// TestIsolationInURLRefused: a URL asking for another isolation than read
// committed is refused before connecting, saying why; read committed
// itself is accepted as the URL writes it.
func TestIsolationInURLRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, iso := range []string{"serializable", "repeatable%20read", "Serializable"} {
		_, err := postgres.Open(ctx, "postgres://wx:pw@127.0.0.1:1/wxflow?default_transaction_isolation="+iso, postgres.Options{})
		if err == nil || !strings.Contains(err.Error(), "wxflow's store works at read committed") {
			t.Errorf("isolation %s: Open = %v", iso, err)
		}
	}
	_, err := postgres.Open(ctx, "postgres://wx:pw@127.0.0.1:1/wxflow?connect_timeout=1&default_transaction_isolation=read%20committed", postgres.Options{})
	if err == nil || strings.Contains(err.Error(), "read committed") {
		t.Errorf("read committed in the URL: Open = %v, want only the refused connection", err)
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://wx:secret@db:5432/wxflow?sslmode=disable", "postgres://wx:xxxxx@db:5432/wxflow?sslmode=disable"},
		{"postgresql://wx@db/wxflow", "postgresql://wx@db/wxflow"},
		{"postgres://db/wxflow?password=secret&sslmode=require", "postgres://db/wxflow?password=xxxxx&sslmode=require"},
		{"postgres://wx:se%2Fcret@db/wxflow", "postgres://wx:xxxxx@db/wxflow"},
		{"postgres://wx@db/wxflow?sslcert=c.pem&sslkey=k.pem&sslpassword=key-Secret", "postgres://wx@db/wxflow?sslcert=c.pem&sslkey=k.pem&sslpassword=xxxxx"},
		{"postgres://wx:secret@db1:5432,db2:5432/wxflow?target_session_attrs=read-write", "postgres://wx:xxxxx@db1:5432,db2:5432/wxflow?target_session_attrs=read-write"},
		// Passwords pgx takes as written and Go's URLs refuse: the rest
		// of the URL is still shown (it was "postgres://…").
		{"postgres://wx:ab]cd@db:5432/wxflow?search_path=wx", "postgres://wx:xxxxx@db:5432/wxflow?search_path=wx"},
		{"postgres://wx:中文^\\x@db/wxflow?sslpassword=k", "postgres://wx:xxxxx@db/wxflow?sslpassword=xxxxx"},
		{"postgres://wx:a b@db/wxflow", "postgres://wx:xxxxx@db/wxflow"},
	} {
		if got := postgres.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, s := range []string{"postgres://x", "postgresql://x"} {
		if !postgres.IsURL(s) {
			t.Errorf("IsURL(%q) = false", s)
		}
	}
	for _, s := range []string{"wxflow.db", "/var/lib/wxflow.db", "file:x.db", "mysql://x"} {
		if postgres.IsURL(s) {
			t.Errorf("IsURL(%q) = true", s)
		}
	}
}

// TestContactReadWithEvent: AddEvent reads the event's contact in its
// round trip for the Contact call that follows; a contact written in
// between, or a savepoint rolled back, is not answered from that read.
func TestContactReadWithEvent(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ev := func(key string) *engine.EventRecord {
		return &engine.EventRecord{Key: key, Event: channels.Event{Account: "a", Contact: "alice", Kind: channels.Follow}, ReceivedAt: time.Unix(5, 0)}
	}
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if added, err := tx.AddEvent(ev("e1")); err != nil || !added {
			t.Fatalf("AddEvent = %v, %v", added, err)
		}
		if _, err := tx.Contact("a", "alice"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Contact of a new follower = %v, want ErrNotFound", err)
		}
		if _, err := tx.AddEvent(ev("e2")); err != nil {
			return err
		}
		if err := tx.PutContact(&engine.Contact{Account: "a", ID: "alice", Followed: true, Tags: []string{"written"}}); err != nil {
			return err
		}
		c, err := tx.Contact("a", "alice")
		if err != nil || !c.HasTag("written") {
			t.Errorf("Contact after PutContact = %+v, %v; want the written contact", c, err)
		}
		// A savepoint that wrote the contact and failed.
		if _, err := tx.AddEvent(ev("e3")); err != nil {
			return err
		}
		tx.Savepoint(func() error {
			tx.PutContact(&engine.Contact{Account: "a", ID: "alice", Tags: []string{"undone"}})
			return errors.New("undo")
		})
		c, err = tx.Contact("a", "alice")
		if err != nil || !c.HasTag("written") || c.HasTag("undone") {
			t.Errorf("Contact after a rolled-back savepoint = %+v, %v; want the contact written before it", c, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTxTimeout: a write transaction on a database that stops
// answering (here a proxy that passes nothing on) fails after
// TxTimeout, rather than holding the writer for as long as TCP takes
// to notice (minutes, or never for a server that hangs); so do a node's
// reads and lane moves; the store then works again once the database
// answers, on new connections.
func TestTxTimeout(t *testing.T) {
	dsn, _ := pgtest.Schema(t, "wxtest_")
	stall, via := pgtest.NewStall(t, dsn)
	ctx := context.Background()
	s, err := postgres.Open(ctx, via, postgres.Options{ReadConns: 1, TxTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(id string) error {
		return s.Update(ctx, func(tx engine.Tx) error {
			return tx.PutContact(&engine.Contact{Account: "main", ID: id, Fields: map[string]any{}})
		})
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	stall.Freeze(true)
	errc := make(chan error, 1)
	go func() { errc <- put("during") }()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("a write while the database does not answer: %v, want the write timeout's deadline, as engine.ErrUnavailable", err)
		}
	case <-time.After(30 * time.Second):
		stall.Freeze(false) // so that the store can close
		t.Fatal("a write while the database does not answer still waits after 30 s (TxTimeout 300ms)")
	}
	stall.Freeze(false)
	if err := put("after"); err != nil {
		t.Fatalf("a write once the database answers again: %v", err)
	}
	read := func() error {
		return s.View(ctx, func(tx engine.ReadTx) error {
			_, err := tx.Contact("main", "after")
			return err
		})
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	// A node's reads and lane moves are bounded too (its loops'), the
	// commands' reads are not.
	if err := s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	stall.Freeze(true)
	for what, call := range map[string]func() error{
		"a read":    read,
		"a balance": func() error { _, err := s.Balance(ctx); return err },
	} {
		errc := make(chan error, 1)
		go func() { errc <- call() }()
		select {
		case err := <-errc:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s of a node while the database does not answer: %v, want the timeout's deadline", what, err)
			}
			if what == "a read" && !errors.Is(err, engine.ErrUnavailable) {
				t.Errorf("a read of a node while the database does not answer: %v, want engine.ErrUnavailable", err)
			}
		case <-time.After(30 * time.Second):
			stall.Freeze(false)
			t.Fatalf("%s of a node while the database does not answer still waits after 30 s (TxTimeout 300ms)", what)
		}
	}
	stall.Freeze(false)
	if err := read(); err != nil {
		t.Fatalf("a read once the database answers again: %v", err)
	}
}
