package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/loadgen"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/metrics"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/postgres"
)

// The bench's account, on the server it starts. The values are the
// bench's own and secret to nobody: the fake API and the server only meet
// on loopback.
const (
	benchAccount    = "bench"
	benchAppID      = "wxbench01234567890"
	benchSecret     = "bench-app-secret"
	benchToken      = "benchTOKEN42"
	benchAESKey     = "YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaGJlbmNoMDA"
	benchOriginalID = "gh_bench00000001"
)

// benchDrainTimeout bounds the wait for the outbox to drain after the
// last acknowledgement.
const benchDrainTimeout = 2 * time.Minute

// benchHook, when set (by tests), is called with the fake API before the
// load starts: to script failures and unbalance the books on purpose.
var benchHook func(api *wechattest.Server)

// benchOptions are the flags of `wxflow bench`.
type benchOptions struct {
	followers, conns int
	scenario         string
	aes, json, keep  bool
	rate             float64
	seed             uint64
	db, writeFlows   string
	// nodes is how many serve processes share the database (PostgreSQL).
	nodes int
	// writers is the nodes' writers (nodes: writers:; 0: the default).
	writers int
	// The soak: the load in rounds for duration, the store's size every
	// sample, the server's retention, and location reports per follower.
	duration, sample, retention time.Duration
	locations                   int
	// The target of --url, and what signs its callbacks.
	url, token, aesKey, appID, account, originalID string
}

// runBench is `wxflow bench`: a load of signed callbacks from simulated
// followers against a serve with a fake WeChat API, its figures, and its
// books. Exit 0 when the books balance, 1 when not, 2 on usage errors.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o benchOptions
	fl.IntVar(&o.followers, "followers", 1000, "how many simulated followers")
	fl.StringVar(&o.scenario, "scenario", loadgen.ScenarioMixed, "what they do: "+strings.Join(loadgen.Scenarios, ", "))
	fl.BoolVar(&o.aes, "aes", false, "post safe-mode (encrypted) callbacks")
	fl.IntVar(&o.conns, "conns", 32, "concurrent HTTP connections")
	fl.Float64Var(&o.rate, "rate", 0, "callbacks a second, all followers together (0: as fast as the server answers)")
	fl.Uint64Var(&o.seed, "seed", 1, "the seed of the followers' scripts")
	fl.BoolVar(&o.json, "json", false, "print the report as JSON")
	fl.StringVar(&o.db, "db", "", "the SQLite database (default: a new one in a temporary folder)")
	fl.StringVar(&o.db, "database", "", "the server's store: a SQLite file (as --db) or a postgres:// URL (default: a new SQLite file in a temporary folder)")
	fl.IntVar(&o.nodes, "nodes", 1, "with --database postgres://...: how many serve nodes share the database, behind a round-robin proxy")
	fl.IntVar(&o.writers, "writers", 0, "with --database postgres://...: how many writers each node runs (its nodes: writers:; 0: the default, 2)")
	fl.BoolVar(&o.keep, "keep", false, "keep the temporary folder (config, flows, database) and print where it is")
	fl.DurationVar(&o.duration, "duration", 0, "a soak: play the load in rounds of the same followers until this much time has passed, reporting the store's size (db + wal) as it goes")
	fl.DurationVar(&o.sample, "sample", 0, "with --duration: how often the store's size is taken (default a tenth of --duration)")
	fl.DurationVar(&o.retention, "retention", 0, "keep every kind of data this long in the server the bench starts (its retention:, pruned every 10s; at least 1m; default the server's defaults)")
	fl.IntVar(&o.locations, "locations", 0, "location reports (LOCATION events) each follower sends; they start no flow")
	fl.StringVar(&o.writeFlows, "write-flows", "", "write the scenario's flows into this folder and exit (for a server --url targets)")
	fl.StringVar(&o.url, "url", "", "target this running wxflow serve (http://HOST:PORT, or its /wechat/ACCOUNT URL) instead of starting one")
	fl.StringVar(&o.token, "token", "", "with --url: the account's token, to sign callbacks")
	fl.StringVar(&o.aesKey, "aes-key", "", "with --url --aes: the account's aes_key")
	fl.StringVar(&o.appID, "appid", "", "with --url --aes: the account's app_id")
	fl.StringVar(&o.account, "account", "", "with --url: the account's id in the callback URL (default main)")
	fl.StringVar(&o.originalID, "original-id", "", "with --url: the account's original_id, the callbacks' ToUserName (default "+benchOriginalID+")")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow bench [--followers N] [--scenario "+strings.Join(loadgen.Scenarios, "|")+"] [--aes] [--conns C] [--rate R] [--seed N] [--db FILE] [--keep] [--json]")
		fmt.Fprintln(w, "       wxflow bench --database postgres://... [--nodes N] [--writers W] ... (N nodes sharing one PostgreSQL)")
		fmt.Fprintln(w, "       wxflow bench --duration D [--retention R] [--sample S] [--locations N] ... (a soak)")
		fmt.Fprintln(w, "       wxflow bench --url URL --token TOKEN [--account ID] [--original-id ID] [--aes --aes-key KEY --appid APPID] ...")
		fmt.Fprintln(w, "       wxflow bench --write-flows DIR [--scenario S] (the flows of a server --url targets)")
		fmt.Fprintln(w, "\nStarts `wxflow serve` as a child process (synchronous=FULL, as in production)")
		fmt.Fprintln(w, "with its own flows, keeps a fake WeChat API on loopback in this process, and")
		fmt.Fprintln(w, "posts signed callbacks from simulated followers: follows, QR scans, menu clicks")
		fmt.Fprintln(w, "and answers. Reports acknowledgements a second, their latency, runs completed and")
		fmt.Fprintln(w, "messages delivered a second, failures by reason and the server's peak RSS,")
		fmt.Fprintln(w, "then checks the books: every acknowledged event stored once and starting or")
		fmt.Fprintln(w, "resuming what it should, every message sent reaching the fake API exactly once.")
		fmt.Fprintln(w, "With --url only the acknowledgements can be checked. A soak (--duration) reports")
		fmt.Fprintln(w, "the store's size as it goes; its books check the acknowledgements, the events")
		fmt.Fprintln(w, "by kind, unsent messages, and the engine's sent messages against the fake API.")
		fmt.Fprintln(w, "Exit 0 when the books balance, 1 when not, 2 on usage errors.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if msg := o.check(fl); msg != "" {
		fmt.Fprintf(stderr, "wxflow bench: %s\n", msg)
		return exitUsage
	}
	if o.writeFlows != "" {
		if err := writeBenchFlows(o.writeFlows, o.scenario); err != nil {
			fmt.Fprintf(stderr, "wxflow bench: %v\n", err)
			return exitProblems
		}
		fmt.Fprintf(stdout, "wrote the %s flows to %s\n", o.scenario, o.writeFlows)
		return exitOK
	}
	var rep *benchReport
	var err error
	if o.url != "" {
		rep, err = benchRemote(ctx, &o)
	} else {
		rep, err = benchLocal(ctx, &o, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wxflow bench: %v\n", err)
		return exitProblems
	}
	if o.json {
		writeJSON(stdout, rep)
	} else {
		rep.print(stdout)
	}
	if !rep.Books.Balanced {
		return exitProblems
	}
	return exitOK
}

