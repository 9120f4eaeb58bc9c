package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
	"github.com/wxflow/wxflow/flows"
)

// convFlows are the flows the export and plan tests run a conversation
// through.
var convFlows = map[string]string{
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
    send: "Still there?"
`,
	"help.yaml": `name: help
triggers:
  - keyword: [help]
steps:
  - send: "How can we help?"
`,
}

// convStart is when the conversations start: a Friday morning in Beijing.
var convStart = time.Date(2026, 11, 20, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// driveConversations runs an engine on a store (the simulated channel,
// a virtual clock) with the flows of dir: alice follows, answers, lets
// nothing time out and asks for help a day later; bob follows and waits
// at the question. The store is closed when it returns.
func driveConversations(t *testing.T, st engine.Store, dir string) {
	t.Helper()
	ctx := context.Background()
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil || set.Diags.HasErrors() {
		t.Fatalf("flows: %v %v", err, set.Diags.Err())
	}
	clock := engine.NewVirtualClock(convStart)
	ch := sim.New(map[string]wechat.Settings{"main": {}}, wechat.Settings{})
	e, err := engine.New(engine.Config{Store: st, Channel: ch, Clock: clock, Zone: convStart.Location()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.Load(ctx, set))
	n := 0
	do := func(contact string, kind channels.Kind, text string) {
		t.Helper()
		n++
		must(e.Ingest(ctx, channels.Event{Account: "main", Contact: contact, Kind: kind, Text: text, MsgID: fmt.Sprint(n), At: clock.Now()}))
		must(e.Sync(ctx))
	}
	advance := func(d time.Duration) {
		t.Helper()
		clock.Advance(d)
		must(e.FireDue(ctx))
		must(e.Sync(ctx))
	}
	do("o_alice", channels.Follow, "")
	advance(2 * time.Minute)
	do("o_alice", channels.Text, "Alice")
	advance(24 * time.Hour)
	do("o_bob", channels.Follow, "")
	advance(10 * time.Minute)
	do("o_alice", channels.Text, "help")
	e.Stop()
	must(st.Close())
}

// convConfig writes a config naming the database and the flows folder.
func convConfig(t *testing.T, dir, database string) string {
	t.Helper()
	path := filepath.Join(dir, "wxflow.yaml")
	cfg := fmt.Sprintf("database: %q\nflows: flows\ntimezone: Asia/Shanghai\naccounts:\n  - id: main\n    app_id: wx0123456789abcdef\n    app_secret: ${WXFLOW_CONV_SECRET}\n    token: ${WXFLOW_CONV_TOKEN}\n", database)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pgDatabase returns a fresh schema at WXFLOW_PG_URL as a database
// setting (skipped without, unless WXFLOW_REQUIRE_PG=1).
func pgDatabase(t *testing.T) string {
	t.Helper()
	dsn, _ := pgtest.Schema(t, "wxexport_")
	return dsn
}

// TestExportTestAndPlan runs conversations through an engine on each
// store, then: export-test writes alice's conversation, wxflow test
// passes it against the same flows and fails it once a flow changed;
// plan says nothing is at risk for the same folder, and names the step
// bob waits at once it changed.
func TestExportTestAndPlan(t *testing.T) {
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			flowsDir := filepath.Join(dir, "flows")
			writeFiles(t, flowsDir, convFlows)
			database := filepath.Join(dir, "wxflow.db")
			if store == "postgres" {
				database = pgDatabase(t)
			}
			st, err := openStore(context.Background(), database, "")
			if err != nil {
				t.Fatal(err)
			}
			driveConversations(t, st, flowsDir)
			cfg := convConfig(t, dir, database)

			// The export, to standard output and to a file.
			r := runCLI(t, "export-test", "--config", cfg, "--contact", "main/o_alice")
			if r.code != exitOK {
				t.Fatalf("export-test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{
				"start: 2026-11-20T10:00:00.000+08:00\ntimezone: \"Asia/Shanghai\"\naccount: { id: \"main\" }\ncontact: { id: \"o_alice\" }\nscript:\n",
				"  - follow\n  - expect: \"Welcome!\"\n  - expect: \"What should we call you?\"\n  - wait: 2m\n  - say: \"Alice\"\n  - expect: \"Nice to meet you, Alice!\"\n",
				"  - wait: 24h10m\n  - say: \"help\"\n  - expect: \"How can we help?\"\n  - expect_none\n",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("export lacks\n%s\n--- export:\n%s", want, r.stdout)
				}
			}
			test := filepath.Join(flowsDir, "alice.test.yaml")
			if r := runCLI(t, "export-test", "--config", cfg, "--contact", "main/o_alice", "-o", test); r.code != exitOK || !strings.Contains(r.stdout, "wrote "+test) {
				t.Fatalf("export-test -o: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if r := runCLI(t, "test", flowsDir); r.code != exitOK || lastLine(r.stdout) != "1 passed, 0 failed" {
				t.Fatalf("wxflow test on the export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			// --since: the day after the follow.
			r = runCLI(t, "export-test", "--config", cfg, "--contact", "main/o_alice", "--since", "2026-11-21")
			if r.code != exitOK || strings.Contains(r.stdout, "Welcome") || !strings.Contains(r.stdout, "say: \"help\"") {
				t.Errorf("--since: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if r := runCLI(t, "export-test", "--config", cfg, "--contact", "main/o_nobody"); r.code != exitProblems || !strings.Contains(r.stderr, "nothing to export") {
				t.Errorf("unknown contact: exit %d\n%s", r.code, r.stderr)
			}

			// Plan: the same folder is safe.
			r = runCLI(t, "plan", "--config", cfg)
			if r.code != exitOK || !strings.Contains(r.stdout, "No flow changes.") {
				t.Errorf("plan, same folder: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}

			// The question bob waits at changes, and help's only step.
			welcome := strings.Replace(convFlows["welcome.yaml"], "What should we call you?", "How may we call you?", 1)
			help := strings.Replace(convFlows["help.yaml"], "How can we help?", "Hi! How can we help?", 1)
			writeFiles(t, flowsDir, map[string]string{"welcome.yaml": welcome, "help.yaml": help})
			r = runCLI(t, "plan", "--config", cfg)
			if r.code != exitProblems {
				t.Errorf("plan, changed: exit %d, want %d", r.code, exitProblems)
			}
			for _, want := range []string{
				"welcome.yaml): sha256:",
				"      changed  ask (line 5) (now line 5): 1 run waits here\n",
				"help.yaml): sha256:",
				"At risk: 1 run waits at a step",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("plan lacks %q:\n%s%s", want, r.stdout, r.stderr)
				}
			}

			// The changed flows fail the export at the changed message.
			r = runCLI(t, "test", flowsDir)
			if r.code != exitProblems || !strings.Contains(r.stdout, `expected a sent message with text "What should we call you?"`) {
				t.Errorf("wxflow test after the change: exit %d\n%s", r.code, r.stdout)
			}
		})
	}
}

// TestPlanForgetsFlowsRemovedLongAgo: wxflow plan compares the folder
// with what the server's last load made current; a flow an earlier
// reload removed (its versions stay in the store for the runs pinned to
// them) was listed as "removed" at every plan after.
func TestPlanForgetsFlowsRemovedLongAgo(t *testing.T) {
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows")
	writeFiles(t, flowsDir, convFlows)
	old := filepath.Join(flowsDir, "old.yaml")
	writeFiles(t, flowsDir, map[string]string{"old.yaml": "name: old\ntriggers: [{keyword: [old]}]\nsteps:\n  - send: old\n"})
	database := filepath.Join(dir, "wxflow.db")
	ctx := context.Background()
	st, err := openStore(ctx, database, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Store: st, Channel: sim.New(map[string]wechat.Settings{"main": {}}, wechat.Settings{}), Clock: engine.NewVirtualClock(convStart), Zone: convStart.Location()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	load := func() {
		t.Helper()
		set, err := flows.LoadDir(flowsDir, flows.Options{})
		if err != nil || set.Diags.HasErrors() {
			t.Fatalf("flows: %v %v", err, set.Diags.Err())
		}
		if err := e.Load(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	load()
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	load() // the reload that removed old
	e.Stop()
	st.Close()
	r := runCLI(t, "plan", "--config", convConfig(t, dir, database))
	if r.code != exitOK || !strings.Contains(r.stdout, "No flow changes.") || strings.Contains(r.stdout, "old") {
		t.Errorf("plan after old was removed by a reload: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("CST", 8*3600)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, zone)
	for in, want := range map[string]time.Time{
		"2026-11-19T10:00:00+08:00": time.Date(2026, 11, 19, 10, 0, 0, 0, zone),
		"2026-11-19 10:30":          time.Date(2026, 11, 19, 10, 30, 0, 0, zone),
		"2026-11-19":                time.Date(2026, 11, 19, 0, 0, 0, 0, zone),
		"48h":                       now.Add(-48 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
	} {
		got, err := parseSince(in, zone, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	// A time the clocks skip is pushed forward by the gap, as date() in a
	// flow reads it: 02:30 on the day New York's summer time starts is
	// 03:30 EDT (time.ParseInLocation gave 01:30 EST).
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := parseSince("2026-03-08 02:30", ny, now); err != nil || got.Format(time.RFC3339) != "2026-03-08T03:30:00-04:00" {
		t.Errorf("parseSince of a skipped time = %v, %v; want 03:30 EDT", got, err)
	}
	for _, bad := range []string{"yesterday", "-2h", "2026-13-01"} {
		if _, err := parseSince(bad, zone, now); err == nil {
			t.Errorf("parseSince(%q): no error", bad)
		}
	}
}

func TestExportTestUsage(t *testing.T) {
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	for _, args := range [][]string{
		{"export-test"},
		{"export-test", "--contact", "o_alice"},
		{"export-test", "--contact", "main/"},
		{"export-test", "--contact", "main/o_alice", "--config", filepath.Join(t.TempDir(), "none.yaml")},
	} {
		if r := runCLI(t, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
	// A missing required flag is named, not only the usage printed.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export-test"}, "wxflow export-test: --contact is missing"},
		{[]string{"export-test", "--since", "2d"}, "wxflow export-test: --contact is missing"},
		{[]string{"export-test", "--contact", "main/o_alice", "more"}, `unexpected argument "more"`},
	} {
		if r := runCLI(t, c.args...); r.code != exitUsage || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "usage: wxflow export-test") {
			t.Errorf("%v: exit %d, want %d saying %q\n%s", c.args, r.code, exitUsage, c.want, r.stderr)
		}
	}
	// A store that does not exist is not made.
	dir := t.TempDir()
	cfg := convConfig(t, dir, filepath.Join(dir, "none.db"))
	for _, args := range [][]string{{"export-test", "--config", cfg, "--contact", "main/o_alice"}, {"plan", "--config", cfg, "--flows", dir}} {
		if r := runCLI(t, args...); r.code != exitProblems || !strings.Contains(r.stderr, "no store at") {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Errorf("a store was made")
	}
	if r := runCLI(t, "help"); !strings.Contains(r.stdout, "export-test") || !strings.Contains(r.stdout, "plan") {
		t.Errorf("wxflow help does not list export-test and plan:\n%s", r.stdout)
	}
}

// TestLocalZoneName: export-test names the machine's zone when the
// config gives none (it ran in it; the scenario would run in UTC).
func TestLocalZoneName(t *testing.T) {
	for tz, want := range map[string]string{"Asia/Shanghai": "Asia/Shanghai", ":Asia/Tokyo": "Asia/Tokyo", "": "UTC", "Nowhere/Atlantis": ""} {
		t.Setenv("TZ", tz)
		if got := localZoneName(); got != want {
			t.Errorf("TZ=%q: %q, want %q", tz, got, want)
		}
	}
}

// TestExportTestDatabase: export-test --database names the store, as
// backup, migrate and nodes take it: a sandbox started with wxflow serve
// --database FILE could be exported only through a config file naming
// FILE. With --config, the config still gives the time zone and the
// accounts, and its database: is not read (its ${...} need not be set),
// as wxflow serve --database leaves it.
func TestExportTestDatabase(t *testing.T) {
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows")
	writeFiles(t, flowsDir, convFlows)
	db := filepath.Join(dir, "sandbox.db")
	st, err := openStore(context.Background(), db, "")
	if err != nil {
		t.Fatal(err)
	}
	driveConversations(t, st, flowsDir)
	t.Setenv("WXFLOW_CONV_SECRET", "conv-secret-0123456789")
	t.Setenv("WXFLOW_CONV_TOKEN", "convtoken")
	cfg := convConfig(t, dir, "${WXFLOW_EXPORT_UNSET_DB}")

	r := runCLI(t, "export-test", "--config", cfg, "--database", db, "--contact", "main/o_alice")
	if r.code != exitOK || !strings.Contains(r.stdout, "timezone: \"Asia/Shanghai\"") || !strings.Contains(r.stdout, "  - say: \"Alice\"\n") {
		t.Errorf("--config and --database: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Without a config here: the sandbox's, on the store given.
	t.Chdir(t.TempDir())
	t.Setenv("TZ", "Asia/Shanghai")
	r = runCLI(t, "export-test", "--database", db, "--contact", "main/o_alice")
	if r.code != exitOK || !strings.Contains(r.stdout, "  - say: \"Alice\"\n") {
		t.Errorf("--database alone: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat("wxflow.db"); err == nil {
		t.Errorf("the sandbox's ./wxflow.db was made")
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export-test", "--database", ":memory:", "--contact", "main/o_alice"}, exitUsage, "wxflow export-test: --database: "},
		{[]string{"export-test", "--database", "mysql://x/y", "--contact", "main/o_alice"}, exitUsage, "wxflow export-test: --database: a mysql:// URL is not a store"},
		{[]string{"export-test", "--database", filepath.Join(dir, "none.db"), "--contact", "main/o_alice"}, exitProblems, "no store at " + filepath.Join(dir, "none.db")},
	} {
		if r := runCLI(t, c.args...); r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want %d saying %q\n%s", c.args, r.code, c.code, c.want, r.stderr)
		}
	}
	if r := runCLI(t, "export-test", "--help"); !strings.Contains(r.stdout, "[--database FILE|URL]") || !strings.Contains(r.stdout, "-database") {
		t.Errorf("export-test --help does not name --database:\n%s", r.stdout)
	}
}
