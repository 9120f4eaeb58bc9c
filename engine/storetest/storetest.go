package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// Run runs the conformance suite against the stores open makes. Every
// subtest calls open once and must get a new, empty store of its own;
// subtests run in parallel. Run closes each store when its subtest ends,
// so open should not register a Close of its own.
func Run(t *testing.T, open func(t *testing.T) engine.Store) {
	t.Helper()
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					s := open(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					c.fn(t, s)
				})
			}
		})
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T, s engine.Store)
}

type group struct {
	name  string
	cases []testCase
}

var groups = []group{
	{"Update", []testCase{
		{"CommitsEveryWrite", testUpdateCommits},
		{"ErrorStoresNothing", testUpdateErrorStoresNothing},
		{"ReadsItsOwnWrites", testUpdateReadsOwnWrites},
		{"CancelledContext", testUpdateCancelled},
	}},
	{"View", []testCase{
		{"SeesCommitted", testViewSeesCommitted},
		{"IsolatedFromOpenUpdate", testViewIsolated},
	}},
	{"AddEvent", []testCase{
		{"Dedupe", testAddEventDedupe},
		{"PassiveReply", testEventReply},
		{"Notes", testEventNotes},
		{"BatchDedupe", testAddEventsDedupe},
		{"BatchReadsOwnWrites", testAddEventsReadsOwnWrites},
	}},
	{"Uploads", []testCase{
		{"SaveReadAndPrune", testUploads},
	}},
	{"Logins", []testCase{
		{"SaveEndAndExpire", testLogins},
	}},
	{"Writes", []testCase{
		{"OneRowInOrder", testWritesOfOneRowInOrder},
	}},
	{"Contact", []testCase{
		{"RoundTrip", testContactRoundTrip},
		{"Upsert", testContactUpsert},
		{"EmptyTagsAndFields", testContactEmpty},
		{"NotFound", testContactNotFound},
	}},
	{"Contacts", []testCase{
		{"OrderPagingAndFollowed", testContactsPaging},
		{"ContactsOf", testContactsOf},
		{"ActiveRunsOf", testActiveRunsOf},
	}},
	{"Session", []testCase{
		{"RoundTrip", testSessionRoundTrip},
		{"ZeroState", testSessionZero},
		{"Absent", testSessionAbsent},
		{"Upsert", testSessionUpsert},
	}},
	{"Run", []testCase{
		{"InsertWithID", testInsertRunWithID},
		{"InsertWithoutID", testInsertRunWithoutID},
		{"NewRunID", testNewRunID},
		{"InsertDuplicateID", testInsertRunDuplicate},
		{"RoundTrip", testRunRoundTrip},
		{"Update", testUpdateRun},
		{"UpdateMissing", testUpdateRunMissing},
		{"NotFound", testRunNotFound},
	}},
	{"Runs", []testCase{
		{"FiltersNewestFirst", testRunsFilters},
		{"LastStart", testLastStart},
		{"BeforeID", testRunsBeforeID},
	}},
	{"ActiveSteps", []testCase{
		{"GroupsActiveRuns", testActiveSteps},
	}},
	{"Timers", []testCase{
		{"SetReplacesAndDelete", testTimerSetDelete},
		{"DueOrderAndLimit", testDueTimers},
		{"NextTimer", testNextTimer},
	}},
	{"Outbox", []testCase{
		{"InsertRoundTrip", testOutboxInsert},
		{"Claim", testOutboxClaim},
		{"ClaimThrough", testOutboxClaimThrough},
		{"Finish", testOutboxFinish},
		{"FinishSent", testOutboxFinishSent},
		{"Recover", testOutboxRecover},
		{"Held", testOutboxHeld},
		{"Filters", testOutboxFilters},
		{"Paging", testOutboxPaging},
	}},
	{"FlowVersion", []testCase{
		{"RoundTrip", testFlowVersionRoundTrip},
		{"ContentAddressed", testFlowVersionKeepsFirst},
		{"NotFound", testFlowVersionNotFound},
	}},
	{"Schedules", []testCase{
		{"SetReplaceDelete", testSchedules},
	}},
	{"ChannelState", []testCase{
		{"PutExpirePurge", testChannelState},
	}},
	{"Savepoint", []testCase{
		{"ErrorUndoesOnlyItsWrites", testSavepointError},
		{"SuccessKeepsWrites", testSavepointSuccess},
		{"Nested", testSavepointNested},
		{"FailedWriteInside", testSavepointFailedWrite},
		{"UpdateErrorUndoesIt", testSavepointThenUpdateError},
	}},
	{"Times", []testCase{
		{"NanosecondsInUTC", testTimes},
	}},
	{"Counts", []testCase{
		{"EveryTable", testCounts},
	}},
	{"Conversations", []testCase{
		{"ContactKeepsIt", testConvRoundTrip},
		{"BatchKeepsIt", testConvBatch},
		{"ListFiltersAndPages", testConvList},
		{"ListReadsOwnWrites", testConvListReadsOwnWrites},
		{"Stale", testConvStale},
		{"OpenCounts", testConvCounts},
		{"Notes", testConvNotes},
		{"RecentEvents", testRecentEvents},
	}},
	{"Prune", []testCase{
		{"Events", testPruneEvents},
		{"Runs", testPruneRuns},
		{"Outbox", testPruneOutbox},
		{"OutboxAfterAClockJump", testPruneOutboxAfterAClockJump},
		{"IDsNotReused", testPruneIDsNotReused},
	}},
}

// errBoom is the error the suite's transactions fail with on purpose.
var errBoom = errors.New("storetest: boom")

// zone is not UTC, so that the suite sees stores hand back UTC.
var zone = time.FixedZone("UTC+8", 8*60*60)

// t0 has nanoseconds, so that the suite sees stores keep them.
var t0 = time.Date(2026, 11, 20, 18, 4, 5, 123456789, zone)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func update(t *testing.T, s engine.Store, fn func(tx engine.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s engine.Store, fn func(tx engine.ReadTx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func counts(t *testing.T, s engine.Store) map[string]int {
	t.Helper()
	var n map[string]int
	view(t, s, func(tx engine.ReadTx) error {
		var err error
		n, err = tx.Counts()
		return err
	})
	return n
}

// tables are the names Counts reports.
var tables = []string{"contacts", "sessions", "events", "runs", "timers", "outbox", "schedules", "flow_versions", "conv_notes"}

func checkCounts(t *testing.T, s engine.Store, want map[string]int) {
	t.Helper()
	got := counts(t, s)
	for _, table := range tables {
		if got[table] != want[table] {
			t.Errorf("Counts()[%q] = %d, want %d", table, got[table], want[table])
		}
	}
}

// checkTime reports a time that does not come back equal, to the
// nanosecond, and in UTC. A zero time must come back zero.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v, want the zero time", what, got)
		}
		return
	}
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got.Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
	}
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

func mustEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s =\n  %#v\nwant\n  %#v", what, got, want)
	}
}

func checkContact(t *testing.T, got, want *engine.Contact) {
	t.Helper()
	if got == nil {
		t.Fatalf("contact %s/%s: nil", want.Account, want.ID)
	}
	checkTime(t, "Contact.FirstSeen", got.FirstSeen, want.FirstSeen)
	checkTime(t, "Contact.LastSeen", got.LastSeen, want.LastSeen)
	g, w := *got, *want
	g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(g.Tags) == 0 && len(w.Tags) == 0 {
		g.Tags, w.Tags = nil, nil
	}
	if len(g.Fields) == 0 && len(w.Fields) == 0 {
		g.Fields, w.Fields = nil, nil
	}
	mustEqual(t, "contact "+want.ID, g, w)
}

func checkSession(t *testing.T, got, want channels.Session) {
	t.Helper()
	checkTime(t, "Session.Last", got.Last, want.Last)
	got.Last, want.Last = time.Time{}, time.Time{}
	mustEqual(t, "session", got, want)
}

func checkRun(t *testing.T, got, want *engine.Run) {
	t.Helper()
	if got == nil {
		t.Fatalf("run %d: nil", want.ID)
	}
	checkTime(t, fmt.Sprintf("run %d StartedAt", want.ID), got.StartedAt, want.StartedAt)
	checkTime(t, fmt.Sprintf("run %d UpdatedAt", want.ID), got.UpdatedAt, want.UpdatedAt)
	checkTime(t, fmt.Sprintf("run %d EndedAt", want.ID), got.EndedAt, want.EndedAt)
	g, w := *got, *want
	g.StartedAt, g.UpdatedAt, g.EndedAt = time.Time{}, time.Time{}, time.Time{}
	w.StartedAt, w.UpdatedAt, w.EndedAt = time.Time{}, time.Time{}, time.Time{}
	mustEqual(t, fmt.Sprintf("run %d", want.ID), g, w)
}

func checkOutbox(t *testing.T, got, want *engine.OutboxEntry) {
	t.Helper()
	if got == nil {
		t.Fatalf("outbox %d: nil", want.ID)
	}
	checkTime(t, fmt.Sprintf("outbox %d CreatedAt", want.ID), got.CreatedAt, want.CreatedAt)
	checkTime(t, fmt.Sprintf("outbox %d UpdatedAt", want.ID), got.UpdatedAt, want.UpdatedAt)
	g, w := *got, *want
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	mustEqual(t, fmt.Sprintf("outbox %d", want.ID), g, w)
}

func runIDs(runs []*engine.Run) []int64 {
	out := []int64{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func outboxIDs(os []*engine.OutboxEntry) []int64 {
	out := []int64{}
	for _, o := range os {
		out = append(out, o.ID)
	}
	return out
}

func contactKeys(cs []*engine.Contact) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Account+"/"+c.ID)
	}
	return out
}

// Sample records.

func sampleContact(account, id string) *engine.Contact {
	return &engine.Contact{
		Account: account, ID: id, Followed: true,
		FirstSeen: at(0), LastSeen: at(90*time.Minute + 7),
		Tags: []string{"vip", "store_12"},
		Fields: map[string]any{
			"name":  "Alice",
			"age":   float64(31),
			"score": 4.75,
			"vip":   true,
			"off":   false,
			"none":  nil,
			"address": map[string]any{
				"city": "Shanghai",
				"geo":  map[string]any{"lat": 31.23, "lng": 121.47},
			},
			"orders": []any{"A-1", float64(2), map[string]any{"ok": true}},
		},
	}
}

func sampleRun(account, contact, flow string) *engine.Run {
	return &engine.Run{
		Account: account, Contact: contact, Flow: flow, Version: "sha256:" + flow,
		Status: engine.RunWaitingReply, Pos: "1/0/3", Step: "ask (line 7)", Seq: 3,
		StartedAt: at(time.Minute + 1), UpdatedAt: at(2*time.Minute + 2),
		State: engine.RunState{Vars: map[string]any{"n": float64(1)}},
	}
}

// numberedRun is a run with the given ID, started id minutes in, and
// ended a second later unless its status is active.
func numberedRun(id int64, account, contact, flow string, status engine.RunStatus) *engine.Run {
	r := sampleRun(account, contact, flow)
	r.ID, r.Status = id, status
	r.StartedAt = at(time.Duration(id) * time.Minute)
	if !status.Active() {
		r.EndedAt = at(time.Duration(id)*time.Minute + time.Second)
	}
	return r
}

func fullState() engine.RunState {
	return engine.RunState{
		Vars: map[string]any{
			"count": float64(3), "name": "Bob", "ok": true,
			"nested": map[string]any{"list": []any{"x", float64(1.5)}},
		},
		Answer: "42",
		HTTP: &flows.HTTPEnv{Status: 200, Body: map[string]any{"id": float64(7), "tags": []any{"a"}},
			Headers: map[string]string{"Content-Type": "application/json"}},
		Event: &flows.EventEnv{Type: "text", Text: "hello", Scene: "store_1", Key: "k", Match: []string{"hello", "h"},
			MediaID: "m1", Location: flows.LocationEnv{Lat: 1.5, Lng: 2.25, Scale: 15, Label: "here"},
			At: time.Date(2026, 11, 20, 10, 0, 0, 987654321, time.UTC)},
		Attempts: 2,
		Jumps:    5,
		Request: &steps.Request{Method: "POST", URL: "https://example.com/x", Headers: map[string]string{"X": "1"},
			Body: []byte(`{"a":1}`), Timeout: 10 * time.Second},
		Error:    "something went wrong",
		Response: &steps.HTTPResult{Status: 502, Headers: map[string]string{"Y": "2"}, Body: []byte("bad gateway"), Err: "upstream"},
	}
}

func sampleMessage(text string) channels.Message {
	return channels.Message{Type: "text", Text: text}
}

func richMessage() channels.Message {
	return channels.Message{
		Type: "video", Text: "watch", Title: "Title", Description: "Desc",
		Media: &channels.Media{Kind: "video", Path: "media/v.mp4", Size: 1234567},
		Thumb: &channels.Media{Kind: "thumb", URL: "https://example.com/t.jpg", MediaID: "mid"},
		News:  &channels.News{Title: "N", Description: "d", URL: "https://example.com", PicURL: "https://example.com/p.jpg"},
		Menu:  &channels.Menu{Head: "Pick", Items: []channels.MenuItem{{ID: "1", Text: "one"}, {ID: "2", Text: "two"}}, Tail: "thanks"},
	}
}

func pending(account, contact, text string, runID int64, created time.Time) *engine.OutboxEntry {
	return &engine.OutboxEntry{RunID: runID, Account: account, Contact: contact, Message: sampleMessage(text),
		Status: engine.OutboxPending, CreatedAt: created, UpdatedAt: created}
}

