package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// Schedules: a schedule trigger fires at its cron time for its audience,
// once, and a firing missed while wxflow was stopped fires once on start.

const digest = `name: digest
triggers:
  - schedule:
      cron: "0 9 * * *"
      timezone: UTC
      audience: '"vip" in contact.tags'
steps:
  - send: "digest for ${contact.id} at ${now.Format('Jan 2 15:04')} (${event.type})"
`

const vipWelcome = `name: welcome
triggers: [follow]
steps:
  - if: event.scene == "vip"
    tag: [vip]
`

// vips makes alice and dave VIP followers, bob a plain follower and carol
// a VIP who left.
func vips(h *harness) {
	h.t.Helper()
	for _, c := range []struct{ id, scene string }{{"alice", "vip"}, {"bob", ""}, {"carol", "vip"}, {"dave", "vip"}} {
		h.send(channels.Event{Kind: channels.Follow, Contact: c.id, Scene: c.scene})
	}
	h.send(channels.Event{Kind: channels.Unfollow, Contact: "carol"})
}

// digests counts the runs of digest per contact.
func (h *harness) digests() map[string]int {
	out := map[string]int{}
	for _, r := range h.runs("digest") {
		out[r.Contact]++
	}
	return out
}

func TestScheduleFiresOnceForItsAudience(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome})
	vips(h)
	h.clock.Set(time.Date(2026, 11, 21, 8, 59, 59, 0, time.UTC))
	h.fire()
	if n := len(h.runs("digest")); n != 0 {
		t.Fatalf("%d runs before the time", n)
	}
	h.advance(time.Second)
	h.fire()
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:1 dave:1]" {
		t.Fatalf("runs %s", got)
	}
	h.wantTranscript("digest for alice at Nov 21 09:00 (schedule)")
	h.advance(24 * time.Hour)
	if got := fmt.Sprint(h.digests()); got != "map[alice:2 dave:2]" {
		t.Fatalf("runs the next day %s", got)
	}
}

func TestScheduleMissedWhileStoppedFiresOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome})
	vips(h)
	h.stop()
	h.clock.Set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)) // four firings missed
	h.openEngine()
	// Before the flows are loaded nothing is due: the timer loop waits
	// instead of spinning on a schedule it cannot fire yet.
	if due, ok, err := h.e.NextDue(h.ctx); err != nil || ok {
		t.Fatalf("next due %v %v %v before the flows are loaded", due, ok, err)
	}
	h.loadFlows()
	h.fire()
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:1 dave:1]" {
		t.Fatalf("runs %s", got)
	}
	// The window closed long ago: the runs' sends fail.
	h.wantTranscript("digest for alice at Nov 24 12:00 (schedule) [failed window_closed]")
	h.clock.Set(time.Date(2026, 11, 25, 8, 59, 0, 0, time.UTC))
	h.fire()
	h.advance(time.Minute)
	if got := fmt.Sprint(h.digests()); got != "map[alice:2 dave:2]" {
		t.Fatalf("runs after the next firing %s", got)
	}
}

// TestScheduleMovedAmongTriggersKeepsItsDueTime: a trigger added before
// a schedule (a keyword to ask for the digest) moves it among its flow's
// triggers, which changes nothing of when it fires: the firing missed
// while wxflow was stopped for the deploy still comes, once. Before, the
// schedule's key held its place, so the moved schedule got a fresh due
// time (the next day) and the missed firing was lost (found by
// restarting with the changed flow after the due time).
func TestScheduleMovedAmongTriggersKeepsItsDueTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome})
	vips(h)
	h.stop()
	h.clock.Set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)) // a firing missed
	moved := strings.Replace(digest, "triggers:\n", "triggers:\n  - keyword: [digest]\n", 1)
	h.restart(map[string]string{"digest.yaml": moved, "welcome.yaml": vipWelcome})
	h.fire()
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:1 dave:1]" {
		t.Fatalf("runs after the restart %s, want the missed firing once", got)
	}
	// It fires as before, once: the key of its old place is gone.
	h.clock.Set(time.Date(2026, 11, 25, 8, 59, 0, 0, time.UTC))
	h.fire()
	h.advance(time.Minute)
	if got := fmt.Sprint(h.digests()); got != "map[alice:2 dave:2]" {
		t.Fatalf("runs after the next firing %s", got)
	}
	// Moved back (the keyword removed), between two firings: still once a day.
	h.reload(map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome})
	h.advance(24 * time.Hour)
	if got := fmt.Sprint(h.digests()); got != "map[alice:3 dave:3]" {
		t.Fatalf("runs after moving it back %s", got)
	}
}

func TestScheduleKeptAcrossReload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome})
	vips(h)
	h.clock.Set(time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC))
	// A reload after the due time, before the timer loop fired it, keeps
	// the due time: it is not skipped.
	h.reload(map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome})
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:1 dave:1]" {
		t.Fatalf("runs %s", got)
	}
}

