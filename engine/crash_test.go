package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
)

// The crash tests check the promise of ARCHITECTURE.md: a crash loses
// nothing that was acknowledged and sends nothing twice. The abort tests
// fail a transaction at each of its writes in turn; the kill tests kill
// a process that is ingesting with SIGKILL and check the books of what it
// left.

// errFault is the error a faultStore injects.
var errFault = errors.New("injected fault")

// faultStore is an engine.Store that delegates to another and, while
// armed, fails one write point of the transactions it matches: the at-th
// write call of the transaction, counting its commit as the last point.
// The fault stays armed until disarm, so a transaction the engine retries
// fails again at the same point.
type faultStore struct {
	engine.Store

	mu sync.Mutex
	at int // 1-based write point to fail; 0 is disarmed
	// match picks the transactions to fail by their first write.
	match func(first string) bool
	// record keeps the points of every matched transaction in traces.
	record bool
	traces [][]string
	hits   []string // the points failed so far
}

func (s *faultStore) arm(at int, match func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at, s.match, s.hits = at, match, nil
}

func (s *faultStore) disarm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = 0
}

func (s *faultStore) startRecording(match func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record, s.match, s.traces = true, match, nil
}

func (s *faultStore) stopRecording() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record = false
	return s.traces
}

func (s *faultStore) hit() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hits)
}

// Update runs fn in a transaction of the store beneath, whose commit is
// the last write point.
func (s *faultStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error {
		ft := &faultTx{Tx: tx, s: s, trace: -1}
		if err := fn(ft); err != nil {
			return err
		}
		return ft.point("commit")
	})
}

// faultTx counts the write points of one transaction.
type faultTx struct {
	engine.Tx
	s       *faultStore
	n       int
	matched bool
	trace   int // index in s.traces, -1 when not recording
}

// point passes one write point, failing it when it is the armed one.
func (t *faultTx) point(name string) error {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.n == 0 {
		if name == "commit" {
			return nil // a transaction without writes has no points
		}
		t.matched = s.match == nil || s.match(name)
		if t.matched && s.record {
			s.traces = append(s.traces, nil)
			t.trace = len(s.traces) - 1
		}
	}
	t.n++
	if t.trace >= 0 && s.record {
		s.traces[t.trace] = append(s.traces[t.trace], name)
	}
	if t.matched && s.at == t.n {
		s.hits = append(s.hits, name)
		return fmt.Errorf("%s (write %d): %w", name, t.n, errFault)
	}
	return nil
}

func (t *faultTx) AddEvent(e *engine.EventRecord) (bool, error) {
	if err := t.point("AddEvent"); err != nil {
		return false, err
	}
	return t.Tx.AddEvent(e)
}

func (t *faultTx) PutContact(c *engine.Contact) error {
	if err := t.point("PutContact"); err != nil {
		return err
	}
	return t.Tx.PutContact(c)
}

func (t *faultTx) PutSession(account, contact string, s channels.Session) error {
	if err := t.point("PutSession"); err != nil {
		return err
	}
	return t.Tx.PutSession(account, contact, s)
}

func (t *faultTx) InsertRun(r *engine.Run) error {
	if err := t.point("InsertRun"); err != nil {
		return err
	}
	return t.Tx.InsertRun(r)
}

func (t *faultTx) UpdateRun(r *engine.Run) error {
	if err := t.point("UpdateRun"); err != nil {
		return err
	}
	return t.Tx.UpdateRun(r)
}

func (t *faultTx) SetTimer(tm engine.Timer) error {
	if err := t.point("SetTimer"); err != nil {
		return err
	}
	return t.Tx.SetTimer(tm)
}

func (t *faultTx) DeleteTimer(runID int64) error {
	if err := t.point("DeleteTimer"); err != nil {
		return err
	}
	return t.Tx.DeleteTimer(runID)
}

func (t *faultTx) InsertOutbox(o *engine.OutboxEntry) error {
	if err := t.point("InsertOutbox"); err != nil {
		return err
	}
	return t.Tx.InsertOutbox(o)
}