// writeOneOfEach makes one write of every kind that adds a row.
func writeOneOfEach(tx engine.Tx) error {
	if _, err := tx.AddEvent(&engine.EventRecord{Key: "k1", Event: channels.Event{Account: "a", Contact: "alice", Kind: channels.Follow, At: at(0)}, ReceivedAt: at(1)}); err != nil {
		return err
	}
	if err := tx.PutContact(sampleContact("a", "alice")); err != nil {
		return err
	}
	if err := tx.PutSession("a", "alice", channels.Session{Followed: true, Last: at(0), Kind: channels.EventInteraction}); err != nil {
		return err
	}
	r := sampleRun("a", "alice", "welcome")
	if err := tx.InsertRun(r); err != nil {
		return err
	}
	if err := tx.SetTimer(engine.Timer{RunID: r.ID, Seq: r.Seq, Due: at(time.Hour)}); err != nil {
		return err
	}
	if err := tx.InsertOutbox(pending("a", "alice", "hi", r.ID, at(0))); err != nil {
		return err
	}
	if err := tx.PutFlowVersion(&engine.FlowVersion{Version: "sha256:1", Name: "welcome", File: "welcome.yaml", Source: []byte("name: welcome"), LoadedAt: at(0)}); err != nil {
		return err
	}
	return tx.SetSchedule("daily", at(24*time.Hour))
}

var oneOfEach = map[string]int{"contacts": 1, "sessions": 1, "events": 1, "runs": 1, "timers": 1, "outbox": 1, "schedules": 1, "flow_versions": 1}

// Update and View.

func testUpdateCommits(t *testing.T, s engine.Store) {
	update(t, s, writeOneOfEach)
	checkCounts(t, s, oneOfEach)
}

func testUpdateErrorStoresNothing(t *testing.T, s engine.Store) {
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if err := writeOneOfEach(tx); err != nil {
			return err
		}
		return fmt.Errorf("late failure: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the error of fn", err)
	}
	checkCounts(t, s, nil)
	view(t, s, func(tx engine.ReadTx) error {
		if _, err := tx.Contact("a", "alice"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Contact after a failed Update: err = %v, want ErrNotFound", err)
		}
		if _, ok, err := tx.Session("a", "alice"); ok || err != nil {
			t.Errorf("Session after a failed Update: ok = %v, err = %v", ok, err)
		}
		if _, ok, err := tx.NextTimer(); ok || err != nil {
			t.Errorf("NextTimer after a failed Update: ok = %v, err = %v", ok, err)
		}
		return nil
	})
	// The store is still usable, and the failed Update left no trace.
	update(t, s, writeOneOfEach)
	checkCounts(t, s, oneOfEach)
}

func testUpdateReadsOwnWrites(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		c := sampleContact("a", "alice")
		if err := tx.PutContact(c); err != nil {
			return err
		}
		got, err := tx.Contact("a", "alice")
		if err != nil {
			return fmt.Errorf("Contact: %w", err)
		}
		checkContact(t, got, c)
		r := sampleRun("a", "alice", "welcome")
		if err := tx.InsertRun(r); err != nil {
			return err
		}
		gr, err := tx.Run(r.ID)
		if err != nil {
			return fmt.Errorf("Run: %w", err)
		}
		checkRun(t, gr, r)
		o := pending("a", "alice", "hi", r.ID, at(0))
		if err := tx.InsertOutbox(o); err != nil {
			return err
		}
		os, err := tx.Outbox(engine.OutboxFilter{})
		if err != nil {
			return err
		}
		mustEqual(t, "Outbox ids", outboxIDs(os), []int64{o.ID})
		n, err := tx.Counts()
		if err != nil {
			return err
		}
		if n["contacts"] != 1 || n["runs"] != 1 || n["outbox"] != 1 {
			t.Errorf("Counts inside the transaction = %v", n)
		}
		return nil
	})
}

func testUpdateCancelled(t *testing.T, s engine.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, writeOneOfEach)
	if err == nil {
		t.Fatal("Update with a cancelled context succeeded")
	}
	checkCounts(t, s, nil)
}

func testViewSeesCommitted(t *testing.T, s engine.Store) {
	c := sampleContact("a", "alice")
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(c) })
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkContact(t, got, c)
		return nil
	})
	c2 := sampleContact("a", "alice")
	c2.Tags = []string{"changed"}
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(c2) })
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkContact(t, got, c2)
		return nil
	})
}

// testViewIsolated: a View beside an open Update neither waits for it nor
// sees what it has not committed (the engine reads while its writer
// writes).
func testViewIsolated(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(sampleContact("a", "before")) })
	update(t, s, func(tx engine.Tx) error {
		if err := tx.PutContact(sampleContact("a", "during")); err != nil {
			return err
		}
		type result struct {
			before, during error
			err            error
		}
		done := make(chan result, 1)
		go func() {
			var r result
			r.err = s.View(context.Background(), func(tx engine.ReadTx) error {
				_, r.before = tx.Contact("a", "before")
				_, r.during = tx.Contact("a", "during")
				return nil
			})
			done <- r
		}()
		select {
		case r := <-done:
			if r.err != nil {
				t.Errorf("View beside an open Update: %v", r.err)
			}
			if r.before != nil {
				t.Errorf("View beside an open Update cannot read a committed contact: %v", r.before)
			}
			if !errors.Is(r.during, engine.ErrNotFound) {
				t.Errorf("View beside an open Update sees its uncommitted contact (err = %v)", r.during)
			}
		case <-time.After(10 * time.Second):
			// A guard, not a measure: a View must not wait for a writer.
			t.Error("View waited for an open Update to end")
		}
		return nil
	})
}

// Events.

func testAddEventDedupe(t *testing.T, s engine.Store) {
	ev := &engine.EventRecord{Key: "main|alice|m1", Event: channels.Event{Account: "main", Contact: "alice", Kind: channels.Text, MsgID: "1", Text: "hi", At: at(0)}, ReceivedAt: at(1)}
	update(t, s, func(tx engine.Tx) error {
		added, err := tx.AddEvent(ev)
		if err != nil {
			return err
		}
		if !added {
			t.Error("first AddEvent: added = false")
		}
		again := *ev
		again.Event.Text = "a retry may differ"
		added, err = tx.AddEvent(&again)
		if err != nil {
			return err
		}
		if added {
			t.Error("AddEvent of the same key in the same transaction: added = true")
		}
		return nil
	})
	update(t, s, func(tx engine.Tx) error {
		added, err := tx.AddEvent(ev)
		if err != nil {
			return err
		}
		if added {
			t.Error("AddEvent of a key committed before: added = true")
		}
		other := *ev
		other.Key = "main|alice|m2"
		added, err = tx.AddEvent(&other)
		if err != nil {
			return err
		}
		if !added {
			t.Error("AddEvent of a new key: added = false")
		}
		return nil
	})
	checkCounts(t, s, map[string]int{"events": 2})
	// An event added by a transaction that failed was never recorded.
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		third := *ev
		third.Key = "main|alice|m3"
		if _, err := tx.AddEvent(&third); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v", err)
	}
	update(t, s, func(tx engine.Tx) error {
		third := *ev
		third.Key = "main|alice|m3"
		added, err := tx.AddEvent(&third)
		if err == nil && !added {
			t.Error("AddEvent of a key whose first add was rolled back: added = false")
		}
		return err
	})
}

func testEventReply(t *testing.T, s engine.Store) {
	ev := &engine.EventRecord{Key: "main|alice|e1|follow||", Event: channels.Event{Account: "main", Contact: "alice", Kind: channels.Follow, At: at(0)}, ReceivedAt: at(1)}
	var id int64
	update(t, s, func(tx engine.Tx) error {
		if _, err := tx.AddEvent(ev); err != nil {
			return err
		}
		if got, err := tx.EventReply(ev.Key); err != nil || got != 0 {
			t.Errorf("EventReply of an event without a reply = %d, %v", got, err)
		}
		o := pending("main", "alice", "Welcome", 1, at(1))
		o.Status, o.Detail = engine.OutboxSending, "passive reply"
		if err := tx.InsertOutbox(o); err != nil {
			return err
		}
		id = o.ID
		if err := tx.SetEventReply(ev.Key, id); err != nil {
			return err
		}
		if err := tx.SetEventReply("no such event", id); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("SetEventReply of a missing event = %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.EventReply(ev.Key)
		if err != nil || got != id {
			t.Errorf("EventReply = %d, %v; want %d", got, err, id)
		}
		if got, err := tx.EventReply("no such event"); err != nil || got != 0 {
			t.Errorf("EventReply of a missing event = %d, %v", got, err)
		}
		o, err := tx.OutboxEntry(id)
		if err != nil {
			return err
		}
		if o.ID != id || o.Message.Text != "Welcome" || o.Status != engine.OutboxSending || o.Detail != "passive reply" {
			t.Errorf("OutboxEntry = %+v", o)
		}
		if _, err := tx.OutboxEntry(id + 100); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("OutboxEntry of a missing id = %v, want ErrNotFound", err)
		}
		return nil
	})
}

// Contacts.

func testContactRoundTrip(t *testing.T, s engine.Store) {
	c := sampleContact("a", "alice")
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(c) })
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkContact(t, got, c)
		return nil
	})
}

func testContactUpsert(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(sampleContact("a", "alice")) })
	c := &engine.Contact{Account: "a", ID: "alice", Followed: false, FirstSeen: at(time.Hour), LastSeen: at(2 * time.Hour),
		Tags: []string{"other"}, Fields: map[string]any{"name": "Alicia"}}
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(c) })
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkContact(t, got, c)
		return nil
	})
	checkCounts(t, s, map[string]int{"contacts": 1})
}

func testContactEmpty(t *testing.T, s engine.Store) {
	c := &engine.Contact{Account: "a", ID: "bare", FirstSeen: at(0), LastSeen: at(0)}
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(c) })
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Contact("a", "bare")
		if err != nil {
			return err
		}
		if len(got.Tags) != 0 || len(got.Fields) != 0 {
			t.Errorf("contact without tags and fields came back with tags %v, fields %v", got.Tags, got.Fields)
		}
		checkContact(t, got, c)
		return nil
	})
}

func testContactNotFound(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(sampleContact("a", "alice")) })
	view(t, s, func(tx engine.ReadTx) error {
		for _, k := range [][2]string{{"a", "bob"}, {"b", "alice"}} {
			c, err := tx.Contact(k[0], k[1])
			if !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("Contact(%q, %q) = %v, %v; want ErrNotFound", k[0], k[1], c, err)
			}
		}
		return nil
	})
}

func testContactsPaging(t *testing.T, s engine.Store) {
	// Written out of order; b/c3 and a/c3 do not follow.
	keys := [][2]string{{"b", "c2"}, {"a", "c5"}, {"a", "c1"}, {"b", "c3"}, {"a", "c3"}, {"a", "c4"}, {"b", "c1"}, {"a", "c2"}}
	update(t, s, func(tx engine.Tx) error {
		for _, k := range keys {
			c := sampleContact(k[0], k[1])
			c.Followed = k[1] != "c3"
			c.Tags = []string{k[0] + k[1]}
			if err := tx.PutContact(c); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		page := func(account, afterAccount, afterID string, limit int) []string {
			cs, err := tx.Contacts(account, afterAccount, afterID, limit)
			if err != nil {
				t.Fatalf("Contacts(%q, %q, %q, %d): %v", account, afterAccount, afterID, limit, err)
			}
			for _, c := range cs {
				if len(c.Tags) != 1 || c.Tags[0] != c.Account+c.ID || !c.Followed {
					t.Errorf("Contacts returned %s/%s with tags %v, followed %v", c.Account, c.ID, c.Tags, c.Followed)
				}
			}
			return contactKeys(cs)
		}
		mustEqual(t, "every follower", page("", "", "", 100), []string{"a/c1", "a/c2", "a/c4", "a/c5", "b/c1", "b/c2"})
		mustEqual(t, "page 1", page("", "", "", 2), []string{"a/c1", "a/c2"})
		mustEqual(t, "page 2", page("", "a", "c2", 2), []string{"a/c4", "a/c5"})
		mustEqual(t, "page 3", page("", "a", "c5", 2), []string{"b/c1", "b/c2"})
		mustEqual(t, "page 4", page("", "b", "c2", 2), []string{})
		mustEqual(t, "after a non-follower", page("", "a", "c3", 1), []string{"a/c4"})
		mustEqual(t, "account b", page("b", "", "", 100), []string{"b/c1", "b/c2"})
		mustEqual(t, "account a from c1", page("a", "a", "c1", 2), []string{"a/c2", "a/c4"})
		mustEqual(t, "account a, last page", page("a", "a", "c4", 2), []string{"a/c5"})
		mustEqual(t, "unknown account", page("z", "", "", 100), []string{})
		return nil
	})
}

func testContactsOf(t *testing.T, s engine.Store) {
	alice, bob := sampleContact("a", "alice"), sampleContact("a", "bob")
	odd := sampleContact("b", `we"ird\ 中文`)
	session := channels.Session{Followed: true, Last: at(time.Hour), Kind: channels.EventInteraction, Used: 2}
	update(t, s, func(tx engine.Tx) error {
		for _, c := range []*engine.Contact{alice, bob, odd, sampleContact("b", "alice")} {
			if err := tx.PutContact(c); err != nil {
				return err
			}
		}
		return tx.PutSession("a", "bob", session)
	})
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.ContactsOf(refs("a", "alice", "a", "nobody", "a", "bob", odd.Account, odd.ID, "c", "alice"))
		if err != nil {
			return err
		}
		slices.SortFunc(got, func(x, y *engine.Contact) int { return strings.Compare(x.Account+"/"+x.ID, y.Account+"/"+y.ID) })
		mustEqual(t, "ContactsOf", contactKeys(got), []string{"a/alice", "a/bob", odd.Account + "/" + odd.ID})
		for i, want := range []*engine.Contact{alice, bob, odd} {
			if i < len(got) {
				checkContact(t, got[i], want)
			}
		}
		// The session read with a contact is the stored one.
		sess, ok, err := tx.Session("a", "bob")
		if err != nil || !ok {
			t.Fatalf("Session after ContactsOf = %v, %v", ok, err)
		}
		checkSession(t, sess, session)
		if _, ok, err := tx.Session("a", "alice"); ok || err != nil {
			t.Errorf("Session of a contact without one after ContactsOf = %v, %v", ok, err)
		}
		none, err := tx.ContactsOf(nil)
		if err != nil || len(none) != 0 {
			t.Errorf("ContactsOf(nil) = %v, %v", none, err)
		}
		return nil
	})
}

