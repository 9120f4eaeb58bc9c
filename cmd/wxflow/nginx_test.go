package main

// The load balancer of docs/scaling.md, run: nginx from Debian's
// packages (.ci/nginx.sh fetches it for CI) in front of three serve nodes
// on one PostgreSQL, with the documentation's own configuration.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
)

// nginxExec is the nginx to run: WXFLOW_NGINX, or nginx on the PATH. The
// test is skipped without one, unless WXFLOW_REQUIRE_NGINX=1 (CI).
func nginxExec(t *testing.T) string {
	t.Helper()
	path := os.Getenv("WXFLOW_NGINX")
	if path == "" {
		path, _ = exec.LookPath("nginx")
	}
	if path == "" {
		if os.Getenv("WXFLOW_REQUIRE_NGINX") == "1" {
			t.Fatal("WXFLOW_REQUIRE_NGINX=1 but no nginx: set WXFLOW_NGINX (.ci/nginx.sh fetches one) or put nginx on the PATH")
		}
		t.Skip("no nginx (set WXFLOW_NGINX, or run .ci/nginx.sh)")
	}
	return path
}

// docNginx is the nginx configuration of docs/scaling.md.
func docNginx(t *testing.T) string { return nginxBlock(t, "scaling.md") }

// nginxBlock is the first ```nginx block of a page of docs/.
func nginxBlock(t *testing.T, page string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```nginx\n")
	conf, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/%s has no ```nginx block", page)
	}
	return conf
}

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestNginxExample: the nginx configuration of docs/scaling.md, in front
// of three nodes: callbacks reach every node; once one node stops, every
// callback is still answered 200 (nginx sends it to another node); and
// every follower gets the welcome once.
func TestNginxExample(t *testing.T) {
	nginx := nginxExec(t)
	database := pgDatabase(t)
	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp(srvAppID, srvSecret)
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "flows"), map[string]string{"welcome.yaml": srvWelcome})
	yml := fmt.Sprintf("listen: 127.0.0.1:0\ndatabase: %q\nflows: flows\ntimezone: UTC\naccounts:\n  - id: main\n    app_id: %s\n    app_secret: ${TEST_SECRET}\n    token: %s\n    original_id: %s\n    api_base: %s\n",
		database, srvAppID, srvToken, srvGhID, api.URL())
	path := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "TEST_SECRET" {
			return srvSecret, true
		}
		return "", false
	}
	var nodes []*server
	for range 3 {
		cfg, err := config.Load(path, env)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newServer(context.Background(), cfg, serverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			s.Close()
			t.Fatal(err)
		}
		nodes = append(nodes, s)
	}

	stopped := make([]bool, len(nodes))
	t.Cleanup(func() {
		for i, s := range nodes {
			if !stopped[i] {
				s.Close()
			}
		}
	})

	// The documentation's configuration, pointed at the nodes.
	conf := docNginx(t)
	i := 0
	conf = regexp.MustCompile(`server 10\.0\.0\.1[1-3]:8080`).ReplaceAllStringFunc(conf, func(string) string {
		i++
		return "server " + nodes[i-1].Addr()
	})
	if i != len(nodes) {
		t.Fatalf("the documentation's upstream has %d servers, want %d", i, len(nodes))
	}
	if !strings.Contains(conf, "listen 80;") {
		t.Fatal("the documentation's server does not listen on port 80")
	}
	base := startNginx(t, nginx, dir, func(port int) string {
		return strings.Replace(conf, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1)
	})

	follow := func(contact string) int { return postTo(t, base, contact) }
	// Nothing else is served: the console is not behind this address.
	if resp, err := http.Get(base + "/flows"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /flows through nginx: %v %v, want 404", resp, err)
	}

	const each = 30
	for n := range each {
		if code := follow(fmt.Sprint("ngx-a", n)); code != http.StatusOK {
			t.Fatalf("follow %d: %d, want 200", n, code)
		}
	}
	for i, s := range nodes {
		st := s.engine.Stats()
		var got uint64
		for _, v := range st.Events {
			got += v
		}
		if got+st.Queued == 0 {
			t.Errorf("node %d received none of %d callbacks: nginx does not spread them", i+1, each)
		}
	}

	// followAll posts each follows at once, and wants every answer 200.
	followAll := func(prefix, after string) {
		t.Helper()
		var wg sync.WaitGroup
		codes := make([]int, each)
		for n := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[n] = follow(fmt.Sprint(prefix, n))
			}()
		}
		wg.Wait()
		for n, code := range codes {
			if code != http.StatusOK {
				t.Errorf("follow %d after %s: %d, want 200", n, after, code)
			}
		}
	}

	// Node 2's engine stops while its server answers: 503, which nginx
	// gives to another node (a POST: non_idempotent).
	nodes[1].engine.Stop()
	if code := postTo(t, "http://"+nodes[1].Addr(), "ngx-direct"); code != http.StatusServiceUnavailable {
		t.Fatalf("a callback to the node whose engine stopped: %d, want 503", code)
	}
	followAll("ngx-b", "a node answered 503")
	// Node 3 stops: its connections are refused.
	nodes[2].Close()
	stopped[2] = true
	followAll("ngx-c", "a node stopped")

	// Every follower is welcomed once, by whichever node holds it now.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := api.WaitSent(ctx, 3*each); err != nil {
		t.Fatalf("welcomes at the fake API: %d of %d: %v", api.SentCount(), 3*each, err)
	}
	seen := map[string]int{}
	for _, m := range api.Sent() {
		seen[m.ToUser]++
	}
	for c, n := range seen {
		if n != 1 {
			t.Errorf("%s was welcomed %d times", c, n)
		}
	}
	if len(seen) != 3*each {
		t.Errorf("%d followers welcomed, want %d", len(seen), 3*each)
	}
}

