package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/console"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

func init() {
	commands["nodes"] = command{"list the nodes sharing a PostgreSQL database and the lanes each holds", runNodes}
}

// runNodes is `wxflow nodes [--config FILE] [--json]`: the nodes of the
// config's PostgreSQL database, each with its lease, lanes, queued items
// and claimed messages. It reads the database without migrating it or
// writing to it, beside running nodes.
func runNodes(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigFile, "the configuration file, whose database: the nodes share (only database: is read)")
	database := fl.String("database", "", "the nodes' database, a postgres:// URL (instead of the config's)")
	asJSON := fl.Bool("json", false, "print the nodes as JSON")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow nodes [--config FILE | --database URL] [--json]")
		fmt.Fprintln(w, "\nLists the nodes (wxflow serve processes, one per writer) sharing the config's")
		fmt.Fprintln(w, "PostgreSQL database: each one's lease, the lanes it holds, the items queued for")
		fmt.Fprintln(w, "them and the messages it claimed and has not finished; then the lanes no live")
		fmt.Fprintln(w, "node holds. It reads the database as it is, beside the nodes, and writes")
		fmt.Fprintln(w, "nothing. Exit 0 when every lane is held by a live node, 1 when some are not")
		fmt.Fprintln(w, "(their contacts' events wait until a node takes them) or the database cannot")
		fmt.Fprintln(w, "be read, 2 on usage errors. On a SQLite store: 0 while a wxflow serve uses the")
		fmt.Fprintln(w, "file (it holds every lane), 1 when none does.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	// Only database: is read: a monitoring host needs the database's
	// password, not the accounts' secrets.
	db, ok := flagDatabase(fl, "nodes", "database", *database, *cfgPath, stderr)
	if !ok {
		return exitUsage
	}
	if err := config.CheckDatabase(db); err != nil {
		fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
		return exitUsage
	}
	name := config.DatabaseName(db)
	if !postgres.IsURL(db) {
		if _, err := os.Stat(db); err != nil {
			// A check run in the wrong folder must not pass.
			fmt.Fprintf(stderr, "wxflow nodes: no store at %s (--config names the nodes' config, --database their database)\n", name)
			return exitProblems
		}
		// A text file or a folder was "a SQLite store, and no wxflow
		// serve is using it".
		if err := notSQLiteFile(db, "--database"); err != nil {
			fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
			return exitUsage
		}
		busy, err := sqlite.InUse(db)
		if err != nil {
			fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
			return exitProblems
		}
		if !busy {
			// An empty file and another program's database were "a
			// SQLite store".
			has, err := sqlite.HoldsStore(ctx, db)
			if err != nil {
				fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
				return exitProblems
			}
			if !has {
				fmt.Fprintf(stderr, "wxflow nodes: no wxflow store in %s (an empty file, or another program's database: --database names the nodes' database): wxflow serve creates it when it starts\n", name)
				return exitProblems
			}
		}
		if *asJSON {
			// A monitor reading --json got the sentence below, not JSON.
			if err := writeJSON(stdout, sqliteNodes(name, busy, time.Now())); err != nil {
				fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
				return exitProblems
			}
			if !busy {
				return exitProblems
			}
			return exitOK
		}
		if !busy {
			// Exit 0 says a live node holds every lane: none runs here.
			fmt.Fprintf(stdout, "wxflow nodes: %s is a SQLite store, and no wxflow serve is using it: nobody holds its %d lanes\n", name, engine.LaneCount)
			return exitProblems
		}
		fmt.Fprintf(stdout, "wxflow nodes: %s is a SQLite store: one wxflow serve holds all %d lanes (several nodes share a PostgreSQL database: docs/scaling.md)\n", name, engine.LaneCount)
		return exitOK
	}
	st, err := openReadOnly(ctx, db, "nodes", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
		return exitProblems
	}
	defer st.Close()
	n, err := st.Nodes(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
		return exitProblems
	}
	// The console's view of them: --json is what GET /api/nodes answers.
	v := console.ViewNodes(n, nil, name)
	if *asJSON {
		if err := writeJSON(stdout, v); err != nil {
			fmt.Fprintf(stderr, "wxflow nodes: %v\n", err)
			return exitProblems
		}
	} else {
		writeNodes(stdout, v)
	}
	if v.Unheld > 0 {
		return exitProblems
	}
	return exitOK
}

// sqliteNodes is --json's view of a SQLite store named name, as the
// console's GET /api/nodes gives it on SQLite: no nodes, every lane held
// while a serve uses the file (busy), none held otherwise. Versions is
// empty: the file's lock says that a serve runs, not which wxflow.
func sqliteNodes(name string, busy bool, now time.Time) *console.NodesView {
	v := &console.NodesView{Store: "sqlite", Database: name, At: now, Lanes: engine.LaneCount,
		Nodes: []console.NodeView{}, Versions: []string{}}
	if !busy {
		v.Unheld, v.Free = engine.LaneCount, engine.LaneCount
	}
	return v
}

// versionOrUnknown is a node's version, "?" for a node of a wxflow
// from before nodes said so.
func versionOrUnknown(v string) string {
	if v == "" {
		return "?"
	}
	return v
}

// writeNodes prints the nodes as a table, then the lanes no live node
// holds.
func writeNodes(w io.Writer, v *console.NodesView) {
	fmt.Fprintf(w, "wxflow nodes: %s, read at %s (the database's clock)\n", v.Database, v.At.UTC().Format("2006-01-02 15:04:05 MST"))
	if len(v.Nodes) == 0 {
		fmt.Fprintln(w, "no node: no wxflow serve runs on this database")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tVERSION\tLEASE\tUP\tLANES\tQUEUED\tCLAIMED")
		for _, node := range v.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", node.ID, versionOrUnknown(node.Version), node.Lease, node.Up, node.Lanes, node.Queued, node.Claimed)
		}
		tw.Flush()
	}
	if len(v.Versions) > 1 {
		vs := make([]string, len(v.Versions))
		for i, ver := range v.Versions {
			vs[i] = versionOrUnknown(ver)
		}
		fmt.Fprintf(w, "the live nodes run %d versions of wxflow (%s): an upgrade under way, until every node runs the new one\n", len(vs), strings.Join(vs, ", "))
	}
	if v.Free > 0 {
		fmt.Fprintf(w, "free lanes (no node holds them): %d, with %d queued items\n", v.Free, v.FreeQueued)
	}
	live := 0
	for _, n := range v.Nodes {
		if n.Live {
			live++
		}
	}
	if live == 0 {
		fmt.Fprintf(w, "no node is live: nothing handles the callbacks or sends (start wxflow serve on this database: docs/scaling.md)\n")
		return
	}
	if v.Unheld > 0 {
		fmt.Fprintf(w, "%d of %d lanes have no live node: their contacts' events are queued until a live node takes them (a node takes free lanes, and those of a node whose lease ended, within about a second: docs/scaling.md)\n", v.Unheld, v.Lanes)
		return
	}
	fmt.Fprintf(w, "all %d lanes are held by live nodes\n", v.Lanes)
}

// writeJSON writes v as indented JSON, as the --json outputs print it:
// without Go's HTML escaping, so that a URL's & is & and not \u0026.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// marshalJSON is json.Marshal without the HTML escaping (one line,
// without writeJSON's indent and newline).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