// refs makes contact references of account, id pairs.
func refs(pairs ...string) []engine.ContactRef {
	var out []engine.ContactRef
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, engine.ContactRef{Account: pairs[i], ID: pairs[i+1]})
	}
	return out
}

func testActiveRunsOf(t *testing.T, s engine.Store) {
	mk := func(id int64, account, contact string, status engine.RunStatus) *engine.Run {
		r := numberedRun(id, account, contact, "f", status)
		r.State = fullState()
		return r
	}
	runs := []*engine.Run{
		mk(1, "a", "alice", engine.RunWaitingReply),
		mk(2, "a", "alice", engine.RunCompleted),
		mk(3, "a", "bob", engine.RunWaitingTime),
		mk(4, "a", "alice", engine.RunWaitingTime),
		mk(5, "b", "alice", engine.RunWaitingTime),
		mk(6, "a", "carol", engine.RunWaitingTime),
	}
	update(t, s, func(tx engine.Tx) error {
		for _, r := range runs {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.ActiveRunsOf(refs("a", "alice", "a", "bob", "a", "nobody"))
		if err != nil {
			return err
		}
		mustEqual(t, "ActiveRunsOf (newest first)", runIDs(got), []int64{4, 3, 1})
		for _, r := range got {
			checkRun(t, r, runs[r.ID-1])
		}
		none, err := tx.ActiveRunsOf(nil)
		if err != nil || len(none) != 0 {
			t.Errorf("ActiveRunsOf(nil) = %v, %v", none, err)
		}
		return nil
	})
}

// Sessions.

func testSessionRoundTrip(t *testing.T, s engine.Store) {
	want := channels.Session{Followed: true, Last: at(3*time.Hour + 17), Kind: channels.MessageInteraction, Used: 4, Closed: true}
	update(t, s, func(tx engine.Tx) error { return tx.PutSession("a", "alice", want) })
	view(t, s, func(tx engine.ReadTx) error {
		got, ok, err := tx.Session("a", "alice")
		if err != nil || !ok {
			t.Fatalf("Session = ok %v, err %v", ok, err)
		}
		checkSession(t, got, want)
		return nil
	})
}

func testSessionZero(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error { return tx.PutSession("a", "alice", channels.Session{}) })
	view(t, s, func(tx engine.ReadTx) error {
		got, ok, err := tx.Session("a", "alice")
		if err != nil || !ok {
			t.Fatalf("Session of a stored zero session = ok %v, err %v; want ok", ok, err)
		}
		checkSession(t, got, channels.Session{})
		return nil
	})
}

func testSessionAbsent(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		return tx.PutSession("a", "alice", channels.Session{Followed: true, Used: 1})
	})
	view(t, s, func(tx engine.ReadTx) error {
		for _, k := range [][2]string{{"a", "bob"}, {"b", "alice"}} {
			got, ok, err := tx.Session(k[0], k[1])
			if err != nil || ok {
				t.Errorf("Session(%q, %q) = %+v, ok %v, err %v; want ok false and no error", k[0], k[1], got, ok, err)
			}
		}
		return nil
	})
}

func testSessionUpsert(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		return tx.PutSession("a", "alice", channels.Session{Followed: true, Last: at(0), Kind: channels.EventInteraction, Used: 3, Closed: true})
	})
	want := channels.Session{Followed: false, Last: at(time.Hour), Kind: channels.MessageInteraction, Used: 0, Closed: false}
	update(t, s, func(tx engine.Tx) error { return tx.PutSession("a", "alice", want) })
	view(t, s, func(tx engine.ReadTx) error {
		got, ok, err := tx.Session("a", "alice")
		if err != nil || !ok {
			t.Fatalf("Session = ok %v, err %v", ok, err)
		}
		checkSession(t, got, want)
		return nil
	})
	checkCounts(t, s, map[string]int{"sessions": 1})
}

// Runs.

func testInsertRunWithID(t *testing.T, s engine.Store) {
	r := sampleRun("a", "alice", "welcome")
	r.ID = 42
	update(t, s, func(tx engine.Tx) error { return tx.InsertRun(r) })
	if r.ID != 42 {
		t.Fatalf("InsertRun changed a given ID to %d", r.ID)
	}
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Run(42)
		if err != nil {
			return err
		}
		checkRun(t, got, r)
		return nil
	})
}

func testInsertRunWithoutID(t *testing.T, s engine.Store) {
	seen := map[int64]bool{}
	var runs []*engine.Run
	update(t, s, func(tx engine.Tx) error {
		for i := range 3 {
			r := sampleRun("a", fmt.Sprint("c", i), "welcome")
			if i == 1 {
				r.ID = 1000
			}
			if err := tx.InsertRun(r); err != nil {
				return err
			}
			runs = append(runs, r)
		}
		return nil
	})
	update(t, s, func(tx engine.Tx) error {
		r := sampleRun("a", "c3", "welcome")
		if err := tx.InsertRun(r); err != nil {
			return err
		}
		runs = append(runs, r)
		return nil
	})
	for _, r := range runs {
		if r.ID == 0 {
			t.Fatalf("InsertRun left the ID of run of %s zero", r.Contact)
		}
		if seen[r.ID] {
			t.Fatalf("InsertRun chose ID %d twice", r.ID)
		}
		seen[r.ID] = true
	}
	view(t, s, func(tx engine.ReadTx) error {
		for _, r := range runs {
			got, err := tx.Run(r.ID)
			if err != nil {
				return fmt.Errorf("Run(%d): %w", r.ID, err)
			}
			checkRun(t, got, r)
		}
		return nil
	})
}

// testNewRunID: run IDs given by the store increase, are never given
// twice (not even after a rolled-back transaction), and never collide
// with stored runs.
func testNewRunID(t *testing.T, s engine.Store) {
	var ids []int64
	take := func(tx engine.Tx) error {
		id, err := tx.NewRunID()
		if err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	}
	update(t, s, func(tx engine.Tx) error {
		for range 3 {
			if err := take(tx); err != nil {
				return err
			}
		}
		r := sampleRun("a", "c1", "welcome")
		r.ID = ids[2]
		return tx.InsertRun(r)
	})
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if err := take(tx); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v", err)
	}
	update(t, s, func(tx engine.Tx) error {
		if err := take(tx); err != nil {
			return err
		}
		r := sampleRun("a", "c2", "welcome")
		return tx.InsertRun(r)
	})
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("NewRunID gave %v: not increasing", ids)
		}
	}
	view(t, s, func(tx engine.ReadTx) error {
		runs, err := tx.Runs(engine.RunFilter{})
		if err != nil {
			return err
		}
		if len(runs) != 2 || runs[1].ID != ids[2] || runs[0].ID <= ids[len(ids)-1] {
			t.Errorf("stored runs %v after the ids %v: want the one given and a newer one", runIDs(runs), ids)
		}
		return nil
	})
}

func testInsertRunDuplicate(t *testing.T, s engine.Store) {
	first := sampleRun("a", "alice", "welcome")
	first.ID = 7
	update(t, s, func(tx engine.Tx) error { return tx.InsertRun(first) })
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		dup := sampleRun("a", "bob", "other")
		dup.ID = 7
		return tx.InsertRun(dup)
	})
	if err == nil {
		t.Fatal("InsertRun of an ID that exists succeeded")
	}
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Run(7)
		if err != nil {
			return err
		}
		checkRun(t, got, first)
		return nil
	})
}

func testRunRoundTrip(t *testing.T, s engine.Store) {
	full := sampleRun("a", "alice", "welcome")
	full.State = fullState()
	full.EndedAt = at(time.Hour + 999)
	full.Status = engine.RunFailed
	bare := &engine.Run{Account: "a", Contact: "bob", Flow: "f", Version: "v", Status: engine.RunRunning, Pos: "0", StartedAt: at(0), UpdatedAt: at(0)}
	update(t, s, func(tx engine.Tx) error {
		if err := tx.InsertRun(full); err != nil {
			return err
		}
		return tx.InsertRun(bare)
	})
	view(t, s, func(tx engine.ReadTx) error {
		for _, want := range []*engine.Run{full, bare} {
			got, err := tx.Run(want.ID)
			if err != nil {
				return err
			}
			checkRun(t, got, want)
		}
		return nil
	})
}

func testUpdateRun(t *testing.T, s engine.Store) {
	r := sampleRun("a", "alice", "welcome")
	other := sampleRun("a", "bob", "welcome")
	update(t, s, func(tx engine.Tx) error {
		if err := tx.InsertRun(r); err != nil {
			return err
		}
		return tx.InsertRun(other)
	})
	want := *r
	want.Status = engine.RunCompleted
	want.Pos = "4"
	want.Step = "end (line 20)"
	want.State = fullState()
	want.Seq = 9
	want.UpdatedAt = at(5*time.Hour + 5)
	want.EndedAt = at(5*time.Hour + 6)
	changed := want
	// The rest is not the run's to change.
	changed.Account, changed.Contact, changed.Flow, changed.Version = "x", "y", "z", "sha256:other"
	changed.StartedAt = at(-time.Hour)
	update(t, s, func(tx engine.Tx) error { return tx.UpdateRun(&changed) })
	view(t, s, func(tx engine.ReadTx) error {
		got, err := tx.Run(r.ID)
		if err != nil {
			return err
		}
		checkRun(t, got, &want)
		// The other run is as it was.
		got, err = tx.Run(other.ID)
		if err != nil {
			return err
		}
		checkRun(t, got, other)
		return nil
	})
}

func testUpdateRunMissing(t *testing.T, s engine.Store) {
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		r := sampleRun("a", "alice", "welcome")
		r.ID = 99
		return tx.UpdateRun(r)
	})
	if !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("UpdateRun of a missing run = %v, want ErrNotFound", err)
	}
	checkCounts(t, s, nil)
}

func testRunNotFound(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error { return tx.InsertRun(sampleRun("a", "alice", "welcome")) })
	view(t, s, func(tx engine.ReadTx) error {
		r, err := tx.Run(12345)
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Run(12345) = %v, %v; want ErrNotFound", r, err)
		}
		return nil
	})
}

