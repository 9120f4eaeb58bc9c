package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMain runs the program instead of the tests when benchRunMainEnv is
// set: `wxflow bench` starts its server from its own executable, which
// under `go test` is this test binary.
func TestMain(m *testing.M) {
	if os.Getenv(benchRunMainEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// examplesDir holds the example flows operators copy; they must stay clean.
var examplesDir = filepath.Join("..", "..", "flows", "examples")

// cliResult is what one run of the command line produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line with args, as `wxflow ARGS...` would.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// brokenFolder writes a folder with one flow whose template misspells a
// name, and returns the folder and the flow file's path.
func brokenFolder(t *testing.T) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "broken.yaml")
	src := `name: broken
triggers:
  - follow
steps:
  - send: "Hello ${contact.fiels.name}"
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

func TestValidateExamples(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "validate", examplesDir)
	if r.code != exitOK {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitOK, r.stdout, r.stderr)
	}
	if !strings.HasSuffix(r.stdout, " checked: 0 errors, 0 warnings\n") {
		t.Errorf("examples should have no problems at all; stdout:\n%s", r.stdout)
	}
}

// TestValidateNamesWhatIsNotAFlow: a test scenario file named to
// validate is a usage error pointing at wxflow test (it was checked as no
// flow: "0 flows checked", exit 0), and another extension's message names
// both the extensions taken.
func TestValidateNamesWhatIsNotAFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hello.test.yml": "name: one\nscript: [follow]\n", "notes.txt": "x"})
	for file, want := range map[string]string{
		"hello.test.yml": "hello.test.yml is a test scenario file: wxflow test checks and runs it",
		"notes.txt":      "notes.txt is not a flow file (.yaml or .yml)",
	} {
		r := runCLI(t, "validate", filepath.Join(dir, file))
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("validate %s: exit %d, stderr %q, want 2 and %q", file, r.code, r.stderr, want)
		}
	}
}

func TestValidateBrokenFlow(t *testing.T) {
	t.Parallel()
	dir, file := brokenFolder(t)
	r := runCLI(t, "validate", dir)
	if r.code != exitProblems {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	first, _, _ := strings.Cut(r.stdout, "\n")
	// The error points at "fiels", line 5, column 28.
	want := file + ":5:28: error: "
	if !strings.HasPrefix(first, want) {
		t.Errorf("first line = %q, want it to start with %q", first, want)
	}
	if !strings.Contains(first, `"fiels"`) || !strings.Contains(first, `did you mean "fields"?`) {
		t.Errorf("first line = %q, want it to name \"fiels\" and suggest \"fields\"", first)
	}
	if !regexp.MustCompile(`(?m)^1 flow checked: 1 error, 0 warnings$`).MatchString(r.stdout) {
		t.Errorf("stdout lacks the summary line:\n%s", r.stdout)
	}
}

// validateJSON is the shape of `wxflow validate --format json`.
type validateJSON struct {
	Files       *int `json:"files"`
	Errors      *int `json:"errors"`
	Warnings    *int `json:"warnings"`
	Diagnostics []struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Col      int    `json:"col"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
		Hint     string `json:"hint"`
	} `json:"diagnostics"`
}

func decodeValidateJSON(t *testing.T, out string) (validateJSON, map[string]json.RawMessage) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"files", "errors", "warnings", "diagnostics"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON output has no %q field:\n%s", k, out)
		}
	}
	var v validateJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decode JSON output: %v\n%s", err, out)
	}
	if v.Files == nil || v.Errors == nil || v.Warnings == nil {
		t.Fatalf("files, errors and warnings must be numbers:\n%s", out)
	}
	return v, fields
}

func TestValidateJSONBrokenFlow(t *testing.T) {
	t.Parallel()
	dir, file := brokenFolder(t)
	r := runCLI(t, "validate", "--format", "json", dir)
	if r.code != exitProblems {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, exitProblems, r.stderr)
	}
	v, _ := decodeValidateJSON(t, r.stdout)
	if *v.Files != 1 || *v.Errors != 1 || *v.Warnings != 0 {
		t.Errorf("files, errors, warnings = %d, %d, %d; want 1, 1, 0", *v.Files, *v.Errors, *v.Warnings)
	}
	if len(v.Diagnostics) != 1 {
		t.Fatalf("got %d diagnostics, want 1:\n%s", len(v.Diagnostics), r.stdout)
	}
	d := v.Diagnostics[0]
	if d.File != file || d.Line != 5 || d.Col != 28 || d.Severity != "error" || !strings.Contains(d.Message, `"fiels"`) || d.Hint == "" {
		t.Errorf("diagnostic = %+v, want an error at %s:5:28 about \"fiels\" with a hint", d, file)
	}
}

