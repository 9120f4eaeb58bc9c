// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server named by WXFLOW_PG_URL, dropped when the test
// ends. Without WXFLOW_PG_URL the test is skipped, unless
// WXFLOW_REQUIRE_PG=1 (CI) makes that a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// ServerURL returns WXFLOW_PG_URL, or skips (fails under
// WXFLOW_REQUIRE_PG=1) without it.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WXFLOW_PG_URL")
	if u == "" {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatal("WXFLOW_REQUIRE_PG=1 but WXFLOW_PG_URL is not set")
		}
		t.Skip("WXFLOW_PG_URL is not set (a postgres:// URL of a database the tests may create schemas in)")
	}
	return u
}

// Schema creates a schema of its own for a test (its name starts with
// prefix), dropped when the test ends, and returns the server's URL with
// that schema as the search path, and the schema's name.
func Schema(t testing.TB, prefix string) (dsn, schema string) {
	t.Helper()
	base := ServerURL(t)
	var b [8]byte
	rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to WXFLOW_PG_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSchema(t, base, schema), schema
}

// WithSchema returns a server URL with schema as its search path.
func WithSchema(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// NodeRole is the role of .ci/postgres.sh that holds no privilege of its
// own (LOGIN, with the password of WXFLOW_PG_URL's role): tests grant it
// what a node's role is given, to run wxflow as a role that is not the
// owner of its tables.
const NodeRole = "wxflow_node"

// AsNodeRole returns dsn with NodeRole as its user, or skips (fails
// under WXFLOW_REQUIRE_PG=1) when the server has no such role.
func AsNodeRole(t testing.TB, dsn string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to WXFLOW_PG_URL: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, NodeRole).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatalf("WXFLOW_REQUIRE_PG=1 but the server has no role %s (. .ci/postgres.sh creates it)", NodeRole)
		}
		t.Skipf("the server has no role %s (. .ci/postgres.sh creates it)", NodeRole)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	u.User = url.UserPassword(NodeRole, pw)
	return u.String()
}

// Grant runs statements as dsn's role (the owner of the test's schema),
// for example the grants of a node's role.
func Grant(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