func testRunsFilters(t *testing.T, s engine.Store) {
	mk := numberedRun
	runs := []*engine.Run{
		mk(1, "a", "alice", "f1", engine.RunCompleted),
		mk(2, "a", "alice", "f2", engine.RunWaitingReply),
		mk(3, "a", "bob", "f1", engine.RunRunning),
		mk(4, "b", "alice", "f1", engine.RunWaitingTime),
		mk(5, "a", "alice", "f1", engine.RunCalling),
		mk(6, "a", "alice", "f2", engine.RunInterrupted),
	}
	update(t, s, func(tx engine.Tx) error {
		// Inserted out of order: the list is by age, not by insertion.
		for _, i := range []int{2, 0, 5, 3, 1, 4} {
			if err := tx.InsertRun(runs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	cases := []struct {
		name string
		f    engine.RunFilter
		want []int64
	}{
		{"all", engine.RunFilter{}, []int64{6, 5, 4, 3, 2, 1}},
		{"account", engine.RunFilter{Account: "a"}, []int64{6, 5, 3, 2, 1}},
		{"contact", engine.RunFilter{Account: "a", Contact: "alice"}, []int64{6, 5, 2, 1}},
		{"active of a contact", engine.RunFilter{Account: "a", Contact: "alice", Active: true}, []int64{5, 2}},
		{"active", engine.RunFilter{Active: true}, []int64{5, 4, 3, 2}},
		{"flow", engine.RunFilter{Flow: "f1"}, []int64{5, 4, 3, 1}},
		{"flow of a contact", engine.RunFilter{Account: "a", Contact: "alice", Flow: "f2"}, []int64{6, 2}},
		{"active flow of a contact", engine.RunFilter{Account: "a", Contact: "alice", Flow: "f2", Active: true}, []int64{2}},
		{"status", engine.RunFilter{Status: engine.RunWaitingReply}, []int64{2}},
		{"status calling", engine.RunFilter{Status: engine.RunCalling}, []int64{5}},
		{"status and account", engine.RunFilter{Account: "b", Status: engine.RunWaitingTime}, []int64{4}},
		{"status none", engine.RunFilter{Status: engine.RunLooping}, []int64{}},
		{"limit", engine.RunFilter{Limit: 2}, []int64{6, 5}},
		{"newest", engine.RunFilter{Limit: 1}, []int64{6}},
		{"active limit", engine.RunFilter{Active: true, Limit: 3}, []int64{5, 4, 3}},
		{"active of a contact, limit", engine.RunFilter{Account: "a", Contact: "alice", Active: true, Limit: 1}, []int64{5}},
		{"nobody", engine.RunFilter{Account: "a", Contact: "carol"}, []int64{}},
	}
	view(t, s, func(tx engine.ReadTx) error {
		for _, c := range cases {
			got, err := tx.Runs(c.f)
			if err != nil {
				return fmt.Errorf("Runs(%s): %w", c.name, err)
			}
			mustEqual(t, "Runs "+c.name+" (newest first)", runIDs(got), c.want)
		}
		all, err := tx.Runs(engine.RunFilter{})
		if err != nil {
			return err
		}
		for _, r := range all {
			checkRun(t, r, runs[r.ID-1])
		}
		return nil
	})
}

func testLastStart(t *testing.T, s engine.Store) {
	view(t, s, func(tx engine.ReadTx) error {
		if _, ok, err := tx.LastStart("a", "alice", "f1"); ok || err != nil {
			t.Errorf("LastStart with no runs: ok %v, err %v", ok, err)
		}
		return nil
	})
	mk := func(contact, flow string, start time.Time, ended bool) *engine.Run {
		r := sampleRun("a", contact, flow)
		r.StartedAt = start
		if ended {
			r.Status, r.EndedAt = engine.RunCompleted, start.Add(time.Minute)
		}
		return r
	}
	update(t, s, func(tx engine.Tx) error {
		for _, r := range []*engine.Run{
			mk("alice", "f1", at(time.Hour), true),
			mk("alice", "f1", at(3*time.Hour+3), true), // the latest, ended
			mk("alice", "f2", at(5*time.Hour), false),
			mk("bob", "f1", at(9*time.Hour), false),
		} {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		for _, c := range []struct {
			contact, flow string
			want          time.Time
		}{
			{"alice", "f1", at(3*time.Hour + 3)},
			{"alice", "f2", at(5 * time.Hour)},
			{"bob", "f1", at(9 * time.Hour)},
		} {
			got, ok, err := tx.LastStart("a", c.contact, c.flow)
			if err != nil || !ok {
				t.Errorf("LastStart(%s, %s): ok %v, err %v", c.contact, c.flow, ok, err)
				continue
			}
			checkTime(t, "LastStart("+c.contact+", "+c.flow+")", got, c.want)
		}
		if _, ok, err := tx.LastStart("a", "bob", "f2"); ok || err != nil {
			t.Errorf("LastStart of a flow the contact never ran: ok %v, err %v", ok, err)
		}
		if _, ok, err := tx.LastStart("b", "alice", "f1"); ok || err != nil {
			t.Errorf("LastStart in another account: ok %v, err %v", ok, err)
		}
		return nil
	})
}

// Timers.

func dueTimers(t *testing.T, s engine.Store, now time.Time, limit int) []engine.Timer {
	t.Helper()
	var out []engine.Timer
	view(t, s, func(tx engine.ReadTx) error {
		var err error
		out, err = tx.DueTimers(now, limit)
		return err
	})
	return out
}

func checkTimers(t *testing.T, what string, got, want []engine.Timer) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
		return
	}
	for i := range got {
		if got[i].RunID != want[i].RunID || got[i].Seq != want[i].Seq || got[i].Account != want[i].Account || got[i].Contact != want[i].Contact {
			t.Errorf("%s[%d] = run %d seq %d of %q/%q, want run %d seq %d of %q/%q", what, i, got[i].RunID, got[i].Seq, got[i].Account, got[i].Contact,
				want[i].RunID, want[i].Seq, want[i].Account, want[i].Contact)
		}
		checkTime(t, fmt.Sprintf("%s[%d].Due", what, i), got[i].Due, want[i].Due)
	}
}

func testTimerSetDelete(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error { return tx.SetTimer(engine.Timer{RunID: 1, Seq: 1, Due: at(time.Hour)}) })
	checkTimers(t, "DueTimers", dueTimers(t, s, at(24*time.Hour), 10), []engine.Timer{{RunID: 1, Seq: 1, Due: at(time.Hour)}})
	// A run has one timer: setting it again replaces it.
	update(t, s, func(tx engine.Tx) error {
		return tx.SetTimer(engine.Timer{RunID: 1, Seq: 2, Due: at(2*time.Hour + 1), Account: "main", Contact: "alice"})
	})
	checkTimers(t, "DueTimers after a second SetTimer", dueTimers(t, s, at(24*time.Hour), 10), []engine.Timer{{RunID: 1, Seq: 2, Due: at(2*time.Hour + 1), Account: "main", Contact: "alice"}})
	checkCounts(t, s, map[string]int{"timers": 1})
	update(t, s, func(tx engine.Tx) error { return tx.SetTimer(engine.Timer{RunID: 2, Seq: 5, Due: at(time.Hour)}) })
	update(t, s, func(tx engine.Tx) error {
		if err := tx.DeleteTimer(1); err != nil {
			return err
		}
		return tx.DeleteTimer(404) // none: not an error
	})
	checkTimers(t, "DueTimers after DeleteTimer", dueTimers(t, s, at(24*time.Hour), 10), []engine.Timer{{RunID: 2, Seq: 5, Due: at(time.Hour)}})
}

func testDueTimers(t *testing.T, s engine.Store) {
	timers := []engine.Timer{
		{RunID: 3, Seq: 1, Due: at(time.Minute)},
		{RunID: 1, Seq: 1, Due: at(2 * time.Minute)},
		{RunID: 2, Seq: 7, Due: at(time.Minute)},
		{RunID: 4, Seq: 1, Due: at(5 * time.Minute)},
		{RunID: 5, Seq: 1, Due: at(2*time.Minute + 1)},
	}
	update(t, s, func(tx engine.Tx) error {
		for _, tm := range timers {
			if err := tx.SetTimer(tm); err != nil {
				return err
			}
		}
		return nil
	})
	t1, t2, t3, t4, t5 := timers[0], timers[1], timers[2], timers[3], timers[4]
	checkTimers(t, "DueTimers before any", dueTimers(t, s, at(time.Minute-1), 10), nil)
	checkTimers(t, "DueTimers at the first due time", dueTimers(t, s, at(time.Minute), 10), []engine.Timer{t3, t1})
	checkTimers(t, "DueTimers at 2m", dueTimers(t, s, at(2*time.Minute), 10), []engine.Timer{t3, t1, t2})
	checkTimers(t, "DueTimers limit 2", dueTimers(t, s, at(time.Hour), 2), []engine.Timer{t3, t1})
	checkTimers(t, "DueTimers all", dueTimers(t, s, at(time.Hour), 10), []engine.Timer{t3, t1, t2, t5, t4})
	// now in another zone is the same instant.
	checkTimers(t, "DueTimers with now in UTC", dueTimers(t, s, at(2*time.Minute).UTC(), 10), []engine.Timer{t3, t1, t2})
}

func testNextTimer(t *testing.T, s engine.Store) {
	next := func() (time.Time, bool) {
		var due time.Time
		var ok bool
		view(t, s, func(tx engine.ReadTx) error {
			var err error
			due, ok, err = tx.NextTimer()
			return err
		})
		return due, ok
	}
	if _, ok := next(); ok {
		t.Error("NextTimer with no timers: ok = true")
	}
	update(t, s, func(tx engine.Tx) error {
		for i, d := range []time.Duration{3 * time.Hour, time.Hour + 1, 2 * time.Hour} {
			if err := tx.SetTimer(engine.Timer{RunID: int64(i + 1), Seq: 1, Due: at(d)}); err != nil {
				return err
			}
		}
		return nil
	})
	due, ok := next()
	if !ok {
		t.Fatal("NextTimer: ok = false")
	}
	checkTime(t, "NextTimer", due, at(time.Hour+1))
	update(t, s, func(tx engine.Tx) error { return tx.DeleteTimer(2) })
	due, _ = next()
	checkTime(t, "NextTimer after deleting the earliest", due, at(2*time.Hour))
}

// Outbox.

func listOutbox(t *testing.T, s engine.Store, f engine.OutboxFilter) []*engine.OutboxEntry {
	t.Helper()
	var out []*engine.OutboxEntry
	view(t, s, func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Outbox(f)
		return err
	})
	return out
}

func testOutboxInsert(t *testing.T, s engine.Store) {
	entries := []*engine.OutboxEntry{
		pending("a", "alice", "one", 1, at(0)),
		{RunID: 2, Account: "a", Contact: "bob", Message: richMessage(), Status: engine.OutboxFailed,
			Reason: channels.ReasonWindowClosed, Code: 45015, Detail: "closed since 10:00", CreatedAt: at(time.Second + 1), UpdatedAt: at(time.Second + 2)},
		pending("b", "alice", "three", 3, at(2*time.Second)),
	}
	update(t, s, func(tx engine.Tx) error {
		for _, o := range entries {
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
		}
		return nil
	})
	for i, o := range entries {
		if o.ID == 0 || (i > 0 && o.ID <= entries[i-1].ID) {
			t.Fatalf("InsertOutbox IDs %v do not grow", outboxIDs(entries))
		}
	}
	got := listOutbox(t, s, engine.OutboxFilter{})
	mustEqual(t, "Outbox ids (in the order reserved)", outboxIDs(got), outboxIDs(entries))
	for i := range got {
		if i < len(entries) {
			checkOutbox(t, got[i], entries[i])
		}
	}
}

func testOutboxClaim(t *testing.T, s engine.Store) {
	var ids []int64
	update(t, s, func(tx engine.Tx) error {
		for i, status := range []engine.OutboxStatus{engine.OutboxPending, engine.OutboxFailed, engine.OutboxPending, engine.OutboxSent, engine.OutboxPending, engine.OutboxPending} {
			o := pending("a", fmt.Sprint("c", i), fmt.Sprint("m", i), int64(i+1), at(time.Duration(i)*time.Second))
			o.Status = status
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		return nil
	})
	claim := func(limit int, when time.Time) []*engine.OutboxEntry {
		var out []*engine.OutboxEntry
		update(t, s, func(tx engine.Tx) error {
			var err error
			out, err = tx.ClaimOutbox(limit, when)
			return err
		})
		return out
	}
	first := claim(2, at(time.Hour+1))
	mustEqual(t, "first claim (oldest pending first, up to the limit)", outboxIDs(first), []int64{ids[0], ids[2]})
	// The entries a claim returns are the entries as the store now has
	// them.
	stored := map[int64]*engine.OutboxEntry{}
	for _, o := range listOutbox(t, s, engine.OutboxFilter{}) {
		stored[o.ID] = o
	}
	for _, o := range first {
		if o.Status != engine.OutboxSending {
			t.Errorf("claimed entry %d has status %q, want sending", o.ID, o.Status)
		}
		if o.Message.Text == "" || o.Contact == "" {
			t.Errorf("claimed entry %d comes without its message or contact: %+v", o.ID, o)
		}
		if st := stored[o.ID]; st != nil {
			checkOutbox(t, o, st)
		}
	}
	second := claim(10, at(2*time.Hour))
	mustEqual(t, "second claim (the rest, never the same twice)", outboxIDs(second), []int64{ids[4], ids[5]})
	if third := claim(10, at(3*time.Hour)); len(third) != 0 {
		t.Errorf("third claim = %v, want none", outboxIDs(third))
	}
	want := []engine.OutboxStatus{engine.OutboxSending, engine.OutboxFailed, engine.OutboxSending, engine.OutboxSent, engine.OutboxSending, engine.OutboxSending}
	for i, o := range listOutbox(t, s, engine.OutboxFilter{}) {
		if o.Status != want[i] {
			t.Errorf("entry %d: status %q, want %q", o.ID, o.Status, want[i])
		}
	}
	// A claim in a transaction that fails claims nothing.
	update(t, s, func(tx engine.Tx) error { return tx.InsertOutbox(pending("a", "z", "late", 9, at(time.Hour))) })
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		got, err := tx.ClaimOutbox(10, at(4*time.Hour))
		if err != nil {
			return err
		}
		if len(got) != 1 {
			t.Errorf("claim = %d entries, want 1", len(got))
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v", err)
	}
	if again := claim(10, at(5*time.Hour)); len(again) != 1 || again[0].Message.Text != "late" {
		t.Errorf("claim after a rolled-back claim = %v, want the late entry", outboxIDs(again))
	}
}

func testOutboxClaimThrough(t *testing.T, s engine.Store) {
	statuses := []engine.OutboxStatus{engine.OutboxPending, engine.OutboxFailed, engine.OutboxPending, engine.OutboxPending, engine.OutboxSent, engine.OutboxPending, engine.OutboxPending}
	var ids []int64
	update(t, s, func(tx engine.Tx) error {
		for i, status := range statuses {
			o := pending("a", fmt.Sprint("c", i), fmt.Sprint("m", i), int64(i+1), at(time.Duration(i)*time.Second))
			o.Status = status
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		return nil
	})
	check := func(what string, want ...engine.OutboxStatus) {
		t.Helper()
		got := listOutbox(t, s, engine.OutboxFilter{})
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
		}
		for i, o := range got {
			if o.Status != want[i] {
				t.Errorf("%s: entry %d has status %q, want %q", what, i, o.Status, want[i])
			}
		}
		var sending []int64
		for i, st := range want {
			if st == engine.OutboxSending {
				sending = append(sending, ids[i])
			}
		}
		if sending == nil {
			sending = []int64{}
		}
		mustEqual(t, what+": Outbox filtered by sending", outboxIDs(listOutbox(t, s, engine.OutboxFilter{Status: engine.OutboxSending})), sending)
	}
	P, F, S, X, U := engine.OutboxPending, engine.OutboxFailed, engine.OutboxSending, engine.OutboxSent, engine.OutboxUnknown
	// A claim-through in a transaction that fails claims nothing.
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if err := tx.ClaimOutboxThrough(ids[6], at(time.Hour)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v", err)
	}
	check("after a rolled-back ClaimOutboxThrough", P, F, P, P, X, P, P)
	update(t, s, func(tx engine.Tx) error { return tx.ClaimOutboxThrough(ids[3], at(time.Hour)) })
	check("after ClaimOutboxThrough the fourth", S, F, S, S, X, P, P)
	// What it claimed is not claimed again; the rest is.
	var next []*engine.OutboxEntry
	update(t, s, func(tx engine.Tx) error {
		var err error
		next, err = tx.ClaimOutbox(10, at(2*time.Hour))
		return err
	})
	mustEqual(t, "ClaimOutbox after ClaimOutboxThrough", outboxIDs(next), []int64{ids[5], ids[6]})
	update(t, s, func(tx engine.Tx) error {
		if err := tx.FinishOutbox(ids[2], engine.OutboxSent, "", 0, "", at(3*time.Hour)); err != nil {
			return err
		}
		// Claiming through a lower ID again changes nothing.
		return tx.ClaimOutboxThrough(ids[0], at(3*time.Hour))
	})
	check("after finishing one", S, F, X, S, X, S, S)
	// Two of the claimed entries were started; the other two never were.
	// (Marking a finished entry with them leaves it as it is.)
	update(t, s, func(tx engine.Tx) error { return tx.StartOutbox([]int64{ids[0], ids[2], ids[5]}, at(3*time.Hour)) })
	var n int
	update(t, s, func(tx engine.Tx) error {
		var err error
		n, err = tx.RecoverOutbox(at(4 * time.Hour))
		return err
	})
	if n != 2 {
		t.Errorf("RecoverOutbox = %d, want 2", n)
	}
	check("after RecoverOutbox", U, F, X, P, X, U, P)
	// Entries reserved after a claim stay pending.
	var late *engine.OutboxEntry
	update(t, s, func(tx engine.Tx) error {
		late = pending("a", "late", "late", 9, at(5*time.Hour))
		return tx.InsertOutbox(late)
	})
	if got := listOutbox(t, s, engine.OutboxFilter{AfterID: ids[6]}); len(got) != 1 || got[0].Status != P {
		t.Errorf("an entry reserved after every claim: %+v, want one pending entry", got)
	}
}

func testOutboxFinish(t *testing.T, s engine.Store) {
	a := pending("a", "alice", "one", 1, at(0))
	b := pending("a", "bob", "two", 2, at(0))
	update(t, s, func(tx engine.Tx) error {
		if err := tx.InsertOutbox(a); err != nil {
			return err
		}
		if err := tx.InsertOutbox(b); err != nil {
			return err
		}
		_, err := tx.ClaimOutbox(10, at(time.Second))
		return err
	})
	update(t, s, func(tx engine.Tx) error {
		if err := tx.FinishOutbox(a.ID, engine.OutboxSent, "", 0, "", at(2*time.Second+1)); err != nil {
			return err
		}
		return tx.FinishOutbox(b.ID, engine.OutboxFailed, channels.ReasonQuotaExhausted, 45047, "out of quota", at(3*time.Second+3))
	})
	wantA, wantB := *a, *b
	wantA.Status, wantA.UpdatedAt = engine.OutboxSent, at(2*time.Second+1)
	wantB.Status, wantB.Reason, wantB.Code, wantB.Detail, wantB.UpdatedAt = engine.OutboxFailed, channels.ReasonQuotaExhausted, 45047, "out of quota", at(3*time.Second+3)
	got := listOutbox(t, s, engine.OutboxFilter{})
	if len(got) != 2 {
		t.Fatalf("Outbox = %d entries, want 2", len(got))
	}
	checkOutbox(t, got[0], &wantA)
	checkOutbox(t, got[1], &wantB)
}

// testOutboxFinishSent: a store that records many sent messages in one
// statement (engine.SentRecorder) records each as FinishOutbox would:
// sent, its reason and detail of a hold cleared, no longer started (a
// crash after makes none of them unknown). Others are left as they are.
func testOutboxFinishSent(t *testing.T, s engine.Store) {
	var ids []int64
	update(t, s, func(tx engine.Tx) error {
		var err error
		if ids, err = insertFour(tx); err != nil {
			return err
		}
		if _, err := tx.ClaimOutbox(10, at(time.Second)); err != nil {
			return err
		}
		// The second was held back once (paused), then claimed again.
		return tx.FinishOutbox(ids[1], engine.OutboxPending, channels.ReasonPaused, 0, "the account is paused", at(time.Second))
	})
	recorded := false
	update(t, s, func(tx engine.Tx) error {
		if err := tx.StartOutbox(ids[:3], at(2*time.Second)); err != nil {
			return err
		}
		sr, ok := tx.(engine.SentRecorder)
		if !ok {
			return nil
		}
		recorded = true
		return sr.FinishSent(ids[:2], at(3*time.Second+5))
	})
	if !recorded {
		t.Log("the store records outcomes one at a time (no engine.SentRecorder): nothing to check")
		return
	}
	var n int
	update(t, s, func(tx engine.Tx) error {
		var err error
		n, err = tx.RecoverOutbox(at(time.Hour))
		return err
	})
	if n != 1 {
		t.Errorf("RecoverOutbox after FinishSent = %d, want 1 (the third, started and not finished)", n)
	}
	got := listOutbox(t, s, engine.OutboxFilter{})
	want := []engine.OutboxStatus{engine.OutboxSent, engine.OutboxSent, engine.OutboxUnknown, engine.OutboxPending}
	if len(got) != len(want) {
		t.Fatalf("Outbox = %d entries, want %d", len(got), len(want))
	}
	for i, o := range got {
		if o.Status != want[i] {
			t.Errorf("entry %d: status %q, want %q", o.ID, o.Status, want[i])
		}
		if o.Status == engine.OutboxSent {
			checkTime(t, "UpdatedAt of a sent entry", o.UpdatedAt, at(3*time.Second+5))
			if o.Reason != "" || o.Code != 0 || o.Detail != "" {
				t.Errorf("entry %d sent: reason %q, code %d, detail %q, want none", o.ID, o.Reason, o.Code, o.Detail)
			}
		}
	}
}

// insertFour inserts four pending entries, one for each of the contacts
// c0-c3 of account a, and returns their IDs in order.
func insertFour(tx engine.Tx) ([]int64, error) {
	var ids []int64
	for i := range 4 {
		o := pending("a", fmt.Sprint("c", i), "m", 1, at(0))
		if err := tx.InsertOutbox(o); err != nil {
			return nil, err
		}
		ids = append(ids, o.ID)
	}
	return ids, nil
}

func testOutboxRecover(t *testing.T, s engine.Store) {
	var ids []int64
	update(t, s, func(tx engine.Tx) error {
		var err error
		if ids, err = insertFour(tx); err != nil {
			return err
		}
		_, err = tx.ClaimOutbox(3, at(time.Second))
		return err
	})
	// The first two were started (their requests may have begun), the
	// third claimed and never started; the first was sent.
	update(t, s, func(tx engine.Tx) error {
		if err := tx.StartOutbox(ids[:2], at(2*time.Second)); err != nil {
			return err
		}
		return tx.FinishOutbox(ids[0], engine.OutboxSent, "", 0, "", at(2*time.Second))
	})
	var n int
	update(t, s, func(tx engine.Tx) error {
		var err error
		n, err = tx.RecoverOutbox(at(time.Hour + 7))
		return err
	})
	if n != 1 {
		t.Errorf("RecoverOutbox = %d, want 1 (only the entry that was started)", n)
	}
	got := listOutbox(t, s, engine.OutboxFilter{})
	want := []engine.OutboxStatus{engine.OutboxSent, engine.OutboxUnknown, engine.OutboxPending, engine.OutboxPending}
	for i, o := range got {
		if o.Status != want[i] {
			t.Errorf("entry %d: status %q, want %q", o.ID, o.Status, want[i])
		}
		if o.Status == engine.OutboxUnknown {
			checkTime(t, "recovered UpdatedAt", o.UpdatedAt, at(time.Hour+7))
		}
	}
	// The entry claimed and never started is claimed again, in order.
	update(t, s, func(tx engine.Tx) error {
		again, err := tx.ClaimOutbox(10, at(time.Hour+8))
		if err != nil {
			return err
		}
		mustEqual(t, "claimed after recovery", outboxIDs(again), []int64{ids[2], ids[3]})
		return nil
	})
	update(t, s, func(tx engine.Tx) error {
		var err error
		n, err = tx.RecoverOutbox(at(2 * time.Hour))
		return err
	})
	if n != 0 {
		t.Errorf("second RecoverOutbox = %d, want 0 (nothing was started)", n)
	}
	if unknown := listOutbox(t, s, engine.OutboxFilter{Status: engine.OutboxUnknown}); len(unknown) == 1 {
		checkTime(t, "UpdatedAt after a second RecoverOutbox", unknown[0].UpdatedAt, at(time.Hour+7))
	}
	// StartOutbox leaves a finished entry as it is.
	update(t, s, func(tx engine.Tx) error { return tx.StartOutbox([]int64{ids[0]}, at(3*time.Hour)) })
	if o := listOutbox(t, s, engine.OutboxFilter{})[0]; o.Status != engine.OutboxSent {
		t.Errorf("StartOutbox of a sent entry made it %q", o.Status)
	}
}

// testOutboxHeld: claimed entries held back (pending, reason paused) are
// neither sending nor claimed again while the process runs; after a
// restart they are pending and unclaimed, claimed again in their order,
// while the entries that were in flight become unknown. An entry taken
// out of the held ones (pending, no reason) is claimed again.
func testOutboxHeld(t *testing.T, s engine.Store) {
	var ids []int64
	update(t, s, func(tx engine.Tx) error {
		for i, c := range []string{"a1", "a2", "b1", "a3", "b2", "a4", "a5"} {
			o := pending(c[:1], c, c, int64(i+1), at(0))
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		_, err := tx.ClaimOutbox(10, at(time.Second))
		return err
	})
	a1, a2, b1, a3, b2, a4, a5 := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6] // b2 stays in flight
	update(t, s, func(tx engine.Tx) error {
		if err := tx.StartOutbox([]int64{a1, b1, b2}, at(2*time.Second)); err != nil {
			return err
		}
		for _, id := range []int64{a1, b1} {
			if err := tx.FinishOutbox(id, engine.OutboxSent, "", 0, "", at(2*time.Second)); err != nil {
				return err
			}
		}
		for _, id := range []int64{a2, a3, a4, a5} {
			if err := tx.FinishOutbox(id, engine.OutboxPending, channels.ReasonPaused, 0, "paused until 10:00", at(2*time.Second)); err != nil {
				return err
			}
		}
		// a5 is taken out of the held ones, to be sent again.
		return tx.FinishOutbox(a5, engine.OutboxPending, "", 0, "", at(3*time.Second))
	})
	P, X, S := engine.OutboxPending, engine.OutboxSent, engine.OutboxSending
	status := func(what string, want ...engine.OutboxStatus) {
		t.Helper()
		got := listOutbox(t, s, engine.OutboxFilter{})
		for i, o := range got {
			if i < len(want) && o.Status != want[i] {
				t.Errorf("%s: entry %d has status %q, want %q", what, i, o.Status, want[i])
			}
		}
	}
	status("held", X, P, X, P, S, P, S)
	mustEqual(t, "Outbox filtered by reason paused", outboxIDs(listOutbox(t, s, engine.OutboxFilter{Status: P, Reason: channels.ReasonPaused})), []int64{a2, a3, a4})
	var claimed []*engine.OutboxEntry
	update(t, s, func(tx engine.Tx) error {
		var err error
		claimed, err = tx.ClaimOutbox(10, at(4*time.Second))
		return err
	})
	mustEqual(t, "ClaimOutbox while entries are held", outboxIDs(claimed), []int64{})
	var late *engine.OutboxEntry
	var n int
	update(t, s, func(tx engine.Tx) error {
		late = pending("c", "c1", "late", 9, at(5*time.Second))
		if err := tx.InsertOutbox(late); err != nil {
			return err
		}
		var err error
		n, err = tx.RecoverOutbox(at(time.Hour))
		return err
	})
	if n != 1 {
		t.Errorf("RecoverOutbox = %d, want 1 (b2 was in flight; a5 was claimed, never started)", n)
	}
	status("recovered", X, P, X, P, engine.OutboxUnknown, P, P, P)
	for _, o := range listOutbox(t, s, engine.OutboxFilter{Status: P}) {
		if o.Reason != "" || o.Detail != "" {
			t.Errorf("entry %d after RecoverOutbox: reason %q, detail %q; want neither", o.ID, o.Reason, o.Detail)
		}
	}
	update(t, s, func(tx engine.Tx) error {
		var err error
		claimed, err = tx.ClaimOutbox(10, at(2*time.Hour))
		return err
	})
	mustEqual(t, "ClaimOutbox after RecoverOutbox", outboxIDs(claimed), []int64{a2, a3, a4, a5, late.ID})
	update(t, s, func(tx engine.Tx) error {
		if err := tx.StartOutbox(outboxIDs(claimed), at(2*time.Hour)); err != nil {
			return err
		}
		var err error
		n, err = tx.RecoverOutbox(at(3 * time.Hour))
		return err
	})
	if n != 5 {
		t.Errorf("RecoverOutbox after starting them again = %d, want 5", n)
	}
}

func testOutboxFilters(t *testing.T, s engine.Store) {
	type row struct {
		account, contact string
		status           engine.OutboxStatus
		reason           channels.Reason
	}
	rows := []row{
		{"a", "alice", engine.OutboxSent, ""},
		{"a", "bob", engine.OutboxFailed, channels.ReasonWindowClosed},
		{"a", "alice", engine.OutboxFailed, channels.ReasonQuotaExhausted},
		{"b", "alice", engine.OutboxFailed, channels.ReasonWindowClosed},
		{"a", "alice", engine.OutboxPending, ""},
		{"a", "bob", engine.OutboxUnknown, ""},
		{"a", "alice", engine.OutboxFailed, channels.ReasonWindowClosed},
	}
	var ids []int64
	update(t, s, func(tx engine.Tx) error {
		for i, r := range rows {
			o := pending(r.account, r.contact, fmt.Sprint("m", i), int64(i), at(time.Duration(i)*time.Second))
			o.Status, o.Reason = r.status, r.reason
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		return nil
	})
	pick := func(is ...int) []int64 {
		out := []int64{}
		for _, i := range is {
			out = append(out, ids[i])
		}
		return out
	}
	cases := []struct {
		name string
		f    engine.OutboxFilter
		want []int64
	}{
		{"all", engine.OutboxFilter{}, pick(0, 1, 2, 3, 4, 5, 6)},
		{"account", engine.OutboxFilter{Account: "b"}, pick(3)},
		{"contact", engine.OutboxFilter{Account: "a", Contact: "alice"}, pick(0, 2, 4, 6)},
		{"status", engine.OutboxFilter{Status: engine.OutboxFailed}, pick(1, 2, 3, 6)},
		{"reason", engine.OutboxFilter{Reason: channels.ReasonWindowClosed}, pick(1, 3, 6)},
		{"status and reason", engine.OutboxFilter{Status: engine.OutboxFailed, Reason: channels.ReasonQuotaExhausted}, pick(2)},
		{"contact and reason", engine.OutboxFilter{Account: "a", Contact: "alice", Reason: channels.ReasonWindowClosed}, pick(6)},
		{"after", engine.OutboxFilter{AfterID: ids[3]}, pick(4, 5, 6)},
		{"after the last", engine.OutboxFilter{AfterID: ids[6]}, pick()},
		{"limit", engine.OutboxFilter{Limit: 2}, pick(0, 1)},
		{"after and limit", engine.OutboxFilter{AfterID: ids[1], Limit: 2}, pick(2, 3)},
		{"status, after and limit", engine.OutboxFilter{Status: engine.OutboxFailed, AfterID: ids[1], Limit: 2}, pick(2, 3)},
		{"unknown", engine.OutboxFilter{Status: engine.OutboxUnknown}, pick(5)},
		{"nobody", engine.OutboxFilter{Account: "a", Contact: "carol"}, pick()},
	}
	for _, c := range cases {
		mustEqual(t, "Outbox "+c.name, outboxIDs(listOutbox(t, s, c.f)), c.want)
	}
}

// Flow versions.

func getFlow(t *testing.T, s engine.Store, version string) (*engine.FlowVersion, error) {
	t.Helper()
	var v *engine.FlowVersion
	var ferr error
	view(t, s, func(tx engine.ReadTx) error {
		v, ferr = tx.FlowVersion(version)
		return nil
	})
	return v, ferr
}

func checkFlow(t *testing.T, got, want *engine.FlowVersion) {
	t.Helper()
	if got == nil {
		t.Fatalf("flow version %s: nil", want.Version)
	}
	if got.Version != want.Version || got.Name != want.Name || got.File != want.File || !bytes.Equal(got.Source, want.Source) {
		t.Errorf("flow version = %q %q %q %q, want %q %q %q %q", got.Version, got.Name, got.File, got.Source, want.Version, want.Name, want.File, want.Source)
	}
	checkTime(t, "FlowVersion.LoadedAt", got.LoadedAt, want.LoadedAt)
}

func testFlowVersionRoundTrip(t *testing.T, s engine.Store) {
	v := &engine.FlowVersion{Version: "sha256:abc", Name: "welcome", File: "flows/welcome.yaml",
		Source: []byte("name: welcome\nsteps:\n  - send: \"你好\"\n\x00binary"), LoadedAt: at(time.Minute + 5)}
	update(t, s, func(tx engine.Tx) error { return tx.PutFlowVersion(v) })
	got, err := getFlow(t, s, v.Version)
	if err != nil {
		t.Fatal(err)
	}
	checkFlow(t, got, v)
}

func testFlowVersionKeepsFirst(t *testing.T, s engine.Store) {
	first := &engine.FlowVersion{Version: "sha256:abc", Name: "welcome", File: "a/welcome.yaml", Source: []byte("one"), LoadedAt: at(0)}
	update(t, s, func(tx engine.Tx) error { return tx.PutFlowVersion(first) })
	again := &engine.FlowVersion{Version: "sha256:abc", Name: "renamed", File: "b/other.yaml", Source: []byte("two"), LoadedAt: at(time.Hour)}
	update(t, s, func(tx engine.Tx) error { return tx.PutFlowVersion(again) })
	got, err := getFlow(t, s, "sha256:abc")
	if err != nil {
		t.Fatal(err)
	}
	checkFlow(t, got, first)
	checkCounts(t, s, map[string]int{"flow_versions": 1})
}

func testFlowVersionNotFound(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		return tx.PutFlowVersion(&engine.FlowVersion{Version: "sha256:abc", Name: "w", File: "w.yaml", Source: []byte("x"), LoadedAt: at(0)})
	})
	if v, err := getFlow(t, s, "sha256:nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("FlowVersion of an unknown version = %v, %v; want ErrNotFound", v, err)
	}
}

// Schedules.

func testSchedules(t *testing.T, s engine.Store) {
	list := func() map[string]time.Time {
		var out map[string]time.Time
		view(t, s, func(tx engine.ReadTx) error {
			var err error
			out, err = tx.Schedules()
			return err
		})
		return out
	}
	check := func(what string, want map[string]time.Time) {
		t.Helper()
		got := list()
		if len(got) != len(want) {
			t.Errorf("%s: Schedules = %v, want %v", what, got, want)
			return
		}
		for k, due := range want {
			g, ok := got[k]
			if !ok {
				t.Errorf("%s: Schedules has no %q", what, k)
				continue
			}
			checkTime(t, what+": "+k, g, due)
		}
	}
	check("empty", nil)
	update(t, s, func(tx engine.Tx) error {
		if err := tx.SetSchedule("news|0", at(time.Hour+1)); err != nil {
			return err
		}
		return tx.SetSchedule("digest|1", at(24*time.Hour))
	})
	check("after SetSchedule", map[string]time.Time{"news|0": at(time.Hour + 1), "digest|1": at(24 * time.Hour)})
	update(t, s, func(tx engine.Tx) error { return tx.SetSchedule("news|0", at(2*time.Hour+2)) })
	check("after replacing", map[string]time.Time{"news|0": at(2*time.Hour + 2), "digest|1": at(24 * time.Hour)})
	update(t, s, func(tx engine.Tx) error {
		if err := tx.DeleteSchedule("digest|1"); err != nil {
			return err
		}
		return tx.DeleteSchedule("none") // none: not an error
	})
	check("after DeleteSchedule", map[string]time.Time{"news|0": at(2*time.Hour + 2)})
}

// Channel state.

func testChannelState(t *testing.T, s engine.Store) {
	get := func(key string, now time.Time) (string, time.Time, bool) {
		t.Helper()
		var v string
		var exp time.Time
		var ok bool
		view(t, s, func(tx engine.ReadTx) error {
			var err error
			v, exp, ok, err = tx.ChannelState(key, now)
			return err
		})
		return v, exp, ok
	}
	if _, _, ok := get("token|main", at(0)); ok {
		t.Errorf("ChannelState of an empty store: ok")
	}
	update(t, s, func(tx engine.Tx) error {
		if err := tx.PutChannelState("token|main", "T1", at(2*time.Hour+7), at(0)); err != nil {
			return err
		}
		return tx.PutChannelState("media|main|k", "M1", at(time.Hour), at(0))
	})
	v, exp, ok := get("token|main", at(time.Hour))
	if !ok || v != "T1" {
		t.Errorf("ChannelState(token|main) = %q, %v; want T1", v, ok)
	}
	checkTime(t, "token expiry", exp, at(2*time.Hour+7))
	if _, _, ok := get("media|main|k", at(time.Hour)); ok {
		t.Errorf("ChannelState returned a value at its expiry")
	}
	if v, _, ok := get("media|main|k", at(time.Hour-1)); !ok || v != "M1" {
		t.Errorf("ChannelState(media|main|k) before expiry = %q, %v; want M1", v, ok)
	}
	// Replacing a value; a put forgets what expired.
	update(t, s, func(tx engine.Tx) error {
		return tx.PutChannelState("token|main", "T2", at(4*time.Hour), at(time.Hour))
	})
	if v, _, ok := get("token|main", at(time.Hour)); !ok || v != "T2" {
		t.Errorf("after replacing: %q, %v; want T2", v, ok)
	}
	if v, _, ok := get("media|main|k", at(0)); ok {
		t.Errorf("an expired value survived a later put: %q", v)
	}
}

// Savepoints.

func contactExists(t *testing.T, tx engine.ReadTx, id string) bool {
	t.Helper()
	_, err := tx.Contact("a", id)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Contact(%s): %v", id, err)
	}
	return err == nil
}