// check returns what is wrong with the flags, or "", and fills in the
// defaults of the flags that go with --url.
func (o *benchOptions) check(fl *flag.FlagSet) string {
	given := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case fl.NArg() > 0:
		return fmt.Sprintf("unexpected argument %q", fl.Arg(0))
	case !slices.Contains(loadgen.Scenarios, o.scenario):
		return fmt.Sprintf("--scenario %q: want one of %s", o.scenario, strings.Join(loadgen.Scenarios, ", "))
	case o.followers < 1:
		return "--followers must be at least 1"
	case o.conns < 1:
		return "--conns must be at least 1"
	case o.rate < 0 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0):
		return "--rate must be 0 (as fast as possible) or a number of callbacks a second"
	case o.duration < 0:
		return "--duration must not be negative"
	case o.sample < 0 || (o.sample > 0 && o.duration == 0):
		return "--sample goes with --duration, and must not be negative"
	case o.retention < 0 || (o.retention > 0 && o.retention < engine.MinRetention):
		return fmt.Sprintf("--retention must be at least %s: WeChat retries a callback for about 15 seconds, and its dedupe key must outlive the retries", engine.MinRetention)
	case o.locations < 0:
		return "--locations must not be negative"
	}
	if o.url == "" {
		if err := config.CheckDatabase(o.db); err != nil {
			return "--database: " + err.Error()
		}
		if msg := benchNodesProblem(o.nodes, o.db, o.duration > 0); msg != "" {
			return msg
		}
		if o.writers != 0 && (o.writers < 1 || !postgres.IsURL(o.db)) {
			return "--writers goes with --database postgres://..., and must be at least 1 (a SQLite store has one writer)"
		}
	}
	if o.url == "" {
		for _, f := range []string{"token", "aes-key", "appid", "account", "original-id"} {
			if given[f] {
				return "--" + f + " goes with --url (the server the bench starts has its own account)"
			}
		}
		return ""
	}
	for _, f := range []string{"db", "database", "nodes", "writers", "keep", "retention", "duration", "sample"} {
		if given[f] {
			return "--" + f + " is for the server the bench starts, not with --url"
		}
	}
	if !strings.HasPrefix(o.url, "http://") && !strings.HasPrefix(o.url, "https://") {
		return fmt.Sprintf("--url %q: want http://HOST:PORT", o.url)
	}
	if o.token == "" {
		return "--url needs --token, the account's token, to sign the callbacks"
	}
	if o.aes && (o.aesKey == "" || o.appID == "") {
		return "--url --aes needs --aes-key and --appid to encrypt the callbacks"
	}
	if !o.aes && o.aesKey != "" {
		return "--aes-key without --aes: add --aes to post encrypted callbacks"
	}
	if _, inURL, ok := strings.Cut(o.url, "/wechat/"); ok && o.account != "" {
		// The URL's account is the one posted to: another --account
		// was ignored, and the callbacks, signed with that account's
		// token, were all refused as another account's.
		if inURL = strings.Trim(strings.SplitN(inURL, "?", 2)[0], "/"); inURL != o.account {
			return fmt.Sprintf("--account %s, but --url posts to /wechat/%s: give one of them", o.account, inURL)
		}
	}
	if o.account == "" {
		o.account = "main"
	}
	if o.originalID == "" {
		o.originalID = benchOriginalID
	}
	return ""
}

