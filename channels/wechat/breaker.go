package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// The defaults of BreakerSettings.
const (
	// DefaultBreakerThreshold is how many storm failures in a row open
	// the breaker.
	DefaultBreakerThreshold = 5
	// DefaultBreakerPause is the first pause; it doubles after each
	// failed probe up to DefaultBreakerMaxPause.
	DefaultBreakerPause    = time.Second
	DefaultBreakerMaxPause = time.Minute
	// DefaultBreakerQuotaPause is the first pause after 45009 (the
	// account's daily API quota is used up); it doubles up to
	// DefaultBreakerMaxQuotaPause.
	DefaultBreakerQuotaPause    = time.Minute
	DefaultBreakerMaxQuotaPause = time.Hour
)

// BreakerSettings tunes an account's circuit breaker (zero values take the
// defaults).
type BreakerSettings struct {
	// Threshold is how many storm failures in a row (-1 system busy,
	// 45011, HTTP 5xx or 429, no usable answer) open the breaker. One
	// 45009 opens it at once, and so does one refusal of an access token
	// (40164 IP not whitelisted, 40125 wrong AppSecret, 40013 wrong
	// AppID), with the pauses of a storm: the messages wait until it is
	// fixed instead of failing, and the token is asked for once a probe.
	Threshold int
	// Pause and MaxPause are the first pause and its cap.
	Pause, MaxPause time.Duration
	// QuotaPause and MaxQuotaPause are the same after 45009.
	QuotaPause, MaxQuotaPause time.Duration
}

// breakerState is what a breaker reports, for tests.
type breakerState struct {
	// state is "closed", "open" or "half-open" (the pause is over, or
	// a probe is under way).
	state string
	until time.Time
	cause string
	// opens counts the times the breaker opened (a failed probe opens it
	// again); probes the probes it let through.
	opens, probes uint64
}

// breaker is one account's circuit breaker: after a storm of failures
// that say WeChat cannot take messages now, it refuses sends without
// calling WeChat for a pause, then lets one probe through; a probe that
// WeChat answers closes it, a probe that fails opens it again for twice
// the pause, up to a cap. It is safe for concurrent use.
type breaker struct {
	set   BreakerSettings
	clock Clock
	// log and account are for the WARN lines of pauses (see lines).
	log     *slog.Logger
	account string

	mu      sync.Mutex
	open    bool
	fails   int // storm failures in a row while closed
	pause   time.Duration
	until   time.Time
	probing bool
	cause   string
	opens   uint64
	probes  uint64
	lines   breakerLines
}

// breakerLogEvery is how often an account's pauses and failed probes are
// logged at most: one line a minute while an outage lasts.
const breakerLogEvery = time.Minute

// breakerLines is what the breaker's log lines need: the current pause
// (from the trip that opened the closed breaker to the probe that closed
// it) and the rate limit.
type breakerLines struct {
	since        time.Time // when the pause began
	failedProbes int
	// logged is set once a line told of the current pause: its end is
	// logged then.
	logged bool
	// last is when a line about a pause or a failed probe was last
	// written; unlogged counts the pauses and failed probes not logged
	// since.
	last     time.Time
	unlogged int
}

// newBreaker returns a closed breaker.
func newBreaker(set BreakerSettings, clock Clock) *breaker {
	if set.Threshold <= 0 {
		set.Threshold = DefaultBreakerThreshold
	}
	if set.Pause <= 0 {
		set.Pause = DefaultBreakerPause
	}
	if set.MaxPause < set.Pause {
		set.MaxPause = max(DefaultBreakerMaxPause, set.Pause)
	}
	if set.QuotaPause <= 0 {
		set.QuotaPause = DefaultBreakerQuotaPause
	}
	if set.MaxQuotaPause < set.QuotaPause {
		set.MaxQuotaPause = max(DefaultBreakerMaxQuotaPause, set.QuotaPause)
	}
	if clock == nil {
		clock = apiSystemClock{}
	}
	return &breaker{set: set, clock: clock}
}

