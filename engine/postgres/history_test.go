package postgres_test

import (
	"testing"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/storetest"
)

// TestPostgresHistory runs the history readers' cases
// (storetest.RunHistory), each in a schema of its own.
func TestPostgresHistory(t *testing.T) {
	serverURL(t)
	storetest.RunHistory(t, func(t *testing.T) engine.Store {
		return open(t, freshSchema(t))
	})
}
