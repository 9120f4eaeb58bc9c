package engine_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// What survives a restart, and what happens to a run whose http call is
// under way.

// gate is a loopback service that holds each request until released.
type gate struct {
	*httptest.Server
	calls   atomic.Int32
	arrived chan struct{}
	release chan struct{}
}

func newGate(t *testing.T) *gate {
	g := &gate{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		g.arrived <- struct{}{}
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, `{"ok": true}`)
	}))
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
		g.Close()
	})
	return g
}

func callFlow(url string) string {
	return `name: call
triggers: [{keyword: [call]}]
steps:
  - http:
      url: "` + url + `"
      timeout: 1m
      save: vars.res
  - send: "ok=${vars.res.body.ok}"
`
}

func TestUnfollowWhileAnHTTPCallIsUnderWay(t *testing.T) {
	t.Parallel()
	g := newGate(t)
	h := newHarnessWith(t, map[string]string{"call.yaml": callFlow(g.URL)}, opts{tune: func(c *engine.Config) { c.HTTPClient = plainClient() }})
	if err := h.e.Ingest(h.ctx, channels.Event{Account: "main", Contact: "alice", Kind: channels.Text, Text: "call", MsgID: "1"}); err != nil {
		t.Fatal(err)
	}
	<-g.arrived
	h.wantRuns("call:calling")
	h.clock.Advance(time.Second)
	if err := h.e.Ingest(h.ctx, channels.Event{Account: "main", Contact: "alice", Kind: channels.Unfollow, At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	h.sync()
	h.wantRuns("call:unfollowed")
	h.wantTranscript("")
	if r := h.only("call"); r.State.Request != nil {
		t.Fatalf("ended run keeps its request %+v", r.State.Request)
	}
}

func TestHTTPCallUnderWayAtAStopIsMadeAgain(t *testing.T) {
	t.Parallel()
	g := newGate(t)
	h := newHarnessWith(t, map[string]string{"call.yaml": callFlow(g.URL)}, opts{tune: func(c *engine.Config) { c.HTTPClient = plainClient() }})
	if err := h.e.Ingest(h.ctx, channels.Event{Account: "main", Contact: "alice", Kind: channels.Text, Text: "call", MsgID: "1"}); err != nil {
		t.Fatal(err)
	}
	<-g.arrived
	h.closeStore() // stop while the call is under way: its answer is lost
	h.openEngine()
	<-g.arrived // the new engine makes the call again, as it starts
	close(g.release)
	h.loadFlows()
	if r := h.only("call"); r.Status != engine.RunCompleted {
		t.Fatalf("run %s: %s", r.Status, r.State.Error)
	}
	h.wantTranscript("ok=true")
	if n := g.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

func TestRestartResumesNestedAsksAndWaits(t *testing.T) {
	t.Parallel()
	flow := map[string]string{"order.yaml": `name: order
triggers: [{keyword: [order]}]
steps:
  - branch:
      - if: event.text == "order"
        then:
          - ask: "Size?"
            expect: choice
            choices: { s: [small, s], l: [large, l] }
            save: vars.size
            timeout: 2h
            on_timeout: gave_up
          - wait: 1h
          - send: "size ${vars.size}"
  - send: "after the branch"
  - end
  - id: gave_up
    send: "gave up"
`}
	h := newHarness(t, flow)
	h.say("order")
	h.restart(flow)
	h.say("L")
	h.restart(flow)
	h.advance(time.Hour)
	h.wantTranscript("Size? | size l | after the branch")
	h.wantRuns("order:completed")

	h.say("order")
	h.restart(flow)
	h.advance(2 * time.Hour) // the timeout survives the restart
	h.wantTranscript("Size? | size l | after the branch | Size? | gave up")
}

func TestRestartKeepsContactsSessionsAndDedupe(t *testing.T) {
	t.Parallel()
	flow := map[string]string{"f.yaml": `name: f
triggers: [message]
steps:
  - tag: [seen]
  - send: "${contact.window.quota_left}"
`}
	h := newHarness(t, flow)
	h.send(channels.Event{Kind: channels.Text, Text: "hi", MsgID: "42"})
	h.restart(flow)
	h.send(channels.Event{Kind: channels.Text, Text: "hi", MsgID: "42"}) // WeChat's retry after the restart
	h.wantRuns("f:completed")
	h.clock.Advance(time.Minute)
	h.say("again")
	h.wantTranscript("5 | 5")
	if c := h.contact("alice"); !c.HasTag("seen") || !c.Followed {
		t.Fatalf("contact %+v", c)
	}
	// Run ids go on from the stored ones.
	runs := h.runs("f")
	if len(runs) != 2 || runs[1].ID <= runs[0].ID {
		t.Fatalf("runs %+v", runs)
	}
}

// TestRestartResumesVersionsTheConfigNoLongerDeclares: a run keeps its
// flow version across a restart that also changed the config's names
// (a secret or an operator the new flow no longer uses, removed from the
// config with it). The stored version was checked against the config
// when it was loaded; reading it back for a restart checks its syntax,
// not the names. Before, the run waiting in it failed at its answer
// ("flow version ... no longer loads: secret "CRM_TOKEN" is not
// declared"), where the same server before the restart went on with it
// (found under serve: edit a flow to drop its CRM call, drop the secret
// from the config, restart, answer).
func TestRestartResumesVersionsTheConfigNoLongerDeclares(t *testing.T) {
	t.Parallel()
	v1 := map[string]string{"survey.yaml": `name: survey
triggers: [{keyword: [survey]}]
steps:
  - ask: "Size?"
    save: vars.size
  - send: "size ${vars.size}"
  - branch:
      - if: vars.size == "crm"
        then:
          - http:
              url: https://crm.example/leads
              headers: { Authorization: "Bearer ${secret.CRM_TOKEN}" }
          - assign: carol
`}
	v2 := map[string]string{"survey.yaml": `name: survey
triggers: [{keyword: [survey]}]
steps:
  - ask: "Size?"
    save: vars.size
  - send: "new size ${vars.size}"
`}
	declared := flows.Options{CheckSecrets: true, Secrets: []string{"CRM_TOKEN"}, People: &flows.People{Operators: map[string][]string{"carol": nil}}}
	h := newHarnessWith(t, v1, opts{tune: func(c *engine.Config) { c.LoadOptions = declared }})
	h.say("survey")
	h.tune = func(c *engine.Config) { c.LoadOptions = flows.Options{CheckSecrets: true, People: &flows.People{}} }
	h.restart(v2)
	h.say("L")
	h.wantTranscript("Size? | size L")
	h.wantRuns("survey:completed")
}
