package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/scenario"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
)

// exportTestUsage is export-test's usage line.
const exportTestUsage = "wxflow export-test --contact ACCOUNT/OPENID [--since T] [--config FILE] [--database FILE|URL] [-o FILE]"

func init() {
	commands["export-test"] = command{"write a contact's real conversation as a *.test.yaml scenario", runExportTest}
	commands["plan"] = command{"show what reloading the flows folder does to the runs waiting", runPlan}
}

// runExportTest is `wxflow export-test --contact ACCOUNT/OPENID [--since
// T] [--config FILE] [--database FILE|URL] [-o FILE]`: the contact's
// conversation, read from the store, as a test scenario.
func runExportTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("export-test", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigFile, "the configuration file (without one: the sandbox's store, "+config.DefaultDatabase+")")
	database := fl.String("database", "", "the store to read, a SQLite file or a postgres:// URL (instead of the config's database:, as wxflow serve --database)")
	contact := fl.String("contact", "", "the contact: ACCOUNT/OPENID (as the console's contact page names it)")
	since := fl.String("since", "", "leave out what happened before: a time (2026-11-20T10:00:00+08:00, 2026-11-20 10:00, 2026-11-20, in the config's time zone) or a duration back from now (48h, 7d)")
	out := fl.String("o", "", "write the scenario to this file (default: standard output)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: "+exportTestUsage)
		fmt.Fprintln(w, "\nWrites a contact's conversation, as the store recorded it, as a *.test.yaml")
		fmt.Fprintln(w, "scenario: the contact's actions as script lines, what the flows sent as expect")
		fmt.Fprintln(w, "lines, the virtual clock placed where the real events were. Put it beside the")
		fmt.Fprintln(w, "flows and run wxflow test: against the flow versions of the conversation it")
		fmt.Fprintln(w, "passes. The store is the config's database (default "+defaultConfigFile+", or")
		fmt.Fprintln(w, "./"+config.DefaultDatabase+" without it), or --database; the config still gives the time zone,")
		fmt.Fprintln(w, "the accounts' settings and the people. Exit 0 when written, 1 when the store has")
		fmt.Fprintln(w, "nothing of the contact, 2 on usage errors.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if *contact == "" || fl.NArg() > 0 {
		if *contact == "" {
			fmt.Fprintln(stderr, "wxflow export-test: --contact is missing: the contact whose conversation to export, ACCOUNT/OPENID")
		} else {
			fmt.Fprintf(stderr, "wxflow export-test: unexpected argument %q: export-test takes flags only\n", fl.Arg(0))
		}
		fmt.Fprintln(stderr, "usage: "+exportTestUsage)
		return exitUsage
	}
	account, id, ok := strings.Cut(*contact, "/")
	if !ok || account == "" || id == "" {
		fmt.Fprintf(stderr, "wxflow export-test: --contact %q: write ACCOUNT/OPENID, e.g. main/oX1y2z3\n", *contact)
		return exitUsage
	}
	if *database != "" {
		if err := config.CheckDatabase(*database); err != nil {
			fmt.Fprintf(stderr, "wxflow export-test: --database: %v\n", err)
			return exitUsage
		}
	}
	cfg, code, err := loadStoreConfig(fl, *cfgPath, *database)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow export-test: %v\n", err)
		return code
	}
	people := cfg.People()
	opts := scenario.ExportOptions{Account: account, Contact: id, Zone: cfg.Timezone, ZoneName: cfg.TimezoneName, People: &people}
	if opts.ZoneName == "" || opts.ZoneName == "Local" {
		// The server ran in the machine's zone: the scenario names it,
		// or it would run in UTC (opening hours would differ).
		if name := localZoneName(); name != "" {
			opts.ZoneName = name
		} else {
			fmt.Fprintln(stderr, "wxflow export-test: the machine's time zone has no name here (TZ is not set, /etc/localtime names none): add timezone: to the scenario, or timezone: to the config")
		}
	}
	for _, a := range cfg.Accounts {
		if a.ID == account {
			opts.Settings, opts.AutoClose = a.Session, a.AutoClose
		}
	}
	if *since != "" {
		t, err := parseSince(*since, cfg.Timezone, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "wxflow export-test: --since: %v\n", err)
			return exitUsage
		}
		opts.Since = t
	}
	if err := notSQLiteFile(cfg.Database, "--database"); err != nil {
		fmt.Fprintf(stderr, "wxflow export-test: %v\n", err)
		return exitUsage
	}
	st, err := openExistingStore(ctx, cfg.Database, "export-test", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow export-test: %v\n", err)
		return exitProblems
	}
	defer st.Close()
	src, err := scenario.Export(ctx, st, opts)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow export-test: %v\n", err)
		return exitProblems
	}
	if n := bytes.Count(src, []byte("# "+scenario.NotPlayed)); n > 0 {
		fmt.Fprintf(stderr, "wxflow export-test: warning: %d of the conversation's events and messages have no scenario action (comments \"# not played\": events the scenario language has no action for, people's replies, messages of runs started through the API or by an operator): what followed them may differ, and the scenario may not pass as written (docs/testing.md)\n", n)
	}
	if *out == "" {
		stdout.Write(src) // (run reports an error writing it)
		return exitOK
	}
	if err := replaceFile(*out, src); err != nil {
		fmt.Fprintf(stderr, "wxflow export-test: %v\n", err)
		return exitProblems
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return exitOK
}

