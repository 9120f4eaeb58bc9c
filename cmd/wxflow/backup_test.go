package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
)

// backupEngine starts an engine on a store in dir with a welcome flow of
// one message, on a simulated channel that only counts.
func backupEngine(t *testing.T, db string) (*engine.Engine, func()) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ch := sim.New(nil, wechat.Settings{})
	ch.CountOnly()
	e, err := engine.New(engine.Config{Store: st, Channel: ch, Clock: engine.NewVirtualClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)), Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f, diags := flows.LoadFile(filepath.Join(filepath.Dir(db), "welcome.yaml"), []byte("name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Welcome!\"\n"), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if err := e.Load(ctx, &flows.Set{Flows: []*flows.Flow{f}}); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() { e.Stop(); st.Close() })
	t.Cleanup(stop)
	return e, stop
}

// backupBooks checks a store file as a restore would find it: SQLite's
// integrity check passes, every event's contact and every message's run
// exist, and each follow left one event, contact, run and message. It
// returns the number of follows.
func backupBooks(t *testing.T, file string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	one := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check of %s: %q, %v", file, ok, err)
	}
	if n := one(`SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account = e.account AND c.id = e.contact)`); n != 0 {
		t.Errorf("%d events without their contact", n)
	}
	if n := one(`SELECT count(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = o.run_id)`); n != 0 {
		t.Errorf("%d messages without their run", n)
	}
	if n := one(`SELECT count(*) FROM runs WHERE status != 'completed'`); n != 0 {
		t.Errorf("%d welcome runs not completed", n)
	}
	events := one(`SELECT count(*) FROM events`)
	for _, table := range []string{"contacts", "runs", "outbox"} {
		if n := one(`SELECT count(*) FROM ` + table); n != events {
			t.Errorf("%s: %d rows for %d follows", table, n, events)
		}
	}
	return events
}

// TestBackupUnderLoad: a backup taken while follows are ingested
// concurrently restores to a store whose books balance up to that point,
// and the engine runs on it.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wxflow.db")
	e, stop := backupEngine(t, db)
	ctx := context.Background()
	var done atomic.Int64
	enough := make(chan struct{})
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				ev := channels.Event{Account: "main", Contact: fmt.Sprintf("c%d_%d", w, i), Kind: channels.Follow}
				if err := e.Ingest(ctx, ev); err != nil {
					t.Error(err)
					return
				}
				if done.Add(1) == 300 {
					close(enough)
				}
			}
		}()
	}
	<-enough
	backup := filepath.Join(t.TempDir(), "backup.db")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"backup", "--database", db, backup}, &stdout, &stderr)
	close(quit)
	wg.Wait()
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if code != exitOK {
		t.Fatalf("wxflow backup = %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "integrity ok") {
		t.Errorf("stdout = %q", stdout.String())
	}
	total := backupBooks(t, db)
	got := backupBooks(t, backup)
	if got < 300 || got > total {
		t.Errorf("the backup holds %d follows: want at least the 300 done before it and at most the %d done in all", got, total)
	}
	t.Logf("the backup holds %d of %d follows", got, total)

	// Restore: the backup copied in place of a database, the engine runs
	// on it.
	restored := filepath.Join(t.TempDir(), "wxflow.db")
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(restored, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e2, stop2 := backupEngine(t, restored)
	if err := e2.Ingest(ctx, channels.Event{Account: "main", Contact: "after", Kind: channels.Follow}); err != nil {
		t.Fatal(err)
	}
	if err := e2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	stop2()
	if n := backupBooks(t, restored); n != got+1 {
		t.Errorf("the restored store holds %d follows after one more, want %d", n, got+1)
	}
}

// TestBackupRefusesExistingFile: a backup never overwrites a file.
func TestBackupRefusesExistingFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wxflow.db")
	_, stop := backupEngine(t, db)
	stop()
	existing := filepath.Join(dir, "old-backup.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--database", db, existing}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("wxflow backup onto an existing file = %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "exists") {
		t.Errorf("stderr = %q, want it to say the file exists", stderr.String())
	}
	if data, _ := os.ReadFile(existing); string(data) != "keep me" {
		t.Errorf("the existing file was changed: %q", data)
	}
}