func TestScheduleRemovedStopsFiring(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome})
	vips(h)
	h.reload(map[string]string{"welcome.yaml": vipWelcome})
	h.advance(48 * time.Hour)
	if n := len(h.runs("digest")); n != 0 {
		t.Fatalf("%d runs of a removed schedule", n)
	}
	var n int
	h.view(func(tx engine.ReadTx) error {
		s, err := tx.Schedules()
		n = len(s)
		return err
	})
	if n != 0 {
		t.Fatalf("%d schedules stored", n)
	}
}

func TestScheduleManyContacts(t *testing.T) {
	if testing.Short() {
		t.Skip("many contacts")
	}
	t.Parallel()
	h := newHarness(t, map[string]string{"digest.yaml": `name: digest
triggers:
  - schedule:
      cron: "0 9 * * *"
      timezone: UTC
steps:
  - tag: [got_digest]
`})
	const n = 1203 // more than two pages
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- h.e.Ingest(h.ctx, channels.Event{Account: "main", Contact: fmt.Sprintf("c%04d", i), Kind: channels.Follow, At: h.clock.Now()})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h.sync()
	h.clock.Set(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	h.fire()
	got := h.digests()
	if len(got) != n {
		t.Fatalf("%d contacts got the digest, want %d", len(got), n)
	}
	for c, k := range got {
		if k != 1 {
			t.Fatalf("%s got %d digests", c, k)
		}
	}
}

// crashingStore fails the transaction that reads the second page of
// contacts once, as a stop between two pages of a firing would.
type crashingStore struct {
	engine.Store
	armed atomic.Bool
}

func (s *crashingStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error { return fn(crashingTx{tx, s}) })
}

type crashingTx struct {
	engine.Tx
	s *crashingStore
}

func (t crashingTx) Contacts(account, afterAccount, afterID string, limit int) ([]*engine.Contact, error) {
	if afterID != "" && t.s.armed.CompareAndSwap(true, false) {
		return nil, errors.New("the process stopped")
	}
	return t.Tx.Contacts(account, afterAccount, afterID, limit)
}

func TestScheduleFiringCutShortIsFinished(t *testing.T) {
	t.Parallel()
	var store *crashingStore
	h := newHarnessWith(t, map[string]string{"digest.yaml": `name: digest
triggers:
  - schedule:
      cron: "0 9 * * *"
      timezone: UTC
steps:
  - tag: [got_digest]
`}, opts{tune: func(c *engine.Config) {
		store = &crashingStore{Store: c.Store}
		c.Store = store
	}})
	const n = 1001 // three pages
	for i := range n {
		if err := h.e.Ingest(h.ctx, channels.Event{Account: "main", Contact: fmt.Sprintf("c%04d", i), Kind: channels.Follow, At: h.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	h.sync()
	store.armed.Store(true)
	h.clock.Set(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	_ = h.e.FireDue(h.ctx) // the first page commits, the second fails
	h.sync()
	if store.armed.Load() {
		t.Fatal("the second page was never read")
	}
	h.fire() // as the timer loop, or a restart, would
	got := h.digests()
	if len(got) != n {
		t.Fatalf("%d contacts got the digest, want %d", len(got), n)
	}
	for c, k := range got {
		if k != 1 {
			t.Fatalf("%s got %d digests", c, k)
		}
	}
	h.advance(time.Hour) // and the next firing is tomorrow
	if k := len(h.runs("digest")); k != n {
		t.Fatalf("%d runs, want %d", k, n)
	}
}

func TestCooldownHoldsForSchedulesAndStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"promo.yaml": `name: promo
cooldown: 3d
triggers:
  - schedule:
      cron: "0 9 * * *"
      timezone: UTC
  - keyword: [promo]
steps:
  - send: "promo"
`,
		"chain.yaml": `name: chain
triggers: [{keyword: [chain]}]
steps:
  - start: promo
  - send: "chain"
`,
	})
	h.say("promo") // the keyword starts it at 10:00
	h.clock.Set(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	h.fire() // the schedule: cooling down
	h.say("chain")
	h.wantRuns("promo:completed chain:completed")
	h.clock.Set(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	h.fire() // 2d23h after: still cooling down
	h.clock.Set(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	h.fire() // 3d after
	h.say("chain")
	h.wantRuns("promo:completed chain:completed promo:completed chain:completed")
	h.wantTranscript("promo | chain | promo [failed window_closed] | chain")
}

// TestScheduleWithoutANextTimeNeverFires: a cron with no next time
// (triggers.Next gives zero; validation refuses the ones it can tell,
// such as "0 0 30 2 *") is stored as never due. Before, its zero due
// time was always past: it fired at once for every contact and the
// timer loop spun.
func TestScheduleWithoutANextTimeNeverFires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"welcome.yaml": vipWelcome})
	vips(h)
	f, diags := flows.LoadFile("never.yaml", []byte("name: never\ntriggers: [{schedule: {cron: \"0 0 29 2 *\"}}]\nsteps:\n  - send: never\n"), flows.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	never, err := cron.ParseStandard("0 0 30 2 *")
	if err != nil {
		t.Fatal(err)
	}
	f.Triggers[0].Arg.(*flows.Object).Get("cron").(*flows.Cron).Schedule = never
	set := h.e.Flows()
	if err := h.e.Load(h.ctx, &flows.Set{Flows: append(append([]*flows.Flow(nil), set.Flows...), f)}); err != nil {
		t.Fatal(err)
	}
	h.fire()
	h.advance(24 * time.Hour)
	if n := len(h.runs("never")); n != 0 {
		t.Fatalf("%d runs of a schedule that never comes due", n)
	}
	if next, ok, err := h.e.NextDue(h.ctx); err != nil || (ok && next.IsZero()) {
		t.Fatalf("NextDue = %v, %v, %v: the never-due schedule counts", next, ok, err)
	}
}

// TestScheduleFollowsTheServersZone: a schedule without a timezone: of
// its own is read in the server's zone; when that changes between two
// starts, its next time moves to the new zone (one with its own zone
// stays). Before, the stored time kept the old zone until it fired.
func TestScheduleFollowsTheServersZone(t *testing.T) {
	t.Parallel()
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	zone := shanghai
	files := map[string]string{
		"server.yaml": "name: server\ntriggers: [{schedule: {cron: \"0 9 * * *\"}}]\nsteps:\n  - send: s\n",
		"own.yaml":    "name: own\ntriggers: [{schedule: {cron: \"0 10 * * *\", timezone: Asia/Shanghai}}]\nsteps:\n  - send: o\n",
	}
	h := newHarnessWith(t, files, opts{start: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), tune: func(c *engine.Config) { c.Zone = zone }})
	next := func() time.Time {
		t.Helper()
		at, ok, err := h.e.NextDue(h.ctx)
		if err != nil || !ok {
			t.Fatalf("NextDue: %v %v", ok, err)
		}
		return at
	}
	if got, want := next(), time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next due %s, want 09:00 in Shanghai, %s", got, want)
	}
	zone = kolkata
	h.restart(files)
	if got, want := next(), time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next due after the zone changed %s, want own's 10:00 in Shanghai, %s", got, want)
	}
	h.advance(2 * time.Hour)
	if got, want := next(), time.Date(2026, 11, 21, 3, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next due %s, want 09:00 in Kolkata, %s", got, want)
	}
	if n := len(h.runs("server")); n != 0 {
		t.Fatalf("server fired %d times before 09:00 in Kolkata", n)
	}
}

