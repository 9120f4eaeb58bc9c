//go:build unix

package main

import "syscall"

// folderWritable tells whether this user may create files in dir (as
// SQLite must, to read a WAL store: its -shm).
func folderWritable(dir string) bool {
	const wOK = 2 // W_OK
	return syscall.Access(dir, wOK) == nil
}
