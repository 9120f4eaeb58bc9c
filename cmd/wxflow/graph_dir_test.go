package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphDir: wxflow graph DIR prints every flow of the folder as
// Markdown, a heading and a Mermaid block each; --format svg on a folder
// asks for a file and names them; a folder with errors prints them.
func TestGraphDir(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "graph", examplesDir)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, name := range browserExampleFlows {
		head := "\n## " + name + "\n"
		i := strings.Index(r.stdout, head)
		if i < 0 {
			t.Errorf("no heading for %s:\n%s", name, r.stdout)
			continue
		}
		if !strings.Contains(r.stdout[i:], "```mermaid\nflowchart TD\n    %% flow: "+name+"\n") {
			t.Errorf("no Mermaid block for %s", name)
		}
	}
	if n := strings.Count(r.stdout, "```mermaid\n"); n != len(browserExampleFlows) || strings.Count(r.stdout, "\n```\n") != n {
		t.Errorf("%d Mermaid blocks for %d flows:\n%s", n, len(browserExampleFlows), r.stdout)
	}
	if !strings.HasPrefix(r.stdout, "# Flows of ") {
		t.Errorf("no title: %.80q", r.stdout)
	}

	r = runCLI(t, "graph", "--format", "svg", examplesDir)
	if r.code != exitUsage || !strings.Contains(r.stderr, "an SVG draws one flow: name a file of") || !strings.Contains(r.stderr, "welcome.yaml") {
		t.Errorf("--format svg on a folder: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	dir, file := brokenFolder(t)
	r = runCLI(t, "graph", dir)
	if r.code != exitProblems || !strings.Contains(r.stderr, file+":5:") {
		t.Errorf("a folder with errors: exit %d\n%s", r.code, r.stderr)
	}
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "graph", empty)
	if r.code != exitUsage || !strings.Contains(r.stderr, "no flow files in "+empty) {
		t.Errorf("an empty folder: exit %d\n%s", r.code, r.stderr)
	}
}
