package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/wxflow/wxflow/engine/scenario"
	"github.com/wxflow/wxflow/flows"
)

// runTest runs `*.test.yaml` scenarios: each file against the flows (and
// menu.yaml) of its own folder, on the simulated channel with a virtual
// clock. Exit 0 when every scenario passed, 1 when one failed or the flows
// have errors, 2 on usage errors.
func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print a line for every scenario, passed or failed")
	runPattern := fs.String("run", "", "run only the scenarios whose name matches this regular expression")
	cover := fs.Bool("cover", false, "print, per flow, the steps and branches the scenarios reached and the lines of those they did not")
	coverMin := fs.Float64("cover-min", 0, "with --cover (implied), fail when less than this percentage of all steps and branches was reached")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: wxflow test [-v] [-run REGEXP] [--cover] [--cover-min N] [PATH...]")
		fmt.Fprintln(w, "\nRuns the *.test.yaml scenarios in the given files and folders (default .;")
		fmt.Fprintln(w, "folders are searched recursively, skipping testdata and hidden folders).")
		fmt.Fprintln(w, "Each file runs against the flows and menu.yaml of its own folder.")
		fmt.Fprintln(w, "Exit 0 when all pass, 1 when any fails, 2 on usage errors.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	opts := scenario.Options{Verbose: *verbose}
	if math.IsNaN(*coverMin) || *coverMin < 0 || *coverMin > 100 {
		fmt.Fprintf(stderr, "wxflow test: --cover-min: %v is not a percentage from 0 to 100\n", *coverMin)
		return exitUsage
	}
	if *cover || flagGiven(fs, "cover-min") {
		opts.Cover = scenario.NewCoverage()
	}
	if *runPattern != "" {
		re, err := regexp.Compile(*runPattern)
		if err != nil {
			fmt.Fprintf(stderr, "wxflow test: -run: %v\n", err)
			return exitUsage
		}
		opts.Match = re.MatchString
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	dirs, byDir, err := findTestFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow test: %v\n", err)
		return exitUsage
	}
	if len(dirs) == 0 {
		fmt.Fprintf(stderr, "wxflow test: no *.test.yaml files in %s\n", strings.Join(paths, ", "))
		return exitProblems
	}
	var sum scenario.Summary
	for _, dir := range dirs {
		sum.Add(testDir(ctx, dir, byDir[dir], opts, stdout))
	}
	below := false
	if opts.Cover != nil {
		opts.Cover.WriteReport(stdout)
		if below = opts.Cover.Percent() < *coverMin; below {
			fmt.Fprintf(stdout, "coverage %.1f%% is below --cover-min %v%%\n", opts.Cover.Percent(), *coverMin)
		}
	}
	// The closing line is always the last.
	fmt.Fprintln(stdout, sum.String())
	if *runPattern != "" && sum.Passed+sum.Failed == 0 {
		// A -run that matches nothing tested nothing: a misspelt name
		// must not pass a CI job.
		fmt.Fprintf(stderr, "wxflow test: no scenario's name matches -run %q\n", *runPattern)
		return exitProblems
	}
	if sum.Failed > 0 || below {
		return exitProblems
	}
	return exitOK
}

// testDir runs the test files of one folder against its flows.
func testDir(ctx context.Context, dir string, files []string, opts scenario.Options, stdout io.Writer) scenario.Summary {
	var sum scenario.Summary
	set, err := flows.LoadDir(dir, flows.Options{})
	if err == nil && set.Diags.HasErrors() {
		for _, d := range set.Diags {
			if d.Severity == flows.SeverityError {
				fmt.Fprintln(stdout, d.String())
			}
		}
		err = fmt.Errorf("the flows in %s have errors", dir)
	}
	if err != nil {
		// Every scenario that cannot run counts as failed.
		for _, path := range files {
			n := 1
			if f, ferr := scenario.LoadFile(path); ferr == nil && len(f.Scenarios) > 0 {
				n = len(f.Scenarios)
			}
			fmt.Fprintf(stdout, "%s: %d %s not run: %v\n\n", path, n, plural(n, "scenario"), err)
			sum.Failed += n
		}
		return sum
	}
	if opts.Cover != nil {
		opts.Cover.AddFlows(set)
	}
	for _, path := range files {
		f, err := scenario.LoadFile(path)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n\n", path, err)
			sum.Failed++
			continue
		}
		sum.Add(scenario.RunFile(ctx, f, set, opts, stdout))
	}
	return sum
}

// isTestFile reports whether a file name is a test scenario file.
func isTestFile(name string) bool {
	return strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
}

// findTestFiles finds the test files at paths: files as given, folders
// searched recursively (skipping testdata and hidden folders). It returns
// the folders in the order met and each folder's files.
func findTestFiles(paths []string) ([]string, map[string][]string, error) {
	var dirs []string
	byDir := map[string][]string{}
	seen := map[string]bool{}
	add := func(file string) {
		if seen[file] {
			return
		}
		seen[file] = true
		dir := filepath.Dir(file)
		if _, ok := byDir[dir]; !ok {
			dirs = append(dirs, dir)
		}
		byDir[dir] = append(byDir[dir], file)
	}
	for _, path := range paths {
		path = filepath.Clean(path)
		st, err := os.Stat(path)
		if err != nil {
			return nil, nil, fmt.Errorf("no such file or folder: %s", path)
		}
		if !st.IsDir() {
			if !isTestFile(path) {
				return nil, nil, fmt.Errorf("%s is not a test file (*.test.yaml)", path)
			}
			add(path)
			continue
		}
		err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if p != path && (name == "testdata" || strings.HasPrefix(name, ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if isTestFile(name) && !strings.HasPrefix(name, ".") {
				add(p)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("walk %s: %w", path, err)
		}
	}
	return dirs, byDir, nil
}
