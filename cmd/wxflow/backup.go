package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// runBackup is `wxflow backup FILE`: a consistent copy of the SQLite
// store, taken while `wxflow serve` may be running. Exit 0 when the copy
// is written and checked, 1 when it fails, 2 on usage errors (FILE
// exists, no store).
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("backup", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigFile, "the configuration file whose database to copy")
	database := fl.String("database", "", "the SQLite database to copy (instead of the config's)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow backup [--config FILE | --database FILE] BACKUP")
		fmt.Fprintln(w, "\nWrites a consistent copy of the SQLite store to the new file BACKUP, also while")
		fmt.Fprintln(w, "wxflow serve runs (SQLite's VACUUM INTO on a connection of its own), and checks it")
		fmt.Fprintln(w, "(PRAGMA integrity_check). It never overwrites a file. The store is the config's")
		fmt.Fprintln(w, "database (default "+defaultConfigFile+", or ./"+config.DefaultDatabase+" without it), or --database.")
		fmt.Fprintln(w, "To restore, stop wxflow, remove the database's -wal and -shm files and copy")
		fmt.Fprintln(w, "BACKUP in place of the database (docs/config.md#backup-and-restore).")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return exitUsage
	}
	to := fl.Arg(0)
	if to == "" {
		// It copied the whole store, then failed to name the copy
		// ("backup: open : no such file or directory", exit 1).
		fmt.Fprintln(stderr, "wxflow backup: BACKUP is empty: name the new file to write the copy to")
		return exitUsage
	}
	db, ok := flagDatabase(fl, "backup", "database", *database, *cfgPath, stderr)
	if !ok {
		return exitUsage
	}
	if err := sqliteStoreFile(db, "--database", "back it up with PostgreSQL's tools (pg_dump, or the server's base backups); wxflow backup copies a SQLite store"); err != nil {
		fmt.Fprintf(stderr, "wxflow backup: %v\n", err)
		return exitUsage
	}
	if parent := filepath.Dir(to); !folderExists(parent) {
		fmt.Fprintf(stderr, "wxflow backup: the folder %s does not exist (wxflow backup makes no folder: make it first)\n", parent)
		return exitUsage
	}
	err := sqlite.Backup(ctx, db, to)
	switch {
	case errors.Is(err, sqlite.ErrBackupExists):
		fmt.Fprintf(stderr, "wxflow backup: %s exists: a backup never overwrites a file; choose a new name\n", to)
		return exitUsage
	case errors.Is(err, sqlite.ErrNotAStore):
		fmt.Fprintf(stderr, "wxflow backup: %v; nothing was written (is --database or the config's database: the store wxflow serve uses?)\n", err)
		return exitUsage
	case err != nil:
		if msg := readOnlyStore(db); msg != "" {
			fmt.Fprintf(stderr, "wxflow backup: %s (%v)\n", msg, err)
			return exitProblems
		}
		fmt.Fprintf(stderr, "wxflow backup: %v\n", err)
		return exitProblems
	}
	size := int64(0)
	if fi, err := os.Stat(to); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes, integrity ok)\n", db, to, size)
	return exitOK
}

// folderExists tells whether dir is a folder (a backup's file goes in one
// that exists: wxflow backup makes none).
func folderExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// readOnlyStore explains why a store in a folder this user cannot write
// could not be read: SQLite reads a WAL database through its -shm, which
// it creates beside it when it is not there (a cleanly stopped store has
// none). "" when that is not the case.
func readOnlyStore(db string) string {
	dir := filepath.Dir(db)
	if folderWritable(dir) {
		return ""
	}
	if _, err := os.Stat(db + "-shm"); err == nil {
		return ""
	}
	// A file this user cannot read is not the folder's fault.
	f, err := os.Open(db)
	if err != nil {
		return ""
	}
	f.Close()
	msg := fmt.Sprintf("cannot read %s: the folder %s is read-only to this user, and SQLite must create %s-shm beside the store to read it. Run wxflow backup as a user who can write the folder", db, dir, filepath.Base(db))
	_, walErr := os.Stat(db + "-wal")
	if busy, err := sqlite.InUse(db); err == nil && !busy && errors.Is(walErr, os.ErrNotExist) {
		// Stopped cleanly: everything is in the file.
		msg += fmt.Sprintf("; or, as no wxflow serve uses the store and it has no -wal, its file alone is the whole store: copy it (cp %s BACKUP)", db)
	}
	return msg
}