func (t *faultTx) ClaimOutbox(limit int, at time.Time) ([]*engine.OutboxEntry, error) {
	if err := t.point("ClaimOutbox"); err != nil {
		return nil, err
	}
	return t.Tx.ClaimOutbox(limit, at)
}

func (t *faultTx) ClaimOutboxThrough(id int64, at time.Time) error {
	if err := t.point("ClaimOutboxThrough"); err != nil {
		return err
	}
	return t.Tx.ClaimOutboxThrough(id, at)
}

func (t *faultTx) FinishOutbox(id int64, status engine.OutboxStatus, reason channels.Reason, code int, detail string, at time.Time) error {
	if err := t.point("FinishOutbox"); err != nil {
		return err
	}
	return t.Tx.FinishOutbox(id, status, reason, code, detail, at)
}

func (t *faultTx) RecoverOutbox(at time.Time) (int, error) {
	if err := t.point("RecoverOutbox"); err != nil {
		return 0, err
	}
	return t.Tx.RecoverOutbox(at)
}

func (t *faultTx) PutFlowVersion(v *engine.FlowVersion) error {
	if err := t.point("PutFlowVersion"); err != nil {
		return err
	}
	return t.Tx.PutFlowVersion(v)
}

func (t *faultTx) SetSchedule(key string, due time.Time) error {
	if err := t.point("SetSchedule"); err != nil {
		return err
	}
	return t.Tx.SetSchedule(key, due)
}

func (t *faultTx) DeleteSchedule(key string) error {
	if err := t.point("DeleteSchedule"); err != nil {
		return err
	}
	return t.Tx.DeleteSchedule(key)
}

// isDispatch reports whether a transaction whose first write is first is
// the outbox dispatcher's (claiming or finishing sends).
func isDispatch(first string) bool {
	return first == "ClaimOutbox" || first == "ClaimOutboxThrough" || first == "FinishOutbox"
}

func notDispatch(first string) bool { return !isDispatch(first) }

// abortFlow sends, asks, waits and sends.
const abortFlow = `name: onboard
triggers: [follow]
steps:
  - send: "Welcome!"
  - ask: "Your name?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: done
  - wait: 1m
  - send: "Hi ${contact.fields.name}"
  - id: done
    end:
`

var abortTexts = []string{"Welcome!", "Your name?", "Hi Alice"}

// abortBundle is an engine whose store can be made to fail.
type abortBundle struct {
	t     *testing.T
	ctx   context.Context
	db    string
	flows *flows.Set
	sql   *sqlite.Store
	fs    *faultStore
	ch    *sim.Channel
	clock *engine.VirtualClock
	e     *engine.Engine
}

func loadFlows(t *testing.T, dir string, files map[string]string) *flows.Set {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		t.Fatalf("flows: %v", set.Diags.Err())
	}
	return set
}

func newAbortBundle(t *testing.T) *abortBundle {
	t.Helper()
	dir := t.TempDir()
	b := &abortBundle{t: t, ctx: context.Background(), db: filepath.Join(dir, "wxflow.db"),
		flows: loadFlows(t, filepath.Join(dir, "flows"), map[string]string{"onboard.yaml": abortFlow}),
		ch:    sim.New(nil, wechat.Settings{}), clock: engine.NewVirtualClock(t0)}
	b.start()
	return b
}

