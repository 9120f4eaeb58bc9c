package main

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// folderOf writes files (name -> content) into a new folder.
func folderOf(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

// TestValidateConfig: with --config, flows are checked against the serve
// config: the operators and teams they assign to and the secrets they
// read; without it, any name goes.
func TestValidateConfig(t *testing.T) {
	t.Parallel()
	flowsDir := folderOf(t, map[string]string{"crm.yaml": `name: crm
triggers:
  - follow
steps:
  - http:
      url: "https://crm.example.com/?key=${secret.CRM_KEY}"
`, "handoff.yaml": `name: handoff
triggers:
  - keyword: [person]
steps:
  - assign: amy
  - assign: zed
  - assign: { team: suport }
  - assign: { team: support, pick: round_robin }
`})
	cfgDir := folderOf(t, map[string]string{
		"wxflow.yaml": "sandbox: true\nteams:\n  support:\noperators:\n  amy:\n    teams: [support]\n    token: amy-t0ken-0123456789\n",
		"broken.yaml": "sandbox: true\noperators:\n  Amy:\n    token: amy-t0ken-0123456789\n",
	})
	if r := runCLI(t, "validate", flowsDir); r.code != exitOK {
		t.Fatalf("without --config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := runCLI(t, "validate", "--config", filepath.Join(cfgDir, "wxflow.yaml"), flowsDir)
	handoff := filepath.Join(flowsDir, "handoff.yaml")
	for _, want := range []string{
		handoff + `:6:13: error: no operator named "zed" (declared operators: amy)`,
		handoff + `:7:21: error: no team named "suport" (did you mean "support"?)`,
		`secret "CRM_KEY" is not declared`,
		"2 flows checked: 3 errors, 0 warnings",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("with --config: no %q in\n%s%s", want, r.stdout, r.stderr)
		}
	}
	if r.code != exitProblems || strings.Contains(r.stdout, "amy-t0ken") {
		t.Errorf("with --config: exit %d, want %d (and no token shown)", r.code, exitProblems)
	}

	broken := filepath.Join(cfgDir, "broken.yaml")
	r = runCLI(t, "validate", "--config", broken, flowsDir)
	if want := broken + `:3:3: error: operator name "Amy" must be`; r.code != exitProblems || !strings.Contains(r.stderr, want) {
		t.Errorf("a broken config: exit %d, want %d and %q\n%s%s", r.code, exitProblems, want, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "amy-t0ken") {
		t.Errorf("the token shows: %s", r.stderr)
	}
	missing := filepath.Join(cfgDir, "missing.yaml")
	if r := runCLI(t, "validate", "--config", missing, flowsDir); r.code != exitUsage || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("a missing config: exit %d, want %d\n%s", r.code, exitUsage, r.stderr)
	}
}

// TestSandboxDeclaresOperators: the sandbox without a config file has two
// operators of the team support, always on shift, whose tokens log in.
func TestSandboxDeclaresOperators(t *testing.T) {
	t.Parallel()
	cfg := sandboxConfig()
	p := cfg.People()
	if len(p.Operators) != 2 || p.Operators[0].Name != "amy" || p.Operators[1].Name != "bob" {
		t.Fatalf("operators %+v, want amy then bob", p.Operators)
	}
	for _, o := range p.Operators {
		if len(o.Teams) != 1 || o.Teams[0] != "support" {
			t.Errorf("%s's teams %v, want [support]", o.Name, o.Teams)
		}
	}
	if h, ok := p.Teams["support"]; !ok || h != nil {
		t.Errorf("team support %v, %v: want declared, always on shift", h, ok)
	}
	cfg.Database = filepath.Join(t.TempDir(), "wxflow.db")
	cfg.Flows = examplesDir
	s, err := newServer(context.Background(), cfg, serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.engine.People(); !reflect.DeepEqual(*got, p) {
		t.Errorf("the sandbox's engine has the people %+v, want %+v", *got, p)
	}
	for tok, name := range map[string]string{"amy-sandbox-token": "amy", "bob-sandbox-token": "bob"} {
		if o, ok := cfg.OperatorByToken(tok); !ok || o.Name != name {
			t.Errorf("token %s logs in as %v, %v; want %s (docs/config.md prints it)", tok, o, ok, name)
		}
	}
}

// TestValidateConfigSession: with --config, the window and quota checks
// use the accounts' session: settings when they agree (one account): a
// quota of 20 after a message warned at the sixth send, and a quota of 1
// after an event did not warn at the second.
func TestValidateConfigSession(t *testing.T) {
	t.Parallel()
	flowsDir := folderOf(t, map[string]string{"welcome.yaml": `name: welcome
triggers: [follow]
steps:
  - send: one
  - send: two
`, "many.yaml": `name: many
triggers: [{keyword: [many]}]
steps:
  - send: "1"
  - send: "2"
  - send: "3"
  - send: "4"
  - send: "5"
  - send: "6"
`})
	cfgDir := folderOf(t, map[string]string{"wxflow.yaml": `accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: s3cret-value-0123
    token: tokentoken
    session: { message_quota: 20, event_quota: 1 }
`})
	r := runCLI(t, "validate", "--config", filepath.Join(cfgDir, "wxflow.yaml"), flowsDir)
	if !strings.Contains(r.stdout, filepath.Join(flowsDir, "welcome.yaml")+":5:5: warning") || strings.Contains(r.stdout, "many.yaml") {
		t.Errorf("the account's quotas: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "validate", flowsDir); !strings.Contains(r.stdout, "many.yaml") || strings.Contains(r.stdout, "welcome.yaml") {
		t.Errorf("WeChat's quotas without --config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestValidateConfigSessionPerAccount: accounts whose session: settings
// differ each check their own flows, and a flow of every account is
// checked by the strictest (they left WeChat's defaults for all flows:
// a flow of an account with a quota of 20 was warned at its sixth send,
// and one of every account not at the third when an account allows 2).
func TestValidateConfigSessionPerAccount(t *testing.T) {
	t.Parallel()
	sends := func(n int) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "  - send: \"%d\"\n", i)
		}
		return b.String()
	}
	flowsDir := folderOf(t, map[string]string{
		"main.yaml":  "name: mainmany\naccount: main\ntriggers: [{keyword: [many]}]\nsteps:\n" + sends(6),
		"shop.yaml":  "name: shopthree\naccount: shop\ntriggers: [{keyword: [three]}]\nsteps:\n" + sends(3),
		"every.yaml": "name: every\ntriggers: [{keyword: [all]}]\nsteps:\n" + sends(3),
	})
	cfgDir := folderOf(t, map[string]string{"wxflow.yaml": `accounts:
  - id: main
    app_id: wx0123456789abcdef
    app_secret: s3cret-value-0123
    token: tokentoken
    session: { message_quota: 20 }
  - id: shop
    app_id: wx0123456789abcdee
    app_secret: s3cret-value-0124
    token: tokentoken
    session: { message_quota: 2 }
`})
	r := runCLI(t, "validate", "--config", filepath.Join(cfgDir, "wxflow.yaml"), flowsDir)
	for _, want := range []string{filepath.Join(flowsDir, "shop.yaml") + ":7:5: warning", filepath.Join(flowsDir, "every.yaml") + ":6:5: warning"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %q: exit %d\n%s%s", want, r.code, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "main.yaml") {
		t.Errorf("main's quota is 20: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestValidateExampleConfig: validating the example flows with the
// example config warned that team support has no operators (the config
// had them commented out, and handoff.yaml picks one of the team).
func TestValidateExampleConfig(t *testing.T) {
	t.Setenv("WXFLOW_MAIN_SECRET", "example-secret-0123456789")
	t.Setenv("WXFLOW_MAIN_TOKEN", "exampletoken")
	t.Setenv("WXFLOW_AMY_TOKEN", "amy-example-token-0123456789")
	r := runCLI(t, "validate", "--config", filepath.Join("..", "..", "wxflow.example.yaml"), examplesDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "0 errors, 0 warnings") {
		t.Errorf("validate --config wxflow.example.yaml flows/examples: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
