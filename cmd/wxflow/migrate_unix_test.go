//go:build unix

package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wxflow/wxflow/engine/sqlite"
)

// TestMigrateRefusesAServedSQLiteStore: wxflow migrate does not migrate
// a SQLite store a wxflow serve holds (its flock): it migrated it under
// the running server, which went on with code that does not know the
// new schema (an open refuses a newer wxflow's store; this went round
// it). Nothing to migrate is still said while it is served.
func TestMigrateRefusesAServedSQLiteStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "wx.db")
	if code, out := migrateCmd(t, "--database", db); code != exitOK {
		t.Fatalf("first migrate: exit %d: %s", code, out)
	}
	// The server holds the file as wxflow serve does.
	held, err := os.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if code, out := migrateCmd(t, "--database", db); code != exitOK || !strings.Contains(out, "nothing to migrate") {
		t.Errorf("migrate of a served store at this schema: exit %d: %s", code, out)
	}
	// An older wxflow's store: the last migration undone.
	undoLastMigration(t, db)
	code, out := migrateCmd(t, "--database", db)
	if code != exitProblems || !strings.Contains(out, "a wxflow serve is using "+db) {
		t.Errorf("migrate of a served older store: exit %d: %s", code, out)
	}
	conn, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow(`SELECT count(*) FROM schema_migrations WHERE name = ?`, sqlite.Schema()+".sql").Scan(&n); err != nil || n != 0 {
		t.Errorf("the served store was migrated (%d, %v)", n, err)
	}
}
