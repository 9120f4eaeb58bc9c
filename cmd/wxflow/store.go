package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// openStore opens the store a database setting names: the PostgreSQL
// store for a postgres:// or postgresql:// URL, the SQLite store of that
// file otherwise. synchronous is SQLite's setting (PostgreSQL's commits
// are as durable as the server's own settings make them). Errors never
// show a URL's password.
func openStore(ctx context.Context, database, synchronous string) (engine.Store, error) {
	return openStoreFor(ctx, database, synchronous, config.NodesConfig{})
}

// openAdminStore opens the store of the admin commands (menu push,
// qrcode), which keep WeChat's access tokens there beside running
// servers: a store is used without migrating it (KeepSchema), so that a
// newer wxflow's command does not change the schema under a server of an
// older version (nodes on PostgreSQL would stop). A PostgreSQL database
// an older wxflow migrated is used as it is; such a SQLite store is
// refused, saying what to do. A database or file without a store gets
// one, as serve would make it.
func openAdminStore(ctx context.Context, database string) (engine.Store, error) {
	if postgres.IsURL(database) {
		st, err := postgres.Open(ctx, database, postgres.Options{KeepSchema: true, ReadConns: 1})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, database, sqlite.Options{KeepSchema: true, ReadConns: 1})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// openNodeStore opens the store serve's engine runs on. On PostgreSQL the
// engine joins it as one of the database's nodes (engine.Node): several
// serve processes share the database, each holding some of the lanes,
// under a lease as nodes says.
func openNodeStore(ctx context.Context, database, synchronous string, nodes config.NodesConfig) (engine.Store, error) {
	return openStoreFor(ctx, database, synchronous, nodes)
}

func openStoreFor(ctx context.Context, database, synchronous string, nodes config.NodesConfig) (engine.Store, error) {
	if postgres.IsURL(database) {
		st, err := postgres.Open(ctx, database, postgres.Options{Lease: nodes.Lease, Renew: nodes.Renew, Version: build.Version})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, database, sqlite.Options{Synchronous: synchronous, Exclusive: true})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// openWriterStores opens the stores of a node's other writers: on
// PostgreSQL, nodes: writers: less one (the node's own store is the
// first writer's); none on SQLite, which has one writer. The console's
// and the API's reads go through the first store; each other keeps one
// read connection, for its writer's own reads.
func openWriterStores(ctx context.Context, database string, nodes config.NodesConfig) ([]engine.Store, error) {
	if !postgres.IsURL(database) {
		return nil, nil
	}
	var out []engine.Store
	for i := 1; i < nodes.WritersFor(); i++ {
		st, err := postgres.Open(ctx, database, postgres.Options{Lease: nodes.Lease, Renew: nodes.Renew, ReadConns: 1, Version: build.Version})
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("writer %d of %d: %w", i+1, nodes.WritersFor(), err)
		}
		out = append(out, st)
	}
	return out, nil
}

// closeStores closes the server's stores: the other writers' first.
func (s *server) closeStores() error {
	for _, w := range s.writers {
		w.Close()
	}
	s.writers = nil
	return s.store.Close()
}

// checkSandboxDatabase refuses a PostgreSQL URL for the sandbox, which
// keeps its state in a SQLite file.
func checkSandboxDatabase(database string) error {
	if postgres.IsURL(database) {
		return fmt.Errorf("the sandbox keeps its state in a SQLite file; %s is a PostgreSQL database (write a config file with accounts to serve from it)", config.DatabaseName(database))
	}
	return nil
}

// configDatabase returns the database a config file names, resolved
// against its folder (config.LoadDatabase: only `database:` is read, with
// its ${NAME} references, so that the accounts' secrets need not be in
// the environment). Without the default config file (and no --config),
// it is the sandbox's ./wxflow.db.
func configDatabase(cfgPath string, given bool) (string, error) {
	if _, err := os.Stat(cfgPath); !given && errors.Is(err, fs.ErrNotExist) {
		return config.DefaultDatabase, nil
	}
	return config.LoadDatabase(cfgPath, os.LookupEnv)
}

// flagDatabase is the store a command names (storeFlags): the flag's
// value, or the config's database:. ok is false after a usage error,
// printed.
func flagDatabase(fl *flag.FlagSet, cmd, store, value, cfgPath string, stderr io.Writer) (db string, ok bool) {
	configGiven, ok := storeFlags(fl, cmd, store, stderr)
	if !ok {
		return "", false
	}
	if value != "" {
		return value, true
	}
	db, err := configDatabase(cfgPath, configGiven)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow %s: %v\n", cmd, err)
		return "", false
	}
	return db, true
}

