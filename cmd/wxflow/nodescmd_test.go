package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/console"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// joinNode opens a store on database as a node named name (of wxflow
// testNodeVersion), joins and balances once: it takes the free lanes up
// to its share.
func joinNode(t *testing.T, database, name string) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, database, postgres.Options{NodeName: name, ReadConns: 1, Version: testNodeVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Balance(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// testNodeVersion is the version of wxflow joinNode's nodes say they run.
const testNodeVersion = "v0.0.0-test"

// pgConn connects to database for the test's own SQL.
func pgConn(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), database)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// pgMigrations returns the migrations applied to database, in order.
func pgMigrations(t *testing.T, database string) []string {
	t.Helper()
	conn := pgConn(t, database)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	n, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pgExec runs statements on database, as an operator's SQL would.
func pgExec(t *testing.T, database string, stmts ...string) {
	t.Helper()
	conn := pgConn(t, database)
	defer conn.Close(context.Background())
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestNodesCommand: wxflow nodes lists the nodes of the config's
// PostgreSQL database with their lanes, says which lanes no live node
// holds (exit 1), never shows the URL's password, and says what a SQLite
// store is. It reads only the config's database: (the accounts' secrets
// need not be set), or --database; a SQLite store that is not there is
// no success (a check run in the wrong folder).
func TestNodesCommand(t *testing.T) {
	dir := t.TempDir()

	sqliteConfig := convConfig(t, dir, filepath.Join(dir, "wxflow.db"))
	r := runCLI(t, "nodes", "--config", sqliteConfig)
	if r.code != exitProblems || !strings.Contains(r.stderr, "no store at "+filepath.Join(dir, "wxflow.db")) {
		t.Errorf("nodes on a SQLite store that is not there: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "wxflow.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty file holds no store (it was "a SQLite store, and no
	// wxflow serve is using it"), nor does another program's database.
	r = runCLI(t, "nodes", "--config", sqliteConfig)
	if r.code != exitProblems || r.stdout != "" || !strings.Contains(r.stderr, "wxflow nodes: no wxflow store in "+filepath.Join(dir, "wxflow.db")+" (an empty file") {
		t.Errorf("nodes on an empty file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	other := filepath.Join(dir, "other.db")
	odb, err := sql.Open("sqlite3", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := odb.Exec(`CREATE TABLE recipes (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	odb.Close()
	r = runCLI(t, "nodes", "--database", other, "--json")
	if r.code != exitProblems || r.stdout != "" || !strings.Contains(r.stderr, "no wxflow store in "+other) {
		t.Errorf("nodes --json on another program's database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "wxflow.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// No serve uses the store: nobody holds its lanes (exit 0 said all
	// was well); one serve holds it (its file lock): all of them.
	r = runCLI(t, "nodes", "--config", sqliteConfig)
	if r.code != exitProblems || !strings.Contains(r.stdout, "wxflow.db is a SQLite store, and no wxflow serve is using it") {
		t.Errorf("nodes on SQLite nobody serves: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// --json prints an object, as GET /api/nodes does on SQLite (it
	// printed the sentence).
	sqliteJSON := func(wantCode, wantUnheld int) {
		t.Helper()
		r := runCLI(t, "nodes", "--config", sqliteConfig, "--json")
		var v struct {
			Store  string `json:"store"`
			Lanes  int    `json:"lanes"`
			Unheld int    `json:"unheld"`
			Free   int    `json:"free"`
			Nodes  []any  `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != wantCode {
			t.Fatalf("nodes --json on SQLite: exit %d, want %d; %v\n%s%s", r.code, wantCode, err, r.stdout, r.stderr)
		}
		if v.Store != "sqlite" || v.Lanes != 256 || v.Unheld != wantUnheld || v.Free != wantUnheld || v.Nodes == nil || len(v.Nodes) != 0 {
			t.Errorf("nodes --json on SQLite: %+v, want store sqlite, 256 lanes, %d unheld and free, nodes []\n%s", v, wantUnheld, r.stdout)
		}
	}
	sqliteJSON(exitProblems, 256)
	held, err := sqlite.Open(context.Background(), filepath.Join(dir, "wxflow.db"), sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "nodes", "--config", sqliteConfig)
	if r.code != exitOK || !strings.Contains(r.stdout, "wxflow.db is a SQLite store: one wxflow serve holds all 256 lanes") {
		t.Errorf("nodes on SQLite: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	sqliteJSON(exitOK, 0)
	// copy-store refuses a store a serve is using: both would send its
	// pending messages and fire its timers.
	if r := runCLI(t, "copy-store", "--from", filepath.Join(dir, "wxflow.db"), "--to", "postgres://wx@127.0.0.1:1/x"); r.code != exitProblems || !strings.Contains(r.stderr, "a wxflow serve is using") {
		t.Errorf("copy-store of a served store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	held.Close()
	if r := runCLI(t, "nodes", "extra"); r.code != exitUsage {
		t.Errorf("nodes with an argument: exit %d, want %d", r.code, exitUsage)
	}
	if r := runCLI(t, "nodes", "--config", sqliteConfig, "--database", "x.db"); r.code != exitUsage || !strings.Contains(r.stderr, "do not go together") {
		t.Errorf("nodes with --config and --database: exit %d\n%s", r.code, r.stderr)
	}

	database := pgDatabase(t)
	u, err := url.Parse(database)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	cfg := convConfig(t, dir, database)
	nodes := func(want int, args ...string) cliResult {
		t.Helper()
		r := runCLI(t, append([]string{"nodes", "--config", cfg}, args...)...)
		if r.code != want {
			t.Fatalf("nodes %v: exit %d, want %d\n%s%s", args, r.code, want, r.stdout, r.stderr)
		}
		if password != "" && strings.Contains(r.stdout+r.stderr, password) {
			t.Fatalf("nodes %v shows the database's password:\n%s%s", args, r.stdout, r.stderr)
		}
		return r
	}
	expect := func(r cliResult, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("the output lacks %q:\n%s", w, r.stdout)
			}
		}
	}

	r = nodes(exitProblems)
	if !strings.Contains(r.stderr, "no wxflow store in this database") {
		t.Errorf("nodes on a database wxflow never migrated: %s", r.stderr)
	}

	a := joinNode(t, database, "web-1")
	r = nodes(exitOK)
	expect(r, "wxflow nodes: ", "NODE", "VERSION", "LANES", "web-1/", "v0.0.0-test", "all 256 lanes are held by live nodes")
	if strings.Contains(r.stdout, "versions of wxflow") {
		t.Errorf("one node, several versions:\n%s", r.stdout)
	}

	joinNode(t, database, "web-2")
	// An upgrade under way: the live nodes run two versions.
	pgExec(t, database, `UPDATE nodes SET version = 'v0.9.0' WHERE name = 'web-2'`)
	expect(nodes(exitOK), "the live nodes run 2 versions of wxflow (v0.0.0-test, v0.9.0): an upgrade under way")
	pgExec(t, database, `UPDATE nodes SET expires = 0 WHERE name = 'web-1'`)
	r = nodes(exitProblems)
	expect(r, "web-2/", "ENDED", "256 of 256 lanes have no live node")
	var got console.NodesView
	r = nodes(exitProblems, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if list := got.Nodes; len(list) != 2 || got.Unheld != engine.LaneCount || list[0].Name != "web-1" || list[0].Live || list[0].Lanes != engine.LaneCount ||
		list[1].Name != "web-2" || !list[1].Live || list[1].Lanes != 0 || list[0].Version != testNodeVersion || list[1].Version != "v0.9.0" ||
		!slices.Equal(got.Versions, []string{"v0.9.0"}) {
		t.Errorf("--json: %+v (unheld %d, versions %q), want web-1 ended with every lane and web-2 live with none, of v0.9.0", list, got.Unheld, got.Versions)
	}
	if !strings.Contains(r.stdout, `"unheld": 256`) || !strings.Contains(r.stdout, `"free": 0`) {
		t.Errorf("--json: %s", r.stdout)
	}
	// A URL's & is printed as &, not HTML-escaped as \u0026.
	r = runCLI(t, "nodes", "--database", database+"&application_name=wxnodes", "--json")
	if !strings.Contains(r.stdout, "&application_name=wxnodes") || strings.Contains(r.stdout, `\u0026`) {
		t.Errorf("nodes --json escapes the URL's &: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Given back (the node stops), the lanes are free.
	pgExec(t, database, `UPDATE nodes SET expires = expires + 3600000000000 WHERE name = 'web-1'`)
	if err := a.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(nodes(exitProblems), "free lanes (no node holds them): 256", "256 of 256 lanes have no live node")
	r = runCLI(t, "nodes", "--database", database)
	if r.code != exitProblems || !strings.Contains(r.stdout, "256 of 256 lanes have no live node") {
		t.Errorf("nodes --database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pgExec(t, database, `UPDATE nodes SET expires = 0`)
	r = nodes(exitProblems)
	expect(r, "no node is live: nothing handles the callbacks or sends")
	if strings.Contains(r.stdout, "queued until a live node takes them") {
		t.Errorf("no live node, and events are said to wait for one:\n%s", r.stdout)
	}
}

// TestReadOnlyCommandsMigrateNothing: plan and nodes read a database an
// older wxflow migrated as it is, say so, and leave its migrations as
// they were (a newer wxflow's plan before a deploy must not migrate the
// schema under the running nodes).
func TestReadOnlyCommandsMigrateNothing(t *testing.T) {
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "flows"), convFlows)
	database := pgDatabase(t)
	st, err := openStore(context.Background(), database, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	names := func() []string { return pgMigrations(t, database) }
	all := names()
	last := all[len(all)-1]
	pgExec(t, database, `DELETE FROM schema_migrations WHERE name = '`+last+`'`)
	cfg := convConfig(t, dir, database)
	for _, cmd := range []string{"plan", "nodes"} {
		r := runCLI(t, cmd, "--config", cfg)
		if want := "wxflow " + cmd + ": note: an older wxflow migrated"; !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, last) {
			t.Errorf("%s: stderr lacks %q naming %s:\n%s", cmd, want, last, r.stderr)
		}
		if cmd == "plan" && r.code != exitOK {
			t.Errorf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := names(); slices.Contains(got, last) {
			t.Fatalf("wxflow %s applied %s", cmd, last)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "wxflow.db")); err == nil {
		t.Error("a command made a SQLite file beside the config")
	}
}

// TestReadOnlyCommandsOnSQLite: plan and export-test read a SQLite store
// without migrating it: a store an older wxflow migrated is refused with
// what to do, and left as it was.
func TestReadOnlyCommandsOnSQLite(t *testing.T) {
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "flows"), convFlows)
	database := filepath.Join(dir, "wxflow.db")
	st, err := openStore(context.Background(), database, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := convConfig(t, dir, database)
	if r := runCLI(t, "plan", "--config", cfg); r.code != exitOK {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	db, last := sqliteAsOlder(t, database)
	for _, args := range [][]string{{"plan", "--config", cfg}, {"export-test", "--config", cfg, "--contact", "main/o_alice"}} {
		r := runCLI(t, args...)
		if r.code != exitProblems || !strings.Contains(r.stderr, "an older wxflow migrated it (it lacks "+last+")") {
			t.Errorf("%s: exit %d, want %d naming %s\n%s%s", args[0], r.code, exitProblems, last, r.stdout, r.stderr)
		}
		if sqliteApplied(t, db, last) {
			t.Fatalf("wxflow %s applied %s", args[0], last)
		}
	}
}

// TestServeStopsWhenANewerWxflowMigrates: in a rolling upgrade, the first
// node of the new version migrates the database; a node of the older
// version still serving on it exits 1 at its next lease renewal, saying
// why, for its supervisor to start the new version.
func TestServeStopsWhenANewerWxflowMigrates(t *testing.T) {
	api := wechattest.NewServer()
	defer api.Close()
	api.AddApp(srvAppID, srvSecret)
	database := pgDatabase(t)
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "flows"), map[string]string{"welcome.yaml": srvWelcome})
	t.Setenv("TEST_SECRET", srvSecret)
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\ndatabase: %q\nflows: flows\nlog: { format: json }\naccounts:\n  - id: main\n    app_id: %s\n    app_secret: ${TEST_SECRET}\n    token: %s\n    api_base: %s\n", database, srvAppID, srvToken, api.URL())
	path := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		code := run(context.Background(), []string{"serve", "--config", path}, pw, &errb)
		pw.Close()
		done <- code
	}()
	line := make([]byte, 256)
	if _, err := pr.Read(line); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	pgExec(t, database, `INSERT INTO schema_migrations (name, applied_at) VALUES ('999_from_a_newer_wxflow.sql', 0)`)
	select {
	case code := <-done:
		if code != exitProblems {
			t.Errorf("exit %d, want %d", code, exitProblems)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still runs 30 s after a newer wxflow migrated its database (renewals every second):\n%s", errb.String())
	}
	if logs := errb.String(); !strings.Contains(logs, "a newer wxflow migrated the database since this node started") || !strings.Contains(logs, "999_from_a_newer_wxflow.sql") {
		t.Errorf("the log does not say why the node stopped:\n%s", logs)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAdminCommandsKeepTheSchema: menu push and qrcode make the store of
// a PostgreSQL database that has none, and use one an older wxflow
// migrated as it is (its nodes may run: a migration would stop them).
func TestAdminCommandsKeepTheSchema(t *testing.T) {
	b := admSetup(t, admMenu, false)
	database := pgDatabase(t)
	cfg, err := os.ReadFile(b.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.config, bytes.Replace(cfg, []byte("database: wxflow.db"), []byte(fmt.Sprintf("database: %q", database)), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	admWant(t, b.run(t, "qrcode", "--account", "main", "--scene", "store_1"), exitOK)
	all := pgMigrations(t, database)
	if len(all) == 0 {
		t.Fatal("qrcode on a database without a store made none")
	}
	last := all[len(all)-1]
	pgExec(t, database, `DELETE FROM schema_migrations WHERE name = '`+last+`'`)
	admWant(t, b.run(t, "menu", "push"), exitOK)
	admWant(t, b.run(t, "qrcode", "--account", "main", "--scene", "store_2"), exitOK)
	if got := pgMigrations(t, database); slices.Contains(got, last) {
		t.Errorf("an admin command applied %s", last)
	}
	if n := b.fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches over three commands, want 1 (the token kept in the database)", n)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "wxflow.db")); err == nil {
		t.Error("an admin command made a SQLite file")
	}
}

// TestAdminCommandsOnSQLiteKeepTheSchema: menu push and qrcode make the
// SQLite store when there is none, and refuse one an older wxflow
// migrated, saying what to do, rather than migrating it under its server.
func TestAdminCommandsOnSQLiteKeepTheSchema(t *testing.T) {
	b := admSetup(t, admMenu, false)
	admWant(t, b.run(t, "qrcode", "--account", "main", "--scene", "store_1"), exitOK)
	db, last := sqliteAsOlder(t, filepath.Join(b.dir, "wxflow.db"))
	r := b.run(t, "menu", "push")
	admWant(t, r, exitProblems)
	if !strings.Contains(r.stderr, "an older wxflow migrated it (it lacks "+last+")") {
		t.Errorf("menu push on an older store: %s", r.stderr)
	}
	if sqliteApplied(t, db, last) {
		t.Errorf("menu push applied %s", last)
	}
	if len(b.fake.Menus()) != 0 {
		t.Error("menu push published the menu although it refused the store")
	}
}

// sqliteAsOlder makes the SQLite store at file look migrated by an
// older wxflow (its last migration not applied) and returns a
// connection to it, closed when the test ends, and that migration.
func sqliteAsOlder(t *testing.T, file string) (*sql.DB, string) {
	t.Helper()
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var last string
	if err := db.QueryRow(`SELECT max(name) FROM schema_migrations`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE name = ?`, last); err != nil {
		t.Fatal(err)
	}
	return db, last
}

// sqliteApplied reports whether the store db connects to applied the
// migration name.
func sqliteApplied(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestJSONOutputNotHTMLEscaped: the --json outputs (nodes, bench,
// validate) and chat's values print & < > as they are: Go's
// encoding/json escaped them (\u0026), so that nodes --json wrote a
// database URL's & as \u0026.
func TestJSONOutputNotHTMLEscaped(t *testing.T) {
	var b strings.Builder
	url := "postgres://wx@db:5432/wxflow?sslmode=require&application_name=wx"
	if err := writeJSON(&b, console.NodesView{Store: "postgres", Database: url}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"database": "`+url+`"`) || strings.Contains(b.String(), `\u0026`) {
		t.Errorf("writeJSON escapes the URL:\n%s", b.String())
	}
	if got, want := formatValues(map[string]any{"v": []any{"a&b", "<c>"}}), `v=["a&b","<c>"]`; got != want {
		t.Errorf("formatValues: %s, want %s", got, want)
	}
}
