package scenario

import (
	"strings"
	"testing"
)

// TestOnFailAfterTheDispatcher: on_fail is taken when the platform
// refuses the message (or it still fails after retries), not only when
// the channel's policy refuses it before sending; the steps after the
// send wait for its outcome, and an unknown outcome is not a failure.
func TestOnFailAfterTheDispatcher(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"coupon.yaml": `name: coupon
triggers:
  - keyword: [coupon]
steps:
  - send: { image: { media_id: COUPON_1 } }
    on_fail: no_image
  - send: "Show this at the till."
  - end
  - id: no_image
    send: "Your code is C-123."
`,
	})
	mustPass(t, set, `name: WeChat refuses the image, the text goes instead
script:
  - fail_next: { reason: api_error, code: 40007 }
  - say: coupon
  - expect: { image: "*", status: failed, reason: api_error }
  - expect: "Your code is C-123."
  - expect_none
  - expect_run: { flow: coupon, status: completed }
`)
	mustPass(t, set, `name: sent, the run goes on
script:
  - say: coupon
  - expect: { image: "*" }
  - expect: "Show this at the till."
  - expect_none
`)
	mustPass(t, set, `name: an unknown outcome is not a failure
script:
  - fail_next: unknown
  - say: coupon
  - expect: { status: unknown }
  - expect: "Show this at the till."
  - expect_none
`)
}

// TestWhyInTranscripts: an action that starts nothing says why in the
// transcript: in a failure's report and, with Verbose, under a passed
// scenario.
func TestWhyInTranscripts(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"help.yaml": `name: help
triggers:
  - menu: MENU_HELP
  - keyword: [help]
    if: '"vip" in contact.tags'
steps:
  - send: "How can we help?"
`,
	})
	src := `name: nothing answers
script:
  - menu: MENU_HLP
  - say: help
  - expect_none
`
	sum, out := runSource(t, set, src, Options{Verbose: true})
	want := `ok   t.test.yaml:1: nothing answers
      > menu MENU_HLP
          why nothing: unknown menu key "MENU_HLP": no flow has a menu trigger for it
      > say "help"
          why nothing: no flow started for text "help": help (help.yaml:4): its if: is false ("vip" in contact.tags)
`
	if sum.Failed != 0 || out != want {
		t.Errorf("%s, output:\n%s\nwant:\n%s", sum, out, want)
	}
	sum, out = runSource(t, set, src+"  - expect: \"How can we help?\"\n", Options{})
	if sum.Failed != 1 || !strings.Contains(out, `why nothing: unknown menu key "MENU_HLP"`) {
		t.Errorf("%s, output:\n%s", sum, out)
	}
}

// TestSkippedStepsInTranscripts: a step skipped because its if: is false
// says so in the transcript, where it happened.
func TestSkippedStepsInTranscripts(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"hi.yaml": `name: hi
triggers: [follow]
steps:
  - send: "Hi!"
  - if: event.scene != ""
    send: "Thanks for scanning ${event.scene}."
  - send: "Write to us."
`,
	})
	sum, out := runSource(t, set, "name: plain follow\nscript: [follow, { expect: Hi! }, { expect: Write to us. }]\n", Options{Verbose: true})
	want := `ok   t.test.yaml:1: plain follow
      > follow
       1. sent: text "Hi!"
          skipped send (line 5) of hi: its if: is false
       2. sent: text "Write to us."
`
	if sum.Failed != 0 || out != want {
		t.Errorf("%s, output:\n%s\nwant:\n%s", sum, out, want)
	}
}

// TestNotStartedInTranscripts: a start: whose flow its cooldown or
// reentry keeps from starting says so in the transcript.
func TestNotStartedInTranscripts(t *testing.T) {
	t.Parallel()
	set := loadFlows(t, map[string]string{
		"hi.yaml": `name: hi
triggers: [follow]
steps:
  - send: "Hi!"
  - start: survey
  - start: quiz
`,
		"again.yaml": `name: again
triggers:
  - keyword: [again]
steps:
  - start: survey
  - start: quiz
`,
		"survey.yaml": `name: survey
cooldown: 12h
steps:
  - send: "A survey."
`,
		"quiz.yaml": `name: quiz
steps:
  - send: "Ready?"
  - wait: 1h
`,
	})
	sum, out := runSource(t, set, `name: twice
script:
  - follow
  - expect: "Hi!"
  - expect: "A survey."
  - expect: "Ready?"
  - say: again
  - expect_none
`, Options{Verbose: true})
	want := `ok   t.test.yaml:1: twice
      > follow
       1. sent: text "Hi!"
       2. sent: text "A survey."
       3. sent: text "Ready?"
      > say "again"
          start (line 5) of again did not start survey: it is cooling down until 2026-11-16 14:00:00 +00:00 (cooldown 12h)
          start (line 6) of again did not start quiz: the contact has a run of it already (reentry: ignore)
`
	if sum.Failed != 0 || out != want {
		t.Errorf("%s, output:\n%s\nwant:\n%s", sum, out, want)
	}
}
