package wechattest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The paths the server answers.
const (
	PathToken       = "/cgi-bin/token"
	PathStableToken = "/cgi-bin/stable_token"
	PathSend        = "/cgi-bin/message/custom/send"
	PathUpload      = "/cgi-bin/media/upload"
	PathMenu        = "/cgi-bin/menu/create"
	PathQRCode      = "/cgi-bin/qrcode/create"
)

// TokenLifetime is the expires_in of the tokens the server issues, in
// seconds.
const TokenLifetime = 7200

// Sent is a customer-service message the server accepted.
type Sent struct {
	// AppID is the account the token belongs to.
	AppID   string
	ToUser  string
	MsgType string
	// Body is the request's JSON as it arrived.
	Body json.RawMessage
}

// Upload is a temporary media file the server accepted.
type Upload struct {
	AppID    string
	Type     string
	MediaID  string
	Filename string
	Size     int
}

// Recorded is a request the server accepted: a menu or a QR code.
type Recorded struct {
	AppID string
	Body  json.RawMessage
}

// fakeToken is the state of one issued token.
type fakeToken struct {
	appID   string
	expired bool // answers 42001
	invalid bool // answers 40001
}

// Server is a fake WeChat API server. Its methods are safe for concurrent
// use; scripting methods affect the requests that arrive after them.
type Server struct {
	ts        *httptest.Server
	closed    chan struct{}
	closeOnce sync.Once

	mu           sync.Mutex
	apps         map[string]string
	tokens       map[string]*fakeToken
	current      map[string]string
	seq          int64
	calls        map[string]int
	failNext     map[string][]int
	failHTTP     map[string][]int
	hangNext     map[string]int
	holds        map[string]chan struct{}
	delay        time.Duration
	tokenFetches int
	forced       int
	countOnly    bool
	strict       bool
	sent         []Sent
	sentCount    int
	waiters      []sentWaiter
	callWaiters  []callWaiter
	uploads      []Upload
	menus        []Recorded
	qrcodes      []Recorded
	omitQRExpiry bool
}

// sentWaiter is a WaitSent call waiting for n messages.
type sentWaiter struct {
	n  int
	ch chan struct{}
}

// callWaiter is a WaitCalls call waiting for n requests to path.
type callWaiter struct {
	path string
	n    int
	ch   chan struct{}
}

// NewServer starts a fake server on the loopback interface. Close it when
// done.
func NewServer() *Server {
	s := &Server{
		closed:   make(chan struct{}),
		apps:     map[string]string{},
		tokens:   map[string]*fakeToken{},
		current:  map[string]string{},
		calls:    map[string]int{},
		failNext: map[string][]int{},
		failHTTP: map[string][]int{},
		hangNext: map[string]int{},
		holds:    map[string]chan struct{}{},
	}
	s.ts = httptest.NewServer(s)
	return s
}

// URL returns the server's base address, for ClientConfig.APIBase.
func (s *Server) URL() string { return s.ts.URL }

// Close releases every request the server holds and shuts it down. It is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.ts.Close()
	})
}

// StrictTokens makes each new token invalidate the account's previous
// token at once (WeChat keeps it valid about 5 more minutes), so that a
// client still using it gets 40001.
func (s *Server) StrictTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strict = true
}

// AddApp registers an account's credentials: token requests must carry
// them.
func (s *Server) AddApp(appID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = secret
}

// CurrentToken returns the last token issued to an account ("" if none).
func (s *Server) CurrentToken(appID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current[appID]
}

// ExpireTokens makes every token issued so far answer 42001 (expired).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.expired = true
	}
}

// TokenFetches returns how many tokens the server handed out, on either
// token path.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenFetches
}

// ForceRefreshes returns how many stable_token requests asked for
// force_refresh (WeChat allows 20 a day).
func (s *Server) ForceRefreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forced
}

