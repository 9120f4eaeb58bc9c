package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// ErrNewerSchema is the error of opening a store that a newer wxflow
// migrated: it holds a migration this binary does not know, and changes
// this one would not keep.
var ErrNewerSchema = errors.New("the database was migrated by a newer wxflow")

// ErrReadOnly is the error of writing to a store opened for reading only
// (the commands that read a store beside its servers).
var ErrReadOnly = errors.New("the store was opened read-only")

// MigrationNames returns the names of a store's embedded migrations (the
// files in dir of fsys), in the order they apply: by name.
func MigrationNames(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// migrationName is how wxflow names its migrations.
var migrationName = regexp.MustCompile(`^[0-9]{3}_[a-z0-9_]+\.sql$`)

// PendingMigrations compares the migrations a store applied with the
// binary's (known, in order): it returns those of known the store has
// not applied, in order, or ErrNewerSchema, naming them, when the store
// applied one known lacks. A name no wxflow writes is another tool's
// table: refused as such, not as a newer wxflow's.
func PendingMigrations(known, applied []string) ([]string, error) {
	var unknown []string
	for _, name := range applied {
		if !migrationName.MatchString(name) {
			return nil, fmt.Errorf("schema_migrations holds %q, which no wxflow wrote (its migrations are named like 001_init.sql): the table is another tool's; give wxflow a database or a schema of its own", name)
		}
		if !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		span := "none"
		if len(known) > 0 {
			span = known[0] + " to " + known[len(known)-1]
		}
		return nil, fmt.Errorf("%w: it has migration %s, which this binary does not know (it knows %s); run a wxflow at least as new as the one that migrated it",
			ErrNewerSchema, strings.Join(unknown, ", "), span)
	}
	var pending []string
	for _, name := range known {
		if !slices.Contains(applied, name) {
			pending = append(pending, name)
		}
	}
	return pending, nil
}
