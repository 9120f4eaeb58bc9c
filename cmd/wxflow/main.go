// Command wxflow is the command line of the wxflow engine: it validates,
// explains and (in later versions) runs flows for WeChat Official Accounts.
//
// Exit codes: 0 success; 1 the command ran and found problems (invalid
// flows, failed tests); 2 usage errors (unknown command or flag, missing
// file). wxflow COMMAND -h (or --help) prints the command's usage on
// standard output and exits 0.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
