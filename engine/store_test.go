package engine_test

import (
	"context"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// The internal tests run on SQLite, the embedded store.
func init() {
	engine.OpenTestStore = func(ctx context.Context, file string) (engine.Store, error) {
		return sqlite.Open(ctx, file, sqlite.Options{Synchronous: "NORMAL"})
	}
}
