package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseFlags parses a command's args into fl, whose output is stderr. ok
// is true when the command goes on; else it returns code. Asked for help
// (-h, -help, --help), it prints fl.Usage to stdout and returns exitOK:
// help is no usage error, and goes where wxflow help prints its list. A
// flag mistake (an unknown flag, a bad value) prints flag's error and
// fl.Usage to stderr and returns exitUsage.
func parseFlags(fl *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	usage := fl.Usage
	if usage == nil {
		usage = func() {
			fmt.Fprintf(fl.Output(), "Usage of %s:\n", fl.Name())
			fl.PrintDefaults()
		}
	}
	// flag prints the usage itself, before it returns the error; print
	// it here instead, where the error says where it goes.
	fl.Usage = func() {}
	err := fl.Parse(args)
	fl.Usage = usage
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		stderr := fl.Output()
		fl.SetOutput(stdout)
		fl.Usage()
		fl.SetOutput(stderr)
		return exitOK, false
	default:
		// flag printed the error to fl's output already.
		fl.Usage()
		return exitUsage, false
	}
}

// isHelp reports whether args ask for help alone, as the flag package
// takes it (-h, -help, --h, --help), for commands without flags of their
// own.
func isHelp(args []string) bool {
	if len(args) != 1 {
		return false
	}
	switch args[0] {
	case "-h", "-help", "--h", "--help":
		return true
	}
	return false
}