func checkContacts(t *testing.T, tx engine.ReadTx, want map[string]bool) {
	t.Helper()
	for id, exists := range want {
		if got := contactExists(t, tx, id); got != exists {
			t.Errorf("contact %s exists = %v, want %v", id, got, exists)
		}
	}
}

func testSavepointError(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		if err := tx.PutContact(sampleContact("a", "before")); err != nil {
			return err
		}
		err := tx.Savepoint(func() error {
			if err := tx.PutContact(sampleContact("a", "inside")); err != nil {
				return err
			}
			// An update of a row written before the savepoint is undone too.
			c := sampleContact("a", "before")
			c.Tags = []string{"changed inside"}
			if err := tx.PutContact(c); err != nil {
				return err
			}
			r := sampleRun("a", "inside", "f")
			if err := tx.InsertRun(r); err != nil {
				return err
			}
			if err := tx.SetTimer(engine.Timer{RunID: r.ID, Seq: 1, Due: at(0)}); err != nil {
				return err
			}
			if err := tx.InsertOutbox(pending("a", "inside", "x", r.ID, at(0))); err != nil {
				return err
			}
			if _, err := tx.AddEvent(&engine.EventRecord{Key: "inside", Event: channels.Event{Account: "a", Contact: "inside", Kind: channels.Follow}, ReceivedAt: at(0)}); err != nil {
				return err
			}
			return fmt.Errorf("step failed: %w", errBoom)
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("Savepoint = %v, want the error of fn", err)
		}
		// Undone at once, inside the transaction.
		checkContacts(t, tx, map[string]bool{"before": true, "inside": false})
		return tx.PutContact(sampleContact("a", "after"))
	})
	view(t, s, func(tx engine.ReadTx) error {
		checkContacts(t, tx, map[string]bool{"before": true, "inside": false, "after": true})
		c, err := tx.Contact("a", "before")
		if err != nil {
			return err
		}
		checkContact(t, c, sampleContact("a", "before"))
		return nil
	})
	checkCounts(t, s, map[string]int{"contacts": 2})
	// The event the savepoint undid can be added again.
	update(t, s, func(tx engine.Tx) error {
		added, err := tx.AddEvent(&engine.EventRecord{Key: "inside", Event: channels.Event{Account: "a", Contact: "inside", Kind: channels.Follow}, ReceivedAt: at(0)})
		if err == nil && !added {
			t.Error("AddEvent of an event a savepoint undid: added = false")
		}
		return err
	})
}

