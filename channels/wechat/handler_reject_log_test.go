package wechat_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
)

// rlClock is a clock the test moves (the rejection log and passive
// reply deadline tests share it).
type rlClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *rlClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *rlClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

func (c *rlClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rlRecord is a log record the capture kept: its level, message and
// attributes as text.
type rlRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// rlCapture is a slog.Handler keeping every record.
type rlCapture struct {
	mu      sync.Mutex
	records []rlRecord
}

func (c *rlCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *rlCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *rlCapture) WithGroup(string) slog.Handler            { return c }

func (c *rlCapture) Handle(_ context.Context, r slog.Record) error {
	rec := rlRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	c.records = append(c.records, rec)
	c.mu.Unlock()
	return nil
}

// count returns how many records have msg and the given attributes.
func (c *rlCapture) count(msg string, attrs ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
next:
	for _, r := range c.records {
		if r.msg != msg {
			continue
		}
		for i := 0; i+1 < len(attrs); i += 2 {
			if r.attrs[attrs[i]] != attrs[i+1] {
				continue next
			}
		}
		n++
	}
	return n
}

// all returns the records so far.
func (c *rlCapture) all() []rlRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rlRecord(nil), c.records...)
}

// TestHandlerRejectLogRateLimit: a flood of rejected callbacks logs at most
// 10 WARN lines a minute for each account and kind of rejection (unknown
// accounts share one), then one line saying how many were suppressed once
// the minute is over on the handler's clock; Observe still sees each.
func TestHandlerRejectLogRateLimit(t *testing.T) {
	t.Parallel()
	clock := &rlClock{now: hdlNow}
	logs := &rlCapture{}
	env := hdlSetup(t, func(c *wechat.HandlerConfig) {
		c.Clock, c.Logger = clock, slog.New(logs)
	}, hdlPlainAccount())
	signed := func() map[string][]string {
		return hdlQuery(hdlToken, strconv.FormatInt(clock.Now().Unix(), 10), hdlNonce)
	}
	badSig := func() {
		env.post(t, hdlAccount, hdlQuery("wrongToken", hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "1"))
	}
	posted := 0

	// 25 bad signatures, 3 malformed bodies, 12 unknown accounts.
	for range 25 {
		badSig()
	}
	for range 3 {
		env.post(t, hdlAccount, signed(), "<xml>")
	}
	for i := range 12 {
		env.post(t, "ghost"+strconv.Itoa(i), signed(), hdlText(hdlOrigID, "hi", "1"))
	}
	posted += 40
	env.waitObs(t, posted) // every rejection is still observed (counted)
	if n := logs.count("callback rejected", "account", hdlAccount, "reason", "bad signature"); n != 10 {
		t.Errorf("%d lines for 25 bad signatures, want 10", n)
	}
	if n := logs.count("callback rejected", "status", "400", "account", hdlAccount); n != 3 {
		t.Errorf("%d lines for 3 malformed bodies, want 3 (another kind of rejection)", n)
	}
	if n := logs.count("callback rejected", "reason", "unknown account"); n != 10 {
		t.Errorf("%d lines for 12 unknown accounts, want 10", n)
	}

	// Within the minute: still suppressed, no summary yet.
	clock.Advance(59 * time.Second)
	badSig()
	env.post(t, hdlAccount, signed(), hdlText(hdlOrigID, "hi", "2"))
	posted += 2
	env.waitObs(t, posted)
	if n := logs.count("callback rejected", "reason", "bad signature"); n != 10 {
		t.Errorf("%d lines for bad signatures within the minute, want 10", n)
	}
	if n := logs.count("callback rejections suppressed"); n != 0 {
		t.Errorf("%d summaries before the minute is over, want 0", n)
	}

	// The minute is over: the next callback, accepted, writes one summary
	// for each kind that had suppressed lines.
	clock.Advance(2 * time.Second)
	env.post(t, hdlAccount, signed(), hdlText(hdlOrigID, "hi", "3"))
	posted++
	env.waitObs(t, posted)
	if n := logs.count("callback rejections suppressed", "account", hdlAccount, "status", "403", "reason", "bad signature", "suppressed", "16"); n != 1 {
		t.Errorf("%d summaries of 16 suppressed bad signatures, want 1:\n%+v", n, logs.all())
	}
	if n := logs.count("callback rejections suppressed", "reason", "unknown account", "suppressed", "2"); n != 1 {
		t.Errorf("%d summaries of 2 suppressed unknown accounts, want 1", n)
	}
	if n := logs.count("callback rejections suppressed"); n != 2 {
		t.Errorf("%d summaries, want 2 (none for the malformed bodies)", n)
	}
	for _, r := range logs.all() {
		if r.level != slog.LevelWarn {
			t.Errorf("%q logged at %v, want WARN", r.msg, r.level)
		}
	}

	// A new minute logs again, and summarises only once.
	badSig()
	posted++
	env.waitObs(t, posted)
	if n := logs.count("callback rejected", "reason", "bad signature"); n != 11 {
		t.Errorf("%d lines for bad signatures after the minute, want 11", n)
	}
	clock.Advance(2 * time.Minute)
	env.post(t, hdlAccount, signed(), hdlText(hdlOrigID, "hi", "4"))
	posted++
	env.waitObs(t, posted)
	if n := logs.count("callback rejections suppressed"); n != 2 {
		t.Errorf("%d summaries, want still 2", n)
	}
	if len(env.sink.Events()) != 3 {
		t.Errorf("the sink has %d events, want the 3 accepted texts", len(env.sink.Events()))
	}
}

// TestHandlerRejectLogUnlimited: RejectLogLimit -1 logs every rejection.
func TestHandlerRejectLogUnlimited(t *testing.T) {
	t.Parallel()
	logs := &rlCapture{}
	env := hdlSetup(t, func(c *wechat.HandlerConfig) { c.Logger, c.RejectLogLimit = slog.New(logs), -1 }, hdlPlainAccount())
	for range 15 {
		env.post(t, hdlAccount, hdlQuery("wrongToken", hdlTS, hdlNonce), hdlText(hdlOrigID, "hi", "1"))
	}
	env.waitObs(t, 15)
	if n := logs.count("callback rejected", "reason", "bad signature"); n != 15 {
		t.Errorf("%d lines, want 15", n)
	}
}