// storeFlags checks the flags that name a command's store: --config, or
// the flag named store (--database, --from), which names the store
// itself, not both. ok is false when both were given (the usage error is
// printed); configGiven says whether --config was.
func storeFlags(fl *flag.FlagSet, cmd, store string, stderr io.Writer) (configGiven, ok bool) {
	given := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["config"] && given[store] {
		fmt.Fprintf(stderr, "wxflow %s: --config and --%s do not go together: --%s names the store itself\n", cmd, store, store)
		return true, false
	}
	return given["config"], true
}

// sqliteStoreFile checks that db names a SQLite store's file, for the
// commands that read one as a file (backup, copy-store): it refuses what
// config.CheckDatabase refuses, a PostgreSQL URL (onPostgres says what to
// do instead), ":memory:" and "file:" URIs (flag names the file instead),
// a file that does not exist, and what notSQLiteFile refuses.
func sqliteStoreFile(db, flag, onPostgres string) error {
	if err := config.CheckDatabase(db); err != nil {
		return err
	}
	if postgres.IsURL(db) {
		return fmt.Errorf("%s is a PostgreSQL database: %s", config.DatabaseName(db), onPostgres)
	}
	if db == ":memory:" || strings.HasPrefix(db, "file:") {
		return fmt.Errorf("database %q is not a file: pass %s FILE", db, flag)
	}
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("no store at %s: %v", db, err)
	}
	return notSQLiteFile(db, flag)
}

// sqliteHeader is how every SQLite database file begins.
const sqliteHeader = "SQLite format 3\x00"

// notSQLiteFile is the check the commands that take a SQLite store's path
// (serve, backup, copy-store, migrate, nodes, export-test) make before opening
// it: a folder, a device or a file that is not a SQLite database is a
// usage error (exit 2), saying what the path is and that flag names the
// database file wxflow serve uses. Before, each said something else: a
// folder "lock DIR: open DIR: is a directory" (migrate, exit 1), a text
// file "is a SQLite store, and no wxflow serve is using it" (nodes) or
// "file is not a database" (backup, exit 1). A file that is empty (SQLite
// makes a database in it), does not exist or cannot be read is left to
// the command, which says what that means for it; so is a path that is
// no file's (a file: URI, a PostgreSQL URL).
func notSQLiteFile(db, flag string) error {
	if postgres.IsURL(db) || !sqlite.IsFilePath(db) {
		return nil
	}
	fi, err := os.Stat(db)
	if err != nil {
		return nil
	}
	switch {
	case fi.IsDir():
		// SQLite said "disk I/O error: is a directory" after opening it.
		return fmt.Errorf("%s is a folder, not a store: pass %s FILE, the database file wxflow serve uses", db, flag)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s), not a store: pass %s FILE, the database file wxflow serve uses", db, fileKind(fi.Mode()), flag)
	}
	f, err := os.Open(db)
	if err != nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, _ := io.ReadFull(f, head)
	if n == 0 || string(head[:n]) == sqliteHeader {
		return nil
	}
	return fmt.Errorf("%s is not a SQLite database (its %d bytes do not begin as one does), not a store: pass %s FILE, the database file wxflow serve uses", db, fi.Size(), flag)
}

// fileKind names the kind of a file that is neither a regular file nor a
// folder.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}
