package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/wxflow/wxflow/flows"
)

func runGraph(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: wxflow graph FILE\n\nPrints the flow as a Mermaid flowchart.")
		return exitUsage
	}
	src, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "wxflow graph: %v\n", err)
		return exitUsage
	}
	f, diags := flows.LoadFile(args[0], src, flows.Options{})
	if diags.HasErrors() {
		for _, d := range diags {
			fmt.Fprintln(stderr, d.String())
		}
		return exitProblems
	}
	fmt.Fprint(stdout, flows.Mermaid(f))
	return exitOK
}