// writeBenchFlows writes a scenario's flow folder.
func writeBenchFlows(dir, scenario string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, src := range loadgen.FlowFiles(scenario) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchReport is the outcome of `wxflow bench`; --json prints it as one
// JSON object with these fields:
//
//   - scenario, mode ("local": the bench started `wxflow serve` as a
//     child process; "remote": --url), target (the callback
//     URL), aes, followers, conns, rate, seed: what ran; database
//     ("sqlite" or "postgres") and nodes (how many serve processes
//     shared it, behind a round-robin proxy when more than one) for a
//     local run.
//   - callbacks: distinct callbacks posted; attempts: HTTP requests,
//     retries included; acked: callbacks acknowledged (200 "success");
//     unconfirmed: callbacks never acknowledged after WeChat's 3 tries
//     (each stops its follower).
//   - load_seconds: first callback to last acknowledgement;
//     drain_seconds: from then until every message was sent.
//   - acks_per_second: acked / load_seconds.
//   - ack_latency_ms: n, p50, p95, p99 and max of the acknowledged
//     attempts, in milliseconds.
//   - events: acknowledged callbacks by event kind (follow, scan, menu
//     for clicks and message-menu taps, text, unfollow); duplicates:
//     retries the engine recognised.
//   - runs_started: runs by flow; runs: runs by status (completed,
//     waiting_reply, interrupted, restarted, unfollowed...);
//     runs_completed and runs_completed_per_second (over load_seconds).
//   - messages_expected: what the scripts must have sent;
//     messages_delivered: what the fake API accepted;
//     messages_delivered_per_second: over load_seconds + drain_seconds;
//     outbox: the outbox entries by status (and reason: "failed:window_closed").
//   - failures: failed attempts by reason (timeout, connection, http_NNN,
//     bad_answer), unconfirmed callbacks, and messages not sent
//     ("message_failed:REASON", "message_unknown", "message_pending").
//   - rss_start_bytes, rss_peak_bytes: the server process's resident size
//     before the load (VmRSS) and its peak (VmHWM, read just before it is
//     stopped), Linux only; rss_of says which process they measure. The
//     load generator and the fake API run in the bench's own process and
//     are not counted.
//   - a soak (--duration) adds duration_seconds, rounds, locations,
//     retention (the server's, "" for its defaults), store_sizes (seconds
//     since the load started and the store's bytes, db + wal, at each
//     sample; the last taken once the outbox drained), growth_last_half
//     (the store's growth over the second half of the samples, in
//     percent) and pruned (the rows the server's pruner deleted, by
//     kind).
//   - books: checked ("full", "soak", or "acks" with --url), balanced, and
//     problems, one line each.
//   - notes: caveats, one line each.
//
// Figures the mode cannot know (the store's with --url) are zero.
type benchReport struct {
	Scenario  string  `json:"scenario"`
	Mode      string  `json:"mode"`
	Target    string  `json:"target"`
	AES       bool    `json:"aes"`
	Followers int     `json:"followers"`
	Conns     int     `json:"conns"`
	Rate      float64 `json:"rate"`
	Seed      uint64  `json:"seed"`
	// Database is the server's store ("sqlite" or "postgres"), Nodes
	// how many serve processes shared it.
	Database string `json:"database"`
	Nodes    int    `json:"nodes"`
	// Writers is how many writers each node ran (0: the default).
	Writers int `json:"writers,omitempty"`

	Callbacks     int                    `json:"callbacks"`
	Attempts      int                    `json:"attempts"`
	Acked         int                    `json:"acked"`
	Unconfirmed   int                    `json:"unconfirmed"`
	LoadSeconds   float64                `json:"load_seconds"`
	DrainSeconds  float64                `json:"drain_seconds"`
	AcksPerSecond float64                `json:"acks_per_second"`
	AckLatency    loadgen.LatencySummary `json:"ack_latency_ms"`
	Events        map[string]int         `json:"events"`
	Duplicates    int                    `json:"duplicates"`

	RunsStarted        map[string]int `json:"runs_started"`
	Runs               map[string]int `json:"runs"`
	RunsCompleted      int            `json:"runs_completed"`
	CompletedPerSecond float64        `json:"runs_completed_per_second"`

	MessagesExpected  int `json:"messages_expected"`
	MessagesDelivered int `json:"messages_delivered"`
	// MessagesStopped are the expected messages of followers who
	// unfollowed that were not sent by then: they fail as unfollowed.
	MessagesStopped    int            `json:"messages_stopped_by_unfollow"`
	DeliveredPerSecond float64        `json:"messages_delivered_per_second"`
	Outbox             map[string]int `json:"outbox"`

	Failures map[string]int `json:"failures"`

	Duration       float64        `json:"duration_seconds,omitempty"`
	Rounds         int            `json:"rounds,omitempty"`
	Locations      int            `json:"locations,omitempty"`
	Retention      string         `json:"retention,omitempty"`
	StoreSizes     []storeSample  `json:"store_sizes,omitempty"`
	GrowthLastHalf float64        `json:"growth_last_half,omitempty"`
	Pruned         map[string]int `json:"pruned,omitempty"`

	RSSStartBytes int64  `json:"rss_start_bytes"`
	RSSPeakBytes  int64  `json:"rss_peak_bytes"`
	RSSOf         string `json:"rss_of"`

	Books struct {
		Checked  string   `json:"checked"`
		Balanced bool     `json:"balanced"`
		Problems []string `json:"problems"`
	} `json:"books"`
	Notes []string `json:"notes"`
}

// newBenchReport fills in what ran.
func newBenchReport(o *benchOptions) *benchReport {
	r := &benchReport{
		Scenario: o.scenario, Mode: "local", AES: o.aes, Followers: o.followers, Conns: o.conns, Rate: o.rate, Seed: o.seed,
		Database: databaseKind(o.db), Nodes: o.nodes, Writers: o.writers,
		Locations: o.locations,
		Events:    map[string]int{}, RunsStarted: map[string]int{}, Runs: map[string]int{}, Outbox: map[string]int{}, Failures: map[string]int{},
	}
	r.Books.Problems = []string{}
	r.Notes = []string{}
	return r
}

// benchLoad is what driving the followers produced.
type benchLoad struct {
	followers []*loadgen.Follower
	poster    *loadgen.Poster
	start     time.Time
	loadDone  time.Time
}

// drive plays the scenario against endpoint and fills in the load's
// figures.
func (r *benchReport) drive(ctx context.Context, o *benchOptions, endpoint, to string, signer *loadgen.Signer) *benchLoad {
	tag := strconv.FormatUint(rand.Uint64()%(36*36*36*36*36*36), 36)
	l := &benchLoad{followers: loadgen.Scripts(o.scenario, o.followers, o.seed, tag)}
	loadgen.AddLocations(l.followers, o.locations)
	l.poster = loadgen.NewPoster(endpoint, signer, o.conns, loadgen.NewPacer(o.rate))
	defer l.poster.Close()
	r.Target = endpoint
	l.start = time.Now()
	l.poster.StartPace(l.start)
	loadgen.Drive(ctx, l.followers, to, o.conns, 4*o.conns, l.poster)
	l.loadDone = time.Now()
	if ctx.Err() != nil {
		r.Books.Problems = append(r.Books.Problems, "interrupted: the load stopped before every follower was done")
	}
	r.LoadSeconds = roundMS(l.loadDone.Sub(l.start))
	r.tally(l.followers)
	r.posted(l.poster)
	return l
}

// tally counts what followers posted: callbacks, acknowledgements (an
// unconfirmed one is a callback posted and not known acknowledged) and
// events by kind.
func (r *benchReport) tally(fs []*loadgen.Follower) {
	for _, f := range fs {
		n := f.Acked
		if f.Unconfirmed {
			n++
			r.Unconfirmed++
		}
		r.Callbacks += n
		r.Acked += f.Acked
		for _, a := range f.Actions[:f.Acked] {
			r.Events[string(a.EventKind())]++
		}
	}
}

// posted fills in the poster's figures once the load is over: attempts,
// acknowledgements a second over LoadSeconds, latency and failures.
func (r *benchReport) posted(p *loadgen.Poster) {
	r.Attempts = p.Attempts()
	r.AcksPerSecond = perSecond(r.Acked, r.LoadSeconds)
	r.AckLatency = p.Latency()
	for k, v := range p.Failures() {
		r.Failures[k] += v
	}
	if r.Unconfirmed > 0 {
		r.Failures["unconfirmed"] = r.Unconfirmed
	}
}

// roundMS is d in seconds, to the millisecond.
func roundMS(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// perSecond is n over seconds, rounded to a tenth.
func perSecond(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return math.Round(float64(n)/seconds*10) / 10
}

// benchRemote drives a server that runs elsewhere: only the
// acknowledgements can be checked.
func benchRemote(ctx context.Context, o *benchOptions) (*benchReport, error) {
	signer, err := loadgen.NewSigner(o.token, o.originalID, o.appID, o.aesKey)
	if err != nil {
		return nil, fmt.Errorf("--aes-key: %w", err)
	}
	endpoint := strings.TrimRight(o.url, "/")
	if !strings.Contains(endpoint, "/wechat/") {
		endpoint += "/wechat/" + o.account
	}
	r := newBenchReport(o)
	r.Mode = "remote"
	r.Database, r.Nodes = "", 0
	r.RSSOf = "unknown: --url targets a server the bench did not start"
	r.drive(ctx, o, endpoint, o.originalID, signer)
	r.Books.Checked = "acks"
	r.Notes = append(r.Notes,
		"--url: the books need the server's store and a fake WeChat API, so only the acknowledgements are checked; runs, messages and RSS are not measured",
		"the server should run the bench flows (wxflow bench --write-flows DIR --scenario "+o.scenario+") for the load to mean what it does without --url")
	if r.Unconfirmed > 0 {
		r.Books.Problems = append(r.Books.Problems, fmt.Sprintf("%d of %d callbacks were never acknowledged", r.Unconfirmed, r.Callbacks))
	}
	r.Books.Balanced = len(r.Books.Problems) == 0
	return r, nil
}

// benchConfigYAML is the configuration of the server the bench starts:
// errors only on its stderr, and the console (for /metrics) on the
// callback server's loopback address behind adminToken.
func benchConfigYAML(db, apiBase string, aes bool, adminToken string) string {
	aesLine := ""
	if aes {
		aesLine = "    aes_key: " + benchAESKey + "\n"
	}
	return fmt.Sprintf(`# wxflow bench: the server the bench starts, against a fake WeChat API.
listen: 127.0.0.1:0
database: %s
flows: flows
timezone: UTC
log:
  level: error
admin:
  listen: 127.0.0.1:0
  token: %s
accounts:
  - id: %s
    app_id: %s
    app_secret: %s
    token: %s
    original_id: %s
    api_base: %s
%s`, strconv.Quote(db), adminToken, benchAccount, benchAppID, benchSecret, benchToken, benchOriginalID, apiBase, aesLine)
}

// benchWritersYAML is the nodes: of the server the bench starts: its
// writers, when --writers gives them.
func benchWritersYAML(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("nodes:\n  writers: %d\n", n)
}

// benchRunMainEnv, set to 1 in the environment of the server the bench
// starts, makes a test binary of this package run main instead of its
// tests (see TestMain): under `go test` the bench's executable is the
// test binary. The wxflow binary ignores it.
const benchRunMainEnv = "WXFLOW_TEST_RUN_MAIN"

// How long the bench waits for its server to listen, and for it to stop
// beyond its shutdown_timeout before it is killed.
const (
	benchReadyTimeout = 2 * time.Minute
	benchStopGrace    = 5 * time.Second
)

// benchServerStarted, when set (by tests), is called with the process id
// of the server the bench started, once it listens.
var benchServerStarted func(pid int)

// benchLocal starts a fake WeChat API in this process and `wxflow serve`
// as a child process, drives them, waits for the outbox to drain and
// checks the books.
func benchLocal(ctx context.Context, o *benchOptions, stderr io.Writer) (*benchReport, error) {
	dir, err := os.MkdirTemp("", "wxflow-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(stderr, "wxflow bench: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	api := wechattest.NewServer()
	defer api.Close()
	api.AddApp(benchAppID, benchSecret)
	if benchHook != nil {
		benchHook(api)
	}
	if err := writeBenchFlows(filepath.Join(dir, "flows"), o.scenario); err != nil {
		return nil, err
	}
	db := o.db
	if db == "" {
		db = filepath.Join(dir, "wxflow.db")
	} else if postgres.IsURL(db) {
		// The nodes and the bench share the database as given.
	} else if db, err = filepath.Abs(db); err != nil {
		return nil, err
	}
	adminToken := crand.Text()
	cfgPath := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(cfgPath, []byte(benchConfigYAML(db, api.URL(), o.aes, adminToken)+benchRetentionYAML(o.retention)+benchWritersYAML(o.writers)), 0o600); err != nil {
		return nil, err
	}
	// The bench reads the config too: its problems show before a server
	// starts, and its shutdown_timeout bounds the stop.
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		return nil, err
	}
	secrets := []string{benchSecret, benchToken, benchAESKey, adminToken}
	if pw := urlPassword(db); pw != "" {
		secrets = append(secrets, pw)
	}
	stopTimeout := cfg.ShutdownTimeout + benchStopGrace
	// One server, or --nodes N sharing a PostgreSQL database.
	var children []*benchChild
	defer func() { stopAll(children, stopTimeout) }() // no-ops once stopped
	var addrs []string
	for range max(o.nodes, 1) {
		c, err := startBenchChild(dir, cfgPath, secrets)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
	}
	for _, c := range children {
		addr, err := c.ready(ctx, benchReadyTimeout)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
		if benchServerStarted != nil {
			benchServerStarted(c.pid())
		}
	}
	child, addr := children[0], addrs[0]
	target := addr
	if len(children) > 1 {
		lb, err := newBenchBalancer(addrs, o.conns)
		if err != nil {
			return nil, err
		}
		defer lb.close()
		target = lb.addr()
	}

	// The bench reads the server's store on its own connections: WAL lets
	// it read while the server writes (on PostgreSQL, a plain store beside
	// the nodes).
	st, err := openBenchStore(context.Background(), db)
	if err != nil {
		return nil, err
	}
	closeStore := sync.OnceFunc(func() { st.Close() })
	defer closeStore()
	base, err := storeBaseline(st)
	if err != nil {
		return nil, err
	}
	aesKey := ""
	if o.aes {
		aesKey = benchAESKey
	}
	signer, err := loadgen.NewSigner(benchToken, benchOriginalID, benchAppID, aesKey)
	if err != nil {
		return nil, err
	}
	r := newBenchReport(o)
	r.RSSOf = "the server process (wxflow serve)"
	if len(children) > 1 {
		r.RSSOf = fmt.Sprintf("the largest of the %d server processes (wxflow serve nodes)", len(children))
	}
	for _, c := range children {
		rss, _ := procStatusBytes(c.pid(), "VmRSS")
		r.RSSStartBytes = max(r.RSSStartBytes, rss)
	}
	var l *benchLoad
	if o.duration > 0 {
		l = r.soak(ctx, o, "http://"+target+"/wechat/"+benchAccount, benchOriginalID, signer, db)
	} else {
		l = r.drive(ctx, o, "http://"+target+"/wechat/"+benchAccount, benchOriginalID, signer)
	}

	// Wait for the outbox to drain: until none of this run's messages is
	// pending or being sent, within a deadline. Every acknowledged event
	// was committed with the messages its flows send.
	dctx, cancel := context.WithTimeout(context.Background(), benchDrainTimeout)
	defer cancel()
	drained := false
	queue, err := openBenchQueue(context.Background(), db)
	if err != nil {
		return nil, err
	}
	defer queue.close()
	for dctx.Err() == nil && anyExited(children) == nil {
		// Events queued for another node first: handled, they reserve
		// their messages in the same commit.
		queued, err := queue.count(dctx)
		if err != nil {
			if dctx.Err() != nil {
				break
			}
			return nil, err
		}
		n, err := unsentCount(dctx, st, base.outboxID)
		if err != nil {
			if dctx.Err() != nil {
				break
			}
			return nil, err
		}
		if n == 0 && queued == 0 {
			drained = true
			break
		}
		select {
		case <-dctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	drainDone := time.Now()
	r.DrainSeconds = roundMS(drainDone.Sub(l.loadDone))

	// The engine's counters, from the server's /metrics. Only an
	// interrupted bench goes on without them (Ctrl-C reaches the server
	// too).
	var counters *benchCounters
	if anyExited(children) == nil {
		var all []*benchCounters
		for i, c := range children {
			mctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cs, err := readBenchCounters(mctx, "http://"+addrs[i], adminToken)
			cancel()
			if err != nil && !c.exited() {
				return nil, fmt.Errorf("read the server's counters: %w", err)
			}
			all = append(all, cs)
		}
		if anyExited(children) == nil {
			counters = sumBenchCounters(all)
		}
	}
	if c := anyExited(children); c != nil {
		child = c
	}
	switch {
	case child.exited() && ctx.Err() == nil:
		return nil, child.failure("exited during the bench")
	case child.exited():
		r.Notes = append(r.Notes, "the server stopped before the bench was done with it: the events by kind and the peak RSS are not known")
	case !drained:
		r.Notes = append(r.Notes, fmt.Sprintf("the outbox did not drain within %s", benchDrainTimeout))
	}
	if o.duration > 0 {
		return r.finishSoak(o, l, st, counters, api, base, db, child, stopTimeout, drainDone, closeStore, stderr)
	}
	books, err := collectBooks(o.scenario, l.followers, st, counters, api, base)
	if err != nil {
		return nil, err
	}
	// The peak of the load and the drain, just before the server stops.
	for _, c := range children {
		if !c.exited() {
			hwm, _ := procStatusBytes(c.pid(), "VmHWM")
			r.RSSPeakBytes = max(r.RSSPeakBytes, hwm)
		}
	}
	closeStore()
	if err := stopAll(children, stopTimeout); err != nil {
		r.Notes = append(r.Notes, "the server did not stop cleanly: "+err.Error())
	}
	r.fillFromBooks(books)
	r.MessagesDelivered = api.SentCount()
	r.DeliveredPerSecond = perSecond(r.MessagesDelivered, drainDone.Sub(l.start).Seconds())
	r.Books.Checked = "full"
	r.Books.Problems = append(r.Books.Problems, books.check()...)
	r.Books.Balanced = len(r.Books.Problems) == 0
	if o.db != "" && base.events > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("the database held %d events before the run: the books cover this run's contacts and messages only", base.events))
	}
	if r.RSSPeakBytes == 0 && ctx.Err() == nil {
		r.Notes = append(r.Notes, fmt.Sprintf("peak RSS unknown: /proc/%d/status was not readable", child.pid()))
	}
	for i, c := range children {
		if n, lines := c.log.lines(); n > 0 {
			who := "the server"
			if len(children) > 1 {
				who = fmt.Sprintf("node %d", i+1)
			}
			r.Notes = append(r.Notes, fmt.Sprintf("%s logged %d %s (on stderr)", who, n, plural(n, "line")))
			fmt.Fprintf(stderr, "wxflow bench: %s logged %d %s; the last:\n%s\n", who, n, plural(n, "line"), indentLines(lines, "    "))
		}
	}
	return r, nil
}

// benchChild is the `wxflow serve` the bench started: the bench's own
// executable, as a child process.
type benchChild struct {
	cmd  *exec.Cmd
	addr <-chan string
	log  *benchChildLog
	// done is closed once the process ended and was reaped; err is then
	// what Wait returned.
	done chan struct{}
	err  error
	// stopped is set once stop ran; stopErr is what it returned.
	stopped bool
	stopErr error
}

// startBenchChild starts `wxflow serve --config cfgPath` in dir. Its
// standard output tells the address it listens on; its standard error is
// kept, with secrets redacted, for the bench's errors and notes.
func startBenchChild(dir, cfgPath string, secrets []string) (*benchChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start the server: %w", err)
	}
	var pairs []string
	for _, s := range secrets {
		pairs = append(pairs, s, "[redacted]")
	}
	s := &benchChild{
		log:  newBenchChildLog(strings.NewReplacer(pairs...)),
		done: make(chan struct{}),
	}
	var stdout io.Writer
	stdout, s.addr = watchServingAddr()
	s.cmd = exec.Command(exe, "serve", "--config", cfgPath)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), benchRunMainEnv+"=1")
	s.cmd.Stdout, s.cmd.Stderr = stdout, s.log
	s.cmd.SysProcAttr = childAttrs()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the server (%s serve): %w", exe, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// pid is the server's process id.
