package main

import (
	"slices"
	"testing"
)

// TestBrowserInboxOlderAfterALiveUpdate: the inbox's Older follows the
// list as it updates by itself. It was drawn with the page and left as
// it was when the list updated: a conversation that came in pushed the
// page's last row off the list, and Older, still leading past that row,
// skipped it (here ben: the second page showed only ann).
func TestBrowserInboxOlderAfterALiveUpdate(t *testing.T) {
	const admin = "inbox-older-admin-token-0123"
	amy := amyOnSandbox(t, admin)
	write := func(contact string) {
		// A minute apart: the sandbox's clock stands still otherwise,
		// and the inbox lists the newest interaction first.
		amy.api("POST", "/api/sandbox", admin, `{"contact": "`+contact+`", "action": "advance", "duration": "1m"}`, 200)
		amy.api("POST", "/api/sandbox", admin, `{"contact": "`+contact+`", "action": "text", "text": "hello"}`, 200)
	}
	for _, c := range []string{"ann", "ben", "cat"} {
		write(c)
	}
	rows := func() []string {
		return browserEval[[]string](amy, `[...document.querySelectorAll("#conversations tr[data-contact]")].map(r => r.dataset.contact)`)
	}
	amy.open("/inbox?view=all&limit=2")
	if got := rows(); !slices.Equal(got, []string{"cat", "ben"}) {
		t.Fatalf("the first page lists %v, want [cat ben]", got)
	}
	amy.live()
	write("dan")
	amy.waitFor("dan's conversation comes in", `!!document.querySelector('#conversations tr[data-contact="dan"]')`)
	amy.stillSamePage()
	if got := rows(); !slices.Equal(got, []string{"dan", "cat"}) {
		t.Fatalf("the first page lists %v after dan wrote, want [dan cat]", got)
	}
	amy.submit("older", `a.next`, 200)
	if got := rows(); !slices.Equal(got, []string{"ben", "ann"}) {
		t.Errorf("Older lists %v, want [ben ann]: nothing skipped", got)
	}
}
