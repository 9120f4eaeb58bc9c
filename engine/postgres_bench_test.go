package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
)

// benchPostgres opens the PostgreSQL store at WXFLOW_PG_URL in a schema
// of its own, dropped when the benchmark ends; it skips without the URL.
func benchPostgres(b *testing.B) *postgres.Store {
	b.Helper()
	base := os.Getenv("WXFLOW_PG_URL")
	if base == "" {
		b.Skip("WXFLOW_PG_URL is not set")
	}
	ctx := context.Background()
	var r [6]byte
	rand.Read(r[:])
	schema := "wxbench_" + hex.EncodeToString(r[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatalf("connect to %s: %v", postgres.Redact(base), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err == nil {
			conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, u.String(), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkIngestFollowWelcomePostgres is BenchmarkIngestFollowWelcome on
// the PostgreSQL store (WXFLOW_PG_URL; it skips without). It also reports
// the writer's transactions (batches) and round trips.
func BenchmarkIngestFollowWelcomePostgres(b *testing.B) {
	clock := engine.NewVirtualClock(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	st := benchPostgres(b)
	e, ch := benchEngineOnStore(b, st, b.TempDir(), clock, welcomeOneSend)
	before := st.WriterStats()
	b.ResetTimer()
	start := time.Now()
	ingestFollows(b, e, "u", b.N, clock.Now())
	// ingested/s: every event committed (each caller got its answer);
	// events/s: and every welcome delivered.
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ingested/s")
	if err := e.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
	after := st.WriterStats()
	txs, trips := after.Updates-before.Updates, after.RoundTrips-before.RoundTrips
	b.ReportMetric(float64(b.N)/float64(max(txs, 1)), "events/tx")
	b.ReportMetric(float64(trips)/float64(b.N), "trips/event")
	if got := ch.Count(); got != b.N {
		b.Fatalf("%d messages delivered for %d follows", got, b.N)
	}
}
