package postgres_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/engine/storetest"
)

// nodeGrants are the privileges docs/scaling.md gives a node's role on
// wxflow's schema, before its owner migrates it: the tables and sequences
// the migrations create are the role's by default privileges.
func nodeGrants(schema string) []string {
	s, r := pgx.Identifier{schema}.Sanitize(), pgtest.NodeRole
	return []string{
		`GRANT USAGE ON SCHEMA ` + s + ` TO ` + r,
		`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + s + ` GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ` + r,
		`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + s + ` GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ` + r,
	}
}

// TestRolePrivilegesExplained: a role that may not use the schema of its
// search_path, or may not create tables in it, is told which GRANT it
// lacks, and nothing is created.
func TestRolePrivilegesExplained(t *testing.T) {
	dsn, schema := pgtest.Schema(t, "wxtest_")
	node := pgtest.AsNodeRole(t, dsn)
	ctx := context.Background()
	for _, c := range []struct {
		grant string
		want  []string
	}{
		{"", []string{"the role wxflow_node may not use schema " + schema, "GRANT USAGE ON SCHEMA " + `"` + schema + `"` + " TO " + `"wxflow_node"`}},
		{`GRANT USAGE ON SCHEMA ` + schema + ` TO wxflow_node`, []string{"the role wxflow_node may not create tables in schema " + schema, "GRANT CREATE ON SCHEMA", "docs/scaling.md#roles-and-privileges"}},
	} {
		if c.grant != "" {
			pgtest.Grant(t, dsn, c.grant)
		}
		s, err := postgres.Open(ctx, node, postgres.Options{})
		if err == nil {
			s.Close()
			t.Fatalf("after %q: Open as %s succeeded", c.grant, pgtest.NodeRole)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("after %q: Open = %v; want it to say %q", c.grant, err, w)
			}
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d tables in the schema (%v), want none", n, err)
	}
}

// TestPostgresStoreAsNodeRole runs the store conformance suite as a role
// that owns nothing: each case's schema is given the grants of
// nodeGrants, migrated by its owner, and the store opened as that role.
// A node needs no CREATE once its schema is migrated.
func TestPostgresStoreAsNodeRole(t *testing.T) {
	pgtest.AsNodeRole(t, serverURL(t))
	storetest.Run(t, func(t *testing.T) engine.Store {
		dsn, schema := pgtest.Schema(t, "wxtest_")
		pgtest.Grant(t, dsn, nodeGrants(schema)...)
		open(t, dsn).Close()
		return open(t, pgtest.AsNodeRole(t, dsn))
	})
}

// TestDatabaseEncodingRefused: a database not in UTF8 (.ci/postgres.sh
// makes wxflow_latin1) is refused at Open, saying what to do, and nothing
// is created in it: in LATIN1, a follower's Chinese text is stored as the
// LATIN1 characters of its bytes.
func TestDatabaseEncodingRefused(t *testing.T) {
	u, err := url.Parse(serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/wxflow_latin1"
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatalf("no database wxflow_latin1 (. .ci/postgres.sh makes it): %v", err)
		}
		t.Skipf("no database wxflow_latin1 (. .ci/postgres.sh makes it): %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT length($1::text)`, "你好").Scan(&n); err != nil || n != 6 {
		t.Fatalf("length of 你好 in LATIN1 = %d (%v), want its 6 bytes as 6 characters: the test proves nothing", n, err)
	}
	for _, opts := range []postgres.Options{{}, {ReadOnly: true}} {
		s, err := postgres.Open(ctx, u.String(), opts)
		if err == nil {
			s.Close()
			t.Fatalf("Open %+v of a LATIN1 database succeeded", opts)
		}
		if !strings.Contains(err.Error(), "the database wxflow_latin1 is encoded in LATIN1") || !strings.Contains(err.Error(), "ENCODING 'UTF8'") {
			t.Errorf("Open %+v = %v", opts, err)
		}
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d tables in wxflow_latin1 (%v), want none", n, err)
	}
}

// refusedToWrite checks that the stores that write (a node's, and the
// admin commands' KeepSchema) refuse to open dsn, saying each of want.
func refusedToWrite(t *testing.T, dsn string, want ...string) {
	t.Helper()
	for _, opts := range []postgres.Options{{}, {KeepSchema: true}} {
		s, err := postgres.Open(context.Background(), dsn, opts)
		if err == nil {
			s.Close()
			t.Fatalf("Open %+v succeeded, want it refused", opts)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open %+v = %v, want it to say %q", opts, err, w)
			}
		}
	}
}

// TestReadOnlyDatabaseRefused: a database whose transactions are
// read-only by default (default_transaction_read_only, here in the URL
// as a DBA may set it for a role or a database) is refused at Open with
// what to change, before anything is written; the commands that only
// read (Options.ReadOnly) still open it.
func TestReadOnlyDatabaseRefused(t *testing.T) {
	dsn, schema := pgtest.Schema(t, "wxtest_")
	ctx := context.Background()
	ro := dsn + "&options=-c%20default_transaction_read_only%3Don"
	refusedToWrite(t, ro, "are read-only by default (default_transaction_read_only is on", "SET default_transaction_read_only = off")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d tables in %s after refusing it (%v), want none", n, schema, err)
	}
	// Once migrated, a node is refused the same way; a reader is not.
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	refusedToWrite(t, ro, "read-only by default")
	r, err := postgres.Open(ctx, ro, postgres.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a reader of a read-only database: %v", err)
	}
	r.Close()
}

