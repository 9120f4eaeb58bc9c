package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/engine/storetest"
)

// TestSQLiteStore runs the store conformance suite against the embedded
// SQLite store, each subtest on a file of its own.
func TestSQLiteStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wxflow.db"), sqlite.Options{Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestOpenPathWithURICharacters: a file name holding characters a URI
// gives a meaning to opens that file, not a truncated name.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, name := range []string{"wx#1.db", "wx?mode=ro.db", "wx%41.db"} {
		st, err := sqlite.Open(ctx, filepath.Join(dir, name), sqlite.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st.Close()
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: the store is not in its own file: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "wx")); err == nil {
		t.Error("a truncated file wx was created")
	}
}

// TestOpenRefusesANewerSchema: a database migrated by a newer wxflow is
// refused, not used with tables this binary does not know.
func TestOpenRefusesANewerSchema(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wxflow.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, file, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES ('999_future.sql', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlite.Open(ctx, file, sqlite.Options{})
	if !errors.Is(err, sqlite.ErrNewerSchema) || !strings.Contains(err.Error(), "999_future.sql") {
		t.Fatalf("open a newer schema: %v, want ErrNewerSchema naming 999_future.sql", err)
	}
}

// TestUpdateTransactions: Update runs its own BEGIN and COMMIT on the
// writer connection. What a failed or panicking function wrote is rolled
// back and the store stays usable; a cancelled context begins nothing;
// concurrent updates take turns (run with -race).
func TestUpdateTransactions(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wxflow.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(id string) func(tx engine.Tx) error {
		return func(tx engine.Tx) error {
			return tx.PutContact(&engine.Contact{Account: "acc", ID: id, Fields: map[string]any{}})
		}
	}
	exists := func(id string) bool {
		t.Helper()
		var ok bool
		err := st.View(ctx, func(tx engine.ReadTx) error {
			_, err := tx.Contact("acc", id)
			if errors.Is(err, engine.ErrNotFound) {
				return nil
			}
			ok = err == nil
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	boom := errors.New("boom")
	err = st.Update(ctx, func(tx engine.Tx) error {
		if err := put("failed")(tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v, want boom", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		st.Update(ctx, func(tx engine.Tx) error {
			put("panicked")(tx)
			panic("boom")
		})
	}()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.Update(cancelled, put("cancelled")); !errors.Is(err, context.Canceled) {
		t.Fatalf("update with a cancelled context: %v, want context.Canceled", err)
	}
	for _, id := range []string{"failed", "panicked", "cancelled"} {
		if exists(id) {
			t.Errorf("contact %q was stored", id)
		}
	}

	done := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				if err := st.Update(ctx, put(fmt.Sprintf("c%d-%d", g, i))); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 2; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for g := 0; g < 2; g++ {
		for i := 0; i < 50; i++ {
			if !exists(fmt.Sprintf("c%d-%d", g, i)) {
				t.Fatalf("contact c%d-%d is missing", g, i)
			}
		}
	}
}

// TestReadOnlyOpenMigratesNothing: a store opened read-only (wxflow plan,
// export-test) creates no file, refuses a file that is not a store and a
// store another wxflow migrated, newer or older (applying nothing), and
// neither writes nor lets Update write.
func TestReadOnlyOpenMigratesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ro := sqlite.Options{ReadOnly: true}
	missing := filepath.Join(dir, "missing.db")
	if s, err := sqlite.Open(ctx, missing, ro); err == nil {
		s.Close()
		t.Error("a read-only Open of a missing file succeeded")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a read-only Open made the file")
	}

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite3", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA journal_mode = WAL; CREATE TABLE notes (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqlite.Open(ctx, other, ro); err == nil {
		s.Close()
		t.Error("a read-only Open of a file that is not a store succeeded")
	} else if !strings.Contains(err.Error(), "not a wxflow store") {
		t.Errorf("Open = %v; want it to say the file is not a store", err)
	}

	file := filepath.Join(dir, "wxflow.db")
	s, err := sqlite.Open(ctx, file, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, file, ro)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(engine.Tx) error { return nil }); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Errorf("Update = %v; want ErrReadOnly", err)
	}
	if err := s.View(ctx, func(tx engine.ReadTx) error {
		_, err := tx.Counts()
		return err
	}); err != nil {
		t.Errorf("View: %v", err)
	}
	s.Close()

	db, err = sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var last string
	if err := db.QueryRow(`SELECT max(name) FROM schema_migrations`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`DELETE FROM schema_migrations WHERE name = ?`, last)
	if s, err := sqlite.Open(ctx, file, ro); err == nil {
		s.Close()
		t.Error("a read-only Open of a store an older wxflow migrated succeeded")
	} else if !strings.Contains(err.Error(), "an older wxflow migrated it (it lacks "+last+")") {
		t.Errorf("Open = %v; want it to name %s", err, last)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE name = ?`, last).Scan(&n); err != nil || n != 0 {
		t.Errorf("after a read-only Open, %s applied %d times (%v), want 0", last, n, err)
	}
	exec(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, 0), ('999_future.sql', 0)`, last)
	if s, err := sqlite.Open(ctx, file, ro); err == nil {
		s.Close()
		t.Error("a read-only Open of a store a newer wxflow migrated succeeded")
	} else if !errors.Is(err, sqlite.ErrNewerSchema) {
		t.Errorf("Open = %v; want ErrNewerSchema", err)
	}
}

