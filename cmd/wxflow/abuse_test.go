package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
	"github.com/wxflow/wxflow/engine"
)

// counts returns the store's row counts.
func (b *srvBundle) counts() map[string]int {
	b.t.Helper()
	var n map[string]int
	err := b.s.store.View(context.Background(), func(tx engine.ReadTx) error {
		var err error
		n, err = tx.Counts()
		return err
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// abuseRequest is one request an attacker makes.
type abuseRequest struct {
	name   string
	method string // POST when empty
	path   string // /wechat/main when empty
	q      url.Values
	body   string
	// chunked hides the body's length: the server finds the size out
	// while reading.
	chunked bool
	want    int
	// answer is the body expected with a 200.
	answer string
}

// do sends the request and returns its status and answer.
func (r abuseRequest) do(t *testing.T, base string) (int, string) {
	t.Helper()
	method, path := r.method, r.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/wechat/main"
	}
	var body io.Reader = strings.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(body) // no length known
	}
	req, err := http.NewRequest(method, base+path+"?"+r.q.Encode(), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(out)
}

// billionLaughs is the classic entity-expansion bomb: 10^9 "lol"s from
// a body of under 1 KB.
const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
`

// abuseFields are a text message's fields, to wrap in hostile XML.
const abuseFields = `<ToUserName><![CDATA[` + srvGhID + `]]></ToUserName><FromUserName><![CDATA[o_mallory]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>99</MsgId>`

// attrs is n attributes.
func attrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` a%d="x"`, i)
	}
	return b.String()
}

// TestAbuseRejectedCallbacksStoreNothing: forged, replayed, oversized and
// malformed callbacks, XML bombs, unknown accounts and wrong methods,
// through serve: each is refused with its status (an exact replay of an
// accepted callback is acknowledged but deduped), and none adds a row to
// the store or a request to the API.
func TestAbuseRejectedCallbacksStoreNothing(t *testing.T) {
	b := srvStart(t, map[string]string{"welcome.yaml": srvWelcome, "echo.yaml": `name: echo
triggers:
  - keyword: [hi]
steps:
  - send: "Hello"
`}, "")
	now := time.Now()
	// An accepted callback, captured by an attacker.
	good := signedQuery(now.Unix(), "424242")
	accepted := textXML("o_victim", now.Unix(), 4242, "hi")
	if status, answer := (abuseRequest{name: "accepted", q: good, body: accepted}).do(t, b.url); status != 200 || answer != "success" {
		t.Fatalf("the genuine callback: %d %q", status, answer)
	}
	b.waitSent(1)
	before := b.counts()
	if before["events"] != 1 || before["contacts"] != 1 || before["runs"] != 1 || before["outbox"] != 1 {
		t.Fatalf("after one callback the store holds %v", before)
	}
	calls := b.api.Calls(wechattest.PathSend)

	forged := signedQuery(now.Unix(), "424242")
	forged.Set("signature", wechat.Signature("notTheToken", forged.Get("timestamp"), "424242"))
	stale := signedQuery(now.Add(-10*time.Minute).Unix(), "424242")
	future := signedQuery(now.Add(10*time.Minute).Unix(), "424242")
	noSig := signedQuery(now.Unix(), "1")
	noSig.Del("signature")
	retry := signedQuery(now.Unix(), "434343") // WeChat's own retry: a new nonce
	mallory := textXML("o_mallory", now.Unix(), 99, "hi")
	cb := func(fields string) string { return "<xml>" + fields + "</xml>" }
	deep := "<xml>" + abuseFields + strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000) + "</xml>"

	cases := []abuseRequest{
		{name: "forged signature", q: forged, body: mallory, want: 403},
		{name: "nonce changed after signing", q: func() url.Values { q := signedQuery(now.Unix(), "1"); q.Set("nonce", "2"); return q }(), body: mallory, want: 403},
		{name: "no signature", q: noSig, body: mallory, want: 403},
		{name: "replay with a stale timestamp", q: stale, body: accepted, want: 403},
		{name: "timestamp from the future", q: future, body: mallory, want: 403},
		{name: "exact replay of the accepted callback", q: good, body: accepted, want: 200, answer: "success"},
		{name: "WeChat's retry of the accepted callback", q: retry, body: accepted, want: 200, answer: "success"},
		{name: "oversized body", q: good, body: cb(abuseFields + strings.Repeat(" ", 1<<20)), want: 413},
		{name: "oversized body of unknown length", q: good, body: cb(abuseFields + strings.Repeat(" ", 1<<20)), chunked: true, want: 413},
		{name: "malformed XML", q: good, body: "<xml><FromUserName>o_mallory</FromUserName>", want: 400},
		{name: "not XML", q: good, body: `{"FromUserName":"o_mallory"}`, want: 400},
		{name: "billion laughs", q: good, body: billionLaughs + cb(abuseFields+"<Label>&lol9;</Label>"), want: 400},
		{name: "external entity", q: good, body: `<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + cb(abuseFields+"<Label>&xxe;</Label>"), want: 400},
		{name: "10,000-deep nesting", q: good, body: deep, want: 400},
		{name: "100,000 elements", q: good, body: cb(abuseFields + strings.Repeat("<a/>", 100000)), want: 400},
		{name: "huge attribute count", q: good, body: "<xml" + attrs(50000) + ">" + abuseFields + "</xml>", want: 400},
		{name: "callback for another account", q: good, body: strings.Replace(mallory, srvGhID, "gh_ffffffffffff", 1), want: 400},
		{name: "no sender", q: good, body: cb("<ToUserName>" + srvGhID + "</ToUserName><MsgType>text</MsgType>"), want: 400},
		{name: "unknown account", path: "/wechat/other", q: good, body: mallory, want: 400},
		{name: "account path with more", path: "/wechat/main/x", q: good, body: mallory, want: 400},
		{name: "wrong method", method: http.MethodPut, q: good, body: mallory, want: 405},
		{name: "DELETE", method: http.MethodDelete, q: good, want: 405},
		{name: "URL check without echostr", method: http.MethodGet, q: good, want: 400},
	}
	ctx, cancel := context.WithTimeout(context.Background(), fltWait)
	defer cancel()
	for _, c := range cases {
		status, answer := c.do(t, b.url)
		if status != c.want || (c.want == 200 && answer != c.answer) {
			t.Errorf("%s: %d %q, want %d %s", c.name, status, answer, c.want, c.answer)
		}
		if err := b.s.engine.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if after := b.counts(); !maps.Equal(after, before) {
			t.Errorf("%s: the store went from %v to %v", c.name, before, after)
			before = after
		}
		if n := b.api.Calls(wechattest.PathSend); n != calls {
			t.Errorf("%s: %d more requests to the send API", c.name, n-calls)
			calls = n
		}
	}
	// The server still works.
	if status, answer := b.post(followXML("o_after", time.Now().Unix()), false); status != 200 || answer != "success" {
		t.Fatalf("a genuine callback after the abuse: %d %q", status, answer)
	}
	b.waitSent(2)
}