// start opens the store and starts an engine on it (again, after stop).
func (b *abortBundle) start() {
	b.t.Helper()
	st, err := sqlite.Open(b.ctx, b.db, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.t.Fatal(err)
	}
	b.sql, b.fs = st, &faultStore{Store: st}
	e, err := engine.New(engine.Config{Store: b.fs, Channel: b.ch, Clock: b.clock, Zone: time.UTC})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := e.Start(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	if err := e.Load(b.ctx, b.flows); err != nil {
		b.t.Fatal(err)
	}
	b.e = e
	b.t.Cleanup(func() { e.Stop(); st.Close() })
	b.sync()
}

func (b *abortBundle) stop() {
	b.e.Stop()
	if err := b.sql.Close(); err != nil {
		b.t.Fatal(err)
	}
}

func (b *abortBundle) sync() {
	b.t.Helper()
	if err := b.e.Sync(b.ctx); err != nil {
		b.t.Fatal(err)
	}
}

func (b *abortBundle) view(fn func(tx engine.ReadTx) error) {
	b.t.Helper()
	if err := b.sql.View(b.ctx, fn); err != nil {
		b.t.Fatal(err)
	}
}

// books renders everything the store knows about the test's contact, to
// compare before and after a failed transaction.
func (b *abortBundle) books() string {
	b.t.Helper()
	var sb strings.Builder
	b.view(func(tx engine.ReadTx) error {
		n, err := tx.Counts()
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s=%d ", k, n[k])
		}
		sb.WriteString("\n")
		if c, err := tx.Contact("main", "alice"); err == nil {
			fields, _ := json.Marshal(c.Fields)
			fmt.Fprintf(&sb, "contact followed=%v tags=%v fields=%s last=%v\n", c.Followed, c.Tags, fields, c.LastSeen)
		} else if !errors.Is(err, engine.ErrNotFound) {
			return err
		}
		if s, ok, err := tx.Session("main", "alice"); err != nil {
			return err
		} else if ok {
			fmt.Fprintf(&sb, "session %+v\n", s)
		}
		runs, err := tx.Runs(engine.RunFilter{})
		if err != nil {
			return err
		}
		for _, r := range runs {
			vars, _ := json.Marshal(r.State.Vars)
			fmt.Fprintf(&sb, "run %d %s %s pos=%s seq=%d vars=%s ended=%v\n", r.ID, r.Flow, r.Status, r.Pos, r.Seq, vars, r.EndedAt)
		}
		out, err := tx.Outbox(engine.OutboxFilter{})
		if err != nil {
			return err
		}
		for _, o := range out {
			fmt.Fprintf(&sb, "outbox %d run=%d %q %s\n", o.ID, o.RunID, o.Message.Text, o.Status)
		}
		timers, err := tx.DueTimers(t0.Add(1000*time.Hour), 1000)
		if err != nil {
			return err
		}
		for _, tm := range timers {
			fmt.Fprintf(&sb, "timer run=%d seq=%d due=%v\n", tm.RunID, tm.Seq, tm.Due)
		}
		return nil
	})
	return sb.String()
}

func (b *abortBundle) delivered() []string {
	var out []string
	for _, d := range b.ch.DeliveredTo("main", "alice") {
		out = append(out, d.Message.Text)
	}
	return out
}

// abortStep is one thing that happens to the flow, in one transaction.
type abortStep struct {
	name string
	do   func(b *abortBundle) error
}

var (
	abortFollow = channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: t0}
	abortAnswer = channels.Event{Account: "main", Contact: "alice", Kind: channels.Text, Text: "Alice", MsgID: "m1", At: t0.Add(10 * time.Second)}
)

var abortSteps = []abortStep{
	{"follow", func(b *abortBundle) error { return b.e.Ingest(b.ctx, abortFollow) }},
	{"answer", func(b *abortBundle) error {
		b.clock.Set(t0.Add(10 * time.Second))
		return b.e.Ingest(b.ctx, abortAnswer)
	}},
	{"wait", func(b *abortBundle) error {
		b.clock.Set(t0.Add(10*time.Second + time.Minute))
		return b.e.FireDue(b.ctx)
	}},
}

// abortTraces runs the flow without faults and returns the write points
// of each step's transaction.
func abortTraces(t *testing.T) [][]string {
	b := newAbortBundle(t)
	var traces [][]string
	for _, st := range abortSteps {
		b.fs.startRecording(notDispatch)
		if err := st.do(b); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		b.sync()
		got := b.fs.stopRecording()
		if len(got) != 1 {
			t.Fatalf("%s: %d transactions wrote, want 1: %v", st.name, len(got), got)
		}
		traces = append(traces, got[0])
	}
	if got := b.delivered(); !slices.Equal(got, abortTexts) {
		t.Fatalf("without faults the flow sent %q, want %q", got, abortTexts)
	}
	return traces
}

