package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
)

// migrationNames returns the names in schema_migrations, in order.
func migrationNames(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestReadOnlyOpenMigratesNothing: a store opened read-only (wxflow plan,
// export-test, nodes) applies no migration: it refuses a database wxflow
// never migrated (and creates nothing there) and one a newer wxflow
// migrated, reads one an older wxflow migrated as it is (Behind names
// what it lacks, and it still lacks it), and neither writes nor joins.
func TestReadOnlyOpenMigratesNothing(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ro := postgres.Options{ReadOnly: true, ReadConns: 1}

	if s, err := postgres.Open(ctx, dsn, ro); err == nil {
		s.Close()
		t.Fatal("a read-only Open of a database wxflow never migrated succeeded")
	} else if !strings.Contains(err.Error(), "no wxflow store in this database") {
		t.Errorf("Open = %v; want it to say there is no store", err)
	}
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("a read-only Open created %d tables", tables)
	}

	open(t, dsn).Close()
	all := migrationNames(t, conn)
	s, err := postgres.Open(ctx, dsn, ro)
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Behind(); b != nil {
		t.Errorf("Behind = %v on a database migrated by this wxflow, want none", b)
	}
	if err := s.Update(ctx, func(engine.Tx) error { return nil }); !errors.Is(err, postgres.ErrReadOnly) {
		t.Errorf("Update = %v; want ErrReadOnly", err)
	}
	if err := s.Join(ctx); !errors.Is(err, postgres.ErrReadOnly) {
		t.Errorf("Join = %v; want ErrReadOnly", err)
	}
	if err := s.View(ctx, func(tx engine.ReadTx) error {
		_, err := tx.Counts()
		return err
	}); err != nil {
		t.Errorf("View: %v", err)
	}
	s.Close()

	// As an older wxflow left it: its last migration not applied.
	last := all[len(all)-1]
	if _, err := conn.Exec(ctx, `DELETE FROM schema_migrations WHERE name = $1`, last); err != nil {
		t.Fatal(err)
	}
	s, err = postgres.Open(ctx, dsn, ro)
	if err != nil {
		t.Fatalf("a read-only Open of a database an older wxflow migrated: %v", err)
	}
	if b := s.Behind(); !slices.Equal(b, []string{last}) {
		t.Errorf("Behind = %v, want [%s]", b, last)
	}
	s.Close()
	if got := migrationNames(t, conn); slices.Contains(got, last) {
		t.Errorf("a read-only Open applied %s", last)
	}

	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, 0), ('999_from_the_future.sql', 0)`, last); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(ctx, dsn, ro); err == nil {
		s.Close()
		t.Fatal("a read-only Open of a database a newer wxflow migrated succeeded")
	} else if !errors.Is(err, postgres.ErrNewerSchema) || !strings.Contains(err.Error(), "999_from_the_future.sql") {
		t.Errorf("Open = %v; want ErrNewerSchema naming the migration", err)
	}
}

// TestNodesReport: what `wxflow nodes` reads: each node with its lease,
// lanes, queued items and claimed messages; lanes no node holds, and the
// lanes of a node whose lease ended, count as unheld.
func TestNodesReport(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	clock := newLeaseClock()
	a := openNode(t, dsn, "a", clock)
	balance(t, a)
	b := openNode(t, dsn, "b", clock)
	balance(t, b)
	var give []int
	for l := engine.LaneCount / 2; l < engine.LaneCount; l++ {
		give = append(give, l)
	}
	if err := a.Release(ctx, give); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, b); len(got.Lanes) != engine.LaneCount/2 {
		t.Fatalf("b took %d lanes, want %d", len(got.Lanes), engine.LaneCount/2)
	}
	ro, err := postgres.Open(ctx, dsn, postgres.Options{ReadOnly: true, ReadConns: 1, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	n, err := ro.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Nodes) != 2 || n.Nodes[0].Name != "a" || n.Nodes[1].Name != "b" {
		t.Fatalf("nodes %+v, want a and b", n.Nodes)
	}
	for _, node := range n.Nodes {
		if !node.Live || node.Lanes != engine.LaneCount/2 || node.Queued != 0 || node.Claimed != 0 || !strings.HasPrefix(node.ID, node.Name+"/") {
			t.Errorf("node %+v, want live with %d lanes, nothing queued or claimed", node, engine.LaneCount/2)
		}
	}
	if n.Free != 0 || n.Unheld() != 0 || n.Lanes != engine.LaneCount || !n.At.Equal(clock.now()) {
		t.Errorf("free %d, unheld %d, lanes %d, at %v; want 0, 0, %d, the lease clock", n.Free, n.Unheld(), n.Lanes, n.At, engine.LaneCount)
	}
	idA, idB := n.Nodes[0].ID, n.Nodes[1].ID

	// Two items queued in a lane of a's, one in a lane no node holds;
	// three messages claimed by b, of which one finished.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE lanes SET owner = '' WHERE lane = 0`)
	exec(`INSERT INTO queue (lane, kind, item, queued_at) VALUES (1, 'event', '{}', 0), (2, 'event', '{}', 0), (0, 'event', '{}', 0)`)
	exec(`INSERT INTO outbox (id, run_id, account, contact, message, status, reason, code, detail, created_at, updated_at, lane, claimed_by)
		VALUES (1001, 1, 'main', 'c', '{}', 'pending', '', 0, '', 0, 0, 200, $1), (1002, 1, 'main', 'c', '{}', 'sending', '', 0, '', 0, 0, 200, $1),
			(1003, 1, 'main', 'c', '{}', 'sent', '', 0, '', 0, 0, 200, $1), (1004, 1, 'main', 'c', '{}', 'pending', '', 0, '', 0, 0, 200, '')`, idB)
	// b's lease ends without a renewal; a renews its own.
	clock.add(a.Lease() / 2)
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	clock.add(a.Lease()/2 + time.Second)
	if n, err = ro.Nodes(ctx); err != nil {
		t.Fatal(err)
	}
	want := []postgres.NodeInfo{
		{ID: idA, Name: "a", Live: true, Lanes: engine.LaneCount/2 - 1, Queued: 2},
		{ID: idB, Name: "b", Live: false, Lanes: engine.LaneCount / 2, Claimed: 2},
	}
	for i, node := range n.Nodes {
		node.Joined, node.Expires = time.Time{}, time.Time{}
		if i >= len(want) || node != want[i] {
			t.Errorf("node %d: %+v, want %+v", i, node, want[min(i, len(want)-1)])
		}
	}
	if n.Free != 1 || n.FreeQueued != 1 || n.Unheld() != 1+engine.LaneCount/2 {
		t.Errorf("free %d (queued %d), unheld %d; want 1 (1), %d", n.Free, n.FreeQueued, n.Unheld(), 1+engine.LaneCount/2)
	}
	if !n.Nodes[1].Expires.Before(n.At) || !n.Nodes[0].Expires.After(n.At) {
		t.Errorf("leases end at %v and %v, read at %v: want a's after, b's before", n.Nodes[0].Expires, n.Nodes[1].Expires, n.At)
	}
}

