package main

import (
	"fmt"
	"os"
	"syscall"
)

// fileStamp is what a file's status says of its identity beyond its size
// and modification time: its inode (a file replaced by a rename has a new
// one) and its status change time (a copy that kept the old modification
// time changed it).
func fileStamp(info os.FileInfo) string {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d %d.%d", st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
}
