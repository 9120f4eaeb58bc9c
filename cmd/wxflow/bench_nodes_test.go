package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestBenchNodesUsage: --nodes and --writers need PostgreSQL, a soak
// does not run on it, and none goes with --url; --account goes with a
// --url that names no other account.
func TestBenchNodesUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "3"}, "needs --database postgres://"},
		{[]string{"--nodes", "2", "--database", "x.db"}, "needs --database postgres://"},
		{[]string{"--nodes", "0", "--database", "postgres://u@h/db"}, "at least 1"},
		{[]string{"--database", "postgres://u@h/db", "--duration", "1m"}, "does not run on PostgreSQL"},
		{[]string{"--url", "http://127.0.0.1:1", "--token", "x", "--nodes", "2"}, "--nodes is for the server"},
		{[]string{"--writers", "2"}, "--writers goes with --database postgres://"},
		{[]string{"--writers", "-1", "--database", "postgres://u@h/db"}, "must be at least 1"},
		{[]string{"--url", "http://127.0.0.1:1", "--token", "x", "--writers", "2"}, "--writers is for the server"},
		{[]string{"--url", "http://127.0.0.1:1", "--token", "x", "--database", "postgres://u@h/db"}, "--database is for the server"},
		// The URL names the account: another --account was ignored.
		{[]string{"--url", "http://127.0.0.1:1/wechat/main", "--token", "x", "--account", "hk"}, "--account hk, but --url posts to /wechat/main"},
	} {
		r := runCLI(t, append([]string{"bench"}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want %d and %q", c.args, r.code, r.stderr, exitUsage, c.want)
		}
	}
}

// TestBenchNodesOnPostgres: `wxflow bench --database postgres://...
// --nodes 3` starts three nodes on one database behind its round-robin
// proxy, and the books balance (a schema of its own at WXFLOW_PG_URL;
// skipped without, unless WXFLOW_REQUIRE_PG=1).
func TestBenchNodesOnPostgres(t *testing.T) {
	base := os.Getenv("WXFLOW_PG_URL")
	if base == "" {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatal("WXFLOW_REQUIRE_PG=1 but WXFLOW_PG_URL is not set")
		}
		t.Skip("WXFLOW_PG_URL is not set")
	}
	ctx := context.Background()
	var r [6]byte
	rand.Read(r[:])
	schema := "wxbench_" + hex.EncodeToString(r[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("schema %s kept for a look", schema)
			return
		}
		conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	}()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	rep, res := benchJSON(t, "--database", u.String(), "--nodes", "3", "--followers", "60", "--scenario", "mixed", "--conns", "8")
	if res.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !rep.Books.Balanced || rep.Books.Checked != "full" {
		t.Errorf("books %+v, want full and balanced", rep.Books)
	}
	if rep.Nodes != 3 || rep.Database != "postgres" || !strings.Contains(rep.RSSOf, "3 server processes") {
		t.Errorf("nodes %d, database %q, rss of %q", rep.Nodes, rep.Database, rep.RSSOf)
	}
	if rep.MessagesDelivered+rep.MessagesStopped != rep.MessagesExpected || rep.MessagesDelivered == 0 || rep.Acked != rep.Callbacks {
		t.Errorf("messages %d (and %d stopped by an unfollow) of %d, acked %d of %d", rep.MessagesDelivered, rep.MessagesStopped, rep.MessagesExpected, rep.Acked, rep.Callbacks)
	}
	if pw, _ := u.User.Password(); pw != "" && strings.Contains(res.stdout+res.stderr, pw) {
		t.Error("the database password appears in the bench's output")
	}
}
