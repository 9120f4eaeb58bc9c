package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
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
	return benchPostgresN(b, 1)[0]
}

// benchPostgresN opens n stores on a fresh schema of the server of
// WXFLOW_PG_URL (the writers of one engine, Config.Writers).
func benchPostgresN(b *testing.B, n int) []*postgres.Store {
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
	if d := os.Getenv("WXFLOW_BENCH_PG_DELAY"); d != "" {
		// A database on another machine: the store's connections go
		// through a proxy that delays what goes each way by d.
		delay, err := time.ParseDuration(d)
		if err != nil {
			b.Fatalf("WXFLOW_BENCH_PG_DELAY: %v", err)
		}
		u.Host = delayProxy(b, u.Host, delay)
	}
	var out []*postgres.Store
	for i := 0; i < n; i++ {
		st, err := postgres.Open(ctx, u.String(), postgres.Options{NodeName: fmt.Sprintf("bench/%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

// delayProxy forwards TCP connections to addr, each chunk read from
// either side written to the other delay after it arrived (in order), and
// returns its own address; it stops when the benchmark ends.
func delayProxy(b *testing.B, addr string, delay time.Duration) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			p  []byte
			at time.Time
		}
		ch := make(chan chunk, 1024)
		go func() {
			defer dst.Close()
			for c := range ch {
				time.Sleep(time.Until(c.at))
				if _, err := dst.Write(c.p); err != nil {
					for range ch {
					}
					return
				}
			}
		}()
		defer close(ch)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return l.Addr().String()
}

// BenchmarkIngestFollowWelcomePostgres is BenchmarkIngestFollowWelcome on
// the PostgreSQL store (WXFLOW_PG_URL; it skips without), with the
// writers a node runs by default (DefaultNodeWriters; another number
// with WXFLOW_BENCH_WRITERS). It also reports the writers' transactions
// (batches) and round trips. With
// WXFLOW_BENCH_PG_DELAY (a duration, such as 250us), the store's
// connections go through a proxy that delays each direction by it, as a
// database on another machine would.
func BenchmarkIngestFollowWelcomePostgres(b *testing.B) {
	clock := engine.NewVirtualClock(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	stores := benchPostgresN(b, envInt("WXFLOW_BENCH_WRITERS", engine.DefaultNodeWriters))
	e, ch := benchEngineOnStores(b, stores, b.TempDir(), clock, welcomeOneSend)
	writerStats := func() (s postgres.WriterStats) {
		for _, st := range stores {
			w := st.WriterStats()
			s.Updates += w.Updates
			s.RoundTrips += w.RoundTrips
		}
		return s
	}
	before := writerStats()
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
	after := writerStats()
	txs, trips := after.Updates-before.Updates, after.RoundTrips-before.RoundTrips
	b.ReportMetric(float64(b.N)/float64(max(txs, 1)), "events/tx")
	b.ReportMetric(float64(trips)/float64(b.N), "trips/event")
	if got := ch.Count(); got != b.N {
		b.Fatalf("%d messages delivered for %d follows", got, b.N)
	}
}
