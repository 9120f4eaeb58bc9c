package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
)

// benchServer starts serve (synchronous=FULL, as in production) with a
// one-send welcome flow and a fake API on loopback.
func benchServer(b *testing.B) (*server, *wechattest.Server) {
	b.Helper()
	api := wechattest.NewServer()
	b.Cleanup(api.Close)
	api.AddApp(srvAppID, srvSecret)
	api.CountOnly()
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	os.WriteFile(filepath.Join(dir, "flows", "welcome.yaml"), []byte(srvWelcome), 0o644)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
database: wxflow.db
flows: flows
accounts:
  - id: main
    app_id: %s
    app_secret: %s
    token: %s
    api_base: %s
`, srvAppID, srvSecret, srvToken, api.URL())
	path := filepath.Join(dir, "wxflow.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	c, err := config.Load(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := newServer(context.Background(), c, serverOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, api
}

// loadGen posts signed follow callbacks from distinct contacts.
type loadGen struct {
	url    string
	client *http.Client
	run    string
	next   atomic.Int64
	mu     sync.Mutex
	lat    []time.Duration
	errs   atomic.Int64
}

func newLoadGen(addr string, conns int) *loadGen {
	return &loadGen{
		url:    "http://" + addr + "/wechat/main?",
		client: &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}},
		run:    strconv.FormatInt(time.Now().UnixNano(), 36),
	}
}

// one posts one follow and records how long its acknowledgement took.
func (g *loadGen) one() {
	n := g.next.Add(1)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := strconv.FormatInt(n, 10)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(srvToken, ts, nonce)}}
	body := followXML("o_"+g.run+"_"+nonce, time.Now().Unix())
	start := time.Now()
	resp, err := g.client.Post(g.url+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		g.errs.Add(1)
		return
	}
	ans, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != 200 || string(ans) != "success" {
		g.errs.Add(1)
		return
	}
	g.mu.Lock()
	g.lat = append(g.lat, took)
	g.mu.Unlock()
}

func (g *loadGen) report(b *testing.B, elapsed time.Duration) {
	slices.Sort(g.lat)
	pct := func(p float64) float64 {
		if len(g.lat) == 0 {
			return 0
		}
		return float64(g.lat[min(len(g.lat)-1, int(p*float64(len(g.lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(g.lat))/elapsed.Seconds(), "acks/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(g.errs.Load()), "errors")
}

// finish waits until every acknowledged callback's message reached the
// fake API and reports the figures of a run that started at start.
func (g *loadGen) finish(b *testing.B, api *wechattest.Server, start time.Time) {
	b.Helper()
	acked := time.Since(start)
	n := b.N - int(g.errs.Load())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := api.WaitSent(ctx, n); err != nil {
		b.Fatalf("the fake API got %d of %d messages: %v", api.SentCount(), n, err)
	}
	b.StopTimer()
	g.report(b, acked)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "delivered/s")
}

// BenchmarkServeFollow measures end to end, load generator included:
// b.N follow callbacks from distinct contacts, 64 at a time, each
// acknowledged after its commit and starting a one-send welcome flow
// whose message must reach the fake API.
//
//	go test ./cmd/wxflow -run '^$' -bench 'ServeFollow$' -benchtime 40000x
func BenchmarkServeFollow(b *testing.B) {
	s, api := benchServer(b)
	const conns = 64
	g := newLoadGen(s.Addr(), conns)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(b.N))
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				g.one()
			}
		}()
	}
	wg.Wait()
	g.finish(b, api, start)
}

// BenchmarkServeFollowPaced sends follow callbacks at a fixed rate
// (WXFLOW_BENCH_RATE per second, default 4000) and reports the
// acknowledgement latency.
//
//	go test ./cmd/wxflow -run '^$' -bench ServeFollowPaced -benchtime 40000x
func BenchmarkServeFollowPaced(b *testing.B) {
	rate := 4000
	if v, err := strconv.Atoi(os.Getenv("WXFLOW_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	s, api := benchServer(b)
	g := newLoadGen(s.Addr(), 256)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	for i := 0; i < b.N; i++ {
		// Open loop: each callback leaves at its time, whatever the
		// earlier ones are doing.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.one()
		}()
	}
	wg.Wait()
	g.finish(b, api, start)
}
