package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/loadgen"
	"github.com/wxflow/wxflow/engine"
)

// The soak of `wxflow bench --duration`: the same followers play their
// scripts round after round while the store's size is sampled, so that a
// retention short enough to act within the run shows whether the store
// levels off.

// benchPruneEvery is how often the server the bench starts prunes when
// --retention is given: often enough for a soak of minutes.
const benchPruneEvery = 10 * time.Second

// benchRetentionYAML is the retention: of the server the bench starts:
// every kind kept for d; nothing (the server's defaults) for 0.
func benchRetentionYAML(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	v := d.String()
	return fmt.Sprintf("retention:\n  dedupe: %s\n  locations: %s\n  runs: %s\n  messages: %s\n  transcript: %s\n  every: %s\n",
		v, v, v, v, v, benchPruneEvery)
}

// storeSample is the store's size at a moment of the soak.
type storeSample struct {
	// Seconds since the load started.
	Seconds float64 `json:"seconds"`
	// Bytes of the database file and its WAL.
	Bytes int64 `json:"bytes"`
}

// storeSize is the size of a SQLite database file and its WAL.
func storeSize(db string) int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(db + suffix); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// soak plays rounds of the scenario against endpoint until o.duration has
// passed (the last round finishes), sampling the store's size every
// o.sample, and fills in the load's figures.
func (r *benchReport) soak(ctx context.Context, o *benchOptions, endpoint, to string, signer *loadgen.Signer, db string) *benchLoad {
	tag := strconv.FormatUint(rand.Uint64()%(36*36*36*36*36*36), 36)
	l := &benchLoad{poster: loadgen.NewPoster(endpoint, signer, o.conns, loadgen.NewPacer(o.rate))}
	defer l.poster.Close()
	r.Target = endpoint
	if o.retention > 0 {
		r.Retention = o.retention.String()
	}
	every := o.sample
	if every <= 0 {
		every = max(time.Second, o.duration/10)
	}
	l.start = time.Now()
	l.poster.StartPace(l.start)
	var mu sync.Mutex
	sample := func() {
		s := storeSample{Seconds: roundMS(time.Since(l.start)), Bytes: storeSize(db)}
		mu.Lock()
		r.StoreSizes = append(r.StoreSizes, s)
		mu.Unlock()
	}
	sample()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sample()
			case <-stop:
				return
			}
		}
	}()
	deadline := l.start.Add(o.duration)
	// The followers' CreateTimes go forward from round to round, so that
	// a round's events never dedupe against the previous round's.
	var next int64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		fs := loadgen.Scripts(o.scenario, o.followers, o.seed+uint64(r.Rounds), tag)
		loadgen.AddLocations(fs, o.locations)
		last := next
		for _, f := range fs {
			f.Base = max(f.Base, next)
			last = max(last, f.Base+int64(len(f.Actions)))
		}
		next = last
		loadgen.Drive(ctx, fs, to, o.conns, 4*o.conns, l.poster)
		r.Rounds++
		r.tally(fs)
		l.followers = fs
	}
	l.loadDone = time.Now()
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		r.Books.Problems = append(r.Books.Problems, "interrupted: the soak stopped before its duration")
	}
	r.LoadSeconds = roundMS(l.loadDone.Sub(l.start))
	r.Duration = r.LoadSeconds
	r.posted(l.poster)
	return l
}

// growthLastHalf is how much the store grew over the second half of the
// samples, in percent of its size at the half.
func growthLastHalf(samples []storeSample) float64 {
	if len(samples) < 2 {
		return 0
	}
	end := samples[len(samples)-1]
	i, _ := slices.BinarySearchFunc(samples, end.Seconds/2, func(s storeSample, t float64) int {
		switch {
		case s.Seconds < t:
			return -1
		case s.Seconds > t:
			return 1
		}
		return 0
	})
	mid := samples[min(i, len(samples)-1)]
	if mid.Bytes == 0 {
		return 0
	}
	return math.Round(1000*float64(end.Bytes-mid.Bytes)/float64(mid.Bytes)) / 10
}

