package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// renewClock is the clock a test's leases are measured with
// (postgres.Options.Now): moved by hand, so that a lease expires when
// the test says, not when the machine is slow.
type renewClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *renewClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *renewClock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// renewFixture is a node's engine on PostgreSQL, with a lease of a second
// measured by a clock the test moves, and a connection to its schema.
type renewFixture struct {
	t      *testing.T
	clock  *renewClock
	conn   *pgx.Conn
	dsn    string
	fenced chan struct{}
}

func newRenewFixture(t *testing.T, prefix string) *renewFixture {
	dsn, schema := pgtest.Schema(t, prefix)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `SET search_path TO `+schema); err != nil {
		t.Fatal(err)
	}
	return &renewFixture{t: t, clock: &renewClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}, conn: conn, dsn: dsn, fenced: make(chan struct{})}
}

// open opens the node's store (not joined).
func (f *renewFixture) open(name string) *postgres.Store {
	st, err := postgres.Open(context.Background(), f.dsn, postgres.Options{ReadConns: 2, NodeName: name, Lease: time.Second, Now: f.clock.now})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	return st
}

// start starts an engine on store (a Node), closing f.fenced when it is
// fenced.
func (f *renewFixture) start(store engine.Store, ch channels.Channel) *engine.Engine {
	var once sync.Once
	e, err := engine.New(engine.Config{Store: store, Channel: ch, Zone: time.UTC,
		OnFenced: func() { once.Do(func() { close(f.fenced) }) }})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return e
}

// takeOver moves the lease clock past a node's lease (1 s), and has a
// node named name join and take every lane.
func (f *renewFixture) takeOver(name string) {
	f.t.Helper()
	ctx := context.Background()
	f.clock.add(1500 * time.Millisecond)
	b := f.open(name)
	if err := b.Join(ctx); err != nil {
		f.t.Fatal(err)
	}
	if got, err := b.Balance(ctx); err != nil || len(got.Lanes) != engine.LaneCount {
		f.t.Fatalf("%s took %d lanes (%v), want all %d", name, len(got.Lanes), err, engine.LaneCount)
	}
}

// expires returns the lease's end of node (a name) on the test clock, and
// whether its row is there.
func (f *renewFixture) expires(name string) (time.Time, bool) {
	var ns int64
	err := f.conn.QueryRow(context.Background(), `SELECT expires FROM nodes WHERE name = $1`, name).Scan(&ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return time.Unix(0, ns).UTC(), true
}

// outlive moves the lease clock by steps of 0.6 of the lease, n times,
// and after each step waits for the node's lease to be renewed from the
// new time on, as a live node's is (in real time: the renewals'). Two
// steps without a renewal are past the lease.
func (f *renewFixture) outlive(name string, n int) {
	f.t.Helper()
	for i := 0; i < n; i++ {
		now := f.clock.add(600 * time.Millisecond)
		deadline := time.NewTimer(10 * time.Second)
		poll := time.NewTicker(10 * time.Millisecond)
		for renewed := false; !renewed; {
			select {
			case <-f.fenced:
				f.t.Fatalf("step %d: the node was fenced", i)
			case <-deadline.C:
				exp, ok := f.expires(name)
				f.t.Fatalf("step %d: the lease was not renewed from %s on (it ends at %s, row there: %v)", i, now.Format(time.StampMilli), exp.Format(time.StampMilli), ok)
			case <-poll.C:
				exp, ok := f.expires(name)
				renewed = ok && !exp.Before(now.Add(time.Second))
			}
		}
		deadline.Stop()
		poll.Stop()
	}
}

// stuckNode is a PostgreSQL node whose Balance waits while stuck is set,
// until release is closed: the lane loop is held in a round.
type stuckNode struct {
	*postgres.Store
	stuck   atomic.Bool
	entered chan struct{}
	enter   sync.Once
	release chan struct{}
	free    sync.Once
}

func (s *stuckNode) Balance(ctx context.Context) (engine.Taken, error) {
	if s.stuck.Load() {
		s.enter.Do(func() { close(s.entered) })
		<-s.release
	}
	return s.Store.Balance(ctx)
}

func (s *stuckNode) unstick() { s.free.Do(func() { close(s.release) }) }

// TestLeaseRenewedWhileBalancingIsStuck: a round of lane balancing that
// takes several leases (a slow transaction, a starved machine) must not
// let the node's lease lapse: the node is alive, and fencing it stops it
// for nothing. The lease was renewed by the balancing round itself, and
// a node whose round was held past its lease was fenced and exited (seen
// under CPU starvation with three nodes on a 2-core machine).
func TestLeaseRenewedWhileBalancingIsStuck(t *testing.T) {
	f := newRenewFixture(t, "wxrenew_")
	node := &stuckNode{Store: f.open("n"), entered: make(chan struct{}), release: make(chan struct{})}
	ch := sim.New(nil, wechat.Settings{})
	e := f.start(node, ch)
	defer e.Stop()
	defer node.unstick()

	node.stuck.Store(true)
	select {
	case <-node.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the lane loop did not start a round")
	}
	// Four leases go by while the round is held.
	f.outlive("n", 7)
	node.unstick()
	// The node still commits: its write transactions' fence passes.
	err := e.Ingest(context.Background(), channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: f.clock.now()})
	if err != nil {
		t.Fatalf("an event after the held round: %v", err)
	}
	select {
	case <-f.fenced:
		t.Fatal("the node was fenced")
	default:
	}
}

