package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// TestConfigRetention checks retention: its defaults, durations, 0 and
// forever, and the refusals with their hints.
func TestConfigRetention(t *testing.T) {
	t.Parallel()
	got, err := Parse("", []byte(minimal), envOf(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got.Retention.Retention != engine.DefaultRetention || got.Retention.Every != time.Minute {
		t.Errorf("default retention = %+v", got.Retention)
	}
	src := "retention:\n  dedupe: 1m\n  locations: 2h\n  runs: forever\n  messages: 0\n  transcript: 7d\n  every: 10s\n" + minimal
	if got, err = Parse("", []byte(src), envOf(testEnv)); err != nil {
		t.Fatal(err)
	}
	want := RetentionConfig{Retention: engine.Retention{Dedupe: time.Minute, Locations: 2 * time.Hour, Transcript: 7 * 24 * time.Hour}, Every: 10 * time.Second}
	if got.Retention != want {
		t.Errorf("retention = %+v, want %+v", got.Retention, want)
	}
	for _, c := range []struct{ name, src, want string }{
		{"dedupe shorter than WeChat's retries", "retention:\n  dedupe: 15s\n", "wxflow.yaml:2:11: error: retention dedupe must be at least 1m (WeChat retries a callback 3 times within about 15 seconds"},
		{"short runs", "retention:\n  runs: 30s\n", "wxflow.yaml:2:9: error: retention runs must be at least 1m (write 0 or forever to keep it for good)"},
		{"negative", "retention:\n  messages: -1h\n", "wxflow.yaml:2:13: error: retention messages must not be negative"},
		{"no unit", "retention:\n  transcript: 90\n", "wxflow.yaml:2:15: error: transcript needs a unit"},
		{"not a duration", "retention:\n  locations: always\n", `wxflow.yaml:2:14: error: locations "always" is not a duration`},
		{"every too often", "retention:\n  every: 10ms\n", "wxflow.yaml:2:10: error: retention every must be at least 1s"},
		{"unknown key", "retention:\n  event: 1h\n", `wxflow.yaml:2:3: error: unknown key "event"`},
		{"misplaced", "dedupe: 1h\n", "dedupe goes under retention:"},
	} {
		_, err := Parse("wxflow.yaml", []byte(c.src+minimal), envOf(testEnv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error\n%v\nwant it to contain\n%s", c.name, err, c.want)
		}
	}
}

// TestConfigRetentionDocs checks that docs/config.md has a row for every
// key of retention:.
func TestConfigRetentionDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]string{"retention"}, retentionKeys...) {
		if !regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(k) + "` \\|").Match(doc) {
			t.Errorf("docs/config.md has no table row for `%s`", k)
		}
	}
}

// testRetention is retention: by default, as the other config tests
// expect it.
var testRetention = RetentionConfig{Retention: engine.DefaultRetention, Every: time.Minute}