func (s *benchChild) pid() int { return s.cmd.Process.Pid }

// exited reports whether the process ended.
func (s *benchChild) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// ready waits for the address the server listens on.
func (s *benchChild) ready(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case addr := <-s.addr:
		return addr, nil
	case <-s.done:
		return "", s.failure("exited before it listened")
	case <-t.C:
		return "", s.failure(fmt.Sprintf("did not listen within %s", timeout))
	case <-ctx.Done():
		return "", fmt.Errorf("interrupted while the server started: %w", ctx.Err())
	}
}

// failure is an error saying what happened to the server, with how it
// ended and the last lines of its standard error.
func (s *benchChild) failure(what string) error {
	msg := "the server (wxflow serve, pid " + strconv.Itoa(s.pid()) + ") " + what
	if s.exited() {
		msg += " (" + s.cmd.ProcessState.String() + ")"
	}
	if n, lines := s.log.lines(); n > 0 {
		msg += "; its last lines:\n" + indentLines(lines, "    ")
	} else {
		msg += "; it wrote nothing on its standard error"
	}
	return errors.New(msg)
}

// stop stops the server gracefully (SIGINT, as Ctrl-C) and waits for it;
// after timeout it is killed. It returns an error when the server did not
// end with exit code 0, and is a no-op the second time.
func (s *benchChild) stop(timeout time.Duration) error {
	if s.stopped {
		return s.stopErr
	}
	s.stopped = true
	if s.exited() {
		if s.err != nil {
			s.stopErr = s.failure("had exited before the bench stopped it")
		}
		return s.stopErr
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		// No interrupt here (Windows): kill it.
		s.cmd.Process.Kill()
		<-s.done
		return nil
	}
	select {
	case <-s.done:
	case <-t.C:
		s.cmd.Process.Kill()
		<-s.done
		s.stopErr = s.failure(fmt.Sprintf("did not stop within %s and was killed", timeout))
		return s.stopErr
	}
	if s.err != nil {
		s.stopErr = s.failure("stopped with an error")
	}
	return s.stopErr
}