// Calls returns how many requests arrived for path, whatever the answer.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// FailNext makes the next requests to path answer with these errcodes, in
// order, one request each; 0 answers normally. For paths that need an
// access token, only requests whose token is valid take a code.
func (s *Server) FailNext(path string, errcodes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[path] = append(s.failNext[path], errcodes...)
}

// FailHTTP makes the next requests to path answer with these HTTP
// statuses (5xx, say), in order, one request each, without a JSON body.
func (s *Server) FailHTTP(path string, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failHTTP[path] = append(s.failHTTP[path], statuses...)
}

// Hang makes the next request to path get no answer at all: the server
// holds it until the client gives up or the server closes.
func (s *Server) Hang(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangNext[path]++
}

// Hold holds every request to path, from now on, until release is called
// (or the client gives up, or the server closes); then they are answered
// normally. release is idempotent.
func (s *Server) Hold(path string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.holds[path] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds[path] == ch {
				delete(s.holds, path)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Delay makes every answer wait d first, like a distant server (0: no
// delay).
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// CountOnly makes the server count accepted messages without keeping
// them, for load tests. Sent then returns nothing.
func (s *Server) CountOnly() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countOnly = true
	s.sent = nil
}

// OmitQRExpiry makes QR code answers leave out expire_seconds, as some
// of WeChat's answers for temporary codes do: {"ticket","url"} only.
func (s *Server) OmitQRExpiry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitQRExpiry = true
}

// Sent returns the messages accepted so far, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// SentCount returns how many messages the server accepted.
func (s *Server) SentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sentCount
}

// WaitSent waits until the server accepted at least n messages, ctx ends
// or the server closes.
func (s *Server) WaitSent(ctx context.Context, n int) error {
	s.mu.Lock()
	if s.sentCount >= n {
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, sentWaiter{n: n, ch: ch})
	have := s.sentCount
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wechattest: waiting for %d messages (had %d): %w", n, have, ctx.Err())
	case <-s.closed:
		return fmt.Errorf("wechattest: server closed while waiting for %d messages", n)
	}
}

// WaitCalls waits until at least n requests arrived for path (whatever
// their answer, even one still held by Hang or Hold), ctx ends or the
// server closes.
func (s *Server) WaitCalls(ctx context.Context, path string, n int) error {
	s.mu.Lock()
	if s.calls[path] >= n {
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.callWaiters = append(s.callWaiters, callWaiter{path: path, n: n, ch: ch})
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wechattest: waiting for %d requests to %s: %w", n, path, ctx.Err())
	case <-s.closed:
		return fmt.Errorf("wechattest: server closed while waiting for %d requests to %s", n, path)
	}
}

// Uploads returns the media accepted so far, in order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// Menus returns the menus created so far, in order.
func (s *Server) Menus() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.menus...)
}

// QRCodes returns the QR code requests accepted so far, in order.
func (s *Server) QRCodes() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.qrcodes...)
}

// errmsgs are WeChat's messages for the codes tests use.
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40004: "invalid media type",
	40005: "invalid file type",
	40006: "invalid meida size",
	40007: "invalid media_id",
	40008: "invalid message type",
	40013: "invalid appid",
	40014: "invalid access_token",
	40016: "invalid button size",
	40053: "invalid action info",
	40125: "invalid appsecret",
	40164: "invalid ip, not in whitelist",
	40200: "invalid account type",
	41001: "access_token missing",
	41005: "media data missing",
	42001: "access_token expired",
	43004: "require subscribe",
	44002: "empty post data",
	44004: "empty content",
	45002: "content size out of limit",
	45008: "article size out of limit",
	45015: "response out of time limit or subscription is canceled",
	45047: "out of response count limit",
	47001: "data format error",
	48001: "api unauthorized",
	48002: "api forbidden for user",
}

