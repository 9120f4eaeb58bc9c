// Package loadgen is the load generator of `wxflow bench`: WeChat
// callbacks signed (and in safe mode encrypted) as WeChat sends them,
// simulated followers playing scripts whose effects are known in advance,
// the bench's own flows, a latency recorder, and the books that check a
// run against the server's store, its counters and the fake WeChat API.
// The pieces are independent of the bench command so that crash and fault
// tests can drive a server the same way.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
)

// ---------------------------------------------------------------------
// Callbacks on the wire.

// Signer turns a callback's XML into the request WeChat would
// post: the signed query and, in safe mode, the encrypted envelope. It is
// safe for concurrent use.
type Signer struct {
	token string
	// originalID is the account's gh_ id: the ToUserName of callbacks.
	originalID string
	// cipher encrypts in safe mode; nil posts plain callbacks.
	cipher *wechat.Cipher
	nonces atomic.Uint64
}

// NewSigner returns a signer for an account; an empty aesKey
// signs plain callbacks, otherwise they are encrypted for appID.
func NewSigner(token, originalID, appID, aesKey string) (*Signer, error) {
	s := &Signer{token: token, originalID: originalID}
	if aesKey != "" {
		c, err := wechat.NewCipher(aesKey, appID)
		if err != nil {
			return nil, err
		}
		s.cipher = c
	}
	s.nonces.Store(uint64(time.Now().UnixNano()) % 1e9)
	return s, nil
}

// sign returns the query string and body that post the callback plain at
// now: timestamp, nonce and signature, and in safe mode encrypt_type,
// msg_signature and the <Encrypt> envelope.
func (s *Signer) sign(plain []byte, now time.Time) (query string, body []byte, err error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := strconv.FormatUint(s.nonces.Add(1), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(s.token, ts, nonce)}}
	if s.cipher == nil {
		return q.Encode(), plain, nil
	}
	enc, err := s.cipher.EncryptMessage(plain)
	if err != nil {
		return "", nil, err
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", wechat.Signature(s.token, ts, nonce, enc))
	env := "<xml><ToUserName><![CDATA[" + s.originalID + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	return q.Encode(), []byte(env), nil
}

// callbackXML is a plain callback body from contact to the account to,
// created at at; fields are the elements after CreateTime.
func callbackXML(to, contact string, at int64, fields string) []byte {
	return []byte("<xml><ToUserName><![CDATA[" + to + "]]></ToUserName><FromUserName><![CDATA[" + contact +
		"]]></FromUserName><CreateTime>" + strconv.FormatInt(at, 10) + "</CreateTime>" + fields + "</xml>")
}

// eventXML is an event callback (subscribe, SCAN, CLICK...) with an
// optional EventKey.
func eventXML(to, contact string, at int64, event, key string) []byte {
	f := "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[" + event + "]]></Event>"
	if key != "" {
		f += "<EventKey><![CDATA[" + key + "]]></EventKey>"
	}
	return callbackXML(to, contact, at, f)
}

// textXML is a text message; a non-empty menuID makes it a tap on a
// message-menu item (bizmsgmenuid).
func textXML(to, contact string, at int64, msgID uint64, text, menuID string) []byte {
	f := "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" + text + "]]></Content><MsgId>" + strconv.FormatUint(msgID, 10) + "</MsgId>"
	if menuID != "" {
		f += "<bizmsgmenuid>" + menuID + "</bizmsgmenuid>"
	}
	return callbackXML(to, contact, at, f)
}

// ---------------------------------------------------------------------
// Posting callbacks.

// wechatAckTimeout is how long WeChat waits for a callback's answer
// before it gives up on the attempt and retries.
const wechatAckTimeout = 5 * time.Second

// Tries is how many times WeChat posts a callback that is not
// acknowledged.
const Tries = 3

// Poster posts callbacks to one account's endpoint over a bounded
// pool of connections, as WeChat does: each attempt waits at most
// wechatAckTimeout for "success" (or a passive reply), and a callback is
// tried Tries times. It records the latency of every acknowledged
// attempt and the reason of every failed one. Safe for concurrent use.
type Poster struct {
	// url is the endpoint, http://host:port/wechat/{account}.
	url    string
	signer *Signer
	client *http.Client
	// pace, when set, spaces the attempts out (--rate).
	pace *Pacer
	lat  latencyRecorder
	fail failureCounter
	// attempts counts the requests made, retries included.
	attempts atomic.Int64
}