// TestLeaseRenewedWhileTakingLanesWaitsForTheWriter: taking a dead
// node's lanes starts their work in a writer's job, which waits for the
// writer's queue (seconds on a starved machine); the lease must be
// renewed meanwhile. The lane loop renewed it, and waited for the job.
func TestLeaseRenewedWhileTakingLanesWaitsForTheWriter(t *testing.T) {
	f := newRenewFixture(t, "wxrenewtake_")
	ctx := context.Background()
	raw := f.open("raw") // migrates the schema
	_ = raw
	lane := engine.LaneOf("main", "carol")
	// A ghost node holds carol's lane for half a second more.
	if _, err := f.conn.Exec(ctx, `INSERT INTO nodes (id, name, joined, expires) VALUES ('ghost', 'ghost', 0, $1)`,
		f.clock.now().Add(500*time.Millisecond).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.conn.Exec(ctx, `UPDATE lanes SET owner = 'ghost' WHERE lane = $1`, lane); err != nil {
		t.Fatal(err)
	}
	g := &gatedNode{Store: f.open("n"), entered: make(chan struct{}), release: make(chan struct{}), lane: lane, took: make(chan struct{})}
	ch := sim.New(nil, wechat.Settings{})
	e := f.start(g, ch)
	defer e.Stop()
	var once sync.Once
	release := func() { once.Do(func() { g.hold.Store(false); close(g.release) }) }
	defer release()

	// The writer is held in a batch.
	g.hold.Store(true)
	other := make(chan error, 1)
	go func() {
		other <- e.Ingest(ctx, channels.Event{Account: "main", Contact: "dave", Kind: channels.Follow, At: f.clock.now()})
	}()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not start a transaction")
	}
	// The ghost's lease ends; the node takes its lane, and starts its
	// work in a job that waits for the writer.
	f.outlive("n", 1)
	select {
	case <-g.took:
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not take the ghost's lane")
	}
	f.outlive("n", 7)
	release()
	if err := <-other; err != nil {
		t.Fatalf("the held batch: %v", err)
	}
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: "carol", Kind: channels.Follow, At: f.clock.now()}); err != nil {
		t.Fatalf("an event of the taken lane: %v", err)
	}
	select {
	case <-f.fenced:
		t.Fatal("the node was fenced")
	default:
	}
}

// pausedNode is a PostgreSQL node that does nothing of its lease while
// paused is set (as a process stopped with SIGSTOP), until resume is
// closed.
type pausedNode struct {
	*postgres.Store
	paused  atomic.Bool
	resume  chan struct{}
	renewed atomic.Int64
}

func (p *pausedNode) wait() {
	if p.paused.Load() {
		<-p.resume
	}
}

func (p *pausedNode) Renew(ctx context.Context) error {
	p.wait()
	err := p.Store.Renew(ctx)
	if err == nil {
		p.renewed.Add(1)
	}
	return err
}

func (p *pausedNode) Balance(ctx context.Context) (engine.Taken, error) {
	p.wait()
	return p.Store.Balance(ctx)
}

// TestNodePausedPastItsLeaseIsFenced: renewing apart keeps fencing's
// safety. A node paused past its lease, whose lanes another node took,
// commits nothing more and is fenced when it resumes: its renewal is
// refused by the server. (A guard: this held before the renewal had a
// goroutine of its own, and must still.)
func TestNodePausedPastItsLeaseIsFenced(t *testing.T) {
	f := newRenewFixture(t, "wxrenewpause_")
	ctx := context.Background()
	node := &pausedNode{Store: f.open("a"), resume: make(chan struct{})}
	ch := sim.New(nil, wechat.Settings{})
	e := f.start(node, ch)
	defer e.Stop()
	var once sync.Once
	resume := func() { once.Do(func() { close(node.resume) }) }
	defer resume()

	node.paused.Store(true)
	f.takeOver("b")
	renewals := node.renewed.Load()
	resume()
	select {
	case <-f.fenced:
	case <-time.After(10 * time.Second):
		t.Fatal("the node paused past its lease was not fenced")
	}
	if n := node.renewed.Load(); n != renewals {
		t.Fatalf("the paused node renewed its lease %d times after its resume", n-renewals)
	}
	// It commits nothing more.
	err := e.Ingest(ctx, channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: f.clock.now()})
	if !errors.Is(err, engine.ErrFenced) {
		t.Fatalf("a write of the fenced node: %v, want ErrFenced", err)
	}
}