// pop removes and returns the first value queued for key, or 0.
func pop(m map[string][]int, key string) int {
	q := m[key]
	if len(q) == 0 {
		return 0
	}
	if len(q) == 1 {
		delete(m, key)
	} else {
		m[key] = q[1:]
	}
	return q[0]
}

const okAnswer = `{"errcode":0,"errmsg":"ok"}`

// writeJSON answers 200 with a JSON body.
func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	io.WriteString(w, body)
}

// writeCode answers with an errcode.
func writeCode(w http.ResponseWriter, code int) {
	msg, ok := errmsgs[code]
	if !ok {
		msg = "error"
	}
	b, _ := json.Marshal(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}{code, msg})
	writeJSON(w, string(b))
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	s.mu.Lock()
	s.calls[p]++
	if len(s.callWaiters) > 0 {
		kept := s.callWaiters[:0]
		for _, wt := range s.callWaiters {
			if wt.path == p && s.calls[p] >= wt.n {
				close(wt.ch)
				continue
			}
			kept = append(kept, wt)
		}
		s.callWaiters = kept
	}
	status := pop(s.failHTTP, p)
	hang := s.hangNext[p] > 0
	if hang {
		if s.hangNext[p]--; s.hangNext[p] == 0 {
			delete(s.hangNext, p)
		}
	}
	hold := s.holds[p]
	delay := s.delay
	s.mu.Unlock()

	// A request the server gives up on is aborted: the client sees the
	// connection drop, never an answer.
	if hang {
		// The server notices a client that gave up only once the body
		// is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		panic(http.ErrAbortHandler)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-s.closed:
			panic(http.ErrAbortHandler)
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			panic(http.ErrAbortHandler)
		case <-s.closed:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	switch p {
	case PathToken:
		s.serveToken(w, r)
	case PathStableToken:
		s.serveStableToken(w, r)
	case PathSend:
		s.serveSend(w, r)
	case PathUpload:
		s.serveUpload(w, r)
	case PathMenu:
		s.serveRecord(w, r, p, &s.menus, func(b map[string]json.RawMessage) int {
			var buttons []json.RawMessage
			if json.Unmarshal(b["button"], &buttons) != nil || len(buttons) == 0 || len(buttons) > 3 {
				return 40016
			}
			return 0
		})
	case PathQRCode:
		s.serveQRCode(w, r)
	default:
		http.NotFound(w, r)
	}
}

// issue hands out a new token for appID; s.mu is held.
func (s *Server) issue(appID string) string {
	s.seq++
	tok := fmt.Sprintf("TOKEN%d_%016x%016x", s.seq, rand.Uint64(), rand.Uint64())
	if old, ok := s.current[appID]; ok && s.strict {
		s.tokens[old].invalid = true
	}
	s.tokens[tok] = &fakeToken{appID: appID}
	s.current[appID] = tok
	s.tokenFetches++
	return tok
}

// tokenAnswer is the JSON of a token answer.
func tokenAnswer(tok string) string {
	return `{"access_token":"` + tok + `","expires_in":` + strconv.Itoa(TokenLifetime) + `}`
}

// credentials checks a token request's fields; s.mu is held.
func (s *Server) credentials(grant, appID, secret string) int {
	if grant != "client_credential" {
		return 40002
	}
	want, ok := s.apps[appID]
	if !ok {
		return 40013
	}
	if secret != want {
		return 40125
	}
	return 0
}

// readPost reads a POST request's body (up to 1 MB); it answers 405 to
// other methods.
func readPost(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	return data, err == nil
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	code := pop(s.failNext, PathToken)
	if code == 0 {
		code = s.credentials(q.Get("grant_type"), q.Get("appid"), q.Get("secret"))
	}
	if code != 0 {
		s.mu.Unlock()
		writeCode(w, code)
		return
	}
	tok := s.issue(q.Get("appid"))
	s.mu.Unlock()
	writeJSON(w, tokenAnswer(tok))
}

