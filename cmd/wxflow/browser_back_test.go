package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserBackAfterASend: the browser's Back after a reply, a
// comment or a close leads to the conversation as it is now, with the
// boxes empty: Chromium filled them again with what had been sent (the
// form state of the page in the history), so that one click on Send
// sent the same reply to the contact a second time, spending the quota.
func TestBrowserBackAfterASend(t *testing.T) {
	const admin = "back-after-send-admin-token-01"
	amy := amyWithWalt(t, admin)
	for _, c := range []struct{ form, box, text string }{
		{"#reply", `#reply textarea[name=text]`, "Your order ships today"},
		{"#comment", `#comment textarea[name=text]`, "asked twice already"},
		{"#close", `#close input[name=note]`, "shipped"},
	} {
		amy.open("/inbox/sandbox/walt")
		amy.typeNew(c.box, c.text)
		amy.submit("send "+c.form, c.form+" button", 200)
		amy.transcriptHas(c.text)
		amy.step("back", chromedp.NavigateBack())
		amy.waitFor("the page before the send is shown again", `document.readyState === "complete" && location.search === ""`)
		amy.transcriptHas(c.text)
		if v := browserEval[string](amy, `document.querySelector(`+"`"+c.box+"`"+`).value`); v != "" {
			t.Errorf("after Back, %s holds %q, sent already: one click sends it again", c.box, v)
		}
	}
}