func testSavepointSuccess(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		if err := tx.Savepoint(func() error { return tx.PutContact(sampleContact("a", "inside")) }); err != nil {
			return err
		}
		return tx.PutContact(sampleContact("a", "after"))
	})
	view(t, s, func(tx engine.ReadTx) error {
		checkContacts(t, tx, map[string]bool{"inside": true, "after": true})
		return nil
	})
}

func testSavepointNested(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		err := tx.Savepoint(func() error {
			if err := tx.PutContact(sampleContact("a", "outer")); err != nil {
				return err
			}
			inner := tx.Savepoint(func() error {
				if err := tx.PutContact(sampleContact("a", "inner")); err != nil {
					return err
				}
				return errBoom
			})
			if !errors.Is(inner, errBoom) {
				t.Errorf("inner Savepoint = %v, want the error of fn", inner)
			}
			if err := tx.Savepoint(func() error { return tx.PutContact(sampleContact("a", "sibling")) }); err != nil {
				return err
			}
			return tx.PutContact(sampleContact("a", "outer2"))
		})
		if err != nil {
			return err
		}
		// An outer savepoint that fails undoes the inner ones that succeeded.
		err = tx.Savepoint(func() error {
			if err := tx.Savepoint(func() error { return tx.PutContact(sampleContact("a", "doomed-inner")) }); err != nil {
				return err
			}
			if err := tx.PutContact(sampleContact("a", "doomed")); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("outer Savepoint = %v, want the error of fn", err)
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		checkContacts(t, tx, map[string]bool{"outer": true, "inner": false, "sibling": true, "outer2": true, "doomed-inner": false, "doomed": false})
		return nil
	})
}

func testSavepointFailedWrite(t *testing.T, s engine.Store) {
	existing := sampleRun("a", "alice", "f")
	existing.ID = 5
	update(t, s, func(tx engine.Tx) error { return tx.InsertRun(existing) })
	update(t, s, func(tx engine.Tx) error {
		err := tx.Savepoint(func() error {
			if err := tx.PutContact(sampleContact("a", "inside")); err != nil {
				return err
			}
			dup := sampleRun("a", "bob", "g")
			dup.ID = 5
			return tx.InsertRun(dup) // fails: the ID exists
		})
		if err == nil {
			t.Error("Savepoint around a failing InsertRun succeeded")
		}
		// The transaction goes on.
		r := sampleRun("a", "carol", "h")
		if err := tx.InsertRun(r); err != nil {
			return fmt.Errorf("InsertRun after a failed savepoint: %w", err)
		}
		return tx.PutContact(sampleContact("a", "after"))
	})
	view(t, s, func(tx engine.ReadTx) error {
		checkContacts(t, tx, map[string]bool{"inside": false, "after": true})
		got, err := tx.Run(5)
		if err != nil {
			return err
		}
		checkRun(t, got, existing)
		return nil
	})
	checkCounts(t, s, map[string]int{"contacts": 1, "runs": 2})
}

func testSavepointThenUpdateError(t *testing.T, s engine.Store) {
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if err := tx.Savepoint(func() error { return tx.PutContact(sampleContact("a", "inside")) }); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the error of fn", err)
	}
	checkCounts(t, s, nil)
}

// Times.