// allow asks to send: it returns whether the send is the probe, or a
// *channels.Paused when the send must not be made.
func (b *breaker) allow() (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return false, nil
	}
	now := b.clock.Now()
	if b.probing || now.Before(b.until) {
		return false, b.pausedLocked(now)
	}
	b.probing = true
	b.probes++
	return true, nil
}

// done records the outcome of a send that allow let through. When the
// breaker is open after that outcome (it tripped it, it was a failed
// probe, or the send was under way when the breaker opened) and the
// failure is one of the storm's that certainly did not reach the contact
// (WeChat answered it with a refusal, or its request was never sent: a
// refused connection), it returns the pause: the message waits for the
// next probe instead of failing. A send without an answer (no news of
// whether WeChat took it) keeps its own error.
func (b *breaker) done(probe bool, err error) *channels.Paused {
	b.mu.Lock()
	p, line := b.doneLocked(probe, err)
	b.mu.Unlock()
	if line != nil {
		line()
	}
	return p
}

// doneLocked is done with b.mu held; line, when not nil, writes what is
// to be logged (once b.mu is released).
func (b *breaker) doneLocked(probe bool, err error) (_ *channels.Paused, line func()) {
	quota, storm, cause := stormFailure(err)
	now := b.clock.Now()
	switch {
	case probe:
		b.probing = false
		if !storm && !answered(err) {
			// Cancelled, or failed before any request for a reason of
			// its own (a bad media file): no news, the next send is the
			// probe. (A request not sent for want of a connection is a
			// storm failure: the probe failed.)
			return nil, nil
		}
		if !storm {
			// WeChat answered: it takes messages again.
			b.open, b.fails, b.pause, b.cause = false, 0, 0, ""
			return nil, b.resumedLocked(now)
		}
		b.trip(now, quota, "the probe failed: "+cause)
		b.lines.failedProbes++
		line = b.pausedLineLocked(now, err, true)
	case b.open:
		// A send that started before the breaker opened: its failure
		// is no news; but one that certainly did not reach the
		// contact waits with the others (they failed together).
		if storm && undelivered(err) {
			return b.pausedLocked(now), nil
		}
		return nil, nil
	case storm:
		b.fails++
		_, refused := tokenRefused(err)
		if !quota && !refused && b.fails < b.set.Threshold {
			return nil, nil
		}
		if !quota && !refused {
			cause = fmt.Sprintf("%d failures in a row, the last: %s", b.fails, cause)
		}
		b.trip(now, quota, cause)
		b.lines.since, b.lines.failedProbes, b.lines.logged = now, 0, false
		line = b.pausedLineLocked(now, err, false)
	default:
		if err == nil {
			b.fails = 0
		}
		return nil, nil
	}
	if !undelivered(err) {
		return nil, line
	}
	return &channels.Paused{Until: b.until, Since: b.lines.since, Cause: b.cause}, line
}

// pausedLineLocked returns the WARN line of a pause that began (probe
// false) or of a failed probe, or nil when a line about a pause or a
// failed probe of the account was written less than a minute ago: then
// it is counted, and the next line says how many were not logged.
func (b *breaker) pausedLineLocked(now time.Time, err error, probe bool) func() {
	l := &b.lines
	if !l.last.IsZero() && now.Sub(l.last) < breakerLogEvery {
		l.unlogged++
		return nil
	}
	args := []any{"account", b.account, "cause", b.cause, "pause", b.pause.String(), "until", b.until}
	if probe {
		args = append(args, "paused_since", l.since, "probes_failed", l.failedProbes)
	}
	if l.unlogged > 0 {
		args = append(args, "not_logged", l.unlogged)
	}
	// The client's errors show neither the secret nor a token.
	args = append(args, "err", err.Error())
	l.last, l.unlogged, l.logged = now, 0, true
	msg := "wechat: sending paused: the account's messages wait"
	if probe {
		msg = "wechat: the probe failed: sending stays paused"
	}
	log := b.logger()
	return func() { log.Warn(msg, args...) }
}

