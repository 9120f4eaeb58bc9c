package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
)

// The flows of the passive-reply tests: a follow sends two welcomes, "hi"
// an answer.
var psvFlows = map[string]string{
	"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: "w1"
  - send: "w2"
`,
	"echo.yaml": `name: echo
triggers:
  - keyword: [hi]
steps:
  - send: "Hello again"
`,
}

// passiveText returns the text of a plain passive reply, "" for none.
// psvStart starts a server with passive replies on and psvFlows, once
// its engine's first rounds are over (settled).
func psvStart(t *testing.T) *srvBundle {
	t.Helper()
	b := srvStart(t, psvFlows, "    passive_reply: true\n")
	b.settled()
	return b
}

func passiveText(t *testing.T, answer string) string {
	t.Helper()
	if answer == "success" {
		return ""
	}
	cb, err := wechat.ParseCallback([]byte(answer))
	if err != nil {
		t.Fatalf("answer %q: %v", answer, err)
	}
	return cb.Content
}

// A contact's messages leave in the order the flows produced them, passive
// or not: a passive reply never overtakes a message still on its way
// through the API (found from outside: w1 passive, then the text's
// passive reply, then w2).
func TestServePassiveReplyNeverOvertakesQueuedMessages(t *testing.T) {
	b := psvStart(t)
	release := b.api.Hold("/cgi-bin/message/custom/send")
	defer release()
	now := time.Now().Unix()
	for i := range 5 {
		contact := fmt.Sprintf("o_%d", i)
		status, answer := b.post(followXML(contact, now), false)
		if status != 200 || passiveText(t, answer) != "w1" {
			t.Fatalf("%s: follow answered %d %q, want the passive reply w1", contact, status, answer)
		}
		// w2 is on its way (held at the API): the text's answer must not
		// reach the follower before it.
		status, answer = b.post(textXML(contact, now, int64(100+i), "hi"), false)
		if status != 200 || answer != "success" {
			t.Fatalf("%s: the text was answered %d %q while w2 was not sent yet: its reply overtakes w2", contact, status, answer)
		}
	}
	release()
	sent := b.waitSent(10)
	got := map[string][]string{}
	for _, s := range sent {
		got[s.ToUser] = append(got[s.ToUser], sentText(t, s))
	}
	for i := range 5 {
		contact := fmt.Sprintf("o_%d", i)
		if strings.Join(got[contact], " | ") != "w2 | Hello again" {
			t.Errorf("%s: the API got %q, want w2 then Hello again", contact, got[contact])
		}
	}
	// Once nothing is on its way, a callback gets its passive reply again.
	status, answer := b.post(textXML("o_0", now, 200, "hi"), false)
	if status != 200 || passiveText(t, answer) != "Hello again" {
		t.Fatalf("with nothing queued, the text was answered %d %q, want a passive reply", status, answer)
	}
}

// postAndHangUp sends a signed plain callback and closes the connection
// without reading the answer, as WeChat does when its deadline passes or a
// proxy times out.
func postAndHangUp(t *testing.T, b *srvBundle, body string) {
	t.Helper()
	ts := fmt.Sprint(time.Now().Unix())
	nonce := fmt.Sprint(5000 + b.seq.Add(1))
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(srvToken, ts, nonce)}}
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /wechat/main?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", q.Encode(), len(body), body)
	conn.Close()
}

// A passive reply WeChat never got is not recorded sent and lost: WeChat's
// retry of the callback gets the same reply again (or, when the server
// saw that the answer could not be written, the message went by the API).
// Either way the follower gets it exactly once.
func TestServePassiveReplyLostAnswerIsGivenToTheRetry(t *testing.T) {
	b := psvStart(t)
	body := followXML("o_lost", time.Now().Unix())
	postAndHangUp(t, b, body)
	// The first attempt is handled although WeChat hung up: its reply is
	// recorded one way or the other, then w2 goes out by the API.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.api.WaitSent(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// WeChat got no answer: it retries the same callback.
	status, answer := b.post(body, false)
	if status != 200 {
		t.Fatalf("retry answered %d", status)
	}
	if err := b.s.engine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	byAPI := map[string]int{}
	for _, s := range b.api.Sent() {
		byAPI[sentText(t, s)]++
	}
	passive := passiveText(t, answer)
	if n := byAPI["w1"]; n+b2n(passive == "w1") != 1 {
		t.Fatalf("w1 reached the follower %d times by the API and %d passively (retry answered %q), want once", n, b2n(passive == "w1"), answer)
	}
	if byAPI["w2"] != 1 {
		t.Errorf("w2 reached the API %d times", byAPI["w2"])
	}
	out := b.outbox()
	if out[0].Status != engine.OutboxSent {
		t.Errorf("w1 is %s (%s), want sent", out[0].Status, out[0].Detail)
	}
}

func b2n(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A retry of a callback that was answered in time gets the same passive
// reply: WeChat retries only when it did not get the answer.
func TestServePassiveReplyRetryGetsTheSameReply(t *testing.T) {
	b := psvStart(t)
	body := followXML("o_retry", time.Now().Unix())
	for i := range 3 {
		status, answer := b.post(body, false)
		if status != 200 || passiveText(t, answer) != "w1" {
			t.Fatalf("attempt %d answered %d %q, want the passive reply w1", i+1, status, answer)
		}
	}
	sent := b.waitSent(1)
	if len(sent) != 1 || sentText(t, sent[0]) != "w2" {
		t.Fatalf("the API got %d messages, want only w2", len(sent))
	}
}