// NewPoster returns a poster using at most conns connections.
func NewPoster(endpoint string, signer *Signer, conns int, pace *Pacer) *Poster {
	tr := &http.Transport{
		Proxy:               nil, // loopback or a named server: never a proxy
		DialContext:         (&net.Dialer{Timeout: wechatAckTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
	}
	return &Poster{url: endpoint, signer: signer, client: &http.Client{Transport: tr}, pace: pace}
}

// Close releases the poster's idle connections.
func (p *Poster) Close() { p.client.CloseIdleConnections() }

// StartPace starts the pacer's schedule at t, when the poster has one.
func (p *Poster) StartPace(t time.Time) {
	if p.pace != nil {
		p.pace.start = t
	}
}

// Attempts is how many requests the poster made, retries included.
func (p *Poster) Attempts() int { return int(p.attempts.Load()) }

// Latency is the distribution of the acknowledged attempts' latencies.
func (p *Poster) Latency() LatencySummary { return p.lat.summary() }

// Failures counts the failed attempts by reason (never nil).
func (p *Poster) Failures() map[string]int { return p.fail.counts() }

// post delivers the callback plain, retrying as WeChat does; it reports
// whether an attempt was acknowledged. It gives up early when ctx ends.
func (p *Poster) post(ctx context.Context, plain []byte) bool {
	for try := 0; try < Tries && ctx.Err() == nil; try++ {
		if p.pace != nil && !p.pace.wait(ctx) {
			return false
		}
		took, reason := p.attempt(ctx, plain)
		if reason == "" {
			p.lat.add(took)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.fail.add(reason)
	}
	return false
}

// attempt posts once and returns how long the acknowledgement took, or
// why there was none: "timeout", "connection", "http_NNN" or
// "bad_answer".
func (p *Poster) attempt(ctx context.Context, plain []byte) (time.Duration, string) {
	p.attempts.Add(1)
	q, body, err := p.signer.sign(plain, time.Now())
	if err != nil {
		return 0, "encrypt"
	}
	actx, cancel := context.WithTimeout(ctx, wechatAckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, p.url+"?"+q, bytes.NewReader(body))
	if err != nil {
		return 0, "request"
	}
	req.Header.Set("Content-Type", "text/xml")
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(actx.Err(), context.DeadlineExceeded) {
			return 0, "timeout"
		}
		return 0, "connection"
	}
	ans, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	took := time.Since(start)
	switch {
	case err != nil && errors.Is(actx.Err(), context.DeadlineExceeded):
		return 0, "timeout"
	case err != nil:
		return 0, "connection"
	case resp.StatusCode != http.StatusOK:
		return 0, "http_" + strconv.Itoa(resp.StatusCode)
	case string(ans) != "success" && !strings.HasPrefix(string(ans), "<xml>"):
		return 0, "bad_answer"
	}
	return took, ""
}

// Pacer spaces events out to a rate, open loop: the n-th wait returns at
// start + n/rate, whatever the earlier ones did.
type Pacer struct {
	start    time.Time
	interval time.Duration
	n        atomic.Int64
}

// NewPacer returns a pacer for rate events a second, or nil for rate <= 0
// (as fast as possible).
func NewPacer(rate float64) *Pacer {
	if rate <= 0 {
		return nil
	}
	return &Pacer{start: time.Now(), interval: time.Duration(float64(time.Second) / rate)}
}

// wait blocks until the caller's slot; false when ctx ended first.
func (p *Pacer) wait(ctx context.Context) bool {
	at := p.start.Add(time.Duration(p.n.Add(1)-1) * p.interval)
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// failureCounter counts failures by reason. Safe for concurrent use.
type failureCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *failureCounter) add(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[reason]++
}

// counts returns a copy of the counts (never nil).
func (f *failureCounter) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.n))
	for k, v := range f.n {
		out[k] = v
	}
	return out
}

// ---------------------------------------------------------------------
// Latency.

