//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestBackupReadOnlyFolder: a cleanly stopped store (no -wal, no -shm) in
// a folder the user cannot write failed with "read the store: unable to
// open database file: no such file or directory": SQLite creates the
// -shm beside a WAL database to read it. The error now says the folder is
// read-only and what to do. Root ignores a folder's permissions, so as
// root the command runs as nobody (the test binary, copied where nobody
// can run it, as the program).
func TestBackupReadOnlyFolder(t *testing.T) {
	base, err := os.MkdirTemp("", "wxflow-backup-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(base, "store"), 0o755); os.RemoveAll(base) })
	store, out := filepath.Join(base, "store"), filepath.Join(base, "out")
	for _, d := range []string{store, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(store, "wx.db")
	_, stop := backupEngine(t, db)
	stop()
	os.Remove(filepath.Join(store, "welcome.yaml"))
	for _, f := range []string{db + "-wal", db + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s is left after a clean stop", f)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(base, "wxflow")
	copyFile(t, os.Args[0], prog)
	cmd := exec.Command(prog, "backup", "--database", db, filepath.Join(out, "b.db"))
	cmd.Env = append(os.Environ(), benchRunMainEnv+"=1")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Skip("running as root, and no user nobody to run as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// nobody owns the store's file (a store is 0600), not its folder.
		for _, f := range []string{out, db} {
			if err := os.Chown(f, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	} else if err := os.Chmod(store, 0o555); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	if code != exitProblems || !strings.Contains(stderr.String(), "the folder "+store+" is read-only to this user") || !strings.Contains(stderr.String(), "cp "+db) {
		t.Errorf("wxflow backup of a store in a read-only folder: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "b.db")); err == nil {
		t.Errorf("a failed backup left its file")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	o, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(o, in); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}