// loadStoreConfig loads the config a command that reads the store uses:
// the file given, or, when --config was not given and the default file
// does not exist, the sandbox's (its store ./wxflow.db, the example
// flows). A database other than "" (--database) is the store instead of
// the config's database:, which is then not read (as wxflow serve
// --database leaves it). The code is the exit code of an error.
func loadStoreConfig(fl *flag.FlagSet, path, database string) (*config.Config, int, error) {
	if _, err := os.Stat(path); !flagGiven(fl, "config") && errors.Is(err, fs.ErrNotExist) {
		cfg := sandboxConfig()
		if database != "" {
			cfg.Database = database
		}
		return cfg, exitOK, nil
	}
	// The store's readers need no secret: they are not read.
	var cfg *config.Config
	var err error
	if database != "" {
		cfg, err = config.LoadWithoutSecretsOverridingDatabase(path, os.LookupEnv, database)
	} else {
		cfg, err = config.LoadWithoutSecrets(path, os.LookupEnv)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exitUsage, err
		}
		return nil, exitProblems, err
	}
	return cfg, exitOK, nil
}

// openExistingStore opens the store a database setting names, read-only,
// for a command that only reads it (cmd names the command in what it
// says on stderr): a server may run on it, and a newer wxflow must not
// migrate it under that server. A SQLite file that does not exist is
// refused, and so is one another wxflow migrated (see
// sqlite.Options.ReadOnly); PostgreSQL, see openReadOnly.
func openExistingStore(ctx context.Context, database, cmd string, stderr io.Writer) (engine.Store, error) {
	if postgres.IsURL(database) {
		return openReadOnly(ctx, database, cmd, stderr)
	}
	if _, err := os.Stat(database); err != nil {
		return nil, fmt.Errorf("no store at %s (wxflow serve makes it; --config or --database names another)", database)
	}
	st, err := sqlite.Open(ctx, database, sqlite.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// openReadOnly opens a PostgreSQL database without migrating it, and
// says on stderr when an older wxflow migrated it (it is read as it is).
func openReadOnly(ctx context.Context, database, cmd string, stderr io.Writer) (*postgres.Store, error) {
	st, err := postgres.Open(ctx, database, postgres.Options{ReadOnly: true, ReadConns: 1})
	if err != nil {
		return nil, err
	}
	if b := st.Behind(); len(b) > 0 {
		fmt.Fprintf(stderr, "wxflow %s: note: an older wxflow migrated %s (it lacks %s); read as it is, not migrated (wxflow serve of this version migrates it when it starts)\n",
			cmd, config.DatabaseName(database), strings.Join(b, ", "))
	}
	return st, nil
}

// parseSince reads --since: an RFC 3339 time, a date and time or a date
// in zone (a time the clocks skip is pushed forward by the gap, one they
// repeat is the first: flows.WallTime), or a duration back from now.
func parseSince(s string, zone *time.Location, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := flows.ParseInZone(layout, s, zone); err == nil {
			return t, nil
		}
	}
	if d, err := config.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (2026-11-20T10:00:00+08:00, 2026-11-20 10:00, 2026-11-20) nor a duration back from now (48h, 7d)", s)
}

// replaceFile writes data to path through a temporary file in the same
// folder, renamed over it once complete: a failed write (a full disk, a
// file size limit) leaves the old file as it was, not a fragment.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// localZoneName is the IANA name of the machine's time zone (time.Local):
// TZ's, or the zoneinfo file /etc/localtime links to; "" when neither
// names one.
func localZoneName() string {
	if tz, ok := os.LookupEnv("TZ"); ok {
		tz = strings.TrimPrefix(tz, ":")
		if tz == "" {
			return "UTC"
		}
		if _, err := time.LoadLocation(tz); err == nil {
			return tz
		}
		return ""
	}
	target, err := filepath.EvalSymlinks("/etc/localtime")
	if err != nil {
		return ""
	}
	if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
		if _, err := time.LoadLocation(name); err == nil {
			return name
		}
	}
	return ""
}
