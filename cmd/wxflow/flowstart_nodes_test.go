package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
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

// TestQueuedCloseLogs: a conversation action on a node that does not
// hold the contact is logged there as queued (not "not done", nor as a
// "start queued" for a close), the API says what was queued, and a
// queued close the holding node then refuses (closed meanwhile) is
// logged there with its note, which is kept nowhere else.
func TestQueuedCloseLogs(t *testing.T) {
	database := pgDatabase(t)
	t.Setenv("WXFLOW_AMY_TOKEN", "amy-close-across-0123456789")
	flows := map[string]string{"help.yaml": "name: help\ntriggers:\n  - keyword: [help]\nsteps:\n  - assign: amy\n"}
	path := nodeConfig(t, database, flows, "", "operators:\n  amy:\n    token: ${WXFLOW_AMY_TOKEN}\n")
	nodes, logs := loggedNodes(t, database, path, 2)
	holder := laneHolders(t, database, nodes)
	a, b := nodes[0], nodes[1]
	contact := contactOf(holder, b, "closelog-")
	nodeCallback(t, b, textXML(contact, time.Now().Unix(), 91, "help"))
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) { // polls the nodes' commits, in real time
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15 s\nnode a:\n%s\nnode b:\n%s", what, logs[0].String(), logs[1].String())
			}
		}
	}
	waitFor("help assigns amy", func() bool {
		_, body := get(t, a.ConsoleURL()+"api/conversations/main/"+contact, pgAdminToken)
		return strings.Contains(body, `"operator": "amy"`)
	})

	// The second close is amy's: node b's log says whose note it drops,
	// and of which account's contact (it said neither).
	for i, note := range []string{"first note", "second note"} {
		token := pgAdminToken
		if i == 1 {
			token = "amy-close-across-0123456789"
		}
		status, body := postJSON(t, a.ConsoleURL()+"api/conversations/main/"+contact+"/close", token, `{"note": "`+note+`"}`)
		if status != http.StatusAccepted || !strings.Contains(body, `"queued": true`) {
			t.Fatalf("close (%s) on node a: %d %s", note, status, body)
		}
	}
	refused := regexp.MustCompile(`msg="a queued conversation action was refused" (writer=[0-9]+ )?action=close account=main contact=` + regexp.QuoteMeta(contact) + ` by=amy why="conversation already closed by api [^"]*" note="second note"`)
	waitFor("node b refuses the second close, with its note and who wrote it", func() bool {
		return refused.MatchString(logs[1].String())
	})
	if holder(contact) != b {
		t.Fatalf("the lane of %s moved meanwhile: the test proves nothing", contact)
	}
	la := logs[0].String()
	if strings.Contains(la, "conversation action not done") || strings.Contains(la, "start queued") ||
		!strings.Contains(la, `msg="conversation action queued" action=close account=main contact=`+contact+` by=admin detail="queued for the node that holds the contact: close for `+contact+`"`) {
		t.Fatalf("node a's log of the queued closes:\n%s", la)
	}
}

// loggedNodes starts n nodes of the config at path, each logging to its
// own buffer, and waits until they share the lanes.
func loggedNodes(t *testing.T, database, path string, n int) ([]*server, []*syncBuffer) {
	t.Helper()
	logs := make([]*syncBuffer, n)
	var nodes []*server
	for i := range logs {
		logs[i] = &syncBuffer{}
		s, err := newServer(context.Background(), loadNodeConfig(t, path), serverOptions{Logger: slog.New(slog.NewTextHandler(logs[i], nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			s.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.Shutdown(ctx)
		})
		nodes = append(nodes, s)
	}
	waitBalanced(t, nodes)
	return nodes, logs
}

// TestQueuedStartReentryLogs: a flow started through the admin API on a
// node that does not hold the contact is answered 202 there; when the
// holding node then finds the flow running already (reentry: ignore),
// it logs that the start did not start, and why, as it does for a
// cooldown. It did nothing and said nothing: the 202 was the only word.
func TestQueuedStartReentryLogs(t *testing.T) {
	database := pgDatabase(t)
	flows := map[string]string{"hold.yaml": "name: hold\ntriggers:\n  - keyword: [hold]\nsteps:\n  - wait: 1h\n"}
	path := nodeConfig(t, database, flows, "", "")
	nodes, logs := loggedNodes(t, database, path, 2)
	holder := laneHolders(t, database, nodes)
	a, b := nodes[0], nodes[1]
	contact := contactOf(holder, b, "reentrylog-")
	nodeCallback(t, b, followXML(contact, time.Now().Unix()))

	start := `{"account": "main", "contact": "` + contact + `"}`
	if status, body := postJSON(t, b.ConsoleURL()+"api/flows/hold/start", pgAdminToken, start); status != http.StatusCreated {
		t.Fatalf("the first start, on node b: %d %s", status, body)
	}
	if status, body := postJSON(t, a.ConsoleURL()+"api/flows/hold/start", pgAdminToken, start); status != http.StatusAccepted || !strings.Contains(body, `"queued": true`) {
		t.Fatalf("the second start, on node a: %d %s", status, body)
	}
	want := `msg="a flow started through the API did not start" flow=hold account=main contact=` + contact + ` why="the flow runs already for the contact (reentry: ignore)"`
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(logs[1].String(), want); time.Sleep(20 * time.Millisecond) { // polls node b's log, in real time
		if time.Now().After(deadline) {
			t.Fatalf("node b did not log the queued start it ignored within 15 s\nnode a:\n%s\nnode b:\n%s", logs[0].String(), logs[1].String())
		}
	}
	if holder(contact) != b {
		t.Fatalf("the lane of %s moved meanwhile: the test proves nothing", contact)
	}
}