// jumpClock is a virtual clock whose reading can jump by an offset, also
// backwards (a VirtualClock never goes back): a machine's clock set
// wrong and right again.
type jumpClock struct {
	*engine.VirtualClock
	off atomic.Int64
}

func (c *jumpClock) Now() time.Time { return c.VirtualClock.Now().Add(time.Duration(c.off.Load())) }

// over makes the engine's clock c, over the harness's virtual clock (a
// harness's tune: set before the engine starts, which reads it).
func (c *jumpClock) over(cfg *engine.Config) {
	c.VirtualClock = cfg.Clock.(*engine.VirtualClock)
	cfg.Clock = c
}

// TestScheduleAfterAClockSetRightAgain: a schedule fired while the
// server's clock ran a year ahead fires again at its next time once the
// clock is set right, and one fired by a clock 5 minutes ahead does not
// fire again when the clock goes back over its time. Its next due time,
// computed from the clock a year ahead, was kept, and the schedule did
// not fire for a year (found by a helper setting the clock back).
func TestScheduleAfterAClockSetRightAgain(t *testing.T) {
	t.Parallel()
	clock := &jumpClock{}
	h := newHarnessWith(t, map[string]string{"digest.yaml": digest, "welcome.yaml": vipWelcome},
		opts{tune: clock.over})
	vips(h)
	clock.off.Store(int64(365 * 24 * time.Hour)) // a year ahead
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:1 dave:1]" {
		t.Fatalf("runs with the clock a year ahead %s", got)
	}
	clock.off.Store(0) // set right again
	h.fire()
	h.clock.Set(time.Date(2026, 11, 21, 8, 56, 0, 0, time.UTC))
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:1 dave:1]" {
		t.Fatalf("runs before 9:00 %s", got)
	}
	clock.off.Store(int64(5 * time.Minute)) // 9:01: it fires
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:2 dave:2]" {
		t.Fatalf("runs at 9:00 the next day %s", got)
	}
	clock.off.Store(0) // 8:56 again: 9:00 fired already
	h.fire()
	h.advance(10 * time.Minute)
	if got := fmt.Sprint(h.digests()); got != "map[alice:2 dave:2]" {
		t.Fatalf("runs once the clock passed 9:00 again %s", got)
	}
	h.clock.Set(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	h.fire()
	if got := fmt.Sprint(h.digests()); got != "map[alice:3 dave:3]" {
		t.Fatalf("runs the day after %s", got)
	}
}
