package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// newestMigration is the name of the last migration file of a folder.
func newestMigration(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".sql"); ok && name > last {
			last = name
		}
	}
	if last == "" {
		t.Fatalf("no migration in %s", dir)
	}
	return last
}

// TestVersion: wxflow version (and --version) prints the version, the
// Go release and the schema of each store: the newest migration file of
// each.
func TestVersion(t *testing.T) {
	want := []string{
		"wxflow " + build.Version + "\n",
		"built with " + runtime.Version() + " for " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
		"schema: SQLite " + newestMigration(t, "../../engine/sqlite/migrations") + ", PostgreSQL " + newestMigration(t, "../../engine/postgres/migrations") + "\n",
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, args...)
		if r.code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v lacks %q:\n%s", args, w, r.stdout)
			}
		}
	}
	if build.Version == "" {
		t.Error("no version")
	}
	if r := runCLI(t, "version", "extra"); r.code != exitUsage {
		t.Errorf("version with an argument: exit %d, want %d", r.code, exitUsage)
	}
}

// TestBuildVersion: Go's stamped version wins; a build Go did not stamp
// a version for is "devel", with its commit when it knows one, and says
// when it had uncommitted changes.
func TestBuildVersion(t *testing.T) {
	const rev = "3390dfbd7fc42057b28e0cee601d7c9466d2fddb"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-12-03T15:57:19Z"}, {Key: "vcs.modified", Value: modified}}
	}
	for _, c := range []struct {
		name    string
		info    *debug.BuildInfo
		version string
	}{
		{"a tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: vcs("false")}, "v1.4.0"},
		{"a pseudo-version", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203155719-3390dfbd7fc4+dirty"}, Settings: vcs("true")}, "v0.0.0-20261203155719-3390dfbd7fc4+dirty"},
		{"a commit, clean", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")}, "devel-3390dfbd7fc4"},
		{"a commit, changed", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")}, "devel-3390dfbd7fc4+dirty"},
		{"no commit", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	} {
		b := buildFrom(c.info, true)
		if b.Version != c.version || b.Go != runtime.Version() {
			t.Errorf("%s: %+v, want version %s", c.name, b, c.version)
		}
		if c.info.Settings != nil && (b.Revision != rev || b.Time != "2026-12-03T15:57:19Z") {
			t.Errorf("%s: commit %q at %q", c.name, b.Revision, b.Time)
		}
	}
	if b := buildFrom(nil, false); b.Version != "devel" {
		t.Errorf("no build information: %+v", b)
	}
}
