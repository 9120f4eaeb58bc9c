package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	_ "github.com/wxflow/wxflow/steps"    // register step kinds
	_ "github.com/wxflow/wxflow/triggers" // register trigger kinds
)

// Exit codes.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
)

// command is one subcommand: its one-line help and its function.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"validate": {"check flow files and print every problem", runValidate},
	"schema":   {"print the JSON Schema of flow files, for editors", runSchema},
	"graph":    {"print a flow (or a folder's flows) as a Mermaid flowchart, or a flow as SVG", runGraph},
	"docs":     {"print the flow language reference (docs/flows.md)", runDocs},
	"test":     {"run *.test.yaml scenarios on the simulated channel", runTest},
	"chat":     {"chat with the flows as a simulated follower", runChat},
	"serve":    {"run the WeChat callback server and the engine", runServe},
	"menu":     {"publish menu.yaml to WeChat (wxflow menu push)", runMenu},
	"qrcode":   {"create a WeChat QR code with a scene", runQRCode},
	"bench":    {"load-test serve with simulated followers and check the books", runBench},
	"backup":   {"copy the SQLite store consistently, also while serve runs", runBackup},
}

// run is the whole program, testable without os.Exit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wxflow: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	out := &outWriter{w: stdout}
	code := cmd.run(ctx, args[1:], out, stderr)
	if out.err != nil && code == exitOK {
		// (wxflow docs > docs/flows.md on a full disk: not a success.)
		fmt.Fprintf(stderr, "wxflow %s: writing the output: %v\n", args[0], out.err)
		return exitProblems
	}
	return code
}

// outWriter keeps the first error writing a command's output, so that a
// command whose output was lost (a full disk, a closed pipe) does not
// exit 0.
type outWriter struct {
	w   io.Writer
	err error
}

// Write implements io.Writer.
func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wxflow COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun wxflow COMMAND -h for a command's flags.")
}

// flagGiven reports whether the flag name was set on the command line
// (not left at its default).
func flagGiven(fl *flag.FlagSet, name string) bool {
	given := false
	fl.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// splitRegions parses --region-of "main=international,hk=international".
func splitRegions(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || (v != "mainland" && v != "international") {
			return nil, fmt.Errorf("invalid --account-region %q: want ACCOUNT=mainland|international", kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}
