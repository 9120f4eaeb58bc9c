package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// notes returns alice's event notes' words, oldest first.
func (h *harness) notes() []string {
	h.t.Helper()
	var ns []*engine.EventNote
	h.view(func(tx engine.ReadTx) error {
		var err error
		ns, err = tx.EventNotes("main", "alice", 100)
		return err
	})
	out := make([]string, len(ns))
	for i, n := range ns {
		out[len(ns)-1-i] = n.Why
	}
	return out
}

// wantNote checks that the newest note holds every part.
func (h *harness) wantNote(parts ...string) {
	h.t.Helper()
	ns := h.notes()
	if len(ns) == 0 {
		h.t.Fatalf("no note, want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(ns[len(ns)-1], p) {
			h.t.Fatalf("note %q lacks %q", ns[len(ns)-1], p)
		}
	}
}

func TestWhyNothingHappened(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"vip.yaml": `name: vip
triggers:
  - keyword: [offer]
    if: '"vip" in contact.tags'
steps:
  - send: "VIP offer"
`,
		"promo.yaml": `name: promo
cooldown: 1h
triggers:
  - keyword: [offer]
    priority: -1
steps:
  - send: "Promo"
`,
		"quiz.yaml": `name: quiz
triggers:
  - keyword: [quiz]
    priority: 5
steps:
  - wait: 1h
  - send: "Quiz time"
`,
		"quiz2.yaml": `name: quiz-lite
triggers:
  - keyword: [quiz]
steps:
  - send: "Lite quiz"
`,
		"other.yaml": `name: other-account
account: shop
triggers:
  - keyword: [hours]
steps:
  - send: "9 to 5"
`,
		"help.yaml": `name: help
triggers:
  - menu: MENU_HELP
steps:
  - send: "Help"
`,
	})
	h.say("hello")
	h.wantNote(`no trigger matched text "hello"`)
	// The text as written: "two   words" is no keyword "two words".
	h.say("two   words\nthen")
	h.wantNote(`no trigger matched text "two   words\nthen"`)

	h.menu("MENU_NOPE")
	h.wantNote(`unknown menu key "MENU_NOPE"`)

	h.say("hours")
	h.wantNote(`no trigger matched text "hours"`, "other-account (other.yaml:4) is for account shop")

	// The first offer starts promo (vip's if: is false); the second
	// finds promo cooling down.
	h.say("offer")
	h.wantTranscript("Promo")
	n := len(h.notes())
	h.say("offer")
	h.wantNote(`no flow started for text "offer"`, `vip (vip.yaml:3): its if: is false ("vip" in contact.tags)`,
		"promo (promo.yaml:4): cooling down until 2026-11-20 11:00")
	if len(h.notes()) != n+1 {
		t.Fatalf("notes %q", h.notes())
	}

	// quiz waits; a second quiz is kept out by reentry, and quiz-lite
	// lost to it.
	h.say("quiz")
	h.say("quiz")
	h.wantNote("quiz (quiz.yaml:3): the contact has a run of it already (reentry: ignore)", "quiz-lite (quiz2.yaml:3): quiz comes first (priority 5")

	// What starts a flow gets no note.
	n = len(h.notes())
	h.menu("MENU_HELP")
	h.advance(2 * time.Hour)
	if len(h.notes()) != n {
		t.Fatalf("a started flow got a note: %q", h.notes())
	}
}
