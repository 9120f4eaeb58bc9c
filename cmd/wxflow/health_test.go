package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine/sandbox"
)

// healthStatus answers GET /healthz's status.
func healthStatus(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A store that reads but takes no write (a disk gone read-only, full or
// failing) is unhealthy: /healthz answered 200 while every write failed.
// The store lives on a small tmpfs of the test's own, filled up under
// the running server; mounting needs root (CI runs as root), and the test
// is skipped where it is not allowed.
func TestServeHealthzReportsAStoreThatTakesNoWrite(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk")
	if err := os.MkdirAll(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): this test runs as root, as in CI", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", disk).Run() })
	flowsDir := filepath.Join(dir, "flows")
	if err := os.MkdirAll(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flowsDir, "welcome.yaml"), []byte(srvWelcome), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "wxflow.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\ndatabase: %s\nflows: flows\nsandbox: true\n", filepath.Join(disk, "wxflow.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), c, serverOptions{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	base := "http://" + s.Addr()
	if got := healthStatus(t, base); got != http.StatusOK {
		t.Fatalf("healthz of a healthy store: %d", got)
	}
	// The disk fills up: every write the store makes from now on fails.
	fill, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for {
		if _, err := fill.Write(block); err != nil {
			break
		}
	}
	fill.Close()
	// Events come in: the store cannot grow to take them. (The check's
	// own small row may still fit in space the store already has.)
	stored := 0
	for i := range 5000 {
		ev := channels.Event{Account: sandbox.DefaultAccount, Contact: fmt.Sprintf("o_full_%d", i), Kind: channels.Follow, At: time.Unix(1_800_000_000+int64(i), 0)}
		if err := s.engine.Ingest(context.Background(), ev); err != nil {
			t.Logf("after %d follows: %v", i, err)
			break
		}
		stored++
	}
	if stored == 5000 {
		t.Fatal("the full disk took 5,000 follows")
	}
	if got := healthStatus(t, base); got != http.StatusServiceUnavailable {
		t.Fatalf("healthz of a store that takes no write: %d, want 503", got)
	}
}
