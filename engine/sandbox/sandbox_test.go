package sandbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

// sandboxStart is a Monday, 10:00 in Shanghai.
var sandboxStart = time.Date(2026, 11, 16, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// sandboxBundle is what a sandbox test needs.
type sandboxBundle struct {
	t   *testing.T
	ctx context.Context
	sb  *sandbox.Sandbox
}

// newSandbox writes flow files (name -> YAML) to a folder, loads them and
// starts a sandbox on them; cfg's Set is filled in.
func newSandbox(t *testing.T, files map[string]string, cfg sandbox.Config) *sandboxBundle {
	t.Helper()
	dir := t.TempDir()
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
	cfg.Set = set
	if cfg.Start.IsZero() {
		cfg.Start = sandboxStart
	}
	sb, err := sandbox.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return &sandboxBundle{t: t, ctx: context.Background(), sb: sb}
}

// must fails the test on err.
func (b *sandboxBundle) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

// transcript renders alice's transcript as "status text" lines joined by
// "|", with the reason of failed messages.
func (b *sandboxBundle) transcript() string {
	b.t.Helper()
	entries, err := b.sb.Transcript(b.ctx, "alice", 0)
	b.must(err)
	var out []string
	for _, o := range entries {
		s := string(o.Status) + " " + o.Message.Text
		if o.Reason != "" {
			s = string(o.Status) + "(" + string(o.Reason) + ") " + o.Message.Text
		}
		out = append(out, s)
	}
	return strings.Join(out, "|")
}

const sandboxWelcome = `name: welcome
triggers: [follow]
steps:
  - send: "Welcome${event.scene != '' ? ' from ' + event.scene : ''}!"
  - ask: "Your name?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: done
  - send: "Hi ${contact.fields.name}"
  - id: done
    end:
`

func TestSandboxConversation(t *testing.T) {
	t.Parallel()
	b := newSandbox(t, map[string]string{"welcome.yaml": sandboxWelcome}, sandbox.Config{})
	b.must(b.sb.Follow(b.ctx, "alice", "store_1"))

	st, err := b.sb.State(b.ctx, "alice")
	b.must(err)
	if st.Contact == nil || !st.Contact.Followed {
		t.Fatalf("contact = %+v, want a follower", st.Contact)
	}
	if !st.Window.Open || st.Window.QuotaLeft != 1 || !st.Window.ExpiresAt.Equal(sandboxStart.Add(48*time.Hour)) {
		t.Errorf("window = %+v, want open until +48h with 1 of 3 replies left", st.Window)
	}
	if len(st.Runs) != 1 || st.Runs[0].Flow != "welcome" || st.Runs[0].Status != engine.RunWaitingReply {
		t.Fatalf("runs = %+v, want welcome waiting for a reply", st.Runs)
	}
	if !strings.HasPrefix(st.Runs[0].Step, "ask") {
		t.Errorf("step = %q, want the ask", st.Runs[0].Step)
	}

	b.must(b.sb.Say(b.ctx, "alice", "Alice"))
	if got, want := b.transcript(), "sent Welcome from store_1!|sent Your name?|sent Hi Alice"; got != want {
		t.Errorf("transcript = %q, want %q", got, want)
	}
	st, err = b.sb.State(b.ctx, "alice")
	b.must(err)
	if st.Contact.Fields["name"] != "Alice" {
		t.Errorf("fields = %v, want name Alice", st.Contact.Fields)
	}
	if len(st.Runs) != 0 {
		t.Errorf("runs = %+v, want none active", st.Runs)
	}
	if st.Window.QuotaLeft != 4 {
		t.Errorf("quota left = %d, want 4 of the 5 after a message", st.Window.QuotaLeft)
	}

	// Transcript after an ID lists only what came later.
	all, err := b.sb.Transcript(b.ctx, "alice", 0)
	b.must(err)
	later, err := b.sb.Transcript(b.ctx, "alice", all[1].ID)
	b.must(err)
	if len(later) != 1 || later[0].Message.Text != "Hi Alice" {
		t.Errorf("transcript after #2 = %+v, want the last message only", later)
	}
}

func TestSandboxAdvanceFiresTimersInOrder(t *testing.T) {
	t.Parallel()
	// The window after a follow lasts 90 minutes: the send after the
	// first wait goes out, the one after the second is refused. Both
	// are only right if Advance stops at each due time.
	b := newSandbox(t, map[string]string{"drip.yaml": `name: drip
triggers: [follow]
steps:
  - wait: 1h
  - send: "one at ${now.Format('15:04')}"
  - wait: 1h
  - send: "two at ${now.Format('15:04')}"
`}, sandbox.Config{Settings: wechat.Settings{EventWindow: 90 * time.Minute}, Zone: sandboxStart.Location()})
	b.must(b.sb.Follow(b.ctx, "alice", ""))
	b.must(b.sb.Advance(b.ctx, 5*time.Hour))
	if got, want := b.transcript(), "sent one at 11:00|failed(window_closed) two at 12:00"; got != want {
		t.Fatalf("transcript = %q, want %q", got, want)
	}
	entries, err := b.sb.Transcript(b.ctx, "alice", 0)
	b.must(err)
	for i, want := range []time.Duration{time.Hour, 2 * time.Hour} {
		if got := entries[i].CreatedAt; !got.Equal(sandboxStart.Add(want)) {
			t.Errorf("message %d created at %s, want start+%s", i+1, got, want)
		}
	}
	if now := b.sb.Now(); !now.Equal(sandboxStart.Add(5 * time.Hour)) {
		t.Errorf("clock at %s, want start+5h", now)
	}
	if err := b.sb.Advance(b.ctx, -time.Second); err == nil {
		t.Error("Advance with a negative duration: no error")
	}
}

func TestSandboxAskTimeout(t *testing.T) {
	t.Parallel()
	b := newSandbox(t, map[string]string{"welcome.yaml": sandboxWelcome}, sandbox.Config{})
	b.must(b.sb.Follow(b.ctx, "alice", ""))
	b.must(b.sb.Advance(b.ctx, 59*time.Minute))
	st, err := b.sb.State(b.ctx, "alice")
	b.must(err)
	if len(st.Runs) != 1 {
		t.Fatalf("before the timeout: runs = %+v, want one waiting", st.Runs)
	}
	b.must(b.sb.Advance(b.ctx, time.Minute))
	st, err = b.sb.State(b.ctx, "alice")
	b.must(err)
	if len(st.Runs) != 0 {
		t.Fatalf("after the timeout: runs = %+v, want none", st.Runs)
	}
	runs, err := b.sb.Runs(b.ctx, "alice")
	b.must(err)
	if len(runs) != 1 || runs[0].Status != engine.RunCompleted || runs[0].Step != "done" {
		t.Errorf("runs = %+v, want welcome completed at done", runs)
	}
}

func TestSandboxSameSecondEventsAreNotRetries(t *testing.T) {
	t.Parallel()
	// Follow, unfollow and follow again without the clock moving: each is
	// a new event, not a platform retry of the one before.
	b := newSandbox(t, map[string]string{"hello.yaml": "name: hello\ntriggers: [follow]\nsteps:\n  - send: hello\n"}, sandbox.Config{})
	b.must(b.sb.Follow(b.ctx, "alice", ""))
	b.must(b.sb.Unfollow(b.ctx, "alice"))
	b.must(b.sb.Follow(b.ctx, "alice", ""))
	if got, want := b.transcript(), "sent hello|sent hello"; got != want {
		t.Errorf("transcript = %q, want %q", got, want)
	}
}

func TestSandboxSeedContact(t *testing.T) {
	t.Parallel()
	b := newSandbox(t, map[string]string{"vip.yaml": `name: vip
triggers: [message]
steps:
  - if: "'vip' in contact.tags"
    send: "Hello again, ${contact.fields.name}"
  - if: "not ('vip' in contact.tags)"
    send: "Hello"
`}, sandbox.Config{Account: "shop"})
	if b.sb.Account() != "shop" {
		t.Errorf("account = %q", b.sb.Account())
	}
	b.must(b.sb.SeedContact(b.ctx, engine.Contact{ID: "alice", Followed: true, Tags: []string{"vip"}, Fields: map[string]any{"name": "Alice"}}))
	st, err := b.sb.State(b.ctx, "alice")
	b.must(err)
	if st.Contact == nil || st.Contact.Account != "shop" || !st.Contact.FirstSeen.Equal(sandboxStart) {
		t.Fatalf("seeded contact = %+v", st.Contact)
	}
	if st.Window.Open {
		t.Errorf("a seeded contact has no window yet: %+v", st.Window)
	}
	b.must(b.sb.Say(b.ctx, "alice", "hi"))
	if got, want := b.transcript(), "sent Hello again, Alice"; got != want {
		t.Errorf("transcript = %q, want %q", got, want)
	}
	if err := b.sb.SeedContact(b.ctx, engine.Contact{}); err == nil {
		t.Error("seeding a contact without an id: no error")
	}
}

func TestSandboxOtherMessages(t *testing.T) {
	t.Parallel()
	b := newSandbox(t, map[string]string{"echo.yaml": `name: echo
triggers:
  - message
  - scan: "*"
  - menu: "*"
steps:
  - send: "${event.type} ${event.media_id}${event.scene}${event.key}${event.location.label}"
`}, sandbox.Config{})
	b.must(b.sb.Image(b.ctx, "alice", "m1"))
	b.must(b.sb.Image(b.ctx, "alice", ""))
	b.must(b.sb.Location(b.ctx, "alice", 31.2, 121.5, "Bund"))
	b.must(b.sb.Scan(b.ctx, "alice", "poster"))
	b.must(b.sb.Menu(b.ctx, "alice", "MENU_NEW"))
	got := b.transcript()
	want := "sent image m1|sent image sandbox-media-2|sent location Bund|sent scan poster|sent menu MENU_NEW"
	if got != want {
		t.Errorf("transcript = %q, want %q", got, want)
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSandboxHTTPClient(t *testing.T) {
	t.Parallel()
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != "shop.example.com" {
			return nil, errors.New("unexpected host " + r.URL.Host)
		}
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"status":"shipped"}`)), Request: r}, nil
	})}
	b := newSandbox(t, map[string]string{"order.yaml": `name: order
triggers:
  - keyword: { pattern: "^([0-9]+)$" }
steps:
  - http:
      url: "https://shop.example.com/orders/${event.match[1]}"
      save: vars.o
    on_error: oops
  - send: "Order ${event.match[1]}: ${vars.o.body.status}"
  - end
  - id: oops
    send: "oops"
`}, sandbox.Config{HTTPClient: client})
	b.must(b.sb.Say(b.ctx, "alice", "123"))
	if got, want := b.transcript(), "sent Order 123: shipped"; got != want {
		t.Errorf("transcript = %q, want %q", got, want)
	}
}

func TestSandboxCloseRemovesItsFolder(t *testing.T) {
	t.Parallel()
	b := newSandbox(t, nil, sandbox.Config{})
	dir := filepath.Dir(b.sb.DBPath())
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the sandbox's folder: %v", err)
	}
	b.must(b.sb.Close())
	b.must(b.sb.Close()) // idempotent
	if err := b.sb.Say(b.ctx, "alice", "hi"); err == nil {
		t.Error("an action on a closed sandbox: no error")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sandbox's folder %s is still there after Close (%v)", dir, err)
	}

	// A given database file is kept.
	db := filepath.Join(t.TempDir(), "kept.db")
	sb, err := sandbox.New(b.ctx, sandbox.Config{DBPath: db, Start: sandboxStart})
	b.must(err)
	b.must(sb.Close())
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the given database file is gone: %v", err)
	}
}

func TestSandboxRefusesBadConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := sandbox.New(ctx, sandbox.Config{Settings: wechat.Settings{Region: "mars"}}); err == nil {
		t.Error("unknown region: no error")
	}
	broken := &flows.Set{Diags: flows.Diagnostics{{File: "x.yaml", Line: 1, Col: 1, Message: "broken"}}}
	if _, err := sandbox.New(ctx, sandbox.Config{Set: broken}); err == nil {
		t.Error("a flow set with errors: no error")
	}
}

func TestSandboxDefaults(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(context.Background(), sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if sb.Account() != sandbox.DefaultAccount {
		t.Errorf("account = %q", sb.Account())
	}
	if sb.Now().IsZero() || sb.Now().Nanosecond() != 0 {
		t.Errorf("clock starts at %s, want now to the second", sb.Now())
	}
	if err := sb.Ingest(context.Background(), channels.Event{Contact: "alice", Kind: channels.Text, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	st, err := sb.State(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Window.Open || st.Window.QuotaLeft != wechat.DefaultMessageQuota {
		t.Errorf("window after a message = %+v", st.Window)
	}
}

// TestSandboxEngineWorkAfterStop: work submitted to a stopped engine
// fails with ErrStopped instead of waiting forever. (It used to hang half
// the time: submit's select could queue the job after the writer had
// drained its queue, and Stop itself could hang on the timer loop's
// FireDue the same way; a sandbox closed right after it started hit it.)
// The wall-clock guard only turns a hang into a failure.
func TestSandboxEngineWorkAfterStop(t *testing.T) {
	t.Parallel()
	b := newSandbox(t, nil, sandbox.Config{})
	e := b.sb.Engine()
	e.Stop()
	for i := 0; i < 20; i++ {
		done := make(chan error, 1)
		go func() { done <- e.FireDue(b.ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, engine.ErrStopped) {
				t.Fatalf("FireDue on a stopped engine: %v, want ErrStopped", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("FireDue on a stopped engine has not returned after 10s (try %d): the job was queued after the writer stopped", i+1)
		}
	}
}

// TestSandboxHoursUseServerZone: an `hours` step without timezone: uses
// the server's zone, Config.Zone, not the machine's. (It used time.Local:
// the step runtime was never given the engine's zone.) The zone here is
// +14:00, which no test machine's local zone is: Monday 10:00 there is
// Sunday 20:00 UTC.
func TestSandboxHoursUseServerZone(t *testing.T) {
	t.Parallel()
	zone, err := time.LoadLocation("Pacific/Kiritimati")
	if err != nil {
		t.Fatal(err)
	}
	b := newSandbox(t, map[string]string{"hours.yaml": `name: hours
triggers: [message]
steps:
  - hours:
      open: { mon-fri: "09:00-18:00" }
    when_open: [{ send: "open" }]
    when_closed: [{ send: "closed" }]
`}, sandbox.Config{Zone: zone, Start: time.Date(2026, 11, 16, 10, 0, 0, 0, zone)})
	b.must(b.sb.Say(b.ctx, "alice", "hi"))
	if got, want := b.transcript(), "sent open"; got != want {
		t.Errorf("transcript = %q, want %q: Monday 10:00 in the server's zone is within the hours", got, want)
	}
}

// TestSandboxKeepClock: a KeepClock sandbox keeps its clock in its file:
// opened again with the same Start it stands where Advance left it (in
// Start's zone); with a later Start, at Start. Without KeepClock nothing
// is kept.
func TestSandboxKeepClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(db string, start time.Time, keep bool) *sandbox.Sandbox {
		t.Helper()
		sb, err := sandbox.New(ctx, sandbox.Config{DBPath: db, Start: start, KeepClock: keep})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		return sb
	}
	kept := func(sb *sandbox.Sandbox) (string, bool) {
		t.Helper()
		var v string
		var ok bool
		err := sb.Engine().Store().View(ctx, func(tx engine.ReadTx) error {
			var err error
			v, _, ok, err = tx.ChannelState("sandbox/clock", sb.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v, ok
	}
	closeIt := func(sb *sandbox.Sandbox) {
		t.Helper()
		if err := sb.Close(); err != nil {
			t.Fatal(err)
		}
	}
	advanced := sandboxStart.Add(72 * time.Hour)

	db := filepath.Join(t.TempDir(), "kept.db")
	sb := open(db, sandboxStart, true)
	if err := sb.Advance(ctx, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, ok := kept(sb); !ok || v != advanced.UTC().Format(time.RFC3339Nano) {
		t.Errorf("kept clock = %q, %v; want %s", v, ok, advanced.UTC().Format(time.RFC3339Nano))
	}
	closeIt(sb)

	sb = open(db, sandboxStart, true)
	if now := sb.Now(); !now.Equal(advanced) || now.Location() != sandboxStart.Location() {
		t.Errorf("reopened with the first Start: clock at %s, want %s in Start's zone", now, advanced)
	}
	// The clock goes on from there, and is kept again.
	if err := sb.Advance(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	closeIt(sb)
	sb = open(db, sandboxStart, true)
	if now := sb.Now(); !now.Equal(advanced.Add(time.Hour)) {
		t.Errorf("reopened after a second Advance: clock at %s, want %s", now, advanced.Add(time.Hour))
	}
	closeIt(sb)

	later := sandboxStart.Add(100 * time.Hour)
	sb = open(db, later, true)
	if now := sb.Now(); !now.Equal(later) {
		t.Errorf("reopened with a later Start: clock at %s, want Start %s", now, later)
	}
	closeIt(sb)

	// Without KeepClock: nothing kept, nothing read.
	plain := filepath.Join(t.TempDir(), "plain.db")
	sb = open(plain, sandboxStart, false)
	if err := sb.Advance(ctx, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, ok := kept(sb); ok {
		t.Errorf("a sandbox without KeepClock kept its clock: %q", v)
	}
	closeIt(sb)
	sb = open(plain, sandboxStart, true)
	if now := sb.Now(); !now.Equal(sandboxStart) {
		t.Errorf("reopened a file a sandbox without KeepClock used: clock at %s, want Start %s", now, sandboxStart)
	}
	closeIt(sb)
	sb = open(db, sandboxStart, false)
	if now := sb.Now(); !now.Equal(sandboxStart) {
		t.Errorf("KeepClock off reads the kept clock: clock at %s, want Start %s", now, sandboxStart)
	}
}

// TestSandboxReopened: a sandbox opened again on its file takes new
// actions (they are not platform retries of the earlier opening's), and
// its clock never goes back, even when it was never advanced.
func TestSandboxReopened(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "sb.db")
	later := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	open := func(start time.Time) *sandbox.Sandbox {
		t.Helper()
		sb, err := sandbox.New(ctx, sandbox.Config{DBPath: db, Start: start, KeepClock: true})
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	sb := open(later)
	if err := sb.Follow(ctx, "amy", ""); err != nil {
		t.Fatal(err)
	}
	sb.Close()
	sb = open(later.Add(-96 * time.Hour))
	defer sb.Close()
	if !sb.Now().Equal(later) {
		t.Errorf("reopened at %s, want %s (the clock went back)", sb.Now(), later)
	}
	if err := sb.Unfollow(ctx, "amy"); err != nil {
		t.Fatal(err)
	}
	if st := sb.Engine().Stats(); st.Duplicates != 0 || st.Events["unfollow"] != 1 {
		t.Errorf("after reopening: %d duplicates, %d unfollows; want 0 and 1", st.Duplicates, st.Events["unfollow"])
	}
}
