package main

import "syscall"

// childAttrs makes a child process die with the process that started it,
// even when that one is killed outright (SIGKILL): `wxflow bench` never
// leaves its server running.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