// finishSoak samples the store once the outbox drained, checks a soak's
// books, stops the server and completes the report. Pruning leaves no
// per-contact books: a soak checks that every callback was acknowledged
// and counted by kind, that no message is left unsent, and that the
// messages the engine recorded sent are exactly those the fake API got.
func (r *benchReport) finishSoak(o *benchOptions, l *benchLoad, st engine.Store, counters *benchCounters, api *wechattest.Server,
	base storeBase, db string, child *benchChild, stopTimeout time.Duration, drainDone time.Time, closeStore func(), stderr io.Writer) (*benchReport, error) {
	r.StoreSizes = append(r.StoreSizes, storeSample{Seconds: roundMS(drainDone.Sub(l.start)), Bytes: storeSize(db)})
	r.GrowthLastHalf = growthLastHalf(r.StoreSizes)
	// Messages a contact's unfollow stopped (reserved before it, not sent
	// by the time it was stored) fail as unfollowed, as they must.
	stopped := 0
	err := st.View(context.Background(), func(tx engine.ReadTx) error {
		out, err := tx.Outbox(engine.OutboxFilter{AfterID: base.outboxID})
		for _, e := range out {
			status := string(e.Status)
			if e.Reason != "" {
				status += ":" + string(e.Reason)
			}
			r.Outbox[status]++
			if e.Status == engine.OutboxFailed && e.Reason == channels.ReasonUnfollowed && strings.HasPrefix(e.Detail, engine.UnfollowedDetail) {
				stopped++
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var unsent []string
	for status, n := range r.Outbox {
		if status == string(engine.OutboxFailed)+":"+string(channels.ReasonUnfollowed) {
			n -= stopped
		}
		if status != string(engine.OutboxSent) && n > 0 {
			unsent = append(unsent, fmt.Sprintf("%d %s", n, status))
			r.Failures["message_"+status] += n
		}
	}
	if len(unsent) > 0 {
		slices.Sort(unsent)
		r.Books.Problems = append(r.Books.Problems, "messages not sent: "+strings.Join(unsent, ", "))
	}
	if r.Unconfirmed > 0 {
		r.Books.Problems = append(r.Books.Problems, fmt.Sprintf("%d of %d callbacks were never acknowledged", r.Unconfirmed, r.Callbacks))
	}
	if !child.exited() {
		r.RSSPeakBytes, _ = procStatusBytes(child.pid(), "VmHWM")
	}
	closeStore()
	if err := child.stop(stopTimeout); err != nil {
		r.Notes = append(r.Notes, "the server did not stop cleanly: "+err.Error())
	}
	r.MessagesDelivered = api.SentCount()
	r.DeliveredPerSecond = perSecond(r.MessagesDelivered, drainDone.Sub(l.start).Seconds())
	switch {
	case counters == nil:
		r.Notes = append(r.Notes, "the server's counters could not be read: the events by kind and the messages sent are not checked")
	default:
		r.Pruned = counters.pruned
		r.Duplicates = counters.duplicates
		var diffs []string
		for k, n := range r.Events {
			if got := counters.events[channels.Kind(k)]; got < n || got > n+r.Unconfirmed {
				diffs = append(diffs, fmt.Sprintf("%s %d, acknowledged %d", k, got, n))
			}
		}
		if len(diffs) > 0 {
			slices.Sort(diffs)
			r.Books.Problems = append(r.Books.Problems, "events by kind: the engine ingested "+strings.Join(diffs, "; "))
		}
		if counters.sent != r.MessagesDelivered {
			r.Books.Problems = append(r.Books.Problems, fmt.Sprintf("messages: the engine recorded %d sent, the fake API got %d", counters.sent, r.MessagesDelivered))
		}
	}
	r.Books.Checked = "soak"
	r.Books.Balanced = len(r.Books.Problems) == 0
	if o.retention == 0 {
		r.Notes = append(r.Notes, "the server kept its default retention (days): give --retention (e.g. 1m) for the store to level off within the soak")
	}
	if n, lines := child.log.lines(); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("the server logged %d %s (on stderr)", n, plural(n, "line")))
		fmt.Fprintf(stderr, "wxflow bench: the server logged %d %s; the last:\n%s\n", n, plural(n, "line"), indentLines(lines, "    "))
	}
	return r, nil
}
