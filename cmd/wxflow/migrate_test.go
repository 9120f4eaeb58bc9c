package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// migrateCmd runs wxflow migrate with args and returns its exit code and
// output.
func migrateCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"migrate"}, args...), &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// TestMigrateSQLite: wxflow migrate makes and migrates a SQLite store,
// says what it applied, and then that nothing is left to do.
func TestMigrateSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "wx.db")
	code, out := migrateCmd(t, "--database", db)
	if code != exitOK || !strings.Contains(out, "migrated "+db+" (a new store: there was no file) to "+sqlite.Schema()+": applied 001_init, ") || !strings.Contains(out, sqlite.Schema()+"\n") {
		t.Fatalf("first migrate: exit %d: %s", code, out)
	}
	code, out = migrateCmd(t, "--database", db)
	if code != exitOK || out != db+" is at "+sqlite.Schema()+" already: nothing to migrate\n" {
		t.Fatalf("second migrate: exit %d: %s", code, out)
	}
	if code, out := migrateCmd(t, "--config", "x.yaml", "--database", db); code != exitUsage {
		t.Errorf("--config with --database: exit %d: %s", code, out)
	}
	// In a folder with neither a config nor a store (most likely the
	// wrong one), no new store is made.
	t.Chdir(t.TempDir())
	if code, out := migrateCmd(t); code != exitUsage || !strings.Contains(out, "neither wxflow.yaml nor wxflow.db is here") {
		t.Errorf("migrate in an empty folder: exit %d: %s", code, out)
	}
	if _, err := os.Stat("wxflow.db"); err == nil {
		t.Error("migrate made a store in an empty folder")
	}

	// --config reads only database:, its ${NAME} included: a deploy's
	// migration step needs no account's secret.
	cfg := filepath.Join(t.TempDir(), "wxflow.yaml")
	t.Setenv("WXFLOW_MIGRATE_DB", filepath.Join(t.TempDir(), "cfg.db"))
	src := "database: ${WXFLOW_MIGRATE_DB}\naccounts:\n  - id: main\n    app_id: wx0123456789abcdef\n    app_secret: ${WXFLOW_MIGRATE_UNSET_SECRET}\n    token: ${WXFLOW_MIGRATE_UNSET_TOKEN}\n"
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = migrateCmd(t, "--config", cfg)
	if code != exitOK || !strings.Contains(out, "migrated "+os.Getenv("WXFLOW_MIGRATE_DB")+" (a new store: there was no file) to ") {
		t.Fatalf("migrate --config: exit %d: %s", code, out)
	}
}

// TestMigrateThenServeAsNodeRole: the least-privilege setup of
// docs/scaling.md. A role without CREATE cannot migrate, and wxflow
// migrate says which GRANT it lacks; the owner migrates with wxflow
// migrate; once the node role is granted its rows ("a schema migrated
// before these lines"), wxflow serve runs as that role and welcomes a
// follower, and wxflow nodes and plan read the database as it.
func TestMigrateThenServeAsNodeRole(t *testing.T) {
	owner, schema := pgtest.Schema(t, "wxmigrate_")
	node := pgtest.AsNodeRole(t, owner)
	pgtest.Grant(t, owner, `GRANT USAGE ON SCHEMA `+schema+` TO `+pgtest.NodeRole)

	code, out := migrateCmd(t, "--database", node)
	if code != exitProblems || !strings.Contains(out, "the role wxflow_node may not create tables in schema "+schema) || !strings.Contains(out, "GRANT CREATE ON SCHEMA") || strings.Contains(out, "ci-only-secret") {
		t.Fatalf("migrate as the node role: exit %d: %s", code, out)
	}
	code, out = migrateCmd(t, "--database", owner)
	if code != exitOK || !strings.Contains(out, "to "+postgres.Schema()+": applied 001_init, ") || strings.Contains(out, "ci-only-secret") {
		t.Fatalf("migrate as the owner: exit %d: %s", code, out)
	}
	pgtest.Grant(t, owner,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+schema+` TO `+pgtest.NodeRole,
		`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA `+schema+` TO `+pgtest.NodeRole)
	code, out = migrateCmd(t, "--database", node)
	if code != exitOK || !strings.Contains(out, "is at "+postgres.Schema()+" already: nothing to migrate") {
		t.Fatalf("migrate as the node role once migrated: exit %d: %s", code, out)
	}

	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp("wx0123456789abcdef", "conv-secret-0123456789")
	flows := map[string]string{"welcome.yaml": "name: welcome\ntriggers:\n  - follow\nsteps:\n  - send: Welcome aboard\n"}
	path := nodeConfig(t, node, flows, "    api_base: "+api.URL()+"\n", "")
	s := startServer(t, loadNodeConfig(t, path))
	nodeCallback(t, s, followXML("role-follower", time.Now().Unix()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := api.WaitSent(ctx, 1); err != nil {
		t.Fatalf("the welcome never reached WeChat: %v", err)
	}
	if sent := api.Sent(); len(sent) != 1 || sent[0].ToUser != "role-follower" || !strings.Contains(string(sent[0].Body), "Welcome aboard") {
		t.Fatalf("WeChat got %+v, want the welcome once", sent)
	}

	for _, cmd := range []string{"nodes", "plan"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{cmd, "--config", path}, &stdout, &stderr); code != exitOK {
			t.Errorf("wxflow %s as the node role: exit %d: %s%s", cmd, code, stdout.String(), stderr.String())
		}
	}

}
