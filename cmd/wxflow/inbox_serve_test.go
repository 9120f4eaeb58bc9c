package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	srvAmyToken = "amy-operator-token-0123456789"
	srvBobToken = "bob-operator-token-0123456789"
)

// srvHandoff hands a follower who asks for a person to the team
// support, round robin.
const srvHandoff = `name: handoff
triggers:
  - keyword: [person]
steps:
  - assign: { team: support, pick: round_robin }
  - send: "${conversation.assignee} will answer you here."
`

// postJSON posts a JSON body with the bearer token when token is not "".
func postJSON(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeInboxOperatorsAndSecrets: on a server of a WeChat account
// (safe mode), each operator's token acts as them, a reply reaches
// WeChat, nobody acts without a token or with a wrong one, and no page
// or answer of the inbox holds a secret.
func TestServeInboxOperatorsAndSecrets(t *testing.T) {
	b := srvStart(t, map[string]string{"handoff.yaml": srvHandoff}, aesKeyLine(true)+`admin:
  listen: localhost:0
  token: `+srvAdminToken+`
teams:
  support:
operators:
  amy:
    display_name: Amy Li
    teams: [support]
    token: `+srvAmyToken+`
  bob:
    teams: [support]
    token: `+srvBobToken+`
`)
	if status, _ := b.post(textXML("o_carol", time.Now().Unix(), 1, "person"), true); status != 200 {
		t.Fatalf("carol's message: %d", status)
	}
	b.waitSent(1)
	admin := b.s.ConsoleURL()
	conv := admin + "api/conversations/main/o_carol"

	for _, tok := range []string{"", "amy-operator-token-012345678x", srvAppID} {
		if status, body := postJSON(t, conv+"/reply", tok, `{"text":"hello"}`); status != http.StatusUnauthorized {
			t.Fatalf("a reply with token %q: %d %s, want 401", tok, status, body)
		}
	}
	if status, body := postJSON(t, conv+"/reply", srvAmyToken, `{"text":"Amy here"}`); status != http.StatusCreated {
		t.Fatalf("amy's reply: %d %s", status, body)
	}
	if status, body := postJSON(t, conv+"/comment", srvBobToken, `{"text":"bob looked"}`); status != http.StatusCreated {
		t.Fatalf("bob's comment: %d %s", status, body)
	}
	sent := b.waitSent(2)
	if got := sentText(t, sent[1]); got != "Amy here" {
		t.Fatalf("WeChat got %q, want amy's reply", got)
	}
	_, body := get(t, conv, srvBobToken)
	if !strings.Contains(body, `"from": "operator amy"`) || !strings.Contains(body, `"by": "operator bob"`) {
		t.Fatalf("the transcript should record amy's reply and bob's comment as theirs:\n%s", body)
	}

	secrets := []string{srvSecret, srvToken, srvAESKey, srvAdminToken, srvAmyToken, srvBobToken, b.api.CurrentToken(srvAppID)}
	for _, p := range []string{"api/conversations", "api/conversations?view=teams", "api/conversations/main/o_carol", "api/me",
		"inbox", "inbox?view=teams", "inbox/main/o_carol", "contacts/main/o_carol", "messages"} {
		for _, tok := range []string{srvAmyToken, srvBobToken, srvAdminToken} {
			if tok == srvAdminToken && strings.Contains(p, "view=teams") {
				continue
			}
			status, body := get(t, admin+p, tok)
			if status != http.StatusOK {
				t.Fatalf("GET /%s: %d %.300s", p, status, body)
			}
			for _, s := range secrets {
				if s != "" && strings.Contains(body, s) {
					t.Fatalf("GET /%s shows a secret", p)
				}
			}
		}
	}
	// The login page, and a failed login, show no token either.
	resp, err := http.PostForm(admin+"login", url.Values{"token": {srvAmyToken + "x"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(page), "Nor an operator's.") {
		t.Fatalf("a wrong operator token at the login: %d\n%s", resp.StatusCode, page)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(page), s) {
			t.Fatal("the failed login shows a secret")
		}
	}
}

// TestServeConsoleExportHasThePeopleAndTheAccountsRules: the console's
// download of a contact's conversation as a test is the scenario `wxflow
// export-test` writes, the server's operators and teams and the
// account's auto_close included: it had neither, so the download of a
// conversation a flow handed to a team failed as it was (`assign: no team
// "support" is declared`), and closed at the default 48h.
func TestServeConsoleExportHasThePeopleAndTheAccountsRules(t *testing.T) {
	b := srvStart(t, map[string]string{"handoff.yaml": srvHandoff}, `    auto_close: 30m
admin:
  listen: localhost:0
  token: `+srvAdminToken+`
teams:
  support:
operators:
  amy:
    teams: [support]
    token: `+srvAmyToken+`
`)
	b.settled()
	if status, _ := b.post(textXML("o_carol", time.Now().Unix(), 1, "person"), false); status != 200 {
		t.Fatalf("carol's message: %d", status)
	}
	b.waitSent(1)
	status, src := get(t, b.s.ConsoleURL()+"contacts/main/o_carol/test.yaml", srvAdminToken)
	if status != http.StatusOK {
		t.Fatalf("the download: %d %s", status, src)
	}
	for _, want := range []string{"auto_close: 30m", "operators:", "teams:"} {
		if !strings.Contains(src, want) {
			t.Errorf("the download lacks %q:\n%s", want, src)
		}
	}
	b.writeFlow("carol.test.yaml", src)
	if r := runCLI(t, "test", b.flows); r.code != exitOK || lastLine(r.stdout) != "1 passed, 0 failed" {
		t.Fatalf("wxflow test on the download: exit %d\n%s%s\n--- the download:\n%s", r.code, r.stdout, r.stderr, src)
	}
}