// TestBackupConfigDatabase: without --database, the store is the
// config's database, relative to the config's folder, read without the
// accounts' secrets in the environment.
func TestBackupConfigDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "store.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o755); err != nil {
		t.Fatal(err)
	}
	_, stop := backupEngine(t, db)
	stop()
	cfg := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(cfg, []byte("database: data/store.db\naccounts:\n  - id: main\n    app_secret: ${WXFLOW_TEST_UNSET_SECRET}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "b.db")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--config", cfg, backup}, &stdout, &stderr); code != exitOK {
		t.Fatalf("wxflow backup --config = %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), db) {
		t.Errorf("stdout = %q, want it to name %s", stdout.String(), db)
	}
	var stderr2 bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--database", filepath.Join(dir, "none.db"), filepath.Join(dir, "c.db")}, &stdout, &stderr2); code != exitUsage {
		t.Errorf("wxflow backup of a missing store = %d, want %d", code, exitUsage)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("a backup of a missing store created it")
	}
}

// TestBackupFolderMissing: a backup into a folder that does not exist is
// a usage error that names the folder; it said 'wxflow backup: backup:
// open backups/x.db: no such file or directory' (exit 1), as when
// docs/config.md's example ran before its mkdir.
func TestBackupFolderMissing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wxflow.db")
	_, stop := backupEngine(t, db)
	stop()
	to := filepath.Join(dir, "backups", "x.db")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--database", db, to}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("wxflow backup into a missing folder = %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
	}
	want := "wxflow backup: the folder " + filepath.Join(dir, "backups") + " does not exist (wxflow backup makes no folder: make it first)\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

// TestBackupRefusesAFileThatIsNotAStore: a database file without a
// store (an empty file, another program's SQLite database: a wrong
// --database or database:) is refused, writing nothing. It was "backed
// up ... integrity ok" (exit 0), a copy that restored as an empty store.
func TestBackupRefusesAFileThatIsNotAStore(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite3", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for i, file := range []string{empty, other} {
		to := filepath.Join(dir, fmt.Sprintf("b%d.db", i))
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"backup", "--database", file, to}, &stdout, &stderr); code != exitUsage {
			t.Errorf("wxflow backup of %s = %d, want %d; stdout %q", filepath.Base(file), code, exitUsage, stdout.String())
		}
		if !strings.Contains(stderr.String(), "not a wxflow store") {
			t.Errorf("stderr = %q, want it to say the file is not a wxflow store", stderr.String())
		}
		if _, err := os.Stat(to); err == nil {
			t.Errorf("the backup of %s was written", filepath.Base(file))
		}
	}
}

// TestBackupUsageErrors: an empty BACKUP name and a store that is a
// folder are usage errors saying so, before anything is copied. The
// first copied the whole store, then said "backup: open : no such file
// or directory" (exit 1); the second "backup: read the store: disk I/O
// error: is a directory" (exit 1).
func TestBackupUsageErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "wxflow.db")
	_, stop := backupEngine(t, db)
	stop()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--database", db, ""}, "wxflow backup: BACKUP is empty: name the new file to write the copy to\n"},
		{[]string{"backup", "--database", dir, filepath.Join(dir, "b.db")}, "wxflow backup: " + dir + " is a folder, not a store: pass --database FILE, the database file wxflow serve uses\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("wxflow %q = %d, want %d; stderr:\n%s", c.args, code, exitUsage, stderr.String())
		}
		if stderr.String() != c.want {
			t.Errorf("wxflow %q: stderr = %q, want %q", c.args, stderr.String(), c.want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(left) > 0 {
		t.Errorf("partial copies left: %v", left)
	}
}