// TestRenewSeesANewerSchema: a node's renewal says when a newer wxflow
// migrated the database since it joined (ErrNewerSchema, naming the
// migration), renewing the lease all the same: the node stops, and its
// lanes move when the lease ends.
func TestRenewSeesANewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	clock := newLeaseClock()
	a := openNode(t, dsn, "a", clock)
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ('999_b.sql', 0), ('998_a.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Second)
	err = a.Renew(ctx)
	if !errors.Is(err, engine.ErrNewerSchema) || !strings.Contains(err.Error(), "998_a.sql, 999_b.sql") {
		t.Fatalf("Renew = %v; want ErrNewerSchema naming the migrations", err)
	}
	var expires int64
	if err := conn.QueryRow(ctx, `SELECT expires FROM nodes WHERE name = 'a'`).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	if want := clock.now().Add(a.Lease()); expires != want.UnixNano() {
		t.Errorf("the lease ends at %v, want %v (renewed)", time.Unix(0, expires).UTC(), want)
	}
	clock.add(2 * a.Lease())
	if err := a.Renew(ctx); !errors.Is(err, engine.ErrFenced) {
		t.Errorf("Renew after the lease ended = %v, want ErrFenced", err)
	}
}

// TestKeepSchemaOpen: a store opened for the admin commands
// (KeepSchema) migrates a database without a store, uses one an older
// wxflow migrated as it is (writing to it), and refuses a newer one's.
func TestKeepSchemaOpen(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	keep := postgres.Options{KeepSchema: true, ReadConns: 1}
	s, err := postgres.Open(ctx, dsn, keep)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	all := migrationNames(t, conn)
	if len(all) == 0 {
		t.Fatal("KeepSchema on a database without a store made none")
	}
	last := all[len(all)-1]
	if _, err := conn.Exec(ctx, `DELETE FROM schema_migrations WHERE name = $1`, last); err != nil {
		t.Fatal(err)
	}
	s, err = postgres.Open(ctx, dsn, keep)
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Behind(); !slices.Equal(b, []string{last}) {
		t.Errorf("Behind = %v, want [%s]", b, last)
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if err := s.Update(ctx, func(tx engine.Tx) error { return tx.PutChannelState("k", "v", now.Add(time.Hour), now) }); err != nil {
		t.Errorf("a write with KeepSchema: %v", err)
	}
	s.Close()
	if slices.Contains(migrationNames(t, conn), last) {
		t.Errorf("KeepSchema applied %s", last)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ('999_from_the_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(ctx, dsn, keep); !errors.Is(err, postgres.ErrNewerSchema) {
		if err == nil {
			s.Close()
		}
		t.Errorf("KeepSchema on a newer schema: %v, want ErrNewerSchema", err)
	}
}

// TestConnectionsNameTheirNode: a node's connections (writer, reads,
// lease, listener) say in pg_stat_activity that they are wxflow's and
// whose; a read-only store's say so; a URL's application_name wins.
func TestConnectionsNameTheirNode(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("appname-%d", time.Now().UnixNano())
	named := func(app string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	s, err := postgres.Open(ctx, dsn, postgres.Options{ReadConns: 1, NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(engine.ReadTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// The writer's connection, the lease's pool and its renewal's.
	if n := named("wxflow " + name); n < 3 {
		t.Errorf("%d connections named %q, want the node's (at least 3)", n, "wxflow "+name)
	}

	ro, err := postgres.Open(ctx, dsn, postgres.Options{ReadOnly: true, ReadConns: 1, NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n := named("wxflow read-only " + name); n < 1 {
		t.Errorf("no connection named %q", "wxflow read-only "+name)
	}

	mine := name + "-mine"
	own, err := postgres.Open(ctx, dsn+"&application_name="+mine, postgres.Options{ReadConns: 1, NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if n := named(mine); n < 1 {
		t.Errorf("no connection named %q, the URL's application_name", mine)
	}
}
