package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// The inbox's benchmark (issue 14: the list answers in under 50 ms at
// 100,000 conversations), for every store.

// InboxOperators is how many operators FillConversations assigns
// conversations to ("op0" to "op19").
const InboxOperators = 20

// FillConversations stores n contacts of account "main", each with a
// conversation: one in five open (half of those assigned to one of
// InboxOperators operators, each of the teams "support", "sales" and
// "vip" in turn), the others closed; contacts interacted a second apart.
func FillConversations(tb testing.TB, s engine.Store, n int) {
	tb.Helper()
	const chunk = 2000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	teams := []string{"support", "sales", "vip"}
	for start := 0; start < n; start += chunk {
		err := s.Update(context.Background(), func(tx engine.Tx) error {
			for i := start; i < min(start+chunk, n); i++ {
				seen := base.Add(time.Duration(i) * time.Second)
				c := &engine.Contact{Account: "main", ID: fmt.Sprintf("o%07d", i), Followed: true, FirstSeen: base, LastSeen: seen}
				c.Conv = engine.Conversation{Status: engine.ConvClosed, OpenedAt: seen, OpenedBy: "contact", ClosedAt: seen, ClosedBy: "auto_close",
					Note: "answered the question about the order", Category: "orders"}
				if i%5 == 0 {
					c.Conv.Status, c.Conv.ClosedAt, c.Conv.ClosedBy = engine.ConvOpen, time.Time{}, ""
					if i%10 == 0 {
						c.Conv.Operator = fmt.Sprintf("op%d", (i/10)%InboxOperators)
						c.Conv.Team = teams[(i/10)%len(teams)]
						c.Conv.AssignedAt = seen
					}
				}
				if err := tx.PutContact(c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("fill conversations: %v", err)
		}
	}
}

// BenchInbox measures the inbox's first page of 50 conversations of a
// store FillConversations filled: all open ones, an operator's ("mine",
// open), the unassigned ones, a team's, and the auto-close sweep's first
// batch.
func BenchInbox(b *testing.B, s engine.Store) {
	for _, c := range []struct {
		name string
		f    engine.ConversationFilter
	}{
		{"all_open", engine.ConversationFilter{Status: engine.ConvOpen, Limit: 50}},
		{"mine", engine.ConversationFilter{Operator: "op7", Status: engine.ConvOpen, Limit: 50}},
		{"unassigned", engine.ConversationFilter{Unassigned: true, Limit: 50}},
		{"my_teams", engine.ConversationFilter{Teams: []string{"support", "vip"}, Status: engine.ConvOpen, Limit: 50}},
		{"all", engine.ConversationFilter{Account: "main", Limit: 50}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				err := s.View(context.Background(), func(tx engine.ReadTx) error {
					list, err := tx.(engine.ConversationStore).Conversations(c.f)
					if err == nil && len(list) != 50 {
						err = fmt.Errorf("%d conversations, want 50", len(list))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("stale", func(b *testing.B) {
		before := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
		for b.Loop() {
			err := s.View(context.Background(), func(tx engine.ReadTx) error {
				list, err := tx.(engine.ConversationStore).StaleConversations(before, engine.ConvCursor{}, 50)
				if err == nil && len(list) != 50 {
					err = fmt.Errorf("%d stale conversations, want 50", len(list))
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