func testTimes(t *testing.T, s engine.Store) {
	// Different nanoseconds everywhere, in a zone that is not UTC, and a
	// time before 1970.
	ts := []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 1, zone),
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, zone),
		time.Date(2030, 12, 31, 23, 59, 59, 123456789, time.FixedZone("UTC-9:30", -(9*60+30)*60)),
		time.Date(1969, 7, 20, 20, 17, 40, 500000001, time.UTC),
		time.Date(2026, 6, 1, 0, 0, 0, 0, time.Local),
		time.Date(2026, 6, 1, 0, 0, 0, 7, time.UTC),
	}
	c := &engine.Contact{Account: "a", ID: "alice", Followed: true, FirstSeen: ts[0], LastSeen: ts[1]}
	sess := channels.Session{Followed: true, Last: ts[2], Kind: channels.MessageInteraction}
	r := &engine.Run{Account: "a", Contact: "alice", Flow: "f", Version: "v", Status: engine.RunCompleted, Pos: "0",
		StartedAt: ts[3], UpdatedAt: ts[4], EndedAt: ts[5]}
	open := &engine.Run{Account: "a", Contact: "alice", Flow: "g", Version: "v", Status: engine.RunRunning, Pos: "0",
		StartedAt: ts[1], UpdatedAt: ts[2]} // EndedAt zero
	o := &engine.OutboxEntry{RunID: 1, Account: "a", Contact: "alice", Message: sampleMessage("x"), Status: engine.OutboxPending, CreatedAt: ts[4], UpdatedAt: ts[5]}
	fv := &engine.FlowVersion{Version: "v", Name: "f", File: "f.yaml", Source: []byte("x"), LoadedAt: ts[2]}
	update(t, s, func(tx engine.Tx) error {
		for _, err := range []error{
			tx.PutContact(c),
			tx.PutSession("a", "alice", sess),
			tx.PutSession("a", "bob", channels.Session{Followed: true}), // Last zero
			tx.InsertRun(r),
			tx.InsertRun(open),
			tx.SetTimer(engine.Timer{RunID: r.ID, Seq: 1, Due: ts[0]}),
			tx.InsertOutbox(o),
			tx.PutFlowVersion(fv),
			tx.SetSchedule("s", ts[1]),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		gc, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkContact(t, gc, c)
		gs, _, err := tx.Session("a", "alice")
		if err != nil {
			return err
		}
		checkSession(t, gs, sess)
		gs, _, err = tx.Session("a", "bob")
		if err != nil {
			return err
		}
		checkTime(t, "zero Session.Last", gs.Last, time.Time{})
		for _, want := range []*engine.Run{r, open} {
			gr, err := tx.Run(want.ID)
			if err != nil {
				return err
			}
			checkRun(t, gr, want)
		}
		ls, _, err := tx.LastStart("a", "alice", "f")
		if err != nil {
			return err
		}
		checkTime(t, "LastStart", ls, ts[3])
		due, err := tx.DueTimers(ts[0], 10)
		if err != nil {
			return err
		}
		if len(due) != 1 {
			t.Fatalf("DueTimers at the timer's due time = %v", due)
		}
		checkTime(t, "Timer.Due", due[0].Due, ts[0])
		next, _, err := tx.NextTimer()
		if err != nil {
			return err
		}
		checkTime(t, "NextTimer", next, ts[0])
		os, err := tx.Outbox(engine.OutboxFilter{})
		if err != nil {
			return err
		}
		if len(os) != 1 {
			t.Fatalf("Outbox = %d entries", len(os))
		}
		checkOutbox(t, os[0], o)
		gv, err := tx.FlowVersion("v")
		if err != nil {
			return err
		}
		checkFlow(t, gv, fv)
		sched, err := tx.Schedules()
		if err != nil {
			return err
		}
		checkTime(t, "schedule due", sched["s"], ts[1])
		return nil
	})
	// One nanosecond before a timer is due, it is not.
	if got := dueTimers(t, s, ts[0].Add(-1), 10); len(got) != 0 {
		t.Errorf("DueTimers one nanosecond early = %v", got)
	}
}

// Counts.

func testCounts(t *testing.T, s engine.Store) {
	got := counts(t, s)
	for _, table := range tables {
		n, ok := got[table]
		if !ok {
			t.Errorf("Counts of an empty store has no %q", table)
		} else if n != 0 {
			t.Errorf("Counts of an empty store: %s = %d", table, n)
		}
	}
	update(t, s, func(tx engine.Tx) error {
		for i := range 3 {
			id := fmt.Sprint("c", i)
			if err := tx.PutContact(sampleContact("a", id)); err != nil {
				return err
			}
			if _, err := tx.AddEvent(&engine.EventRecord{Key: id, Event: channels.Event{Account: "a", Contact: id, Kind: channels.Follow}, ReceivedAt: at(0)}); err != nil {
				return err
			}
			r := sampleRun("a", id, "f")
			if err := tx.InsertRun(r); err != nil {
				return err
			}
			if err := tx.InsertOutbox(pending("a", id, "x", r.ID, at(0))); err != nil {
				return err
			}
			if err := tx.InsertOutbox(pending("a", id, "y", r.ID, at(0))); err != nil {
				return err
			}
		}
		if err := tx.PutSession("a", "c0", channels.Session{}); err != nil {
			return err
		}
		if err := tx.SetTimer(engine.Timer{RunID: 1, Seq: 1, Due: at(0)}); err != nil {
			return err
		}
		if err := tx.SetTimer(engine.Timer{RunID: 2, Seq: 1, Due: at(0)}); err != nil {
			return err
		}
		if err := tx.SetSchedule("s", at(0)); err != nil {
			return err
		}
		return tx.PutFlowVersion(&engine.FlowVersion{Version: "v", Name: "f", File: "f.yaml", Source: []byte("x"), LoadedAt: at(0)})
	})
	checkCounts(t, s, map[string]int{"contacts": 3, "sessions": 1, "events": 3, "runs": 3, "timers": 2, "outbox": 6, "schedules": 1, "flow_versions": 1})
	// Keys beyond the tables above are allowed; missing ones are not.
	got = counts(t, s)
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	for _, table := range tables {
		if !slices.Contains(keys, table) {
			t.Errorf("Counts has no %q (has %v)", table, keys)
		}
	}
}

// Paging runs and outbox entries; where active runs stand.