// lineWriter calls line for each complete line written to it and keeps
// the unfinished one; past 64 KiB without a newline, that one counts as a
// line too.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	line    func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		line, rest, ok := bytes.Cut(w.partial, []byte("\n"))
		if !ok {
			break
		}
		w.partial = rest
		w.line(string(line))
	}
	if len(w.partial) > 64<<10 {
		w.line(string(w.partial))
		w.partial = nil
	}
	return len(p), nil
}

// watchServingAddr returns a writer for the standard output of `wxflow
// serve` and a channel that gets the address it listens on, once, from
// the line printAddresses starts with servingPrefix.
func watchServingAddr() (io.Writer, <-chan string) {
	addr := make(chan string, 1)
	seen := false
	return &lineWriter{line: func(line string) {
		if a, ok := strings.CutPrefix(line, servingPrefix); ok && !seen {
			seen = true
			a, _, _ = strings.Cut(a, " ")
			addr <- a
		}
	}}, addr
}

// benchChildLogLines is how many of the server's last stderr lines the
// bench keeps.
const benchChildLogLines = 20

// benchChildLog keeps the last lines of the server's standard error,
// secrets redacted.
type benchChildLog struct {
	lineWriter
	redact *strings.Replacer
	tail   []string
	n      int
}

func newBenchChildLog(redact *strings.Replacer) *benchChildLog {
	w := &benchChildLog{redact: redact}
	w.line = w.add
	return w
}

