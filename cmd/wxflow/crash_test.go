package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
)

// The kill test of `wxflow serve`: the real binary, built once, serves
// two accounts of a fake WeChat API (one answering with passive replies)
// under a load of signed callbacks and is killed with SIGKILL at random
// moments (some while the API holds its sends), then started again on
// the same database, a few times over. Callbacks that were not
// acknowledged are posted again, as WeChat does, until they are. At the
// end the books must balance: no acknowledged event lost, no message sent
// twice, every `unknown` accounted for.

// crashAccount is an account of the test's config.
type crashAccount struct {
	id, appID, secret, token, ghID string
	// passive turns passive_reply on.
	passive bool
}

var crashAccounts = []*crashAccount{
	{id: "main", appID: "wxc0ffee0123456789", secret: "crash-secret-of-main", token: "crashTok3n", ghID: "gh_c0ffee012345"},
	{id: "pas", appID: "wxfeedface01234567", secret: "crash-secret-of-pas", token: "crashPassive1", ghID: "gh_feedface0123", passive: true},
}

const (
	// crashCycles is how many times the server is killed; the server is
	// then started once more and stopped gracefully.
	crashCycles = 10
	// Each cycle brings, to each account, crashOnboard new followers, who
	// follow and answer the question, and crashPingers contacts who send
	// crashPings messages each.
	crashOnboard = 14
	crashPingers = 5
	crashPings   = 4
	// crashWorkers post callbacks concurrently.
	crashWorkers = 10
	// crashWait bounds every wait of the test.
	crashWait = 30 * time.Second
	// crashSeedEnv replays a seed.
	crashSeedEnv = "WXFLOW_CRASH_SEED"
)

// The flows: a follow greets, asks a name, thanks, waits a second and
// sends once more; a "ping N" is answered. Every message names its
// contact (and the answer or N), so that each is unique and a duplicate
// shows.
var crashFlows = map[string]string{
	"onboard.yaml": `name: onboard
triggers: [follow]
steps:
  - send: "welcome ${contact.id}"
  - ask: "name? ${contact.id}"
    save: contact.fields.name
    timeout: 1h
  - send: "thanks ${contact.fields.name}"
  - wait: 1s
  - send: "later ${contact.id}"
`,
	"ping.yaml": `name: ping
triggers:
  - keyword: { pattern: "^ping ([0-9]+)$" }
steps:
  - send: "pong ${contact.id} ${event.match[1]}"
`,
}

// crashKill is how a cycle chooses its moment.
type crashKill int

const (
	// crashAfterAcks kills after a number of callbacks were acknowledged.
	crashAfterAcks crashKill = iota
	// crashWhileHeld kills while the API holds a send: the message may
	// or may not reach WeChat, and must end `unknown`.
	crashWhileHeld
	// crashAfterSpawn kills a while after the process started, maybe
	// before it listens (during its recovery).
	crashAfterSpawn
	// crashSlowAPI slows every API answer down and kills after a number
	// of acknowledgements: many sends are under way at the kill.
	crashSlowAPI
)

func (k crashKill) String() string {
	return [...]string{"after acks", "while a send is held", "after spawn", "slow API"}[k]
}

// crashPlan is the kind of kill of each cycle, in turn.
var crashPlan = []crashKill{crashAfterAcks, crashWhileHeld, crashAfterSpawn, crashSlowAPI, crashWhileHeld}

