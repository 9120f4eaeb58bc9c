package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/storecopy"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

func init() {
	commands["copy-store"] = command{"copy the SQLite store into an empty PostgreSQL database, to run several nodes", runCopyStore}
}

// runCopyStore is `wxflow copy-store [--config FILE | --from FILE] --to
// URL`: the SQLite store, copied into an empty PostgreSQL database in one
// transaction. Exit 0 when copied, 1 when the copy failed (nothing is
// written then) or the database is not empty, 2 on usage errors.
func runCopyStore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("copy-store", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigFile, "the configuration file whose SQLite database to copy")
	from := fl.String("from", "", "the SQLite database to copy (instead of the config's)")
	to := fl.String("to", "", "the PostgreSQL database to copy into: a postgres:// URL (required)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow copy-store [--config FILE | --from FILE] --to postgres://...")
		fmt.Fprintln(w, "\nCopies the SQLite store (the config's database, default "+defaultConfigFile+", or --from)")
		fmt.Fprintln(w, "into an empty PostgreSQL database, which it migrates first: contacts,")
		fmt.Fprintln(w, "conversations, runs (waiting ones go on where they wait), timers, messages,")
		fmt.Fprintln(w, "schedules, flow versions, logins and uploads, in one transaction: all or nothing.")
		fmt.Fprintln(w, "Stop wxflow serve first: what it commits after the copy began is not copied.")
		fmt.Fprintln(w, "Messages being sent when it stopped are copied as unknown, as a restart would")
		fmt.Fprintln(w, "record them. The SQLite file is only read. Then set database: to the URL and")
		fmt.Fprintln(w, "start the nodes (docs/scaling.md). Exit 0 when copied, 1 when the copy failed or")
		fmt.Fprintln(w, "the database holds data, 2 on usage errors.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	db, ok := flagDatabase(fl, "copy-store", "from", *from, *cfgPath, stderr)
	if !ok {
		return exitUsage
	}
	if !postgres.IsURL(*to) {
		fmt.Fprintln(stderr, "wxflow copy-store: --to must be a postgres:// URL (the database to copy into)")
		return exitUsage
	}
	if err := sqliteStoreFile(db, "--from", "the store to copy is PostgreSQL already; copy-store copies a SQLite store"); err != nil {
		fmt.Fprintf(stderr, "wxflow copy-store: %v\n", err)
		return exitUsage
	}
	if busy, err := sqlite.InUse(db); err != nil || busy {
		if err == nil {
			err = fmt.Errorf("a wxflow serve is using %s: stop it first (docs/scaling.md), or its pending messages and timers would be sent and fired by it and by the PostgreSQL nodes too", db)
		}
		fmt.Fprintf(stderr, "wxflow copy-store: %v; nothing was copied\n", err)
		return exitProblems
	}
	name := config.DatabaseName(*to)
	res, err := storecopy.Copy(ctx, db, *to, time.Now())
	switch {
	case errors.Is(err, storecopy.ErrNotEmpty):
		fmt.Fprintf(stderr, "wxflow copy-store: %s: %v; nothing was copied\n", name, err)
		return exitProblems
	case err != nil:
		fmt.Fprintf(stderr, "wxflow copy-store: %v; nothing was copied\n", err)
		return exitProblems
	}
	fmt.Fprintf(stdout, "copied %s to %s: %d rows in %s\n", db, name, res.Rows(), res.Took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, t := range res.Tables {
		fmt.Fprintf(tw, "  %s\t%d\t\n", t.Name, t.Rows)
	}
	tw.Flush()
	if res.Unanalyzed != nil {
		fmt.Fprintf(stderr, "wxflow copy-store: the copy is committed, but ANALYZE after it failed (%v): run ANALYZE on the database before starting the nodes\n", res.Unanalyzed)
	}
	if res.Unknown == 1 {
		fmt.Fprintln(stdout, "1 message was being sent when wxflow serve stopped: copied as unknown (it may have reached WeChat)")
	}
	if res.Unknown > 1 {
		fmt.Fprintf(stdout, "%d messages were being sent when wxflow serve stopped: copied as unknown (they may have reached WeChat)\n", res.Unknown)
	}
	if res.Released == 1 {
		fmt.Fprintln(stdout, "1 message held back by a pause of its account's sends: copied as pending, to be sent")
	}
	if res.Released > 1 {
		fmt.Fprintf(stdout, "%d messages held back by a pause of their account's sends: copied as pending, to be sent\n", res.Released)
	}
	fmt.Fprintln(stdout, "next: set database: to the URL in the config (the password as ${...}), and start wxflow serve on it (docs/scaling.md)")
	return exitOK
}
