package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/engine/storetest"
)

// TestInboxUsesIndexes: the inbox's lists and the auto-close sweep read
// through their index, in its order: no sequential scan of the contacts
// and no sort (sequential scans are priced out, so that the plan of an
// almost empty table shows whether the index can give the order).
func TestInboxUsesIndexes(t *testing.T) {
	dsn, _ := pgtest.Schema(t, "wxtest_")
	s, err := Open(context.Background(), dsn, Options{ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := conn.Query(ctx, `EXPLAIN `+q, args...)
		if err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	check := func(what, p, index string) {
		t.Helper()
		// Several branches: the first page of each is sorted, at most
		// a limit.
		sorted := strings.Contains(p, "Sort") && !strings.Contains(p, "Append")
		if !strings.Contains(p, "using "+index+" on contacts") || sorted || strings.Contains(p, "Seq Scan on contacts") ||
			strings.Count(p, "Sort Key") > 1 || strings.Contains(p, "Bitmap") {
			t.Errorf("%s: plan\n%s\nwant a scan of %s without a sort", what, p, index)
		}
	}
	cursor := engine.ConvCursor{Seen: time.Unix(1700000000, 0), Account: "main", ID: "x"}
	for _, c := range []struct {
		f     engine.ConversationFilter
		index string
	}{
		{engine.ConversationFilter{Status: engine.ConvOpen, Limit: 50}, "contacts_conv"},
		{engine.ConversationFilter{Status: engine.ConvOpen, Account: "main", Limit: 50, Before: cursor}, "contacts_conv"},
		{engine.ConversationFilter{Unassigned: true, Limit: 50}, "contacts_conv"},
		{engine.ConversationFilter{Unassigned: true, Operators: []string{"amy", "bob"}, Limit: 50}, "contacts_conv"},
		{engine.ConversationFilter{Operator: "amy", Status: engine.ConvOpen, Limit: 50}, "contacts_conv_operator"},
		{engine.ConversationFilter{Operator: "amy", Limit: 50, Before: cursor}, "contacts_conv_operator"},
		{engine.ConversationFilter{Teams: []string{"support"}, Status: engine.ConvOpen, Limit: 50}, "contacts_conv_team"},
		{engine.ConversationFilter{Teams: []string{"support", "sales"}, Limit: 50}, "contacts_conv_team"},
		{engine.ConversationFilter{Account: "main", Limit: 50}, "contacts_conv"},
	} {
		q, args, ok := convListQuery(c.f)
		if !ok {
			t.Fatalf("%+v: no query", c.f)
		}
		check(fmt.Sprintf("Conversations(%+v)", c.f), plan(q, args...), c.index)
	}
	check("StaleConversations", plan(staleQuery, int64(1), int64(0), "main", "x", 50), "contacts_conv")
	if p := plan(recentEventsQuery, "main", "x", int64(1), 50, "main|x|", "main|x}"); !strings.Contains(p, "on events_pkey") && !strings.Contains(p, "using events_pkey") {
		t.Errorf("recent events: plan\n%s", p)
	}
}

// BenchmarkInbox: the inbox's first page of 50 at 100,000 conversations
// (storetest.BenchInbox; the target is under 50 ms), after
// ANALYZE (as autovacuum would have run).
func BenchmarkInbox(b *testing.B) {
	dsn, _ := pgtest.Schema(b, "wxbench_")
	s, err := Open(context.Background(), dsn, Options{ReadConns: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.FillConversations(b, s, 100_000)
	if _, err := s.w.Exec(context.Background(), `ANALYZE contacts`); err != nil {
		b.Fatal(err)
	}
	storetest.BenchInbox(b, s)
}