// TestCrashServeKill9 kills `wxflow serve` with SIGKILL under load, again
// and again, and checks the books against the store and the fake API.
// The seed is logged; WXFLOW_CRASH_SEED=N replays its choices (the timing
// still varies).
func TestCrashServeKill9(t *testing.T) {
	began := time.Now()
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	bin := crashBuild(t)
	t.Logf("built the server in %v", time.Since(began).Round(time.Millisecond))

	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	for _, a := range crashAccounts {
		api.AddApp(a.appID, a.secret)
	}
	h := crashSetup(t, bin, api)
	load := newCrashLoad(t, seed)
	defer load.close()

	for cycle := range crashCycles {
		load.feed(crashBatch(cycle, time.Now().Unix()))
		kind := crashPlan[cycle%len(crashPlan)]
		var release func()
		switch kind {
		case crashWhileHeld:
			release = api.Hold(wechattest.PathSend)
		case crashSlowAPI:
			api.Delay(time.Duration(2+rng.IntN(20)) * time.Millisecond)
		}
		sendsBefore := api.Calls(wechattest.PathSend)
		acksBefore := load.ackCount()
		p := h.start(cycle)
		what := ""
		switch kind {
		case crashAfterSpawn:
			d := time.Duration(rng.IntN(600)) * time.Millisecond
			what = fmt.Sprintf("%v after spawn", d)
			select {
			case addr := <-p.addr:
				load.serve(addr, cycle)
				time.Sleep(time.Until(p.started.Add(d)))
			case <-time.After(d):
				what += " (before it listened)"
			case <-p.done:
				t.Fatalf("cycle %d: the server exited by itself:\n%s", cycle, p.logTail())
			}
		case crashWhileHeld:
			load.serve(h.ready(p), cycle)
			ctx, cancel := context.WithTimeout(context.Background(), crashWait)
			err := api.WaitCalls(ctx, wechattest.PathSend, sendsBefore+1)
			cancel()
			if err != nil {
				t.Logf("cycle %d: no send reached the API while held: %v", cycle, err)
			}
			d := time.Duration(rng.IntN(40)) * time.Millisecond
			time.Sleep(d)
			what = fmt.Sprintf("%v after a send reached the API and was held", d)
		default:
			load.serve(h.ready(p), cycle)
			n := rng.IntN(40)
			if kind == crashAfterAcks && cycle >= len(crashPlan) {
				n = rng.IntN(3) // early: while the backlog is sent
			}
			load.waitAcks(acksBefore+n, crashWait)
			what = fmt.Sprintf("after %d acknowledgements", n)
		}
		load.serve("", -1)
		h.kill(p)
		if release != nil {
			release()
		}
		api.Delay(0)
		snap := h.snapshot(cycle, load)
		t.Logf("cycle %d: killed %s (%s): %d callbacks acknowledged by it, %d sends reached the API; outbox at the kill: %s",
			cycle, kind, what, load.ackCount()-acksBefore, api.Calls(wechattest.PathSend)-sendsBefore, snap)
	}

	// The last start: every callback gets acknowledged, every run ends,
	// the outbox drains; then a graceful stop.
	p := h.start(crashCycles)
	load.serve(h.ready(p), crashCycles)
	if !load.waitIdle(crashWait) {
		t.Errorf("the load did not finish: %d scripts left", load.left.Load())
	}
	if err := h.waitQuiet(crashWait); err != nil {
		t.Errorf("the server did not settle: %v", err)
	}
	load.serve("", -1)
	h.stop(p)
	load.close()

	h.checkBooks(load, api)
	if t.Failed() {
		h.dumpLogs()
	}
	t.Logf("seed %d (%s=%d replays its choices): %d callbacks acknowledged (%d posts, %d of them duplicates), %d passive replies, %v in all",
		seed, crashSeedEnv, seed, load.ackCount(), load.attempts.Load(), load.reposts.Load(), len(load.replies()), time.Since(began).Round(time.Millisecond))
}

// crashSeed is the seed of this run: WXFLOW_CRASH_SEED, or the clock.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv(crashSeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		t.Logf("seed %d (from %s)", seed, crashSeedEnv)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (%s=%d replays its choices)", seed, crashSeedEnv, seed)
	return seed
}

// crashBuild builds the wxflow binary of this package (without -race).
func crashBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the server: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wxflow")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ---------------------------------------------------------------------
// The load: scripts of callbacks, each posted until acknowledged.

// crashCall is one callback of a script.
type crashCall struct {
	acct    *crashAccount
	contact string
	kind    channels.Kind // Follow or Text
	at      int64
	msgID   int64
	text    string
	// gen is the server that acknowledged it (-1 while not); guarded by
	// crashLoad.mu.
	gen int
}

// ident names the event the callback is, as the events table shows it.
func (c *crashCall) ident() string {
	if c.kind == channels.Text {
		return c.contact + "|m" + strconv.FormatInt(c.msgID, 10)
	}
	return c.contact + "|" + string(c.kind) + "@" + strconv.FormatInt(c.at, 10)
}

// xml is the callback's plain body.
func (c *crashCall) xml() string {
	head := "<xml><ToUserName><![CDATA[" + c.acct.ghID + "]]></ToUserName><FromUserName><![CDATA[" + c.contact +
		"]]></FromUserName><CreateTime>" + strconv.FormatInt(c.at, 10) + "</CreateTime>"
	if c.kind == channels.Follow {
		return head + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
	}
	return head + "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" + c.text + "]]></Content><MsgId>" +
		strconv.FormatInt(c.msgID, 10) + "</MsgId></xml>"
}