// TestNodeStopsWhenANewerWxflowMigrates: a newer wxflow that starts on the
// database migrates it under the running nodes (a rolling upgrade); a
// node of the older version stops at its next renewal, committing and
// sending nothing more, and says why (serve exits for its supervisor to
// start the new version).
func TestNodeStopsWhenANewerWxflowMigrates(t *testing.T) {
	f := newRenewFixture(t, "wxrenewschema_")
	ctx := context.Background()
	ch := sim.New(nil, wechat.Settings{})
	e := f.start(f.open("n"), ch)
	defer e.Stop()
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: f.clock.now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.Fenced(); err != nil {
		t.Fatalf("Fenced = %v while the node runs", err)
	}
	if _, err := f.conn.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ('999_from_a_newer_wxflow.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.fenced:
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not stop within 10 s of a newer migration (its renewals run every 200 ms)")
	}
	why := e.Fenced()
	if !errors.Is(why, engine.ErrNewerSchema) || !strings.Contains(why.Error(), "999_from_a_newer_wxflow.sql") {
		t.Errorf("Fenced = %v; want ErrNewerSchema naming the migration", why)
	}
	var events int
	if err := f.conn.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	err := e.Ingest(ctx, channels.Event{Account: "main", Contact: "bob", Kind: channels.Follow, At: f.clock.now()})
	if !errors.Is(err, engine.ErrNewerSchema) {
		t.Errorf("an event after the stop: %v, want the stop's reason", err)
	}
	var after int
	if err := f.conn.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != events {
		t.Errorf("%d events stored after the node stopped", after-events)
	}
}

// failingNode is a PostgreSQL node whose lease renewals fail while fail
// is set (a connection lost), without reaching the database.
type failingNode struct {
	*postgres.Store
	fail atomic.Bool
}

func (n *failingNode) Renew(ctx context.Context) error {
	if n.fail.Load() {
		return errors.New("renew: connection reset by peer")
	}
	return n.Store.Renew(ctx)
}

// TestLeaseStats: a node's Stats count its lease's renewals and failed
// attempts, and say how long the lease is known to hold; while renewals
// fail, that runs down past 0 (the node then sends nothing), and comes
// back with the next renewal. A store of one process has no lease.
func TestLeaseStats(t *testing.T) {
	f := newRenewFixture(t, "wxrenewstats_")
	node := &failingNode{Store: f.open("a")}
	e := f.start(node, sim.New(nil, wechat.Settings{}))
	defer e.Stop()
	until := func(what string, ok func(engine.Stats) bool) engine.Stats {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := e.Stats()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s (renewals %d, failed %d, left %v)", what, s.LeaseRenewals, s.LeaseRenewFailures, s.LeaseLeft)
			}
			time.Sleep(10 * time.Millisecond) // polls the renewals, which run in real time
		}
	}
	s := until("two renewals", func(s engine.Stats) bool { return s.LeaseRenewals >= 2 })
	if !s.Node || s.LeaseRenewFailures != 0 || len(s.LeaseLeft) != 1 || s.LeaseLeft[0] <= 0 || s.LeaseLeft[0] > time.Second {
		t.Fatalf("a renewing node: node %v, failed %d, left %v; want a node, no failure, a lease of at most 1 s left", s.Node, s.LeaseRenewFailures, s.LeaseLeft)
	}

	node.fail.Store(true)
	renewed := until("failed renewals run the lease down", func(s engine.Stats) bool { return s.LeaseRenewFailures >= 2 && s.LeaseLeft[0] < 0 }).LeaseRenewals
	node.fail.Store(false)
	s = until("a renewal again", func(s engine.Stats) bool { return s.LeaseRenewals > renewed })
	if s.LeaseLeft[0] <= 0 {
		t.Fatalf("after a renewal the lease is known to hold %v, want more than 0", s.LeaseLeft[0])
	}
	select {
	case <-f.fenced:
		t.Fatal("the node was fenced: its lease never ended in the database")
	default:
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "one.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	one, err := engine.New(engine.Config{Store: st, Channel: sim.New(nil, wechat.Settings{}), Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer one.Stop()
	if s := one.Stats(); s.Node || s.LeaseLeft != nil || s.LeaseRenewals != 0 {
		t.Errorf("an engine on SQLite: node %v, left %v, renewals %d; want no lease", s.Node, s.LeaseLeft, s.LeaseRenewals)
	}
}

