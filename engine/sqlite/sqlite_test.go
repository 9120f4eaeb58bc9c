package sqlite_test

import (
	"context"
	"path/filepath"
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
