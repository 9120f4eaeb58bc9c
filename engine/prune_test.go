package engine_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

const pruneWelcome = `name: welcome
triggers: [follow]
steps:
  - send: "Welcome!"
`

const pruneSurvey = `name: survey
triggers:
  - menu: SURVEY
steps:
  - ask: "How did we do?"
    timeout: 30d
  - send: "Thanks: ${answer}"
`

// pruner returns a pruner of the harness's engine that does not pause
// between batches (the virtual clock would hold it).
func (h *harness) pruner(r engine.Retention, batch int) *engine.Pruner {
	h.t.Helper()
	p, err := engine.NewPruner(h.e, engine.PrunerConfig{Retention: r, Batch: batch, Pause: -1})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// prune runs one pass of a pruner and returns what it deleted.
func (h *harness) prune(p *engine.Pruner) engine.Pruned {
	h.t.Helper()
	n, err := p.Prune(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// count returns the number of rows of a table.
func (h *harness) count(table string) int {
	h.t.Helper()
	var n map[string]int
	h.view(func(tx engine.ReadTx) error {
		var err error
		n, err = tx.Counts()
		return err
	})
	return n[table]
}

// locate sends alice's location report.
func (h *harness) locate() {
	h.send(channels.Event{Kind: channels.LocationReport, Location: &channels.Geo{Lat: 31.2, Lng: 121.5}})
}

func TestPrunerKeepsWhatActiveRunsNeed(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": pruneWelcome, "survey.yaml": pruneSurvey})
	h.follow("")
	for range 5 {
		h.locate()
	}
	h.menu("SURVEY") // alice's survey waits for her answer for 30 days
	h.send(channels.Event{Kind: channels.Follow, Contact: "bob"})
	h.send(channels.Event{Kind: channels.Follow, Contact: "carol"})
	h.wantRuns("welcome:completed survey:waiting_reply welcome:completed welcome:completed")
	if got := h.count("events"); got != 9 {
		t.Fatalf("%d events stored, want 9", got)
	}
	// An operator's image, uploaded now, and another two hours later.
	upload := func(key string) {
		t.Helper()
		err := h.e.Store().Update(h.ctx, func(tx engine.Tx) error {
			return tx.(engine.UploadStore).SaveUpload(&engine.Upload{Key: key, Data: []byte(key), Created: h.e.Clock().Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	upload("old.png")
	h.advance(2 * time.Hour)
	upload("new.png")
	all := time.Hour
	p := h.pruner(engine.Retention{Dedupe: all, Locations: all, Runs: all, Messages: all, Transcript: all}, 2)
	got := h.prune(p)
	// Carol's welcome is the newest run, and its message the newest: they
	// stay, so that their IDs are never given out again.
	want := engine.Pruned{Events: 4, Locations: 5, Runs: 2, Messages: 2, Uploads: 1}
	if got != want {
		t.Errorf("pruned %+v, want %+v", got, want)
	}
	h.wantRuns("survey:waiting_reply welcome:completed")
	if got := h.count("timers"); got != 1 {
		t.Errorf("%d timers left, want the survey's", got)
	}
	if again := h.prune(p); again.Total() != 0 {
		t.Errorf("a second pass pruned %+v, want nothing", again)
	}
	st := h.e.Stats().Pruned
	for k, n := range map[string]uint64{"events": 4, "locations": 5, "runs": 2, "messages": 2, "uploads": 1} {
		if st[k] != n {
			t.Errorf("Stats().Pruned[%s] = %d, want %d", k, st[k], n)
		}
	}
	h.view(func(tx engine.ReadTx) error {
		us := tx.(engine.UploadStore)
		if _, err := us.Upload("old.png"); err != engine.ErrNotFound {
			t.Errorf("the old upload: %v, want it pruned", err)
		}
		if _, err := us.Upload("new.png"); err != nil {
			t.Errorf("the new upload: %v", err)
		}
		return nil
	})
	// The waiting run kept its question, and goes on.
	h.wantTranscript("How did we do?")
	h.say("great")
	h.wantTranscript("How did we do? | Thanks: great")
}

func TestPrunerKeepsDedupeKeys(t *testing.T) {
	h := newHarness(t, map[string]string{"survey.yaml": pruneSurvey})
	h.menu("SURVEY")
	h.send(channels.Event{Kind: channels.Text, Text: "first", MsgID: "m1"})
	h.wantTranscript("How did we do? | Thanks: first")
	// Transcript is short, dedupe long: the key stays for its dedupe
	// time, and a retry is still recognised.
	p := h.pruner(engine.Retention{Dedupe: 3 * time.Hour, Transcript: time.Minute}, 100)
	h.advance(2 * time.Hour)
	if got := h.prune(p); got.Events != 0 {
		t.Fatalf("pruned %d events within their dedupe time", got.Events)
	}
	h.menu("SURVEY")
	h.send(channels.Event{Kind: channels.Text, Text: "first", MsgID: "m1"}) // a late retry
	h.wantTranscript("How did we do? | Thanks: first | How did we do?")
	h.advance(2 * time.Hour)
	// The first click and the answer are 4h old; the second click 2h.
	if got := h.prune(p); got.Events != 2 {
		t.Fatalf("pruned %d events past their dedupe time, want 2", got.Events)
	}
}

func TestPrunerKeepsRunsForCooldown(t *testing.T) {
	cooled := "name: welcome\ncooldown: 30d\ntriggers: [follow]\nsteps:\n  - send: \"Welcome!\"\n"
	h := newHarness(t, map[string]string{"welcome.yaml": cooled})
	h.follow("")
	h.send(channels.Event{Kind: channels.Follow, Contact: "bob"}) // the newest run, never pruned
	h.advance(2 * 24 * time.Hour)
	p := h.pruner(engine.Retention{Runs: 24 * time.Hour}, 100)
	if got := h.prune(p); got.Runs != 0 {
		t.Fatalf("pruned %d runs within the flow's cooldown", got.Runs)
	}
	h.follow("")
	h.wantRuns("welcome:completed welcome:completed")
	h.advance(31 * 24 * time.Hour)
	if got := h.prune(p); got.Runs != 1 {
		t.Fatalf("pruned %d runs past the cooldown, want alice's", got.Runs)
	}
}

func TestPrunerRefusesShortRetention(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": pruneWelcome})
	_, err := engine.NewPruner(h.e, engine.PrunerConfig{Retention: engine.Retention{Dedupe: 10 * time.Second}})
	if err == nil || !strings.Contains(err.Error(), "dedupe") {
		t.Fatalf("NewPruner with dedupe 10s: %v, want an error naming dedupe", err)
	}
}

// TestPrunerService: a started pruner prunes at once and again every
// Every on the engine's clock, and Stop ends it.
func TestPrunerService(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": pruneWelcome})
	for _, c := range []string{"a", "b", "c"} {
		h.send(channels.Event{Kind: channels.Follow, Contact: c})
	}
	h.advance(2 * time.Hour)
	p, err := engine.NewPruner(h.e, engine.PrunerConfig{Retention: engine.Retention{Dedupe: time.Hour, Transcript: time.Hour}, Every: time.Hour, Pause: -1})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(h.ctx)
	defer p.Stop()
	h.waitPruned("events", 3)
	h.send(channels.Event{Kind: channels.Follow, Contact: "d"})
	h.clock.Advance(2 * time.Hour) // the next pass
	h.waitPruned("events", 4)
	p.Stop()
	p.Stop()
}

// waitPruned waits until the engine counted n rows of a kind pruned.
func (h *harness) waitPruned(kind string, n uint64) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	for h.e.Stats().Pruned[kind] < n {
		select {
		case <-ctx.Done():
			h.t.Fatalf("pruned %d %s, want %d", h.e.Stats().Pruned[kind], kind, n)
		default:
			runtime.Gosched()
		}
	}
}

// TestPrunerPrunesEventNotesInBatches: the notes of events that started
// nothing go with their events, a batch at a time like everything else.
func TestPrunerPrunesEventNotesInBatches(t *testing.T) {
	h := newHarness(t, map[string]string{"welcome.yaml": pruneWelcome})
	for i := range 5 {
		h.send(channels.Event{Kind: channels.Text, Text: "hello", MsgID: "m" + string(rune('a'+i))})
	}
	notes := func() int {
		var n []*engine.EventNote
		h.view(func(tx engine.ReadTx) error {
			var err error
			n, err = tx.EventNotes("main", "alice", 100)
			return err
		})
		return len(n)
	}
	if n := notes(); n != 5 {
		t.Fatalf("%d event notes, want 5", n)
	}
	p := h.pruner(engine.Retention{Dedupe: time.Hour, Transcript: time.Hour}, 2)
	h.advance(2 * time.Hour)
	if got := h.prune(p); got.Events != 5 {
		t.Errorf("pruned %d events, want 5", got.Events)
	}
	if n := notes(); n != 0 {
		t.Errorf("%d event notes left after their events went", n)
	}
}