// nodeStore opens a store of dsn for a node (or writer) named name,
// closed at the test's end.
func nodeStore(t *testing.T, dsn, name string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{ReadConns: 1, NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestChangesReachTheOtherNodes: a change one node commits (a contact
// that follows) wakes the watchers of Changed on another node, whose
// console's live pages would otherwise miss every contact of the other
// nodes' lanes.
func TestChangesReachTheOtherNodes(t *testing.T) {
	dsn, _ := pgtest.Schema(t, "wxfeed_")
	ctx := context.Background()
	start := func(name string) *engine.Engine {
		e, err := engine.New(engine.Config{Store: nodeStore(t, dsn, name), Channel: sim.New(nil, wechat.Settings{}), Zone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Stop)
		return e
	}
	a, b := start("a"), start("b")
	deadline := time.Now().Add(20 * time.Second)
	for la, lb := a.Stats().Lanes, b.Stats().Lanes; la == 0 || lb == 0 || la+lb != engine.LaneCount; la, lb = a.Stats().Lanes, b.Stats().Lanes {
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not share the lanes within 20 s: %d and %d", la, lb)
		}
		time.Sleep(20 * time.Millisecond) // polls the lanes' balancing, in real time
	}
	var contact string
	for i := 0; contact == ""; i++ {
		if c := fmt.Sprint("feed-", i); b.Owns("main", c) {
			contact = c
		}
	}
	changed := a.Changed()
	if err := b.Ingest(ctx, channels.Event{Account: "main", Contact: contact, Kind: channels.Follow, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("a follow on node b did not wake node a's watchers within 10 s")
	}
	if a.Owns("main", contact) {
		t.Fatalf("the lane of %s moved to a meanwhile: the test proves nothing", contact)
	}
}

// TestFencedNodeSaysWhy: a node whose renewals failed until another node
// took its lanes says, as it stops, what the renewals' last error was: a
// database that stopped taking writes (a standby after a failover) would
// otherwise read as a node paused or cut off.
func TestFencedNodeSaysWhy(t *testing.T) {
	f := newRenewFixture(t, "wxrenewwhy_")
	ctx := context.Background()
	node := &failingNode{Store: f.open("a")}
	logs := &lockedBuffer{}
	var once sync.Once
	e, err := engine.New(engine.Config{Store: node, Channel: sim.New(nil, wechat.Settings{}), Zone: time.UTC,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		OnFenced: func() { once.Do(func() { close(f.fenced) }) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	node.fail.Store(true)
	for deadline := time.Now().Add(10 * time.Second); e.Stats().LeaseRenewFailures == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no renewal failed within 10 s")
		}
		time.Sleep(10 * time.Millisecond) // polls the renewals, which run in real time
	}
	f.takeOver("b")
	node.fail.Store(false)
	select {
	case <-f.fenced:
	case <-time.After(10 * time.Second):
		t.Fatal("the node was not fenced")
	}
	out := logs.String()
	if !regexp.MustCompile(`msg="lanes: this node lost its lease \(paused, cut off from the database, or the database took no writes, past it\)[^"]*" renewals_failed_with="renew: connection reset by peer"`).MatchString(out) {
		t.Errorf("the fenced node's log does not give the renewals' last error:\n%s", out)
	}
}

// leaveFails is a node whose Leave fails (the database stopped answering
// as the node stopped).
type leaveFails struct{ *postgres.Store }

func (leaveFails) Leave(context.Context) error { return errors.New("the database did not answer") }

// TestLeaveErrSaysTheLanesWait: a node that could not give its lanes
// back at Stop says so (LeaveErr), so that serve exits 1: they move only
// when its lease ends. It exited 0 as if they had moved.
func TestLeaveErrSaysTheLanesWait(t *testing.T) {
	dsn, _ := pgtest.Schema(t, "wxleave_")
	ctx := context.Background()
	for _, fail := range []bool{false, true} {
		var st engine.Store = nodeStore(t, dsn, fmt.Sprint("n", fail))
		if fail {
			st = leaveFails{st.(*postgres.Store)}
		}
		e, err := engine.New(engine.Config{Store: st, Channel: sim.New(nil, wechat.Settings{}), Zone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.Stop()
		if err := e.LeaveErr(); (err != nil) != fail {
			t.Errorf("a node whose leave fails %v: LeaveErr %v", fail, err)
		}
	}
}
