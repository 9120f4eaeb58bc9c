package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFlowPageStartQueuedIsNotAnError: the flow page's Start form, on a
// node that does not hold the contact's lane, queues the start for the
// node that does: the page says so as done, not in red as an error (an
// operator reading "error" starts it again, and the flow runs twice).
// The start then runs, once.
func TestFlowPageStartQueuedIsNotAnError(t *testing.T) {
	const amyToken = "amy-flowstart-across-0123456789"
	a, b, api, contact, holder := amyNodes(t, amyToken, "flowstart-")
	nodeCallback(t, b, followXML(contact, time.Now().Unix()))

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodPost, a.ConsoleURL()+"flows/help/start", strings.NewReader(url.Values{"account": {"main"}, "contact": {contact}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+pgAdminToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(loc, "error=") || !strings.Contains(loc, "done=") {
		t.Fatalf("the start on node a: %d to %q, want a redirect saying it is queued, not an error", resp.StatusCode, loc)
	}
	status, page := get(t, a.ConsoleURL()+strings.TrimPrefix(loc, "/"), pgAdminToken)
	if status != http.StatusOK || strings.Contains(page, `role="alert"`) || !strings.Contains(page, `role="status" id="done">Queued: another node holds `+contact+` and starts the flow in a moment.`) {
		t.Fatalf("the flow page after a queued start: %d\n%s", status, page)
	}

	// Node b runs it: help assigns amy.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		_, body := get(t, b.ConsoleURL()+"api/conversations/main/"+contact, pgAdminToken)
		if strings.Contains(body, `"operator": "amy"`) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the queued start never ran: %s", body)
		}
		time.Sleep(20 * time.Millisecond) // polls node b's commit, in real time
	}
	if holder(contact) != b {
		t.Fatalf("the lane of %s moved meanwhile: the test proves nothing", contact)
	}
	_ = api
}