func (s *Server) serveStableToken(w http.ResponseWriter, r *http.Request) {
	data, ok := readPost(w, r)
	if !ok {
		return
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if json.Unmarshal(data, &req) != nil {
		writeCode(w, 47001)
		return
	}
	s.mu.Lock()
	code := pop(s.failNext, PathStableToken)
	if code == 0 {
		code = s.credentials(req.GrantType, req.AppID, req.Secret)
	}
	if code != 0 {
		s.mu.Unlock()
		writeCode(w, code)
		return
	}
	if req.ForceRefresh {
		s.forced++
	}
	tok := s.current[req.AppID]
	if t := s.tokens[tok]; req.ForceRefresh || t == nil || t.expired || t.invalid {
		tok = s.issue(req.AppID)
	} else {
		s.tokenFetches++
	}
	s.mu.Unlock()
	writeJSON(w, tokenAnswer(tok))
}

// auth checks a request's access token and takes its scripted code; it
// returns the token's account, or the errcode to answer. s.mu is held.
func (s *Server) auth(r *http.Request, p string) (string, int) {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		return "", 41001
	}
	t := s.tokens[tok]
	switch {
	case t == nil || t.invalid:
		return "", 40001
	case t.expired:
		return "", 42001
	}
	return t.appID, pop(s.failNext, p)
}

// msgTypes are the customer-service message types WeChat knows.
var msgTypes = map[string]bool{
	"text": true, "image": true, "voice": true, "video": true, "music": true, "news": true,
	"mpnews": true, "mpnewsarticle": true, "msgmenu": true, "wxcard": true, "miniprogrampage": true,
}

func (s *Server) serveSend(w http.ResponseWriter, r *http.Request) {
	data, ok := readPost(w, r)
	if !ok {
		return
	}
	var head struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	var fields map[string]json.RawMessage
	parseErr := json.Unmarshal(data, &fields)
	if parseErr == nil {
		parseErr = json.Unmarshal(data, &head)
	}

	s.mu.Lock()
	appID, code := s.auth(r, PathSend)
	if code == 0 {
		switch {
		case parseErr != nil:
			code = 47001
		case head.ToUser == "":
			code = 40003
		case !msgTypes[head.MsgType]:
			code = 40008
		case len(fields[head.MsgType]) == 0 || string(fields[head.MsgType]) == "null":
			code = 44002
		case head.MsgType == "text" && (head.Text == nil || head.Text.Content == ""):
			code = 44004
		}
	}
	if code != 0 {
		s.mu.Unlock()
		writeCode(w, code)
		return
	}
	s.sentCount++
	if !s.countOnly {
		s.sent = append(s.sent, Sent{AppID: appID, ToUser: head.ToUser, MsgType: head.MsgType, Body: data})
	}
	if len(s.waiters) > 0 {
		kept := s.waiters[:0]
		for _, wt := range s.waiters {
			if s.sentCount >= wt.n {
				close(wt.ch)
				continue
			}
			kept = append(kept, wt)
		}
		s.waiters = kept
	}
	s.mu.Unlock()
	writeJSON(w, okAnswer)
}

// uploadLimits are WeChat's limits on temporary media, by type.
var uploadLimits = map[string]struct {
	size int64
	exts []string
}{
	"image": {10 << 20, []string{".jpg", ".jpeg", ".png", ".gif", ".bmp"}},
	"voice": {2 << 20, []string{".amr", ".mp3"}},
	"video": {10 << 20, []string{".mp4"}},
	"thumb": {64 << 10, []string{".jpg", ".jpeg"}},
}