// latencyRecorder keeps every latency it is given, for exact percentiles.
// A bench run has at most a few hundred thousand callbacks, so keeping
// them all is cheap. Safe for concurrent use.
type latencyRecorder struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *latencyRecorder) add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// LatencySummary is a latency distribution in milliseconds.
type LatencySummary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// summary returns the nearest-rank percentiles of what was recorded.
func (r *latencyRecorder) summary() LatencySummary {
	r.mu.Lock()
	d := slices.Clone(r.d)
	r.mu.Unlock()
	slices.Sort(d)
	s := LatencySummary{N: len(d)}
	if len(d) == 0 {
		return s
	}
	ms := func(x time.Duration) float64 { return math.Round(float64(x.Microseconds())) / 1000 }
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[max(0, min(len(d)-1, i))]
	}
	s.P50, s.P95, s.P99, s.Max = ms(rank(0.50)), ms(rank(0.95)), ms(rank(0.99)), ms(d[len(d)-1])
	return s
}

// ---------------------------------------------------------------------
// The bench flows.

// The bench scenarios.
const (
	ScenarioWelcome = "welcome"
	ScenarioMenuBot = "menu-bot"
	ScenarioMixed   = "mixed"
)

// Scenarios lists the scenarios, for flags and help.
var Scenarios = []string{ScenarioWelcome, ScenarioMenuBot, ScenarioMixed}

// The bench's flows, menu keys and texts. The flows are the bench's own,
// not the examples: the figures must not move when the examples change.
const (
	FlowWelcome = "bench-welcome"
	FlowHello   = "bench-hello"
	FlowScan    = "bench-scan"
	FlowNews    = "bench-news"
	FlowMenu    = "bench-menu"

	bfKeyHelp = "MENU_HELP"
	bfKeyNew  = "MENU_NEW"

	bfGreet      = "Welcome to the bench shop!"
	bfGreetScene = "Welcome! Thanks for scanning %s."
	bfAskName    = "What should we call you?"
	bfNice       = "Nice to meet you, %s!"
	bfHelloText  = "Welcome! Tap Help in the menu."
	bfScanText   = "Good to see you at %s!"
	bfNewsText   = "New this week: everything on the bench."
	bfMenuHead   = "How can we help?"
	bfMenuTail   = "Tap an item."
)

// bfMenuItems are the items of bench-menu's message menu, with the answer
// each one gets.
var bfMenuItems = []struct{ id, text, answer string }{
	{"hours", "Opening hours", "We're open 9:00-18:00, Monday to Saturday."},
	{"address", "Our address", "1 Bench Street, Shanghai."},
}

