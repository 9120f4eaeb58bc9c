package engine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wxflow/wxflow/engine"
)

func TestMigrationNamesInOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"m/002_b.sql": {Data: []byte("-- b")},
		"m/001_a.sql": {Data: []byte("-- a")},
		"m/010_c.sql": {Data: []byte("-- c")},
	}
	got, err := engine.MigrationNames(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"001_a.sql", "002_b.sql", "010_c.sql"}; !slices.Equal(got, want) {
		t.Errorf("MigrationNames = %v, want %v", got, want)
	}
	if _, err := engine.MigrationNames(fsys, "none"); err == nil {
		t.Error("MigrationNames of a missing folder succeeded")
	}
}

func TestPendingMigrations(t *testing.T) {
	known := []string{"001_a.sql", "002_b.sql", "003_c.sql"}
	for _, c := range []struct {
		applied, want []string
	}{
		{nil, known},
		{[]string{"001_a.sql"}, []string{"002_b.sql", "003_c.sql"}},
		{[]string{"001_a.sql", "003_c.sql"}, []string{"002_b.sql"}},
		{known, nil},
	} {
		got, err := engine.PendingMigrations(known, c.applied)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("PendingMigrations(%v) = %v, %v; want %v", c.applied, got, err, c.want)
		}
	}
	_, err := engine.PendingMigrations(known, []string{"001_a.sql", "004_d.sql", "999_z.sql"})
	if !errors.Is(err, engine.ErrNewerSchema) || !strings.Contains(err.Error(), "004_d.sql, 999_z.sql") || !strings.Contains(err.Error(), "it knows 001_a.sql to 003_c.sql") {
		t.Errorf("PendingMigrations of a newer schema: %v", err)
	}
	if _, err := engine.PendingMigrations(nil, []string{"001_a.sql"}); !errors.Is(err, engine.ErrNewerSchema) || !strings.Contains(err.Error(), "it knows none") {
		t.Errorf("PendingMigrations with none known: %v", err)
	}
	// A name no wxflow writes: another tool's table, not a newer wxflow.
	if _, err := engine.PendingMigrations(known, []string{"001_a.sql", "foo_v1"}); err == nil || errors.Is(err, engine.ErrNewerSchema) || !strings.Contains(err.Error(), "another tool's") {
		t.Errorf("PendingMigrations with another tool's row: %v", err)
	}
}
