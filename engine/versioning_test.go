package engine_test

import (
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// Flow versions: a run keeps the version it started with, across reloads
// and restarts.

const signupV1 = `name: signup
triggers: [{keyword: [signup]}]
steps:
  - send: "v1 start"
  - ask: "v1 name?"
    save: vars.name
  - send: "v1 thanks ${vars.name}"
  - wait: 1h
  - send: "v1 follow-up"
`

// signupV2 moves the steps: resuming a v1 run with it would resume a set.
const signupV2 = `name: signup
triggers: [{keyword: [signup]}]
steps:
  - send: "v2 start"
  - set: { vars.extra: 1 }
  - ask: "v2 name?"
    save: vars.name
  - send: "v2 thanks ${vars.name}"
`

func TestVersionReloadKeepsWaitingRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"signup.yaml": signupV1})
	h.say("signup")
	v1 := h.only("signup").Version
	h.reload(map[string]string{"signup.yaml": signupV2})
	h.sayAs("bob", "signup")
	h.say("Alice")
	h.sayAs("bob", "Bob")
	h.wantTranscript("v1 start | v1 name? | v1 thanks Alice")
	if got := transcript(h.outboxOf("bob")); got != "v2 start | v2 name? | v2 thanks Bob" {
		t.Fatalf("bob: %q", got)
	}
	alice, bob := h.runsOf("alice", "signup")[0], h.runsOf("bob", "signup")[0]
	if alice.Version != v1 || bob.Version == v1 || bob.Version == "" {
		t.Fatalf("versions: alice %s (v1 %s), bob %s", alice.Version, v1, bob.Version)
	}
	if alice.Status != "waiting_time" || bob.Status != "completed" {
		t.Fatalf("alice %s, bob %s", alice.Status, bob.Status)
	}
	h.advance(time.Hour)
	h.wantTranscript("v1 start | v1 name? | v1 thanks Alice | v1 follow-up")
	// A new run of alice's uses the new version.
	h.say("signup")
	if r := h.runsOf("alice", "signup")[1]; r.Version != bob.Version {
		t.Fatalf("alice's new run has version %s", r.Version)
	}
}

func TestVersionRestartResumesFromTheStoredSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"signup.yaml": signupV1})
	h.say("signup")
	h.sayAs("bob", "signup")
	h.sayAs("bob", "Bob") // bob's run waits an hour
	h.restart(map[string]string{"signup.yaml": signupV2})
	h.say("Alice")
	h.wantTranscript("v1 start | v1 name? | v1 thanks Alice")
	h.advance(time.Hour)
	h.wantTranscript("v1 start | v1 name? | v1 thanks Alice | v1 follow-up")
	if got := transcript(h.outboxOf("bob")); got != "v1 start | v1 name? | v1 thanks Bob | v1 follow-up" {
		t.Fatalf("bob: %q", got)
	}
	h.sayAs("carol", "signup")
	if got := transcript(h.outboxOf("carol")); got != "v2 start | v2 name?" {
		t.Fatalf("carol: %q", got)
	}
	h.wantRuns("signup:completed signup:completed signup:waiting_reply")
}

func TestVersionRemovedFlowStillFinishes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"signup.yaml": signupV1})
	h.say("signup")
	h.restart(map[string]string{"other.yaml": flowSending("other", "- keyword: [other]")})
	h.say("Alice")
	h.advance(time.Hour)
	h.wantTranscript("v1 start | v1 name? | v1 thanks Alice | v1 follow-up")
	h.say("signup") // no longer starts anything
	h.wantRuns("signup:completed")
}

func TestVersionSameSourceSameVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"signup.yaml": signupV1})
	h.say("signup")
	h.reload(map[string]string{"signup.yaml": signupV1})
	h.sayAs("bob", "signup")
	if a, b := h.runsOf("alice", "signup")[0], h.runsOf("bob", "signup")[0]; a.Version != b.Version {
		t.Fatalf("versions %s and %s of the same source", a.Version, b.Version)
	}
	var n int
	h.view(func(tx engine.ReadTx) error {
		counts, err := tx.Counts()
		n = counts["flow_versions"]
		return err
	})
	if n != 1 {
		t.Fatalf("%d flow versions stored", n)
	}
}