// FlowFiles returns the flow folder of a scenario: file name to
// content. welcome: a follow greets and asks a name, the answer is
// greeted. menu-bot: a follow greets in one message; MENU_HELP asks with
// a message menu whose taps are answered; MENU_NEW sends one text.
// mixed: the welcome of the first, the menus of the second, and scans of
// store_* codes answered with one text.
func FlowFiles(scenario string) map[string]string {
	q := strconv.Quote
	welcome := `# wxflow bench: a follow greets (thanking for the QR code it came
# through) and asks a name; the answer is greeted.
name: ` + FlowWelcome + `
triggers:
  - follow:
    priority: 10
steps:
  - branch:
      - if: event.scene != ""
        then:
          - send: ` + q(fmt.Sprintf(bfGreetScene, "${event.scene}")) + `
      - else:
          - send: ` + q(bfGreet) + `
  - ask: ` + q(bfAskName) + `
    save: contact.fields.name
  - send: ` + q(fmt.Sprintf(bfNice, "${contact.fields.name}")) + `
`
	hello := `# wxflow bench: a follow greets in one message.
name: ` + FlowHello + `
triggers: [follow]
steps:
  - send: ` + q(bfHelloText) + `
`
	scan := `# wxflow bench: a scan of a store's code is answered.
name: ` + FlowScan + `
triggers:
  - scan: store_*
steps:
  - send: ` + q(fmt.Sprintf(bfScanText, "${event.scene}")) + `
`
	news := `# wxflow bench: a menu button answered with one text.
name: ` + FlowNews + `
triggers:
  - menu: ` + bfKeyNew + `
steps:
  - send: ` + q(bfNewsText) + `
`
	var items, choices, branches strings.Builder
	for i, it := range bfMenuItems {
		fmt.Fprintf(&items, "          - { id: %s, text: %s }\n", it.id, q(it.text))
		fmt.Fprintf(&choices, "      %s: [%s, %s]\n", it.id, it.id, q(it.text))
		if i < len(bfMenuItems)-1 {
			fmt.Fprintf(&branches, "      - if: vars.topic == %s\n        then:\n          - send: %s\n", q(it.id), q(it.answer))
		} else {
			fmt.Fprintf(&branches, "      - else:\n          - send: %s\n", q(it.answer))
		}
	}
	menu := `# wxflow bench: a message menu; a tap on an item is answered.
name: ` + FlowMenu + `
reentry: restart
triggers:
  - menu: ` + bfKeyHelp + `
steps:
  - ask:
      menu:
        head: ` + q(bfMenuHead) + `
        items:
` + items.String() + `        tail: ` + q(bfMenuTail) + `
    expect: choice
    choices:
` + choices.String() + `    save: vars.topic
  - branch:
` + branches.String()
	menuBar := `# wxflow bench: the account's menu.
menu:
  - { name: New, key: ` + bfKeyNew + ` }
  - { name: Help, key: ` + bfKeyHelp + ` }
`
	switch scenario {
	case ScenarioWelcome:
		return map[string]string{FlowWelcome + ".yaml": welcome}
	case ScenarioMenuBot:
		return map[string]string{FlowHello + ".yaml": hello, FlowMenu + ".yaml": menu, FlowNews + ".yaml": news, "menu.yaml": menuBar}
	}
	return map[string]string{FlowWelcome + ".yaml": welcome, FlowScan + ".yaml": scan, FlowMenu + ".yaml": menu, FlowNews + ".yaml": news, "menu.yaml": menuBar}
}

// ---------------------------------------------------------------------
// Followers and their scripts.

// actKind is what a simulated follower does.
type actKind string

// The actions of a follower.
const (
	actFollow   actKind = "follow"   // subscribe, through a QR code when scene is set
	actScan     actKind = "scan"     // SCAN of a code with scene
	actClick    actKind = "click"    // CLICK of the menu button key
	actAnswer   actKind = "answer"   // a text message: the answer to a question
	actTap      actKind = "tap"      // a tap on the message-menu item key
	actUnfollow actKind = "unfollow" // unsubscribe
	actLocation actKind = "location" // a LOCATION report (the account asks for the follower's location)
)

// Action is one callback of a follower.
type Action struct {
	kind actKind
	// scene is the QR code's scene (follow, scan).
	scene string
	// key is the menu key (click) or the message-menu item's id (tap).
	key string
	// text is the answer, or the tapped item's text.
	text string
}

// EventKind is the kind of event the engine stores for the action.
func (a Action) EventKind() channels.Kind {
	switch a.kind {
	case actFollow:
		return channels.Follow
	case actScan:
		return channels.Scan
	case actClick, actTap:
		return channels.MenuClick
	case actAnswer:
		return channels.Text
	case actLocation:
		return channels.LocationReport
	}
	return channels.Unfollow
}

// Follower is a simulated follower: its script and how far it got. A
// follower is driven by one goroutine at a time.
type Follower struct {
	// Contact is the follower's OpenID; Actions its script.
	Contact string
	Actions []Action
	// Base is the CreateTime of the first action; action i is created at
	// Base+i, so that retries of one callback dedupe and distinct events
	// do not.
	Base int64
	// msgIDs are the MsgIds of the actions that are messages.
	msgIDs []uint64
	// Acked counts the actions acknowledged, in order; Unconfirmed is set
	// when an action was never acknowledged (the follower stopped there:
	// its event may or may not be stored).
	Acked       int
	Unconfirmed bool
}

