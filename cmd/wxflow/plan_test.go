package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanChecksTheFolderAsServeLoadsIt: a folder serve's reload refuses
// (an assign step naming a team the config does not declare) is a
// folder with errors for wxflow plan too: plan loaded it without the
// config's people and said nothing was at risk, exit 0.
func TestPlanChecksTheFolderAsServeLoadsIt(t *testing.T) {
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows")
	writeFiles(t, flowsDir, convFlows)
	database := filepath.Join(dir, "wxflow.db")
	st, err := openStore(context.Background(), database, "")
	if err != nil {
		t.Fatal(err)
	}
	driveConversations(t, st, flowsDir)
	cfg := convConfig(t, dir, database)
	help := strings.Replace(convFlows["help.yaml"], `  - send: "How can we help?"`, "  - assign: { team: sales }", 1)
	writeFiles(t, flowsDir, map[string]string{"help.yaml": help})
	r := runCLI(t, "plan", "--config", cfg)
	if r.code != exitProblems || !strings.Contains(r.stdout, `no team named "sales"`) || !strings.Contains(r.stdout, "a reload keeps the flows running as they are") {
		t.Errorf("plan of a folder naming an undeclared team: exit %d, want %d\n%s%s", r.code, exitProblems, r.stdout, r.stderr)
	}
}
