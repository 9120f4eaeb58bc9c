package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserExportAndPlan: in a sandbox console, a follower's
// conversation played in the simulator downloads from the contact page
// as a test that wxflow test passes; once a flow file changed on disk,
// and before the server reloads it, the flow's page shows what the
// reload would do to the run waiting; after the reload it no longer does.
func TestBrowserExportAndPlan(t *testing.T) {
	chromium := browserExec(t)
	cfg := sandboxConfig()
	dir := filepath.Join(t.TempDir(), "flows")
	writeFiles(t, dir, convFlows)
	cfg.Flows = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = cfg.Listen
	cfg.Database = filepath.Join(t.TempDir(), "wxflow.db")
	s := startServer(t, cfg)
	b := newBrowser(t, chromium, s.ConsoleURL())

	// The visitor follows, answers, and asks for help; ana follows and
	// waits at the question.
	b.open("/simulator")
	b.submit("follow", `form:has(input[name=action][value=follow]) button`, 200)
	b.wantChat("me: followed", "them: Welcome!", "them: What should we call you?")
	b.typeInto(`form.say input[name=text]`, "Ana")
	b.submit("answer", `form.say button`, 200)
	b.wantChat("me: Ana", "them: Nice to meet you, Ana!")
	b.typeInto(`form.say input[name=text]`, "help")
	b.submit("ask for help", `form.say button`, 200)
	b.wantChat("me: help", "them: How can we help?")
	b.open("/simulator?contact=ana")
	b.submit("ana follows", `form:has(input[name=action][value=follow]) button`, 200)
	b.wantChat("me: followed", "them: Welcome!", "them: What should we call you?")

	// The contact page's button downloads the conversation as a test.
	b.open("/contacts/sandbox/visitor")
	href := browserEval[string](b, `document.querySelector("a#export-test").getAttribute("href")`)
	if href != "/contacts/sandbox/visitor/test.yaml" || !browserEval[bool](b, `document.querySelector("a#export-test").hasAttribute("download")`) {
		t.Fatalf("export link: href %q", href)
	}
	b.shot("contact-export")
	src := browserRun(b, "fetch the download", chromedp.Evaluate[string](`(async () => { const r = await fetch("/contacts/sandbox/visitor/test.yaml"); return r.status + " " + r.headers.get("Content-Disposition") + "\n" + await r.text(); })()`, chromedp.EvalAwaitPromise))
	head, body, _ := strings.Cut(src, "\n")
	if head != `200 attachment; filename="sandbox-visitor.test.yaml"` || !strings.Contains(body, "  - follow\n  - say: \"Ana\"\n  - say: \"help\"\n  - expect: \"Welcome!\"\n") {
		t.Fatalf("download: %s\n%s", head, body)
	}
	if err := os.WriteFile(filepath.Join(dir, "visitor.test.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "test", dir); r.code != exitOK || lastLine(r.stdout) != "1 passed, 0 failed" {
		t.Fatalf("wxflow test on the download: exit %d\n%s%s\n--- download:\n%s", r.code, r.stdout, r.stderr, body)
	}

	// Nothing pending: the flow page shows no plan.
	b.open("/flows/welcome")
	if n := b.count("#plan"); n != 0 {
		t.Errorf("the flow page shows a plan before any change: %s", b.text("#plan"))
	}
	// The question ana waits at changes on disk; the server has not
	// reloaded yet.
	welcome := strings.Replace(convFlows["welcome.yaml"], "What should we call you?", "How may we call you?", 1)
	writeFiles(t, dir, map[string]string{"welcome.yaml": welcome})
	b.open("/flows/welcome")
	b.wantText("#plan", "The file differs from the version running", "1 run waits at a step that changes or is gone")
	b.wantText("#plan .plan-steps", "ask (line 5)", "changed", "1")
	b.shot("flow-plan")
	s.Reload(true)
	b.open("/flows/welcome")
	if n := b.count("#plan"); n != 0 {
		t.Errorf("the flow page still shows a plan after the reload: %s", b.text("#plan"))
	}
}
