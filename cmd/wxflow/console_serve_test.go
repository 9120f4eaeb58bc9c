package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

const srvAdminToken = "admin-token-0123456789abcdef"

// get fetches a URL with the bearer token when token is not "".
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeSandboxDefault: `wxflow serve` in a folder without
// wxflow.yaml runs the sandbox on the example flows, with ./wxflow.db,
// prints the console's address and serves it without a token.
func TestServeSandboxDefault(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "flows", "examples"), os.DirFS(filepath.Join("..", "..", "flows", "examples"))); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb strings.Builder
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"serve", "--listen", "127.0.0.1:0"}, pw, &errb)
		pw.Close()
		done <- code
	}()
	lines := bufio.NewScanner(pr)
	var printed []string
	console := ""
	for lines.Scan() {
		printed = append(printed, lines.Text())
		if u, ok := strings.CutPrefix(lines.Text(), "console: "); ok {
			console = u
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if !strings.HasPrefix(console, "http://127.0.0.1:") || !strings.Contains(printed[0], "sandbox") || !strings.Contains(printed[0], "flows/examples") {
		t.Fatalf("printed %q", printed)
	}
	if status, body := get(t, console+"api/flows", ""); status != http.StatusOK || !strings.Contains(body, `"name": "welcome"`) {
		t.Errorf("GET api/flows: %d %.200s", status, body)
	}
	if status, body := get(t, console+"simulator", ""); status != http.StatusOK || !strings.Contains(body, "Follow") {
		t.Errorf("GET simulator: %d", status)
	}
	if _, err := os.Stat(filepath.Join(dir, "wxflow.db")); err != nil {
		t.Errorf("no ./wxflow.db: %v", err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// TestServeConsoleNeedsToken: with WeChat accounts, the console listens
// on admin.listen only, requires admin.token, and never shows a secret;
// without a token it is off.
func TestServeConsoleNeedsToken(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "admin:\n  listen: localhost:0\n  token: "+srvAdminToken+"\n")
	if status, answer := b.post(followXML("o_amy", time.Now().Unix()), false); status != 200 || answer != "success" {
		t.Fatalf("follow: %d %q", status, answer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.api.WaitSent(ctx, 1); err != nil {
		t.Fatal(err)
	}
	admin := b.s.ConsoleURL()
	if admin == "" || strings.HasPrefix(admin, b.url) {
		t.Fatalf("console at %q, callbacks at %s: want a separate address", admin, b.url)
	}
	if status, _ := get(t, b.url+"/api/flows", srvAdminToken); status != http.StatusNotFound {
		t.Errorf("the callback address serves the API: %d", status)
	}
	secrets := []string{srvSecret, srvToken, srvAdminToken, b.api.CurrentToken(srvAppID)}
	for _, p := range []string{"api/flows", "api/flows/welcome", "api/contacts", "api/contacts/main/o_amy", "api/runs", "api/runs/1", "api/messages", "metrics",
		"flows", "flows/welcome", "contacts", "contacts/main/o_amy", "runs", "runs/1", "messages"} {
		if status, body := get(t, admin+p, ""); status != http.StatusUnauthorized && status != http.StatusSeeOther {
			t.Errorf("GET /%s without the token: %d %.100s", p, status, body)
		}
		status, body := get(t, admin+p, srvAdminToken)
		if status != http.StatusOK {
			t.Errorf("GET /%s: %d %.200s", p, status, body)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) {
				t.Errorf("GET /%s shows a secret", p)
			}
		}
	}
	if _, body := get(t, admin+"metrics", srvAdminToken); !strings.Contains(body, `wxflow_callbacks_total{account="main",type="follow",code="200"} 1`) ||
		!strings.Contains(body, `wxflow_wechat_api_calls_total{account="main",api="`+wechattest.PathSend+`"} 1`) ||
		!strings.Contains(body, `wxflow_token_refreshes_total{account="main"} 1`) {
		t.Errorf("metrics:\n%s", body)
	}

	off := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	if off.s.ConsoleURL() != "" {
		t.Errorf("a config without admin.token serves the console at %s", off.s.ConsoleURL())
	}
	var out strings.Builder
	off.s.printAddresses(&out)
	if !strings.Contains(out.String(), "console: off (set admin.token") {
		t.Errorf("printed %q", out.String())
	}
}

// TestServeSandboxOffLoopbackNeedsToken: a sandbox listening beyond
// loopback gets no open console.
func TestServeSandboxOffLoopbackNeedsToken(t *testing.T) {
	dir := t.TempDir()
	cfg := sandboxConfig()
	cfg.Database = filepath.Join(dir, "wxflow.db")
	cfg.Flows = filepath.Join("..", "..", "flows", "examples")
	cfg.Listen, cfg.Admin.Listen = "0.0.0.0:0", "0.0.0.0:0"
	s, err := newServer(context.Background(), cfg, serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.console != nil {
		t.Errorf("an open console on 0.0.0.0")
	}
	cfg.Admin.Token = srvAdminToken
	cfg.Database = filepath.Join(dir, "other.db")
	s2, err := newServer(context.Background(), cfg, serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.console == nil {
		t.Errorf("no console with a token")
	}
}
