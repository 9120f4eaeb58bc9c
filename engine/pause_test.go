package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/flows"
)

// stormRig is an engine on SQLite sending through the real WeChat
// channel to the fake API, over loopback through a proxy that answers -1
// (system busy) to every send while a storm is on and counts the send
// requests that reach it. The engine and the API client share one
// virtual clock; the client makes one attempt per send.
type stormRig struct {
	t     *testing.T
	ctx   context.Context
	db    string
	clock *VirtualClock
	api   *wechattest.Server
	proxy *httptest.Server
	storm atomic.Bool
	// down refuses the client's connections (dialling a port nobody
	// listens on): WeChat cannot be reached, the requests are not sent.
	down  atomic.Bool
	dead  string
	sends atomic.Int64
	// sent is signalled after each send request.
	sent    chan struct{}
	workers int
	// writers, when more than one, are the engine's writers (on
	// PostgreSQL: see usePostgres); more are their other stores.
	writers int
	e       *Engine
	st      Store
	more    []Store
}

const stormAppID, stormSecret = "wxSTORM0001", "storm-secret"

// stormFlow sends three messages to every follower.
const stormFlow = "name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"w1\"\n  - send: \"w2\"\n  - send: \"w3\"\n"

func newStormRig(t *testing.T, workers int) *stormRig {
	t.Helper()
	return newStormRigWriters(t, workers, 1)
}

