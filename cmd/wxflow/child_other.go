//go:build !linux

package main

import "syscall"

// childAttrs is nil where the system cannot tie a child's life to its
// parent's.
func childAttrs() *syscall.SysProcAttr { return nil }
