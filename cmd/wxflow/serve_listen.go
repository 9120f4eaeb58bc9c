package main

import (
	"errors"
	"fmt"
	"syscall"
)

// listenError says why listening on addr failed. An address in use says
// which address, and how to choose another: --listen for the callback
// server (setting "listen"), the config for the console's own address
// ("admin.listen").
func listenError(err error, addr, setting string) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s (%s): %w", addr, setting, err)
	}
	how := "pass --listen HOST:PORT to use another address (or change listen: in the config)"
	what := "the address"
	if setting == "admin.listen" {
		how = "set admin.listen in the config to another HOST:PORT"
		what = "the console's address"
	}
	return fmt.Errorf("%s %s (%s) is already in use, by another wxflow serve or another program: %s: %w", what, addr, setting, how, err)
}
