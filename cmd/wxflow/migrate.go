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

func init() {
	commands["migrate"] = command{"apply the store's migrations and exit (serve applies them too)", runMigrate}
}

// runMigrate is `wxflow migrate [--config FILE | --database FILE|URL]`:
// the migrations wxflow serve applies when it starts, applied alone, so
// that a deploy can migrate as the role that owns the tables before
// starting nodes that run as a role without CREATE
// (docs/scaling.md#roles-and-privileges), or migrate as a step of its
// own. Exit 0 when the store is at this wxflow's schema, 1 when it could
// not be migrated (unreachable, a newer wxflow's schema, privileges), 2
// on usage errors.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigFile, "the configuration file whose database to migrate")
	database := fl.String("database", "", "the store to migrate, a SQLite file or a postgres:// URL (instead of the config's)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow migrate [--config FILE | --database FILE|URL]")
		fmt.Fprintln(w, "\nApplies the migrations of this wxflow to the store (those wxflow serve applies")
		fmt.Fprintln(w, "when it starts: one process migrates, under an advisory lock on PostgreSQL), then")
		fmt.Fprintln(w, "exits, saying what it applied. On PostgreSQL, nodes of an older wxflow still")
		fmt.Fprintln(w, "running on the database stop at their next lease renewal once it is migrated.")
		fmt.Fprintln(w, "Migrate as the role that owns the tables; nodes may then run as a role with only")
		fmt.Fprintln(w, "their rows' privileges (docs/scaling.md#roles-and-privileges). Exit 0 when the")
		fmt.Fprintln(w, "store is at this wxflow's schema, 1 when it could not be migrated, 2 on usage errors.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	db, ok := flagDatabase(fl, "migrate", "database", *database, *cfgPath, stderr)
	if !ok {
		return exitUsage
	}
	if err := config.CheckDatabase(db); err != nil {
		fmt.Fprintf(stderr, "wxflow migrate: %v\n", err)
		return exitUsage
	}
	name := config.DatabaseName(db)
	var applied []string
	schema := sqlite.Schema()
	if postgres.IsURL(db) {
		st, err := postgres.Open(ctx, db, postgres.Options{ReadConns: 1})
		if err != nil {
			fmt.Fprintf(stderr, "wxflow migrate: %v\n", err)
			return exitProblems
		}
		applied, schema = st.Migrated(), postgres.Schema()
		st.Close()
	} else {
		// A folder said "lock DIR: open DIR: is a directory", a text file
		// "migrate: file is not a database" (exit 1).
		if err := notSQLiteFile(db, "--database"); err != nil {
			fmt.Fprintf(stderr, "wxflow migrate: %v\n", err)
			return exitUsage
		}
		_, statErr := os.Stat(db)
		created := errors.Is(statErr, fs.ErrNotExist) && sqlite.IsFilePath(db)
		if _, err := os.Stat(*cfgPath); created && *database == "" && err != nil {
			// Neither a config nor a store here: most likely the wrong
			// folder, where a new, empty store would only mislead.
			fmt.Fprintf(stderr, "wxflow migrate: neither %s nor %s is here: run it in the folder of the config, or give --config or --database (serve makes a new store at its first start)\n", *cfgPath, db)
			return exitUsage
		}
		if created {
			name += " (a new store: there was no file)"
		}
		// Held as wxflow serve holds it, so that no server starts on it
		// meanwhile, nor runs on it while it is migrated.
		st, err := sqlite.Open(ctx, db, sqlite.Options{ReadConns: 1, Exclusive: true})
		if errors.Is(err, sqlite.ErrInUse) {
			// A server holds it: fine when there is nothing to migrate;
			// migrated under a server of an older wxflow, that server
			// would go on with code that does not know the new schema.
			ro, rerr := sqlite.Open(ctx, db, sqlite.Options{ReadConns: 1, ReadOnly: true})
			if rerr == nil {
				ro.Close()
				fmt.Fprintf(stdout, "%s is at %s already: nothing to migrate\n", name, schema)
				return exitOK
			}
			if errors.Is(rerr, engine.ErrNewerSchema) {
				err = rerr
			} else {
				err = fmt.Errorf("a wxflow serve is using %s and the store needs migrating: stop it first, then run wxflow migrate again (or start wxflow serve of this version: it migrates the store when it starts); migrated under it, a server of an older wxflow would go on with code that does not know the new schema", name)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "wxflow migrate: %v\n", err)
			return exitProblems
		}
		applied = st.Migrated()
		st.Close()
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "%s is at %s already: nothing to migrate\n", name, schema)
		return exitOK
	}
	fmt.Fprintf(stdout, "migrated %s to %s: applied %s\n", name, schema, strings.Join(applied, ", "))
	return exitOK
}
