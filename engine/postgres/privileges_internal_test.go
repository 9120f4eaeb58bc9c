package postgres

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine/postgres/pgtest"
)

// TestStoreRelations: the tables and sequences checkPrivileges checks
// are those the migrations leave in wxflow's schema.
func TestStoreRelations(t *testing.T) {
	dsn, schema := pgtest.Schema(t, "wxtest_")
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for kind, want := range map[string][]string{"r": storeTables, "S": storeSequences} {
		var got []string
		if err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(relname::text ORDER BY relname), '{}') FROM pg_class
			WHERE relnamespace = $1::regnamespace AND relkind = $2`, schema, kind).Scan(&got); err != nil {
			t.Fatal(err)
		}
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("relkind %s in a migrated schema: %v; checkPrivileges checks %v", kind, got, w)
		}
	}
}
