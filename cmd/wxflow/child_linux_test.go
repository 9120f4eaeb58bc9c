package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchKilledTakesItsServer: a `wxflow bench` killed outright
// (SIGKILL, no chance to clean up) does not leave its server running.
func TestBenchKilledTakesItsServer(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bench := exec.Command(exe, "bench", "--followers", "1000000", "--rate", "100")
	// Killed outright, the bench leaves its working directory (it
	// makes it under $TMPDIR): in the test's, it goes with the test.
	bench.Env = append(os.Environ(), benchRunMainEnv+"=1", "TMPDIR="+t.TempDir())
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	defer bench.Process.Kill()
	// The server is the bench's child running `serve`.
	var server int
	for deadline := time.Now().Add(time.Minute); server == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		server = childRunning(t, bench.Process.Pid, "serve")
	}
	if server == 0 {
		t.Fatal("the bench started no server within a minute")
	}
	defer func() {
		if p, err := os.FindProcess(server); err == nil && alive(server) {
			p.Kill()
		}
	}()
	if err := bench.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	bench.Wait()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !alive(server) {
			return
		}
	}
	t.Errorf("the server (pid %d) still runs after its bench was killed", server)
}

// childRunning returns the pid of a child of parent whose arguments
// include arg, or 0.
func childRunning(t *testing.T, parent int, arg string) int {
	entries, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	for _, stat := range entries {
		data, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		dir := filepath.Dir(stat)
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		for _, a := range strings.Split(string(cmdline), "\x00") {
			if a == arg {
				pid, _ := strconv.Atoi(filepath.Base(dir))
				return pid
			}
		}
	}
	return 0
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) > 0 && fields[0] != "Z"
}
