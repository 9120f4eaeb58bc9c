package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/flows"
)

// TestPicksTakeTurnsAcrossWriters: on PostgreSQL, round_robin and
// least_open pick in turn when the handoffs are committed side by side
// by several writers (nodes) of one database: each reads the last pick
// (or the open counts) after the one before committed, so that two
// operators of a team get the same number of conversations. Without the
// lock of the team's turn (engine.KeyLocker), round_robin gave 177 to
// 183 of 360 to one operator in 5 runs of 5; least_open, which counts
// what is assigned, came out even.
func TestPicksTakeTurnsAcrossWriters(t *testing.T) {
	for _, mode := range []string{"round_robin", "least_open"} {
		t.Run(mode, func(t *testing.T) {
			dsn, _ := pgtest.Schema(t, "wxpick_")
			ctx := context.Background()
			cfg := engine.Config{Store: nodeStore(t, dsn, "w1"), Writers: []engine.Store{nodeStore(t, dsn, "w2"), nodeStore(t, dsn, "w3")},
				Channel: sim.New(nil, wechat.Settings{}), Zone: time.UTC}
			people(&cfg)
			e, err := engine.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Stop)
			dir := t.TempDir()
			src := fmt.Sprintf("name: handoff\ntriggers:\n  - menu: MENU_HUMAN\nsteps:\n  - assign: { team: support, pick: %s }\n", mode)
			if err := os.WriteFile(filepath.Join(dir, "handoff.yaml"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			set, err := flows.LoadDir(dir, flows.Options{})
			if err != nil || set.Diags.HasErrors() {
				t.Fatalf("flows: %v %v", err, set.Diags.Err())
			}
			if err := e.Load(ctx, set); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(20 * time.Second); e.Stats().Lanes != engine.LaneCount; {
				if time.Now().After(deadline) {
					t.Fatalf("the writers hold %d lanes after 20 s", e.Stats().Lanes)
				}
				time.Sleep(20 * time.Millisecond) // polls the lanes' taking, in real time
			}
			// Callers that each wait for their handoff before the next:
			// the writers' transactions hold a handoff or two each, side
			// by side (in one transaction, picks see the ones before).
			const callers, each = 12, 30
			const n = callers * each
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for c := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						errs <- e.Ingest(ctx, channels.Event{Account: "main", Contact: fmt.Sprint("c", c*each+i), Kind: channels.MenuClick, Key: "MENU_HUMAN", At: time.Now()})
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]int{}
			err = e.Store().View(ctx, func(tx engine.ReadTx) error {
				for i := range n {
					c, err := tx.Contact("main", fmt.Sprint("c", i))
					if err != nil {
						return fmt.Errorf("c%d: %w", i, err)
					}
					got[c.Conv.Operator]++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got["amy"] != n/2 || got["bob"] != n/2 {
				t.Errorf("%d handoffs by %s went %v, want %d each to amy and bob", n, mode, got, n/2)
			}
		})
	}
}
