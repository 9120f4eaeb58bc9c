package wechat

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// sendLogWindow is how often an account's failed sends of one kind are
// logged at most.
const sendLogWindow = time.Minute

// sendLog writes the WARN lines of one account's failed sends, of two
// kinds: "failed" (refused with reason api_error: an error that is not
// about the contact's window, quota or follow) and "unknown" (the
// request may have reached WeChat, no answer came). The first failure of
// a kind in a minute is logged with its error; the others of that minute
// are counted, and one line says how many there were at the account's
// first send after the minute (so that a storm of failures writes two
// lines a minute, never one a message). Sends the breaker holds back are
// not failures: the breaker's lines tell of them.
type sendLog struct {
	log     *slog.Logger
	clock   Clock
	account string

	mu    sync.Mutex
	kinds map[string]*sendLogKind
}

// sendLogKind is the current minute of one kind of failure.
type sendLogKind struct {
	start      time.Time
	suppressed int
	last       string // the last suppressed failure's error
}

// newSendLog returns the failed-send lines of an account.
func newSendLog(log *slog.Logger, clock Clock, account string) *sendLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = apiSystemClock{}
	}
	return &sendLog{log: log, clock: clock, account: account, kinds: map[string]*sendLogKind{}}
}

// flush writes the summaries of the minutes that are over.
func (l *sendLog) flush() {
	if l == nil {
		return
	}
	l.mu.Lock()
	lines := l.rollLocked(l.clock.Now())
	l.mu.Unlock()
	for _, f := range lines {
		f()
	}
}

// rollLocked ends the minutes that are over at now, and returns the
// lines of those with failures not logged.
func (l *sendLog) rollLocked(now time.Time) []func() {
	var lines []func()
	for kind, k := range l.kinds {
		if now.Before(k.start.Add(sendLogWindow)) {
			continue
		}
		delete(l.kinds, kind)
		if k.suppressed > 0 {
			args := []any{"account", l.account, "kind", kind, "count", k.suppressed, "since", k.start,
				"window", sendLogWindow.String(), "last_err", k.last}
			lines = append(lines, func() { l.log.Warn("wechat: more sends failed in the minute (not logged one by one)", args...) })
		}
	}
	return lines
}

// note records the outcome of a send to contact, as Channel.Send returns
// it.
func (l *sendLog) note(contact string, err error) {
	if l == nil || err == nil {
		return
	}
	var ref *channels.Refusal
	var kind, msg string
	args := []any{"account", l.account, "contact", contact}
	switch {
	case errors.Is(err, channels.ErrUnknown):
		kind, msg = "unknown", "wechat: a send's outcome is unknown (the message may have reached the contact)"
		args = append(args, "err", err.Error())
	case errors.As(err, &ref) && ref.Reason == channels.ReasonAPIError:
		kind, msg = "failed", "wechat: a send failed"
		args = append(args, "errcode", ref.Code, "err", ref.Detail)
	default:
		return
	}
	now := l.clock.Now()
	l.mu.Lock()
	lines := l.rollLocked(now)
	k := l.kinds[kind]
	if k == nil {
		l.kinds[kind] = &sendLogKind{start: now}
		lines = append(lines, func() { l.log.Warn(msg, args...) })
	} else {
		k.suppressed++
		k.last = err.Error()
		if ref != nil && kind == "failed" {
			k.last = ref.Detail
		}
	}
	l.mu.Unlock()
	for _, f := range lines {
		f()
	}
}