// TestCrashAbortEveryWrite fails each write of each transaction of a flow
// that sends, asks, waits and sends, and checks that the failed step was
// not acknowledged, left nothing behind, and that doing it again once the
// fault clears gives every message exactly once.
func TestCrashAbortEveryWrite(t *testing.T) {
	t.Parallel()
	traces := abortTraces(t)
	for i, st := range abortSteps {
		for n, point := range traces[i] {
			t.Run(fmt.Sprintf("%s/%d_%s", st.name, n+1, point), func(t *testing.T) {
				t.Parallel()
				b := newAbortBundle(t)
				for _, before := range abortSteps[:i] {
					if err := before.do(b); err != nil {
						t.Fatalf("%s: %v", before.name, err)
					}
					b.sync()
				}
				want := b.books()
				sent := b.delivered()

				b.fs.arm(n+1, notDispatch)
				err := st.do(b)
				hits := b.fs.hit()
				if len(hits) == 0 || hits[0] != point {
					t.Fatalf("the fault hit %v, want %s", hits, point)
				}
				if err == nil {
					t.Fatalf("%s succeeded although its write %d (%s) failed: it was acknowledged with a partial or altered transaction\nbooks before:\n%s\nbooks after:\n%s",
						st.name, n+1, point, want, b.books())
				}
				if !errors.Is(err, errFault) {
					t.Errorf("%s = %v, want an error that wraps the store's", st.name, err)
				}
				if got := b.books(); got != want {
					t.Errorf("a failed %s changed the store:\nbefore:\n%s\nafter:\n%s", st.name, want, got)
				}
				// Sends follow commits, and nothing committed.
				if got := b.delivered(); !slices.Equal(got, sent) {
					t.Errorf("a failed %s sent %q (before: %q)", st.name, got, sent)
				}
				// Once the fault clears, the timer loop may do the wait
				// again on its own before we do: either way, once.
				b.fs.disarm()

				// Again, without the fault, then the rest of the flow.
				for _, rest := range abortSteps[i:] {
					if err := rest.do(b); err != nil {
						t.Fatalf("%s: %v", rest.name, err)
					}
					b.sync()
				}
				b.checkDone()
			})
		}
	}
}

// checkDone checks the end of the flow: one completed run, every message
// sent once, and retries of the inbound events change nothing.
func (b *abortBundle) checkDone() {
	t := b.t
	t.Helper()
	if got := b.delivered(); !slices.Equal(got, abortTexts) {
		t.Errorf("delivered %q, want %q", got, abortTexts)
	}
	b.view(func(tx engine.ReadTx) error {
		runs, err := tx.Runs(engine.RunFilter{})
		if err != nil {
			return err
		}
		if len(runs) != 1 || runs[0].Status != engine.RunCompleted {
			t.Errorf("runs = %d, want one completed run:\n%s", len(runs), b.books())
		}
		out, err := tx.Outbox(engine.OutboxFilter{})
		if err != nil {
			return err
		}
		var texts []string
		for _, o := range out {
			texts = append(texts, o.Message.Text)
			if o.Status != engine.OutboxSent {
				t.Errorf("outbox %d %q is %s, want sent", o.ID, o.Message.Text, o.Status)
			}
		}
		if !slices.Equal(texts, abortTexts) {
			t.Errorf("outbox %q, want %q", texts, abortTexts)
		}
		c, err := tx.Contact("main", "alice")
		if err != nil {
			return err
		}
		if c.Fields["name"] != "Alice" {
			t.Errorf("contact fields %v, want the name saved", c.Fields)
		}
		return nil
	})
	want := b.books()
	for _, ev := range []channels.Event{abortFollow, abortAnswer} {
		if err := b.e.Ingest(b.ctx, ev); err != nil {
			t.Fatalf("retry of %s: %v", ev.Kind, err)
		}
	}
	b.sync()
	if got := b.books(); got != want {
		t.Errorf("retried events changed the store:\nbefore:\n%s\nafter:\n%s", want, got)
	}
	if got := b.delivered(); !slices.Equal(got, abortTexts) {
		t.Errorf("after retries, delivered %q, want %q", got, abortTexts)
	}
}

