package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
)

// TestServeRefusesUndeclaredSecrets: flows that read a secret the config
// does not declare are refused at start and on reload.
func TestServeRefusesUndeclaredSecrets(t *testing.T) {
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows")
	if err := os.Mkdir(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(secret string) {
		t.Helper()
		src := "name: crm\ntriggers: [{keyword: [crm]}]\nsteps:\n  - http:\n      url: https://crm.example/leads\n      headers: { Authorization: \"Bearer ${secret." + secret + "}\" }\n"
		if err := os.WriteFile(filepath.Join(flowsDir, "crm.yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("CRM_TOKEN")
	cfg := sandboxConfig()
	cfg.Database = filepath.Join(dir, "wxflow.db")
	cfg.Flows = flowsDir
	cfg.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	_, err := newServer(context.Background(), cfg, serverOptions{})
	if err == nil || !strings.Contains(err.Error(), `crm.yaml:6:43: error: secret "CRM_TOKEN" is not declared (declare it under secrets: in the config, and set the environment variable CRM_TOKEN)`) {
		t.Fatalf("error %v", err)
	}

	cfg.Secrets = config.SecretValues{"CRM_TOKEN": "t0k-value"}
	s, err := newServer(context.Background(), cfg, serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write("CRM_TOKN")
	s.Reload(true)
	diags := s.diags.Load()
	if diags == nil || !strings.Contains(diags.Error(), `secret "CRM_TOKN" is not declared (did you mean "CRM_TOKEN"?)`) {
		t.Fatalf("reload diagnostics %v", diags)
	}
	if s.engine.Flows().Flow("crm") == nil {
		t.Fatalf("the flows that ran are gone")
	}
}