// TestKeepSchemaOpen: a store opened for the admin commands
// (KeepSchema) makes a store in a new file, writes to one this wxflow
// migrated, and refuses one an older or a newer wxflow migrated without
// migrating it.
func TestKeepSchemaOpen(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "wxflow.db")
	keep := sqlite.Options{KeepSchema: true}
	s, err := sqlite.Open(ctx, file, keep)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if err := s.Update(ctx, func(tx engine.Tx) error { return tx.PutChannelState("k", "v", now.Add(time.Hour), now) }); err != nil {
		t.Errorf("a write with KeepSchema: %v", err)
	}
	s.Close()
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var last string
	if err := db.QueryRow(`SELECT max(name) FROM schema_migrations`).Scan(&last); err != nil || last == "" {
		t.Fatalf("KeepSchema on a new file made no store (%q, %v)", last, err)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE name = ?`, last); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(ctx, file, keep); err == nil {
		s.Close()
		t.Error("KeepSchema on a store an older wxflow migrated succeeded")
	} else if !strings.Contains(err.Error(), "an older wxflow migrated it (it lacks "+last+")") {
		t.Errorf("Open = %v; want it to name %s", err, last)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE name = ?`, last).Scan(&n); err != nil || n != 0 {
		t.Errorf("KeepSchema applied %s (%d, %v)", last, n, err)
	}
}

// TestExclusiveOpen: a store opened for serve's engine holds its file;
// a second such open fails with ErrInUse until the first is closed,
// while readers still open it. A new file is its owner's only.
func TestExclusiveOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "w.db")
	a, err := sqlite.Open(ctx, file, sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new store's mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if _, err := sqlite.Open(ctx, file, sqlite.Options{Exclusive: true}); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("second exclusive open: %v, want ErrInUse", err)
	}
	r, err := sqlite.Open(ctx, file, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a reader beside the server: %v", err)
	}
	r.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(ctx, file, sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatalf("exclusive open after the first closed: %v", err)
	}
	if busy, err := sqlite.InUse(file); err != nil || !busy {
		t.Errorf("InUse while served: %v, %v", busy, err)
	}
	// A file: URI names the same file, held the same way.
	if _, err := sqlite.Open(ctx, "file:"+file+"?cache=private", sqlite.Options{Exclusive: true}); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("exclusive open by a file: URI: %v, want ErrInUse", err)
	}
	b.Close()
	if busy, err := sqlite.InUse(file); err != nil || busy {
		t.Errorf("InUse after the close: %v, %v", busy, err)
	}
}

