package main

import (
	"sort"
	"strings"
	"testing"
)

// TestHelpExitsZero: COMMAND -h and --help print the command's usage to
// stdout (where wxflow help prints its list) and exit 0, for every
// command: asking for help is no usage error. They exited 2 with the
// usage on stderr, as a flag mistake does.
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, cmd := range everyCommand() {
		name := strings.Join(cmd, " ")
		for _, help := range []string{"-h", "--help", "-help"} {
			t.Run(name+" "+help, func(t *testing.T) {
				t.Parallel()
				r := runCLI(t, append(cmd[:len(cmd):len(cmd)], help)...)
				if r.code != exitOK {
					t.Errorf("exit %d, want %d\nstderr:\n%s", r.code, exitOK, r.stderr)
				}
				if !strings.HasPrefix(r.stdout, "usage: wxflow "+cmd[0]) {
					t.Errorf("stdout is not the usage of %s:\n%s", cmd[0], r.stdout)
				}
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
			})
		}
	}
}

// TestUnknownFlagIsAUsageError: a flag mistake still exits 2 with the
// usage on stderr and nothing on stdout, for every command.
func TestUnknownFlagIsAUsageError(t *testing.T) {
	t.Parallel()
	for _, cmd := range everyCommand() {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, append(cmd[:len(cmd):len(cmd)], "--no-such-flag")...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d\nstderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			// The usage -h prints, on stderr.
			help := runCLI(t, append(cmd[:len(cmd):len(cmd)], "-h")...)
			usage, _, _ := strings.Cut(help.stdout, "\n")
			if !strings.HasPrefix(usage, "usage: wxflow "+cmd[0]) || !strings.Contains(r.stderr, usage) {
				t.Errorf("stderr lacks the usage %q:\n%s", usage, r.stderr)
			}
		})
	}
	// A bad value too.
	r := runCLI(t, "bench", "--followers", "many")
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, `invalid value "many" for flag -followers`) || !strings.Contains(r.stderr, "usage: wxflow bench") {
		t.Errorf("bench --followers many: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// everyCommand is every command of the commands map, in order, and the
// subcommands (menu push).
func everyCommand() [][]string {
	var names []string
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	cmds := [][]string{{"menu", "push"}}
	for _, name := range names {
		cmds = append(cmds, []string{name})
	}
	return cmds
}
