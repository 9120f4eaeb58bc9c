package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNotSQLiteFileIsUsageError: a --database (or --from) that is a
// folder or a file that is not a SQLite database is a usage error (exit
// 2) naming the path and what it is, for nodes, backup, migrate,
// copy-store, export-test and serve alike, and nothing is written.
// Before, nodes
// said a text file "is a SQLite store, and no wxflow serve is using it"
// (exit 1), backup "backup: read the store: file is not a database"
// (exit 1), migrate of a folder "lock DIR: open DIR: is a directory"
// (exit 1) and of a text file "migrate: file is not a database" (exit 1),
// and serve "cannot start" with those of migrate (exit 1).
func TestNotSQLiteFileIsUsageError(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.db")
	if err := os.WriteFile(short, []byte("SQLite"), 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, what string
	}{
		{notes, notes + " is not a SQLite database (its 21 bytes do not begin as one does), not a store: pass "},
		{short, short + " is not a SQLite database (its 6 bytes do not begin as one does), not a store: pass "},
		{folder, folder + " is a folder, not a store: pass "},
	} {
		for _, args := range [][]string{
			{"nodes", "--database", c.path},
			{"nodes", "--json", "--database", c.path},
			{"backup", "--database", c.path, filepath.Join(dir, "b.db")},
			{"migrate", "--database", c.path},
			{"copy-store", "--from", c.path, "--to", "postgres://wxflow@127.0.0.1:1/none"},
			{"export-test", "--contact", "sandbox/visitor", "--database", c.path},
			{"serve", "--database", c.path, "--flows", "../../flows/examples", "--listen", "127.0.0.1:0"},
		} {
			flag := "--database"
			if args[0] == "copy-store" {
				flag = "--from"
			}
			want := "wxflow " + args[0] + ": " + c.what + flag + " FILE, the database file wxflow serve uses\n"
			r := runCLI(t, args...)
			if r.code != exitUsage || r.stderr != want || r.stdout != "" {
				t.Errorf("wxflow %s: exit %d, want %d\nstdout %q\nstderr %q\nwant   %q", strings.Join(args, " "), r.code, exitUsage, r.stdout, r.stderr, want)
			}
		}
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "module example.com/x\n" {
		t.Errorf("notes.txt changed: %q %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 3 {
		t.Errorf("files written: %v", left)
	}
}

// TestServeConfigDatabaseNotSQLite: a config whose database: is a folder
// is refused by serve as a usage error naming the config, before
// anything is opened.
func TestServeConfigDatabaseNotSQLite(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "store")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "wxflow.yaml")
	src := "database: store\nflows: ../../flows/examples\naccounts:\n  - id: main\n    app_id: wx0123456789abcdef\n    app_secret: s3cretvalue0000000000000000000000\n    token: tok\n"
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "serve", "--config", cfg, "--flows", "../../flows/examples", "--listen", "127.0.0.1:0")
	want := "wxflow serve: the database: of " + cfg + ": " + folder + " is a folder, not a store: pass --database FILE, the database file wxflow serve uses\n"
	if r.code != exitUsage || r.stderr != want {
		t.Errorf("exit %d, want %d\nstderr %q\nwant   %q", r.code, exitUsage, r.stderr, want)
	}
	if left, _ := filepath.Glob(filepath.Join(folder, "*")); len(left) != 0 {
		t.Errorf("files written in the folder: %v", left)
	}
}
