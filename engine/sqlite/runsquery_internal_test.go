package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/engine"
)

// TestRunsOfAContactsFlowNeedNoSort: a contact's runs of one flow, newest
// first, are read in runs_flow's order, with no sort of them all: a
// schedule asks for the last one (LIMIT 1) once a minute for every
// contact, and a sort made that grow with the contact's runs.
func TestRunsOfAContactsFlowNeedNoSort(t *testing.T) {
	t.Parallel()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "w.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, args := runsQuery(engine.RunFilter{Account: "main", Contact: "alice", Flow: "digest", Limit: 1})
	rows, err := st.r.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	all := strings.Join(plan, "; ")
	if strings.Contains(all, "TEMP B-TREE") || !strings.Contains(all, "runs_flow") {
		t.Fatalf("plan %q: want runs_flow, no sort", all)
	}
}
