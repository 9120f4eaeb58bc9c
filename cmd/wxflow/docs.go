package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wxflow/wxflow/flows"
)

func runDocs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if isHelp(args) {
		fmt.Fprintln(stdout, "usage: wxflow docs > docs/flows.md")
		fmt.Fprintln(stdout, "\nPrints the flow language reference, as docs/flows.md has it.")
		return exitOK
	}
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: wxflow docs > docs/flows.md")
		return exitUsage
	}
	fmt.Fprint(stdout, flows.Reference())
	return exitOK
}