// add keeps a line; lineWriter calls it with its lock held.
func (w *benchChildLog) add(line string) {
	w.n++
	w.tail = append(w.tail, w.redact.Replace(line))
	if len(w.tail) > benchChildLogLines {
		w.tail = slices.Delete(w.tail, 0, len(w.tail)-benchChildLogLines)
	}
}

// lines returns how many lines the server wrote and the last of them, one
// a line.
func (w *benchChildLog) lines() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, tail := w.n, w.tail
	if len(w.partial) > 0 {
		n++
		tail = append(slices.Clone(tail), w.redact.Replace(string(w.partial)))
	}
	return n, strings.Join(tail, "\n")
}

// benchCounters are the engine's counters the books need: the new events
// it ingested by kind, and the platform retries it recognised.
type benchCounters struct {
	events     map[channels.Kind]int
	duplicates int
	// sent counts the messages the engine recorded sent; pruned the rows
	// its pruner deleted, by kind.
	sent   int
	pruned map[string]int
}

// readBenchCounters reads the counters from the server's /metrics.
func readBenchCounters(ctx context.Context, base, token string) (*benchCounters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseBenchCounters(resp.Body)
}

// benchSentSeries is the series of the messages the engine recorded sent.
const benchSentSeries = `wxflow_messages_total{status="sent",reason=""}`

