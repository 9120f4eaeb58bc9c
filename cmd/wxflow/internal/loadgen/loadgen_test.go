package loadgen

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
)

// The test account's credentials (those of cmd/wxflow's serve tests).
const (
	srvAppID  = "wx0123456789abcdef"
	srvToken  = "tok3nABC"
	srvAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	srvGhID   = "gh_0123456789ab"
)

func TestScriptsAndModel(t *testing.T) {
	a, b := Scripts(ScenarioMixed, 100, 3, "x"), Scripts(ScenarioMixed, 100, 3, "x")
	for i := range a {
		if !reflect.DeepEqual(a[i].Actions, b[i].Actions) {
			t.Fatalf("follower %d: the same seed gave different scripts", i)
		}
	}
	// A follow through a QR code, a click on Help (which takes the
	// conversation over), a tap, a second Help, and an unfollow.
	f := &Follower{Contact: "o_1", Actions: []Action{
		{kind: actFollow, scene: "store_2"},
		{kind: actClick, key: bfKeyHelp},
		{kind: actTap, key: "hours", text: "Opening hours"},
		{kind: actClick, key: bfKeyHelp},
		{kind: actClick, key: bfKeyHelp},
		{kind: actUnfollow},
	}}
	runs, msgs := Expect(ScenarioMixed, f, len(f.Actions))
	wantRuns := map[string]int{
		"bench-welcome interrupted": 1, "bench-menu completed": 1, "bench-menu restarted": 1, "bench-menu unfollowed": 1,
	}
	if !reflect.DeepEqual(runs, wantRuns) {
		t.Errorf("runs %v, want %v", runs, wantRuns)
	}
	menu := benchMenuMessage()
	wantMsgs := map[string]int{
		"text:Welcome! Thanks for scanning store_2.": 1, "text:" + bfAskName: 1,
		MessageKey(&menu): 3, "text:" + bfMenuItems[0].answer: 1,
	}
	if !reflect.DeepEqual(msgs, wantMsgs) {
		t.Errorf("messages %v, want %v", msgs, wantMsgs)
	}
}

func TestLatencyAndSigner(t *testing.T) {
	var l latencyRecorder
	for i := 100; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	if got, want := l.summary(), (LatencySummary{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	if got := (&latencyRecorder{}).summary(); got != (LatencySummary{}) {
		t.Errorf("empty summary %+v", got)
	}

	s, err := NewSigner(srvToken, srvGhID, srvAppID, srvAESKey)
	if err != nil {
		t.Fatal(err)
	}
	plain := eventXML(srvGhID, "o_a", 1, "subscribe", "")
	q, body, err := s.sign(plain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	env, err := wechat.ParseCallback(body)
	if err != nil {
		t.Fatal(err)
	}
	if !wechat.VerifySignature(v.Get("msg_signature"), srvToken, v.Get("timestamp"), v.Get("nonce"), env.Encrypt) ||
		!wechat.VerifySignature(v.Get("signature"), srvToken, v.Get("timestamp"), v.Get("nonce")) || v.Get("encrypt_type") != "aes" {
		t.Errorf("bad signatures in %s", q)
	}
	c, _ := wechat.NewCipher(srvAESKey, srvAppID)
	if got, err := c.Decrypt(env.Encrypt); err != nil || string(got) != string(plain) {
		t.Errorf("decrypted %q, %v", got, err)
	}
}
