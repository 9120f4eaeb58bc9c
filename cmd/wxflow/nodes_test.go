package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine"
)

// The multi-node test (issue 13, section 5): three `wxflow serve`
// processes share one PostgreSQL database behind a round-robin reverse
// proxy, under a load of signed callbacks with WeChat's retries. During
// the load one node is killed with SIGKILL and started again, one is
// paused (SIGSTOP) past its lease and resumed (it must commit and send
// nothing more, and exit), and PostgreSQL is restarted. Then the books,
// from the database and the fake WeChat API: every acknowledged callback
// stored once; per contact, the messages at the API in the order the
// flows produced them; no message at the API twice; `unknown` only for a
// message that was being sent at a kill, a pause or the restart; every
// timer fired once; every cron firing once for each contact of its
// audience.
//
// The nodes run in real time (a lease is 5 s), so the test takes about
// a minute and a half. It needs PostgreSQL: WXFLOW_PG_URL, as the other
// PostgreSQL tests (skipped without, unless WXFLOW_REQUIRE_PG=1). To
// restart PostgreSQL without breaking the tests of other packages that
// run against that server at the same time, it starts a throwaway
// cluster of its own with the server's initdb and pg_ctl (Debian's
// packages, as .ci/postgres.sh installs); when it cannot, it runs on
// WXFLOW_PG_URL in a schema of its own and says that it skipped the
// restart.

const (
	// nodesCount is how many serve processes share the database.
	nodesCount = 3
	// nodesAccount is the test's account.
	nodesAccountID = "main"
	nodesAppID     = "wxn0de5012345678ab"
	nodesSecret    = "nodes-app-secret"
	nodesToken     = "nodesTok3n"
	nodesGhID      = "gh_n0de50123456"
	// The load: a wave of contacts every nodesWaveEvery until
	// nodesLoadFor; each wave has nodesOnboard followers (follow, answer,
	// nodesClicks menu clicks) and nodesPingers contacts sending
	// nodesPings texts each. nodesCron contacts follow first through the
	// QR code of the cron schedule's audience.
	nodesWaveEvery = 400 * time.Millisecond
	nodesLoadFor   = 36 * time.Second
	nodesOnboard   = 4
	nodesClicks    = 2
	nodesPingers   = 2
	nodesPings     = 3
	nodesCron      = 12
	// nodesWorkers post callbacks concurrently; nodesAttempt is how long
	// an attempt waits for its answer before WeChat tries again.
	nodesWorkers = 16
	nodesAttempt = 3 * time.Second
	// nodesWait bounds the waits of the test.
	nodesWait = 60 * time.Second
	// nodesLease is the nodes' lease (postgres.DefaultLease); a node is
	// paused for longer than that.
	nodesLease = 5 * time.Second
)

// nodesFlows: a follow greets, asks a name, thanks, waits (a timer) and
// sends once more; a follow through the "cron" QR code tags the contact
// for the schedule that ticks every minute; "ping N" is answered; a menu
// click is answered with its key. Every message but a tick names its
// contact and is unique, so that a duplicate shows.
var nodesFlows = map[string]string{
	"onboard.yaml": `name: onboard
triggers: [follow]
steps:
  - send: "welcome ${contact.id}"
  - ask: "name? ${contact.id}"
    save: contact.fields.name
    timeout: 1h
  - send: "thanks ${contact.fields.name}"
  - wait: 2s
  - send: "later ${contact.id}"
`,
	"cronjoin.yaml": `name: cronjoin
triggers:
  - follow: cron
steps:
  - tag: [cron]
  - send: "joined ${contact.id}"
`,
	"tick.yaml": `name: tick
triggers:
  - schedule:
      cron: "* * * * *"
      audience: "'cron' in contact.tags"
steps:
  - send: "tick ${contact.id}"
`,
	"ping.yaml": `name: ping
triggers:
  - keyword: { pattern: "^ping ([0-9]+)$" }
steps:
  - send: "pong ${contact.id} ${event.match[1]}"
`,
	"click.yaml": `name: click
triggers:
  - menu: "K_*"
steps:
  - send: "click ${contact.id} ${event.key}"
`,
}

// TestNodesShareOnePostgres runs three serve nodes on one database under
// load, through a kill -9, a pause past the lease and a restart of
// PostgreSQL, and checks the books.
func TestNodesShareOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the multi-node test runs for about a minute and a half")
	}
	began := time.Now()
	db := nodesDatabase(t)
	bin := crashBuild(t)
	t.Logf("database ready and the server built in %v (PostgreSQL restart: %v)", time.Since(began).Round(time.Millisecond), db.restart != nil)

	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp(nodesAppID, nodesSecret)
	// Sends take a while, as WeChat's do: a kill or a pause finds some
	// on the wire.
	api.Delay(15 * time.Millisecond)
	h := newNodesHarness(t, bin, db, api)
	defer h.shutdown()

	for i := range nodesCount {
		h.slots[i].run()
	}
	for _, s := range h.slots {
		s.waitListening(nodesWait)
	}
	// Each node runs two writers (nodes: writers:, by default), each a
	// node of the database's.
	if n := nodeRows(t, db.url); n != nodesCount*engine.DefaultNodeWriters {
		t.Errorf("%d rows in nodes for %d processes, want %d writers each", n, nodesCount, engine.DefaultNodeWriters)
	}
	firstDue := h.scheduleDue(nodesWait)

	load := newNodesLoad(t, h.proxy.URL)
	defer load.close()
	loadStart := time.Now()
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		load.feed(nodesCronScripts(time.Now().Unix()))
		tick := time.NewTicker(nodesWaveEvery)
		defer tick.Stop()
		for wave := 0; time.Since(loadStart) < nodesLoadFor; wave++ {
			load.feed(nodesWave(wave, time.Now().Unix()))
			select {
			case <-tick.C:
			case <-load.stopped:
				return
			}
		}
	}()

	at := func(d time.Duration) {
		time.Sleep(time.Until(loadStart.Add(d)))
	}

	// kill -9 one node; its supervisor starts it again at once, as a new
	// node.
	at(6 * time.Second)
	h.kill(0)

	// Pause one past its lease, then resume it: it must find its lease
	// lost, send nothing and exit 1.
	at(14 * time.Second)
	h.pause(1, nodesLease+2*time.Second)

	// Restart PostgreSQL under the load.
	at(25 * time.Second)
	h.restartPostgres()

	<-feedDone
	if !load.waitIdle(nodesWait) {
		t.Errorf("the load did not finish: %d scripts left", load.left.Load())
	}
	t.Logf("load done in %v: %d callbacks acknowledged, %d attempts, %d of them duplicates posted on purpose",
		time.Since(loadStart).Round(time.Millisecond), load.ackCount(), load.attempts.Load(), load.reposts.Load())
	if err := h.waitQuiet(nodesWait); err != nil {
		t.Errorf("the nodes did not settle: %v", err)
	}
	// Every contact of the cron audience gets each firing once: there
	// must be one firing at least, and none under way when the nodes
	// stop.
	h.settleSchedule(firstDue)
	load.close()
	h.stopAll()

	h.checkBooks(load, api, firstDue)
	if t.Failed() {
		h.dumpLogs()
	}
	t.Logf("%v in all", time.Since(began).Round(time.Millisecond))
}