func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	kind := r.URL.Query().Get("type")
	s.mu.Lock()
	appID, code := s.auth(r, PathUpload)
	s.mu.Unlock()
	lim, known := uploadLimits[kind]
	if code == 0 && !known {
		code = 40004
	}
	if code != 0 {
		writeCode(w, code)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 20<<20)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		writeCode(w, 41005)
		return
	}
	defer r.MultipartForm.RemoveAll()
	f, hdr, err := r.FormFile("media")
	if err != nil {
		writeCode(w, 41005)
		return
	}
	f.Close()
	ext := strings.ToLower(path.Ext(hdr.Filename))
	okExt := false
	for _, e := range lim.exts {
		okExt = okExt || e == ext
	}
	switch {
	case !okExt:
		writeCode(w, 40005)
		return
	case hdr.Size > lim.size:
		writeCode(w, 40006)
		return
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("MEDIA%d_%016x", s.seq, rand.Uint64())
	s.uploads = append(s.uploads, Upload{AppID: appID, Type: kind, MediaID: id, Filename: hdr.Filename, Size: int(hdr.Size)})
	s.mu.Unlock()
	idKey := "media_id"
	if kind == "thumb" {
		idKey = "thumb_media_id"
	}
	b, _ := json.Marshal(map[string]any{"type": kind, idKey: id, "created_at": time.Now().Unix()})
	writeJSON(w, string(b))
}

// serveRecord answers a JSON request whose body it keeps in *into, after
// check (which returns an errcode or 0).
func (s *Server) serveRecord(w http.ResponseWriter, r *http.Request, p string, into *[]Recorded, check func(map[string]json.RawMessage) int) {
	data, ok := readPost(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	appID, code := s.auth(r, p)
	if code == 0 {
		var fields map[string]json.RawMessage
		if json.Unmarshal(data, &fields) != nil {
			code = 47001
		} else {
			code = check(fields)
		}
	}
	if code != 0 {
		writeCode(w, code)
		return
	}
	*into = append(*into, Recorded{AppID: appID, Body: data})
	writeJSON(w, okAnswer)
}

func (s *Server) serveQRCode(w http.ResponseWriter, r *http.Request) {
	data, ok := readPost(w, r)
	if !ok {
		return
	}
	var req struct {
		ExpireSeconds int    `json:"expire_seconds"`
		ActionName    string `json:"action_name"`
		ActionInfo    struct {
			Scene struct {
				SceneStr string `json:"scene_str"`
				SceneID  int    `json:"scene_id"`
			} `json:"scene"`
		} `json:"action_info"`
	}
	s.mu.Lock()
	appID, code := s.auth(r, PathQRCode)
	if code == 0 {
		if json.Unmarshal(data, &req) != nil {
			code = 47001
		} else {
			sc := req.ActionInfo.Scene
			switch req.ActionName {
			case "QR_STR_SCENE", "QR_LIMIT_STR_SCENE":
				if n := len([]rune(sc.SceneStr)); n < 1 || n > 64 {
					code = 40053
				}
			case "QR_SCENE", "QR_LIMIT_SCENE":
				if sc.SceneID <= 0 {
					code = 40053
				}
			default:
				code = 40053
			}
		}
	}
	if code != 0 {
		s.mu.Unlock()
		writeCode(w, code)
		return
	}
	s.qrcodes = append(s.qrcodes, Recorded{AppID: appID, Body: data})
	omitExpiry := s.omitQRExpiry
	s.mu.Unlock()
	raw := make([]byte, 30)
	for i := range raw {
		raw[i] = byte(rand.Uint32())
	}
	// Real tickets are base64: '+', '/' and '=' need escaping in URLs.
	ticket := "gQ" + base64.StdEncoding.EncodeToString(raw) + "+/=="
	answer := map[string]any{"ticket": ticket, "url": "http://weixin.qq.com/q/" + base64.RawURLEncoding.EncodeToString(raw[:12])}
	if !strings.HasPrefix(req.ActionName, "QR_LIMIT") && !omitExpiry {
		exp := req.ExpireSeconds
		if exp == 0 {
			exp = 30
		}
		answer["expire_seconds"] = exp
	}
	b, _ := json.Marshal(answer)
	writeJSON(w, string(b))
}