// resumedLocked returns the WARN line of a pause that ended, when a line
// told of it (else nil).
func (b *breaker) resumedLocked(now time.Time) func() {
	l := &b.lines
	logged := l.logged
	l.logged = false
	if !logged {
		return nil
	}
	args := []any{"account", b.account, "paused_for", now.Sub(l.since).String(), "probes_failed", l.failedProbes}
	log := b.logger()
	return func() { log.Warn("wechat: sending resumed: WeChat answered the probe", args...) }
}

// logger returns the breaker's logger (a discarding one when it has none).
func (b *breaker) logger() *slog.Logger {
	if b.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.log
}

// pausedLocked is the pause of an open breaker (with b.mu held): until
// its end, or, once it is over and a probe is under way, shortly.
func (b *breaker) pausedLocked(now time.Time) *channels.Paused {
	until := b.until
	if !until.After(now) {
		// A probe is under way: ask again shortly.
		until = now.Add(b.set.Pause)
	}
	return &channels.Paused{Until: until, Since: b.lines.since, Cause: b.cause}
}

// trip opens the breaker for the next pause.
func (b *breaker) trip(now time.Time, quota bool, cause string) {
	first, limit := b.set.Pause, b.set.MaxPause
	if quota {
		first, limit = b.set.QuotaPause, b.set.MaxQuotaPause
	}
	if b.pause == 0 {
		b.pause = first
	} else {
		b.pause = min(max(2*b.pause, first), limit)
	}
	b.open, b.fails, b.cause = true, 0, cause
	b.until = now.Add(b.pause)
	b.opens++
}

// report reports the breaker's state.
func (b *breaker) report() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := breakerState{state: "closed", opens: b.opens, probes: b.probes}
	if b.open {
		s.state, s.until, s.cause = "open", b.until, b.cause
		if b.probing || !b.clock.Now().Before(b.until) {
			s.state = "half-open"
		}
	}
	return s
}

// stormFailure reports whether err says WeChat cannot take messages now,
// whatever the message (system busy, an API limit, HTTP 5xx or 429, no
// usable answer, an access token refused: see tokenRefusals), and whether
// it is 45009, the daily API quota; cause describes it. Errors about one message or contact (45015, 45047, a bad
// media file, ...) and a cancelled send are no storm.
func stormFailure(err error) (quota, storm bool, cause string) {
	if err == nil || errors.Is(err, context.Canceled) {
		return false, false, ""
	}
	if cause, ok := tokenRefused(err); ok {
		return false, true, cause
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case -1:
			return false, true, "WeChat answered -1 (system busy)"
		case 45009:
			return true, true, "WeChat answered 45009 (the account's daily API quota is used up)"
		case 45011:
			return false, true, "WeChat answered 45011 (API calls too frequent)"
		}
		return false, false, ""
	}
	var se *apiStatusError
	if errors.As(err, &se) {
		if se.status >= 500 || se.status == http.StatusTooManyRequests {
			return false, true, fmt.Sprintf("WeChat answered HTTP %d", se.status)
		}
		return false, false, ""
	}
	if errors.Is(err, channels.ErrUnknown) {
		return false, true, "no answer from WeChat"
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return false, true, "WeChat could not be reached"
	}
	return false, false, ""
}

// undelivered reports whether a failed send certainly did not reach the
// contact: WeChat answered it (with a refusal), or its request was not
// sent. A send that may have reached WeChat (channels.ErrUnknown) may have.
func undelivered(err error) bool {
	if err == nil || errors.Is(err, channels.ErrUnknown) {
		return false
	}
	return answered(err) || notSent(err)
}

// notSent reports whether err says the request never left: a failed dial
// (a refused connection, an unreachable host, DNS), or any failure the
// client reports as "request not sent" (before the request's headers
// were written: a failed TLS handshake, say), for the send or the token
// fetch before it.
func notSent(err error) bool {
	return apiNotSent(err) || strings.Contains(err.Error(), ": request not sent: ")
}

// answered reports whether err (or its absence) is an answer from WeChat.
func answered(err error) bool {
	var ae *APIError
	var se *apiStatusError
	return err == nil || errors.As(err, &ae) || errors.As(err, &se)
}
