package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// leaseClock is the clock the nodes' leases are measured with in these
// tests: moved by hand, shared by the stores of a test.
type leaseClock struct {
	mu sync.Mutex
	t  time.Time
}

func newLeaseClock() *leaseClock {
	return &leaseClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *leaseClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *leaseClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openNode opens a store on dsn measuring leases with clock, and joins.
func openNode(t *testing.T, dsn, name string, clock *leaseClock) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{ReadConns: 2, NodeName: name, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// worked are the lanes each test node works on, as its engine would
// (Work): the lanes its rounds took.
var worked = struct {
	sync.Mutex
	m map[*postgres.Store][]int
}{m: map[*postgres.Store][]int{}}

// balance renews a node's lease and balances its lanes, and works on the
// lanes taken, as its engine does in a round.
func balance(t *testing.T, s *postgres.Store) engine.Taken {
	t.Helper()
	if err := s.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Balance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	worked.Lock()
	worked.m[s] = append(worked.m[s], got.Lanes...)
	s.Work(worked.m[s])
	worked.Unlock()
	return got
}

// contactIn returns an OpenID whose lane is lane.
func contactIn(lane int, prefix string) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		if engine.LaneOf("main", id) == lane {
			return id
		}
	}
}

func TestLanesTwoNodesShareThem(t *testing.T) {
	dsn := freshSchema(t)
	clock := newLeaseClock()
	a := openNode(t, dsn, "a", clock)
	if got := balance(t, a); len(got.Lanes) != engine.LaneCount || got.Surplus != 0 {
		t.Fatalf("the first node took %d lanes (surplus %d), want all %d", len(got.Lanes), got.Surplus, engine.LaneCount)
	}
	b := openNode(t, dsn, "b", clock)
	if got := balance(t, b); len(got.Lanes) != 0 {
		t.Fatalf("the second node took %d lanes another node holds", len(got.Lanes))
	}
	got := balance(t, a)
	if got.Surplus != engine.LaneCount/2 {
		t.Fatalf("with a hungry second node, the first has a surplus of %d, want %d", got.Surplus, engine.LaneCount/2)
	}
	var give []int
	for l := engine.LaneCount / 2; l < engine.LaneCount; l++ {
		give = append(give, l)
	}
	if err := a.Release(context.Background(), give); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, b); len(got.Lanes) != engine.LaneCount/2 {
		t.Fatalf("the second node took %d lanes given back, want %d", len(got.Lanes), engine.LaneCount/2)
	}
	if got := balance(t, a); got.Surplus != 0 || len(got.Lanes) != 0 {
		t.Fatalf("balanced nodes: the first took %d lanes, surplus %d", len(got.Lanes), got.Surplus)
	}
	// Leaving gives every lane back: the other node takes them.
	if err := a.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, b); len(got.Lanes) != engine.LaneCount/2 {
		t.Fatalf("after the first node left, the second took %d lanes, want %d", len(got.Lanes), engine.LaneCount/2)
	}
}

