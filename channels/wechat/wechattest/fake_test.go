package wechattest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

const (
	appID  = "wxFAKE0001"
	secret = "fake-secret"
)

// answer is the union of the JSON answers the tests read.
type answer struct {
	ErrCode      int    `json:"errcode"`
	ErrMsg       string `json:"errmsg"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	MediaID      string `json:"media_id"`
	ThumbMediaID string `json:"thumb_media_id"`
	Ticket       string `json:"ticket"`
}

func do(t *testing.T, method, u, ctype string, body []byte) (int, answer) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatalf("answer %q: %v", data, err)
		}
	}
	return resp.StatusCode, a
}

func classicToken(t *testing.T, s *wechattest.Server, id, sec string) answer {
	t.Helper()
	q := url.Values{"grant_type": {"client_credential"}, "appid": {id}, "secret": {sec}}
	_, a := do(t, http.MethodGet, s.URL()+wechattest.PathToken+"?"+q.Encode(), "", nil)
	return a
}

func stableToken(t *testing.T, s *wechattest.Server, force bool) answer {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": appID, "secret": secret, "force_refresh": force})
	_, a := do(t, http.MethodPost, s.URL()+wechattest.PathStableToken, "application/json", b)
	return a
}

func send(t *testing.T, s *wechattest.Server, token, body string) answer {
	t.Helper()
	_, a := do(t, http.MethodPost, s.URL()+wechattest.PathSend+"?access_token="+url.QueryEscape(token), "application/json", []byte(body))
	return a
}

func newServer(t *testing.T) *wechattest.Server {
	s := wechattest.NewServer()
	t.Cleanup(s.Close)
	s.AddApp(appID, secret)
	return s
}

func TestTokens(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	if a := classicToken(t, s, "wxOTHER", secret); a.ErrCode != 40013 {
		t.Errorf("unknown appid: errcode %d, want 40013", a.ErrCode)
	}
	if a := classicToken(t, s, appID, "wrong"); a.ErrCode != 40125 {
		t.Errorf("wrong secret: errcode %d, want 40125", a.ErrCode)
	}
	a := classicToken(t, s, appID, secret)
	if a.ErrCode != 0 || a.AccessToken == "" || a.ExpiresIn != wechattest.TokenLifetime {
		t.Fatalf("classic token: %+v", a)
	}
	if s.CurrentToken(appID) != a.AccessToken {
		t.Errorf("CurrentToken is not the token issued")
	}
	// The stable token is the current one while it is valid.
	if b := stableToken(t, s, false); b.AccessToken != a.AccessToken {
		t.Errorf("stable token %q, want the current %q", b.AccessToken, a.AccessToken)
	}
	c := stableToken(t, s, true)
	if c.AccessToken == a.AccessToken {
		t.Errorf("force_refresh returned the same token")
	}
	if got := s.TokenFetches(); got != 3 {
		t.Errorf("TokenFetches = %d, want 3", got)
	}
	if got := s.ForceRefreshes(); got != 1 {
		t.Errorf("ForceRefreshes = %d, want 1", got)
	}
	// Without StrictTokens, an older token keeps working.
	if r := send(t, s, a.AccessToken, `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`); r.ErrCode != 0 {
		t.Errorf("older token: errcode %d", r.ErrCode)
	}
	s.ExpireTokens()
	if r := send(t, s, c.AccessToken, `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`); r.ErrCode != 42001 {
		t.Errorf("expired token: errcode %d, want 42001", r.ErrCode)
	}
	if d := stableToken(t, s, false); d.AccessToken == c.AccessToken || d.AccessToken == "" {
		t.Errorf("stable token after expiry is %q, want a new one", d.AccessToken)
	}
	if r := send(t, s, "nope", `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`); r.ErrCode != 40001 {
		t.Errorf("unknown token: errcode %d, want 40001", r.ErrCode)
	}
	if r := send(t, s, "", `{}`); r.ErrCode != 41001 {
		t.Errorf("no token: errcode %d, want 41001", r.ErrCode)
	}
}

func TestStrictTokens(t *testing.T) {
	t.Parallel()
	s := wechattest.NewServer()
	defer s.Close()
	s.StrictTokens()
	s.AddApp(appID, secret)
	a := classicToken(t, s, appID, secret)
	b := classicToken(t, s, appID, secret)
	if r := send(t, s, a.AccessToken, `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`); r.ErrCode != 40001 {
		t.Errorf("replaced token: errcode %d, want 40001", r.ErrCode)
	}
	if r := send(t, s, b.AccessToken, `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`); r.ErrCode != 0 {
		t.Errorf("new token: errcode %d", r.ErrCode)
	}
}

func TestSendRecordsAndValidates(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := classicToken(t, s, appID, secret).AccessToken
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"touser":"o1","msgtype":"text","text":{"content":"<a&b>"}}`, 0},
		{`{"touser":"","msgtype":"text","text":{"content":"x"}}`, 40003},
		{`{"touser":"o1","msgtype":"fax","fax":{}}`, 40008},
		{`{"touser":"o1","msgtype":"image"}`, 44002},
		{`{"touser":"o1","msgtype":"text","text":{"content":""}}`, 44004},
		{`not json`, 47001},
	} {
		if a := send(t, s, tok, tc.body); a.ErrCode != tc.code {
			t.Errorf("%s: errcode %d, want %d", tc.body, a.ErrCode, tc.code)
		}
	}
	sent := s.Sent()
	if len(sent) != 1 || s.SentCount() != 1 {
		t.Fatalf("sent %d (count %d), want 1", len(sent), s.SentCount())
	}
	want := wechattest.Sent{AppID: appID, ToUser: "o1", MsgType: "text", Body: json.RawMessage(`{"touser":"o1","msgtype":"text","text":{"content":"<a&b>"}}`)}
	if got := sent[0]; got.AppID != want.AppID || got.ToUser != want.ToUser || got.MsgType != want.MsgType || string(got.Body) != string(want.Body) {
		t.Errorf("sent %+v, want %+v", got, want)
	}
	if got := s.Calls(wechattest.PathSend); got != 6 {
		t.Errorf("Calls = %d, want 6", got)
	}
}

