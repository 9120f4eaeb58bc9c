package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
)

const (
	srvAppID  = "wx0123456789abcdef"
	srvSecret = "s3cr3t-app-secret-value"
	srvToken  = "tok3nABC"
	srvAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	srvGhID   = "gh_0123456789ab"
)

const srvWelcome = `name: welcome
triggers: [follow]
steps:
  - send: "Welcome to the shop!"
`

// srvBundle is a `wxflow serve` running in the test process against a
// fake WeChat API, both on loopback.
type srvBundle struct {
	t     *testing.T
	api   *wechattest.Server
	s     *server
	dir   string
	flows string
	url   string
	seq   atomic.Int64
}

// srvStart writes a config and flows into a temporary folder and starts
// serve on it. extra is added to the account's keys.
func srvStart(t *testing.T, files map[string]string, extra string) *srvBundle {
	t.Helper()
	return srvStartLogged(t, files, extra, nil)
}

// srvStartLogged is srvStart with the server's log going to logger (nil:
// none).
func srvStartLogged(t *testing.T, files map[string]string, extra string, logger *slog.Logger) *srvBundle {
	t.Helper()
	api := wechattest.NewServer()
	t.Cleanup(api.Close)
	api.AddApp(srvAppID, srvSecret)
	dir := t.TempDir()
	b := &srvBundle{t: t, api: api, dir: dir, flows: filepath.Join(dir, "flows")}
	if err := os.MkdirAll(b.flows, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		b.writeFlow(name, src)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
database: wxflow.db
flows: flows
timezone: UTC
accounts:
  - id: main
    app_id: %s
    app_secret: ${TEST_SECRET}
    token: ${TEST_TOKEN}
    original_id: %s
    api_base: %s
%s`, srvAppID, srvGhID, api.URL(), extra)
	path := filepath.Join(dir, "wxflow.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TEST_SECRET": srvSecret, "TEST_TOKEN": srvToken, "TEST_AES": srvAESKey}
	c, err := config.Load(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), c, serverOptions{Synchronous: "NORMAL", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	b.s = s
	b.url = "http://" + s.Addr()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return b
}

// settled waits until the server's engine is done with what it has,
// its first rounds after the start included: until the dispatcher first
// read the store for messages left unsent (the backlog after a start), a
// callback gets no passive reply, since one of its contact's messages
// might still be on its way (under load, a test's first callback came
// before that read and was answered "success").
func (b *srvBundle) settled() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.s.engine.Sync(ctx); err != nil {
		b.t.Fatal(err)
	}
}

// aesKeyLine is the account's aes_key setting for safe-mode tests.
func aesKeyLine(aes bool) string {
	if aes {
		return "    aes_key: ${TEST_AES}\n"
	}
	return ""
}

func (b *srvBundle) writeFlow(name, src string) {
	b.t.Helper()
	if err := os.WriteFile(filepath.Join(b.flows, name), []byte(src), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// callbackXML is a plain callback body from contact.
func callbackXML(contact string, at int64, fields string) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime>%s</xml>", srvGhID, contact, at, fields)
}

func followXML(contact string, at int64) string {
	return callbackXML(contact, at, "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>")
}

func textXML(contact string, at int64, msgID int64, text string) string {
	return callbackXML(contact, at, fmt.Sprintf("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId>", text, msgID))
}

// post sends a signed callback, encrypted in safe mode when aes is set,
// and returns the status and the answer.
func (b *srvBundle) post(body string, aes bool) (int, string) {
	b.t.Helper()
	ts := fmt.Sprint(time.Now().Unix())
	nonce := fmt.Sprint(1000 + b.seq.Add(1))
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(srvToken, ts, nonce)}, "openid": {"x"}}
	if aes {
		c, err := wechat.NewCipher(srvAESKey, srvAppID)
		if err != nil {
			b.t.Fatal(err)
		}
		enc, err := c.EncryptMessage([]byte(body))
		if err != nil {
			b.t.Fatal(err)
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wechat.Signature(srvToken, ts, nonce, enc))
		body = fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>", srvGhID, enc)
	}
	resp, err := http.Post(b.url+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (b *srvBundle) waitSent(n int) []wechattest.Sent {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.api.WaitSent(ctx, n); err != nil {
		b.t.Fatalf("waiting for %d messages at the fake API (got %d): %v", n, b.api.SentCount(), err)
	}
	if err := b.s.engine.Sync(ctx); err != nil {
		b.t.Fatal(err)
	}
	return b.api.Sent()
}

func (b *srvBundle) outbox() []*engine.OutboxEntry {
	b.t.Helper()
	var out []*engine.OutboxEntry
	err := b.s.store.View(context.Background(), func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Outbox(engine.OutboxFilter{})
		return err
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

func sentText(t *testing.T, s wechattest.Sent) string {
	t.Helper()
	var body struct {
		Text struct{ Content string } `json:"text"`
	}
	if err := json.Unmarshal(s.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Text.Content
}

func TestServeFollowReachesTheAPIOnceDespiteRetries(t *testing.T) {
	for _, aes := range []bool{false, true} {
		t.Run(fmt.Sprintf("aes=%v", aes), func(t *testing.T) {
			b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, aesKeyLine(aes))
			body := followXML("o_alice", time.Now().Unix())
			for i := 0; i < 3; i++ { // WeChat tries a callback three times
				status, answer := b.post(body, aes)
				if status != 200 || answer != "success" {
					t.Fatalf("try %d: %d %q, want 200 success", i, status, answer)
				}
			}
			sent := b.waitSent(1)
			if len(sent) != 1 || sent[0].ToUser != "o_alice" || sentText(t, sent[0]) != "Welcome to the shop!" {
				t.Fatalf("the API got %+v", sent)
			}
			out := b.outbox()
			if len(out) != 1 || out[0].Status != engine.OutboxSent {
				t.Fatalf("outbox %+v", out)
			}
		})
	}
}

func TestServeRejectsBadCallbacksAndStoresNothing(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	ts := fmt.Sprint(time.Now().Unix())
	good := url.Values{"timestamp": {ts}, "nonce": {"1"}, "signature": {wechat.Signature(srvToken, ts, "1")}}
	bad := url.Values{"timestamp": {ts}, "nonce": {"1"}, "signature": {strings.Repeat("0", 40)}}
	old := fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())
	stale := url.Values{"timestamp": {old}, "nonce": {"1"}, "signature": {wechat.Signature(srvToken, old, "1")}}
	cases := []struct {
		name, path string
		q          url.Values
		body       string
		want       int
	}{
		{"bad signature", "/wechat/main", bad, followXML("o_x", 1), 403},
		{"stale timestamp", "/wechat/main", stale, followXML("o_x", 1), 403},
		{"unknown account", "/wechat/other", good, followXML("o_x", 1), 400},
		{"malformed XML", "/wechat/main", good, "<xml><FromUserName>", 400},
		{"too large", "/wechat/main", good, "<xml>" + strings.Repeat("a", 1<<20) + "</xml>", 413},
	}
	for _, c := range cases {
		resp, err := http.Post(b.url+c.path+"?"+c.q.Encode(), "text/xml", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	err := b.s.store.View(context.Background(), func(tx engine.ReadTx) error {
		n, err := tx.Counts()
		if n["events"] != 0 || n["contacts"] != 0 {
			t.Errorf("rejected callbacks stored something: %v", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The URL check.
	echo := url.Values{"timestamp": {ts}, "nonce": {"1"}, "signature": {wechat.Signature(srvToken, ts, "1")}, "echostr": {"4242abc"}}
	resp, err := http.Get(b.url + "/wechat/main?" + echo.Encode())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "4242abc" {
		t.Errorf("URL check: %d %q", resp.StatusCode, got)
	}
}

func TestServePassiveReply(t *testing.T) {
	flows := map[string]string{"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: "Hello!"
  - send: "Second"
`}
	for _, aes := range []bool{false, true} {
		t.Run(fmt.Sprintf("aes=%v", aes), func(t *testing.T) {
			b := srvStart(t, flows, "    passive_reply: true\n"+aesKeyLine(aes))
			b.settled()
			status, answer := b.post(followXML("o_bob", time.Now().Unix()), aes)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			reply := []byte(answer)
			if aes {
				env, err := wechat.ParseCallback(reply)
				if err != nil {
					t.Fatalf("encrypted answer %q: %v", answer, err)
				}
				c, _ := wechat.NewCipher(srvAESKey, srvAppID)
				if reply, err = c.Decrypt(env.Encrypt); err != nil {
					t.Fatal(err)
				}
			}
			cb, err := wechat.ParseCallback(reply)
			if err != nil {
				t.Fatalf("answer %q: %v", reply, err)
			}
			if cb.ToUserName != "o_bob" || cb.FromUserName != srvGhID || cb.MsgType != "text" || cb.Content != "Hello!" {
				t.Fatalf("passive reply %+v", cb)
			}
			sent := b.waitSent(1)
			if len(sent) != 1 || sentText(t, sent[0]) != "Second" {
				t.Fatalf("the API got %+v, want only the second message", sent)
			}
			out := b.outbox()
			if len(out) != 2 || out[0].Status != engine.OutboxSent || out[0].Detail != engine.PassiveDetail {
				t.Fatalf("outbox %+v", out)
			}
		})
	}
}