// TestAbuseTenThousandOpenIDs: 10,000 distinct OpenIDs follow, signed and
// valid, over 8 connections: every callback is acknowledged, every
// contact and run is stored, and the Go heap does not keep them.
func TestAbuseTenThousandOpenIDs(t *testing.T) {
	const n = 10000
	// A leak of as little as every event's struct (about 240 bytes) is
	// 2.4 MB here; what serve keeps across 10,000 contacts measures
	// within ±0.1 MB.
	const heapBound = 2 << 20
	b := srvStart(t, map[string]string{"tag.yaml": `name: tagged
triggers: [follow]
steps:
  - tag: [new]
`}, "")
	// Warm up: the first callbacks allocate what stays (pools, caches).
	warm := make([]string, 100)
	for i := range warm {
		warm[i] = followXML(fmt.Sprintf("o_warm%03d", i), time.Now().Unix())
	}
	checkAcks(t, "warm-up", b.postAll(warm, 8))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.s.engine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()

	start := time.Now()
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = followXML(fmt.Sprintf("oAbuse_%05d_%s", i, strings.Repeat("x", 10)), time.Now().Unix())
	}
	acks := b.postAll(bodies, 8)
	bodies = nil
	took := time.Since(start)
	bad := 0
	for i, a := range acks {
		if a.err != nil || a.status != 200 || a.body != "success" {
			if bad++; bad <= 5 {
				t.Errorf("callback %d: %d %q (err %v)", i, a.status, a.body, a.err)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d callbacks were not acknowledged", bad, n)
	}
	acks = nil
	if err := b.s.engine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	after := heap()
	growth := int64(after) - int64(before)
	t.Logf("%d follows acknowledged in %s (%.0f/s); heap %d KB before, %d KB after (%+d KB)",
		n, took.Round(time.Millisecond), n/took.Seconds(), before>>10, after>>10, growth>>10)
	if growth > heapBound {
		t.Errorf("the heap grew by %d KB for %d contacts, more than %d KB: serve keeps something per contact", growth>>10, n, heapBound>>10)
	}
	counts := b.counts()
	if counts["contacts"] != n+len(warm) || counts["runs"] != n+len(warm) || counts["events"] != n+len(warm) {
		t.Errorf("the store holds %v, want %d contacts, runs and events", counts, n+len(warm))
	}
	err := b.s.store.View(ctx, func(tx engine.ReadTx) error {
		c, err := tx.Contact("main", fmt.Sprintf("oAbuse_%05d_%s", n-1, strings.Repeat("x", 10)))
		if err == nil && (!c.Followed || !c.HasTag("new")) {
			t.Errorf("the last contact is %+v, want followed and tagged", c)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
