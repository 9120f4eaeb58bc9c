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