// TestStoreSettings: a file: URI opens the file it names (it was wrapped
// in a second file: and named a file "file:..."); an in-memory database
// is refused (each connection saw a database of its own); a backup, which
// VACUUM INTO writes in rollback mode, opens read-only (setting WAL was a
// write, refused on a read-only connection).
func TestStoreSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "w x#1.db")
	st, err := sqlite.Open(ctx, file, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx engine.Tx) error {
		return tx.PutContact(&engine.Contact{Account: "a", ID: "u1", Followed: true, Fields: map[string]any{}})
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	uri := "file://" + strings.NewReplacer("%", "%25", " ", "%20", "#", "%23").Replace(file) + "?cache=private"
	if p, ok := sqlite.FilePath(uri); !ok || p != file {
		t.Errorf("FilePath(%q) = %q, %v", uri, p, ok)
	}
	st, err = sqlite.Open(ctx, uri, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.View(ctx, func(tx engine.ReadTx) error {
		_, err := tx.Contact("a", "u1")
		return err
	}); err != nil {
		t.Fatalf("the store through its file: URI: %v", err)
	}
	st.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files made: %q, want the store alone", names)
	}
	for _, mem := range []string{":memory:", "file::memory:", "file:m.db?mode=memory&cache=shared"} {
		if _, err := sqlite.Open(ctx, mem, sqlite.Options{}); !errors.Is(err, sqlite.ErrInMemory) {
			t.Errorf("Open(%q): %v, want ErrInMemory", mem, err)
		}
	}
	backup := filepath.Join(dir, "b.db")
	if err := sqlite.Backup(ctx, file, backup); err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.Open(ctx, backup, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup, read-only: %v", err)
	}
	if err := r.View(ctx, func(tx engine.ReadTx) error {
		_, err := tx.Contact("a", "u1")
		return err
	}); err != nil {
		t.Errorf("the backup's contact: %v", err)
	}
	r.Close()
}

// TestFileGoneWhileServing: a served store whose file is deleted, moved
// or replaced under the server takes no more writes. Before, commits went
// on into the unlinked file (or the moved one): every callback was
// acknowledged and every event lost at the next start, and a second
// server could start on a new file at the path beside the first.
func TestFileGoneWhileServing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	write := func(s *sqlite.Store) error {
		return s.Update(ctx, func(tx engine.Tx) error {
			return tx.SetSchedule("k", time.Unix(1, 0))
		})
	}
	for _, c := range []struct {
		name string
		gone func(file string) error
	}{
		{"deleted", func(file string) error {
			for _, f := range []string{file, file + "-wal", file + "-shm"} {
				if err := os.Remove(f); err != nil {
					return err
				}
			}
			return nil
		}},
		{"moved", func(file string) error { return os.Rename(file, file+".old") }},
		{"WAL deleted", func(file string) error {
			for _, f := range []string{file + "-wal", file + "-shm"} {
				if err := os.Remove(f); err != nil {
					return err
				}
			}
			return nil
		}},
		{"replaced", func(file string) error {
			if err := os.WriteFile(file+".new", nil, 0o600); err != nil {
				return err
			}
			return os.Rename(file+".new", file)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "w.db")
			s, err := sqlite.Open(ctx, file, sqlite.Options{Exclusive: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if c.name != "WAL deleted" {
				// (Gone before the first write, the WAL is seen as the
				// store was opened.)
				if err := write(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.gone(file); err != nil {
				t.Fatal(err)
			}
			err = write(s)
			if !errors.Is(err, sqlite.ErrFileGone) {
				t.Fatalf("a write after the file was %s: %v, want ErrFileGone", c.name, err)
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("the error does not name the file: %v", err)
			}
		})
	}
}

// TestBackupTakesItsNameOnceChecked: the backup's file has its name
// only once the copy is written and checked; before, VACUUM INTO wrote
// into the named file itself, and a wxflow backup killed halfway left a
// file of the full size with a hot -journal under the backup's name:
// copied in place of a store it was whatever pages were written,
// opened where it was its journal rolled it back to an empty database,
// which wxflow migrate and serve then took for a new store. A file made
// under the name meanwhile is not written over, and nothing is left
// behind.
func TestBackupTakesItsNameOnceChecked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "wxflow.db")
	st, err := sqlite.Open(ctx, file, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx engine.Tx) error { return tx.SetSchedule("k", time.Unix(1, 0)) }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	backups := t.TempDir()
	to := filepath.Join(backups, "b.db")
	seen := false
	restore := sqlite.SetBackupWritten(func(tmp, name string) {
		seen = true
		if _, err := os.Lstat(to); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the backup's file exists before the copy is checked (%v)", err)
		}
		if filepath.Dir(tmp) != backups || !strings.HasSuffix(tmp, ".partial") {
			t.Errorf("the copy is written to %s, want a .partial file beside %s", tmp, to)
		}
	})
	defer restore()
	if err := sqlite.Backup(ctx, file, to); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatal("the hook was not called")
	}
	r, err := sqlite.Open(ctx, to, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup: %v", err)
	}
	r.Close()

	// A file made under the name while the copy is written.
	other := filepath.Join(backups, "c.db")
	sqlite.SetBackupWritten(func(tmp, name string) {
		if err := os.WriteFile(other, []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if err := sqlite.Backup(ctx, file, other); !errors.Is(err, sqlite.ErrBackupExists) {
		t.Errorf("a file made under the name meanwhile: %v, want ErrBackupExists", err)
	}
	if data, _ := os.ReadFile(other); string(data) != "mine" {
		t.Errorf("the file made meanwhile was written over: %q", data)
	}
	entries, _ := os.ReadDir(backups)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "b.db,c.db" {
		t.Errorf("the backups' folder holds %q, want b.db and c.db alone", names)
	}
}

// TestOpenRefusesAnotherApplicationsDatabase: a SQLite file that holds
// another application's tables and no store (a path mistyped) is
// refused, with and without KeepSchema, and left as it was: wxflow added
// its tables to it. An empty file, or one holding only SQLite's own
// tables, is made a store as before.
func TestOpenRefusesAnotherApplicationsDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.db")
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT); INSERT INTO customers (name) VALUES ('ann')`); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []sqlite.Options{{}, {KeepSchema: true}} {
		s, err := sqlite.Open(ctx, file, opts)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%+v) of another application's database succeeded", opts)
		}
		if !errors.Is(err, sqlite.ErrForeign) || !strings.Contains(err.Error(), "customers") {
			t.Errorf("Open(%+v) = %v; want ErrForeign naming customers", opts, err)
		}
	}
	var names []string
	rows, err := db.Query(`SELECT name FROM sqlite_master ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if strings.Join(names, ",") != "customers,sqlite_sequence" {
		t.Errorf("the file holds %v after the refusals; want only its own tables", names)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, empty, sqlite.Options{})
	if err != nil {
		t.Fatalf("an empty file: %v", err)
	}
	s.Close()
}

