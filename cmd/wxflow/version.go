package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

func init() {
	commands["version"] = command{"print the version of wxflow, the commit and the schema it migrates to", runVersion}
}

// buildInfo is what the binary knows of its build.
type buildInfo struct {
	// Version is the module's version as Go stamped it (a tag, or a
	// pseudo-version of the commit with +dirty for local changes), or
	// "devel" with the commit when Go stamped none.
	Version string
	// Revision and Time are the commit's, Modified is set for a build
	// with uncommitted changes ("" and false when not built from git).
	Revision, Time string
	Modified       bool
	// Go is the Go release that built it.
	Go string
}

// build is this binary's build.
var build = buildFrom(debug.ReadBuildInfo())

// buildFrom reads a binary's build information (ok false: none).
func buildFrom(info *debug.BuildInfo, ok bool) buildInfo {
	b := buildInfo{Version: "devel", Go: runtime.Version()}
	if !ok {
		return b
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
		return b
	}
	if b.Revision != "" {
		b.Version += "-" + shortRevision(b.Revision)
		if b.Modified {
			b.Version += "+dirty"
		}
	}
	return b
}

// shortRevision is a commit's first 12 hex digits.
func shortRevision(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// runVersion is `wxflow version`.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("version", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow version")
		fmt.Fprintln(w, "\nPrints the version of wxflow, the commit it was built from, the Go that built")
		fmt.Fprintln(w, "it, and the newest migration of each store: the schema wxflow serve migrates a")
		fmt.Fprintln(w, "database to (a database migrated further is refused: docs/scaling.md).")
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	b := build
	fmt.Fprintf(stdout, "wxflow %s\n", b.Version)
	if b.Revision != "" {
		fmt.Fprintf(stdout, "commit %s", b.Revision)
		if b.Time != "" {
			fmt.Fprintf(stdout, " (%s)", b.Time)
		}
		if b.Modified {
			fmt.Fprint(stdout, ", with uncommitted changes")
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "built with %s for %s/%s\n", b.Go, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "schema: SQLite %s, PostgreSQL %s\n", sqlite.Schema(), postgres.Schema())
	return exitOK
}