// parseBenchCounters reads the counters from the Prometheus text format.
func parseBenchCounters(r io.Reader) (*benchCounters, error) {
	c := &benchCounters{events: map[channels.Kind]int{}, pruned: map[string]int{}}
	sawDuplicates := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		if series == benchSentSeries {
			v, _ := strconv.ParseFloat(value, 64)
			c.sent = int(v)
			continue
		}
		if k, ok := strings.CutPrefix(series, metrics.Pruned+`{kind="`); ok {
			if k, ok = strings.CutSuffix(k, `"}`); ok {
				v, _ := strconv.ParseFloat(value, 64)
				c.pruned[k] = int(v)
			}
			continue
		}
		kind, isEvents := strings.CutPrefix(series, metrics.Events+`{type="`)
		if isEvents {
			kind, isEvents = strings.CutSuffix(kind, `"}`)
		}
		if !isEvents && series != metrics.EventDuplicates {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %s: %w", series, err)
		}
		if isEvents {
			c.events[channels.Kind(kind)] += int(v)
		} else {
			c.duplicates, sawDuplicates = int(v), true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !sawDuplicates {
		return nil, errors.New("/metrics has no " + metrics.EventDuplicates)
	}
	return c, nil
}

// fillFromBooks copies the store's figures into the report.
func (r *benchReport) fillFromBooks(b *benchBooks) {
	for _, byKey := range b.gotRuns {
		for k, n := range byKey {
			flow, status, _ := strings.Cut(k, " ")
			r.RunsStarted[flow] += n
			r.Runs[status] += n
			if status == string(engine.RunCompleted) {
				r.RunsCompleted += n
			}
		}
	}
	r.CompletedPerSecond = perSecond(r.RunsCompleted, r.LoadSeconds)
	for _, byKey := range b.wantMsgs {
		for _, n := range byKey {
			r.MessagesExpected += n
		}
	}
	for k, n := range b.outbox {
		r.Outbox[k] = n
		if k == string(engine.OutboxFailed)+":"+string(channels.ReasonUnfollowed) {
			n -= b.stoppedN // stopped by the contact's unfollow, as they must be
		}
		if k != string(engine.OutboxSent) && n > 0 {
			r.Failures["message_"+k] += n
		}
	}
	r.MessagesStopped = b.stoppedN
	r.Duplicates = b.duplicates
}

// storeBase is what the store held before the load, so that the books
// cover this run only (--db may name a database in use).
type storeBase struct {
	events   int
	outboxID int64
}

func storeBaseline(st engine.Store) (storeBase, error) {
	var b storeBase
	err := st.View(context.Background(), func(tx engine.ReadTx) error {
		n, err := tx.Counts()
		if err != nil {
			return err
		}
		b.events = n["events"]
		last, err := tx.Outbox(engine.OutboxFilter{Newest: true, Limit: 1})
		if len(last) > 0 {
			b.outboxID = last[0].ID
		}
		return err
	})
	return b, err
}

// unsentCount counts this run's messages still pending or being sent.
func unsentCount(ctx context.Context, st engine.Store, after int64) (int, error) {
	n := 0
	err := st.View(ctx, func(tx engine.ReadTx) error {
		for _, s := range []engine.OutboxStatus{engine.OutboxPending, engine.OutboxSending} {
			out, err := tx.Outbox(engine.OutboxFilter{Status: s, AfterID: after})
			if err != nil {
				return err
			}
			n += len(out)
		}
		return nil
	})
	return n, err
}

// benchBooks are the books of a bench run: what the acknowledged
// callbacks must have caused, and what the store, the engine and the fake
// API show. Nested maps are per contact, then by key: "flow status" for
// runs, messageKey for messages.
type benchBooks struct {
	// acked counts the acknowledged callbacks by event kind.
	acked map[channels.Kind]int
	// unconfirmed counts the callbacks never acknowledged; skip are their
	// contacts, whose runs and messages are not held to the scripts
	// (their last event may or may not be stored).
	unconfirmed int
	skip        map[string]bool
	// wantRuns and wantMsgs are what the scripts' acknowledged actions
	// must leave.
	wantRuns, wantMsgs map[string]map[string]int
	// stored is how many events the store gained; ingested the new
	// events the server's engine counted, by kind (its /metrics; nil when
	// they could not be read, and then not checked); duplicates the
	// retries it recognised.
	stored     int
	ingested   map[channels.Kind]int
	duplicates int
	// gotRuns are the runs of the bench's contacts in the store.
	gotRuns map[string]map[string]int
	// outbox counts this run's outbox entries by status ("sent",
	// "pending", "failed:window_closed"...); sent are those sent.
	outbox map[string]int
	sent   map[string]map[string]int
	// stopped are the messages of contacts who unfollowed that failed as
	// unfollowed, not sent: reserved before the unfollow and not sent
	// by the time it was stored (the engine sends none after it).
	// They count as sent against what the flows must send, and not as
	// messages not sent; stoppedN is how many.
	stopped  map[string]map[string]int
	stoppedN int
	// api are the messages the fake API accepted.
	api map[string]map[string]int
}

// collectBooks reads the books of a run from the scripts, the server's
// store and counters, and the fake API. Without counters (nil) the events
// by kind are not checked.
func collectBooks(scenario string, fs []*loadgen.Follower, st engine.Store, counters *benchCounters, api *wechattest.Server, base storeBase) (*benchBooks, error) {
	b := &benchBooks{
		acked: map[channels.Kind]int{}, skip: map[string]bool{},
		wantRuns: map[string]map[string]int{}, wantMsgs: map[string]map[string]int{},
		ingested: map[channels.Kind]int{}, gotRuns: map[string]map[string]int{},
		outbox: map[string]int{}, sent: map[string]map[string]int{}, api: map[string]map[string]int{},
		stopped: map[string]map[string]int{},
	}
	ours := make(map[string]bool, len(fs))
	unfollowed := map[string]bool{}
	for _, f := range fs {
		ours[f.Contact] = true
		for _, a := range f.Actions[:f.Acked] {
			b.acked[a.EventKind()]++
			if a.EventKind() == channels.Unfollow {
				unfollowed[f.Contact] = true
			}
		}
		if f.Unconfirmed {
			b.unconfirmed++
			b.skip[f.Contact] = true
			continue
		}
		runs, msgs := loadgen.Expect(scenario, f, f.Acked)
		if len(runs) > 0 {
			b.wantRuns[f.Contact] = runs
		}
		if len(msgs) > 0 {
			b.wantMsgs[f.Contact] = msgs
		}
	}
	if counters != nil {
		maps.Copy(b.ingested, counters.events)
		b.duplicates = counters.duplicates
	} else {
		b.ingested = nil
	}
	err := st.View(context.Background(), func(tx engine.ReadTx) error {
		n, err := tx.Counts()
		if err != nil {
			return err
		}
		b.stored = n["events"] - base.events
		runs, err := tx.Runs(engine.RunFilter{Account: benchAccount})
		if err != nil {
			return err
		}
		for _, r := range runs {
			if ours[r.Contact] {
				count(b.gotRuns, r.Contact, r.Flow+" "+string(r.Status))
			}
		}
		out, err := tx.Outbox(engine.OutboxFilter{AfterID: base.outboxID})
		if err != nil {
			return err
		}
		for _, e := range out {
			status := string(e.Status)
			if e.Reason != "" {
				status += ":" + string(e.Reason)
			}
			b.outbox[status]++
			switch {
			case e.Status == engine.OutboxSent:
				count(b.sent, e.Contact, loadgen.MessageKey(&e.Message))
			case e.Status == engine.OutboxFailed && e.Reason == channels.ReasonUnfollowed && unfollowed[e.Contact]:
				count(b.stopped, e.Contact, loadgen.MessageKey(&e.Message))
				b.stoppedN++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range api.Sent() {
		to, msg, err := loadgen.APIMessage(m.Body)
		if err != nil {
			to, msg = m.ToUser, channels.Message{Type: "unreadable"}
		}
		count(b.api, to, loadgen.MessageKey(&msg))
	}
	return b, nil
}

// count adds one to m[contact][key].
func count(m map[string]map[string]int, contact, key string) {
	if m[contact] == nil {
		m[contact] = map[string]int{}
	}
	m[contact][key]++
}

// benchProblemExamples is how many examples a problem line gives.
const benchProblemExamples = 3

// check returns the problems of the books, one line each; none when they
// balance: every acknowledged callback's event stored once and counted
// once by kind, every contact's runs and sent messages exactly those its
// acknowledged actions must cause, no message left unsent, and every
// message sent at the fake API exactly once, nothing more.
func (b *benchBooks) check() []string {
	var problems []string
	acked := 0
	for _, n := range b.acked {
		acked += n
	}
	// An unconfirmed callback may or may not have been stored.
	if b.stored < acked || b.stored > acked+b.unconfirmed {
		want := strconv.Itoa(acked)
		if b.unconfirmed > 0 {
			want = fmt.Sprintf("%d to %d", acked, acked+b.unconfirmed)
		}
		problems = append(problems, fmt.Sprintf("events: the store gained %d, want %s (one per acknowledged callback)", b.stored, want))
	}
	if b.ingested != nil {
		var kinds []string
		for k := range b.acked {
			kinds = append(kinds, string(k))
		}
		for k := range b.ingested {
			if _, ok := b.acked[k]; !ok {
				kinds = append(kinds, string(k))
			}
		}
		slices.Sort(kinds)
		var diffs []string
		for _, k := range kinds {
			got, want := b.ingested[channels.Kind(k)], b.acked[channels.Kind(k)]
			if got < want || got > want+b.unconfirmed {
				diffs = append(diffs, fmt.Sprintf("%s %d, acknowledged %d", k, got, want))
			}
		}
		if len(diffs) > 0 {
			problems = append(problems, "events by kind: the engine ingested "+strings.Join(diffs, "; "))
		}
	}
	if d := diffCounts(b.wantRuns, b.gotRuns, b.skip, "want", "got"); len(d) > 0 {
		problems = append(problems, summarize("runs differ from what the acknowledged callbacks must start or resume", d))
	}
	var unsent []string
	for status, n := range b.outbox {
		if status == string(engine.OutboxFailed)+":"+string(channels.ReasonUnfollowed) {
			n -= b.stoppedN
		}
		if status != string(engine.OutboxSent) && n > 0 {
			unsent = append(unsent, fmt.Sprintf("%d %s", n, status))
		}
	}
	if len(unsent) > 0 {
		slices.Sort(unsent)
		problems = append(problems, "messages not sent: "+strings.Join(unsent, ", "))
	}
	delivered := map[string]map[string]int{}
	for _, m := range []map[string]map[string]int{b.sent, b.stopped} {
		for c, byKey := range m {
			for k, n := range byKey {
				if delivered[c] == nil {
					delivered[c] = map[string]int{}
				}
				delivered[c][k] += n
			}
		}
	}
	if d := diffCounts(b.wantMsgs, delivered, b.skip, "want", "sent"); len(d) > 0 {
		problems = append(problems, summarize("messages sent differ from what the flows must send", d))
	}
	if d := diffCounts(b.sent, b.api, nil, "outbox sent", "fake API got"); len(d) > 0 {
		problems = append(problems, summarize("messages not at the fake API exactly once", d))
	}
	return problems
}

// diffCounts compares nested counts and returns one line per difference,
// sorted; contacts in skip are left out.
func diffCounts(want, got map[string]map[string]int, skip map[string]bool, wantWord, gotWord string) []string {
	var out []string
	diff := func(contact string) {
		w, g := want[contact], got[contact]
		for k, n := range w {
			if g[k] != n {
				out = append(out, fmt.Sprintf("%s %q: %s %d, %s %d", contact, k, wantWord, n, gotWord, g[k]))
			}
		}
		for k, n := range g {
			if _, ok := w[k]; !ok {
				out = append(out, fmt.Sprintf("%s %q: %s 0, %s %d", contact, k, wantWord, gotWord, n))
			}
		}
	}
	for c := range want {
		if !skip[c] {
			diff(c)
		}
	}
	for c := range got {
		if _, ok := want[c]; !ok && !skip[c] {
			diff(c)
		}
	}
	slices.Sort(out)
	return out
}

// summarize makes one problem line of a heading and its differences.
func summarize(heading string, diffs []string) string {
	s := fmt.Sprintf("%s: %d %s, e.g. %s", heading, len(diffs), plural(len(diffs), "difference"), strings.Join(diffs[:min(len(diffs), benchProblemExamples)], "; "))
	return s
}

// procStatusBytes reads a size field (VmRSS, VmHWM) of a process's
// /proc/PID/status (Linux).
func procStatusBytes(pid int, field string) (int64, error) {
	name := "/proc/" + strconv.Itoa(pid) + "/status"
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			break
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		return n * 1024, err
	}
	return 0, errors.New(field + " not in " + name)
}

// print writes the report as a table.
func (r *benchReport) print(w io.Writer) {
	mode := "plain"
	if r.AES {
		mode = "safe mode (AES)"
	}
	server := "wxflow serve as a child process (synchronous=FULL)"
	switch {
	case r.Mode == "remote":
		server = r.Target
	case r.Nodes > 1:
		server = fmt.Sprintf("%d wxflow serve nodes on PostgreSQL behind a round-robin proxy", r.Nodes)
	case r.Database == "postgres":
		server = "wxflow serve as a child process on PostgreSQL"
	}
	if r.Writers > 0 && r.Mode != "remote" {
		server += fmt.Sprintf(", %d %s a node", r.Writers, plural(r.Writers, "writer"))
	}
	rate := "as fast as acknowledged"
	if r.Rate > 0 {
		rate = fmt.Sprintf("paced at %g/s", r.Rate)
	}
	fmt.Fprintf(w, "wxflow bench: scenario %s, %d followers, %d connections, %s callbacks %s, %s\n",
		r.Scenario, r.Followers, r.Conns, mode, rate, server)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "callbacks\t%d acknowledged of %d in %.2fs: %.1f/s (%d attempts)\n", r.Acked, r.Callbacks, r.LoadSeconds, r.AcksPerSecond, r.Attempts)
	l := r.AckLatency
	fmt.Fprintf(tw, "ack latency\tp50 %.2fms  p95 %.2fms  p99 %.2fms  max %.2fms\n", l.P50, l.P95, l.P99, l.Max)
	fmt.Fprintf(tw, "events\t%s\n", joinCounts(r.Events, ", "))
	if r.Mode != "remote" && len(r.StoreSizes) == 0 {
		started := 0
		for _, n := range r.RunsStarted {
			started += n
		}
		fmt.Fprintf(tw, "runs\t%d started (%s)\n", started, joinCounts(r.RunsStarted, ", "))
		fmt.Fprintf(tw, "\t%d completed: %.1f/s; now %s\n", r.RunsCompleted, r.CompletedPerSecond, joinCounts(r.Runs, ", "))
		stopped := ""
		if r.MessagesStopped > 0 {
			stopped = fmt.Sprintf(" (%d stopped by their follower's unfollow)", r.MessagesStopped)
		}
		fmt.Fprintf(tw, "messages\t%d delivered to the fake API of %d expected%s, %.1f/s (drained %.2fs after the last ack)\n",
			r.MessagesDelivered, r.MessagesExpected, stopped, r.DeliveredPerSecond, r.DrainSeconds)
		fmt.Fprintf(tw, "outbox\t%s\n", joinCounts(r.Outbox, ", "))
	}
	if len(r.StoreSizes) > 0 {
		fmt.Fprintf(tw, "messages\t%d delivered to the fake API, %.1f/s (drained %.2fs after the last ack)\n", r.MessagesDelivered, r.DeliveredPerSecond, r.DrainSeconds)
		fmt.Fprintf(tw, "outbox\t%s (what the pruner left)\n", joinCounts(r.Outbox, ", "))
	}
	if len(r.Failures) == 0 {
		fmt.Fprintf(tw, "failures\tnone\n")
	} else {
		fmt.Fprintf(tw, "failures\t%s\n", joinCounts(r.Failures, ", "))
	}
	if r.RSSPeakBytes > 0 {
		fmt.Fprintf(tw, "peak RSS\t%.1f MiB (%.1f MiB before the load; %s)\n", float64(r.RSSPeakBytes)/(1<<20), float64(r.RSSStartBytes)/(1<<20), r.RSSOf)
	} else if strings.HasPrefix(r.RSSOf, "unknown") {
		fmt.Fprintf(tw, "peak RSS\t%s\n", r.RSSOf)
	} else {
		fmt.Fprintf(tw, "peak RSS\tunknown (%s)\n", r.RSSOf)
	}
	if len(r.StoreSizes) > 0 {
		var parts []string
		for _, sm := range r.StoreSizes {
			parts = append(parts, fmt.Sprintf("%.0fs %.1f MiB", sm.Seconds, float64(sm.Bytes)/(1<<20)))
		}
		fmt.Fprintf(tw, "soak\t%d rounds in %.0fs, retention %s, %d location reports a follower a round\n", r.Rounds, r.Duration, cmp.Or(r.Retention, "the server's defaults"), r.Locations)
		fmt.Fprintf(tw, "store size\t%s\n", strings.Join(parts, ", "))
		fmt.Fprintf(tw, "\tgrowth over the second half: %+.1f%%\n", r.GrowthLastHalf)
		fmt.Fprintf(tw, "pruned\t%s\n", joinCounts(r.Pruned, ", "))
	}
	switch {
	case r.Books.Balanced && r.Books.Checked == "soak":
		fmt.Fprintf(tw, "books\tbalanced: every callback acknowledged and counted by kind; no message left unsent; every message the engine recorded sent reached the fake API, and nothing else\n")
	case r.Books.Balanced && r.Books.Checked == "full":
		fmt.Fprintf(tw, "books\tbalanced: every acknowledged event stored once and started or resumed what it should; every message sent reached the fake API exactly once\n")
	case r.Books.Balanced:
		fmt.Fprintf(tw, "books\tacknowledgements only: every callback acknowledged\n")
	default:
		fmt.Fprintf(tw, "books\tNOT BALANCED\n")
	}
	tw.Flush()
	for _, p := range r.Books.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// joinCounts formats counts as "key n", sorted by key.
func joinCounts(m map[string]int, sep string) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, sep)
}