func TestServeWindowClosedByTheAPI(t *testing.T) {
	b := srvStart(t, map[string]string{"echo.yaml": `name: echo
triggers:
  - keyword: [hi]
steps:
  - send: "one"
  - send: "two"
`}, "")
	b.api.FailNext(wechattest.PathSend, 45015)
	now := time.Now().Unix()
	if status, _ := b.post(textXML("o_carol", now, 1, "hi"), false); status != 200 {
		t.Fatal(status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.api.WaitCalls(ctx, wechattest.PathSend, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.s.engine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	out := b.outbox()
	if len(out) != 2 || out[0].Status != engine.OutboxFailed || out[0].Code != 45015 || out[0].Reason != "window_closed" {
		t.Fatalf("outbox %+v", out)
	}
	// The flow's second message, sent in the same round, is not sent to
	// be refused again.
	if o := out[1]; o.Status != engine.OutboxFailed || o.Code != 0 || o.Reason != "window_closed" || !strings.Contains(o.Detail, "WeChat refused an earlier message") {
		t.Fatalf("the second message %+v, want failed here", o)
	}
	if n := b.api.Calls(wechattest.PathSend); n != 1 {
		t.Fatalf("%d sends reached the API, want 1", n)
	}
	// The next message is refused locally: the session is closed.
	if status, _ := b.post(textXML("o_carol", now, 1, "hi"), false); status != 200 { // a retry: nothing new
		t.Fatal(status)
	}
	if err := b.s.engine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b.outbox()); n != 2 {
		t.Fatalf("a retried callback started the flow again: %d messages", n)
	}
}

func TestServeReloadKeepsLastGoodFlows(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	// A broken edit: the running flows stay.
	b.writeFlow("welcome.yaml", "name: welcome\ntriggers: [follow]\nsteps:\n  - sned: oops\n")
	b.s.Reload(true)
	b.post(followXML("o_dan", time.Now().Unix()), false)
	if got := sentText(t, b.waitSent(1)[0]); got != "Welcome to the shop!" {
		t.Fatalf("after a broken edit the flow sent %q", got)
	}
	// A good edit, noticed by the file check.
	b.writeFlow("welcome.yaml", strings.Replace(srvWelcome, "Welcome to the shop!", "Hi again", 1))
	future := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(b.flows, "welcome.yaml"), future, future)
	b.s.Reload(false)
	b.post(followXML("o_erin", time.Now().Unix()), false)
	if got := sentText(t, b.waitSent(2)[1]); got != "Hi again" {
		t.Fatalf("after a good edit the flow sent %q", got)
	}
}

// TestServeReloadWithoutTheFolder: a flows folder that cannot be read
// is logged once, not at every look, and the flows keep running; one
// without flows is loaded with a warning. Before, a renamed folder
// logged an error every second and an emptied one unloaded every flow
// in silence.
func TestServeReloadWithoutTheFolder(t *testing.T) {
	var logs syncBuffer
	b := srvStartLogged(t, map[string]string{"welcome.yaml": srvWelcome}, "", slog.New(slog.NewTextHandler(&logs, nil)))
	if err := os.Rename(b.flows, b.flows+".moved"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		b.s.Reload(false)
	}
	if n := strings.Count(logs.String(), "reload flows: keeping the flows running"); n != 1 {
		t.Fatalf("the missing folder was logged %d times, want once:\n%s", n, logs.String())
	}
	b.post(followXML("o_dan", time.Now().Unix()), false)
	if got := sentText(t, b.waitSent(1)[0]); got != "Welcome to the shop!" {
		t.Fatalf("without the folder the flow sent %q", got)
	}
	if err := os.Rename(b.flows+".moved", b.flows); err != nil {
		t.Fatal(err)
	}
	b.s.Reload(false)
	if !strings.Contains(logs.String(), "the flows folder can be read again") {
		t.Fatalf("the folder's return is not logged:\n%s", logs.String())
	}
	if err := os.Remove(filepath.Join(b.flows, "welcome.yaml")); err != nil {
		t.Fatal(err)
	}
	b.s.Reload(false)
	if !strings.Contains(logs.String(), "level=WARN msg=\"flows reloaded: the flows folder holds no flow") {
		t.Fatalf("an emptied folder is not warned of:\n%s", logs.String())
	}
}

// TestServeReloadRetriesWhenTheStoreRefuses: a reload the store refused
// (the database locked or away) is tried again at the next look, though
// no file changed since. Before, the look had already taken the files'
// fingerprint: the new flows were never loaded until the next edit or
// SIGHUP, while the old ones ran (found by failing the store's write of
// the new version under serve).
func TestServeReloadRetriesWhenTheStoreRefuses(t *testing.T) {
	var logs syncBuffer
	b := srvStartLogged(t, map[string]string{"welcome.yaml": srvWelcome}, "", slog.New(slog.NewTextHandler(&logs, nil)))
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(b.dir, "wxflow.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER test_refuse BEFORE INSERT ON flow_versions BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	b.writeFlow("welcome.yaml", strings.Replace(srvWelcome, "Welcome to the shop!", "Hi again", 1))
	b.s.Reload(false)
	b.s.Reload(false)
	if n := strings.Count(logs.String(), "refused by the test"); n != 1 {
		t.Fatalf("the refused load was logged %d times, want once:\n%s", n, logs.String())
	}
	b.post(followXML("o_dan", time.Now().Unix()), false)
	if got := sentText(t, b.waitSent(1)[0]); got != "Welcome to the shop!" {
		t.Fatalf("while the store refused the reload the flow sent %q", got)
	}
	if _, err := db.Exec(`DROP TRIGGER test_refuse`); err != nil {
		t.Fatal(err)
	}
	b.s.Reload(false) // no file changed since the refused load
	b.post(followXML("o_erin", time.Now().Unix()), false)
	if got := sentText(t, b.waitSent(2)[1]); got != "Hi again" {
		t.Fatalf("once the store took writes again the flow sent %q", got)
	}
}

// TestServeReloadFollowsLinkedFiles: a flow file that is a symbolic link
// (a Kubernetes ConfigMap's files are links through its ..data link,
// which an update moves to a new folder) reloads when the file it leads
// to changes. Before, the file check looked at the link itself, which
// an update leaves as it is: the change was never loaded (found by
// editing a linked flow under serve: only SIGHUP loaded it).
func TestServeReloadFollowsLinkedFiles(t *testing.T) {
	b := srvStart(t, nil, "")
	// As a ConfigMap: flows/welcome.yaml -> ..data/welcome.yaml, and
	// ..data -> the folder of the current version.
	v1, v2 := filepath.Join(b.flows, "..v1"), filepath.Join(b.flows, "..v2")
	for dir, text := range map[string]string{v1: "Welcome to the shop!", v2: "Hi again"} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "welcome.yaml"), []byte(strings.Replace(srvWelcome, "Welcome to the shop!", text, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The update's file is older than the first, as a copy that keeps
	// its time would be.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(v2, "welcome.yaml"), old, old)
	data := filepath.Join(b.flows, "..data")
	if err := os.Symlink("..v1", data); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "welcome.yaml"), filepath.Join(b.flows, "welcome.yaml")); err != nil {
		t.Fatal(err)
	}
	b.s.Reload(false)
	b.post(followXML("o_dan", time.Now().Unix()), false)
	if got := sentText(t, b.waitSent(1)[0]); got != "Welcome to the shop!" {
		t.Fatalf("the linked flow sent %q", got)
	}
	// The update: ..data moves to the new folder, as the kubelet does it.
	if err := os.Symlink("..v2", data+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(data+".tmp", data); err != nil {
		t.Fatal(err)
	}
	b.s.Reload(false)
	b.post(followXML("o_erin", time.Now().Unix()), false)
	if got := sentText(t, b.waitSent(2)[1]); got != "Hi again" {
		t.Fatalf("after the linked file changed the flow sent %q", got)
	}
}

func TestServeHealthzAndGracefulStop(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	resp, err := http.Get(b.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	b.post(followXML("o_fay", time.Now().Unix()), false)
	b.waitSent(1)
	if err := b.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(b.url + "/healthz"); err == nil {
		t.Fatal("the server still answers after Shutdown")
	}
}

func TestServeCommandRefusesBrokenFlowsAndBadConfig(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--config", filepath.Join(dir, "none.yaml")}, &out, &errb); code != exitUsage {
		t.Errorf("missing config: exit %d, want %d (%s)", code, exitUsage, errb.String())
	}
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	os.WriteFile(filepath.Join(dir, "flows", "bad.yaml"), []byte("name: bad\nsteps:\n  - sned: x\n"), 0o644)
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nflows: flows\naccounts:\n  - id: main\n    app_id: %s\n    app_secret: %s\n    token: %s\n", srvAppID, srvSecret, srvToken)
	os.WriteFile(filepath.Join(dir, "wxflow.yaml"), []byte(cfg), 0o644)
	errb.Reset()
	if code := run(context.Background(), []string{"serve", "--config", filepath.Join(dir, "wxflow.yaml")}, &out, &errb); code != exitProblems {
		t.Errorf("broken flows: exit %d, want %d", code, exitProblems)
	}
	if !strings.Contains(errb.String(), "bad.yaml:3:") {
		t.Errorf("the error does not point at the flow: %s", errb.String())
	}
	if strings.Contains(errb.String()+out.String(), srvSecret) {
		t.Errorf("the output shows the app secret")
	}
}

// restart stops the server and starts a new one on the same folder,
// database and fake API, as a restart of the process would.
func (b *srvBundle) restart() {
	b.t.Helper()
	cfg := b.s.cfg
	if err := b.s.Shutdown(context.Background()); err != nil {
		b.t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, serverOptions{Synchronous: "NORMAL"})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.s = s
	b.url = "http://" + s.Addr()
	b.t.Cleanup(func() { s.Shutdown(context.Background()) })
}

func TestServeTokensSurviveRestartAndExpiredTokensRefresh(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	b.post(followXML("o_gus", time.Now().Unix()), false)
	b.waitSent(1)
	b.restart()
	b.post(followXML("o_hal", time.Now().Unix()), false)
	b.waitSent(2)
	if n := b.api.TokenFetches(); n != 1 {
		t.Fatalf("%d token fetches across a restart, want 1 (the stored token is reused)", n)
	}
	// WeChat expires the token: the send refreshes it once and goes out.
	b.api.ExpireTokens()
	b.post(followXML("o_ida", time.Now().Unix()), false)
	b.waitSent(3)
	if n := b.api.TokenFetches(); n != 2 {
		t.Fatalf("%d token fetches after the token expired, want 2", n)
	}
	// System busy twice, then accepted: retried, sent once.
	b.api.FailNext(wechattest.PathSend, -1, -1)
	b.post(followXML("o_jo", time.Now().Unix()), false)
	sent := b.waitSent(4)
	if len(sent) != 4 || sent[3].ToUser != "o_jo" {
		t.Fatalf("the API got %d messages, last %+v", len(sent), sent[len(sent)-1])
	}
	for _, o := range b.outbox() {
		if o.Status != engine.OutboxSent {
			t.Errorf("message to %s: %s %s %d", o.Contact, o.Status, o.Reason, o.Code)
		}
	}
}

// TestServeAccountOfAnotherAppIDFetchesItsOwnToken: an account whose
// app_id changed between two starts (a test account replaced by the real
// one, under the same id) sends with a token of its new app, never with
// the one the store kept for the app it had before (its sends reached
// WeChat as the old app's until that token expired).
func TestServeAccountOfAnotherAppIDFetchesItsOwnToken(t *testing.T) {
	const newAppID, newSecret = "wxfedcba9876543210", "the-new-app-secret"
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	b.api.AddApp(newAppID, newSecret)
	b.post(followXML("o_gus", time.Now().Unix()), false)
	b.waitSent(1)
	b.s.cfg.Accounts[0].AppID, b.s.cfg.Accounts[0].AppSecret = newAppID, newSecret
	b.restart()
	b.post(followXML("o_hal", time.Now().Unix()), false)
	sent := b.waitSent(2)
	if sent[0].AppID != srvAppID || sent[1].AppID != newAppID {
		t.Fatalf("sent with the tokens of %s and %s, want %s then %s", sent[0].AppID, sent[1].AppID, srvAppID, newAppID)
	}
}

func TestServeCommandRunsUntilCancelled(t *testing.T) {
	api := wechattest.NewServer()
	defer api.Close()
	api.AddApp(srvAppID, srvSecret)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	os.WriteFile(filepath.Join(dir, "flows", "welcome.yaml"), []byte(srvWelcome), 0o644)
	t.Setenv("TEST_SECRET", srvSecret)
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nflows: flows\nlog: { format: json }\naccounts:\n  - id: main\n    app_id: %s\n    app_secret: ${TEST_SECRET}\n    token: %s\n    api_base: %s\n", srvAppID, srvToken, api.URL())
	path := filepath.Join(dir, "wxflow.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"serve", "--config", path}, pw, &errb)
		pw.Close()
		done <- code
	}()
	line := make([]byte, 256)
	n, err := pr.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := strings.Fields(strings.TrimPrefix(string(line[:n]), servingPrefix))[0]
	b := &srvBundle{t: t, api: api, url: "http://" + addr}
	if status, answer := b.post(followXML("o_kim", time.Now().Unix()), false); status != 200 || answer != "success" {
		t.Fatalf("%d %q", status, answer)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := api.WaitSent(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel() // SIGTERM
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	logs := errb.String()
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("no JSON log line for the stop:\n%s", logs)
	}
	if strings.Contains(logs, srvSecret) || strings.Contains(logs, api.CurrentToken(srvAppID)) {
		t.Errorf("the logs show a secret:\n%s", logs)
	}
}

// TestServeGracefulStopRecordsSendsUnderWay: a stop while a message is
// at the API waits for the answer and records the message as sent, not
// unknown.
func TestServeGracefulStopRecordsSendsUnderWay(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	release := b.api.Hold(wechattest.PathSend)
	defer release()
	b.post(followXML("o_lee", time.Now().Unix()), false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.api.WaitCalls(ctx, wechattest.PathSend, 1); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- b.s.Shutdown(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while a send was under way", err)
	default:
	}
	release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(b.dir, "wxflow.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(context.Background(), func(tx engine.ReadTx) error {
		out, err := tx.Outbox(engine.OutboxFilter{})
		if len(out) != 1 || out[0].Status != engine.OutboxSent {
			t.Errorf("after a graceful stop the outbox is %+v, want one sent message", out)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestServeLateRetryOfAnOlderClickKeepsTheMessagesQuota: the contact
// clicked a menu item, then wrote; the click's callback got no answer in
// time and WeChat's retry of it arrives after the message. The message is
// the contact's last interaction (WECHAT.md: each new one resets the
// window and the count to its kind's): 5 replies, not the 3 of a click.
func TestServeLateRetryOfAnOlderClickKeepsTheMessagesQuota(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "")
	b.settled()
	now := time.Now().Unix()
	if status, answer := b.post(textXML("o_dora", now, 77, "hello?"), false); status != 200 || answer != "success" {
		t.Fatalf("message: %d %q", status, answer)
	}
	click := callbackXML("o_dora", now-4, "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[NOTHING]]></EventKey>")
	if status, answer := b.post(click, false); status != 200 || answer != "success" {
		t.Fatalf("click: %d %q", status, answer)
	}
	ref := engine.ContactRef{Account: "main", ID: "o_dora"}
	for i := 1; i <= 5; i++ {
		_, err := b.s.engine.Act(context.Background(), ref, engine.Action{Kind: engine.ActReply, Message: &channels.Message{Type: "text", Text: fmt.Sprint("reply ", i)}})
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	_, err := b.s.engine.Act(context.Background(), ref, engine.Action{Kind: engine.ActReply, Message: &channels.Message{Type: "text", Text: "reply 6"}})
	if !errors.Is(err, channels.ErrQuotaExhausted) {
		t.Fatalf("reply 6: %v, want quota_exhausted", err)
	}
	b.waitSent(5)
}

// TestFlowsFingerprintSeesAReplacedFile: a flow file replaced by another
// of the same size and modification time (written beside it and renamed
// over it, as editors and deploy tools do) is noticed; the watch compared
// names, sizes and modification times only, and kept the old flows.
func TestFlowsFingerprintSeesAReplacedFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "welcome.yaml")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write(file, "name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Hello\"\n")
	before, err := flowsFingerprint(dir)
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(t.TempDir(), "welcome.yaml")
	write(next, "name: welcome\ntriggers: [follow]\nsteps:\n  - send: \"Howdy\"\n")
	if err := os.Rename(next, file); err != nil {
		t.Fatal(err)
	}
	after, err := flowsFingerprint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Fatal("the fingerprint did not change when the file was replaced")
	}
}

// TestShortSecretsAreWarnedOf: a secret of fewer than 8 characters is
// warned of by name at start (its text is redacted wherever it stands in
// what calls give back, inside numbers too), never with its value.
func TestShortSecretsAreWarnedOf(t *testing.T) {
	var logs syncBuffer
	warnShortSecrets(slog.New(slog.NewTextHandler(&logs, nil)), config.SecretValues{"PIN": "1234", "TOKEN": "a-long-enough-token"})
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "secret PIN is shorter than 8 characters") {
		t.Fatalf("the short secret is not warned of:\n%s", out)
	}
	if strings.Contains(out, "TOKEN") || strings.Contains(out, "1234") {
		t.Fatalf("the warning names a long secret or shows a value:\n%s", out)
	}
}
