package main

import (
	"encoding/xml"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// wellFormed fails the test unless s is well-formed XML.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("output is not well-formed XML: %v", err)
		}
	}
}

func TestGraphSVG(t *testing.T) {
	t.Parallel()
	file := filepath.Join(examplesDir, "welcome.yaml")
	for _, args := range [][]string{
		{"graph", "--format", "svg", file},
		{"graph", "-format=svg", file},
		{"graph", file, "--format", "svg"}, // flags after the file too
	} {
		r := runCLI(t, args...)
		if r.code != exitOK {
			t.Fatalf("%v: exit %d, want %d\nstderr:\n%s", args, r.code, exitOK, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "<svg") {
			t.Errorf("%v: output starts with %q, want <svg", args, testFirstLine(r.stdout))
		}
		if !strings.Contains(r.stdout, `data-step="s0"`) {
			t.Errorf("%v: output has no step s0", args)
		}
		wellFormed(t, r.stdout)
	}
}

func TestGraphFormatMermaid(t *testing.T) {
	t.Parallel()
	file := filepath.Join(examplesDir, "welcome.yaml")
	plain := runCLI(t, "graph", file)
	explicit := runCLI(t, "graph", "--format", "mermaid", file)
	if plain.code != exitOK || explicit.code != exitOK {
		t.Fatalf("exit %d and %d, want %d\nstderr:\n%s%s", plain.code, explicit.code, exitOK, plain.stderr, explicit.stderr)
	}
	if !strings.HasPrefix(plain.stdout, "flowchart") || plain.stdout != explicit.stdout {
		t.Errorf("--format mermaid differs from the default, or is not a flowchart:\n%s\n---\n%s", plain.stdout, explicit.stdout)
	}
}

func TestGraphFormatUnknown(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "graph", "--format", "png", filepath.Join(examplesDir, "welcome.yaml"))
	if r.code != exitUsage {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, exitUsage, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("printed to stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, `--format must be mermaid or svg, not "png"`) {
		t.Errorf("stderr does not name the formats:\n%s", r.stderr)
	}
}

func TestGraphUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"graph"},
		{"graph", "a.yaml", "b.yaml"},
		{"graph", "--no-such-flag", "a.yaml"},
	} {
		r := runCLI(t, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitUsage)
		}
		if !strings.Contains(r.stderr, "usage: wxflow graph [--format mermaid|svg] FILE") {
			t.Errorf("%v: stderr lacks the usage:\n%s", args, r.stderr)
		}
	}
	if r := runCLI(t, "graph", "--format", "svg", filepath.Join(t.TempDir(), "missing.yaml")); r.code != exitUsage {
		t.Errorf("missing file: exit %d, want %d", r.code, exitUsage)
	}
	_, file := brokenFolder(t)
	if r := runCLI(t, "graph", "--format", "svg", file); r.code != exitProblems || r.stdout != "" {
		t.Errorf("broken flow: exit %d, want %d, stdout %q", r.code, exitProblems, r.stdout)
	}
}

// TestGraphNotAFlow: a test scenario or menu.yaml given to graph is said
// to be one; both were loaded as flows and refused with a flow's errors
// (missing key "steps" in flow, unknown key "menu" in flow), which
// validate, skipping them, never gives.
func TestGraphNotAFlow(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		filepath.Join(examplesDir, "menu.yaml"):         "is the account's menu",
		filepath.Join(examplesDir, "welcome.test.yaml"): "is a test scenario",
	} {
		r := runCLI(t, "graph", file)
		if r.code != exitUsage || r.stdout != "" {
			t.Errorf("%s: exit %d, want %d; stdout %q", file, r.code, exitUsage, r.stdout)
		}
		if !strings.Contains(r.stderr, file+" "+want) || strings.Contains(r.stderr, "in flow") {
			t.Errorf("%s: stderr does not say what it is:\n%s", file, r.stderr)
		}
	}
}