// TestCrashAbortDispatch fails the dispatcher's transactions: a claim
// that fails sends nothing, and the messages go out once later; a finish
// that fails leaves messages that went out `sending`, which a restart
// turns to `unknown`, never sending them again.
func TestCrashAbortDispatch(t *testing.T) {
	t.Parallel()
	isClaim := func(first string) bool { return first == "ClaimOutbox" || first == "ClaimOutboxThrough" }
	isFinish := func(first string) bool { return first == "FinishOutbox" }

	// The points of each kind of transaction, without faults.
	rec := newAbortBundle(t)
	rec.fs.startRecording(isDispatch)
	if err := abortSteps[0].do(rec); err != nil {
		t.Fatal(err)
	}
	rec.sync()
	var claimPoints, finishPoints []string
	for _, tr := range rec.fs.stopRecording() {
		switch {
		case isClaim(tr[0]) && claimPoints == nil:
			claimPoints = tr
		case isFinish(tr[0]) && finishPoints == nil:
			finishPoints = tr
		}
	}
	if claimPoints == nil || finishPoints == nil {
		t.Fatalf("no claim or finish transaction was seen")
	}

	for n, point := range claimPoints {
		t.Run(fmt.Sprintf("claim/%d_%s", n+1, point), func(t *testing.T) {
			t.Parallel()
			b := newAbortBundle(t)
			b.fs.arm(n+1, isClaim)
			if err := abortSteps[0].do(b); err != nil {
				t.Fatalf("follow: %v", err)
			}
			b.sync()
			if hits := b.fs.hit(); len(hits) == 0 {
				t.Fatal("the fault never hit")
			}
			if got := b.delivered(); len(got) != 0 {
				t.Errorf("a failed claim sent %q", got)
			}
			b.fs.disarm()
			// A restart sends what is still pending.
			b.stop()
			b.start()
			if got := b.delivered(); !slices.Equal(got, abortTexts[:2]) {
				t.Fatalf("after a failed claim and a restart, delivered %q, want %q", got, abortTexts[:2])
			}
			for _, rest := range abortSteps[1:] {
				if err := rest.do(b); err != nil {
					t.Fatalf("%s: %v", rest.name, err)
				}
				b.sync()
			}
			b.checkDone()
		})
	}

	for n, point := range finishPoints {
		t.Run(fmt.Sprintf("finish/%d_%s", n+1, point), func(t *testing.T) {
			t.Parallel()
			b := newAbortBundle(t)
			b.fs.arm(n+1, isFinish)
			if err := abortSteps[0].do(b); err != nil {
				t.Fatalf("follow: %v", err)
			}
			b.sync()
			if hits := b.fs.hit(); len(hits) == 0 {
				t.Fatal("the fault never hit")
			}
			b.fs.disarm()
			if got := b.delivered(); !slices.Equal(got, abortTexts[:2]) {
				t.Fatalf("delivered %q, want %q", got, abortTexts[:2])
			}
			b.stop()
			b.start()
			if got := b.delivered(); !slices.Equal(got, abortTexts[:2]) {
				t.Fatalf("after a failed finish and a restart, delivered %q, want %q (nothing again)", got, abortTexts[:2])
			}
			b.view(func(tx engine.ReadTx) error {
				out, err := tx.Outbox(engine.OutboxFilter{})
				if err != nil {
					return err
				}
				for _, o := range out {
					if o.Status != engine.OutboxUnknown {
						t.Errorf("outbox %d %q is %s, want unknown: it went out, but its outcome was not recorded before the restart", o.ID, o.Message.Text, o.Status)
					}
				}
				return nil
			})
		})
	}
}

// The kill tests.

// crashFlow sends twice, a minute apart; every message names the follow
// that started its run, so that each can be traced to its run.
const crashFlow = `name: crash
reentry: restart
triggers: [follow]
steps:
  - send: "Welcome ${event.at.UnixNano()}"
  - wait: 1m
  - send: "Later ${event.at.UnixNano()}"
`

const (
	crashContacts  = 40
	crashMaxEvents = 600
	crashCycles    = 4
	crashWorkers   = 8
	// crashTick: the child moves its clock a minute every crashTick
	// events, so that waits come due and fire while it runs.
	crashTick = 50
)