// callback is the plain XML of the follower's action i, to the account
// whose original id is to.
func (f *Follower) callback(i int, to string) []byte {
	a := f.Actions[i]
	at := f.Base + int64(i)
	switch a.kind {
	case actFollow:
		key := ""
		if a.scene != "" {
			key = "qrscene_" + a.scene
		}
		return eventXML(to, f.Contact, at, "subscribe", key)
	case actScan:
		return eventXML(to, f.Contact, at, "SCAN", a.scene)
	case actClick:
		return eventXML(to, f.Contact, at, "CLICK", a.key)
	case actAnswer:
		return textXML(to, f.Contact, at, f.msgIDs[i], a.text, "")
	case actTap:
		return textXML(to, f.Contact, at, f.msgIDs[i], a.text, a.key)
	case actLocation:
		return callbackXML(to, f.Contact, at, fmt.Sprintf("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event>"+
			"<Latitude>31.%06d</Latitude><Longitude>121.%06d</Longitude><Precision>65.000000</Precision>", i, i))
	}
	return eventXML(to, f.Contact, at, "unsubscribe", "")
}

// AddLocations gives each follower n location reports, as an account
// that asks for its followers' location gets them: after its script, or
// before its unfollow. They start no flow.
func AddLocations(fs []*Follower, n int) {
	if n <= 0 {
		return
	}
	for _, f := range fs {
		at := len(f.Actions)
		if at > 0 && f.Actions[at-1].kind == actUnfollow {
			at--
		}
		locs := make([]Action, n)
		for i := range locs {
			locs[i] = Action{kind: actLocation}
		}
		f.Actions = slices.Insert(f.Actions, at, locs...)
		f.msgIDs = slices.Insert(f.msgIDs, at, make([]uint64, n)...)
	}
}

// Scripts returns n followers playing the scenario. The scripts
// depend only on the scenario, n and seed; tag makes the contacts' ids
// (and so the dedupe keys) unique to this run.
func Scripts(scenario string, n int, seed uint64, tag string) []*Follower {
	base := time.Now().Unix()
	msgID := uint64(time.Now().UnixMilli()) * 1000
	out := make([]*Follower, n)
	for i := range out {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		f := &Follower{Contact: fmt.Sprintf("o_bench_%s_%06d", tag, i), Base: base}
		switch scenario {
		case ScenarioWelcome:
			f.Actions = []Action{{kind: actFollow}, {kind: actAnswer, text: fmt.Sprintf("Ada %d", i)}}
		case ScenarioMenuBot:
			f.Actions = menuBotScript(rng)
		default:
			f.Actions = mixedScript(rng, i)
		}
		f.msgIDs = make([]uint64, len(f.Actions))
		for j, a := range f.Actions {
			if a.kind == actAnswer || a.kind == actTap {
				msgID++
				f.msgIDs[j] = msgID
			}
		}
		out[i] = f
	}
	return out
}

// tapAction is a tap on a random item of bench-menu's message menu.
func tapAction(rng *rand.Rand) Action {
	it := bfMenuItems[rng.IntN(len(bfMenuItems))]
	return Action{kind: actTap, key: it.id, text: it.text}
}

// menuBotScript: a follow, then one to three rounds of Help and a tap,
// with a click on New before half of them.
func menuBotScript(rng *rand.Rand) []Action {
	acts := []Action{{kind: actFollow}}
	for range 1 + rng.IntN(3) {
		if rng.IntN(2) == 0 {
			acts = append(acts, Action{kind: actClick, key: bfKeyNew})
		}
		acts = append(acts, Action{kind: actClick, key: bfKeyHelp}, tapAction(rng))
	}
	return acts
}

// mixedScript: a follow (through a store's QR code for 30%), then one to
// five of: the answer to the question that waits, a tap on the message
// menu that waits, a scan of a store's code, a click on New or Help (which
// take the conversation over from a question that waits); 5% unfollow at
// the end.
func mixedScript(rng *rand.Rand, i int) []Action {
	store := func() string { return fmt.Sprintf("store_%d", 1+rng.IntN(5)) }
	first := Action{kind: actFollow}
	if rng.IntN(10) < 3 {
		first.scene = store()
	}
	acts := []Action{first}
	waiting := FlowWelcome
	for range 1 + rng.IntN(5) {
		type choice struct {
			weight int
			act    Action
		}
		choices := []choice{
			{15, Action{kind: actScan, scene: store()}},
			{15, Action{kind: actClick, key: bfKeyNew}},
			{20, Action{kind: actClick, key: bfKeyHelp}},
		}
		switch waiting {
		case FlowWelcome:
			choices = append(choices, choice{60, Action{kind: actAnswer, text: fmt.Sprintf("Ada %d", i)}})
		case FlowMenu:
			choices = append(choices, choice{60, tapAction(rng)})
		}
		total := 0
		for _, c := range choices {
			total += c.weight
		}
		r := rng.IntN(total)
		var a Action
		for _, c := range choices {
			if r < c.weight {
				a = c.act
				break
			}
			r -= c.weight
		}
		acts = append(acts, a)
		switch {
		case a.kind == actClick && a.key == bfKeyHelp:
			waiting = FlowMenu
		default:
			waiting = ""
		}
	}
	if rng.IntN(20) == 0 {
		acts = append(acts, Action{kind: actUnfollow})
	}
	return acts
}

