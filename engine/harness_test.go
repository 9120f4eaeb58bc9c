package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// harness extends the bundle of engine_test.go: the engine's Config can
// be tuned, the engine stopped and opened again on the same database, the
// flows replaced, and the store read in one line.
type harness struct {
	*bundle
	// tune changes the Config of every engine the harness opens.
	tune func(*engine.Config)
	// msgID numbers the messages the harness sends, for dedupe.
	msgID int
	// closeStore closes the current store once.
	closeStore func()
	// lastAt is the time of the last event replyTo ingested.
	lastAt time.Time
}

// opts are what a test may change about its harness.
type opts struct {
	// settings are the sim channel's per-account settings; def is the
	// default account's.
	settings map[string]wechat.Settings
	def      wechat.Settings
	// tune changes the engine's Config.
	tune func(*engine.Config)
	// start is the virtual clock's start (default t0).
	start time.Time
}

// newHarness starts an engine with the given flow files (name -> YAML).
func newHarness(t *testing.T, files map[string]string) *harness {
	t.Helper()
	return newHarnessWith(t, files, opts{})
}

// newHarnessWith starts an engine with the given flows and options.
func newHarnessWith(t *testing.T, files map[string]string, o opts) *harness {
	t.Helper()
	dir := t.TempDir()
	start := o.start
	if start.IsZero() {
		start = t0
	}
	b := &bundle{t: t, ctx: context.Background(), dir: filepath.Join(dir, "flows"), db: filepath.Join(dir, "wxflow.db"), clock: engine.NewVirtualClock(start)}
	b.ch = sim.New(o.settings, o.def)
	h := &harness{bundle: b, tune: o.tune}
	h.writeFlows(files)
	h.openEngine()
	h.loadFlows()
	return h
}

// writeFlows replaces the flow folder's files.
func (h *harness) writeFlows(files map[string]string) {
	h.t.Helper()
	if err := os.RemoveAll(h.dir); err != nil {
		h.t.Fatal(err)
	}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte(src), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
}

// loadFlows loads the flow folder into the engine.
func (h *harness) loadFlows() {
	h.t.Helper()
	set, err := flows.LoadDir(h.dir, flows.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		h.t.Fatalf("flows: %v", set.Diags.Err())
	}
	if err := h.e.Load(h.ctx, set); err != nil {
		h.t.Fatal(err)
	}
	h.sync()
}

// reload replaces the flows and loads them into the running engine.
func (h *harness) reload(files map[string]string) {
	h.t.Helper()
	h.writeFlows(files)
	h.loadFlows()
}

// openEngine opens the store and starts a fresh engine on it.
func (h *harness) openEngine() {
	h.t.Helper()
	st, err := openStore(h.t, h.ctx, h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	more := openWriters(h.t, h.ctx, h.db)
	cfg := engine.Config{Store: st, Channel: h.ch, Clock: h.clock, Zone: time.UTC, Writers: more}
	if h.tune != nil {
		h.tune(&cfg)
		if _, ok := cfg.Store.(engine.Node); !ok && len(more) > 0 {
			// The test wraps the store to make it fail: it runs on that
			// store alone, as one writer.
			closeAll(more)
			more, cfg.Writers = nil, nil
		}
	}
	e, err := engine.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := e.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.store, h.e = st, e
	var once sync.Once
	h.closeStore = func() { once.Do(func() { e.Stop(); st.Close(); closeAll(more) }) }
	h.t.Cleanup(h.closeStore)
}

// stop stops the engine and closes its store, as a shutdown would.
func (h *harness) stop() {
	h.t.Helper()
	h.sync()
	h.closeStore()
}

// restart stops the engine, replaces the flow folder with files, opens
// the same database with a fresh engine and loads only the new flows.
func (h *harness) restart(files map[string]string) {
	h.t.Helper()
	h.stop()
	h.writeFlows(files)
	h.openEngine()
	h.loadFlows()
}

// send ingests an event for alice on account main (unless the event
// names others). Events without a MsgID happen one second after the
// previous one, so that their dedupe keys differ; messages get a fresh
// MsgID.
func (h *harness) send(ev channels.Event) {
	h.t.Helper()
	if ev.Kind.IsMessage() && ev.MsgID == "" {
		h.msgID++
		ev.MsgID = fmt.Sprint(h.msgID)
	}
	if ev.MsgID == "" && ev.At.IsZero() {
		h.clock.Advance(time.Second)
		ev.At = h.clock.Now()
	}
	h.ingest(ev)
}

func (h *harness) follow(scene string) { h.send(channels.Event{Kind: channels.Follow, Scene: scene}) }
func (h *harness) scan(scene string)   { h.send(channels.Event{Kind: channels.Scan, Scene: scene}) }
func (h *harness) menu(key string)     { h.send(channels.Event{Kind: channels.MenuClick, Key: key}) }
func (h *harness) unfollow()           { h.send(channels.Event{Kind: channels.Unfollow}) }
func (h *harness) say(text string)     { h.send(channels.Event{Kind: channels.Text, Text: text}) }

// sayAs sends a text from another contact.
func (h *harness) sayAs(contact, text string) {
	h.send(channels.Event{Kind: channels.Text, Contact: contact, Text: text})
}

// advance moves the clock, fires what came due and waits for the work.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clock.Advance(d)
	h.fire()
}

