package scenario

import "testing"

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