// startNginx runs nginx with the http block's contents that conf gives
// for a free loopback port, in a folder of dir, until the test ends, and
// returns its base URL once it listens.
func startNginx(t *testing.T, nginx, dir string, conf func(port int) string) string {
	t.Helper()
	port := freePort(t)
	ngx := filepath.Join(dir, "nginx")
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(ngx, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // the workers read the temporary folder, which is root's
	}
	main := fmt.Sprintf(`%sdaemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/logs/error.log;
events { worker_connections 256; }
http {
    access_log %[2]s/logs/access.log;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
%[3]s
}
`, user, ngx, conf(port))
	confPath := filepath.Join(ngx, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", ngx, "-c", confPath, "-e", filepath.Join(ngx, "logs", "error.log"))
	// Its own process group, all stopped at the end: the master and its
	// worker. What it says goes to its error log.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(ngx, "logs", "error.log"))
			t.Fatalf("nginx does not listen within 10 s:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond) // polls nginx's start
	}
	return base
}

// ngxSeq numbers the callbacks' nonces.
var ngxSeq atomic.Int64

// postTo posts a signed follow of contact to the server at base, and
// returns the answer's status (0 when there was none).
func postTo(t *testing.T, base, contact string) int {
	ts, nonce := fmt.Sprint(time.Now().Unix()), fmt.Sprint(5000+ngxSeq.Add(1))
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(srvToken, ts, nonce)}, "openid": {contact}}
	resp, err := http.Post(base+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(followXML(contact, time.Now().Unix())))
	if err != nil {
		t.Errorf("follow of %s: %v", contact, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// docConsoleNginx is the console's nginx block of docs/console.md.
func docConsoleNginx(t *testing.T) string {
	t.Helper()
	conf := nginxBlock(t, "console.md")
	if !strings.Contains(conf, "proxy_pass http://127.0.0.1:8081;") {
		t.Fatal("docs/console.md's ```nginx block does not pass to 127.0.0.1:8081")
	}
	return conf
}

// TestNginxConsoleClients: the console behind docs/console.md's nginx
// block. Two clients connect to nginx from two addresses (127.0.0.2 and
// 127.0.0.3); the first tries wrong tokens until it is throttled, each
// time naming the second in its own X-Forwarded-For. With nginx's
// address in admin.trusted_proxies, the second still logs in; without
// it, every client counts as nginx and the second is locked out too.
func TestNginxConsoleClients(t *testing.T) {
	nginx := nginxExec(t)
	const token = "0123456789abcdef-nginx-console"
	for _, trust := range []bool{true, false} {
		t.Run(fmt.Sprintf("trusted=%v", trust), func(t *testing.T) {
			dir := t.TempDir()
			flowsDir := filepath.Join(dir, "flows")
			writeFiles(t, flowsDir, map[string]string{"welcome.yaml": srvWelcome})
			yml := fmt.Sprintf("sandbox: true\nflows: %q\nadmin:\n  token: %s\n", flowsDir, token)
			if trust {
				yml += "  trusted_proxies: [127.0.0.1]\n"
			}
			cfg, err := config.Parse("wxflow.yaml", []byte(yml), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			console, err := url.Parse(browserServer(t, cfg))
			if err != nil {
				t.Fatal(err)
			}
			block := strings.Replace(docConsoleNginx(t), "http://127.0.0.1:8081", "http://"+console.Host, 1)
			base := startNginx(t, nginx, dir, func(port int) string {
				return fmt.Sprintf("server {\n    listen 127.0.0.1:%d;\n%s}\n", port, block)
			})
			from := func(ip string) *http.Client {
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
				return &http.Client{
					Transport:     &http.Transport{DialContext: d.DialContext},
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
					Timeout:       10 * time.Second,
				}
			}
			login := func(c *http.Client, token, forwarded string) int {
				t.Helper()
				req, err := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"token": {token}, "next": {"/inbox"}}.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if forwarded != "" {
					req.Header.Set("X-Forwarded-For", forwarded)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			first, second := from("127.0.0.2"), from("127.0.0.3")
			for i := range 11 {
				want := http.StatusUnauthorized
				if i == 10 {
					want = http.StatusTooManyRequests
				}
				if got := login(first, "wrong-token-wrong-token", "127.0.0.3"); got != want {
					t.Fatalf("wrong token %d from 127.0.0.2: %d, want %d", i+1, got, want)
				}
			}
			got := login(second, token, "")
			switch {
			case trust && got != http.StatusSeeOther:
				t.Errorf("with nginx trusted, the right token from 127.0.0.3: %d, want 303 (logged in)", got)
			case !trust && got != http.StatusTooManyRequests:
				t.Errorf("with nginx not trusted, the right token from 127.0.0.3: %d, want 429 (one bucket for all behind nginx)", got)
			}
		})
	}
}
