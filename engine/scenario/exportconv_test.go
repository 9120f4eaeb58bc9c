package scenario

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// exportFlows are the flows of the export round trip.
var exportFlows = map[string]string{
	"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: "Welcome!"
  - ask: "What should we call you?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: nudge
  - send: "Nice to meet you, ${contact.fields.name}!"
  - end
  - id: nudge
    send: "Still there? Write help any time."
`,
	"help.yaml": `name: help
triggers:
  - keyword: [help]
steps:
  - send: "How can we help?"
  - send: "Opening hours: 9-18"
`,
}

func loadExportFlows(t *testing.T, dir string, files map[string]string) *flows.Set {
	t.Helper()
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

// TestExportRoundTrip drives a sandbox (two followers, a timer, a
// refusal of the platform), exports one conversation from its store, and
// runs the export: it passes against the same flows, and fails at the
// right line once a flow changed.
func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone data")
	}
	dir := t.TempDir()
	set := loadExportFlows(t, dir, exportFlows)
	db := filepath.Join(t.TempDir(), "wxflow.db")
	sb, err := sandbox.New(ctx, sandbox.Config{Set: set, DBPath: db, Zone: shanghai, Account: "main",
		Start: time.Date(2026, 11, 20, 10, 0, 0, 0, shanghai)})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sb.Follow(ctx, "o_alice", "store_1"))
	must(sb.Follow(ctx, "o_bob", ""))
	must(sb.Advance(ctx, 90*time.Minute)) // alice's question times out
	must(sb.Say(ctx, "o_bob", "Bob"))
	must(sb.Advance(ctx, 25*time.Hour+1500*time.Millisecond))
	sb.Channel().FailNext(1, &channels.Refusal{Reason: channels.ReasonAPIError, Code: 45015})
	must(sb.Say(ctx, "o_alice", "help"))
	must(sb.Image(ctx, "o_alice", "media-1"))
	must(sb.Advance(ctx, time.Second))
	must(sb.Ingest(ctx, channels.Event{Contact: "o_alice", Kind: channels.LocationReport, Location: &channels.Geo{Lat: 31.2, Lng: 121.5}}))
	must(sb.Close())

	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out, err := Export(ctx, st, ExportOptions{Account: "main", Contact: "o_alice", Zone: shanghai, ZoneName: "Asia/Shanghai"})
	if err != nil {
		t.Fatal(err)
	}
	// alice's four events: within a bound of four, refused under one of
	// three (the console's bound, read before the whole conversation).
	if same, err := Export(ctx, st, ExportOptions{Account: "main", Contact: "o_alice", Zone: shanghai, ZoneName: "Asia/Shanghai", MaxEvents: 4}); err != nil || string(same) != string(out) {
		t.Errorf("export within MaxEvents 4: %v\n%s", err, same)
	}
	if _, err := Export(ctx, st, ExportOptions{Account: "main", Contact: "o_alice", Zone: shanghai, MaxEvents: 3}); !errors.Is(err, ErrExportTooLong) || !strings.Contains(err.Error(), "more than 3 events") || !strings.Contains(err.Error(), "--since") {
		t.Errorf("export over MaxEvents 3: %v, want ErrExportTooLong saying how to export less", err)
	}
	got := string(out)
	for _, want := range []string{
		"name: \"conversation of main/o_alice from 2026-11-20 10:00\"\n",
		"start: 2026-11-20T10:00:00.000+08:00\ntimezone: \"Asia/Shanghai\"\naccount: { id: \"main\" }\ncontact: { id: \"o_alice\" }\n",
		"  - follow: \"store_1\"\n  - expect: \"Welcome!\"\n  - expect: \"What should we call you?\"\n  - wait: 1h\n  - expect: \"Still there? Write help any time.\"\n",
		// The sandbox's clock gives the say and the image the same
		// instant: the messages of that instant follow both.
		"  - wait: 25h30m1.5s\n  # what the next actions caused follows them all: they came at the same instant (the sandbox's clock)\n  - fail_next: { reason: api_error, code: 45015 }\n  - say: \"help\"\n  - image: \"media-1\"\n" +
			"  - expect: { text: \"How can we help?\", status: failed, reason: api_error }\n  - expect: \"Opening hours: 9-18\"\n  - expect_none\n",
		"#   welcome sha256:", "#   help sha256:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("export lacks\n%s\n--- export:\n%s", want, got)
		}
	}
	if strings.Contains(got, "location") || strings.Contains(got, "wait: 1s") {
		t.Errorf("export has the location report:\n%s", got)
	}
	if strings.Contains(got, "o_bob") || strings.Contains(got, "Bob") {
		t.Errorf("export has another contact's conversation:\n%s", got)
	}

	// The export passes against the flows it was made with.
	f := Parse("alice.test.yaml", out)
	var report bytes.Buffer
	if sum := RunFile(ctx, f, set, Options{}, &report); sum.Passed != 1 || sum.Failed != 0 {
		t.Fatalf("%s\n%s\n--- export:\n%s", sum, report.String(), got)
	}

	// Changed flows fail it at the line of the message that changed.
	dir2 := t.TempDir()
	changed := map[string]string{"welcome.yaml": exportFlows["welcome.yaml"], "help.yaml": strings.Replace(exportFlows["help.yaml"], "9-18", "10-18", 1)}
	set2 := loadExportFlows(t, dir2, changed)
	report.Reset()
	if sum := RunFile(ctx, f, set2, Options{}, &report); sum.Failed != 1 {
		t.Fatalf("changed flows: %s, want a failure\n%s", sum, report.String())
	}
	line := 1 + strings.Count(got[:strings.Index(got, "  - expect: \"Opening hours")], "\n")
	if want := "alice.test.yaml:" + strconv.Itoa(line) + ":5: "; !strings.HasPrefix(report.String(), want) {
		t.Errorf("report does not start with %q:\n%s", want, report.String())
	}

	// --since leaves out what came before.
	out, err = Export(ctx, st, ExportOptions{Account: "main", Contact: "o_alice", Zone: shanghai, Since: time.Date(2026, 11, 21, 0, 0, 0, 0, shanghai)})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "Welcome") || !strings.Contains(s, "say: \"help\"") || !strings.Contains(s, "before --since") {
		t.Errorf("since: export\n%s", s)
	}
	if _, err := Export(ctx, st, ExportOptions{Account: "main", Contact: "o_nobody"}); !errors.Is(err, ErrNothingToExport) {
		t.Errorf("unknown contact: err = %v, want ErrNothingToExport", err)
	}
}

// TestExportAccountAutoClose: an account's auto_close other than the
// default is written in account:, or the exported scenario's closes
// (and the flows of conversation: closed) came at another time.
func TestExportAccountAutoClose(t *testing.T) {
	t.Parallel()
	got := accountLine(ExportOptions{Account: "intl", AutoClose: 30 * time.Minute})
	if got != "account: { id: \"intl\", auto_close: 30m }\n" {
		t.Fatalf("account line %q", got)
	}
	if got := accountLine(ExportOptions{Account: "intl", AutoClose: engine.DefaultAutoClose}); got != "account: { id: \"intl\" }\n" {
		t.Fatalf("account line with the default %q", got)
	}
}

// TestExportPersonsReplyIsAComment: a person's reply (no run) is a
// comment, not an expect that no action of the scenario could make true.
func TestExportPersonsReplyIsAComment(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	events := []*engine.EventRecord{{Key: "1", ReceivedAt: at, Event: channels.Event{Kind: channels.Text, Text: "help"}}}
	msgs := []*engine.OutboxEntry{
		{ID: 1, RunID: 7, CreatedAt: at, Status: engine.OutboxSent, Message: channels.Message{Type: "text", Text: "A colleague will answer."}},
		{ID: 2, CreatedAt: at.Add(time.Minute), Status: engine.OutboxSent, Message: channels.Message{Type: "text", Text: "Hi, Amy here."}},
	}
	src := string(writeExport(ExportOptions{Account: "main", Contact: "o_c", Zone: time.UTC}, events, msgs, nil))
	for _, want := range []string{
		"  - expect: \"A colleague will answer.\"\n",
		"  # " + NotPlayed + ", a person's reply: expect: \"Hi, Amy here.\"\n",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("export lacks %q:\n%s", want, src)
		}
	}
}

// TestExportWritesThePeople: the server's operators and teams are the
// scenario's header, so that the flows' assign steps find the names they
// use; an export without them failed at the first assign ("no team
// \"support\" is declared") against the very flows it came from.
func TestExportWritesThePeople(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	events := []*engine.EventRecord{{Key: "1", ReceivedAt: at, Event: channels.Event{Kind: channels.Text, Text: "help"}}}
	people := &engine.People{
		Operators: []engine.Operator{{Name: "amy", Teams: []string{"support"}}, {Name: "bob", Teams: []string{"support", "night"}}},
		Teams:     map[string]*steps.Hours{"support": nil, "night": nil},
	}
	src := writeExport(ExportOptions{Account: "main", Contact: "o_c", Zone: time.UTC, People: people}, events, nil, nil)
	f := Parse("x.test.yaml", src)
	if len(f.Problems) > 0 || len(f.Scenarios) != 1 {
		t.Fatalf("the export does not parse: %v\n%s", f.Problems, src)
	}
	sc := f.Scenarios[0]
	if sc.People == nil || len(sc.People.Operators) != 2 || sc.People.Operators[1].Name != "bob" || len(sc.People.Operators[1].Teams) != 2 || len(sc.People.Teams) != 2 {
		t.Fatalf("the export's people: %+v\n%s", sc.People, src)
	}
	if src := string(writeExport(ExportOptions{Account: "main", Contact: "o_c", Zone: time.UTC}, events, nil, nil)); strings.Contains(src, "operators:") || strings.Contains(src, "teams:") {
		t.Errorf("an export without people writes a header of them:\n%s", src)
	}
}

// TestExportStartFromOutsideIsAComment: the messages of a run started
// through the admin API or by an operator are comments (counted by
// export-test's warning), not expects that no action of the scenario
// could make true: docs/console.md's API start of order-status, exported,
// failed at its message ("got no message: nothing more was sent").
func TestExportStartFromOutsideIsAComment(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	events := []*engine.EventRecord{{Key: "1", ReceivedAt: at, Event: channels.Event{Kind: channels.Text, Text: "help"}}}
	runs := []*engine.Run{
		{ID: 7, State: engine.RunState{Trail: engine.Trail{{At: at, What: `started by text "help"`}}}},
		{ID: 8, State: engine.RunState{Trail: engine.Trail{{At: at, What: "started through the admin API or the console"}}}},
		{ID: 9, State: engine.RunState{Trail: engine.Trail{{At: at, What: "started by operator amy"}}}},
	}
	msgs := []*engine.OutboxEntry{
		{ID: 1, RunID: 7, CreatedAt: at, Status: engine.OutboxSent, Message: channels.Message{Type: "text", Text: "How can we help?"}},
		{ID: 2, RunID: 8, CreatedAt: at.Add(time.Minute), Status: engine.OutboxSent, Message: channels.Message{Type: "text", Text: "Order A-1 ships today."}},
		{ID: 3, RunID: 9, CreatedAt: at.Add(2 * time.Minute), Status: engine.OutboxSent, Message: channels.Message{Type: "text", Text: "Rate us?"}},
	}
	src := string(writeExport(ExportOptions{Account: "main", Contact: "o_c", Zone: time.UTC}, events, msgs, runs))
	for _, want := range []string{
		"  - expect: \"How can we help?\"\n",
		"  # " + NotPlayed + ", a run started through the API or by an operator: expect: \"Order A-1 ships today.\"\n",
		"  # " + NotPlayed + ", a run started through the API or by an operator: expect: \"Rate us?\"\n",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("export lacks %q:\n%s", want, src)
		}
	}
	if f := Parse("x.test.yaml", []byte(src)); len(f.Problems) > 0 {
		t.Fatalf("the export does not parse: %v\n%s", f.Problems, src)
	}
}