// nodeRows counts the rows of the nodes table: the live writers.
func nodeRows(t *testing.T, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM nodes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// ---------------------------------------------------------------------
// The database.

// nodesDB is the database the nodes share.
type nodesDB struct {
	url string
	// restart restarts PostgreSQL (nil when the test cannot).
	restart func() error
}

// nodesDatabase returns the nodes' database: a throwaway PostgreSQL
// cluster of the test's own when it can start one, else a fresh schema
// at WXFLOW_PG_URL.
func nodesDatabase(t *testing.T) *nodesDB {
	t.Helper()
	base := os.Getenv("WXFLOW_PG_URL")
	if base == "" {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatal("WXFLOW_REQUIRE_PG=1 but WXFLOW_PG_URL is not set")
		}
		t.Skip("WXFLOW_PG_URL is not set")
	}
	if db, err := nodesCluster(t); err == nil {
		return db
	} else {
		t.Logf("PostgreSQL will not be restarted: no cluster of the test's own (%v); the nodes run on WXFLOW_PG_URL, whose server other tests share", err)
	}
	ctx := context.Background()
	var r [6]byte
	rand.Read(r[:])
	schema := "wxnodes_" + hex.EncodeToString(r[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return &nodesDB{url: u.String()}
}

// nodesCluster starts a throwaway PostgreSQL cluster (initdb, pg_ctl)
// on a free loopback port, as the postgres user when run as root.
func nodesCluster(t *testing.T) (*nodesDB, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.Sort(bins)
	initdb := ""
	if len(bins) > 0 {
		initdb = bins[len(bins)-1]
	} else if p, err := exec.LookPath("initdb"); err == nil {
		initdb = p
	} else {
		return nil, errors.New("no initdb (Debian's postgresql package)")
	}
	pgctl := filepath.Join(filepath.Dir(initdb), "pg_ctl")
	dir, err := os.MkdirTemp("", "wxflow-nodes-pg-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// as runs a PostgreSQL program: as the postgres user when this is
	// root (the server refuses to run as root).
	as := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		as = func(args ...string) *exec.Cmd {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			return cmd
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := as(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// A throwaway server: fsync off (a restart here is a clean one:
	// the fast shutdown checkpoints), idle transactions of a paused node
	// ended as in production's advice.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", port, dir)
	logFile := filepath.Join(dir, "server.log")
	if out, err := as(pgctl, "-D", data, "-l", logFile, "-w", "-o", opts, "start").CombinedOutput(); err != nil {
		b, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, out, b)
	}
	t.Cleanup(func() { as(pgctl, "-D", data, "-m", "immediate", "-w", "stop").Run() })
	db := &nodesDB{url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	db.restart = func() error {
		out, err := as(pgctl, "-D", data, "-l", logFile, "-m", "fast", "-w", "restart").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctl restart: %v: %s", err, out)
		}
		return nil
	}
	return db, nil
}

// ---------------------------------------------------------------------
// The nodes, the proxy in front of them and the API fronts behind them.

// nodesHarness runs the nodes.
type nodesHarness struct {
	t     *testing.T
	bin   string
	dir   string
	db    *nodesDB
	api   *wechattest.Server
	slots []*nodeSlot
	proxy *httptest.Server
	next  atomic.Uint64

	stopping atomic.Bool
	wg       sync.WaitGroup

	mu sync.Mutex
	// atDisruption are the outbox entries being sent (status sending)
	// at each kill, pause, restart of PostgreSQL or exit of a node: only
	// those may end unknown.
	atDisruption map[int64]string
	// pgDown is set while PostgreSQL restarts (and a while after): a
	// node may lose its lease then.
	pgRestarted time.Time
}

// nodeSlot is one node's place: its config, its API front and the
// process running in it now.
type nodeSlot struct {
	h     *nodesHarness
	i     int
	cfg   string
	front *httptest.Server

	mu    sync.Mutex
	addr  string // where its process listens ("" while none does)
	cur   *nodeProc
	procs []*nodeProc
	// sends are the messages the API got through this slot's front;
	// acks when the slot's nodes answered callbacks 200.
	sends []nodeSend
	acks  []time.Time
	// listening is signalled when a process of the slot listens.
	listening chan struct{}
	// hold, when set, holds the slot's next send at the front until
	// released is closed; held is closed once one is held.
	hold     atomic.Bool
	held     chan struct{}
	released chan struct{}
}

// nodeSend is a message the API got from a slot's node.
type nodeSend struct {
	at   time.Time
	to   string
	text string
}

// nodeProc is one serve process.
type nodeProc struct {
	gen     int
	cmd     *exec.Cmd
	log     string
	started time.Time
	done    chan struct{}
	ended   time.Time
	// expect is how the test ends it: "kill", "pause", "stop", or ""
	// (by itself).
	expect atomic.Value
	// resumed is when a paused process was resumed.
	resumed atomic.Int64
}

func newNodesHarness(t *testing.T, bin string, db *nodesDB, api *wechattest.Server) *nodesHarness {
	t.Helper()
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows")
	if err := os.MkdirAll(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range nodesFlows {
		if err := os.WriteFile(filepath.Join(flowsDir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := &nodesHarness{t: t, bin: bin, dir: dir, db: db, api: api, atDisruption: map[int64]string{}}
	for i := range nodesCount {
		s := &nodeSlot{h: h, i: i, listening: make(chan struct{}, 16)}
		s.front = httptest.NewServer(http.HandlerFunc(s.forward))
		t.Cleanup(s.front.Close)
		cfg := fmt.Sprintf(`listen: 127.0.0.1:0
database: %s
flows: flows
timezone: UTC
log: { format: text, level: info }
accounts:
  - id: %s
    app_id: %s
    app_secret: %s
    token: %s
    original_id: %s
    api_base: %s
    passive_reply: false
`, strconv.Quote(db.url), nodesAccountID, nodesAppID, nodesSecret, nodesToken, nodesGhID, s.front.URL)
		s.cfg = filepath.Join(dir, fmt.Sprintf("node%d.yaml", i))
		if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		h.slots = append(h.slots, s)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 4 * nodesWorkers
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(nodesBackend{}).(string)
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	h.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.slots[int(h.next.Add(1))%len(h.slots)]
		s.mu.Lock()
		addr := s.addr
		s.mu.Unlock()
		if addr == "" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		sw := &nodesStatus{ResponseWriter: w}
		rp.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), nodesBackend{}, addr)))
		if sw.status == http.StatusOK {
			s.mu.Lock()
			s.acks = append(s.acks, time.Now())
			s.mu.Unlock()
		}
	}))
	t.Cleanup(h.proxy.Close)
	return h
}

// nodesBackend is the context key of the proxy's chosen backend.
type nodesBackend struct{}

// nodesStatus notes the status a node answered a callback with.
type nodesStatus struct {
	http.ResponseWriter
	status int
}

func (w *nodesStatus) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *nodesStatus) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *nodesStatus) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// forward passes a node's API request to the fake API, noting the
// messages sent.
func (s *nodeSlot) forward(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == wechattest.PathSend {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		to, m, _ := nodesAPIText(body)
		if s.hold.CompareAndSwap(true, false) {
			// On the wire: WeChat has it, whatever becomes of the node.
			close(s.held)
			<-s.released
		}
		s.mu.Lock()
		s.sends = append(s.sends, nodeSend{at: time.Now(), to: to, text: m})
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.h.api.ServeHTTP(w, r)
}

// nodesAPIText reads a text message sent to the API.
func nodesAPIText(body []byte) (to, text string, err error) {
	var m struct {
		ToUser string `json:"touser"`
		Text   struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	err = json.Unmarshal(body, &m)
	return m.ToUser, m.Text.Content, err
}

// run starts the slot's supervisor: it starts a node, and a new one
// each time it ended, until the test stops.
func (s *nodeSlot) run() {
	h := s.h
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for !h.stopping.Load() {
			p := s.start()
			if p == nil {
				return
			}
			<-p.done
			s.mu.Lock()
			s.addr = ""
			s.mu.Unlock()
			s.ended(p)
		}
	}()
}

// start starts a process in the slot and points the proxy at it once it
// listens.
func (s *nodeSlot) start() *nodeProc {
	h := s.h
	s.mu.Lock()
	p := &nodeProc{gen: len(s.procs), done: make(chan struct{})}
	p.expect.Store("")
	p.log = filepath.Join(h.dir, fmt.Sprintf("node%d-%02d.log", s.i, p.gen))
	s.procs = append(s.procs, p)
	s.cur = p
	s.mu.Unlock()
	logf, err := os.Create(p.log)
	if err != nil {
		h.t.Error(err)
		return nil
	}
	defer logf.Close()
	p.cmd = exec.Command(h.bin, "serve", "--config", s.cfg)
	p.cmd.Dir = h.dir
	p.cmd.SysProcAttr = childAttrs()
	stdout, addr := watchServingAddr()
	p.cmd.Stdout, p.cmd.Stderr = stdout, logf
	if err := p.cmd.Start(); err != nil {
		h.t.Error(err)
		return nil
	}
	if h.stopping.Load() {
		p.cmd.Process.Kill() // started as shutdown killed the others
	}
	p.started = time.Now()
	go func() {
		p.cmd.Wait()
		p.ended = time.Now()
		close(p.done)
	}()
	go func() {
		select {
		case a := <-addr:
			s.mu.Lock()
			if s.cur == p {
				s.addr = a
			}
			s.mu.Unlock()
			s.listening <- struct{}{}
		case <-p.done:
		}
	}()
	return p
}

// waitListening waits for the slot's first process to listen.
func (s *nodeSlot) waitListening(d time.Duration) {
	select {
	case <-s.listening:
	case <-time.After(d):
		s.h.t.Fatalf("node %d did not listen within %v:\n%s", s.i, d, s.current().logTail())
	}
}

func (s *nodeSlot) current() *nodeProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// ended checks how a process ended, and notes what it left being sent.
func (s *nodeSlot) ended(p *nodeProc) {
	h := s.h
	why := p.expect.Load().(string)
	if why == "" && h.stopping.Load() {
		return // killed by shutdown: the test is over
	}
	h.noteSending(fmt.Sprintf("exit of node %d.%d", s.i, p.gen))
	ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	code := p.cmd.ProcessState.ExitCode()
	lost := strings.Contains(p.logTail(), "lost its lease")
	switch why {
	case "kill":
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			h.t.Errorf("node %d.%d ended with %v, not by the kill:\n%s", s.i, p.gen, p.cmd.ProcessState, p.logTail())
		}
	case "stop":
		if code != exitOK {
			h.t.Errorf("node %d.%d stopped with %v after SIGTERM:\n%s", s.i, p.gen, p.cmd.ProcessState, p.logTail())
		}
	case "pause":
		if code != exitProblems || !lost {
			h.t.Errorf("node %d.%d, paused past its lease and resumed, ended with %v (want exit 1, the lease lost):\n%s", s.i, p.gen, p.cmd.ProcessState, p.logTail())
		}
	default:
		h.mu.Lock()
		restarted := h.pgRestarted
		h.mu.Unlock()
		if code == exitProblems && lost && !restarted.IsZero() {
			// PostgreSQL was away long enough for the lease to lapse:
			// the node stops, and starts again as a new one.
			h.t.Logf("node %d.%d lost its lease around the restart of PostgreSQL and exited; started again", s.i, p.gen)
		} else {
			h.t.Errorf("node %d.%d ended by itself with %v:\n%s", s.i, p.gen, p.cmd.ProcessState, p.logTail())
		}
	}
}