// ---------------------------------------------------------------------
// What the scripts must cause.

// simRun is a run the engine must have, and the status it must be in.
type simRun struct {
	flow   string
	status engine.RunStatus
}

// followerModel replays a follower's acknowledged actions the way the
// engine must handle them (docs/flows.md, "Which flow starts" and
// "Conversations and interrupt") and collects the runs and messages they
// must leave.
type followerModel struct {
	scenario string
	contact  string
	runs     []simRun
	// waiting is the index of the run waiting for an answer, or -1.
	waiting int
	msgs    []channels.Message
}

// Expect returns what the first n actions of f must leave: the
// runs by "flow status", and the messages by MessageKey.
func Expect(scenario string, f *Follower, n int) (runs, msgs map[string]int) {
	m := &followerModel{scenario: scenario, contact: f.Contact, waiting: -1}
	for _, a := range f.Actions[:n] {
		m.apply(a)
	}
	runs, msgs = map[string]int{}, map[string]int{}
	for _, r := range m.runs {
		runs[r.flow+" "+string(r.status)]++
	}
	for i := range m.msgs {
		msgs[MessageKey(&m.msgs[i])]++
	}
	return runs, msgs
}

func textMsg(s string) channels.Message { return channels.Message{Type: "text", Text: s} }

// benchMenuMessage is bench-menu's question.
func benchMenuMessage() channels.Message {
	m := &channels.Menu{Head: bfMenuHead, Tail: bfMenuTail}
	for _, it := range bfMenuItems {
		m.Items = append(m.Items, channels.MenuItem{ID: it.id, Text: it.text})
	}
	return channels.Message{Type: "menu", Menu: m}
}

// apply plays one action.
func (m *followerModel) apply(a Action) {
	switch a.kind {
	case actFollow:
		if m.scenario == ScenarioMenuBot {
			m.start(FlowHello, false, false, textMsg(bfHelloText))
			return
		}
		greet := bfGreet
		if a.scene != "" {
			greet = fmt.Sprintf(bfGreetScene, a.scene)
		}
		m.start(FlowWelcome, false, true, textMsg(greet), textMsg(bfAskName))
	case actScan:
		m.start(FlowScan, false, false, textMsg(fmt.Sprintf(bfScanText, a.scene)))
	case actClick:
		if a.key == bfKeyHelp {
			m.start(FlowMenu, true, true, benchMenuMessage())
		} else {
			m.start(FlowNews, false, false, textMsg(bfNewsText))
		}
	case actAnswer:
		if m.waiting >= 0 && m.runs[m.waiting].flow == FlowWelcome {
			m.resume(textMsg(fmt.Sprintf(bfNice, a.text)))
		}
	case actTap:
		if m.waiting >= 0 && m.runs[m.waiting].flow == FlowMenu {
			for _, it := range bfMenuItems {
				if it.id == a.key {
					m.resume(textMsg(it.answer))
				}
			}
		}
	case actUnfollow:
		for i := range m.runs {
			if m.runs[i].status.Active() {
				m.runs[i].status = engine.RunUnfollowed
			}
		}
		m.waiting = -1
	}
}

