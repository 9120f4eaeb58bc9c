package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
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
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/triggers"
)

// writersFlows are the flows of startWriters, by file.
var writersFlows = map[string]string{
	"echo.yaml":    "name: echo\ntriggers:\n  - message:\nsteps:\n  - send: \"${event.text}\"\n",
	"welcome.yaml": "name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Welcome!\"\n  - send: \"Menu\"\n",
}

// startWriters starts an engine of n writers on a fresh schema (dsn),
// with the flows of writersFlows; the engine's errors are logged to
// errs.
func startWriters(t *testing.T, n int) (e *engine.Engine, ch *sim.Channel, clock *engine.VirtualClock, dsn string, errs *lockedBuffer) {
	t.Helper()
	return startWritersWith(t, n, nil)
}

// startWritersWith is startWriters with the engine's own store (writer
// 1's) given by main from the store it opened, when main is not nil.
func startWritersWith(t *testing.T, n int, main func(*postgres.Store) engine.Store) (e *engine.Engine, ch *sim.Channel, clock *engine.VirtualClock, dsn string, errs *lockedBuffer) {
	t.Helper()
	dsn, _ = pgtest.Schema(t, "wxwriters_")
	ctx := context.Background()
	var stores []engine.Store
	for i := 0; i < n; i++ {
		st, err := postgres.Open(ctx, dsn, postgres.Options{NodeName: fmt.Sprint("w", i)})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
	}
	clock = engine.NewVirtualClock(t0)
	ch = sim.New(nil, wechat.Settings{})
	errs = &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(errs, &slog.HandlerOptions{Level: slog.LevelError}))
	own := stores[0]
	if main != nil {
		own = main(own.(*postgres.Store))
	}
	e, err := engine.New(engine.Config{Store: own, Writers: stores[1:], Channel: ch, Clock: clock, Zone: time.UTC, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		closeAll(stores)
	})
	var set flows.Set
	for name, src := range writersFlows {
		f, diags := flows.LoadFile(filepath.Join(t.TempDir(), name), []byte(src), flows.Options{})
		if diags.HasErrors() {
			t.Fatalf("flows: %v", diags.Err())
		}
		set.Flows = append(set.Flows, f)
	}
	if err := e.Load(ctx, &set); err != nil {
		t.Fatal(err)
	}
	// The engine's first rounds are over: until each writer's
	// dispatcher read the store for messages left unsent, a callback
	// gets no passive reply (one of its contact's might be on its way).
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return e, ch, clock, dsn, errs
}

