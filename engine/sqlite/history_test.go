package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/engine/storetest"
)

// TestSQLiteHistory runs the history readers' cases (storetest.RunHistory).
func TestSQLiteHistory(t *testing.T) {
	storetest.RunHistory(t, func(t *testing.T) engine.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wxflow.db"), sqlite.Options{Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
