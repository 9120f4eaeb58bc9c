package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// copyFlows welcome followers, ask a survey that waits for its answer
// (30 days), and hand a conversation to amy.
var copyFlows = map[string]string{
	"welcome.yaml": "name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Welcome!\"\n",
	"survey.yaml":  "name: survey\ntriggers:\n  - keyword: [survey]\nsteps:\n  - ask: \"How did we do?\"\n    timeout: 30d\n  - send: \"Thanks: ${answer}\"\n",
	"help.yaml":    "name: help\ntriggers:\n  - keyword: [help]\nsteps:\n  - assign: amy\n",
}

// storeDump is what a store holds, read through the engine's interface,
// to compare two stores.
type storeDump struct {
	Counts   map[string]int
	Contacts []*engine.Contact
	Runs     []*engine.Run
	Outbox   []*engine.OutboxEntry
	Next     time.Time
	Notes    []*engine.ConvNote
}

// dumpStore reads a store.
func dumpStore(t *testing.T, st engine.Store, contacts []string) storeDump {
	t.Helper()
	var d storeDump
	err := st.View(context.Background(), func(tx engine.ReadTx) error {
		var err error
		if d.Counts, err = tx.Counts(); err != nil {
			return err
		}
		if d.Contacts, err = tx.Contacts("", "", "", 1000); err != nil {
			return err
		}
		if d.Runs, err = tx.Runs(engine.RunFilter{Limit: 1000}); err != nil {
			return err
		}
		if d.Outbox, err = tx.Outbox(engine.OutboxFilter{}); err != nil {
			return err
		}
		if next, ok, err := tx.NextTimer(); err != nil {
			return err
		} else if ok {
			d.Next = next
		}
		for _, c := range contacts {
			notes, err := tx.(engine.ConversationStore).ConvNotes("main", c, 0, 100)
			if err != nil {
				return err
			}
			d.Notes = append(d.Notes, notes...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCopyStoreToPostgres: a SQLite store that served followers (welcomes
// sent, a survey waiting for its answer, a conversation handed to amy
// with her comment and her image reply, her login) is copied into an
// empty PostgreSQL database: the stores read the same, and a serve on
// PostgreSQL goes on where the SQLite one stopped (the survey takes its
// answer, amy's login and image work, new ids follow the copied ones).
// A second copy into the same database is refused and changes nothing.
func TestCopyStoreToPostgres(t *testing.T) {
	const amyToken = "amy-login-token-0123456789"
	t.Setenv("WXFLOW_LOGIN_AMY", amyToken)
	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp("wx0123456789abcdef", "conv-secret-0123456789")
	account := "    api_base: " + api.URL() + "\n"
	db := filepath.Join(t.TempDir(), "wxflow.db")
	s, stop := serveUntil(t, loadNodeConfig(t, nodeConfig(t, db, copyFlows, account, loginOperators)))
	now := time.Now().Unix()
	for i := range 5 {
		nodeCallback(t, s, followXML(fmt.Sprint("u", i), now))
	}
	nodeCallback(t, s, textXML("u1", now, 1, "survey"))
	nodeCallback(t, s, textXML("u2", now, 2, "help"))
	waitAPISent(t, api, 6)
	conv := s.ConsoleURL() + "api/conversations/main/u2/"
	if status, body := postJSON(t, conv+"comment", amyToken, `{"text":"a VIP"}`); status != 201 {
		t.Fatalf("amy's comment: %d %s", status, body)
	}
	pic := testPNG(t)
	if status, body := postImage(t, conv+"reply", amyToken, "receipt.png", pic); status != 201 {
		t.Fatalf("amy's image: %d %s", status, body)
	}
	waitAPISent(t, api, 7)
	cookie := consoleLogin(t, s.ConsoleURL(), amyToken)
	if err := s.engine.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop()

	database := pgDatabase(t)
	r := runCLI(t, "copy-store", "--from", db, "--to", database)
	if r.code != exitOK || !strings.Contains(r.stdout, "copied "+db) || !strings.Contains(r.stdout, "contacts") {
		t.Fatalf("copy-store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	contacts := []string{"u0", "u1", "u2", "u3", "u4"}
	open := func() (engine.Store, engine.Store) {
		t.Helper()
		ctx := context.Background()
		a, err := sqlite.Open(ctx, db, sqlite.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := postgres.Open(ctx, database, postgres.Options{ReadOnly: true, ReadConns: 1})
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		return a, b
	}
	a, b := open()
	from, copied := dumpStore(t, a, contacts), dumpStore(t, b, contacts)
	a.Close()
	b.Close()
	if len(from.Contacts) != 5 || len(from.Runs) != 7 || len(from.Outbox) != 7 || len(from.Notes) == 0 || from.Next.IsZero() {
		t.Fatalf("the SQLite store holds %d contacts, %d runs, %d messages, %d notes, next timer %v: not what the test made",
			len(from.Contacts), len(from.Runs), len(from.Outbox), len(from.Notes), from.Next)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"table counts", copied.Counts, from.Counts}, {"contacts", copied.Contacts, from.Contacts}, {"runs", copied.Runs, from.Runs},
		{"messages", copied.Outbox, from.Outbox}, {"next timer", copied.Next, from.Next}, {"conversation notes", copied.Notes, from.Notes},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("the copy's %s differ:\n got %+v\nwant %+v", c.what, c.got, c.want)
		}
	}

	// What the PostgreSQL store keeps beside the engine's view: each
	// message's and timer's lane, each contact's place in the inbox.
	conn := pgConn(t, database)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT account, contact, lane FROM outbox UNION ALL SELECT account, contact, lane FROM timers`)
	if err != nil {
		t.Fatal(err)
	}
	lanes := 0
	for rows.Next() {
		var acct, contact string
		var lane int32
		if err := rows.Scan(&acct, &contact, &lane); err != nil {
			t.Fatal(err)
		}
		if int(lane) != engine.LaneOf(acct, contact) {
			t.Errorf("a row of %s/%s is in lane %d, want %d", acct, contact, lane, engine.LaneOf(acct, contact))
		}
		lanes++
	}
	if rows.Err() != nil || lanes != 8 {
		t.Errorf("%d rows with a lane (%v), want the 7 messages and the survey's timer", lanes, rows.Err())
	}
	var wrong, opened int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE conv_seen <> CASE WHEN conv_status = '' THEN 0 ELSE last_seen END),
		count(*) FILTER (WHERE conv_seen <> 0) FROM contacts`).Scan(&wrong, &opened); err != nil || wrong != 0 || opened == 0 {
		t.Errorf("conv_seen: %d contacts wrong, %d open (%v), want 0 and some", wrong, opened, err)
	}

	// A second copy into the same database is refused.
	r = runCLI(t, "copy-store", "--from", db, "--to", database)
	if r.code != exitProblems || !strings.Contains(r.stderr, "not empty") || !strings.Contains(r.stderr, "nothing was copied") {
		t.Fatalf("a copy into a database with data: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	a, b = open()
	if again := dumpStore(t, b, contacts); !reflect.DeepEqual(again.Counts, from.Counts) {
		t.Errorf("the refused copy changed the database: %v, was %v", again.Counts, from.Counts)
	}
	a.Close()
	b.Close()

	// A serve on PostgreSQL goes on where the SQLite one stopped.
	p, _ := serveUntil(t, loadNodeConfig(t, nodeConfig(t, database, copyFlows, account, loginOperators)))
	waitBalanced(t, []*server{p})
	nodeCallback(t, p, textXML("u1", time.Now().Unix(), 3, "great"))
	nodeCallback(t, p, followXML("u9", time.Now().Unix()))
	sent := waitAPISent(t, api, 9)
	var texts []string
	for _, m := range sent[7:] {
		texts = append(texts, sentText(t, m))
	}
	if strings.Join(texts, "|") != "Thanks: great|Welcome!" && strings.Join(texts, "|") != "Welcome!|Thanks: great" {
		t.Errorf("after the copy WeChat got %q, want the survey's thanks and a welcome", texts)
	}
	if who := whoIs(t, p.ConsoleURL(), cookie); who != "amy" {
		t.Errorf("amy's login from the SQLite server acts as %q on PostgreSQL", who)
	}
	var image, newest int64
	for _, o := range from.Outbox {
		if o.Message.Media != nil && o.Message.Media.Upload != "" {
			image = o.ID
		}
		newest = max(newest, o.ID)
	}
	if status, got := get(t, fmt.Sprintf("%smessages/%d/media", p.ConsoleURL(), image), pgAdminToken); status != 200 || got != string(pic) {
		t.Errorf("amy's image on PostgreSQL: %d, %d bytes", status, len(got))
	}
	after := dumpStore(t, p.store, nil)
	for _, o := range after.Outbox {
		if o.Contact == "u9" && o.ID <= newest {
			t.Errorf("the new welcome's id %d is not after the copied ones (up to %d)", o.ID, newest)
		}
	}
}

// waitAPISent waits until the fake API took n messages and returns them.
func waitAPISent(t *testing.T, api *wechattest.Server, n int) []wechattest.Sent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := api.WaitSent(ctx, n); err != nil {
		t.Fatalf("waiting for %d messages at the fake API (got %d): %v", n, api.SentCount(), err)
	}
	return api.Sent()
}

// TestCopyStoreAsNodeRole: copied as a role that does not own the
// tables (the node role of docs/scaling.md), the copy is committed and
// copy-store says that the tables were not analyzed and what to do:
// PostgreSQL skipped them with a notice, and copy-store said nothing.
func TestCopyStoreAsNodeRole(t *testing.T) {
	owner, schema := pgtest.Schema(t, "wxcopyrole_")
	node := pgtest.AsNodeRole(t, owner)
	db := filepath.Join(t.TempDir(), "wxflow.db")
	for _, target := range []string{db, owner} {
		if r := runCLI(t, "migrate", "--database", target); r.code != exitOK {
			t.Fatalf("migrate: %d\n%s", r.code, r.stderr)
		}
	}
	pgtest.Grant(t, owner, `GRANT USAGE ON SCHEMA `+schema+` TO `+pgtest.NodeRole,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+schema+` TO `+pgtest.NodeRole,
		`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA `+schema+` TO `+pgtest.NodeRole)
	r := runCLI(t, "copy-store", "--from", db, "--to", node)
	if r.code != exitOK || !strings.Contains(r.stderr, "the copy is committed, but ANALYZE after it failed (the role may not analyze ") ||
		!strings.Contains(r.stderr, "run ANALYZE as their owner") || strings.Contains(r.stdout+r.stderr, "ci-only-secret") {
		t.Fatalf("copy-store as the node role: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCopyStoreOfAnOlderStoreSaysToMigrate: copy-store of a store an
// older wxflow migrated says to run wxflow migrate on it first, and
// doing just that makes the copy go through. It said to start wxflow
// serve on it, which sends its pending messages and fires its timers
// on the SQLite store the operator is moving away from.
func TestCopyStoreOfAnOlderStoreSaysToMigrate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "wxflow.db")
	if r := runCLI(t, "migrate", "--database", db); r.code != exitOK {
		t.Fatalf("migrate: %d\n%s", r.code, r.stderr)
	}
	undoLastMigration(t, db)
	database := pgDatabase(t)
	r := runCLI(t, "copy-store", "--from", db, "--to", database)
	if r.code != exitProblems || !strings.Contains(r.stderr, "older wxflow") || !strings.Contains(r.stderr, "first with wxflow migrate") {
		t.Fatalf("copy-store of an older store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "migrate", "--database", db); r.code != exitOK {
		t.Fatalf("migrate, as copy-store said: %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, "copy-store", "--from", db, "--to", database); r.code != exitOK {
		t.Fatalf("copy-store after wxflow migrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// undoLastMigration makes the SQLite store db one an older wxflow
// migrated: its last migration undone (it adds the uploads table).
func undoLastMigration(t *testing.T, db string) {
	t.Helper()
	conn, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`DROP TABLE uploads; DELETE FROM schema_migrations WHERE name = ?`, sqlite.Schema()+".sql"); err != nil {
		t.Fatal(err)
	}
}