func testRunsBeforeID(t *testing.T, s engine.Store) {
	mk := func(id int64, contact, flow string, status engine.RunStatus) *engine.Run {
		return numberedRun(id, "a", contact, flow, status)
	}
	runs := []*engine.Run{
		mk(1, "alice", "f1", engine.RunWaitingReply),
		mk(2, "alice", "f2", engine.RunCompleted),
		mk(3, "bob", "f1", engine.RunRunning),
		mk(4, "alice", "f1", engine.RunWaitingTime),
		mk(5, "alice", "f2", engine.RunInterrupted),
		mk(6, "bob", "f1", engine.RunCompleted),
		mk(7, "alice", "f1", engine.RunCalling),
	}
	update(t, s, func(tx engine.Tx) error {
		for _, i := range []int{4, 0, 6, 2, 5, 1, 3} {
			if err := tx.InsertRun(runs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	cases := []struct {
		name string
		f    engine.RunFilter
		want []int64
	}{
		{"before 5", engine.RunFilter{BeforeID: 5}, []int64{4, 3, 2, 1}},
		{"before 5, limit 2", engine.RunFilter{BeforeID: 5, Limit: 2}, []int64{4, 3}},
		{"before the first", engine.RunFilter{BeforeID: 1}, []int64{}},
		{"before an ID past the last", engine.RunFilter{BeforeID: 100}, []int64{7, 6, 5, 4, 3, 2, 1}},
		{"flow, before 6", engine.RunFilter{Flow: "f1", BeforeID: 6}, []int64{4, 3, 1}},
		{"status, before 7", engine.RunFilter{Status: engine.RunCompleted, BeforeID: 7}, []int64{6, 2}},
		{"active, before 7", engine.RunFilter{Active: true, BeforeID: 7}, []int64{4, 3, 1}},
		// The one filter a store may answer from a shortcut.
		{"active of a contact, before 7", engine.RunFilter{Account: "a", Contact: "alice", Active: true, BeforeID: 7}, []int64{4, 1}},
		{"active of a contact, before 4", engine.RunFilter{Account: "a", Contact: "alice", Active: true, BeforeID: 4}, []int64{1}},
		{"contact, before 5, limit 1", engine.RunFilter{Account: "a", Contact: "alice", BeforeID: 5, Limit: 1}, []int64{4}},
	}
	view(t, s, func(tx engine.ReadTx) error {
		for _, c := range cases {
			got, err := tx.Runs(c.f)
			if err != nil {
				return fmt.Errorf("Runs(%s): %w", c.name, err)
			}
			mustEqual(t, "Runs "+c.name+" (newest first)", runIDs(got), c.want)
		}
		// Paging newest first with the last ID of each page sees every
		// run once, in order.
		var seen []int64
		before := int64(0)
		for page := 0; page < 10; page++ {
			got, err := tx.Runs(engine.RunFilter{BeforeID: before, Limit: 3})
			if err != nil {
				return err
			}
			if len(got) == 0 {
				break
			}
			seen = append(seen, runIDs(got)...)
			before = got[len(got)-1].ID
		}
		mustEqual(t, "Runs paged by 3", seen, []int64{7, 6, 5, 4, 3, 2, 1})
		return nil
	})
}

func testOutboxPaging(t *testing.T, s engine.Store) {
	// Entry i belongs to run runOf[i].
	runOf := []int64{1, 2, 1, 3, 1, 2, 1}
	var ids []int64
	update(t, s, func(tx engine.Tx) error {
		for i, run := range runOf {
			contact := "alice"
			if run == 3 {
				contact = "bob"
			}
			o := pending("a", contact, fmt.Sprint("m", i), run, at(time.Duration(i)*time.Second))
			if i == 2 {
				o.Status, o.Reason = engine.OutboxFailed, channels.ReasonWindowClosed
			}
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		return nil
	})
	pick := func(is ...int) []int64 {
		out := []int64{}
		for _, i := range is {
			out = append(out, ids[i])
		}
		return out
	}
	cases := []struct {
		name string
		f    engine.OutboxFilter
		want []int64
	}{
		{"newest first", engine.OutboxFilter{Newest: true}, pick(6, 5, 4, 3, 2, 1, 0)},
		{"newest, limit 3", engine.OutboxFilter{Newest: true, Limit: 3}, pick(6, 5, 4)},
		{"before", engine.OutboxFilter{BeforeID: ids[3]}, pick(0, 1, 2)},
		{"before the first", engine.OutboxFilter{BeforeID: ids[0]}, pick()},
		{"before, newest, limit 2", engine.OutboxFilter{BeforeID: ids[4], Newest: true, Limit: 2}, pick(3, 2)},
		{"after and before", engine.OutboxFilter{AfterID: ids[1], BeforeID: ids[5]}, pick(2, 3, 4)},
		{"run", engine.OutboxFilter{RunID: 1}, pick(0, 2, 4, 6)},
		{"run, newest", engine.OutboxFilter{RunID: 1, Newest: true}, pick(6, 4, 2, 0)},
		{"run, newest, before, limit 2", engine.OutboxFilter{RunID: 1, Newest: true, BeforeID: ids[6], Limit: 2}, pick(4, 2)},
		{"run and status", engine.OutboxFilter{RunID: 1, Status: engine.OutboxFailed}, pick(2)},
		{"run of another contact", engine.OutboxFilter{RunID: 3}, pick(3)},
		{"run and contact that do not meet", engine.OutboxFilter{RunID: 3, Account: "a", Contact: "alice"}, pick()},
		{"run without messages", engine.OutboxFilter{RunID: 99}, pick()},
	}
	for _, c := range cases {
		mustEqual(t, "Outbox "+c.name, outboxIDs(listOutbox(t, s, c.f)), c.want)
	}
	// Paging newest first with the last ID of each page sees every entry
	// once.
	var seen []int64
	before := int64(0)
	for page := 0; page < 10; page++ {
		got := listOutbox(t, s, engine.OutboxFilter{Newest: true, BeforeID: before, Limit: 3})
		if len(got) == 0 {
			break
		}
		seen = append(seen, outboxIDs(got)...)
		before = got[len(got)-1].ID
	}
	mustEqual(t, "Outbox paged newest first by 3", seen, pick(6, 5, 4, 3, 2, 1, 0))
}

func testActiveSteps(t *testing.T, s engine.Store) {
	steps := func() []engine.StepCount {
		var out []engine.StepCount
		view(t, s, func(tx engine.ReadTx) error {
			var err error
			out, err = tx.ActiveSteps()
			return err
		})
		// The order is not the store's promise.
		slices.SortFunc(out, func(a, b engine.StepCount) int {
			return cmp.Compare(a.Flow+"|"+a.Version+"|"+a.Pos+"|"+string(a.Status), b.Flow+"|"+b.Version+"|"+b.Pos+"|"+string(b.Status))
		})
		return out
	}
	if got := steps(); len(got) != 0 {
		t.Errorf("ActiveSteps of an empty store = %+v", got)
	}
	n := 0
	mk := func(flow, version, pos, step string, status engine.RunStatus, ended bool) *engine.Run {
		n++
		r := &engine.Run{Account: "a", Contact: fmt.Sprint("c", n), Flow: flow, Version: version, Status: status,
			Pos: pos, Step: step, StartedAt: at(0), UpdatedAt: at(time.Minute)}
		if ended {
			r.EndedAt = at(time.Hour)
		}
		return r
	}
	runs := []*engine.Run{
		mk("f1", "v1", "1", "ask (line 5)", engine.RunWaitingReply, false),
		mk("f1", "v1", "1", "ask (line 5)", engine.RunWaitingReply, false),
		mk("f1", "v1", "1", "ask (line 5)", engine.RunRunning, false),
		mk("f1", "v2", "1", "ask (line 5)", engine.RunWaitingReply, false),
		mk("f1", "v1", "3", "wait (line 9)", engine.RunWaitingTime, false),
		mk("f2", "v1", "0/1/0", "lookup", engine.RunCalling, false),
		mk("f2", "v1", "0/1/0", "lookup", engine.RunCalling, false),
		mk("f2", "v1", "0/1/0", "lookup", engine.RunCalling, false),
		// Ended runs, where the active ones stand too, and a flow with
		// none active.
		mk("f1", "v1", "1", "ask (line 5)", engine.RunTimedOut, true),
		mk("f1", "v1", "1", "ask (line 5)", engine.RunInterrupted, true),
		mk("f2", "v1", "0/1/0", "lookup", engine.RunFailed, true),
		mk("f3", "v1", "2", "end", engine.RunCompleted, true),
	}
	update(t, s, func(tx engine.Tx) error {
		for _, r := range runs {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	want := []engine.StepCount{
		{Flow: "f1", Version: "v1", Pos: "1", Step: "ask (line 5)", Status: engine.RunRunning, N: 1},
		{Flow: "f1", Version: "v1", Pos: "1", Step: "ask (line 5)", Status: engine.RunWaitingReply, N: 2},
		{Flow: "f1", Version: "v1", Pos: "3", Step: "wait (line 9)", Status: engine.RunWaitingTime, N: 1},
		{Flow: "f1", Version: "v2", Pos: "1", Step: "ask (line 5)", Status: engine.RunWaitingReply, N: 1},
		{Flow: "f2", Version: "v1", Pos: "0/1/0", Step: "lookup", Status: engine.RunCalling, N: 3},
	}
	mustEqual(t, "ActiveSteps", steps(), want)

	// A run that ends leaves its group; one that moves changes group.
	update(t, s, func(tx engine.Tx) error {
		r := *runs[0]
		r.Status, r.EndedAt, r.Seq = engine.RunCompleted, at(2*time.Hour), 1
		if err := tx.UpdateRun(&r); err != nil {
			return err
		}
		m := *runs[4]
		m.Status, m.Pos, m.Step, m.Seq = engine.RunWaitingReply, "4", "ask (line 11)", 1
		return tx.UpdateRun(&m)
	})
	want = []engine.StepCount{
		{Flow: "f1", Version: "v1", Pos: "1", Step: "ask (line 5)", Status: engine.RunRunning, N: 1},
		{Flow: "f1", Version: "v1", Pos: "1", Step: "ask (line 5)", Status: engine.RunWaitingReply, N: 1},
		{Flow: "f1", Version: "v1", Pos: "4", Step: "ask (line 11)", Status: engine.RunWaitingReply, N: 1},
		{Flow: "f1", Version: "v2", Pos: "1", Step: "ask (line 5)", Status: engine.RunWaitingReply, N: 1},
		{Flow: "f2", Version: "v1", Pos: "0/1/0", Step: "lookup", Status: engine.RunCalling, N: 3},
	}
	mustEqual(t, "ActiveSteps after an end and a move", steps(), want)
}

// Retention.

// event is an event record of a kind received at a time.
func event(key string, kind channels.Kind, received time.Time) *engine.EventRecord {
	return &engine.EventRecord{Key: key, Event: channels.Event{Account: "a", Contact: "alice", Kind: kind, At: received}, ReceivedAt: received}
}

func testPruneEvents(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		for i, e := range []*engine.EventRecord{
			event("old-follow", channels.Follow, at(0)),
			event("old-text", channels.Text, at(time.Minute)),
			event("old-loc-1", channels.LocationReport, at(0)),
			event("old-loc-2", channels.LocationReport, at(time.Minute)),
			event("new-text", channels.Text, at(time.Hour)),
			event("new-loc", channels.LocationReport, at(time.Hour)),
			event("edge-text", channels.Text, at(30*time.Minute)),
		} {
			if _, err := tx.AddEvent(e); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
		return nil
	})
	prune := func(before time.Time, locations bool, limit int) int {
		var n int
		update(t, s, func(tx engine.Tx) error {
			var err error
			n, err = tx.PruneEvents(before, locations, limit)
			return err
		})
		return n
	}
	// Received strictly before: edge-text (at 30m) stays.
	if n := prune(at(30*time.Minute), false, 1); n != 1 {
		t.Errorf("PruneEvents(limit 1) = %d, want 1", n)
	}
	if n := prune(at(30*time.Minute), false, 10); n != 1 {
		t.Errorf("PruneEvents(the rest) = %d, want 1", n)
	}
	if n := prune(at(30*time.Minute), false, 10); n != 0 {
		t.Errorf("PruneEvents(nothing left) = %d, want 0", n)
	}
	checkCounts(t, s, map[string]int{"events": 5})
	if n := prune(at(30*time.Minute), true, 10); n != 2 {
		t.Errorf("PruneEvents(location reports) = %d, want 2", n)
	}
	checkCounts(t, s, map[string]int{"events": 3})
	// A pruned key is forgotten; a kept one still dedupes.
	update(t, s, func(tx engine.Tx) error {
		for key, want := range map[string]bool{"old-text": true, "old-loc-1": true, "new-text": false, "new-loc": false, "edge-text": false} {
			added, err := tx.AddEvent(event(key, channels.Text, at(2*time.Hour)))
			if err != nil {
				return err
			}
			if added != want {
				t.Errorf("AddEvent(%s) after pruning: added = %v, want %v", key, added, want)
			}
		}
		return nil
	})
}

// pruneRuns calls PruneRuns in one transaction.
func pruneRuns(t *testing.T, s engine.Store, before time.Time, limit int) (int, int) {
	t.Helper()
	var runs, msgs int
	update(t, s, func(tx engine.Tx) error {
		var err error
		runs, msgs, err = tx.PruneRuns(before, limit)
		return err
	})
	return runs, msgs
}

func testPruneRuns(t *testing.T, s engine.Store) {
	// numberedRun(id) starts id minutes in and ends a second later.
	update(t, s, func(tx engine.Tx) error {
		for _, r := range []*engine.Run{
			numberedRun(1, "a", "alice", "f", engine.RunCompleted),   // old, ended: goes with its sent message
			numberedRun(2, "a", "alice", "f", engine.RunWaitingTime), // old, active: stays
			numberedRun(3, "a", "bob", "f", engine.RunFailed),        // old, ended, a message still pending: stays
			numberedRun(4, "a", "bob", "f", engine.RunTimedOut),      // old, ended, no messages: goes
			numberedRun(5, "a", "carol", "f", engine.RunCompleted),   // old, ended, a message claimed: stays
			numberedRun(90, "a", "dave", "f", engine.RunCompleted),   // ended at 90m: after the cutoff
			numberedRun(91, "a", "erin", "f", engine.RunCompleted),   // ended after the cutoff, the newest
		} {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		if err := tx.SetTimer(engine.Timer{RunID: 2, Seq: 1, Due: at(time.Hour)}); err != nil {
			return err
		}
		for _, o := range []*engine.OutboxEntry{
			pending("a", "alice", "sent of 1", 1, at(time.Minute)),
			pending("a", "alice", "of 2", 2, at(2*time.Minute)),
			pending("a", "bob", "pending of 3", 3, at(3*time.Minute)),
			pending("a", "carol", "claimed of 5", 5, at(5*time.Minute)),
			pending("a", "dave", "sent of 90", 90, at(90*time.Minute)),
		} {
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
		}
		if err := tx.FinishOutbox(1, engine.OutboxSent, "", 0, "", at(time.Minute)); err != nil {
			return err
		}
		if err := tx.FinishOutbox(2, engine.OutboxSent, "", 0, "", at(2*time.Minute)); err != nil {
			return err
		}
		if err := tx.FinishOutbox(5, engine.OutboxSent, "", 0, "", at(90*time.Minute)); err != nil {
			return err
		}
		return tx.ClaimOutboxThrough(4, at(6*time.Minute))
	})
	runs, msgs := pruneRuns(t, s, at(time.Hour), 1)
	if runs != 1 {
		t.Errorf("PruneRuns(limit 1) = %d runs, want 1", runs)
	}
	runs2, msgs2 := pruneRuns(t, s, at(time.Hour), 10)
	if runs+runs2 != 2 || msgs+msgs2 != 1 {
		t.Errorf("PruneRuns deleted %d runs and %d messages, want 2 and 1", runs+runs2, msgs+msgs2)
	}
	if runs, msgs := pruneRuns(t, s, at(time.Hour), 10); runs != 0 || msgs != 0 {
		t.Errorf("PruneRuns(nothing left) = %d runs, %d messages", runs, msgs)
	}
	view(t, s, func(tx engine.ReadTx) error {
		all, err := tx.Runs(engine.RunFilter{})
		if err != nil {
			return err
		}
		mustEqual(t, "runs kept", runIDs(all), []int64{91, 90, 5, 3, 2})
		out, err := tx.Outbox(engine.OutboxFilter{})
		if err != nil {
			return err
		}
		mustEqual(t, "messages kept", outboxIDs(out), []int64{2, 3, 4, 5})
		return nil
	})
	checkCounts(t, s, map[string]int{"runs": 5, "outbox": 4, "timers": 1})
	// Everything ended is older now, but the newest run stays, and so
	// does the run of the newest message (90's), with it.
	if runs, msgs := pruneRuns(t, s, at(24*time.Hour), 10); runs != 0 || msgs != 0 {
		t.Errorf("PruneRuns a day later = %d runs, %d messages, want none (90 has the newest message; 91 is the newest run)", runs, msgs)
	}
}

// pruneOutbox walks the outbox with PruneOutbox, limit entries a
// transaction, until it is done, and returns how many it deleted and the
// IDs each call stopped at.
func pruneOutbox(t *testing.T, s engine.Store, before, now time.Time, limit int) (int, []int64) {
	t.Helper()
	var after int64
	total, stops := 0, []int64{}
	for range 100 {
		var n int
		var done bool
		update(t, s, func(tx engine.Tx) error {
			var err error
			n, after, done, err = tx.PruneOutbox(before, now, after, limit)
			return err
		})
		total += n
		stops = append(stops, after)
		if done {
			return total, stops
		}
	}
	t.Fatalf("PruneOutbox is not done after 100 calls: %v", stops)
	return 0, nil
}

func testPruneOutbox(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		if err := tx.InsertRun(numberedRun(1, "a", "alice", "f", engine.RunCompleted)); err != nil {
			return err
		}
		if err := tx.InsertRun(numberedRun(2, "a", "bob", "f", engine.RunWaitingReply)); err != nil {
			return err
		}
		type entry struct {
			run      int64
			status   engine.OutboxStatus
			finished time.Duration
		}
		for i, e := range []entry{
			{1, engine.OutboxSent, time.Minute},       // 1: goes
			{1, engine.OutboxFailed, 2 * time.Minute}, // 2: goes
			{0, engine.OutboxUnknown, time.Minute},    // 3: no run: goes
			{2, engine.OutboxSent, time.Minute},       // 4: its run is active: stays
			{1, engine.OutboxPending, 0},              // 5: not finished: stays
			{1, engine.OutboxSending, 0},              // 6: claimed: stays
			{1, engine.OutboxSent, 2 * time.Hour},     // 7: finished recently: stays
			{1, engine.OutboxSent, 2 * time.Hour},     // 8: reserved recently: stays, the walk ends
		} {
			o := pending("a", "alice", fmt.Sprint("m", i+1), e.run, at(0))
			if i == 7 {
				o.CreatedAt = at(90 * time.Minute)
			}
			if e.run == 2 {
				o.Contact = "bob"
			}
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			switch e.status {
			case engine.OutboxPending:
			case engine.OutboxSending:
				if err := tx.ClaimOutboxThrough(o.ID, at(0)); err != nil {
					return err
				}
			default:
				if err := tx.FinishOutbox(o.ID, e.status, "", 0, "", at(e.finished)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	n, stops := pruneOutbox(t, s, at(time.Hour), at(2*time.Hour), 2)
	if n != 3 {
		t.Errorf("PruneOutbox deleted %d, want 3", n)
	}
	mustEqual(t, "where the calls of 2 stopped", stops, []int64{2, 4, 6, 7})
	if n, _ := pruneOutbox(t, s, at(time.Hour), at(2*time.Hour), 10); n != 0 {
		t.Errorf("PruneOutbox(nothing left) = %d", n)
	}
	mustEqual(t, "messages kept", outboxIDs(listOutbox(t, s, engine.OutboxFilter{})), []int64{4, 5, 6, 7, 8})
	checkCounts(t, s, map[string]int{"runs": 2, "outbox": 5})
}

// testPruneOutboxAfterAClockJump: a message reserved while the clock ran
// ahead (created in the future) does not end the walk, as a message
// reserved after the cutoff does: the walk stopped at it, and no message
// reserved after it went until the clock caught up (a year's jump kept
// the outbox growing for a year).
func testPruneOutboxAfterAClockJump(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		if err := tx.InsertRun(numberedRun(1, "a", "alice", "f", engine.RunCompleted)); err != nil {
			return err
		}
		for i, created := range []time.Duration{
			0,                    // 1: goes
			365 * 24 * time.Hour, // 2: reserved with the clock a year ahead: stays
			time.Minute,          // 3: the clock came back: goes
			2 * time.Hour,        // 4: reserved recently: stays, the walk ends
			2 * time.Hour,        // 5: the newest: stays
		} {
			o := pending("a", "alice", fmt.Sprint("m", i+1), 1, at(created))
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			if err := tx.FinishOutbox(o.ID, engine.OutboxSent, "", 0, "", at(created)); err != nil {
				return err
			}
		}
		return nil
	})
	n, _ := pruneOutbox(t, s, at(time.Hour), at(3*time.Hour), 2)
	if n != 2 {
		t.Errorf("PruneOutbox deleted %d, want 2", n)
	}
	mustEqual(t, "messages kept", outboxIDs(listOutbox(t, s, engine.OutboxFilter{})), []int64{2, 4, 5})
}

func testPruneIDsNotReused(t *testing.T, s engine.Store) {
	update(t, s, func(tx engine.Tx) error {
		for i := int64(1); i <= 3; i++ {
			if err := tx.InsertRun(numberedRun(i, "a", "alice", "f", engine.RunCompleted)); err != nil {
				return err
			}
			o := pending("a", "alice", "m", i, at(0))
			if err := tx.InsertOutbox(o); err != nil {
				return err
			}
			if err := tx.FinishOutbox(o.ID, engine.OutboxSent, "", 0, "", at(0)); err != nil {
				return err
			}
		}
		return nil
	})
	pruneRuns(t, s, at(24*time.Hour), 10)
	pruneOutbox(t, s, at(24*time.Hour), at(48*time.Hour), 10)
	checkCounts(t, s, map[string]int{"runs": 1, "outbox": 1})
	update(t, s, func(tx engine.Tx) error {
		r := sampleRun("a", "bob", "f")
		if err := tx.InsertRun(r); err != nil {
			return err
		}
		if r.ID <= 3 {
			t.Errorf("a run inserted after pruning got ID %d, given out before", r.ID)
		}
		o := pending("a", "bob", "m", r.ID, at(0))
		if err := tx.InsertOutbox(o); err != nil {
			return err
		}
		if o.ID <= 3 {
			t.Errorf("a message inserted after pruning got ID %d, given out before", o.ID)
		}
		return nil
	})
}