// TestWritersShareTheLanesAndKeepEachContactsOrder: the writers of an
// engine take a share of the lanes each when it starts; each event goes
// to the writer holding its contact's lane (none is queued for another),
// and each contact's replies go out in the order of its events.
func TestWritersShareTheLanesAndKeepEachContactsOrder(t *testing.T) {
	e, ch, _, dsn, errs := startWriters(t, 2)
	if s := e.Stats(); s.Lanes != engine.LaneCount || !slices.Equal(s.WriterLanes, []int{engine.LaneCount / 2, engine.LaneCount / 2}) {
		t.Fatalf("lanes %d, by writer %v: want a half each", s.Lanes, s.WriterLanes)
	}
	ctx := context.Background()
	const contacts, each = 40, 5
	var wg sync.WaitGroup
	for c := 0; c < contacts; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("u", c)
			for k := 0; k < each; k++ {
				ev := channels.Event{Account: "main", Contact: id, Kind: channels.Text, Text: fmt.Sprint(id, "-", k), MsgID: fmt.Sprint(id, "-", k)}
				if err := e.Ingest(ctx, ev); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < contacts; c++ {
		id := fmt.Sprint("u", c)
		var got, want []string
		for _, d := range ch.DeliveredTo("main", id) {
			got = append(got, d.Message.Text)
		}
		for k := 0; k < each; k++ {
			want = append(want, fmt.Sprint(id, "-", k))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s got %v, want %v", id, got, want)
		}
	}
	s := e.Stats()
	if s.Queued != 0 || s.Events[channels.Text] != contacts*each {
		t.Errorf("queued %d, text events %d: want each of the %d events handled by its lane's writer", s.Queued, s.Events[channels.Text], contacts*each)
	}
	// The contacts' lanes are held by both writers: both did work.
	var lanes []int32
	for c := 0; c < contacts; c++ {
		lanes = append(lanes, int32(engine.LaneOf("main", fmt.Sprint("u", c))))
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owners int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT owner) FROM lanes WHERE lane = ANY($1)`, lanes).Scan(&owners); err != nil {
		t.Fatal(err)
	}
	if owners != 2 {
		t.Errorf("the contacts' lanes are held by %d nodes, want both writers", owners)
	}
	// Each writer's timer loop fires its own timers: none asked a
	// writer that had not started yet (they start one after another).
	// (Only the timers' errors count: a balancing round that waits past
	// its lock timeout on a loaded machine logs one, and tries again.)
	if l := errs.String(); strings.Contains(l, "msg=timers") {
		t.Errorf("the timer loop logged errors:\n%s", l)
	}
}

// TestWritersGivePassiveReplies: a callback of any contact gets its
// passive reply from the writer holding the contact's lane, and the
// reply is recorded there; the contact's next message waits for it.
func TestWritersGivePassiveReplies(t *testing.T) {
	e, ch, clock, _, _ := startWriters(t, 2)
	ctx := context.Background()
	const contacts = 30
	for c := 0; c < contacts; c++ {
		id := fmt.Sprint("p", c)
		r, err := e.IngestReply(ctx, channels.Event{Account: "main", Contact: id, Kind: channels.Follow, At: clock.Now()}, clock.Now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if r == nil || r.Message.Text != "Welcome!" {
			t.Fatalf("%s: IngestReply = %+v, want the passive reply Welcome!", id, r)
		}
		if err := e.FinishReply(ctx, r, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < contacts; c++ {
		id := fmt.Sprint("p", c)
		got := ch.DeliveredTo("main", id)
		if len(got) != 1 || got[0].Message.Text != "Menu" {
			t.Errorf("%s: the API got %+v, want the message after the passive reply", id, got)
		}
	}
	if sent := e.Stats().Messages[engine.MessageKey{Status: engine.OutboxSent}]; sent != 2*contacts {
		t.Errorf("%d messages recorded sent, want %d (the passive replies and the API's)", sent, 2*contacts)
	}
}

// TestWritersNeedStoresOfNodes: writers need a store shared by several
// nodes (PostgreSQL); on SQLite, New refuses them.
func TestWritersNeedStoresOfNodes(t *testing.T) {
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	other, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = engine.New(engine.Config{Store: lite, Writers: []engine.Store{other}, Channel: sim.New(nil, wechat.Settings{})})
	if err == nil {
		t.Fatal("an engine of writers on SQLite: no error")
	}
	t.Log(err)
}

// refusingLoads is a store whose transactions fail to store flow
// versions while refuse is set (a database refusing a reload).
type refusingLoads struct {
	*postgres.Store
	refuse atomic.Bool
}

// Update runs fn with a transaction whose PutFlowVersion fails while
// refuse is set (the store's own transaction otherwise: the engine finds
// the store's other interfaces on it).
func (s *refusingLoads) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error {
		if s.refuse.Load() {
			return fn(refusingTx{tx, s})
		}
		return fn(tx)
	})
}

type refusingTx struct {
	engine.Tx
	s *refusingLoads
}

func (t refusingTx) PutFlowVersion(v *engine.FlowVersion) error {
	if t.s.refuse.Load() {
		return errors.New("refused by the test")
	}
	return t.Tx.PutFlowVersion(v)
}

// TestWritersLoadTogether: a set of flows one writer's store refuses is
// made current in none of the writers: the contacts of every lane keep
// the flows loaded before (the other writer served the new ones while
// this one served the old, until a reload went through).
func TestWritersLoadTogether(t *testing.T) {
	var refusing *refusingLoads
	e, ch, _, _, _ := startWritersWith(t, 2, func(st *postgres.Store) engine.Store {
		refusing = &refusingLoads{Store: st}
		return refusing
	})
	ctx := context.Background()
	f, diags := flows.LoadFile(filepath.Join(t.TempDir(), "welcome.yaml"), []byte("name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Welcome again!\"\n"), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	refusing.refuse.Store(true)
	if err := e.Load(ctx, &flows.Set{Flows: []*flows.Flow{f}}); err == nil {
		t.Fatal("a load the store refused succeeded")
	}
	refusing.refuse.Store(false)
	const contacts = 30
	for c := 0; c < contacts; c++ {
		if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: fmt.Sprint("f", c), Kind: channels.Follow}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < contacts; c++ {
		id := fmt.Sprint("f", c)
		var got []string
		for _, d := range ch.DeliveredTo("main", id) {
			got = append(got, d.Message.Text)
		}
		if !slices.Equal(got, []string{"Welcome!", "Menu"}) {
			t.Errorf("%s (lane %d) got %v, want the flows loaded before", id, engine.LaneOf("main", id), got)
		}
	}
}

// digestFlow sends a digest every day at 9.
const digestFlow = "name: digest\ntriggers:\n  - schedule: {cron: \"0 9 * * *\"}\nsteps:\n  - send: \"Your digest\"\n"

// loadDigest loads the echo flow and digest (in dir) into e and returns
// the digest's schedule key.
func loadDigest(t *testing.T, e *engine.Engine, dir, digest string) string {
	t.Helper()
	var set flows.Set
	for name, src := range map[string]string{"echo.yaml": writersFlows["echo.yaml"], "digest.yaml": digest} {
		f, diags := flows.LoadFile(filepath.Join(dir, name), []byte(src), flows.Options{})
		if diags.HasErrors() {
			t.Fatalf("flows: %v", diags.Err())
		}
		set.Flows = append(set.Flows, f)
	}
	if err := e.Load(context.Background(), &set); err != nil {
		t.Fatal(err)
	}
	return triggers.NewIndex(set.Flows).Schedules()[0].Key
}

// textsTo returns the texts the channel delivered to a contact of main,
// in order.
func textsTo(ch *sim.Channel, who string) []string {
	var got []string
	for _, d := range ch.DeliveredTo("main", who) {
		got = append(got, d.Message.Text)
	}
	return got
}

// TestQueuedFiringOfAMovedSchedule: a schedule's firing another node
// queued for a contact is done by the lane's holder after a reload moved
// the schedule among its flow's triggers (a keyword added above it): the
// firing names the schedule's old key. It was dropped as a schedule no
// longer loaded (found by a helper reading scheduleOne after syncSchedules
// learned to keep a moved schedule's due time).
func TestQueuedFiringOfAMovedSchedule(t *testing.T) {
	e, ch, _, dsn, _ := startWriters(t, 2)
	ctx := context.Background()
	dir := t.TempDir()
	load := func(digest string) string { return loadDigest(t, e, dir, digest) }
	oldKey := load(digestFlow)
	const who = "reader"
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: who, Kind: channels.Text, Text: "hi", MsgID: "m1"}); err != nil {
		t.Fatal(err)
	}
	// Another node fired the schedule and queued its firing for the
	// contact, whose lane it does not hold.
	other, err := postgres.Open(ctx, dsn, postgres.Options{NodeName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	q := &engine.Queued{Kind: engine.QueuedSchedule, Account: "main", Contact: who, Name: oldKey, Due: t0,
		Lane: engine.LaneOf("main", who), QueuedAt: t0}
	if err := other.Update(ctx, func(tx engine.Tx) error { return tx.(engine.QueueTx).QueueItem(q) }); err != nil {
		t.Fatal(err)
	}
	if newKey := load(strings.Replace(digestFlow, "triggers:\n", "triggers:\n  - keyword: [digest]\n", 1)); newKey == oldKey {
		t.Fatalf("the schedule kept its key %q: nothing is tested", newKey)
	}
	// The contact's next message makes its writer take the queue first.
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: who, Kind: channels.Text, Text: "again", MsgID: "m2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := textsTo(ch, who); !slices.Equal(got, []string{"hi", "Your digest", "again"}) {
		t.Fatalf("delivered %v, want the queued firing before the next message", got)
	}
}

// TestQueuedFiringOnANodeBehindIsNotRepeated: a schedule's firing queued
// twice for a contact (the firing node stopped between two pages and
// started the firing again, queueing the first page's contacts once
// more) starts the flow once on the lane's holder also when the holder's
// clock is behind the firing node's: the run the first item started
// counts as the firing's though this node's clock had not reached the
// firing's due time. It was taken for an older firing's (its time,
// this node's, was before the due time) and the contact got the digest
// twice (found by a helper giving two nodes clocks 5 minutes apart).
func TestQueuedFiringOnANodeBehindIsNotRepeated(t *testing.T) {
	e, ch, clock, dsn, _ := startWriters(t, 2)
	ctx := context.Background()
	key := loadDigest(t, e, t.TempDir(), digestFlow)
	const who = "reader"
	if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: who, Kind: channels.Text, Text: "hi", MsgID: "m1"}); err != nil {
		t.Fatal(err)
	}
	// The other node's clock is 5 minutes ahead of this one's: its
	// firing came due while this clock reads 5 minutes earlier.
	due := clock.Now().Add(5 * time.Minute)
	other, err := postgres.Open(ctx, dsn, postgres.Options{NodeName: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i, text := range []string{"again", "more"} {
		q := &engine.Queued{Kind: engine.QueuedSchedule, Account: "main", Contact: who, Name: key, Due: due,
			Lane: engine.LaneOf("main", who), QueuedAt: due}
		if err := other.Update(ctx, func(tx engine.Tx) error { return tx.(engine.QueueTx).QueueItem(q) }); err != nil {
			t.Fatal(err)
		}
		// The contact's next message makes its writer take the queue.
		if err := e.Ingest(ctx, channels.Event{Account: "main", Contact: who, Kind: channels.Text, Text: text, MsgID: fmt.Sprint("m", i+2)}); err != nil {
			t.Fatal(err)
		}
		if err := e.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := textsTo(ch, who); !slices.Equal(got, []string{"hi", "Your digest", "again", "more"}) {
		t.Fatalf("delivered %v, want the firing's digest once", got)
	}
}
