package engine

import (
	"context"
	"errors"
	"testing"
)

// OpenTestStore opens the store the package's internal tests run on (at
// a file path). The store packages import engine, so the internal tests
// cannot import one: an external test file sets this in its init.
var OpenTestStore func(ctx context.Context, file string) (Store, error)

// OpenSuiteStore opens the store the external suite runs on
// (WXFLOW_ENGINE_STORE), for the internal tests that need several
// writers: on PostgreSQL a schema of its own per file, dropped when the
// test ends.
var OpenSuiteStore func(t testing.TB, ctx context.Context, file string) (Store, error)

func openTestStore(ctx context.Context, file string) (Store, error) {
	if OpenTestStore == nil {
		return nil, errors.New("no store for internal tests: set engine.OpenTestStore")
	}
	return OpenTestStore(ctx, file)
}

// DecodeConvSlow reads a stored conversation with encoding/json, for the
// tests that compare it with the hand reader.
func DecodeConvSlow(s string) (Conversation, error) {
	v, err := decodeConvSlow(s)
	if err == nil && !v.OpenedAt.IsZero() && v.OpenedBy == "" {
		v.OpenedBy = byContact
	}
	return v, err
}

// Owns reports whether this engine does the work of a contact's lane.
func (e *Engine) Owns(account, contact string) bool { return e.owns(account, contact) }