// fire fires the due timers and schedules and waits for the work.
func (h *harness) fire() {
	h.t.Helper()
	if err := h.e.FireDue(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.sync()
}

// view runs fn in a read transaction of the current store.
func (h *harness) view(fn func(tx engine.ReadTx) error) {
	h.t.Helper()
	if err := h.e.Store().View(h.ctx, fn); err != nil {
		h.t.Fatal(err)
	}
}

// runs returns the runs of a flow ("" for all) of every contact, oldest
// first.
func (h *harness) runs(flow string) []*engine.Run {
	h.t.Helper()
	var out []*engine.Run
	h.view(func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Runs(engine.RunFilter{Flow: flow})
		return err
	})
	slices.Reverse(out)
	return out
}

// runsOf returns a contact's runs of a flow ("" for all), oldest first.
func (h *harness) runsOf(contact, flow string) []*engine.Run {
	h.t.Helper()
	var out []*engine.Run
	for _, r := range h.runs(flow) {
		if r.Contact == contact {
			out = append(out, r)
		}
	}
	return out
}

// statuses describes runs as "flow:status" joined by spaces, oldest
// first.
func statuses(runs []*engine.Run) string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Flow+":"+string(r.Status))
	}
	return strings.Join(out, " ")
}

// wantRuns checks every run of every contact, oldest first.
func (h *harness) wantRuns(want string) {
	h.t.Helper()
	if got := statuses(h.runs("")); got != want {
		h.t.Fatalf("runs:\n got %q\nwant %q", got, want)
	}
}

// only returns the one run of a flow, failing when there is not exactly
// one.
func (h *harness) only(flow string) *engine.Run {
	h.t.Helper()
	runs := h.runs(flow)
	if len(runs) != 1 {
		h.t.Fatalf("%d runs of %s, want 1: %s", len(runs), flow, statuses(runs))
	}
	return runs[0]
}

// outbox returns alice's outbox, in order.
func (h *harness) outbox() []*engine.OutboxEntry { return h.outboxOf("alice") }

// outboxOf returns a contact's outbox, in order.
func (h *harness) outboxOf(contact string) []*engine.OutboxEntry {
	h.t.Helper()
	var out []*engine.OutboxEntry
	h.view(func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Outbox(engine.OutboxFilter{Account: "main", Contact: contact})
		return err
	})
	return out
}

// transcript describes alice's outbox: "text" for a sent message and
// "text [status reason]" for the others, joined by " | ".
func (h *harness) transcript() string { return transcript(h.outbox()) }

func transcript(entries []*engine.OutboxEntry) string {
	var out []string
	for _, o := range entries {
		s := o.Message.Text
		if o.Message.Type != "text" && o.Message.Type != "" {
			s = o.Message.Type + ":" + s
		}
		if o.Status != engine.OutboxSent {
			s += " [" + string(o.Status)
			if o.Reason != "" {
				s += " " + string(o.Reason)
			}
			s += "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " | ")
}

// wantTranscript checks alice's whole outbox.
func (h *harness) wantTranscript(want string) {
	h.t.Helper()
	if got := h.transcript(); got != want {
		h.t.Fatalf("outbox:\n got %q\nwant %q", got, want)
	}
}

// contact returns a contact of account main.
// session returns the contact's session of account main, as stored.
func (h *harness) session(contact string) channels.Session {
	h.t.Helper()
	var s channels.Session
	h.view(func(tx engine.ReadTx) error {
		var err error
		s, _, err = tx.Session("main", contact)
		return err
	})
	return s
}

func (h *harness) contact(id string) *engine.Contact {
	h.t.Helper()
	var c *engine.Contact
	h.view(func(tx engine.ReadTx) error {
		var err error
		c, err = tx.Contact("main", id)
		return err
	})
	return c
}

// plainClient is an HTTP client that may call the test servers on
// loopback.
func plainClient() *http.Client { return &http.Client{Transport: &http.Transport{}} }
