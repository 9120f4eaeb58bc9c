package wechat

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRejectLogLimit is how many rejected callbacks of one account and
// one check are logged a minute by default.
const DefaultRejectLogLimit = 10

// rejectLogWindow is the period RejectLogLimit counts over.
const rejectLogWindow = time.Minute

// rejectLog writes the WARN lines of rejected callbacks, at most limit
// lines a minute for each account and check (the kind of rejection:
// "signature", "xml", ...), so that a flood of bad callbacks cannot flood
// the log. The rejections over the limit are counted, and when their
// minute is over one line says how many there were. Callbacks for unknown
// accounts share one account: their URL is the sender's to choose.
type rejectLog struct {
	log   *slog.Logger
	clock Clock
	limit int // negative: no limit

	mu      sync.Mutex
	windows map[rejectKey]*rejectWindow
	// due is when the first window with suppressed lines ends, in Unix
	// nanoseconds (0: none): until then, flush has nothing to do.
	due atomic.Int64
}

// rejectKey is what the limit counts by.
type rejectKey struct {
	account string // "" for unknown accounts
	check   string
}

// rejectWindow is the minute of one rejectKey, from its first rejection.
type rejectWindow struct {
	start      time.Time
	logged     int
	suppressed int
	// last is the last suppressed rejection, for the summary line.
	last rejectLine
}

// rejectLine is one rejection as logged.
type rejectLine struct {
	account string // as written in the URL (shortened)
	status  int
	reason  string
	remote  string
}

// newRejectLog returns a limiter writing to log; limit 0 is the default.
func newRejectLog(log *slog.Logger, clock Clock, limit int) *rejectLog {
	if limit == 0 {
		limit = DefaultRejectLogLimit
	}
	return &rejectLog{log: log, clock: clock, limit: limit, windows: map[rejectKey]*rejectWindow{}}
}

// warn logs a rejection, unless key's minute already had limit lines:
// then it only counts it.
func (l *rejectLog) warn(key rejectKey, r rejectLine) {
	if l.limit < 0 {
		l.write(r)
		return
	}
	now := l.clock.Now()
	l.mu.Lock()
	ended := l.rollLocked(now)
	w := l.windows[key]
	if w == nil || !now.Before(w.start.Add(rejectLogWindow)) {
		// A window that ended with suppressed lines was rolled above:
		// this one had none.
		w = &rejectWindow{start: now}
		l.windows[key] = w
	}
	show := w.logged < l.limit
	if show {
		w.logged++
	} else {
		w.suppressed++
		w.last = r
		if end := w.start.Add(rejectLogWindow).UnixNano(); l.due.Load() == 0 || end < l.due.Load() {
			l.due.Store(end)
		}
	}
	l.mu.Unlock()
	l.summarise(ended)
	if show {
		l.write(r)
	}
}

// flush writes the summaries of the windows that have ended. It is cheap
// when none has suppressed lines: every callback may call it.
func (l *rejectLog) flush() {
	due := l.due.Load()
	if due == 0 {
		return
	}
	now := l.clock.Now()
	if now.UnixNano() < due {
		return
	}
	l.mu.Lock()
	ended := l.rollLocked(now)
	l.mu.Unlock()
	l.summarise(ended)
}

// rollLocked removes the windows that have ended at now, when one of
// them had suppressed lines, and returns those; it recomputes due. (The
// windows are few: one per configured account, or none, and check.)
func (l *rejectLog) rollLocked(now time.Time) []*rejectWindow {
	if due := l.due.Load(); due == 0 || now.UnixNano() < due {
		return nil
	}
	var ended []*rejectWindow
	var next int64
	for k, w := range l.windows {
		end := w.start.Add(rejectLogWindow)
		if !now.Before(end) {
			delete(l.windows, k)
			if w.suppressed > 0 {
				ended = append(ended, w)
			}
			continue
		}
		if w.suppressed > 0 && (next == 0 || end.UnixNano() < next) {
			next = end.UnixNano()
		}
	}
	l.due.Store(next)
	return ended
}

// summarise writes one line for each ended window with suppressed lines.
func (l *rejectLog) summarise(ended []*rejectWindow) {
	for _, w := range ended {
		l.log.Warn("callback rejections suppressed", "account", w.last.account, "status", w.last.status,
			"reason", w.last.reason, "suppressed", w.suppressed, "window", rejectLogWindow.String(),
			"since", w.start)
	}
}

// write writes a rejection's line.
func (l *rejectLog) write(r rejectLine) {
	l.log.Warn("callback rejected", "account", r.account, "status", r.status, "reason", r.reason, "remote", r.remote)
}