// crashScript is one contact's callbacks, posted in order.
type crashScript struct {
	acct    *crashAccount
	contact string
	calls   []*crashCall
	// want is the messages the contact must get, in order.
	want []string
}

// crashMsgIDs numbers the text messages of every script.
var crashMsgIDs atomic.Int64

// crashBatch is the scripts of the contacts new in a cycle: followers
// (o_...) and pingers (p_...) of each account.
func crashBatch(cycle int, now int64) []*crashScript {
	var out []*crashScript
	for i := range max(crashOnboard, crashPingers) {
		for _, a := range crashAccounts {
			if i < crashOnboard {
				c := fmt.Sprintf("o_%s_c%d_%02d", a.id, cycle, i)
				name := "N-" + c
				out = append(out, &crashScript{acct: a, contact: c,
					calls: []*crashCall{
						{acct: a, contact: c, kind: channels.Follow, at: now, gen: -1},
						{acct: a, contact: c, kind: channels.Text, at: now + 1, msgID: 7_000_000 + crashMsgIDs.Add(1), text: name, gen: -1},
					},
					want: []string{"welcome " + c, "name? " + c, "thanks " + name, "later " + c},
				})
			}
			if i < crashPingers {
				c := fmt.Sprintf("p_%s_c%d_%02d", a.id, cycle, i)
				s := &crashScript{acct: a, contact: c}
				for k := 1; k <= crashPings; k++ {
					s.calls = append(s.calls, &crashCall{acct: a, contact: c, kind: channels.Text, at: now + int64(k),
						msgID: 7_000_000 + crashMsgIDs.Add(1), text: fmt.Sprintf("ping %d", k), gen: -1})
					s.want = append(s.want, fmt.Sprintf("pong %s %d", c, k))
				}
				out = append(out, s)
			}
		}
	}
	return out
}

// crashReply is a passive reply the load received.
// crashReply is a passive reply the load received: to which callback
// (call, its identity; empty for an answer cut short) and what.
type crashReply struct{ contact, text, call string }

// crashLoad posts the scripts' callbacks to whichever server is up, as
// WeChat does: a callback not acknowledged with "success" is posted again,
// with the same body, until it is.
type crashLoad struct {
	t       *testing.T
	client  *http.Client
	scripts chan *crashScript
	stopped chan struct{}
	stopOne sync.Once
	wg      sync.WaitGroup
	nonces  atomic.Int64

	mu      sync.Mutex
	url     string // the server's base URL, "" while no server listens
	gen     int
	all     []*crashScript
	acks    int
	passive []crashReply
	// cut are the answers that ended before their end.
	cut []crashReply

	left     atomic.Int64 // scripts not finished
	attempts atomic.Int64
	reposts  atomic.Int64
}

func newCrashLoad(t *testing.T, seed uint64) *crashLoad {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = crashWorkers
	// Longer than WeChat's 5 s: slow answers are not what this test is
	// about, and a passive reply whose callback was given up on would be
	// `unknown` for another reason than a kill.
	l := &crashLoad{t: t, client: &http.Client{Transport: tr, Timeout: crashWait},
		scripts: make(chan *crashScript, crashCycles*len(crashAccounts)*(crashOnboard+crashPingers)), stopped: make(chan struct{})}
	for i := range crashWorkers {
		l.wg.Add(1)
		go l.worker(rand.New(rand.NewPCG(seed, uint64(i)+1)))
	}
	return l
}

// close stops the workers and waits for them.
func (l *crashLoad) close() {
	l.stopOne.Do(func() { close(l.stopped) })
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

func (l *crashLoad) feed(scripts []*crashScript) {
	l.mu.Lock()
	l.all = append(l.all, scripts...)
	l.mu.Unlock()
	l.left.Add(int64(len(scripts)))
	for _, s := range scripts {
		l.scripts <- s
	}
}

// serve points the load at a server (gen is its number), or at none.
func (l *crashLoad) serve(addr string, gen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.url, l.gen = "", -1
	if addr != "" {
		l.url, l.gen = "http://"+addr, gen
	}
	if addr == "" {
		l.client.CloseIdleConnections()
	}
}

func (l *crashLoad) target() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.url, l.gen
}

func (l *crashLoad) ackCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks
}

