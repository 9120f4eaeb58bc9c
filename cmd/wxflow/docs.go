package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wxflow/wxflow/flows"
)

func runDocs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: wxflow docs > docs/flows.md")
		return exitUsage
	}
	fmt.Fprint(stdout, flows.Reference())
	return exitOK
}
