package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/engine/storetest"
)

// TestSQLiteStore runs the store conformance suite against the embedded
// SQLite store, each subtest on a file of its own.
func TestSQLiteStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wxflow.db"), sqlite.Options{Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestOpenPathWithURICharacters: a file name holding characters a URI
// gives a meaning to opens that file, not a truncated name.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, name := range []string{"wx#1.db", "wx?mode=ro.db", "wx%41.db"} {
		st, err := sqlite.Open(ctx, filepath.Join(dir, name), sqlite.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st.Close()
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: the store is not in its own file: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "wx")); err == nil {
		t.Error("a truncated file wx was created")
	}
}

// TestOpenRefusesANewerSchema: a database migrated by a newer wxflow is
// refused, not used with tables this binary does not know.
func TestOpenRefusesANewerSchema(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wxflow.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, file, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES ('999_future.sql', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlite.Open(ctx, file, sqlite.Options{})
	if !errors.Is(err, sqlite.ErrNewerSchema) || !strings.Contains(err.Error(), "999_future.sql") {
		t.Fatalf("open a newer schema: %v, want ErrNewerSchema naming 999_future.sql", err)
	}
}
