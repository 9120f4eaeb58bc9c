package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// TestOpenStore: a database setting opens the SQLite store for a path and
// the PostgreSQL store for a postgres:// URL (at WXFLOW_PG_URL, in a
// schema of its own; skipped without, unless WXFLOW_REQUIRE_PG=1).
func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(ctx, filepath.Join(t.TempDir(), "w.db"), "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*sqlite.Store); !ok {
		t.Errorf("a path opened a %T", st)
	}
	st.Close()
	if err := checkSandboxDatabase("postgres://u:pw-xyz@h/db"); err == nil || strings.Contains(err.Error(), "pw-xyz") {
		t.Errorf("checkSandboxDatabase(URL) = %v; want a refusal without the password", err)
	}
	if err := checkBackupDatabase("postgresql://u:pw-xyz@h/db"); err == nil || strings.Contains(err.Error(), "pw-xyz") || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("checkBackupDatabase(URL) = %v; want a refusal naming pg_dump, without the password", err)
	}
	base := os.Getenv("WXFLOW_PG_URL")
	if base == "" {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatal("WXFLOW_REQUIRE_PG=1 but WXFLOW_PG_URL is not set")
		}
		t.Skip("WXFLOW_PG_URL is not set")
	}
	var r [6]byte
	rand.Read(r[:])
	schema := "wxtest_" + hex.EncodeToString(r[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err = openStore(ctx, u.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*postgres.Store); !ok {
		t.Errorf("a postgres:// URL opened a %T", st)
	}
}