func TestScripting(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := classicToken(t, s, appID, secret).AccessToken
	body := `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`
	s.FailNext(wechattest.PathSend, 45015, 0, -1)
	for i, want := range []int{45015, 0, -1, 0} {
		if a := send(t, s, tok, body); a.ErrCode != want {
			t.Errorf("send %d: errcode %d, want %d", i, a.ErrCode, want)
		}
	}
	if got := s.SentCount(); got != 2 {
		t.Errorf("SentCount = %d, want 2", got)
	}
	// A scripted code waits for a request with a valid token.
	s.FailNext(wechattest.PathSend, 45047)
	if a := send(t, s, "bad", body); a.ErrCode != 40001 {
		t.Errorf("bad token: errcode %d, want 40001", a.ErrCode)
	}
	if a := send(t, s, tok, body); a.ErrCode != 45047 {
		t.Errorf("errcode %d, want 45047", a.ErrCode)
	}
	s.FailHTTP(wechattest.PathSend, 502)
	if status, _ := do(t, http.MethodPost, s.URL()+wechattest.PathSend+"?access_token="+tok, "application/json", []byte(body)); status != 502 {
		t.Errorf("status %d, want 502", status)
	}
	s.FailNext(wechattest.PathToken, -1)
	if a := classicToken(t, s, appID, secret); a.ErrCode != -1 {
		t.Errorf("token errcode %d, want -1", a.ErrCode)
	}
}

