package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// TestServeScrubsEchoedAccessToken: when the API (a proxy set as api_base)
// answers a refused send with an errmsg echoing the request, the message
// is recorded failed with WeChat's errmsg, and neither /api/messages nor
// /messages shows the access token.
func TestServeScrubsEchoedAccessToken(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome}, "admin:\n  listen: localhost:0\n  token: "+srvAdminToken+"\n")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != wechattest.PathSend {
			b.api.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		b.api.ServeHTTP(rec, r)
		var st struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &st) != nil || st.ErrCode == 0 {
			w.Write(rec.Body.Bytes())
			return
		}
		echo, _ := json.Marshal(map[string]any{"errcode": st.ErrCode, "errmsg": fmt.Sprintf("%s (proxy: %s %s %v)",
			st.ErrMsg, r.Method, r.URL.RequestURI(), map[string]string{"access_token": r.URL.Query().Get("access_token")})})
		w.Write(echo)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(b.api.Close) // lets go of held requests before the proxy closes

	// Serve again on the same database, its API behind the proxy.
	cfg := b.s.cfg
	if err := b.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.Accounts[0].APIBase = proxy.URL
	s, err := newServer(context.Background(), cfg, serverOptions{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	b.s, b.url = s, "http://"+s.Addr()
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	b.api.FailNext(wechattest.PathSend, 40003)
	if status, answer := b.post(followXML("o_eve", time.Now().Unix()), false); status != 200 || answer != "success" {
		t.Fatalf("follow: %d %q", status, answer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.s.engine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	token := b.api.CurrentToken(srvAppID)
	if token == "" {
		t.Fatal("no token was issued")
	}
	out := b.outbox()
	if len(out) != 1 || out[0].Code != 40003 || !strings.Contains(out[0].Detail, "invalid openid (proxy: POST ") {
		t.Fatalf("outbox %+v, want one message failed with 40003 and the proxy's errmsg", out)
	}
	if strings.Contains(out[0].Detail, token) {
		t.Errorf("the stored detail shows the access token: %s", out[0].Detail)
	}
	admin := b.s.ConsoleURL()
	for _, p := range []string{"api/messages", "messages"} {
		status, body := get(t, admin+p, srvAdminToken)
		if status != http.StatusOK || !strings.Contains(body, "invalid openid") {
			t.Errorf("GET /%s: %d, want 200 and the errmsg: %.300s", p, status, body)
		}
		for _, secret := range []string{token, srvSecret} {
			if strings.Contains(body, secret) {
				t.Errorf("GET /%s shows a secret", p)
			}
		}
	}
}
