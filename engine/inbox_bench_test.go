package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/storetest"
)

// BenchmarkEngineInbox measures what the console's inbox asks for a page:
// engine.Inbox, the first 50 conversations with each one's window and
// last message, at 100,000 conversations (issue 14's target: under 50
// ms), on SQLite and, with WXFLOW_PG_URL, on PostgreSQL.
func BenchmarkEngineInbox(b *testing.B) {
	run := func(b *testing.B, st engine.Store) {
		storetest.FillConversations(b, st, 100_000)
		clock := engine.NewVirtualClock(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC))
		e, _ := benchEngineOnStore(b, st, b.TempDir(), clock)
		for _, c := range []struct {
			name string
			f    engine.ConversationFilter
		}{
			{"all_open", engine.ConversationFilter{Status: engine.ConvOpen, Limit: 50}},
			{"mine", engine.ConversationFilter{Operator: "op7", Status: engine.ConvOpen, Limit: 50}},
			{"my_teams", engine.ConversationFilter{Teams: []string{"support", "vip"}, Status: engine.ConvOpen, Limit: 50}},
		} {
			b.Run(c.name, func(b *testing.B) {
				for b.Loop() {
					items, err := e.Inbox(context.Background(), c.f)
					if err != nil || len(items) != 50 {
						b.Fatalf("%d items, %v", len(items), err)
					}
				}
			})
		}
	}
	b.Run("sqlite", func(b *testing.B) {
		st, err := openStore(b, context.Background(), b.TempDir()+"/inbox.db")
		if err != nil {
			b.Fatal(err)
		}
		run(b, st)
	})
	b.Run("postgres", func(b *testing.B) { run(b, benchPostgres(b)) })
}
