package engine_test

import (
	"context"
	"encoding/hex"
	"hash/fnv"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// The internal tests run on SQLite, the embedded store.
func init() {
	engine.OpenTestStore = func(ctx context.Context, file string) (engine.Store, error) {
		return sqlite.Open(ctx, file, sqlite.Options{Synchronous: "NORMAL"})
	}
	engine.OpenSuiteStore = openStore
}

// onPostgres reports whether the engine's suite runs on PostgreSQL:
// WXFLOW_ENGINE_STORE=postgres with WXFLOW_PG_URL (CI runs the suite on
// both stores).
func onPostgres(t testing.TB) bool {
	if os.Getenv("WXFLOW_ENGINE_STORE") != "postgres" {
		return false
	}
	if os.Getenv("WXFLOW_PG_URL") == "" {
		t.Fatal("WXFLOW_ENGINE_STORE=postgres needs WXFLOW_PG_URL")
	}
	return true
}

// openWriters opens the stores of the engine's other writers
// (Config.Writers) on the same database as openStore: with
// WXFLOW_ENGINE_WRITERS=N on PostgreSQL, N-1 of them (CI runs the suite
// with two writers too); none otherwise.
func openWriters(t testing.TB, ctx context.Context, file string) []engine.Store {
	n := testWriters(t)
	var out []engine.Store
	for i := 1; i < n; i++ {
		st, err := openStore(t, ctx, file)
		if err != nil {
			closeAll(out)
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

// testWriters is how many writers the suite's engines run: 1, or
// WXFLOW_ENGINE_WRITERS on PostgreSQL.
func testWriters(t testing.TB) int {
	n, _ := strconv.Atoi(os.Getenv("WXFLOW_ENGINE_WRITERS"))
	if !onPostgres(t) || n < 2 {
		return 1
	}
	return n
}

// closeAll closes stores.
func closeAll(stores []engine.Store) {
	for _, st := range stores {
		st.Close()
	}
}

// schemas are the PostgreSQL schemas the tests made, by store file.
var schemas sync.Map

// openStore opens the store a test's engine runs on, for the SQLite file
// it would use: that file, or on PostgreSQL a schema of its own named
// after it (the same file opens the same schema again, as a restart
// does), dropped when the test ends.
func openStore(t testing.TB, ctx context.Context, file string) (engine.Store, error) {
	if !onPostgres(t) {
		return sqlite.Open(ctx, file, sqlite.Options{Synchronous: "NORMAL"})
	}
	base := os.Getenv("WXFLOW_PG_URL")
	h := fnv.New64a()
	h.Write([]byte(file))
	schema := "wxengine_" + hex.EncodeToString(h.Sum(nil))
	if _, seen := schemas.LoadOrStore(schema, true); !seen {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return nil, err
		}
		_, err = conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema)
		conn.Close(ctx)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			conn, err := pgx.Connect(context.Background(), base)
			if err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
				return
			}
			defer conn.Close(context.Background())
			conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		})
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return postgres.Open(ctx, u.String(), postgres.Options{})
}