func TestHangAbortsWithoutAnswer(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := classicToken(t, s, appID, secret).AccessToken
	s.Hang(wechattest.PathSend)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+wechattest.PathSend+"?access_token="+tok,
			strings.NewReader(`{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if err := s.WaitCalls(context.Background(), wechattest.PathSend, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	if s.SentCount() != 0 || s.Calls(wechattest.PathSend) != 1 {
		t.Errorf("sent %d calls %d, want 0 and 1", s.SentCount(), s.Calls(wechattest.PathSend))
	}
}

func TestHoldAndWaitSent(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := classicToken(t, s, appID, secret).AccessToken
	release := s.Hold(wechattest.PathSend)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			send(t, s, tok, `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`)
		})
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitSent(context.Background(), 5) }()
	release()
	release() // idempotent
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := s.SentCount(); got != 5 {
		t.Errorf("SentCount = %d, want 5", got)
	}
}

func TestCountOnly(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.CountOnly()
	tok := classicToken(t, s, appID, secret).AccessToken
	for range 3 {
		send(t, s, tok, `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`)
	}
	if s.SentCount() != 3 || len(s.Sent()) != 0 {
		t.Errorf("count %d kept %d, want 3 and 0", s.SentCount(), len(s.Sent()))
	}
}

func TestUploadMenuQRCode(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := classicToken(t, s, appID, secret).AccessToken
	upload := func(kind, name string, size int) answer {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		part, _ := w.CreateFormFile("media", name)
		part.Write(bytes.Repeat([]byte{1}, size))
		w.Close()
		_, a := do(t, http.MethodPost, s.URL()+wechattest.PathUpload+"?type="+kind+"&access_token="+tok, w.FormDataContentType(), buf.Bytes())
		return a
	}
	if a := upload("image", "a.png", 10); a.ErrCode != 0 || a.MediaID == "" {
		t.Errorf("image upload: %+v", a)
	}
	if a := upload("thumb", "t.jpg", 10); a.ErrCode != 0 || a.ThumbMediaID == "" {
		t.Errorf("thumb upload: %+v", a)
	}
	if a := upload("thumb", "t.jpg", 65<<10); a.ErrCode != 40006 {
		t.Errorf("large thumb: errcode %d, want 40006", a.ErrCode)
	}
	if a := upload("voice", "v.wav", 10); a.ErrCode != 40005 {
		t.Errorf("wav voice: errcode %d, want 40005", a.ErrCode)
	}
	if a := upload("sticker", "s.png", 10); a.ErrCode != 40004 {
		t.Errorf("unknown type: errcode %d, want 40004", a.ErrCode)
	}
	if up := s.Uploads(); len(up) != 2 || up[0].Type != "image" || up[0].Filename != "a.png" || up[0].Size != 10 {
		t.Errorf("uploads %+v", up)
	}

	menu := `{"button":[{"type":"click","name":"A","key":"a"}]}`
	if _, a := do(t, http.MethodPost, s.URL()+wechattest.PathMenu+"?access_token="+tok, "application/json", []byte(menu)); a.ErrCode != 0 {
		t.Errorf("menu: %+v", a)
	}
	if _, a := do(t, http.MethodPost, s.URL()+wechattest.PathMenu+"?access_token="+tok, "application/json", []byte(`{"button":[]}`)); a.ErrCode != 40016 {
		t.Errorf("empty menu: errcode %d, want 40016", a.ErrCode)
	}
	if m := s.Menus(); len(m) != 1 || string(m[0].Body) != menu || m[0].AppID != appID {
		t.Errorf("menus %+v", m)
	}

	qr := `{"expire_seconds":600,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"s1"}}}`
	if _, a := do(t, http.MethodPost, s.URL()+wechattest.PathQRCode+"?access_token="+tok, "application/json", []byte(qr)); a.ErrCode != 0 || a.Ticket == "" {
		t.Errorf("qrcode: %+v", a)
	}
	if _, a := do(t, http.MethodPost, s.URL()+wechattest.PathQRCode+"?access_token="+tok, "application/json", []byte(`{"action_name":"QR_STR_SCENE"}`)); a.ErrCode != 40053 {
		t.Errorf("qrcode without scene: errcode %d, want 40053", a.ErrCode)
	}
	if q := s.QRCodes(); len(q) != 1 || string(q[0].Body) != qr {
		t.Errorf("qrcodes %+v", q)
	}
	if status, _ := do(t, http.MethodGet, s.URL()+"/cgi-bin/nothing", "", nil); status != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", status)
	}
}

func TestWaitSentEndsWithContextOrClose(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitSent(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitSent(context.Background(), 1) }()
	s.Close()
	if err := <-done; err == nil {
		t.Error("WaitSent returned nil after Close")
	}
	s.Close() // idempotent
}
