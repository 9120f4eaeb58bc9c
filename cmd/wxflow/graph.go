package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wxflow/wxflow/flows"
)

func runGraph(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "mermaid", "output format: mermaid or svg")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: wxflow graph [--format mermaid|svg] FILE|DIR")
		fmt.Fprintln(w, "\nPrints the flow as a Mermaid flowchart, or with --format svg as an SVG")
		fmt.Fprintln(w, "drawing of the same graph. For a folder, every flow of it as Markdown: a")
		fmt.Fprintln(w, "heading and a mermaid block each (an SVG draws one flow: name its file).")
		fs.PrintDefaults()
	}
	// Flags may come before or after the file.
	var files []string
	for {
		if code, ok := parseFlags(fs, args, stdout); !ok {
			return code
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			files = append(files, rest...)
			break
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return exitUsage
	}
	if *format != "mermaid" && *format != "svg" {
		fmt.Fprintf(stderr, "wxflow graph: --format must be mermaid or svg, not %q\n", *format)
		return exitUsage
	}
	if st, err := os.Stat(files[0]); err == nil && st.IsDir() {
		return graphDir(files[0], *format, stdout, stderr)
	}
	if what := notAFlow(files[0]); what != "" {
		fmt.Fprintf(stderr, "wxflow graph: %s is %s, not a flow: name a flow's file, or the folder for all its flows\n", files[0], what)
		return exitUsage
	}
	src, err := os.ReadFile(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "wxflow graph: %v\n", err)
		return exitUsage
	}
	f, diags := flows.LoadFile(files[0], src, flows.Options{})
	if diags.HasErrors() {
		for _, d := range diags {
			fmt.Fprintln(stderr, d.String())
		}
		return exitProblems
	}
	if *format == "svg" {
		fmt.Fprint(stdout, flows.SVG(f, flows.SVGOptions{}))
	} else {
		fmt.Fprint(stdout, flows.Mermaid(f))
	}
	return exitOK
}

// notAFlow says what a file that validate and the flows folder never take
// for a flow is: a test scenario or the menu; "" for any other file.
func notAFlow(file string) string {
	switch name := filepath.Base(file); {
	case isTestFile(name):
		return "a test scenario (wxflow test runs it)"
	case name == "menu.yaml" || name == "menu.yml":
		return "the account's menu (wxflow validate checks it with the flows beside it)"
	}
	return ""
}