// reserve stores a pending outbox entry for a contact (with its run).
func reserve(t *testing.T, s *postgres.Store, contact string, at time.Time) int64 {
	t.Helper()
	var id int64
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		rid, err := tx.NewRunID()
		if err != nil {
			return err
		}
		r := &engine.Run{ID: rid, Account: "main", Contact: contact, Flow: "f", Version: "v", Status: engine.RunRunning, Pos: "0", StartedAt: at, UpdatedAt: at}
		if err := tx.InsertRun(r); err != nil {
			return err
		}
		o := &engine.OutboxEntry{RunID: rid, Account: "main", Contact: contact, Status: engine.OutboxPending,
			Message: channels.Message{Type: "text", Text: "hi " + contact}, CreatedAt: at, UpdatedAt: at}
		if err := tx.InsertOutbox(o); err != nil {
			return err
		}
		id = o.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func entry(t *testing.T, s *postgres.Store, id int64) *engine.OutboxEntry {
	t.Helper()
	var o *engine.OutboxEntry
	err := s.View(context.Background(), func(tx engine.ReadTx) error {
		var err error
		o, err = tx.OutboxEntry(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestLaneTakeoverFencesTheDeadOwnerAndRecoversItsLanes: a node whose
// lease expired (killed, or paused past it) commits nothing more; the
// node that takes its lanes marks its started send unknown, and sends
// (claims) the messages it had claimed and not started.
func TestLaneTakeoverFencesTheDeadOwnerAndRecoversItsLanes(t *testing.T) {
	dsn, clock, a := soleNode(t)
	at := clock.now()
	started := reserve(t, a, contactIn(3, "s"), at)
	claimed := reserve(t, a, contactIn(200, "c"), at)
	// a claims both and starts the first one's request.
	claimAndStart(t, a, at, 2, started, nil)
	b := openNode(t, dsn, "b", clock)
	if got := balance(t, b); len(got.Lanes) != 0 {
		t.Fatalf("b took %d lanes of a live node", len(got.Lanes))
	}
	clock.add(3 * time.Second)
	balance(t, b) // b renews; a does not (paused)
	clock.add(3 * time.Second)
	// a's lease expired: it commits nothing, even before b reaped it.
	err := a.Update(context.Background(), func(tx engine.Tx) error {
		return tx.FinishOutbox(claimed, engine.OutboxSent, "", 0, "", at)
	})
	if !errors.Is(err, engine.ErrFenced) {
		t.Fatalf("a write of a node whose lease expired: %v, want ErrFenced", err)
	}
	got := balance(t, b)
	if len(got.Lanes) != engine.LaneCount || got.Unknown != 1 {
		t.Fatalf("b took %d lanes, %d sends unknown; want %d and 1", len(got.Lanes), got.Unknown, engine.LaneCount)
	}
	if err := a.Renew(context.Background()); !errors.Is(err, engine.ErrFenced) {
		t.Fatalf("the dead node renewing: %v, want ErrFenced", err)
	}
	if _, err := a.Balance(context.Background()); !errors.Is(err, engine.ErrFenced) {
		t.Fatalf("the dead node balancing: %v, want ErrFenced", err)
	}
	b.Work(got.Lanes) // as the engine does once it took them
	if o := entry(t, b, started); o.Status != engine.OutboxUnknown {
		t.Fatalf("the started send is %s, want unknown", o.Status)
	}
	if got := claimIDs(t, b, clock.now()); !slices.Equal(got, []int64{claimed}) {
		t.Fatalf("b claimed %v, want the entry a claimed and never started (%d)", got, claimed)
	}
}

// soleNode opens a fresh schema's first node, a, which takes and works
// on every lane.
func soleNode(t *testing.T) (dsn string, clock *leaseClock, a *postgres.Store) {
	t.Helper()
	dsn = freshSchema(t)
	clock = newLeaseClock()
	a = openNode(t, dsn, "a", clock)
	a.Work(balance(t, a).Lanes)
	return dsn, clock, a
}

// claimAndStart has node s claim its pending messages, want of them, do
// more (when not nil) in the same transaction, and start the request of
// the message started.
func claimAndStart(t *testing.T, s *postgres.Store, at time.Time, want int, started int64, more func(tx engine.Tx) error) {
	t.Helper()
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		out, err := tx.ClaimOutbox(10, at)
		if err != nil || len(out) != want {
			return fmt.Errorf("claimed %d, %v", len(out), err)
		}
		if more != nil {
			if err := more(tx); err != nil {
				return err
			}
		}
		return tx.StartOutbox([]int64{started}, at)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// claimIDs has node s claim what it may, and returns the IDs claimed, in
// order.
func claimIDs(t *testing.T, s *postgres.Store, at time.Time) []int64 {
	t.Helper()
	var got []int64
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		out, err := tx.ClaimOutbox(10, at)
		for _, o := range out {
			got = append(got, o.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// TestReleaseKeepsStartedSendsClaimed: lanes given back (Release, Leave)
// give up the claims of their messages not started, which the lanes' next
// node sends (those held back by a pause too, no longer marked paused),
// and keep those started (sending: they may have gone out), which the
// next node marks unknown instead of sending them again.
func TestReleaseKeepsStartedSendsClaimed(t *testing.T) {
	for _, leave := range []bool{false, true} {
		dsn, clock, a := soleNode(t)
		at := clock.now()
		started := reserve(t, a, contactIn(3, "s"), at)
		claimed := reserve(t, a, contactIn(3, "c"), at)
		held := reserve(t, a, contactIn(3, "h"), at)
		claimAndStart(t, a, at, 3, started, func(tx engine.Tx) error {
			return tx.FinishOutbox(held, engine.OutboxPending, channels.ReasonPaused, 0, "sending paused: test", at)
		})
		var err error
		if leave {
			err = a.Leave(context.Background())
		} else {
			err = a.Release(context.Background(), []int{3})
		}
		if err != nil {
			t.Fatal(err)
		}
		if o := entry(t, a, started); o.Status != engine.OutboxSending {
			t.Errorf("leave %v: the started send is %s once its lane was given back, want sending (still claimed)", leave, o.Status)
		}
		if o := entry(t, a, claimed); o.Status != engine.OutboxPending {
			t.Errorf("leave %v: the message claimed and not started is %s once its lane was given back, want pending", leave, o.Status)
		}
		if o := entry(t, a, held); o.Status != engine.OutboxPending || o.Reason != "" {
			t.Errorf("leave %v: the message held back is %s (%q) once its lane was given back, want pending, not paused", leave, o.Status, o.Reason)
		}
		// The lane's next node sends the two not started.
		b := openNode(t, dsn, "b", clock)
		b.Work(balance(t, b).Lanes)
		if got, want := claimIDs(t, b, clock.now()), []int64{claimed, held}; !slices.Equal(got, want) {
			t.Errorf("leave %v: the lane's next node claimed %v, want %v", leave, got, want)
		}
	}
}

// TestLaneTakeoverWaitsForTheTransactionUnderWay: a node whose lease
// expires in the middle of a transaction holds its lease's row: the
// node taking over waits (and takes nothing this round) until it ends,
// so the dead node's last commit comes before the takeover's.
func TestLaneTakeoverWaitsForTheTransactionUnderWay(t *testing.T) {
	dsn := freshSchema(t)
	clock := newLeaseClock()
	a := openNode(t, dsn, "a", clock)
	balance(t, a)
	b := openNode(t, dsn, "b", clock)
	inTx, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Update(context.Background(), func(tx engine.Tx) error {
			if _, _, err := tx.Session("main", "x"); err != nil { // sends the lease check
				return err
			}
			close(inTx)
			<-release
			return tx.PutContact(&engine.Contact{Account: "main", ID: "last", Followed: true, FirstSeen: clock.now(), LastSeen: clock.now()})
		})
	}()
	<-inTx
	clock.add(3 * time.Second)
	balance(t, b)
	clock.add(3 * time.Second)
	if got := balance(t, b); len(got.Lanes) != 0 {
		t.Fatalf("b took %d lanes while a's transaction was under way", len(got.Lanes))
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the transaction that checked its lease in time: %v", err)
	}
	if got := balance(t, b); len(got.Lanes) != engine.LaneCount {
		t.Fatalf("after it ended, b took %d lanes", len(got.Lanes))
	}
	err := b.View(context.Background(), func(tx engine.ReadTx) error {
		_, err := tx.Contact("main", "last")
		return err
	})
	if err != nil {
		t.Fatalf("the dead node's last commit: %v", err)
	}
}

// TestOutboxClaimsCompete: two stores claiming the same outbox at once
// never claim one entry twice.
func TestOutboxClaimsCompete(t *testing.T) {
	dsn := freshSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const n = 300
	for i := 0; i < n; i++ {
		reserve(t, a, fmt.Sprint("c", i), at)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Add(1)
		go func(s *postgres.Store) {
			defer wg.Done()
			for {
				var got []*engine.OutboxEntry
				err := s.Update(context.Background(), func(tx engine.Tx) error {
					var err error
					got, err = tx.ClaimOutbox(7, at)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, o := range got {
					seen[o.ID]++
				}
				mu.Unlock()
			}
		}(s)
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d entries, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("entry %d claimed %d times", id, k)
		}
	}
}

// TestEventDedupeAcrossStores: the same callback recorded at once by two
// stores is added once.
func TestEventDedupeAcrossStores(t *testing.T) {
	dedupeAcrossStores(t, freshSchema(t))
}

// TestEventDedupeAcrossStoresAsNodeRole: the same as the node role of
// .ci/postgres.sh, whose transactions are serializable by default (as a
// DBA may set a role's): the store keeps its own to read committed, and
// a duplicate is still found, not a serialization failure.
func TestEventDedupeAcrossStoresAsNodeRole(t *testing.T) {
	dsn, schema := pgtest.Schema(t, "wxtest_")
	pgtest.Grant(t, dsn, nodeGrants(schema)...)
	open(t, dsn).Close()
	dedupeAcrossStores(t, pgtest.AsNodeRole(t, dsn))
}

// dedupeAcrossStores: one event added at once through two stores of dsn
// is added once.
func dedupeAcrossStores(t *testing.T, dsn string) {
	stores := []*postgres.Store{open(t, dsn), open(t, dsn)}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for round := 0; round < 20; round++ {
		key := fmt.Sprint("main/alice/msg/", round)
		var mu sync.Mutex
		added := 0
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(s *postgres.Store) {
				defer wg.Done()
				err := s.Update(context.Background(), func(tx engine.Tx) error {
					ok, err := tx.AddEvent(&engine.EventRecord{Key: key, ReceivedAt: at,
						Event: channels.Event{Account: "main", Contact: "alice", Kind: channels.Text, Text: "hi", MsgID: key}})
					if ok {
						mu.Lock()
						added++
						mu.Unlock()
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}(stores[i%2])
		}
		wg.Wait()
		if added != 1 {
			t.Fatalf("round %d: the event was added %d times", round, added)
		}
	}
}

// TestQueueKeepsOrderAndDedupes: queued work is taken by lane, in the
// order it was queued, once; an event queued twice (a retry reaching
// another node) is kept once.
func TestQueueKeepsOrderAndDedupes(t *testing.T) {
	dsn := freshSchema(t)
	s := open(t, dsn)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	c1, c2 := contactIn(5, "q"), contactIn(9, "q")
	items := []*engine.Queued{
		{Kind: engine.QueuedEvent, Account: "main", Contact: c1, Key: "k1", Event: &engine.EventRecord{Key: "k1", ReceivedAt: at, Event: channels.Event{Account: "main", Contact: c1, Kind: channels.Text, Text: "one", MsgID: "1"}}},
		{Kind: engine.QueuedStart, Account: "main", Contact: c2, Name: "promo", Vars: map[string]any{"plan": "gold"}},
		{Kind: engine.QueuedEvent, Account: "main", Contact: c1, Key: "k1", Event: &engine.EventRecord{Key: "k1", ReceivedAt: at, Event: channels.Event{Account: "main", Contact: c1, Kind: channels.Text, Text: "one", MsgID: "1"}}},
		{Kind: engine.QueuedSchedule, Account: "main", Contact: c1, Name: "weekly", Due: at},
	}
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		for _, q := range items {
			q.Lane, q.QueuedAt = engine.LaneOf(q.Account, q.Contact), at
			if err := tx.(engine.QueueTx).QueueItem(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	take := func(lanes ...int) []*engine.Queued {
		var got []*engine.Queued
		err := s.Update(context.Background(), func(tx engine.Tx) error {
			var err error
			got, err = tx.(engine.QueueTx).TakeQueued(lanes, 100)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := take(7); len(got) != 0 {
		t.Fatalf("lane 7 has %d items", len(got))
	}
	got := take(5)
	if len(got) != 2 || got[0].Kind != engine.QueuedEvent || got[0].Event.Event.Text != "one" || got[1].Kind != engine.QueuedSchedule || !got[1].Due.Equal(at) {
		t.Fatalf("lane 5: %+v", got)
	}
	got = take(5, 9)
	if len(got) != 1 || got[0].Name != "promo" || got[0].Vars["plan"] != "gold" {
		t.Fatalf("lane 9: %+v", got)
	}
}

// TestTwoEnginesKeepEachContactsOrder runs two engines on one database:
// each contact's messages reach either node (a load balancer), and each
// contact gets its replies once, in order, from the node holding its
// lane.
func TestTwoEnginesKeepEachContactsOrder(t *testing.T) {
	dsn := freshSchema(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "echo.yaml"), []byte("name: echo\ntriggers:\n  - message:\nsteps:\n  - send: \"${event.text}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("flows: %v %v", err, set.Diags.Err())
	}
	ctx := context.Background()
	var engines []*engine.Engine
	var chans []*sim.Channel
	for i := 0; i < 2; i++ {
		st, err := postgres.Open(ctx, dsn, postgres.Options{ReadConns: 2, NodeName: fmt.Sprint("n", i), Lease: 5 * time.Second}) // no lease lapses here: slow CI machines must not lapse it
		if err != nil {
			t.Fatal(err)
		}
		ch := sim.New(nil, wechat.Settings{})
		e, err := engine.New(engine.Config{Store: st, Channel: ch})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.Load(ctx, set); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Stop(); st.Close() })
		engines, chans = append(engines, e), append(chans, ch)
	}
	// The second node gets its share: the first gives lanes back.
	waitFor(t, "the lanes to be shared", func() bool {
		return engines[0].Stats().Lanes == engine.LaneCount/2 && engines[1].Stats().Lanes == engine.LaneCount/2
	})
	const contacts, each = 30, 6
	var wg sync.WaitGroup
	for c := 0; c < contacts; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			id := fmt.Sprint("u", c)
			for k := 0; k < each; k++ {
				ev := channels.Event{Account: "main", Contact: id, Kind: channels.Text, Text: fmt.Sprint(id, "-", k), MsgID: fmt.Sprint(id, "-", k)}
				e := engines[(c+k)%2]
				if err := e.Ingest(ctx, ev); err != nil {
					t.Error(err)
				}
				if k == 2 {
					// WeChat retries a callback at the other node.
					if err := engines[(c+k+1)%2].Ingest(ctx, ev); err != nil {
						t.Error(err)
					}
				}
			}
		}(c)
	}
	wg.Wait()
	delivered := func() map[string][]string {
		out := map[string][]string{}
		for _, ch := range chans {
			for _, d := range ch.Delivered() {
				out[d.Contact] = append(out[d.Contact], d.Message.Text)
			}
		}
		return out
	}
	waitFor(t, "every reply", func() bool {
		n := 0
		for _, ts := range delivered() {
			n += len(ts)
		}
		return n >= contacts*each
	})
	for c := 0; c < contacts; c++ {
		id := fmt.Sprint("u", c)
		var want []string
		for k := 0; k < each; k++ {
			want = append(want, fmt.Sprint(id, "-", k))
		}
		got := delivered()[id]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s got %v, want %v", id, got, want)
		}
	}
	queued := engines[0].Stats().Queued + engines[1].Stats().Queued
	if queued == 0 {
		t.Fatal("no event was queued for the other node: the test did not cross nodes")
	}
	t.Logf("%d events queued across nodes", queued)
}

// waitFor waits, in real time (the nodes' leases are), until ok holds.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// poisonStore fails the runs of one contact: an item queued for it fails
// whenever it is done.
type poisonStore struct{ *postgres.Store }

func (p poisonStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return p.Store.Update(ctx, func(tx engine.Tx) error { return fn(poisonTx{tx}) })
}

type poisonTx struct{ engine.Tx }

func (p poisonTx) InsertRun(r *engine.Run) error {
	if r.Contact == "poison" {
		return errors.New("poisoned")
	}
	return p.Tx.InsertRun(r)
}

func (p poisonTx) QueueItem(q *engine.Queued) error { return p.Tx.(engine.QueueTx).QueueItem(q) }
func (p poisonTx) TakeQueued(lanes []int, limit int) ([]*engine.Queued, error) {
	return p.Tx.(engine.QueueTx).TakeQueued(lanes, limit)
}
func (p poisonTx) ClaimOutboxIDs(ids []int64, at time.Time) ([]int64, error) {
	return p.Tx.(engine.IDClaimer).ClaimOutboxIDs(ids, at)
}

// TestQueuedItemThatFailsDoesNotStopTheNode: a queued event that fails
// whenever it is handled fails one batch; the next batches do queued
// items one at a time, so the others are handled, and the failing event
// is recorded with a note saying why nothing came of it.
func TestQueuedItemThatFailsDoesNotStopTheNode(t *testing.T) {
	dsn := freshSchema(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "echo.yaml"), []byte("name: echo\ntriggers:\n  - message:\nsteps:\n  - send: \"${event.text}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("flows: %v %v", err, set.Diags.Err())
	}
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{ReadConns: 2, NodeName: "n", Lease: 5 * time.Second}) // no lease lapses here
	if err != nil {
		t.Fatal(err)
	}
	ch := sim.New(nil, wechat.Settings{})
	e, err := engine.New(engine.Config{Store: poisonStore{st}, Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(); st.Close() })
	if err := e.Load(ctx, set); err != nil {
		t.Fatal(err)
	}
	// Another node (a plain store) queued both for this one.
	other := open(t, dsn)
	now := time.Now()
	err = other.Update(ctx, func(tx engine.Tx) error {
		for _, c := range []string{"poison", "good"} {
			key := "main|" + c + "|m1"
			ev := &engine.EventRecord{Key: key, ReceivedAt: now, Event: channels.Event{Account: "main", Contact: c, Kind: channels.Text, Text: "hi " + c, MsgID: "1", At: now}}
			if err := tx.(engine.QueueTx).QueueItem(&engine.Queued{Kind: engine.QueuedEvent, Account: "main", Contact: c, Lane: engine.LaneOf("main", c), Key: key, Event: ev, QueuedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the good contact's reply", func() bool { return len(ch.DeliveredTo("main", "good")) == 1 })
	err = st.View(ctx, func(tx engine.ReadTx) error {
		notes, err := tx.EventNotes("main", "poison", 10)
		if err != nil {
			return err
		}
		if len(notes) != 1 || !strings.Contains(notes[0].Why, "poisoned") {
			return fmt.Errorf("poison's notes: %+v", notes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueueSameKeysInOppositeOrders: two nodes queueing the same retried
// callbacks in opposite orders, at once, both commit (the keys' locks are
// taken in one order), and each callback is queued once, in the order
// the first transaction queued them.
func TestQueueSameKeysInOppositeOrders(t *testing.T) {
	dsn := freshSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	item := func(c string) *engine.Queued {
		key := "main|" + c + "|m1"
		return &engine.Queued{Kind: engine.QueuedEvent, Account: "main", Contact: c, Lane: engine.LaneOf("main", c), Key: key, QueuedAt: at,
			Event: &engine.EventRecord{Key: key, ReceivedAt: at, Event: channels.Event{Account: "main", Contact: c, Kind: channels.Text, Text: c, MsgID: "1", At: at}}}
	}
	for round := 0; round < 5; round++ {
		x, y := fmt.Sprint("x", round), fmt.Sprint("y", round)
		var both sync.WaitGroup
		both.Add(2)
		errs := make(chan error, 2)
		for _, side := range []struct {
			s     *postgres.Store
			order []string
		}{{a, []string{x, y}}, {b, []string{y, x}}} {
			go func(s *postgres.Store, order []string) {
				errs <- s.Update(ctx, func(tx engine.Tx) error {
					if err := tx.(engine.QueueTx).QueueItem(item(order[0])); err != nil {
						return err
					}
					// A read sends what is queued so far; both wait here
					// until the other has too.
					if _, err := tx.Contact("main", "nobody"); err != nil && !errors.Is(err, engine.ErrNotFound) {
						return err
					}
					both.Done()
					both.Wait()
					return tx.(engine.QueueTx).QueueItem(item(order[1]))
				})
			}(side.s, side.order)
		}
		for i := 0; i < 2; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	var got []*engine.Queued
	err := a.Update(ctx, func(tx engine.Tx) error {
		all := make([]int, engine.LaneCount)
		for i := range all {
			all[i] = i
		}
		var err error
		got, err = tx.(engine.QueueTx).TakeQueued(all, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("%d items queued, want 10 (each callback once)", len(got))
	}
}

// TestRenewOnItsOwnConnection: renewing the lease waits for no balancing
// round: while a round waits for a lock (here the lanes table's, held by
// another session), the lease is renewed at once. Renewing shared the
// balancing's connection (its pool holds one), behind the round.
func TestRenewOnItsOwnConnection(t *testing.T) {
	dsn := freshSchema(t)
	clock := newLeaseClock()
	a := openNode(t, dsn, "a", clock)
	balance(t, a)
	ctx := context.Background()
	lock, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE lanes IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Balance(ctx)
		done <- err
	}()
	// Wait until the round waits for the lock.
	for waiting := false; !waiting; {
		if err := lock.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE NOT l.granted AND c.relname = 'lanes' AND c.relnamespace = current_schema()::regnamespace)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the round did not wait for the lock: %v", err)
		default:
		}
	}
	clock.add(3 * time.Second)
	rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := a.Renew(rctx); err != nil {
		t.Fatalf("renewing while a round waits: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Three more seconds: the lease renewed above still holds.
	clock.add(3 * time.Second)
	if err := a.Update(ctx, func(tx engine.Tx) error {
		return tx.PutContact(&engine.Contact{Account: "main", ID: "x", Followed: true, FirstSeen: clock.now(), LastSeen: clock.now()})
	}); err != nil {
		t.Fatalf("a write after the renewal: %v", err)
	}
}

// TestRenewAfterAFailedRenewal: a renewal that fails for the client's
// reason (its context done) says nothing about the lease (not
// ErrFenced), and the next one works, on a new connection.
func TestRenewAfterAFailedRenewal(t *testing.T) {
	dsn := freshSchema(t)
	clock := newLeaseClock()
	a := openNode(t, dsn, "a", clock)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.Renew(ctx)
	if err == nil || errors.Is(err, engine.ErrFenced) {
		t.Fatalf("a renewal with its context done: %v, want an error other than ErrFenced", err)
	}
	clock.add(3 * time.Second)
	if err := a.Renew(context.Background()); err != nil {
		t.Fatalf("the next renewal: %v", err)
	}
	clock.add(3 * time.Second)
	if _, err := a.Balance(context.Background()); err != nil {
		t.Fatalf("balancing after the renewal: %v", err)
	}
}

// TestJoinRefusesARenewalOfHalfTheLease: a lease renewed every half of
// it or less often has no time for a second try.
func TestJoinRefusesARenewalOfHalfTheLease(t *testing.T) {
	dsn := freshSchema(t)
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{ReadConns: 1, Lease: 2 * time.Second, Renew: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Join(context.Background()); err == nil || !strings.Contains(err.Error(), "less than half the lease") {
		t.Fatalf("Join: %v, want a refusal", err)
	}
}

// TestBalanceTakesUpLanesItsEngineNeverStarted: a round that took lanes
// and whose commit went through while the node saw an error (the
// connection lost at COMMIT, as at a restart of PostgreSQL) leaves lanes
// held in the store that the node's engine never started (it works on
// none of them): the next round gives them to the engine again. They
// stayed held and unworked until the node left, their queued work and
// messages waiting (the multi-node test ended with items queued and
// messages pending after a restart of PostgreSQL).
func TestBalanceTakesUpLanesItsEngineNeverStarted(t *testing.T) {
	dsn := freshSchema(t)
	clock := newLeaseClock()
	a := openNode(t, dsn, "a", clock)
	ctx := context.Background()
	// The round's commit went through; its answer was lost.
	if got, err := a.Balance(ctx); err != nil || len(got.Lanes) != engine.LaneCount {
		t.Fatalf("the first round took %d lanes (%v)", len(got.Lanes), err)
	}
	// The engine works on the lanes of a round it did see.
	a.Work([]int{7})
	got, err := a.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Lanes) != engine.LaneCount-1 || slices.Contains(got.Lanes, 7) {
		t.Fatalf("the next round gave %d lanes (lane 7 among them: %v), want the %d the engine never started", len(got.Lanes), slices.Contains(got.Lanes, 7), engine.LaneCount-1)
	}
	a.Work(append(got.Lanes, 7))
	if got, err := a.Balance(ctx); err != nil || len(got.Lanes) != 0 {
		t.Fatalf("a round with every lane worked on gave %d lanes (%v)", len(got.Lanes), err)
	}
	// A lane with a message the node claimed and did not finish stays
	// the node's, even when its engine no longer works on it: the send
	// may be under way.
	at := clock.now()
	id := reserve(t, a, contactIn(9, "m"), at)
	err = a.Update(ctx, func(tx engine.Tx) error {
		got, err := tx.ClaimOutbox(10, at)
		if err != nil || len(got) != 1 || got[0].ID != id {
			return fmt.Errorf("claimed %v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rest []int
	for lane := range engine.LaneCount {
		if lane != 9 && lane != 10 {
			rest = append(rest, lane)
		}
	}
	a.Work(rest)
	if got, err := a.Balance(ctx); err != nil || !slices.Equal(got.Lanes, []int{10}) {
		t.Fatalf("the round gave %v (%v), want lane 10 only (lane 9 has a message being sent)", got.Lanes, err)
	}
}

// TestOperatorActionsQueueForTheContactsNode: an operator's reply or
// assignment made at a node that does not hold the contact's lane is
// queued (ErrQueued) and done by the node that holds it, which sends the
// reply under the contact's window and quota.
func TestOperatorActionsQueueForTheContactsNode(t *testing.T) {
	dsn := freshSchema(t)
	ctx := context.Background()
	people := engine.People{Operators: []engine.Operator{{Name: "amy", Teams: []string{"support"}}}, Teams: map[string]*steps.Hours{"support": nil}}
	var engines []*engine.Engine
	var chans []*sim.Channel
	for i := 0; i < 2; i++ {
		st, err := postgres.Open(ctx, dsn, postgres.Options{ReadConns: 2, NodeName: fmt.Sprint("n", i), Lease: 5 * time.Second}) // no lease lapses here
		if err != nil {
			t.Fatal(err)
		}
		ch := sim.New(nil, wechat.Settings{})
		e, err := engine.New(engine.Config{Store: st, Channel: ch, People: people})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.Load(ctx, &flows.Set{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Stop(); st.Close() })
		engines, chans = append(engines, e), append(chans, ch)
	}
	waitFor(t, "the lanes to be shared", func() bool {
		return engines[0].Stats().Lanes == engine.LaneCount/2 && engines[1].Stats().Lanes == engine.LaneCount/2
	})
	queued, other := 0, ""
	for c := 0; c < 12; c++ {
		id := fmt.Sprint("u", c)
		if err := engines[0].Ingest(ctx, channels.Event{Account: "main", Contact: id, Kind: channels.Text, Text: "hi", MsgID: id}); err != nil {
			t.Fatal(err)
		}
		ref := engine.ContactRef{Account: "main", ID: id}
		var err error
		waitFor(t, "the contact to be stored", func() bool {
			_, err = engines[0].Act(ctx, ref, engine.Action{Kind: engine.ActReply, Operator: "amy", Message: &channels.Message{Type: "text", Text: "from amy " + id}})
			return !errors.Is(err, engine.ErrNotFound)
		})
		switch {
		case errors.Is(err, engine.ErrQueued):
			queued++
			other = id
		case err != nil:
			t.Fatalf("reply to %s: %v", id, err)
		}
	}
	if queued == 0 {
		t.Fatal("no reply was queued for the other node: the test did not cross nodes")
	}
	waitFor(t, "every reply", func() bool {
		n := 0
		for _, ch := range chans {
			for _, d := range ch.Delivered() {
				if strings.HasPrefix(d.Message.Text, "from amy ") {
					n++
				}
			}
		}
		return n == 12
	})
	// The reply took the conversation for amy, wherever it was done.
	for c := 0; c < 12; c++ {
		id := fmt.Sprint("u", c)
		err := engines[0].Store().View(ctx, func(tx engine.ReadTx) error {
			ct, err := tx.Contact("main", id)
			if err == nil && ct.Conv.Operator != "amy" {
				err = fmt.Errorf("operator %q", ct.Conv.Operator)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	t.Logf("%d of 12 replies queued for the other node", queued)

	// An unknown contact is not found wherever the request comes, not
	// queued for a node that then drops it without a word.
	promo, diags := flows.LoadFile("promo.yaml", []byte("name: promo\ntriggers: []\nsteps:\n  - send: promo\n"), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	for _, e := range engines {
		if err := e.Load(ctx, &flows.Set{Flows: []*flows.Flow{promo}}); err != nil {
			t.Fatal(err)
		}
	}
	for c := 0; c < 12; c++ {
		id := fmt.Sprint("nobody", c)
		if _, err := engines[0].Act(ctx, engine.ContactRef{Account: "main", ID: id}, engine.Action{Kind: engine.ActComment, Operator: "amy", Text: "hello?"}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("a comment on unknown contact %s: %v, want ErrNotFound", id, err)
		}
		if _, err := engines[0].StartFlow(ctx, "main", id, "promo", nil); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("a start for unknown contact %s: %v, want ErrNotFound", id, err)
		}
	}

	// An operator's start (the conversation's Start) for a contact of the
	// other node is refused at once for what that node would refuse
	// before reading the lane, as StartFlow's is: an unknown flow, a
	// contact who unfollowed. Before, both were queued (202) and dropped
	// there. A start it may do is queued.
	ref := engine.ContactRef{Account: "main", ID: other}
	start := func(flow string) error {
		_, err := engines[0].Act(ctx, ref, engine.Action{Kind: engine.ActStart, Operator: "amy", Flow: flow})
		return err
	}
	if err := start("nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("an operator's start of an unknown flow for %s: %v, want ErrNotFound", other, err)
	}
	if err := start("promo"); !errors.Is(err, engine.ErrQueued) {
		t.Errorf("an operator's start of promo for %s: %v, want ErrQueued", other, err)
	}
	if err := engines[0].Ingest(ctx, channels.Event{Account: "main", Contact: other, Kind: channels.Unfollow, MsgID: "bye-" + other}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unfollow", func() bool {
		var followed bool
		err := engines[0].Store().View(ctx, func(tx engine.ReadTx) error {
			ct, err := tx.Contact("main", other)
			if err == nil {
				followed = ct.Followed
			}
			return err
		})
		return err == nil && !followed
	})
	if err := start("promo"); !errors.Is(err, engine.ErrNotStarted) {
		t.Errorf("an operator's start for %s, who unfollowed: %v, want ErrNotStarted", other, err)
	}
	if _, err := engines[0].StartFlow(ctx, "main", other, "promo", nil); !errors.Is(err, engine.ErrNotStarted) {
		t.Errorf("a start for %s, who unfollowed: %v, want ErrNotStarted", other, err)
	}
}

// TestNotificationsOfALongSchema: the nodes of a schema whose name makes
// a notification channel longer than PostgreSQL's names (63 bytes) still
// tell each other of queued work and changes (pg_notify refused the
// channel: every transaction that queued work failed).
func TestNotificationsOfALongSchema(t *testing.T) {
	dsn, schema := pgtest.Schema(t, "wxnotify_a_schema_name_long_enough_to_pass_63_")
	if len("wxflow_changed/"+schema) <= 63 {
		t.Fatalf("schema %s is too short for the test", schema)
	}
	clock := newLeaseClock()
	a, b := openNode(t, dsn, "a", clock), openNode(t, dsn, "b", clock)
	waitFor := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no notification within 10 s", what)
		}
	}
	for !a.Listening() || !b.Listening() {
		time.Sleep(10 * time.Millisecond) // polls the listeners' start
	}

	c := contactIn(3, "n")
	err := b.Update(context.Background(), func(tx engine.Tx) error {
		return tx.(engine.QueueTx).QueueItem(&engine.Queued{Kind: engine.QueuedStart, Account: "main", Contact: c, Lane: 3, Name: "promo", QueuedAt: clock.now()})
	})
	if err != nil {
		t.Fatalf("queue work on a long schema: %v", err)
	}
	waitFor("queued work", a.Queued())

	// A change, then another at once: the second goes out after the
	// first's pause, not lost.
	b.PublishChanged()
	waitFor("a change", a.OthersChanged())
	b.PublishChanged()
	waitFor("the change right after", a.OthersChanged())
	a.PublishChanged()
	waitFor("a change the other way", b.OthersChanged())
}

// TestListenerSaysWhatItMayHaveMissed: when a node's listening connection
// is lost (a restart of PostgreSQL, a DBA's idle_session_timeout), what
// was notified meanwhile is lost too; once it listens again, the node
// hears of queued work and of changes once, so that it reads its queue
// and its live pages read themselves again.
func TestListenerSaysWhatItMayHaveMissed(t *testing.T) {
	dsn := freshSchema(t)
	a := openNode(t, dsn, "listener-a", newLeaseClock())
	for !a.Listening() {
		time.Sleep(10 * time.Millisecond) // polls the listener's start
	}
	for _, ch := range []<-chan struct{}{a.Queued(), a.OthersChanged()} {
		select {
		case <-ch:
			t.Fatal("the first listen said it may have missed something")
		default:
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'wxflow listener-a' AND query LIKE 'LISTEN %'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listening connections (%v), want 1", killed, err)
	}
	for a.Listening() {
		time.Sleep(10 * time.Millisecond) // polls the loss
	}
	for name, ch := range map[string]<-chan struct{}{"queued work": a.Queued(), "changes": a.OthersChanged()} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: not said within 10 s of listening again (listening: %v)", name, a.Listening())
		}
	}
}

// TestListenerOutlivesIdleSessionTimeout: a database's
// idle_session_timeout (here in the URL) does not end the listening
// connection, which waits idle by design: it stays the same session
// well past the timeout.
func TestListenerOutlivesIdleSessionTimeout(t *testing.T) {
	dsn := freshSchema(t)
	a := openNode(t, dsn+"&idle_session_timeout=300ms", "idle-a", newLeaseClock())
	for !a.Listening() {
		time.Sleep(10 * time.Millisecond) // polls the listener's start
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Until the listener has been idle for 3 times the timeout, by the
	// server's clock (a killed one starts again, idle for less).
	for {
		var idle bool
		err := conn.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity
			WHERE application_name = 'wxflow idle-a' AND query LIKE 'LISTEN %' AND state = 'idle' AND state_change < now() - interval '900 milliseconds'`).Scan(&idle)
		if err != nil {
			t.Fatalf("the listener was never idle past the timeout: %v", err)
		}
		if idle {
			break
		}
	}
}
