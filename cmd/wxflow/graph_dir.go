package main

import (
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wxflow/wxflow/flows"
)

// graphDir is `wxflow graph DIR`: every flow of the folder, loaded as
// serve loads it, as a Markdown document with a heading and a Mermaid
// block per flow (GitHub and most Markdown viewers draw them). An SVG
// draws one flow, so --format svg asks for a file and names them.
func graphDir(dir, format string, stdout, stderr io.Writer) int {
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "wxflow graph: %v\n", err)
		return exitUsage
	}
	if set.Diags.HasErrors() {
		for _, d := range set.Diags {
			if d.Severity == flows.SeverityError {
				fmt.Fprintln(stderr, d.String())
			}
		}
		return exitProblems
	}
	all := slices.Clone(set.Flows)
	slices.SortFunc(all, func(a, b *flows.Flow) int { return cmp.Compare(a.Name, b.Name) })
	if len(all) == 0 {
		fmt.Fprintf(stderr, "wxflow graph: no flow files in %s\n", dir)
		return exitUsage
	}
	if format == "svg" {
		names := make([]string, len(all))
		for i, f := range all {
			names[i] = filepath.Base(f.File)
		}
		fmt.Fprintf(stderr, "wxflow graph: an SVG draws one flow: name a file of %s (%s), or leave --format out for all of them as Markdown with Mermaid blocks\n",
			dir, strings.Join(names, ", "))
		return exitUsage
	}
	fmt.Fprintf(stdout, "# Flows of %s\n", filepath.ToSlash(dir))
	for _, f := range all {
		fmt.Fprintf(stdout, "\n## %s\n\n", f.Name)
		if f.Description != "" {
			fmt.Fprintf(stdout, "%s\n\n", f.Description)
		}
		m := flows.Mermaid(f)
		fmt.Fprintf(stdout, "`%s`\n\n```mermaid\n%s", filepath.ToSlash(f.File), m)
		if !strings.HasSuffix(m, "\n") {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintln(stdout, "```")
	}
	return exitOK
}