// kill kills a slot's node with SIGKILL while one of its sends is on the
// wire (held at its API front; it reaches the API after the kill), or
// after 5 s without one; its supervisor starts another node.
func (h *nodesHarness) kill(i int) {
	s := h.slots[i]
	s.held, s.released = make(chan struct{}), make(chan struct{})
	s.hold.Store(true)
	select {
	case <-s.held:
	case <-time.After(5 * time.Second):
		s.hold.Store(false)
		h.t.Logf("node %d sent nothing within 5s: killed without a send on the wire", i)
	}
	defer close(s.released)
	p := s.current()
	p.expect.Store("kill")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		h.t.Errorf("kill node %d.%d: %v", i, p.gen, err)
		return
	}
	<-p.done
	h.noteSending(fmt.Sprintf("kill -9 of node %d.%d", i, p.gen))
	h.t.Logf("killed node %d.%d with SIGKILL", i, p.gen)
	h.noteLastCommits(fmt.Sprintf("kill -9 of node %d.%d", i, p.gen))
}

// pause stops a slot's node with SIGSTOP for d, then resumes it: it must
// send nothing more and exit.
func (h *nodesHarness) pause(i int, d time.Duration) {
	s := h.slots[i]
	p := s.current()
	p.expect.Store("pause")
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		h.t.Errorf("SIGSTOP node %d.%d: %v", i, p.gen, err)
		return
	}
	h.noteSending(fmt.Sprintf("pause of node %d.%d", i, p.gen))
	h.noteLastCommits(fmt.Sprintf("pause of node %d.%d", i, p.gen))
	time.Sleep(d - lastCommits)
	p.resumed.Store(time.Now().UnixNano())
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		h.t.Errorf("SIGCONT node %d.%d: %v", i, p.gen, err)
		return
	}
	select {
	case <-p.done:
		h.t.Logf("node %d.%d, paused %v, exited %v after it was resumed", i, p.gen, d, p.ended.Sub(time.Unix(0, p.resumed.Load())).Round(time.Millisecond))
	case <-time.After(nodesWait):
		h.t.Errorf("node %d.%d, paused past its lease, did not exit within %v of being resumed", i, p.gen, nodesWait)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// restartPostgres restarts the database server, when the test runs its
// own.
func (h *nodesHarness) restartPostgres() {
	if h.db.restart == nil {
		h.t.Log("PostgreSQL restart skipped: the nodes run on the shared server of WXFLOW_PG_URL (no throwaway cluster could be started)")
		return
	}
	h.noteSending("before the restart of PostgreSQL")
	start := time.Now()
	h.mu.Lock()
	h.pgRestarted = start
	h.mu.Unlock()
	if err := h.db.restart(); err != nil {
		h.t.Errorf("restart PostgreSQL: %v", err)
		return
	}
	h.noteSending("after the restart of PostgreSQL")
	h.t.Logf("restarted PostgreSQL in %v", time.Since(start).Round(time.Millisecond))
}

// stopAll stops every node with SIGTERM and waits for the supervisors.
func (h *nodesHarness) stopAll() {
	h.stopping.Store(true)
	for _, s := range h.slots {
		p := s.current()
		p.expect.Store("stop")
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(nodesWait):
		h.t.Errorf("the nodes did not stop within %v of SIGTERM", nodesWait)
		h.shutdown()
	}
}

// shutdown kills whatever still runs and waits for the supervisors.
func (h *nodesHarness) shutdown() {
	h.stopping.Store(true)
	for _, s := range h.slots {
		s.mu.Lock()
		procs := slices.Clone(s.procs)
		s.mu.Unlock()
		for _, p := range procs {
			if p.cmd != nil && p.cmd.Process != nil {
				p.cmd.Process.Signal(syscall.SIGCONT)
				p.cmd.Process.Kill()
			}
		}
	}
	h.wg.Wait()
}

// logTail is the end of a node's log.
func (p *nodeProc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// dumpLogs logs the warnings and errors of every node.
func (h *nodesHarness) dumpLogs() {
	for _, s := range h.slots {
		for _, p := range s.procs {
			b, _ := os.ReadFile(p.log)
			var lines []string
			for line := range strings.Lines(string(b)) {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
					lines = append(lines, line)
				}
			}
			if len(lines) > 30 {
				lines = append(lines[:30], fmt.Sprintf("... %d more\n", len(lines)-30))
			}
			h.t.Logf("node %d.%d warnings and errors:\n%s", s.i, p.gen, strings.Join(lines, ""))
		}
	}
}

// ---------------------------------------------------------------------
// Reading the database.

// query runs fn on a fresh connection to the database, retrying while
// the server is away (it restarts), for up to nodesWait.
func (h *nodesHarness) query(fn func(ctx context.Context, conn *pgx.Conn) error) error {
	deadline := time.Now().Add(nodesWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		conn, err := pgx.Connect(ctx, h.db.url)
		if err == nil {
			err = fn(ctx, conn)
			conn.Close(context.Background())
		}
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lastCommits is how long after a node was killed or stopped the
// transactions it had sent whole (COMMIT included) may still commit:
// the server runs them without the client. One that marked a send
// started lands after the snapshot taken at once; the send it marked
// never happens, and the lanes' next node rightly makes it unknown.
const lastCommits = time.Second

// noteLastCommits notes, lastCommits after a disruption, what was being
// sent then as being sent at the disruption too (see lastCommits): a
// stopped or dead node cannot start another send, so what started
// meanwhile is its last transactions' or a live node's, which is at
// most more allowed to be unknown, never less. (A CI run found a
// message marked started by the last commit of a node paused with
// SIGSTOP, after the snapshot of the pause.)
func (h *nodesHarness) noteLastCommits(when string) {
	time.Sleep(lastCommits)
	h.noteSending(when + ", its last commits")
}

// noteSending keeps the outbox entries being sent now.
func (h *nodesHarness) noteSending(when string) {
	var ids []int64
	err := h.query(func(ctx context.Context, conn *pgx.Conn) error {
		// Sending: started and not finished (migration 007's flag), or
		// status sending (written before it).
		rows, err := conn.Query(ctx, `SELECT id FROM outbox WHERE status = 'sending' OR (status = 'pending' AND started)`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		var pe interface{ SQLState() string }
		if errors.As(err, &pe) && pe.SQLState() == "42P01" {
			return // no tables yet
		}
		h.t.Errorf("%s: reading the outbox: %v", when, err)
		return
	}
	h.mu.Lock()
	for _, id := range ids {
		if _, ok := h.atDisruption[id]; !ok {
			h.atDisruption[id] = when
		}
	}
	h.mu.Unlock()
	if len(ids) > 0 {
		h.t.Logf("%s: %d messages being sent", when, len(ids))
	}
}

// scheduleDue returns the tick schedule's due time, once a node stored
// it.
func (h *nodesHarness) scheduleDue(d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for {
		var due int64
		err := h.query(func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT coalesce(max(due), 0) FROM schedules`).Scan(&due)
		})
		if err == nil && due > 0 {
			return due
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no schedule stored within %v (%v)", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitQuiet waits until no run is active, nothing waits to be sent and
// nothing is queued.
func (h *nodesHarness) waitQuiet(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var active, open, queued int
		err := h.query(func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM runs WHERE ended_at = 0),
				(SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')), (SELECT count(*) FROM queue)`).Scan(&active, &open, &queued)
		})
		if err == nil && active == 0 && open == 0 && queued == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d active runs, %d messages pending or being sent, %d items queued (err %v)", d, active, open, queued, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settleSchedule makes sure the schedule fired at least once, and that
// the nodes do not stop in the middle of a firing: when the next one is
// close, it waits for it and for the nodes to finish it.
func (h *nodesHarness) settleSchedule(firstDue int64) {
	for {
		var due int64
		err := h.query(func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT coalesce(max(due), 0) FROM schedules`).Scan(&due)
		})
		if err != nil {
			h.t.Errorf("reading the schedule: %v", err)
			return
		}
		next := time.Unix(0, due)
		if due > firstDue && time.Until(next) > 10*time.Second {
			// The firing that moved due on may still be sending its
			// messages: quiet before an earlier firing, or before this
			// one had begun, is no sign of its end (a firing 1.2 s late
			// on a loaded machine left its ticks pending when the nodes
			// stopped).
			if err := h.waitQuiet(nodesWait); err != nil {
				h.t.Errorf("after the schedule's firing: %v", err)
			}
			return
		}
		h.t.Logf("waiting %v for the schedule's firing at %s", time.Until(next).Round(time.Millisecond), next.UTC().Format(time.TimeOnly))
		time.Sleep(time.Until(next.Add(500 * time.Millisecond)))
		if err := h.waitQuiet(nodesWait); err != nil {
			h.t.Errorf("after the schedule's firing: %v", err)
			return
		}
	}
}

// ---------------------------------------------------------------------
// The load: each contact's callbacks in order, each posted until the
// proxy answers it 200.

// nodesCall is one callback.
type nodesCall struct {
	contact string
	kind    channels.Kind // Follow, Text or MenuClick
	at      int64
	msgID   int64
	text    string // a text's content
	key     string // a click's key
	scene   string // a follow's QR scene
	acked   bool   // guarded by nodesLoad.mu
}

// ident names the event as the books read it from the events table.
func (c *nodesCall) ident() string {
	switch c.kind {
	case channels.Text:
		return c.contact + "|m" + strconv.FormatInt(c.msgID, 10)
	case channels.MenuClick:
		return c.contact + "|menu@" + strconv.FormatInt(c.at, 10) + "|" + c.key
	}
	return c.contact + "|" + string(c.kind) + "@" + strconv.FormatInt(c.at, 10)
}

func (c *nodesCall) xml() string {
	head := "<xml><ToUserName><![CDATA[" + nodesGhID + "]]></ToUserName><FromUserName><![CDATA[" + c.contact +
		"]]></FromUserName><CreateTime>" + strconv.FormatInt(c.at, 10) + "</CreateTime>"
	switch c.kind {
	case channels.Follow:
		key := ""
		if c.scene != "" {
			key = "<EventKey><![CDATA[qrscene_" + c.scene + "]]></EventKey>"
		}
		return head + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>" + key + "</xml>"
	case channels.MenuClick:
		return head + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[" + c.key + "]]></EventKey></xml>"
	}
	return head + "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" + c.text + "]]></Content><MsgId>" +
		strconv.FormatInt(c.msgID, 10) + "</MsgId></xml>"
}

// nodesScript is one contact's callbacks, posted in order, and the
// messages they must cause: chains, each in the order the contact must
// get them (messages of different chains may interleave).
type nodesScript struct {
	contact string
	calls   []*nodesCall
	chains  [][]string
	// cron: the contact is in the schedule's audience.
	cron bool
}

var nodesMsgIDs atomic.Int64

func nodesCronScripts(now int64) []*nodesScript {
	var out []*nodesScript
	for i := range nodesCron {
		c := fmt.Sprintf("k_%02d", i)
		out = append(out, &nodesScript{contact: c, cron: true,
			calls:  []*nodesCall{{contact: c, kind: channels.Follow, at: now, scene: "cron"}},
			chains: [][]string{{"joined " + c}}})
	}
	return out
}

// nodesWave is the contacts of one wave: followers (o_) and pingers (p_).
func nodesWave(wave int, now int64) []*nodesScript {
	var out []*nodesScript
	for i := range nodesOnboard {
		c := fmt.Sprintf("o_w%03d_%d", wave, i)
		name := "N-" + c
		s := &nodesScript{contact: c,
			calls: []*nodesCall{
				{contact: c, kind: channels.Follow, at: now},
				{contact: c, kind: channels.Text, at: now + 1, msgID: 9_000_000 + nodesMsgIDs.Add(1), text: name},
			},
			chains: [][]string{{"welcome " + c, "name? " + c, "thanks " + name, "later " + c}},
		}
		clicks := []string{"thanks " + name}
		for k := 1; k <= nodesClicks; k++ {
			key := fmt.Sprintf("K_%d", k)
			s.calls = append(s.calls, &nodesCall{contact: c, kind: channels.MenuClick, at: now + 1 + int64(k), key: key})
			clicks = append(clicks, "click "+c+" "+key)
		}
		s.chains = append(s.chains, clicks)
		out = append(out, s)
	}
	for i := range nodesPingers {
		c := fmt.Sprintf("p_w%03d_%d", wave, i)
		s := &nodesScript{contact: c}
		var pongs []string
		for k := 1; k <= nodesPings; k++ {
			s.calls = append(s.calls, &nodesCall{contact: c, kind: channels.Text, at: now + int64(k),
				msgID: 9_000_000 + nodesMsgIDs.Add(1), text: fmt.Sprintf("ping %d", k)})
			pongs = append(pongs, fmt.Sprintf("pong %s %d", c, k))
		}
		s.chains = [][]string{pongs}
		out = append(out, s)
	}
	return out
}

// nodesLoad posts the scripts' callbacks through the proxy, as WeChat
// does: a callback not answered 200 within nodesAttempt is posted again,
// with the same body, until it is; now and then a copy is posted while
// an attempt is under way, or after its acknowledgement.
type nodesLoad struct {
	t       *testing.T
	base    string
	client  *http.Client
	scripts chan *nodesScript
	stopped chan struct{}
	stopOne sync.Once
	wg      sync.WaitGroup
	nonces  atomic.Int64

	mu   sync.Mutex
	all  []*nodesScript
	acks int

	left     atomic.Int64
	attempts atomic.Int64
	reposts  atomic.Int64
}

func newNodesLoad(t *testing.T, base string) *nodesLoad {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 2 * nodesWorkers
	l := &nodesLoad{t: t, base: base, client: &http.Client{Transport: tr, Timeout: nodesAttempt},
		scripts: make(chan *nodesScript, 1<<14), stopped: make(chan struct{})}
	for i := range nodesWorkers {
		l.wg.Add(1)
		go l.worker(mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))))
	}
	return l
}

func (l *nodesLoad) close() {
	l.stopOne.Do(func() { close(l.stopped) })
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

func (l *nodesLoad) feed(scripts []*nodesScript) {
	l.mu.Lock()
	l.all = append(l.all, scripts...)
	l.mu.Unlock()
	l.left.Add(int64(len(scripts)))
	for _, s := range scripts {
		l.scripts <- s
	}
}

func (l *nodesLoad) ackCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks
}

func (l *nodesLoad) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stopped:
		return false
	}
}

func (l *nodesLoad) worker(rng *mrand.Rand) {
	defer l.wg.Done()
	for {
		var s *nodesScript
		select {
		case <-l.stopped:
			return
		case s = <-l.scripts:
		}
		for _, c := range s.calls {
			if !l.deliver(c, rng) {
				return
			}
			if rng.IntN(10) == 0 {
				// WeChat posts an acknowledged callback again now and
				// then: it must change nothing.
				l.reposts.Add(1)
				l.attempt(c)
			}
		}
		l.left.Add(-1)
	}
}

// deliver posts c until it is acknowledged; false when the load stopped.
func (l *nodesLoad) deliver(c *nodesCall, rng *mrand.Rand) bool {
	for {
		if rng.IntN(15) == 0 {
			// A retry while the first attempt is under way.
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.reposts.Add(1)
				l.attempt(c)
			}()
		}
		if l.attempt(c) {
			l.mu.Lock()
			c.acked = true
			l.acks++
			l.mu.Unlock()
			return true
		}
		if !l.sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond) {
			return false
		}
	}
}

// attempt posts c once, signed now; true when answered 200 "success".
func (l *nodesLoad) attempt(c *nodesCall) bool {
	l.attempts.Add(1)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := strconv.FormatInt(1_000_000+l.nonces.Add(1), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(nodesToken, ts, nonce)}, "openid": {c.contact}}
	resp, err := l.client.Post(l.base+"/wechat/"+nodesAccountID+"?"+q.Encode(), "text/xml", strings.NewReader(c.xml()))
	if err != nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	if string(body) != "success" {
		l.t.Errorf("the callback %s was answered %q", c.ident(), body)
		return false
	}
	return true
}

func (l *nodesLoad) waitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for l.left.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// ---------------------------------------------------------------------
// The books.

// nodesOutboxRow is an outbox entry.
type nodesOutboxRow struct {
	id      int64
	contact string
	text    string
	status  string
	detail  string
}

// checkBooks reads the stopped nodes' database and the fake API.
func (h *nodesHarness) checkBooks(load *nodesLoad, api *wechattest.Server, firstDue int64) {
	t := h.t
	events := map[string]int{}
	var outbox []nodesOutboxRow
	runs := map[string]int{} // "contact flow" -> runs
	var notCompleted []string
	var timers, queued int
	var lastDue int64
	err := h.query(func(ctx context.Context, conn *pgx.Conn) error {
		clear(events)
		outbox = outbox[:0]
		clear(runs)
		notCompleted = notCompleted[:0]
		rows, err := conn.Query(ctx, `SELECT payload FROM events`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var payload string
			if err := rows.Scan(&payload); err != nil {
				return err
			}
			var ev channels.Event
			if err := json.Unmarshal([]byte(payload), &ev); err != nil {
				return fmt.Errorf("event %s: %w", payload, err)
			}
			c := nodesCall{contact: ev.Contact, kind: ev.Kind, at: ev.At.Unix(), key: ev.Key}
			if ev.MsgID != "" {
				c.kind = channels.Text
				c.msgID, _ = strconv.ParseInt(ev.MsgID, 10, 64)
			}
			events[c.ident()]++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// A message left pending says who claimed it and who holds its
		// lane, to tell a lost claim from a lost wake-up.
		rows, err = conn.Query(ctx, `SELECT o.id, o.contact, o.message, o.status, o.detail ||
				CASE WHEN o.status = 'pending' THEN format('claimed by %L, started %s, created %s, updated %s, lane %s held by %L',
					coalesce(c.name, o.claimed_by), o.started, o.created_at, o.updated_at, o.lane, coalesce(n.name, l.owner)) ELSE '' END
			FROM outbox o LEFT JOIN lanes l ON l.lane = o.lane LEFT JOIN nodes n ON n.id = l.owner LEFT JOIN nodes c ON c.id = o.claimed_by
			ORDER BY o.id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r nodesOutboxRow
			var msg string
			if err := rows.Scan(&r.id, &r.contact, &msg, &r.status, &r.detail); err != nil {
				return err
			}
			var m channels.Message
			if err := json.Unmarshal([]byte(msg), &m); err != nil {
				return fmt.Errorf("outbox %d: %w", r.id, err)
			}
			r.text = m.Text
			outbox = append(outbox, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = conn.Query(ctx, `SELECT id, contact, flow, status FROM runs`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var contact, flow, status string
			if err := rows.Scan(&id, &contact, &flow, &status); err != nil {
				return err
			}
			runs[contact+" "+flow]++
			if status != "completed" {
				notCompleted = append(notCompleted, fmt.Sprintf("run %d (%s of %s) is %s", id, flow, contact, status))
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM timers), (SELECT count(*) FROM queue), (SELECT coalesce(max(due), 0) FROM schedules)`).Scan(&timers, &queued, &lastDue)
	})
	if err != nil {
		t.Fatalf("reading the books: %v", err)
	}
	for _, s := range notCompleted {
		t.Error(s)
	}
	if timers != 0 || queued != 0 {
		t.Errorf("%d timers and %d queued items are left after the nodes stopped", timers, queued)
	}

	// Every callback acknowledged, and stored once.
	load.mu.Lock()
	scripts := slices.Clone(load.all)
	load.mu.Unlock()
	calls := 0
	for _, s := range scripts {
		for _, c := range s.calls {
			calls++
			switch {
			case !c.acked:
				t.Errorf("the callback %s was never acknowledged", c.ident())
			case events[c.ident()] != 1:
				t.Errorf("the callback %s, acknowledged, is stored %d times", c.ident(), events[c.ident()])
			}
		}
	}
	if len(events) != calls {
		t.Errorf("the events table holds %d distinct events, the load posted %d callbacks", len(events), calls)
	}

	// Each cron firing once for every contact of its audience.
	firings := int((lastDue - firstDue) / int64(time.Minute))
	if firings < 1 {
		t.Errorf("the schedule never fired (due %s, first %s)", time.Unix(0, lastDue).UTC(), time.Unix(0, firstDue).UTC())
	}

	// Runs: one onboard run and one per click for a follower, one per
	// ping, the join and one tick per firing for the cron audience.
	want := map[string]int{}
	for _, s := range scripts {
		switch {
		case s.cron:
			want[s.contact+" cronjoin"] = 1
			want[s.contact+" tick"] = firings
		case strings.HasPrefix(s.contact, "o_"):
			want[s.contact+" onboard"] = 1
			want[s.contact+" click"] = nodesClicks
		default:
			want[s.contact+" ping"] = len(s.calls)
		}
	}
	for k, n := range want {
		if runs[k] != n {
			t.Errorf("%s: %d runs, want %d", k, runs[k], n)
		}
	}
	for k, n := range runs {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %d runs nobody asked for", k, n)
		}
	}

	// The outbox: every message the scripts want, once (a tick once per
	// firing), sent or unknown; unknown only when it was being sent at a
	// disruption.
	byText := map[string]nodesOutboxRow{}
	ticks := map[string]int{}
	h.mu.Lock()
	atDisruption := h.atDisruption
	h.mu.Unlock()
	unknown := 0
	for _, o := range outbox {
		if strings.HasPrefix(o.text, "tick ") {
			ticks[o.contact]++
		} else if prev, dup := byText[o.text]; dup {
			t.Errorf("outbox %d and %d are both %q: a message reserved twice", prev.id, o.id, o.text)
		}
		byText[o.text] = o
		switch o.status {
		case "sent":
		case "unknown":
			unknown++
			if _, ok := atDisruption[o.id]; !ok {
				t.Errorf("outbox %d %q is unknown (%s), but it was not being sent at any kill, pause, restart or exit", o.id, o.text, o.detail)
			}
		default:
			t.Errorf("outbox %d %q to %s is %s (%s), want sent or unknown", o.id, o.text, o.contact, o.status, o.detail)
		}
	}
	wantTexts := 0
	for _, s := range scripts {
		for _, chain := range s.chains {
			for _, text := range chain {
				if strings.HasPrefix(text, "thanks ") && len(chain) > 0 && chain[0] == text {
					continue // the head of the clicks' chain, counted in the first
				}
				wantTexts++
				if o, ok := byText[text]; !ok {
					t.Errorf("%s: %q is not in the outbox", s.contact, text)
				} else if o.contact != s.contact {
					t.Errorf("outbox %d %q is to %s, want %s", o.id, text, o.contact, s.contact)
				}
			}
		}
		if s.cron {
			wantTexts += firings
			if ticks[s.contact] != firings {
				t.Errorf("%s: %d ticks in the outbox, want one for each of the %d firings", s.contact, ticks[s.contact], firings)
			}
		}
	}
	if len(outbox) != wantTexts {
		t.Errorf("the outbox holds %d messages, want %d", len(outbox), wantTexts)
	}

	// What reached the API: each message at most once (a tick as many
	// times as sent), sent ones exactly once, each chain in order.
	got := map[string]int{}
	pos := map[string]int{} // text -> its place in the API's order
	for i, s := range api.Sent() {
		to, text, err := nodesAPIText(s.Body)
		if err != nil {
			t.Errorf("the API received %s: %v", s.Body, err)
			continue
		}
		got[text]++
		if _, ok := pos[text]; !ok {
			pos[text] = i
		}
		o, ok := byText[text]
		switch {
		case !ok:
			t.Errorf("%q reached the API but is not in the outbox", text)
		case o.contact != to:
			t.Errorf("%q reached the API for %s, the outbox has it for %s", text, to, o.contact)
		}
	}
	sentTicks := map[string]int{}
	for _, o := range outbox {
		if strings.HasPrefix(o.text, "tick ") {
			if o.status == "sent" {
				sentTicks[o.contact]++
			}
			continue
		}
		n := got[o.text]
		switch {
		case n > 1:
			t.Errorf("%q reached the API %d times: a message sent twice", o.text, n)
		case o.status == "sent" && n != 1:
			t.Errorf("outbox %d %q is sent, and reached the API %d times", o.id, o.text, n)
		}
	}
	for c, n := range sentTicks {
		if got["tick "+c] < n || got["tick "+c] > ticks[c] {
			t.Errorf("%s: %d ticks sent (%d in the outbox), the API got %d", c, n, ticks[c], got["tick "+c])
		}
	}
	misordered := 0
	for _, s := range scripts {
		for _, chain := range s.chains {
			last, lastText := -1, ""
			for _, text := range chain {
				p, ok := pos[text]
				if !ok {
					continue // unknown and lost
				}
				if p < last {
					t.Errorf("%s: the API got %q before %q", s.contact, text, lastText)
					if misordered++; misordered <= 3 {
						h.dumpContact(s.contact)
					}
				}
				last, lastText = p, text
			}
		}
	}

	// The paused node sent nothing once resumed but what was being sent
	// when it was paused (those are unknown).
	for _, sl := range h.slots {
		for _, p := range sl.procs {
			r := p.resumed.Load()
			if r == 0 {
				continue
			}
			sl.mu.Lock()
			sends := slices.Clone(sl.sends)
			sl.mu.Unlock()
			late := 0
			for _, snd := range sends {
				if snd.at.UnixNano() < r || snd.at.After(p.ended) {
					continue
				}
				late++
				o := byText[snd.text]
				if o.status != "unknown" {
					t.Errorf("node %d.%d sent %q after it was resumed past its lease; the outbox has it %s", sl.i, p.gen, snd.text, o.status)
				}
			}
			t.Logf("node %d.%d sent %d messages after it was resumed (each one being sent when it was paused)", sl.i, p.gen, late)
			// An answer 200 needs a commit (a retry's too: the fence is
			// checked at every commit).
			sl.mu.Lock()
			for _, at := range sl.acks {
				if at.UnixNano() >= r && !at.After(p.ended) {
					t.Errorf("node %d.%d answered a callback 200 at %s, after it was resumed past its lease", sl.i, p.gen, at.UTC().Format("15:04:05.000"))
				}
			}
			sl.mu.Unlock()
		}
	}
	nodes := 0
	for _, sl := range h.slots {
		nodes += len(sl.procs)
	}
	t.Logf("books: %d callbacks, %d events; %d firings of the schedule; %d messages, %d unknown (%d being sent at disruptions); %d node processes",
		calls, len(events), firings, len(outbox), unknown, len(atDisruption), nodes)
}

// dumpContact logs what the database holds of a contact, to see where
// its order was lost.
func (h *nodesHarness) dumpContact(contact string) {
	var lines []string
	err := h.query(func(ctx context.Context, conn *pgx.Conn) error {
		lines = lines[:0]
		for _, q := range []string{
			`SELECT 'event', received_at, key FROM events WHERE contact = $1`,
			`SELECT 'run ' || id || ' ' || flow || ' ' || status, started_at, 'ended ' || ended_at FROM runs WHERE contact = $1`,
			`SELECT 'outbox ' || id || ' ' || status, created_at, message || ' updated ' || updated_at FROM outbox WHERE contact = $1`,
		} {
			rows, err := conn.Query(ctx, q+` ORDER BY 2`, contact)
			if err != nil {
				return err
			}
			for rows.Next() {
				var what, more string
				var at int64
				if err := rows.Scan(&what, &at, &more); err != nil {
					return err
				}
				lines = append(lines, fmt.Sprintf("  %s %s %s", time.Unix(0, at).UTC().Format("15:04:05.000000"), what, more))
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Logf("%s: %v", contact, err)
		return
	}
	for _, sl := range h.slots {
		sl.mu.Lock()
		for _, snd := range sl.sends {
			if snd.to == contact {
				lines = append(lines, fmt.Sprintf("  %s API got from node %d: %s", snd.at.UTC().Format("15:04:05.000000"), sl.i, snd.text))
			}
		}
		for _, p := range sl.procs {
			lines = append(lines, fmt.Sprintf("  %s node %d.%d started", p.started.UTC().Format("15:04:05.000000"), sl.i, p.gen))
			if !p.ended.IsZero() {
				lines = append(lines, fmt.Sprintf("  %s node %d.%d ended", p.ended.UTC().Format("15:04:05.000000"), sl.i, p.gen))
			}
		}
		sl.mu.Unlock()
	}
	slices.Sort(lines)
	h.t.Logf("%s in the database:\n%s", contact, strings.Join(lines, "\n"))
}
