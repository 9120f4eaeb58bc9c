package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeAddressInUse: serve on an address another program listens
// on says which address, and to pass --listen; the console's own
// address in use says to set admin.listen.
func TestServeAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"serve", "--listen", addr, "--flows", examplesDir, "--database", filepath.Join(t.TempDir(), "wxflow.db")}, &stdout, &stderr)
	if code != exitProblems {
		t.Fatalf("exit %d, want %d\n%s", code, exitProblems, stderr.String())
	}
	for _, want := range []string{"the address " + addr + " (listen) is already in use", "pass --listen HOST:PORT to use another address"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}

	cfg := sandboxConfig()
	cfg.Flows = examplesDir
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = addr
	cfg.Database = filepath.Join(t.TempDir(), "wxflow.db")
	s, err := newServer(context.Background(), cfg, serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Start()
	if err == nil {
		t.Fatal("the server started on an address in use")
	}
	if want := "the console's address " + addr + " (admin.listen) is already in use, by another wxflow serve or another program: set admin.listen in the config to another HOST:PORT"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestNodeAddressInUseJoinsNothing: a node on PostgreSQL whose address
// is taken stops before it joins the nodes: restarted in a loop
// (Restart=always), it took lanes from the live nodes at every try.
func TestNodeAddressInUseJoinsNothing(t *testing.T) {
	database := pgDatabase(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	dir := t.TempDir()
	cfg := convConfig(t, dir, database)
	writeFiles(t, filepath.Join(dir, "flows"), map[string]string{"welcome.yaml": srvWelcome})
	if r := runCLI(t, "migrate", "--database", database); r.code != exitOK {
		t.Fatalf("migrate: %d\n%s", r.code, r.stderr)
	}
	// Every row the nodes table ever takes is counted (a node that joins
	// and leaves at once leaves none behind).
	pgExec(t, database, `CREATE TABLE joins (id text)`,
		`CREATE FUNCTION count_join() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO joins VALUES (NEW.id); RETURN NEW; END $$`,
		`CREATE TRIGGER count_join AFTER INSERT ON nodes FOR EACH ROW EXECUTE FUNCTION count_join()`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"serve", "--config", cfg, "--listen", ln.Addr().String()}, &stdout, &stderr); code != exitProblems ||
		!strings.Contains(stderr.String(), "is already in use") {
		t.Fatalf("exit %d, want %d\n%s", code, exitProblems, stderr.String())
	}
	conn := pgConn(t, database)
	defer conn.Close(context.Background())
	var joined int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM joins`).Scan(&joined); err != nil {
		t.Fatal(err)
	}
	if joined != 0 {
		t.Errorf("a node that could not listen joined the nodes: %d rows", joined)
	}
}
