package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/storetest"
)

// TestInboxUsesIndexes: the inbox's lists and the auto-close sweep read
// through their index, in its order: no scan of the contacts and no
// sort, whatever the table holds.
func TestInboxUsesIndexes(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "wxflow.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cursor := engine.ConvCursor{Seen: time.Unix(1700000000, 0), Account: "main", ID: "x"}
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := s.r.Query(`EXPLAIN QUERY PLAN `+q, args...)
		if err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return strings.Join(lines, "; ")
	}
	// check wants every branch to search the index without a sort of
	// its own (the merge of several branches sorts their first pages,
	// at most a limit each).
	check := func(what, p, index string, branches int) {
		t.Helper()
		search := "SEARCH c USING INDEX " + index + " ("
		sorted := strings.Contains(p, "TEMP B-TREE")
		if branches > 1 {
			sorted = strings.Count(p, "TEMP B-TREE") != strings.Count(p, "SCAN (subquery-")
		}
		if strings.Count(p, search) != branches || sorted || strings.Contains(p, "SCAN c") {
			t.Errorf("%s: plan %q, want %d searches of %s without a sort", what, p, branches, index)
		}
	}
	for _, c := range []struct {
		f        engine.ConversationFilter
		index    string
		branches int
	}{
		{engine.ConversationFilter{Status: engine.ConvOpen, Limit: 50}, "contacts_conv", 1},
		{engine.ConversationFilter{Status: engine.ConvOpen, Account: "main", Limit: 50, Before: cursor}, "contacts_conv", 1},
		{engine.ConversationFilter{Unassigned: true, Limit: 50}, "contacts_conv", 1},
		{engine.ConversationFilter{Unassigned: true, Operators: []string{"amy", "bob"}, Limit: 50}, "contacts_conv", 1},
		{engine.ConversationFilter{Operator: "amy", Status: engine.ConvOpen, Limit: 50}, "contacts_conv_operator", 1},
		{engine.ConversationFilter{Operator: "amy", Limit: 50, Before: cursor}, "contacts_conv_operator", 2},
		{engine.ConversationFilter{Teams: []string{"support"}, Status: engine.ConvOpen, Limit: 50}, "contacts_conv_team", 1},
		{engine.ConversationFilter{Teams: []string{"support", "sales"}, Limit: 50}, "contacts_conv_team", 4},
		{engine.ConversationFilter{Account: "main", Limit: 50}, "contacts_conv", 2},
	} {
		q, args, ok := convListQuery(c.f)
		if !ok {
			t.Fatalf("%+v: no query", c.f)
		}
		check(fmt.Sprintf("Conversations(%+v)", c.f), plan(q, args...), c.index, c.branches)
	}
	check("StaleConversations", plan(staleQuery, int64(1), int64(0), "main", "x", 50), "contacts_conv", 1)
	// A contact's events are a range of the primary key (sorted by time
	// apart: one contact's events only).
	if p := plan(recentEventsQuery, "main|x|", "main|x}", "main", "x", 1, 50); !strings.Contains(p, "SEARCH events USING PRIMARY KEY (key>? AND key<?)") {
		t.Errorf("recent events: plan %q", p)
	}
}

// BenchmarkInbox: the inbox's first page of 50 at 100,000 conversations
// (storetest.BenchInbox; the target is under 50 ms).
func BenchmarkInbox(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "wxflow.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.FillConversations(b, s, 100_000)
	storetest.BenchInbox(b, s)
}