// replies returns the passive replies received so far.
func (l *crashLoad) replies() []crashReply {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.passive)
}

// cutShort returns the answers that ended before their end.
func (l *crashLoad) cutShort() []crashReply {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.cut)
}

// acked returns the calls acknowledged so far.
func (l *crashLoad) acked() []*crashCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*crashCall
	for _, s := range l.all {
		for _, c := range s.calls {
			if c.gen >= 0 {
				out = append(out, c)
			}
		}
	}
	return out
}

// sleep waits d unless the load stops; false when it stopped.
func (l *crashLoad) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stopped:
		return false
	}
}

func (l *crashLoad) worker(rng *rand.Rand) {
	defer l.wg.Done()
	for {
		var s *crashScript
		select {
		case <-l.stopped:
			return
		case s = <-l.scripts:
		}
		for _, c := range s.calls {
			if !l.deliver(c, rng) {
				return
			}
			// WeChat sometimes posts an acknowledged callback again: it
			// must change nothing.
			if rng.IntN(8) == 0 {
				if url, _ := l.target(); url != "" {
					l.reposts.Add(1)
					l.attempt(url, c)
				}
			}
			if !l.sleep(time.Duration(rng.IntN(8)) * time.Millisecond) {
				return
			}
		}
		l.left.Add(-1)
	}
}

// deliver posts c until a server acknowledges it; false when the load
// stopped first.
func (l *crashLoad) deliver(c *crashCall, rng *rand.Rand) bool {
	for {
		url, gen := l.target()
		if url != "" && rng.IntN(12) == 0 {
			// WeChat gave up waiting and posts again while the first
			// attempt is still under way.
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.reposts.Add(1)
				l.attempt(url, c)
			}()
		}
		if url != "" && l.attempt(url, c) {
			l.mu.Lock()
			c.gen = gen
			l.acks++
			l.mu.Unlock()
			return true
		}
		if !l.sleep(time.Duration(5+rng.IntN(10)) * time.Millisecond) {
			return false
		}
	}
}

// attempt posts c once, signed now, and reports whether it was
// acknowledged: "success", or a passive reply, which it keeps.
func (l *crashLoad) attempt(base string, c *crashCall) bool {
	l.attempts.Add(1)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := strconv.FormatInt(1_000_000+l.nonces.Add(1), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(c.acct.token, ts, nonce)}, "openid": {c.contact}}
	resp, err := l.client.Post(base+"/wechat/"+c.acct.id+"?"+q.Encode(), "text/xml", strings.NewReader(c.xml()))
	if err != nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil && resp.StatusCode == http.StatusOK && len(body) > 0 {
		// An answer cut short: WeChat takes no reply from it, and posts
		// the callback again.
		l.mu.Lock()
		l.cut = append(l.cut, crashReply{contact: c.contact, text: fmt.Sprintf("%q (%v)", body, err)})
		l.mu.Unlock()
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	if string(body) == "success" {
		return true
	}
	reply, err := wechat.ParseCallback(body)
	if err != nil || !c.acct.passive {
		l.t.Errorf("the callback %s was answered %q", c.ident(), body)
		return false
	}
	if reply.ToUserName != c.contact || reply.FromUserName != c.acct.ghID || reply.MsgType != "text" {
		l.t.Errorf("the callback %s got the passive reply %+v", c.ident(), reply)
	}
	l.mu.Lock()
	l.passive = append(l.passive, crashReply{contact: reply.ToUserName, text: reply.Content, call: c.ident()})
	l.mu.Unlock()
	return true
}

