package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ErrBackupExists is returned by Backup when the backup's file
// exists: a backup never overwrites anything.
var ErrBackupExists = errors.New("the backup file exists")

// ErrNotAStore is returned by Backup, and by a read-only Open, when the
// file holds no wxflow store (an empty file, another program's
// database): nothing is written.
var ErrNotAStore = errors.New("not a wxflow store (no schema_migrations table)")

// Backup writes a consistent copy of the SQLite store in file to
// the new file to, while a server may be writing the store: SQLite's
// VACUUM INTO, on a connection of its own, copies the database as of one
// read transaction (committed transactions only, the WAL included), and
// the copy is checked with PRAGMA integrity_check. The copy is written
// to a temporary file beside to (to's name, then .partial) that takes
// to's name only once checked and synced: a backup stopped before it
// finished (killed, the machine lost) leaves no file named to, only a
// .partial one, never a file that looks like a backup and is not one.
// It refuses to write over an existing file (ErrBackupExists), refuses
// a file that holds no store (ErrNotAStore) and removes a copy it could
// not finish. Restoring is copying the backup back in place of the
// database while no server runs, after removing the database's -wal and
// -shm files.
func Backup(ctx context.Context, file, to string) error {
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("backup: the store: %w", err)
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("backup %s: %w", to, ErrBackupExists)
	}
	// Created empty and exclusively, under a name of its own: VACUUM INTO
	// takes an empty file.
	out, err := os.CreateTemp(filepath.Dir(to), filepath.Base(to)+".*.partial")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := out.Name()
	out.Close()
	defer func() {
		for _, f := range []string{tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"} {
			os.Remove(f)
		}
	}()
	if err := vacuumInto(ctx, file, tmp); err != nil {
		return err
	}
	backupWritten(tmp, to)
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := takeName(tmp, to); err != nil {
		return err
	}
	if err := syncFile(filepath.Dir(to)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// takeName gives the checked copy tmp the name to, unless a file has it
// (ErrBackupExists): a hard link, atomically; on a file system without
// them (FAT, some network mounts), to is created exclusively and tmp
// renamed over it.
func takeName(tmp, to string) error {
	err := os.Link(tmp, to)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("backup %s: %w", to, ErrBackupExists)
	}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("backup %s: %w", to, ErrBackupExists)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, to); err != nil {
		os.Remove(to)
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// backupWritten is called once the copy is written and checked, before
// it takes its name (tests look at the folder there).
var backupWritten = func(tmp, to string) {}

// syncFile flushes a file, or a folder's entries, to the disk.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// openReader opens the database file read-only, for a command that
// reads it as a file.
func openReader(file string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "10000")
	return sql.Open("sqlite3", fileURI(file)+"?"+q.Encode())
}

// holdsStore reports whether db holds a wxflow store: a schema_migrations
// table.
func holdsStore(ctx context.Context, db *sql.DB) (bool, error) {
	var has int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&has); err != nil {
		return false, err
	}
	return has > 0, nil
}

// HoldsStore reports whether the SQLite database in file holds a wxflow
// store, reading it without writing anything: false for an empty file
// or another program's database.
func HoldsStore(ctx context.Context, file string) (bool, error) {
	db, err := openReader(file)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	ok, err := holdsStore(ctx, db)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", file, err)
	}
	return ok, nil
}

func vacuumInto(ctx context.Context, file, to string) error {
	db, err := openReader(file)
	if err != nil {
		return fmt.Errorf("backup: open the store: %w", err)
	}
	defer db.Close()
	has, err := holdsStore(ctx, db)
	if err != nil {
		return fmt.Errorf("backup: read the store: %w", err)
	}
	if !has {
		return fmt.Errorf("backup: %s is %w", file, ErrNotAStore)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, to); err != nil {
		return fmt.Errorf("backup: copy the store: %w", err)
	}
	if err := checkIntegrity(ctx, to); err != nil {
		return fmt.Errorf("backup: the copy: %w", err)
	}
	return nil
}

// checkIntegrity runs PRAGMA integrity_check on a database file.
func checkIntegrity(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite3", fileURI(file)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}

// fileURI is the SQLite URI of a file path: the characters a URI gives a
// meaning to (% ? #) are escaped, so that a path holding them names its
// own file ("wx#1.db" is not "wx").
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
