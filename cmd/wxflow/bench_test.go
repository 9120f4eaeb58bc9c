package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/loadgen"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// benchJSON runs `wxflow bench ARGS --json` and decodes the report.
func benchJSON(t *testing.T, args ...string) (benchReport, cliResult) {
	t.Helper()
	r := runCLI(t, append(append([]string{"bench"}, args...), "--json")...)
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("exit %d, the report is not JSON: %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	return rep, r
}

// checkSane checks what every balanced in-process report must show.
func checkSane(t *testing.T, rep benchReport) {
	t.Helper()
	if !rep.Books.Balanced || rep.Books.Checked != "full" || len(rep.Books.Problems) != 0 {
		t.Errorf("books %+v, want full and balanced", rep.Books)
	}
	if rep.Acked != rep.Callbacks || rep.Attempts != rep.Callbacks || rep.Unconfirmed != 0 {
		t.Errorf("callbacks %d, attempts %d, acked %d, unconfirmed %d: want all acknowledged at the first try", rep.Callbacks, rep.Attempts, rep.Acked, rep.Unconfirmed)
	}
	if len(rep.Failures) != 0 {
		t.Errorf("failures %v, want none", rep.Failures)
	}
	events := 0
	for _, n := range rep.Events {
		events += n
	}
	if events != rep.Acked || rep.Events["follow"] != rep.Followers {
		t.Errorf("events %v for %d acknowledged callbacks of %d followers", rep.Events, rep.Acked, rep.Followers)
	}
	if rep.MessagesDelivered+rep.MessagesStopped != rep.MessagesExpected || rep.MessagesDelivered == 0 || rep.Outbox["sent"] != rep.MessagesDelivered ||
		rep.Outbox["failed:unfollowed"] != rep.MessagesStopped || len(rep.Outbox) != 1+min(rep.MessagesStopped, 1) {
		t.Errorf("messages: expected %d, delivered %d, outbox %v", rep.MessagesExpected, rep.MessagesDelivered, rep.Outbox)
	}
	l := rep.AckLatency
	if l.N != rep.Acked || l.P50 <= 0 || l.P50 > l.P95 || l.P95 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency %+v for %d acknowledgements", l, rep.Acked)
	}
	if rep.AcksPerSecond <= 0 || rep.LoadSeconds <= 0 || rep.DeliveredPerSecond <= 0 {
		t.Errorf("rates: %.1f acks/s over %.3fs, %.1f messages/s", rep.AcksPerSecond, rep.LoadSeconds, rep.DeliveredPerSecond)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && (rep.RSSPeakBytes < rep.RSSStartBytes || rep.RSSPeakBytes == 0) {
		t.Errorf("RSS: %d at the start, peak %d", rep.RSSStartBytes, rep.RSSPeakBytes)
	}
}

func TestBenchMixed(t *testing.T) {
	r := runCLI(t, "bench", "--followers", "50", "--scenario", "mixed")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"scenario mixed, 50 followers", "ack latency", "p99", "peak RSS", "books        balanced"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestBenchAESWelcomeJSON(t *testing.T) {
	rep, r := benchJSON(t, "--aes", "--scenario", "welcome", "--followers", "40", "--conns", "8")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	checkSane(t, rep)
	if !rep.AES || rep.Mode != "local" || rep.Scenario != "welcome" || rep.Conns != 8 {
		t.Errorf("what ran: %+v", rep)
	}
	// A follow and an answer each; a greeting, a question and a reply.
	if rep.Callbacks != 80 || rep.Events["text"] != 40 || rep.MessagesExpected != 120 {
		t.Errorf("callbacks %d, events %v, messages %d", rep.Callbacks, rep.Events, rep.MessagesExpected)
	}
	if rep.RunsStarted[loadgen.FlowWelcome] != 40 || rep.RunsCompleted != 40 || !reflect.DeepEqual(rep.Runs, map[string]int{"completed": 40}) {
		t.Errorf("runs started %v, ended %v", rep.RunsStarted, rep.Runs)
	}
}

func TestBenchMenuBotPaced(t *testing.T) {
	start := time.Now()
	rep, r := benchJSON(t, "--scenario", "menu-bot", "--followers", "20", "--rate", "400")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	checkSane(t, rep)
	// 400 a second: the callbacks cannot all have left at once.
	if min := time.Duration(rep.Callbacks-1) * time.Second / 400; time.Since(start) < min {
		t.Errorf("%d callbacks at 400/s took %s, less than %s", rep.Callbacks, time.Since(start), min)
	}
	if rep.Runs["interrupted"] != 0 || rep.RunsStarted[loadgen.FlowHello] != 20 || rep.RunsStarted[loadgen.FlowMenu] == 0 {
		t.Errorf("runs started %v, ended %v", rep.RunsStarted, rep.Runs)
	}
}

// watchBenchServer records the process id of the server the bench
// starts, and what /proc says its command line is (Linux).
func watchBenchServer(t *testing.T, started func(pid int)) (pid *int, cmdline *string) {
	t.Helper()
	pid, cmdline = new(int), new(string)
	benchServerStarted = func(p int) {
		*pid = p
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		*cmdline = strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " ")
		if started != nil {
			started(p)
		}
	}
	t.Cleanup(func() { benchServerStarted = nil })
	return pid, cmdline
}

// checkServerGone fails when the server process is still there (or
// unreaped) after the bench returned.
func checkServerGone(t *testing.T, pid int) {
	t.Helper()
	if pid == 0 || pid == os.Getpid() {
		t.Fatalf("the bench's server had process id %d (the test is %d): want a child process", pid, os.Getpid())
	}
	if _, err := os.Stat("/proc/self"); err != nil {
		return // no /proc here
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !os.IsNotExist(err) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		t.Errorf("the server (pid %d) is still there after the bench returned (%v):\n%s", pid, err, b)
	}
}

// TestBenchServerIsAChild: the server runs as `wxflow serve` in a child
// process, the peak RSS is that process's, and it is gone when the bench
// returns.
func TestBenchServerIsAChild(t *testing.T) {
	pid, cmdline := watchBenchServer(t, nil)
	rep, r := benchJSON(t, "--scenario", "welcome", "--followers", "20")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	checkSane(t, rep)
	checkServerGone(t, *pid)
	if rep.Mode != "local" || !strings.Contains(rep.RSSOf, "server process (wxflow serve)") {
		t.Errorf("mode %q, rss_of %q: want local and the server process", rep.Mode, rep.RSSOf)
	}
	if len(rep.Notes) != 0 || r.stderr != "" {
		t.Errorf("notes %q, stderr %q: want none (the server stopped cleanly, logged nothing)", rep.Notes, r.stderr)
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: the RSS is not measured here")
	}
	if !strings.Contains(*cmdline, " serve --config ") || !strings.HasSuffix(*cmdline, "wxflow.yaml") {
		t.Errorf("the server's command line is %q, want EXE serve --config DIR/wxflow.yaml", *cmdline)
	}
	if rep.RSSPeakBytes <= 0 || rep.RSSStartBytes <= 0 || rep.RSSPeakBytes < rep.RSSStartBytes {
		t.Errorf("RSS: %d at the start, peak %d", rep.RSSStartBytes, rep.RSSPeakBytes)
	}
}

// TestBenchServerFailsToStart: a server that cannot start is a clear
// error with its last lines, and no secret of the config.
func TestBenchServerFailsToStart(t *testing.T) {
	pid, _ := watchBenchServer(t, nil)
	r := runCLI(t, "bench", "--followers", "5", "--db", t.TempDir()) // a folder, not a database
	if r.code != exitProblems || r.stdout != "" {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	for _, want := range []string{"the server (wxflow serve", "exited before it listened", "its last lines", "is a folder, not a store"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, secret := range []string{benchSecret, benchToken, benchAESKey} {
		if strings.Contains(r.stderr, secret) {
			t.Errorf("stderr shows a secret of the config:\n%s", r.stderr)
		}
	}
	if *pid != 0 {
		t.Errorf("the server that did not start was reported as started (pid %d)", *pid)
	}
}

// TestBenchInterrupted: a bench interrupted under way still stops its
// server and reports the interruption.
func TestBenchInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pid, _ := watchBenchServer(t, func(int) { cancel() })
	var stdout, stderr bytes.Buffer
	code := runBench(ctx, []string{"--scenario", "mixed", "--followers", "200", "--json"}, &stdout, &stderr)
	if code != exitProblems {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitProblems, stdout.String(), stderr.String())
	}
	checkServerGone(t, *pid)
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	if rep.Books.Balanced || !strings.Contains(strings.Join(rep.Books.Problems, "\n"), "interrupted") {
		t.Errorf("books %+v: want the interruption among the problems", rep.Books)
	}
}

// TestBenchCounters reads the counters the books need from what the
// server's /metrics serves.
func TestBenchCounters(t *testing.T) {
	m := metrics.New(func() engine.Stats {
		return engine.Stats{Events: map[channels.Kind]uint64{channels.Follow: 1200000, channels.Text: 3, channels.MenuClick: 7}, Duplicates: 2}
	})
	m.ObserveCallback("main", channels.Follow, 200, time.Millisecond)
	var text bytes.Buffer
	if _, err := m.Registry.WriteTo(&text); err != nil {
		t.Fatal(err)
	}
	c, err := parseBenchCounters(&text)
	if err != nil {
		t.Fatal(err)
	}
	want := map[channels.Kind]int{channels.Follow: 1200000, channels.Text: 3, channels.MenuClick: 7}
	if !reflect.DeepEqual(c.events, want) || c.duplicates != 2 {
		t.Errorf("events %v, duplicates %d; want %v and 2", c.events, c.duplicates, want)
	}
	if _, err := parseBenchCounters(strings.NewReader("# nothing\n")); err == nil {
		t.Error("no counters at all: want an error")
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--scenario", "nope"},
		{"--followers", "0"},
		{"--conns", "0"},
		{"--rate", "-1"},
		{"--bogus"},
		{"extra"},
		{"--token", "x"},
		{"--url", "http://127.0.0.1:1"},
		{"--url", "127.0.0.1:1", "--token", "x"},
		{"--url", "http://127.0.0.1:1", "--token", "x", "--aes"},
		{"--url", "http://127.0.0.1:1", "--token", "x", "--db", "x.db"},
	} {
		r := runCLI(t, append([]string{"bench"}, args...)...)
		if r.code != exitUsage {
			t.Errorf("bench %v: exit %d, want %d\nstderr:\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
}

// TestBenchUnbalancedBooksExit1: WeChat refuses one message (and so the
// contact's next one, failed here); the run is still acknowledged in
// full, but the books do not balance.
func TestBenchUnbalancedBooksExit1(t *testing.T) {
	benchHook = func(api *wechattest.Server) { api.FailNext(wechattest.PathSend, 45015) }
	defer func() { benchHook = nil }()
	rep, r := benchJSON(t, "--scenario", "welcome", "--followers", "10")
	if r.code != exitProblems {
		t.Fatalf("exit %d, want %d\nstdout:\n%s", r.code, exitProblems, r.stdout)
	}
	if rep.Books.Balanced || len(rep.Books.Problems) == 0 || rep.Failures["message_failed:window_closed"] == 0 {
		t.Fatalf("books %+v, failures %v", rep.Books, rep.Failures)
	}
	if !strings.Contains(strings.Join(rep.Books.Problems, "\n"), "failed:window_closed") {
		t.Errorf("the problems do not name the failed message:\n%s", strings.Join(rep.Books.Problems, "\n"))
	}
	// The table says so too. (The refused welcome's second message fails
	// too, unless the follower's text came in while the first was at the
	// API: then it goes, in the text's window.)
	r = runCLI(t, "bench", "--scenario", "welcome", "--followers", "3")
	if r.code != exitProblems || !strings.Contains(r.stdout, "NOT BALANCED") || !regexp.MustCompile(`  - messages not sent: [12] failed:window_closed`).MatchString(r.stdout) {
		t.Errorf("exit %d\n%s", r.code, r.stdout)
	}
}

// balancedBooks returns the books of followers who did what their
// scripts say, and the engine, store and API did exactly that.
func balancedBooks(t *testing.T) *benchBooks {
	t.Helper()
	fs := loadgen.Scripts(loadgen.ScenarioMixed, 30, 7, "t")
	b := &benchBooks{
		acked: map[channels.Kind]int{}, skip: map[string]bool{},
		wantRuns: map[string]map[string]int{}, wantMsgs: map[string]map[string]int{},
		ingested: map[channels.Kind]int{}, gotRuns: map[string]map[string]int{},
		outbox: map[string]int{}, sent: map[string]map[string]int{}, api: map[string]map[string]int{},
	}
	for _, f := range fs {
		f.Acked = len(f.Actions)
		for _, a := range f.Actions {
			b.acked[a.EventKind()]++
			b.ingested[a.EventKind()]++
			b.stored++
		}
		runs, msgs := loadgen.Expect(loadgen.ScenarioMixed, f, f.Acked)
		b.wantRuns[f.Contact], b.gotRuns[f.Contact] = runs, maps.Clone(runs)
		b.wantMsgs[f.Contact], b.sent[f.Contact], b.api[f.Contact] = msgs, maps.Clone(msgs), maps.Clone(msgs)
		for _, n := range msgs {
			b.outbox["sent"] += n
		}
	}
	if p := b.check(); len(p) != 0 {
		t.Fatalf("balanced books have problems: %v", p)
	}
	return b
}

// anyKey returns a contact and a key of m.
func anyKey(m map[string]map[string]int) (string, string) {
	for c, byKey := range m {
		for k := range byKey {
			return c, k
		}
	}
	return "", ""
}

func TestBenchBooksCheck(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(b *benchBooks)
		want   string
	}{
		{"a message missing at the fake API", func(b *benchBooks) {
			c, k := anyKey(b.api)
			b.api[c][k]--
		}, "not at the fake API exactly once"},
		{"a message sent twice", func(b *benchBooks) {
			c, k := anyKey(b.api)
			b.api[c][k]++
		}, "not at the fake API exactly once"},
		{"a message the outbox does not know", func(b *benchBooks) {
			count(b.api, "o_stranger", "text:hello")
		}, `o_stranger "text:hello": outbox sent 0, fake API got 1`},
		{"an event stored twice", func(b *benchBooks) { b.stored++ }, "events: the store gained"},
		{"an event of the wrong kind", func(b *benchBooks) {
			b.ingested[channels.Scan]--
			b.ingested[channels.Text]++
		}, "events by kind"},
		{"a run left waiting", func(b *benchBooks) {
			c, k := anyKey(b.gotRuns)
			b.gotRuns[c][k]--
			b.gotRuns[c][loadgen.FlowWelcome+" waiting_reply"]++
		}, "runs differ"},
		{"a message pending", func(b *benchBooks) { b.outbox["pending"]++ }, "messages not sent: 1 pending"},
		{"a message the flows must not send", func(b *benchBooks) {
			c, _ := anyKey(b.sent)
			count(b.sent, c, "text:spam")
			count(b.api, c, "text:spam")
		}, "messages sent differ"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := balancedBooks(t)
			c.tamper(b)
			p := b.check()
			if len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("problems %q, want one with %q", p, c.want)
			}
		})
	}

	// A message the contact's unfollow stopped (failed as unfollowed,
	// never at the API) counts as sent to the flows' due; one that failed
	// so without an unfollow of its contact does not.
	stop := func(b *benchBooks) (string, string) {
		c, k := anyKey(b.sent)
		b.sent[c][k]--
		b.api[c][k]--
		b.outbox["sent"]--
		b.outbox["failed:unfollowed"]++
		return c, k
	}
	b := balancedBooks(t)
	c, k := stop(b)
	b.stopped = map[string]map[string]int{c: {k: 1}}
	b.stoppedN = 1
	if p := b.check(); len(p) != 0 {
		t.Errorf("a message stopped by the unfollow: %q", p)
	}
	b = balancedBooks(t)
	stop(b)
	if p := strings.Join(b.check(), "\n"); !strings.Contains(p, "messages not sent: 1 failed:unfollowed") || !strings.Contains(p, "messages sent differ") {
		t.Errorf("a message failed as unfollowed, not stopped by an unfollow: %q", p)
	}

	// An unconfirmed callback may or may not have been stored; its
	// follower's runs and messages are not held to the script.
	b = balancedBooks(t)
	c, _ = anyKey(b.gotRuns)
	b.unconfirmed, b.skip[c] = 1, true
	b.stored++
	b.ingested[channels.Text]++
	b.gotRuns[c]["bench-news completed"]++
	if p := b.check(); len(p) != 0 {
		t.Errorf("an unconfirmed callback that was stored: %v", p)
	}
	b.stored += 2
	if p := b.check(); len(p) != 1 {
		t.Errorf("two events more than one unconfirmed callback can explain: %v", p)
	}
}

func TestBenchFlowsAreClean(t *testing.T) {
	for _, s := range loadgen.Scenarios {
		dir := filepath.Join(t.TempDir(), "new")
		r := runCLI(t, "bench", "--write-flows", dir, "--scenario", s)
		if r.code != exitOK {
			t.Fatalf("%s: exit %d: %s", s, r.code, r.stderr)
		}
		set, err := flows.LoadDir(dir, flows.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Diags) != 0 {
			t.Errorf("%s: the bench flows have diagnostics:\n%s", s, set.Diags.Err())
		}
	}
}

// TestBenchRemote drives a server started apart, plain and encrypted:
// only the acknowledgements are checked.
func TestBenchRemote(t *testing.T) {
	for _, aes := range []bool{false, true} {
		b := srvStart(t, loadgen.FlowFiles(loadgen.ScenarioWelcome), aesKeyLine(aes))
		args := []string{"--url", b.url, "--token", srvToken, "--account", "main", "--original-id", srvGhID, "--followers", "10", "--scenario", "welcome"}
		if aes {
			args = append(args, "--aes", "--aes-key", srvAESKey, "--appid", srvAppID)
		}
		rep, r := benchJSON(t, args...)
		if r.code != exitOK {
			t.Fatalf("aes=%v: exit %d\nstdout:\n%s\nstderr:\n%s", aes, r.code, r.stdout, r.stderr)
		}
		if rep.Mode != "remote" || rep.Books.Checked != "acks" || !rep.Books.Balanced || rep.Acked != 20 || rep.Callbacks != 20 || len(rep.Notes) == 0 {
			t.Errorf("aes=%v: %+v", aes, rep)
		}
		b.waitSent(30)
	}
	// Nothing listens: every callback fails, the books do not balance.
	rep, r := benchJSON(t, "--url", "http://127.0.0.1:1", "--token", srvToken, "--followers", "2", "--scenario", "welcome")
	if r.code != exitProblems || rep.Unconfirmed != 2 || rep.Failures["connection"] != 2*loadgen.Tries {
		t.Errorf("exit %d, unconfirmed %d, failures %v", r.code, rep.Unconfirmed, rep.Failures)
	}
}

// TestBenchUsageSaysEveryFlag: bench -h's usage lines name every flag
// it defines; --seed, --db, --keep, --writers, --original-id and
// --write-flows were only in the list below them.
func TestBenchUsageSaysEveryFlag(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "bench", "-h")
	head, defaults, ok := strings.Cut(r.stdout, "\n\n")
	if !ok {
		t.Fatalf("no usage lines:\n%s", r.stdout)
	}
	for _, line := range strings.Split(defaults, "\n") {
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
		name, _, _ = strings.Cut(name, "\t")
		if !strings.Contains(head, "--"+name) {
			t.Errorf("the usage lines do not name --%s:\n%s", name, head)
		}
	}
}