// start starts a flow from an event: a flow already running is left
// alone (reentry: ignore) or ended as restarted (reentry: restart); the
// run waiting for an answer is interrupted; the new run sends msgs and
// waits for an answer or completes.
func (m *followerModel) start(flow string, restart, waits bool, msgs ...channels.Message) {
	for i := range m.runs {
		if m.runs[i].flow != flow || !m.runs[i].status.Active() {
			continue
		}
		if !restart {
			return
		}
		m.runs[i].status = engine.RunRestarted
		if m.waiting == i {
			m.waiting = -1
		}
	}
	if m.waiting >= 0 {
		m.runs[m.waiting].status = engine.RunInterrupted
		m.waiting = -1
	}
	status := engine.RunCompleted
	if waits {
		status = engine.RunWaitingReply
		m.waiting = len(m.runs)
	}
	m.runs = append(m.runs, simRun{flow: flow, status: status})
	m.msgs = append(m.msgs, msgs...)
}

// resume answers the waiting run, which sends msgs and completes.
func (m *followerModel) resume(msgs ...channels.Message) {
	m.runs[m.waiting].status = engine.RunCompleted
	m.waiting = -1
	m.msgs = append(m.msgs, msgs...)
}

// MessageKey identifies a message by its content, the same for the
// outbox's messages and for what reached the API (see APIMessage).
func MessageKey(m *channels.Message) string {
	switch m.Type {
	case "text":
		return "text:" + m.Text
	case "menu":
		if m.Menu == nil {
			return "menu:"
		}
		var b strings.Builder
		b.WriteString("menu:" + m.Menu.Head)
		for _, it := range m.Menu.Items {
			b.WriteString("|" + it.ID + "=" + it.Text)
		}
		b.WriteString("|" + m.Menu.Tail)
		return b.String()
	}
	b, _ := json.Marshal(m)
	return m.Type + ":" + string(b)
}

// APIMessage reads a customer-service message's JSON as the fake API
// received it back into the message it was made from (text and msgmenu;
// other types keep only their type).
func APIMessage(body []byte) (to string, m channels.Message, err error) {
	var b struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    struct {
			Content string `json:"content"`
		} `json:"text"`
		MsgMenu struct {
			HeadContent string `json:"head_content"`
			List        []struct {
				ID      string `json:"id"`
				Content string `json:"content"`
			} `json:"list"`
			TailContent string `json:"tail_content"`
		} `json:"msgmenu"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return "", m, err
	}
	switch b.MsgType {
	case "text":
		return b.ToUser, textMsg(b.Text.Content), nil
	case "msgmenu":
		menu := &channels.Menu{Head: b.MsgMenu.HeadContent, Tail: b.MsgMenu.TailContent}
		for _, it := range b.MsgMenu.List {
			menu.Items = append(menu.Items, channels.MenuItem{ID: it.ID, Text: it.Content})
		}
		return b.ToUser, channels.Message{Type: "menu", Menu: menu}, nil
	}
	return b.ToUser, channels.Message{Type: b.MsgType}, nil
}

// ---------------------------------------------------------------------
// Driving the followers.

// Drive plays the followers' scripts through the poster, from
// conns goroutines (one connection each at most). Each action waits for
// its acknowledgement before the follower's next one; at most window
// followers are under way at once, in turn, so that follows, answers and
// clicks of different followers interleave as in a live account. A
// follower whose callback is never acknowledged stops there. It returns
// when every follower is done or ctx ends.
func Drive(ctx context.Context, fs []*Follower, to string, conns, window int, p *Poster) {
	if len(fs) == 0 {
		return
	}
	window = max(1, min(window, len(fs)))
	queue := make(chan *Follower, len(fs))
	var admitted atomic.Int64
	admit := func() {
		if i := admitted.Add(1) - 1; i < int64(len(fs)) {
			queue <- fs[i]
		}
	}
	for range window {
		admit()
	}
	done := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(len(fs)))
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var f *Follower
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case f = <-queue:
				}
				if p.post(ctx, f.callback(f.Acked, to)) {
					f.Acked++
				} else {
					// Maybe stored, maybe not: the books leave the
					// follower's runs and messages out.
					f.Unconfirmed = true
					if ctx.Err() != nil {
						return
					}
				}
				if !f.Unconfirmed && f.Acked < len(f.Actions) {
					queue <- f
					continue
				}
				admit()
				if left.Add(-1) == 0 {
					close(done)
				}
			}
		}()
	}
	wg.Wait()
}