// TestStartMarksOnlyPending: marking several entries at once (one
// statement) records the pending ones and leaves no mark of a finished
// one, and their outcomes (FinishOutbox, FinishSent) take the marks away
// again.
func TestStartMarksOnlyPending(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wxflow.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, file, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	var ids []int64
	err = st.Update(ctx, func(tx engine.Tx) error {
		for _, c := range []string{"a", "b", "c"} {
			o := &engine.OutboxEntry{RunID: 1, Account: "main", Contact: c, Status: engine.OutboxPending, CreatedAt: at, UpdatedAt: at}
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		return tx.FinishOutbox(ids[1], engine.OutboxSent, "", 0, "", at)
	})
	if err != nil {
		t.Fatal(err)
	}
	marks := func() string {
		t.Helper()
		db, err := sql.Open("sqlite3", "file:"+file+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var got string
		if err := db.QueryRow(`SELECT coalesce(group_concat(id, ','), '') FROM (SELECT id FROM outbox_started ORDER BY id)`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := st.Update(ctx, func(tx engine.Tx) error { return tx.StartOutbox(ids, at) }); err != nil {
		t.Fatal(err)
	}
	if got, want := marks(), fmt.Sprintf("%d,%d", ids[0], ids[2]); got != want {
		t.Errorf("marks after StartOutbox of all three = %q, want %q (not the sent one)", got, want)
	}
	err = st.Update(ctx, func(tx engine.Tx) error {
		if err := tx.FinishOutbox(ids[0], engine.OutboxSent, "", 0, "", at); err != nil {
			return err
		}
		sr, ok := tx.(engine.SentRecorder)
		if !ok {
			return errors.New("the SQLite store's transaction is no engine.SentRecorder")
		}
		return sr.FinishSent(ids[2:], at)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := marks(); got != "" {
		t.Errorf("marks after both were sent = %q, want none", got)
	}
}