// newStormRigWriters is newStormRig with an engine of several writers.
func newStormRigWriters(t *testing.T, workers, writers int) *stormRig {
	t.Helper()
	r := &stormRig{t: t, ctx: context.Background(), db: filepath.Join(t.TempDir(), "w.db"),
		clock: NewVirtualClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)), workers: workers, writers: writers, sent: make(chan struct{}, 1)}
	r.api = wechattest.NewServer()
	t.Cleanup(r.api.Close)
	r.api.AddApp(stormAppID, stormSecret)
	target, err := url.Parse(r.api.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	r.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != wechattest.PathSend {
			rp.ServeHTTP(w, req)
			return
		}
		defer func() {
			r.sends.Add(1)
			select {
			case r.sent <- struct{}{}:
			default:
			}
		}()
		if r.storm.Load() {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"errcode":-1,"errmsg":"system error"}`)
			return
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(r.proxy.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.dead = ln.Addr().String()
	ln.Close()
	r.open()
	return r
}

// httpClient is the API client's HTTP client: it keeps no connection,
// so that each request dials, and dials a dead port while down.
func (r *stormRig) httpClient() *http.Client {
	var d net.Dialer
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if r.down.Load() {
				addr = r.dead
			}
			return d.DialContext(ctx, network, addr)
		}}}
}

// open starts an engine (and a new channel, its breaker closed) on the
// rig's database.
func (r *stormRig) open() {
	r.t.Helper()
	client, err := wechat.NewClient(wechat.ClientConfig{Account: "main", AppID: stormAppID, AppSecret: stormSecret,
		APIBase: r.proxy.URL, Clock: r.clock, MaxAttempts: 1, HTTP: r.httpClient()})
	if err != nil {
		r.t.Fatal(err)
	}
	ch := wechat.NewChannel(map[string]*wechat.ChannelAccount{"main": {Client: client}})
	open := openTestStore
	if r.writers > 1 {
		open = func(ctx context.Context, file string) (Store, error) { return OpenSuiteStore(r.t, ctx, file) }
	}
	r.st, err = open(r.ctx, r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	r.more = nil
	for i := 1; i < r.writers; i++ {
		st, err := open(r.ctx, r.db)
		if err != nil {
			r.t.Fatal(err)
		}
		r.more = append(r.more, st)
	}
	r.e, err = New(Config{Store: r.st, Writers: r.more, Channel: ch, Clock: r.clock, Zone: time.UTC, SendWorkers: r.workers})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.e.Start(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	f, diags := flows.LoadFile("welcome.yaml", []byte(stormFlow), flows.Options{})
	if diags.HasErrors() {
		r.t.Fatal(diags.Err())
	}
	if err := r.e.Load(r.ctx, &flows.Set{Flows: []*flows.Flow{f}}); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.close)
}

// close stops the engine and closes its store (once).
func (r *stormRig) close() {
	if r.e != nil {
		r.e.Stop()
		r.st.Close()
		for _, st := range r.more {
			st.Close()
		}
		r.e = nil
	}
}

// follow makes the contacts follow, one after the other, and waits until
// the engine is done.
func (r *stormRig) follow(contacts ...string) {
	r.t.Helper()
	for _, c := range contacts {
		if err := r.e.Ingest(r.ctx, channels.Event{Account: "main", Contact: c, Kind: channels.Follow, At: r.clock.Now()}); err != nil {
			r.t.Fatal(err)
		}
	}
	r.sync()
}

func (r *stormRig) sync() {
	r.t.Helper()
	if err := r.e.Sync(r.ctx); err != nil {
		r.t.Fatal(err)
	}
}

// advance moves the clock, wakes the dispatcher (as the wake-up armed
// for the end of a pause does, in its own time) and waits until the
// engine is done.
func (r *stormRig) advance(d time.Duration) {
	r.t.Helper()
	r.clock.Advance(d)
	r.e.kickOutbox()
	r.sync()
}

// waitSends waits until n send requests were answered.
func (r *stormRig) waitSends(n int64) {
	r.t.Helper()
	timeout := time.After(30 * time.Second) // a bound on failure, not a wait
	for r.sends.Load() < n {
		select {
		case <-r.sent:
		case <-timeout:
			r.t.Fatalf("%d send requests, want %d", r.sends.Load(), n)
		}
	}
}

// wantSends fails unless n send requests reached the API so far.
func (r *stormRig) wantSends(what string, n int64) {
	r.t.Helper()
	if got := r.sends.Load(); got != n {
		r.t.Fatalf("%s: %d send requests, want %d", what, got, n)
	}
}

// outbox returns the outbox by status.
func (r *stormRig) outbox() map[OutboxStatus][]*OutboxEntry {
	r.t.Helper()
	var all []*OutboxEntry
	err := r.st.View(r.ctx, func(tx ReadTx) error {
		var err error
		all, err = tx.Outbox(OutboxFilter{})
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[OutboxStatus][]*OutboxEntry{}
	for _, o := range all {
		out[o.Status] = append(out[o.Status], o)
	}
	return out
}

// wantHeld fails unless n messages are pending, held back (none sending),
// and the engine reports the pause.
func (r *stormRig) wantHeld(what string, n int, state string, until time.Time) {
	r.t.Helper()
	ob := r.outbox()
	if len(ob[OutboxPending]) != n || len(ob[OutboxSending]) != 0 || len(ob[OutboxUnknown]) != 0 {
		r.t.Fatalf("%s: %d pending, %d sending, %d unknown; want %d pending", what, len(ob[OutboxPending]), len(ob[OutboxSending]), len(ob[OutboxUnknown]), n)
	}
	for _, o := range ob[OutboxPending] {
		if o.Reason != channels.ReasonPaused || !strings.HasPrefix(o.Detail, "sending paused: ") || len(o.Detail) < len("sending paused: x") {
			r.t.Fatalf("%s: pending message %d has reason %q (%q), want paused, saying why", what, o.ID, o.Reason, o.Detail)
		}
	}
	p := r.e.SendPauses()
	if len(p) != 1 || p[0].Account != "main" || p[0].Held != n || p[0].State != state || !p[0].Until.Equal(until) || p[0].Cause == "" {
		r.t.Fatalf("%s: pauses %+v, want main %s until %s with %d held", what, p, state, until, n)
	}
}

// sentTexts returns the texts WeChat took, by contact, in order.
func (r *stormRig) sentTexts() map[string][]string {
	r.t.Helper()
	got := map[string][]string{}
	for _, s := range r.api.Sent() {
		var b struct {
			Text struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.Unmarshal(s.Body, &b); err != nil {
			r.t.Fatal(err)
		}
		got[s.ToUser] = append(got[s.ToUser], b.Text.Content)
	}
	return got
}

// wantDelivered checks the books once the storm is over: nothing pending
// or unknown, every message sent at most once and exactly once when
// `sent`, and each contact's messages reached WeChat in their order.
func (r *stormRig) wantDelivered(contacts []string, failed int) {
	r.t.Helper()
	ob := r.outbox()
	if len(ob[OutboxPending])+len(ob[OutboxSending])+len(ob[OutboxUnknown]) != 0 {
		r.t.Fatalf("after the storm: %d pending, %d sending, %d unknown", len(ob[OutboxPending]), len(ob[OutboxSending]), len(ob[OutboxUnknown]))
	}
	if got := len(ob[OutboxFailed]); failed >= 0 && got != failed {
		r.t.Errorf("%d messages failed, want %d", got, failed)
	}
	for _, o := range ob[OutboxFailed] {
		if o.Reason != channels.ReasonAPIError || o.Code != -1 {
			r.t.Errorf("message %d failed with %s %d, want api_error -1", o.ID, o.Reason, o.Code)
		}
	}
	got := r.sentTexts()
	want := map[string][]string{}
	for _, o := range ob[OutboxSent] {
		want[o.Contact] = append(want[o.Contact], o.Message.Text)
	}
	for _, c := range contacts {
		if !slices.Equal(got[c], want[c]) {
			r.t.Errorf("%s: WeChat got %q, the outbox says sent %q", c, got[c], want[c])
		}
		if !slices.IsSorted(got[c]) {
			r.t.Errorf("%s: WeChat got %q, out of order", c, got[c])
		}
	}
	if p := r.e.SendPauses(); len(p) != 0 {
		r.t.Errorf("pauses after the storm: %+v", p)
	}
}

// TestStormBusy: five -1 answers open the breaker; the account's other
// messages, and those reserved later, stay pending without reaching the
// API; after the pause one probe goes; a failed probe doubles the pause;
// a good one sends the rest, each once, in each contact's order.
func TestStormBusy(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, 1)
	t0 := r.clock.Now()
	r.storm.Store(true)
	r.follow("c0", "c1", "c2", "c3")
	// c0's three and c1's first fail; c1's second, refused as the
	// breaker opened, waits with the other seven (it never reached the
	// contact).
	r.wantSends("the storm", 5)
	r.wantHeld("after the storm", 8, "open", t0.Add(time.Second))
	// Reserved while paused: held too, no request.
	r.follow("c4")
	r.wantSends("a follow while paused", 5)
	r.wantHeld("a follow while paused", 11, "open", t0.Add(time.Second))
	r.advance(999 * time.Millisecond)
	r.wantSends("before the pause ends", 5)
	// The probe (c1's second) is refused: it waits again, two seconds
	// more.
	r.advance(time.Millisecond)
	r.wantSends("the first probe", 6)
	r.wantHeld("after a failed probe", 11, "open", t0.Add(3*time.Second))
	r.storm.Store(false)
	r.advance(time.Second)
	r.wantSends("during the second pause", 6)
	// The second probe goes through, then the rest.
	r.advance(time.Second)
	r.wantSends("after the storm", 6+11)
	r.wantDelivered([]string{"c0", "c1", "c2", "c3", "c4"}, 4)
	s := r.e.Stats()
	if s.SendPauses["main"] != 1 || s.SendProbes["main"] != 2 {
		t.Errorf("pauses %v, probes %v; want 1 pause and 2 probes of main", s.SendPauses, s.SendProbes)
	}
	if s.Messages[MessageKey{Status: OutboxSent}] != 11 {
		t.Errorf("messages %v, want 11 sent", s.Messages)
	}
}

// TestStormQuota: one 45009 pauses the account for a minute at once.
func TestStormQuota(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, 1)
	t0 := r.clock.Now()
	r.api.FailNext(wechattest.PathSend, 45009)
	r.follow("c0", "c1")
	r.wantSends("the quota", 1)
	// The message WeChat refused with 45009 waits too: it never
	// reached the contact.
	r.wantHeld("after 45009", 6, "open", t0.Add(time.Minute))
	r.advance(59 * time.Second)
	r.wantSends("59 s later", 1)
	r.advance(time.Second)
	r.wantSends("after the pause", 7)
	ob := r.outbox()
	if len(ob[OutboxFailed]) != 0 || len(ob[OutboxSent]) != 6 {
		t.Fatalf("outbox %d failed, %d sent; want none failed, 6 sent", len(ob[OutboxFailed]), len(ob[OutboxSent]))
	}
	got := r.sentTexts()
	if !slices.Equal(got["c0"], []string{"w1", "w2", "w3"}) || !slices.Equal(got["c1"], []string{"w1", "w2", "w3"}) {
		t.Fatalf("WeChat got %q", got)
	}
}

// TestStormRestart: the process stops while messages are held back; the
// next start sends each of them once, in order, none `unknown`.
func TestStormRestart(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, 1)
	t0 := r.clock.Now()
	r.storm.Store(true)
	r.follow("c0", "c1", "c2", "c3")
	r.wantHeld("after the storm", 8, "open", t0.Add(time.Second))
	r.close()
	r.storm.Store(false)
	r.open()
	r.sync()
	r.wantSends("after the restart", 5+8)
	r.wantDelivered([]string{"c0", "c1", "c2", "c3"}, 4)
	// And once more: nothing is sent again.
	r.close()
	r.open()
	r.sync()
	r.wantSends("after a second restart", 5+8)
}

// TestStormParallel: a storm with contacts sent in parallel: sends stop
// reaching the API once the breaker opens, probes go one at a time, and
// once WeChat recovers every message not failed is delivered once and in
// its contact's order.
func TestStormParallel(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, 8)
	var contacts []string
	for i := range 40 {
		contacts = append(contacts, fmt.Sprintf("c%02d", i))
	}
	r.storm.Store(true)
	for _, c := range contacts {
		if err := r.e.Ingest(r.ctx, channels.Event{Account: "main", Contact: c, Kind: channels.Follow, At: r.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	r.sync()
	stormed := r.sends.Load()
	// At most the threshold, and the sends under way when it opened.
	if stormed < 5 || stormed > 5+8 {
		t.Fatalf("%d send requests in the storm, want 5 to 13", stormed)
	}
	// The send that opened the breaker, and those under way then,
	// wait with the others (WeChat refused them: they never reached
	// the contact); the four failures before it are failed.
	if p := r.e.SendPauses(); len(p) != 1 || p[0].Held != 120-4 {
		t.Fatalf("pauses %+v after %d failed sends, want the other messages held", p, stormed)
	}
	for i, pause := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		r.advance(pause)
		if got := r.sends.Load(); got != stormed+int64(i)+1 {
			t.Fatalf("probe %d: %d send requests, want %d: one probe at a time", i+1, got, stormed+int64(i)+1)
		}
	}
	// The wake-up armed for the end of the pause sends the probe, then
	// the rest.
	r.storm.Store(false)
	r.clock.Advance(8 * time.Second)
	// The storm's requests, three refused probes, and each message not
	// failed once.
	all := stormed + 3 + 120 - 4
	r.waitSends(all)
	r.sync()
	r.wantSends("after the storm", all)
	r.wantDelivered(contacts, 4)
}

// TestStormOutage: WeChat cannot be reached (connections refused, the
// token cached) while 8 contacts follow, sent in parallel: the four
// failures before the breaker opens are failed, every other message
// waits, and each probe refused the same way waits again (none is
// failed, however long the outage: none reached the contact). Once
// WeChat is back, the probe goes, then the rest, in order.
func TestStormOutage(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, 8)
	r.follow("warm") // a token
	r.wantSends("before the outage", 3)
	t0 := r.clock.Now()
	r.down.Store(true)
	var contacts []string
	for i := range 8 {
		contacts = append(contacts, fmt.Sprintf("c%d", i))
	}
	for _, c := range contacts {
		if err := r.e.Ingest(r.ctx, channels.Event{Account: "main", Contact: c, Kind: channels.Follow, At: r.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	r.sync()
	failed := func(what string) {
		t.Helper()
		ob := r.outbox()
		if len(ob[OutboxFailed]) != 4 {
			t.Fatalf("%s: %d messages failed, want the 4 before the breaker opened", what, len(ob[OutboxFailed]))
		}
		for _, o := range ob[OutboxFailed] {
			if o.Reason != channels.ReasonAPIError || !strings.Contains(o.Detail, "request not sent") {
				t.Fatalf("%s: message %d failed with %s %q, want api_error, not sent", what, o.ID, o.Reason, o.Detail)
			}
		}
	}
	failed("the outage")
	r.wantHeld("the outage", 24-4, "open", t0.Add(time.Second))
	pauses := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	for i, pause := range pauses[:len(pauses)-1] {
		r.advance(pause)
		what := fmt.Sprint("probe ", i+1)
		failed(what)
		r.wantHeld(what, 24-4, "open", r.clock.Now().Add(pauses[i+1]))
	}
	r.wantSends("the outage", 3)
	r.down.Store(false)
	r.advance(time.Minute)
	r.wantSends("after the outage", 3+24-4)
	ob := r.outbox()
	if len(ob[OutboxPending])+len(ob[OutboxSending])+len(ob[OutboxUnknown]) != 0 || len(ob[OutboxSent]) != 3+24-4 {
		t.Fatalf("after the outage: %d pending, %d sending, %d unknown, %d sent", len(ob[OutboxPending]), len(ob[OutboxSending]), len(ob[OutboxUnknown]), len(ob[OutboxSent]))
	}
	failed("after the outage")
	got := r.sentTexts()
	for _, c := range contacts {
		if !slices.IsSorted(got[c]) {
			t.Errorf("%s: WeChat got %q, out of order", c, got[c])
		}
	}
	if s := r.e.Stats(); s.SendPauses["main"] != 1 || s.SendProbes["main"] != uint64(len(pauses)) {
		t.Errorf("pauses %v, probes %v; want 1 pause and %d probes of main", s.SendPauses, s.SendProbes, len(pauses))
	}
}

// TestMergePausesOneAccountOnce: an account the channel paused for two
// writers is listed once, with the messages both hold, from the earlier
// start to the later end, open while either is.
func TestMergePausesOneAccountOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a := []SendPause{{Account: "main", State: "half-open", Since: t0.Add(time.Second), Until: t0.Add(time.Minute), Cause: "later", Held: 2}}
	b := []SendPause{
		{Account: "main", State: "open", Since: t0, Until: t0.Add(2 * time.Minute), Cause: "first", Held: 3},
		{Account: "alt", State: "open", Since: t0, Until: t0.Add(time.Minute), Held: 1},
	}
	got := mergePauses(a, b)
	want := []SendPause{
		{Account: "alt", State: "open", Since: t0, Until: t0.Add(time.Minute), Held: 1},
		{Account: "main", State: "open", Since: t0, Until: t0.Add(2 * time.Minute), Cause: "first", Held: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged\n%+v\nwant\n%+v", got, want)
	}
}

// usePostgres runs the rest of the test's suite stores (OpenSuiteStore)
// on PostgreSQL (WXFLOW_PG_URL), whatever WXFLOW_ENGINE_STORE says; it
// skips without a server, unless WXFLOW_REQUIRE_PG=1 (CI).
func usePostgres(t *testing.T) {
	t.Helper()
	if os.Getenv("WXFLOW_PG_URL") == "" {
		if os.Getenv("WXFLOW_REQUIRE_PG") == "1" {
			t.Fatal("WXFLOW_REQUIRE_PG=1 but WXFLOW_PG_URL is not set")
		}
		t.Skip("WXFLOW_PG_URL is not set")
	}
	t.Setenv("WXFLOW_ENGINE_STORE", "postgres")
}

// TestStormPauseCountedOnceForTwoWriters: the channel pauses an account
// for every writer, and each holds its messages back, but it is one
// pause: wxflow_send_pauses_total counted one per writer (2 on a node's
// default two writers).
func TestStormPauseCountedOnceForTwoWriters(t *testing.T) {
	usePostgres(t)
	r := newStormRigWriters(t, 1, 2)
	r.storm.Store(true)
	var contacts []string
	for i := range 16 {
		contacts = append(contacts, fmt.Sprintf("c%d", i))
	}
	r.follow(contacts...)
	if len(r.e.more) != 1 {
		t.Fatalf("%d writers, want 2", 1+len(r.e.more))
	}
	for i, w := range r.e.writers() {
		if p, _, _ := w.holds.report(r.clock.Now()); len(p) != 1 {
			t.Fatalf("writer %d holds %+v; want main's messages held by both writers", i+1, p)
		}
	}
	if s := r.e.Stats(); s.SendPauses["main"] != 1 {
		t.Fatalf("pauses %v during the storm; want one of main", s.SendPauses)
	}
	r.storm.Store(false)
	for range 5 {
		r.advance(time.Second)
	}
	if p := r.e.SendPauses(); len(p) != 0 {
		t.Fatalf("still paused: %+v", p)
	}
	if s := r.e.Stats(); s.SendPauses["main"] != 1 {
		t.Fatalf("pauses %v after the storm; want one of main", s.SendPauses)
	}
}
