package main

// A database that stops answering without closing its connections (its
// storage hangs, its host is paused): the node answers callbacks 503
// before WeChat gives up, and a stop ends within twice shutdown_timeout
// instead of waiting for ever. Nothing acknowledged is lost.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine/postgres/pgtest"
)

// TestDatabaseStall: serve on PostgreSQL through a proxy that freezes.
// While the database does not answer, a callback is answered 503 before
// WeChat's 5 seconds are up (not acknowledged: WeChat retries it), and a
// stop (SIGTERM) exits 1 within twice shutdown_timeout, saying why,
// where it waited for ever before. Once the database answers again, a
// node started anew takes over: every follower acknowledged before the
// stall, and the one whose callback was refused during it (sent again,
// as WeChat does), is welcomed once.
func TestDatabaseStall(t *testing.T) {
	database := pgDatabase(t)
	proxy, viaProxy := pgtest.NewStall(t, database)
	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp(srvAppID, srvSecret)
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "flows"), map[string]string{"welcome.yaml": srvWelcome})
	t.Setenv("TEST_SECRET", srvSecret)
	config := func(name, database string) string {
		yml := fmt.Sprintf("listen: 127.0.0.1:0\ndatabase: %q\nflows: flows\nshutdown_timeout: 1s\nlog: { format: json }\naccounts:\n  - id: main\n    app_id: %s\n    app_secret: ${TEST_SECRET}\n    token: %s\n    original_id: %s\n    api_base: %s\n",
			database, srvAppID, srvToken, srvGhID, api.URL())
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// serve runs `wxflow serve --config path` until ctx ends, and returns
	// its callback address and its exit code's channel.
	serve := func(ctx context.Context, path string, logs *syncBuffer) (string, chan int) {
		pr, pw := io.Pipe()
		done := make(chan int, 1)
		go func() {
			code := run(ctx, []string{"serve", "--config", path}, pw, logs)
			pw.Close()
			done <- code
		}()
		line, err := bufio.NewReader(pr).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, servingPrefix) {
			t.Fatalf("serve printed %q (%v):\n%s", line, err, logs.String())
		}
		go io.Copy(io.Discard, pr)
		addr, _, _ := strings.Cut(strings.TrimPrefix(line, servingPrefix), " ")
		return "http://" + addr, done
	}
	// follow posts a signed follow as WeChat does: it waits 5 seconds
	// for the answer (0: none came).
	follow := func(base, contact string) int {
		ts, nonce := fmt.Sprint(time.Now().Unix()), fmt.Sprint(7000+ngxSeq.Add(1))
		q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(srvToken, ts, nonce)}, "openid": {contact}}
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Post(base+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(followXML(contact, time.Now().Unix())))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	var logs syncBuffer
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	base, done := serve(ctx, config("stalling.yaml", viaProxy), &logs)
	for _, c := range []string{"stall-a", "stall-b", "stall-c"} {
		if code := follow(base, c); code != http.StatusOK {
			t.Fatalf("follow of %s before the stall: %d, want 200", c, code)
		}
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := api.WaitSent(wctx, 3); err != nil {
		t.Fatalf("welcomes before the stall: %d of 3: %v", api.SentCount(), err)
	}

	proxy.Freeze(true)
	if code := follow(base, "stall-d"); code != http.StatusServiceUnavailable {
		t.Fatalf("a follow while the database does not answer: %d, want 503 within WeChat's 5 s (0: no answer)", code)
	}
	stop() // SIGTERM
	select {
	case code := <-done:
		if code != exitProblems {
			t.Errorf("serve exited %d after a stop it could not finish, want %d", code, exitProblems)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still runs 30 s after SIGTERM with shutdown_timeout 1s while its database does not answer:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "the engine did not stop in time (a send under way, or the database, did not answer)") {
		t.Errorf("serve's log does not say why it exited:\n%s", logs.String())
	}

	// The database answers again; a node starts anew (directly), and
	// WeChat sends stall-d's callback again.
	proxy.Freeze(false)
	var logs2 syncBuffer
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	base2, done2 := serve(ctx2, config("direct.yaml", database), &logs2)
	deadline := time.Now().Add(30 * time.Second)
	for code := follow(base2, "stall-d"); code != http.StatusOK; code = follow(base2, "stall-d") {
		if time.Now().After(deadline) {
			t.Fatalf("stall-d's callback again, after the stall: %d for 30 s:\n%s", code, logs2.String())
		}
		time.Sleep(200 * time.Millisecond) // the new node takes the old one's lanes once its lease ends
	}
	if err := api.WaitSent(wctx, 4); err != nil {
		t.Fatalf("welcomes after the stall: %d of 4: %v", api.SentCount(), err)
	}
	stop2()
	if code := <-done2; code != exitOK {
		t.Errorf("the new node's stop: exit %d:\n%s", code, logs2.String())
	}
	seen := map[string]int{}
	for _, m := range api.Sent() {
		seen[m.ToUser]++
	}
	for _, c := range []string{"stall-a", "stall-b", "stall-c", "stall-d"} {
		if seen[c] != 1 {
			t.Errorf("%s was welcomed %d times, want once", c, seen[c])
		}
	}
}
