package main

import (
	"context"
	"testing"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
)

// TestOpenNodeStoreLease: serve's store on PostgreSQL keeps the lease of
// the config's nodes: (and the defaults without it).
func TestOpenNodeStoreLease(t *testing.T) {
	ctx := context.Background()
	dsn, _ := pgtest.Schema(t, "wxtest_")
	for _, c := range []struct {
		nodes        config.NodesConfig
		lease, renew time.Duration
	}{
		{config.NodesConfig{}, 5 * time.Second, time.Second},
		{config.NodesConfig{Lease: 12 * time.Second, Renew: 2 * time.Second}, 12 * time.Second, 2 * time.Second},
		{config.NodesConfig{Lease: 10 * time.Second}, 10 * time.Second, 2 * time.Second},
	} {
		st, err := openNodeStore(ctx, dsn, "", c.nodes)
		if err != nil {
			t.Fatal(err)
		}
		pg, ok := st.(*postgres.Store)
		if !ok {
			t.Fatalf("a postgres:// URL opened a %T", st)
		}
		if pg.Lease() != c.lease || pg.Renewal() != c.renew {
			t.Errorf("nodes %+v: a lease of %s renewed every %s, want %s and %s", c.nodes, pg.Lease(), pg.Renewal(), c.lease, c.renew)
		}
		st.Close()
	}
}
