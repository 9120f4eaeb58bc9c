package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wxflow/wxflow/flows"
)

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if isHelp(args) {
		fmt.Fprintln(stdout, "usage: wxflow schema > flow.schema.json")
		fmt.Fprintln(stdout, "\nPrints the JSON Schema of flow files, for editors (docs/editors.md).")
		return exitOK
	}
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: wxflow schema > flow.schema.json")
		return exitUsage
	}
	b, err := flows.JSONSchema()
	if err != nil {
		fmt.Fprintf(stderr, "wxflow schema: %v\n", err)
		return exitProblems
	}
	fmt.Fprintln(stdout, string(b))
	return exitOK
}
