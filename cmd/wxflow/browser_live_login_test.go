package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLiveEndsAtLogout: a live page (the inbox, a conversation)
// whose login ends (Log out in another tab; the 12 hours run out) goes
// to the login page, which leads back to it. The stream ended, and its
// reconnection was answered with the login page instead of a stream:
// the page stayed as it was, still marked live, updating nothing, its
// reply box enabled, until a Send answered "log in first".
func TestBrowserLiveEndsAtLogout(t *testing.T) {
	const admin = "live-logout-admin-token-0123"
	amy := amyWithWalt(t, admin)
	amy.open("/inbox/sandbox/walt")
	amy.live()
	other := amy.newTab()
	other.open("/flows")
	other.submit("log out in another tab", `form.logout button`, 200)
	// The page navigates by itself: ask the page shown again and again
	// (an evaluation begun before the navigation fails with it).
	gone := false
	for deadline := time.Now().Add(browserStepTimeout); !gone && time.Now().Before(deadline); {
		ctx, cancel := context.WithDeadline(amy.ctx, deadline)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.pathname === "/login" && !!document.querySelector("form.login")`))
		cancel()
		gone = err == nil && ok
		if !gone {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if p := amy.path(); p != "/login?next=%2Finbox%2Fsandbox%2Fwalt" {
		t.Errorf("the page went to %s, want the login page leading back to the conversation", p)
	}
	// Logged in again, the page comes back and is live.
	amy.typeInto(`form.login input[name=token]`, sandboxAmyToken)
	amy.submit("log in again", `form.login button`, 200)
	if p := amy.path(); p != "/inbox/sandbox/walt" {
		t.Fatalf("logging in again leads to %s", p)
	}
	amy.live()
}

// TestBrowserLiveAnotherLogin: a live page whose browser logs in again
// in another tab (here as another operator, which ends the first login)
// reads itself again whole: its live parts followed the new login while
// its header still named the first operator and its forms carried the
// ended login's CSRF token, so that a reply typed there was refused
// ("the form's CSRF token is missing or out of date").
func TestBrowserLiveAnotherLogin(t *testing.T) {
	const admin = "live-login-admin-token-01234"
	amy := amyWithWalt(t, admin)
	amy.open("/inbox/sandbox/walt")
	amy.wantText("#me", "Amy")
	amy.live()
	other := amy.newTab()
	other.loginAs(sandboxBobToken)
	other.wantText("#me", "Bob")
	// The next change tells the first tab's stream that its login ended.
	amy.api("POST", "/api/sandbox", admin, `{"contact": "walt", "action": "text", "text": "anyone?"}`, 200)
	ok := false
	for deadline := time.Now().Add(browserStepTimeout); !ok && time.Now().Before(deadline); {
		ctx, cancel := context.WithDeadline(amy.ctx, deadline)
		ok, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const me = document.querySelector("#me"); return !!me && me.innerText.includes("Bob"); })()`))
		cancel()
		if !ok {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatalf("the first tab still names %q after another login in the browser", amy.text("#me"))
	}
	amy.live()
	amy.typeNew(`#reply textarea[name=text]`, "Bob here")
	amy.submit("reply", `#reply button`, 200)
	amy.transcriptHas("Bob here")
}

// amyOnSandbox starts a sandbox console with the admin token admin and
// logs amy in.
func amyOnSandbox(t *testing.T, admin string) *browser {
	t.Helper()
	chromium := browserExec(t)
	cfg := sandboxConfig()
	cfg.Flows = browserFlows(t)
	cfg.Admin.Token = admin
	amy := newBrowser(t, chromium, browserServer(t, cfg))
	amy.loginAs(sandboxAmyToken)
	return amy
}

// amyWithWalt is amyOnSandbox, with walt having written "hello".
func amyWithWalt(t *testing.T, admin string) *browser {
	t.Helper()
	amy := amyOnSandbox(t, admin)
	amy.api("POST", "/api/sandbox", admin, `{"contact": "walt", "action": "text", "text": "hello"}`, 200)
	return amy
}