// TestStandbyRefused: a standby (.ci/postgres.sh starts one of the test
// cluster, in recovery) is refused at Open, saying to connect to the
// primary, and how to with several hosts; the commands that only read
// may read it.
func TestStandbyRefused(t *testing.T) {
	standby := os.Getenv("WXFLOW_PG_STANDBY_URL")
	if standby == "" {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatal("WXFLOW_REQUIRE_PG=1 but WXFLOW_PG_STANDBY_URL is not set (. .ci/postgres.sh starts a standby)")
		}
		t.Skip("WXFLOW_PG_STANDBY_URL is not set (. .ci/postgres.sh starts a standby)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, standby)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var inRecovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("WXFLOW_PG_STANDBY_URL's server in recovery: %v (%v); the test proves nothing", inRecovery, err)
	}
	refusedToWrite(t, standby, "the server is a standby (in recovery) and takes no writes", "target_session_attrs=read-write")
	// What the error advises: both hosts in the URL, the standby first,
	// and target_session_attrs=read-write: the store opens on the primary.
	dsn, _ := pgtest.Schema(t, "wxtest_")
	su, err := url.Parse(standby)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = su.Host + "," + pu.Host
	q := pu.Query()
	q.Set("target_session_attrs", "read-write")
	pu.RawQuery = q.Encode()
	s, err := postgres.Open(ctx, pu.String(), postgres.Options{})
	if err != nil {
		t.Fatalf("Open with the standby and the primary, read-write: %v", err)
	}
	defer s.Close()
	err = s.Update(ctx, func(tx engine.Tx) error {
		return tx.PutContact(&engine.Contact{Account: "main", ID: "o-standby", Fields: map[string]any{}})
	})
	if err != nil {
		t.Fatalf("a write through the URL listing a standby first: %v", err)
	}
}

// TestRoleTablePrivilegesExplained: a node whose role may use the schema
// but lacks its rows' privileges on some of wxflow's tables, sequences or
// its fence function (granted before a migration added them, without
// default privileges) is refused at start, naming them and the GRANT;
// it started before, and failed only when it first touched such a table
// (a console login said the console could not reach its database).
func TestRoleTablePrivilegesExplained(t *testing.T) {
	dsn, schema := pgtest.Schema(t, "wxtest_")
	node := pgtest.AsNodeRole(t, dsn)
	open(t, dsn).Close() // migrated by the owner
	s, r := pgx.Identifier{schema}.Sanitize(), pgtest.NodeRole
	pgtest.Grant(t, dsn,
		`GRANT USAGE ON SCHEMA `+s+` TO `+r,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+s+` TO `+r,
		`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA `+s+` TO `+r,
		`REVOKE ALL ON `+s+`.uploads, `+s+`.console_logins FROM `+r,
		`REVOKE UPDATE ON `+s+`.nodes FROM `+r,
		`REVOKE UPDATE ON SEQUENCE `+s+`.run_ids FROM `+r,
		`REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA `+s+` FROM PUBLIC`,
	)
	ctx := context.Background()
	st, err := postgres.Open(ctx, node, postgres.Options{})
	if err == nil {
		st.Close()
		t.Fatal("Open as a role without privileges on uploads, console_logins and nodes succeeded")
	}
	for _, w := range []string{
		"the role wxflow_node lacks privileges on wxflow's tables console_logins, nodes, uploads (SELECT, INSERT, UPDATE, DELETE)",
		"sequences run_ids (USAGE, SELECT, UPDATE)",
		"function wxflow_fence (EXECUTE)",
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "` + schema + `" TO "wxflow_node"`,
		`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "` + schema + `" TO "wxflow_node"`,
		`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "` + schema + `" TO "wxflow_node"`,
		"docs/scaling.md#roles-and-privileges",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open = %v; want it to say %q", err, w)
		}
	}
	pgtest.Grant(t, dsn,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+s+` TO `+r,
		`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA `+s+` TO `+r,
		`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA `+s+` TO `+r,
	)
	open(t, node).Close()
}

// TestQuotedSchemaOpens: a schema whose name must be quoted (capitals, a
// space: search_path="wx Flow" in the URL) is migrated, checked and used
// as any other; the privilege check read current_schema() as a
// regnamespace, which refuses such a name ("invalid name syntax").
func TestQuotedSchemaOpens(t *testing.T) {
	_, plain := pgtest.Schema(t, "wxtest_")
	base := pgtest.ServerURL(t)
	name := "Wx Test " + plain
	pgtest.Grant(t, base, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		pgtest.Grant(t, base, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
	})
	// A space as %20: pgx reads a query as libpq does, a + as itself.
	dsn := strings.ReplaceAll(pgtest.WithSchema(t, base, pgx.Identifier{name}.Sanitize()), "+", "%20")
	open(t, dsn).Close()
	open(t, dsn).Close() // a migrated store, checked again
}
