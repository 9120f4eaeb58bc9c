package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeFiles writes files (path relative to dir -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const helloFlow = `name: hello
triggers: [follow]
steps:
  - send: "Hello!"
  - ask: "Your name?"
    save: contact.fields.name
  - send: "Hi ${contact.fields.name}"
`

// lastLine returns the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestTestExamples runs the example flows' scenarios, as CI does: every
// example flow has a test file and every scenario passes.
func TestTestExamples(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "test", examplesDir)
	if r.code != exitOK {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitOK, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`^[1-9][0-9]* passed, 0 failed$`).MatchString(lastLine(r.stdout)) {
		t.Errorf("last line = %q, want \"N passed, 0 failed\"\n%s", lastLine(r.stdout), r.stdout)
	}
	flowFiles, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	for _, f := range flowFiles {
		base := filepath.Base(f)
		if base == "menu.yaml" || strings.HasSuffix(base, ".test.yaml") {
			continue
		}
		test := strings.TrimSuffix(f, ".yaml") + ".test.yaml"
		if _, err := os.Stat(test); err != nil {
			t.Errorf("example flow %s has no scenarios: %v", base, err)
		}
	}
}

// TestTestFailingScenario checks what a failure reads like: the
// scenario's line and column, what was expected and got, the transcript,
// then the closing line.
func TestTestFailingScenario(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.yaml": helloFlow,
		"hello.test.yaml": `name: greets
script:
  - follow
  - expect: "Hello!"
---
name: greets by name
script:
  - follow
  - say: Alice
  - expect: "Hello!"
  - expect: "Your name?"
  - expect: "Hi Bob"
`,
	})
	r := runCLI(t, "test", dir)
	if r.code != exitProblems {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	file := filepath.Join(dir, "hello.test.yaml")
	want := file + `:12:5: scenario "greets by name": expected a sent message with text "Hi Bob", got message 3: sent: text "Hi Alice"
    transcript:
      > follow
       1. sent: text "Hello!"
       2. sent: text "Your name?"
      > say "Alice"
       3. sent: text "Hi Alice"

1 passed, 1 failed
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestTestVerboseAndRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.yaml":      helloFlow,
		"hello.test.yaml": "name: one\nscript: [follow, { expect: Hello! }]\n---\nname: two\nscript: [follow, { expect: Nope }]\n",
	})
	r := runCLI(t, "test", "-v", "-run", "one", dir)
	file := filepath.Join(dir, "hello.test.yaml")
	// -v prints each passed scenario's transcript under it.
	want := "ok   " + file + ":1: one\n      > follow\n       1. sent: text \"Hello!\"\n       2. sent: text \"Your name?\"\n1 passed, 0 failed\n"
	if r.code != exitOK || r.stdout != want {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
}

// TestTestRunMatchingNothing: a -run that matches no scenario's name
// fails (1) and says so: it passed with "0 passed, 0 failed", so a
// misspelt name passed a CI job that tested nothing.
func TestTestRunMatchingNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.yaml":      helloFlow,
		"hello.test.yaml": "name: one\nscript: [follow, { expect: Hello! }]\n",
	})
	r := runCLI(t, "test", "-run", "onne", dir)
	if r.code != exitProblems || r.stdout != "0 passed, 0 failed\n" || r.stderr != "wxflow test: no scenario's name matches -run \"onne\"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestTestFolders: each test file runs against its own folder's flows;
// folders are searched recursively, skipping testdata and hidden ones;
// files can be named one by one.
func TestTestFolders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a/hello.yaml":           helloFlow,
		"a/hello.test.yaml":      "name: a\nscript: [follow, { expect: Hello! }]\n",
		"a/b/bye.yaml":           "name: bye\ntriggers: [follow]\nsteps:\n  - send: Bye!\n",
		"a/b/bye.test.yaml":      "name: b\nscript: [follow, { expect: Bye! }, expect_none]\n",
		"a/testdata/x.test.yaml": "name: skipped\nscript: [{ expect: never }]\n",
		"a/.hidden/x.test.yaml":  "name: skipped\nscript: [{ expect: never }]\n",
	})
	r := runCLI(t, "test", "-v", dir)
	if r.code != exitOK || lastLine(r.stdout) != "2 passed, 0 failed" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	one := filepath.Join(dir, "a", "b", "bye.test.yaml")
	r = runCLI(t, "test", one, one)
	if r.code != exitOK || r.stdout != "1 passed, 0 failed\n" {
		t.Errorf("one file: exit %d\nstdout:\n%s", r.code, r.stdout)
	}
}

func TestTestDefaultPath(t *testing.T) {
	// Not parallel: it changes the working directory.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.yaml":      helloFlow,
		"hello.test.yaml": "name: a\nscript: [follow, { expect: Hello! }]\n",
	})
	t.Chdir(dir)
	r := runCLI(t, "test")
	if r.code != exitOK || r.stdout != "1 passed, 0 failed\n" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestTestBrokenFlows: flow errors are shown with their place, and the
// scenarios that cannot run count as failures.
func TestTestBrokenFlows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"broken.yaml":      "name: broken\ntriggers: [follow]\nsteps:\n  - sned: hi\n",
		"broken.test.yaml": "name: a\nscript: [follow]\n---\nname: b\nscript: [follow]\n",
	})
	r := runCLI(t, "test", dir)
	if r.code != exitProblems {
		t.Fatalf("exit %d, want %d\nstdout:\n%s", r.code, exitProblems, r.stdout)
	}
	flow := filepath.Join(dir, "broken.yaml")
	if !strings.HasPrefix(r.stdout, flow+":4:5: error: unknown step kind \"sned\"") {
		t.Errorf("stdout does not start with the flow's error:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "2 scenarios not run: the flows in "+dir+" have errors") || lastLine(r.stdout) != "0 passed, 2 failed" {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestTestBrokenScenario(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.yaml":      helloFlow,
		"hello.test.yaml": "name: a\nscript:\n  - folow\n",
	})
	r := runCLI(t, "test", dir)
	file := filepath.Join(dir, "hello.test.yaml")
	if r.code != exitProblems || !strings.Contains(r.stdout, file+`:3:5: unknown action "folow" (did you mean "follow"?)`) {
		t.Errorf("exit %d\nstdout:\n%s", r.code, r.stdout)
	}
}

func TestTestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hello.yaml": helloFlow})
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing path", []string{"test", filepath.Join(dir, "nope")}, exitUsage, "no such file or folder"},
		{"not a test file", []string{"test", filepath.Join(dir, "hello.yaml")}, exitUsage, "is not a test file"},
		{"bad -run", []string{"test", "-run", "(", dir}, exitUsage, "-run"},
		{"unknown flag", []string{"test", "--colour", dir}, exitUsage, "colour"},
		{"no test files", []string{"test", dir}, exitProblems, "no *.test.yaml files"},
	} {
		r := runCLI(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d (want %d), stderr:\n%s", tc.name, r.code, tc.code, r.stderr)
		}
	}
}
