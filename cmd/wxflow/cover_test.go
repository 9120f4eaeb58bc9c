package main

import (
	"strings"
	"testing"
)

// TestTestCover prints the steps and branches reached and fails below
// --cover-min.
func TestTestCover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.yaml": helloFlow,
		"hello.test.yaml": `name: greeted
script:
  - follow
  - expect: "Hello!"
  - expect: "Your name?"
`,
	})
	r := runCLI(t, "test", "--cover", dir)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"hello (" + dir + "/hello.yaml): 2/3 steps, 0/0 branches: 66.7%",
		"not reached: " + dir + "/hello.yaml:7:5: step send (line 7)",
		"coverage: 66.7% of steps and branches (2 of 3)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if lastLine(r.stdout) != "1 passed, 0 failed" {
		t.Errorf("last line %q", lastLine(r.stdout))
	}

	r = runCLI(t, "test", "--cover-min", "70", dir)
	if r.code != exitProblems || !strings.Contains(r.stdout, "coverage 66.7% is below --cover-min 70%") || lastLine(r.stdout) != "1 passed, 0 failed" {
		t.Errorf("--cover-min 70: exit %d, want %d, the closing line last\n%s%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	// --cover-min implies --cover, 0 included; NaN is no percentage.
	r = runCLI(t, "test", "--cover-min", "0", dir)
	if r.code != exitOK || !strings.Contains(r.stdout, "coverage: 66.7% of steps and branches") {
		t.Errorf("--cover-min 0: exit %d, want a report\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "test", "--cover-min", "NaN", dir)
	if r.code != exitUsage {
		t.Errorf("--cover-min NaN: exit %d, want %d", r.code, exitUsage)
	}
	r = runCLI(t, "test", "--cover-min", "60", dir)
	if r.code != exitOK {
		t.Errorf("--cover-min 60: exit %d, want %d\n%s%s", r.code, exitOK, r.stdout, r.stderr)
	}
	r = runCLI(t, "test", "--cover-min", "101", dir)
	if r.code != exitUsage {
		t.Errorf("--cover-min 101: exit %d, want %d", r.code, exitUsage)
	}
}

// TestTestCoverExamples: the example flows' scenarios reach at least
// what CI asks of them (.ci/run).
func TestTestCoverExamples(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "test", "--cover-min", "95", examplesDir)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestTestCoverIdenticalFilesInTwoFolders: two folders holding the same
// flow file (one per account) are each credited with their own
// scenarios' runs; before, every run counted for the first folder's
// copy, and the second showed 0%.
func TestTestCoverIdenticalFilesInTwoFolders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flow := "name: hi\ntriggers: [follow, {keyword: [hi]}]\nsteps:\n  - if: event.type == \"follow\"\n    send: Welcome\n  - send: Hi\n"
	writeFiles(t, dir, map[string]string{
		"hi.yaml":         flow,
		"a.test.yaml":     "name: a\nscript:\n  - follow\n  - expect: Welcome\n  - expect: Hi\n",
		"sub/hi.yaml":     flow,
		"sub/b.test.yaml": "name: b\nscript:\n  - say: hi\n  - expect: Hi\n",
	})
	r := runCLI(t, "test", "--cover", dir)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"hi (" + dir + "/hi.yaml): 2/2 steps, 1/2 branches",
		"hi (" + dir + "/sub/hi.yaml): 1/2 steps, 1/2 branches",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}