var crashT0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// crashEvent is the i-th follow event of a cycle that started at start.
func crashEvent(i int, start time.Time) channels.Event {
	return channels.Event{Account: "main", Contact: fmt.Sprintf("c%03d", i%crashContacts), Kind: channels.Follow,
		At: start.Add(time.Duration(i) * 3 * time.Second)}
}

// crashChild is what the parent tells a child through its environment.
type crashChild struct {
	DB, Flows, Acks string
	Start           time.Time
	// Stuck is a contact whose first send never returns: the sends
	// claimed with it stay `sending` until the kill.
	Stuck string
}

const crashEnv = "WXFLOW_CRASH_CHILD"

// TestCrashChild is the child process of TestCrashKill9; on its own it
// does nothing.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("the child process of TestCrashKill9")
	}
	var cfg crashChild
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := runCrashChild(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
}

// stuckChannel is the simulated channel, but a send to the stuck contact
// never returns.
type stuckChannel struct {
	*sim.Channel
	stuck string
}

func (c stuckChannel) Send(ctx context.Context, account, contact string, msg *channels.Message) error {
	if contact == c.stuck {
		<-ctx.Done()
		return ctx.Err()
	}
	return c.Channel.Send(ctx, account, contact, msg)
}

func runCrashChild(cfg crashChild) error {
	ctx := context.Background()
	progress := os.NewFile(3, "progress")
	st, err := sqlite.Open(ctx, cfg.DB, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	clock := engine.NewVirtualClock(cfg.Start)
	e, err := engine.New(engine.Config{Store: st, Channel: stuckChannel{sim.New(nil, wechat.Settings{}), cfg.Stuck}, Clock: clock, Zone: time.UTC})
	if err != nil {
		return err
	}
	if err := e.Start(ctx); err != nil {
		return err
	}
	set, err := flows.LoadDir(cfg.Flows, flows.Options{})
	if err != nil {
		return err
	}
	if err := e.Load(ctx, set); err != nil {
		return err
	}
	acks, err := os.OpenFile(cfg.Acks, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, crashWorkers)
	for range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= crashMaxEvents {
					return
				}
				ev := crashEvent(i, cfg.Start)
				if err := e.Ingest(ctx, ev); err != nil {
					errs <- fmt.Errorf("ingest %d: %w", i, err)
					return
				}
				// Acknowledged: write it down, durably, then tell the parent.
				mu.Lock()
				_, err := fmt.Fprintf(acks, "%s\n", ev.DedupeKey())
				if err == nil {
					err = acks.Sync()
				}
				if err == nil {
					_, err = fmt.Fprintf(progress, "%d\n", i)
				}
				if (i+1)%crashTick == 0 {
					clock.Set(cfg.Start.Add(time.Duration((i+1)/crashTick) * time.Minute))
				}
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Fprintln(progress, "done")
	// Wait to be killed: the parent never closes our stdin first.
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	return errors.New("stdin closed before the kill")
}

// killChildAfter starts a child, waits until it has acknowledged target
// events and kills it with SIGKILL.
func killChildAfter(t *testing.T, cfg crashChild, target int) (acked int, done bool) {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(raw))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{pw}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	sc := bufio.NewScanner(pr)
	for acked < target && sc.Scan() {
		if sc.Text() == "done" {
			done = true
			break
		}
		acked++
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill: %v", err)
	}
	err = cmd.Wait()
	pr.Close()
	if ctx.Err() != nil {
		t.Fatalf("child timed out:\n%s", out.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("child ended with %v before it was killed (acked %d of %d):\n%s", err, acked, target, out.String())
	}
	if strings.Contains(out.String(), "DATA RACE") {
		t.Fatalf("the child found a data race:\n%s", out.String())
	}
	return acked, done
}

// TestCrashKill9 kills an engine that is ingesting follow events with
// SIGKILL at a random moment, a few times over, and after each kill
// restarts an engine on the same file and checks the books: every
// acknowledged event is stored with its run, each run's messages are in
// the outbox once, and what was being sent is `unknown`, not sent again.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	dir := t.TempDir()
	cfg := crashChild{DB: filepath.Join(dir, "wxflow.db"), Flows: filepath.Join(dir, "flows"), Acks: filepath.Join(dir, "acks")}
	set := loadFlows(t, cfg.Flows, map[string]string{"crash.yaml": crashFlow})
	rng := rand.New(rand.NewPCG(20261120, 9))
	ledger := &crashLedger{delivered: map[string]int{}}
	for cycle := range crashCycles {
		cfg.Start = crashT0.Add(time.Duration(cycle) * time.Hour)
		cfg.Stuck = ""
		if cycle%2 == 1 {
			cfg.Stuck = fmt.Sprintf("c%03d", rng.IntN(crashContacts))
		}
		target := 60 + rng.IntN(300)
		acked, done := killChildAfter(t, cfg, target)
		t.Logf("cycle %d: killed after %d acknowledged events (target %d, all done %v, stuck contact %q)", cycle, acked, target, done, cfg.Stuck)
		ledger.restart(t, cfg, set, cycle)
	}
	if ledger.recovered == 0 {
		t.Error("no kill left a message `sending`: the recovery was never tested")
	}
	t.Logf("%d events acknowledged, %d runs, %d messages; %d sends recovered as unknown, %d sent after a restart",
		ledger.acked, ledger.runs, ledger.messages, ledger.recovered, ledger.resent)
}