// waitAcks waits until n callbacks were acknowledged in all, every script
// is done, or d passed.
func (l *crashLoad) waitAcks(n int, d time.Duration) {
	deadline := time.Now().Add(d)
	for l.ackCount() < n && l.left.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// waitIdle waits until every script is done; false after d.
func (l *crashLoad) waitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for l.left.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// ---------------------------------------------------------------------
// The server processes.

// crashHarness starts and stops the server on one config and database.
type crashHarness struct {
	t     *testing.T
	bin   string
	dir   string
	cfg   string
	db    string
	procs []*crashProc
	// snaps are the outbox statuses at each kill.
	snaps []map[int64]crashRow
}

// crashSetup writes the flows and the config.
func crashSetup(t *testing.T, bin string, api *wechattest.Server) *crashHarness {
	t.Helper()
	dir := t.TempDir()
	flowsDir := filepath.Join(dir, "flows")
	if err := os.MkdirAll(flowsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range crashFlows {
		if err := os.WriteFile(filepath.Join(flowsDir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `listen: 127.0.0.1:0
database: wxflow.db
flows: flows
timezone: UTC
log: { format: text, level: info }
accounts:
`
	for _, a := range crashAccounts {
		cfg += fmt.Sprintf("  - id: %s\n    app_id: %s\n    app_secret: %s\n    token: %s\n    original_id: %s\n    api_base: %s\n    passive_reply: %v\n",
			a.id, a.appID, a.secret, a.token, a.ghID, api.URL(), a.passive)
	}
	path := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &crashHarness{t: t, bin: bin, dir: dir, cfg: path, db: filepath.Join(dir, "wxflow.db")}
}

// crashProc is one server process.
type crashProc struct {
	gen     int
	cmd     *exec.Cmd
	log     string
	addr    <-chan string
	started time.Time
	done    chan struct{} // closed when it ended
}

// start starts server number gen.
func (h *crashHarness) start(gen int) *crashProc {
	h.t.Helper()
	p := &crashProc{gen: gen, log: filepath.Join(h.dir, fmt.Sprintf("serve-%02d.log", gen)),
		done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		h.t.Fatal(err)
	}
	defer logf.Close()
	p.cmd = exec.Command(h.bin, "serve", "--config", h.cfg)
	p.cmd.Dir = h.dir
	var stdout io.Writer
	stdout, p.addr = watchServingAddr()
	p.cmd.Stdout, p.cmd.Stderr = stdout, logf
	if err := p.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p.started = time.Now()
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	h.procs = append(h.procs, p)
	h.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// ready waits for the address the server listens on.
func (h *crashHarness) ready(p *crashProc) string {
	h.t.Helper()
	select {
	case addr := <-p.addr:
		return addr
	case <-p.done:
		h.t.Fatalf("server %d exited before it listened (%v):\n%s", p.gen, p.cmd.ProcessState, p.logTail())
	case <-time.After(crashWait):
		h.t.Fatalf("server %d did not listen within %v:\n%s", p.gen, crashWait, p.logTail())
	}
	return ""
}

// kill kills the server with SIGKILL; it must not have ended before.
func (h *crashHarness) kill(p *crashProc) {
	h.t.Helper()
	select {
	case <-p.done:
		h.t.Fatalf("server %d ended by itself before the kill (%v):\n%s", p.gen, p.cmd.ProcessState, p.logTail())
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil {
		h.t.Fatalf("kill server %d: %v", p.gen, err)
	}
	select {
	case <-p.done:
	case <-time.After(crashWait):
		h.t.Fatalf("server %d did not die", p.gen)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		h.t.Fatalf("server %d ended with %v, not by the kill:\n%s", p.gen, p.cmd.ProcessState, p.logTail())
	}
}

// stop stops the server gracefully with SIGTERM.
func (h *crashHarness) stop(p *crashProc) {
	h.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		h.t.Fatalf("SIGTERM to server %d: %v", p.gen, err)
	}
	select {
	case <-p.done:
	case <-time.After(crashWait):
		h.t.Fatalf("server %d did not stop within %v after SIGTERM:\n%s", p.gen, crashWait, p.logTail())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != exitOK {
		h.t.Errorf("server %d stopped with exit code %d:\n%s", p.gen, code, p.logTail())
	}
}

// logTail is the end of the server's log.
func (p *crashProc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// dumpLogs logs the warnings and errors of every server.
func (h *crashHarness) dumpLogs() {
	for _, p := range h.procs {
		b, _ := os.ReadFile(p.log)
		var lines []string
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, "console off") {
				continue
			}
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
				lines = append(lines, line)
			}
		}
		if len(lines) > 40 {
			lines = append(lines[:40], fmt.Sprintf("... %d more\n", len(lines)-40))
		}
		h.t.Logf("server %d warnings and errors:\n%s", p.gen, strings.Join(lines, ""))
	}
}

// ---------------------------------------------------------------------
// Reading the database.

// crashRow is an outbox entry as the database holds it.
type crashRow struct {
	id      int64
	contact string
	text    string
	// status shows claimed pending entries as sending.
	status engine.OutboxStatus
}

// crashOpenRO opens the database read-only, or returns nil when there is
// none yet.
func (h *crashHarness) crashOpenRO() *sql.DB {
	h.t.Helper()
	if _, err := os.Stat(h.db); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := sql.Open("sqlite3", "file:"+h.db+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		h.t.Fatal(err)
	}
	return db
}

// tables lists the database's tables.
func crashTables(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// crashEvents reads the events table: the ident (see crashCall.ident) of
// each stored event.
func crashEvents(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	if !crashTables(t, db)["events"] {
		return out
	}
	rows, err := db.Query(`SELECT payload FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var payload string
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var ev channels.Event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			t.Fatalf("event %s: %v", payload, err)
		}
		c := crashCall{contact: ev.Contact, kind: ev.Kind, at: ev.At.Unix()}
		if ev.MsgID != "" {
			c.kind = channels.Text
			c.msgID, _ = strconv.ParseInt(ev.MsgID, 10, 64)
		}
		out[c.ident()]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// crashOutbox reads the outbox, claimed pending entries as sending.
func crashOutbox(t *testing.T, db *sql.DB) map[int64]crashRow {
	t.Helper()
	out := map[int64]crashRow{}
	tables := crashTables(t, db)
	if !tables["outbox"] {
		return out
	}
	// Status sending is a message whose request was about to start or
	// under way: only those may be unknown after a kill. A message claimed
	// and never started stays pending and is sent by the next server.
	// (SQLite keeps the started ones in outbox_started.)
	status := "status"
	if tables["outbox_started"] {
		status = "CASE WHEN status = 'pending' AND id IN (SELECT id FROM outbox_started) THEN 'sending' ELSE status END"
	}
	rows, err := db.Query(`SELECT id, contact, message, ` + status + ` FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r crashRow
		var msg string
		if err := rows.Scan(&r.id, &r.contact, &msg, &r.status); err != nil {
			t.Fatal(err)
		}
		var m channels.Message
		if err := json.Unmarshal([]byte(msg), &m); err != nil {
			t.Fatalf("outbox %d: %v", r.id, err)
		}
		r.text = m.Text
		out[r.id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshot checks, right after a kill, that every callback acknowledged
// so far is stored, and keeps the outbox's statuses; it returns them
// counted.
func (h *crashHarness) snapshot(cycle int, load *crashLoad) string {
	acked := load.acked()
	db := h.crashOpenRO()
	if db == nil {
		if len(acked) > 0 {
			h.t.Errorf("cycle %d: %d callbacks were acknowledged, but there is no database", cycle, len(acked))
		}
		h.snaps = append(h.snaps, nil)
		return "no database yet"
	}
	defer db.Close()
	events := crashEvents(h.t, db)
	for _, c := range acked {
		if events[c.ident()] == 0 {
			h.t.Errorf("cycle %d: the callback %s, acknowledged by server %d, is not in the events table after the kill: an acknowledged event was lost", cycle, c.ident(), c.gen)
		}
	}
	out := crashOutbox(h.t, db)
	h.snaps = append(h.snaps, out)
	n := map[engine.OutboxStatus]int{}
	for _, r := range out {
		n[r.status]++
	}
	return fmt.Sprintf("%d events, %d pending, %d sending, %d sent, %d unknown, %d failed",
		len(events), n[engine.OutboxPending], n[engine.OutboxSending], n[engine.OutboxSent], n[engine.OutboxUnknown], n[engine.OutboxFailed])
}

// waitQuiet waits until the running server has no active run and nothing
// to send.
func (h *crashHarness) waitQuiet(d time.Duration) error {
	db := h.crashOpenRO()
	if db == nil {
		return errors.New("no database")
	}
	defer db.Close()
	deadline := time.Now().Add(d)
	for {
		var active, open int
		err := db.QueryRow(`SELECT (SELECT count(*) FROM runs WHERE ended_at = 0), (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending'))`).Scan(&active, &open)
		if err == nil && active == 0 && open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d active runs, %d messages pending or sending (err %v)", d, active, open, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// The books.

// checkBooks checks the stopped server's database against the scripts,
// what the fake API received and the passive replies.
func (h *crashHarness) checkBooks(load *crashLoad, api *wechattest.Server) {
	t := h.t
	ctx := context.Background()

	// Every callback was acknowledged, and is stored once.
	db := h.crashOpenRO()
	if db == nil {
		t.Fatal("no database")
	}
	events := crashEvents(t, db)
	db.Close()
	load.mu.Lock()
	scripts := slices.Clone(load.all)
	load.mu.Unlock()
	for _, s := range scripts {
		for _, c := range s.calls {
			switch {
			case c.gen < 0:
				t.Errorf("the callback %s was never acknowledged", c.ident())
			case events[c.ident()] != 1:
				t.Errorf("the callback %s, acknowledged by server %d, is stored %d times", c.ident(), c.gen, events[c.ident()])
			}
		}
	}

	st, err := sqlite.Open(ctx, h.db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var runs []*engine.Run
	var outbox []*engine.OutboxEntry
	err = st.View(ctx, func(tx engine.ReadTx) error {
		var err error
		if runs, err = tx.Runs(engine.RunFilter{}); err != nil {
			return err
		}
		outbox, err = tx.Outbox(engine.OutboxFilter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Runs: one onboard run per follower, one ping run per ping; all
	// completed.
	wantRuns := map[string]int{}
	for _, s := range scripts {
		if strings.HasPrefix(s.contact, "o_") {
			wantRuns[s.acct.id+" "+s.contact+" onboard"] = 1
		} else {
			wantRuns[s.acct.id+" "+s.contact+" ping"] = len(s.calls)
		}
	}
	gotRuns := map[string]int{}
	for _, r := range runs {
		gotRuns[r.Account+" "+r.Contact+" "+r.Flow]++
		if r.Status != engine.RunCompleted {
			t.Errorf("run %d (%s of %s) is %s, want completed", r.ID, r.Flow, r.Contact, r.Status)
		}
	}
	for k, n := range wantRuns {
		if gotRuns[k] != n {
			t.Errorf("%s: %d runs, want %d", k, gotRuns[k], n)
		}
	}
	for k, n := range gotRuns {
		if _, ok := wantRuns[k]; !ok {
			t.Errorf("%s: %d runs nobody asked for", k, n)
		}
	}

	// The outbox: each message once, none left to send, none failed.
	byText := map[string]*engine.OutboxEntry{}
	for _, o := range outbox {
		if prev, dup := byText[o.Message.Text]; dup {
			t.Errorf("outbox %d and %d are both %q: a message reserved twice", prev.ID, o.ID, o.Message.Text)
		}
		byText[o.Message.Text] = o
		if o.Status != engine.OutboxSent && o.Status != engine.OutboxUnknown {
			t.Errorf("outbox %d %q to %s is %s (%s %d %s), want sent or unknown", o.ID, o.Message.Text, o.Contact, o.Status, o.Reason, o.Code, o.Detail)
		}
	}
	wantTexts := 0
	for _, s := range scripts {
		for _, text := range s.want {
			wantTexts++
			if o, ok := byText[text]; !ok {
				t.Errorf("%s: %q is not in the outbox", s.contact, text)
			} else if o.Contact != s.contact || o.Account != s.acct.id {
				t.Errorf("outbox %d %q is to %s of %s, want %s of %s", o.ID, text, o.Contact, o.Account, s.contact, s.acct.id)
			}
		}
	}
	if len(outbox) != wantTexts {
		t.Errorf("the outbox holds %d messages, want %d", len(outbox), wantTexts)
	}

	// What reached WeChat, through the API or as passive replies: each
	// message at most once, to its contact, each contact's API messages
	// in order, and only messages the outbox says are sent or unknown.
	viaAPI, viaReply := map[string]int{}, map[string]int{}
	received := func(how string, seen map[string]int, to, text string) *engine.OutboxEntry {
		seen[text]++
		if viaAPI[text]+viaReply[text] == 2 {
			t.Errorf("%q reached WeChat twice (the last time %s): a message sent twice", text, how)
		}
		o, ok := byText[text]
		switch {
		case !ok:
			t.Errorf("%q reached WeChat %s, but is not in the outbox", text, how)
			return nil
		case o.Contact != to:
			t.Errorf("%q reached WeChat %s for %s, the outbox has it for %s", text, how, to, o.Contact)
		case o.Status != engine.OutboxSent && o.Status != engine.OutboxUnknown:
			t.Errorf("%q reached WeChat %s, the outbox has it %s", text, how, o.Status)
		}
		return o
	}
	appOf := map[string]string{}
	for _, a := range crashAccounts {
		appOf[a.appID] = a.id
	}
	lastID := map[string]int64{}
	for _, s := range api.Sent() {
		var body struct {
			ToUser string `json:"touser"`
			Text   struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.Unmarshal(s.Body, &body); err != nil {
			t.Errorf("the API received %s: %v", s.Body, err)
			continue
		}
		o := received("through the API", viaAPI, body.ToUser, body.Text.Content)
		if o == nil {
			continue
		}
		if appOf[s.AppID] != o.Account {
			t.Errorf("%q reached the API with the token of %s, the outbox has it for %s", o.Message.Text, appOf[s.AppID], o.Account)
		}
		if o.ID < lastID[o.Contact] {
			t.Errorf("the API received %q (outbox %d) after a later message of %s (outbox %d)", o.Message.Text, o.ID, o.Contact, lastID[o.Contact])
		}
		lastID[o.Contact] = max(lastID[o.Contact], o.ID)
	}
	// WeChat takes the answer of one attempt of a callback: the same
	// passive reply given to several attempts (a retry gets the reply
	// again, in case the first answer was lost) reaches the contact once.
	answered := map[crashReply]bool{}
	for _, r := range load.replies() {
		if answered[r] {
			continue
		}
		answered[r] = true
		// A passive reply is `sent` as one, or `unknown` (the process
		// died before it recorded the answer: the detail says so).
		o := received("as a passive reply", viaReply, r.contact, r.text)
		if o != nil && o.Status == engine.OutboxSent && o.Detail != engine.PassiveDetail {
			t.Errorf("%q reached WeChat as a passive reply, but outbox %d is sent as another message (%s)", r.text, o.ID, o.Detail)
		}
	}

	// Each sent message arrived once, the way the outbox says; each
	// unknown one was being sent at a kill, and arrived once or never;
	// what a kill left being sent is unknown, and what it left finished
	// stayed so.
	sendingAtKill := map[int64]int{}
	for cycle, snap := range h.snaps {
		for id, r := range snap {
			if _, seen := sendingAtKill[id]; !seen && r.status == engine.OutboxSending {
				sendingAtKill[id] = cycle
			}
		}
	}
	var sent, passive, unknownArrived, unknownLost int
	for _, o := range outbox {
		api, reply := viaAPI[o.Message.Text], viaReply[o.Message.Text]
		switch o.Status {
		case engine.OutboxSent:
			sent++
			if o.Detail == engine.PassiveDetail {
				passive++
				if reply != 1 || api != 0 {
					var cut []string
					for _, c := range load.cutShort() {
						if c.contact == o.Contact && strings.Contains(c.text, o.Message.Text) {
							cut = append(cut, c.text)
						}
					}
					t.Errorf("outbox %d %q is a sent passive reply, and it reached WeChat %d times as one and %d times through the API; answers cut short that carried it: %q",
						o.ID, o.Message.Text, reply, api, cut)
				}
			} else if api != 1 || reply != 0 {
				t.Errorf("outbox %d %q is sent, and it reached the API %d times and came as a passive reply %d times", o.ID, o.Message.Text, api, reply)
			}
		case engine.OutboxUnknown:
			if api+reply == 0 {
				unknownLost++
			} else {
				unknownArrived++
			}
			if _, ok := sendingAtKill[o.ID]; !ok {
				t.Errorf("outbox %d %q is unknown (%s), but no kill found it being sent", o.ID, o.Message.Text, o.Detail)
			}
		}
		// A passive reply left sending or unknown by a kill is given
		// again to a retry of its callback (WeChat retries only when it
		// got no answer, and takes one attempt's): then it is sent, and
		// the checks above saw it reach WeChat once.
		regiven := o.Status == engine.OutboxSent && o.Detail == engine.PassiveDetail
		if cycle, ok := sendingAtKill[o.ID]; ok && o.Status != engine.OutboxUnknown && !regiven {
			t.Errorf("outbox %d %q was being sent at kill %d and is now %s, want unknown: it was sent again", o.ID, o.Message.Text, cycle, o.Status)
		}
		for cycle, snap := range h.snaps {
			if r, ok := snap[o.ID]; ok && r.status != engine.OutboxPending && r.status != engine.OutboxSending && r.status != o.Status && !(regiven && r.status == engine.OutboxUnknown) {
				t.Errorf("outbox %d %q was %s at kill %d and is now %s", o.ID, o.Message.Text, r.status, cycle, o.Status)
			}
		}
	}
	t.Logf("books: %d runs; %d messages: %d sent (%d of them passive replies), %d unknown that reached WeChat, %d unknown that did not",
		len(runs), len(outbox), sent, passive, unknownArrived, unknownLost)
}
