package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
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
	dsn, _ := pgtest.Schema(t, "wxtest_")
	st, err = openStore(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*postgres.Store); !ok {
		t.Errorf("a postgres:// URL opened a %T", st)
	}
}