// crashLedger keeps what the parent learnt over the cycles.
type crashLedger struct {
	// delivered counts the parent's deliveries per message text.
	delivered                                map[string]int
	acked, runs, messages, recovered, resent int
}

// restart opens the store a child left, starts an engine on it, lets it
// finish every run and checks the books.
func (l *crashLedger) restart(t *testing.T, cfg crashChild, set *flows.Set, cycle int) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.DB, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// What the kill left in the outbox, as stored: sending is a message
	// whose request was about to start or under way (the store's view
	// also shows a claimed message not yet started as sending; the next
	// process sends those).
	before := map[int64]engine.OutboxStatus{}
	raw, err := sql.Open("sqlite3", "file:"+cfg.DB+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := raw.QueryContext(ctx, `SELECT id, CASE WHEN status = 'pending' AND id IN (SELECT id FROM outbox_started) THEN 'sending' ELSE status END FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var status engine.OutboxStatus
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		before[id] = status
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	raw.Close()
	ch := sim.New(nil, wechat.Settings{})
	// Past every wait the child started.
	clock := engine.NewVirtualClock(cfg.Start.Add(59 * time.Minute))
	e, err := engine.New(engine.Config{Store: st, Channel: ch, Clock: clock, Zone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	if err := e.Load(ctx, set); err != nil {
		t.Fatal(err)
	}
	if err := e.FireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// The timer loop may still be about to look for due timers; a Sync
	// after our own FireDue covers what it finds.
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	thisCycle := map[string]int{}
	for _, d := range ch.Delivered() {
		l.delivered[d.Message.Text]++
		thisCycle[d.Message.Text]++
	}

	// Every acknowledged event is stored.
	acks, err := os.ReadFile(cfg.Acks)
	if err != nil {
		t.Fatal(err)
	}
	events := crashEvents(t, cfg.DB)
	l.acked = 0
	for line := range strings.Lines(string(acks)) {
		if !strings.HasSuffix(line, "\n") {
			continue // cut by the kill
		}
		l.acked++
		if _, ok := events[strings.TrimSuffix(line, "\n")]; !ok {
			t.Errorf("cycle %d: acknowledged event %s is not stored", cycle, strings.TrimSpace(line))
		}
	}

	var runs []*engine.Run
	var out []*engine.OutboxEntry
	if err := st.View(ctx, func(tx engine.ReadTx) error {
		var err error
		if runs, err = tx.Runs(engine.RunFilter{}); err != nil {
			return err
		}
		out, err = tx.Outbox(engine.OutboxFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l.runs, l.messages = len(runs), len(out)

	// Every stored follow has exactly one run, and every run its follow.
	runOf := map[string]*engine.Run{}
	for _, r := range runs {
		if r.State.Event == nil {
			t.Errorf("run %d has no event", r.ID)
			continue
		}
		k := r.Contact + "|" + strconv.FormatInt(r.State.Event.At.UnixNano(), 10)
		if prev, ok := runOf[k]; ok {
			t.Errorf("cycle %d: runs %d and %d were both started by the follow of %s", cycle, prev.ID, r.ID, k)
		}
		runOf[k] = r
		if r.Status != engine.RunCompleted && r.Status != engine.RunRestarted {
			t.Errorf("cycle %d: run %d of %s is %s, want completed or restarted", cycle, r.ID, r.Contact, r.Status)
		}
	}
	follows := map[string]int{}
	for _, ev := range events {
		follows[ev.Contact]++
		if _, ok := runOf[ev.Contact+"|"+strconv.FormatInt(ev.At.UnixNano(), 10)]; !ok {
			t.Errorf("cycle %d: the follow of %s at %v has no run", cycle, ev.Contact, ev.At)
		}
	}
	perContact := map[string]int{}
	for _, r := range runs {
		perContact[r.Contact]++
	}
	for c, n := range perContact {
		if n > follows[c] {
			t.Errorf("cycle %d: %s has %d runs for %d follows", cycle, c, n, follows[c])
		}
	}

	// Each run's messages are in the outbox once.
	byRun := map[int64][]*engine.OutboxEntry{}
	for _, o := range out {
		byRun[o.RunID] = append(byRun[o.RunID], o)
	}
	for _, r := range runs {
		at := strconv.FormatInt(r.State.Event.At.UnixNano(), 10)
		want := []string{"Welcome " + at}
		if r.Status == engine.RunCompleted {
			want = append(want, "Later "+at)
		}
		var got []string
		for _, o := range byRun[r.ID] {
			got = append(got, o.Message.Text)
		}
		if !slices.Equal(got, want) {
			t.Errorf("cycle %d: run %d (%s) has messages %q, want %q", cycle, r.ID, r.Status, got, want)
		}
		delete(byRun, r.ID)
	}
	for id, entries := range byRun {
		t.Errorf("cycle %d: %d messages of run %d, which does not exist", cycle, len(entries), id)
	}

	// Statuses: nothing left to send; what was being sent at the kill is
	// unknown and was not sent again; the rest went out once.
	for _, o := range out {
		was, existed := before[o.ID]
		n := thisCycle[o.Message.Text]
		switch {
		case o.Status == engine.OutboxPending || o.Status == engine.OutboxSending:
			t.Errorf("cycle %d: outbox %d %q is still %s", cycle, o.ID, o.Message.Text, o.Status)
		case existed && was == engine.OutboxSending:
			l.recovered++
			if o.Status != engine.OutboxUnknown {
				t.Errorf("cycle %d: outbox %d %q was sending at the kill and is now %s, want unknown", cycle, o.ID, o.Message.Text, o.Status)
			}
			if n > 0 {
				t.Errorf("cycle %d: outbox %d %q was sending at the kill and was sent again", cycle, o.ID, o.Message.Text)
			}
		case existed && was != engine.OutboxPending:
			if o.Status != was {
				t.Errorf("cycle %d: outbox %d %q was %s at the kill and is now %s", cycle, o.ID, o.Message.Text, was, o.Status)
			}
			if n > 0 {
				t.Errorf("cycle %d: outbox %d %q was %s at the kill and was sent again", cycle, o.ID, o.Message.Text, was)
			}
		case o.Status == engine.OutboxSent:
			// Pending at the kill, or reserved since: sent by this engine.
			l.resent++
			if n != 1 {
				t.Errorf("cycle %d: outbox %d %q is sent, and this engine sent it %d times", cycle, o.ID, o.Message.Text, n)
			}
		}
	}
	for text, n := range l.delivered {
		if n > 1 {
			t.Errorf("cycle %d: %q was delivered %d times after restarts", cycle, text, n)
		}
	}
}

// crashEvents reads the events table: dedupe key -> event.
func crashEvents(t *testing.T, file string) map[string]channels.Event {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key, payload FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]channels.Event{}
	for rows.Next() {
		var key, payload string
		if err := rows.Scan(&key, &payload); err != nil {
			t.Fatal(err)
		}
		var ev channels.Event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			t.Fatal(err)
		}
		out[key] = ev
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