func TestValidateJSONExamples(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "validate", "--format=json", examplesDir)
	if r.code != exitOK {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitOK, r.stdout, r.stderr)
	}
	v, fields := decodeValidateJSON(t, r.stdout)
	if *v.Files == 0 || *v.Errors != 0 || *v.Warnings != 0 {
		t.Errorf("files, errors, warnings = %d, %d, %d; want some files and no problems", *v.Files, *v.Errors, *v.Warnings)
	}
	// No problems is an empty list, not null, so that tools can iterate.
	if got := strings.TrimSpace(string(fields["diagnostics"])); got != "[]" {
		t.Errorf("diagnostics = %s, want []", got)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	tests := []struct {
		name string
		args []string
		// stderr must contain this.
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"missing path", []string{"validate", missing}, missing},
		{"bad format", []string{"validate", "--format", "xml", examplesDir}, "--format"},
		{"unknown flag", []string{"validate", "--colour", examplesDir}, "colour"},
		{"bad region", []string{"validate", "--region", "mars", examplesDir}, "--region"},
		{"schema with an argument", []string{"schema", "extra"}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitUsage, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not mention %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

func TestNoArgumentsPrintsUsage(t *testing.T) {
	t.Parallel()
	r := runCLI(t)
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	if !strings.HasPrefix(r.stdout, "usage: wxflow") {
		t.Errorf("stdout = %q, want the usage", r.stdout)
	}
	if r := runCLI(t, "help"); r.code != exitOK || !strings.HasPrefix(r.stdout, "usage: wxflow") {
		t.Errorf("help: exit %d, stdout %q; want 0 and the usage", r.code, r.stdout)
	}
}

func TestSchemaIsJSON(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "schema")
	if r.code != exitOK {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, exitOK, r.stderr)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &schema); err != nil {
		t.Fatalf("schema is not a JSON object: %v", err)
	}
	// The schema's draft and layout may change; a schema always names its
	// draft and describes the flow's top-level keys.
	for _, k := range []string{"$schema", "properties"} {
		if _, ok := schema[k]; !ok {
			t.Errorf("schema has no %q", k)
		}
	}
}

// graph and docs are being rewritten: only their exit codes and a stable
// start are checked here.

func TestGraphExample(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "graph", filepath.Join(examplesDir, "help-menu.yaml"))
	if r.code != exitOK {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, exitOK, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "flowchart") {
		t.Errorf("graph output starts with %q, want \"flowchart\"", testFirstLine(r.stdout))
	}
}

func TestGraphBrokenFlow(t *testing.T) {
	t.Parallel()
	_, file := brokenFolder(t)
	r := runCLI(t, "graph", file)
	if r.code != exitProblems {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, file+":5:28: error: ") {
		t.Errorf("stderr lacks the error:\n%s", r.stderr)
	}
}

func TestDocs(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "docs")
	if r.code != exitOK {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, exitOK, r.stderr)
	}
	if strings.TrimSpace(r.stdout) == "" {
		t.Error("docs printed nothing")
	}
}

func testFirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// failWriter fails every write, as stdout on a full disk does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestOutputLostIsAFailure: a command whose output cannot be written
// (wxflow docs > docs/flows.md on a full disk) exits 1, saying so;
// before, it exited 0 and left an empty file.
func TestOutputLostIsAFailure(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"docs"}, {"schema"}, {"graph", filepath.Join(examplesDir, "welcome.yaml")}} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, failWriter{}, &stderr); code != exitProblems || !strings.Contains(stderr.String(), "writing the output: no space left on device") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// TestReplaceFileKeepsTheOldOnFailure: export-test -o writes through a
// temporary file: a failed write leaves the old file whole and no
// temporary file behind.
func TestReplaceFileKeepsTheOldOnFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.test.yaml")
	if err := replaceFile(path, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := replaceFile(path, []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two\n" {
		t.Fatalf("file %q", b)
	}
	blocked := filepath.Join(dir, "blocked")
	os.MkdirAll(filepath.Join(blocked, "x"), 0o755) // a folder: the rename over it fails
	if err := replaceFile(blocked, []byte("three\n")); err == nil {
		t.Fatal("replaced a folder")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("left behind: %v", entries)
	}
}

// TestHelpGraphSaysSVG: wxflow help's line for graph says both formats;
// it said "as a Mermaid flowchart" alone while graph -h and the README
// also give --format svg.
func TestHelpGraphSaysSVG(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "help")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "graph ") {
			if !strings.Contains(line, "SVG") {
				t.Errorf("help's graph line does not say SVG: %q", line)
			}
			return
		}
	}
	t.Fatalf("help has no graph line:\n%s", r.stdout)
}
