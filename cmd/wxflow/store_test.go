package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
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
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"backup", "--database", "postgresql://u:pw-xyz@h/db", filepath.Join(t.TempDir(), "b.db")}, &stdout, &stderr)
	if out := stderr.String(); code != exitUsage || strings.Contains(out, "pw-xyz") || !strings.Contains(out, "pg_dump") {
		t.Errorf("backup of a URL: exit %d, %q; want a usage error naming pg_dump, without the password", code, out)
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

// TestSecondServeOnOneSQLiteFile: serve's store holds its SQLite file; a
// second serve on it is refused at the start, saying why, while the
// admin commands still open it. Before, the second started, answered
// health checks, failed callbacks on duplicate run ids and sent the
// first one's messages again.
func TestSecondServeOnOneSQLiteFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "w.db")
	first, err := openNodeStore(ctx, db, "", config.NodesConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = openNodeStore(ctx, db, "", config.NodesConfig{})
	if err == nil || !strings.Contains(err.Error(), "another wxflow serve is using this database") {
		t.Fatalf("second serve's store: %v", err)
	}
	admin, err := openAdminStore(ctx, db)
	if err != nil {
		t.Fatalf("an admin command beside serve: %v", err)
	}
	admin.Close()
}
