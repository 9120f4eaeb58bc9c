package flows

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzDurationSchema: the JSON Schema's pattern for durations, which
// editors check as operators type, accepts a text exactly when
// ParseDuration reads it as a length of time (a zero or an overlong
// one aside: those the schema cannot tell).
func FuzzDurationSchema(f *testing.F) {
	pattern := regexp.MustCompile(Duration.schema(nil)["pattern"].(string))
	for _, s := range []string{"30s", "1h30m", "1h 30m", "1.5h", ".5h", "1.h", "2 d", "100ms", "", " 1h", "1h ", "1x", "h", "1", "1.2.3h", "0s", "99999999d", "1\th"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseDuration(s)
		ok := err == nil || strings.Contains(err.Error(), "longer than zero") || strings.Contains(err.Error(), "too long")
		if m := pattern.MatchString(s); m != ok {
			t.Errorf("%q: the schema's pattern matches: %v; ParseDuration: %v", s, m, err)
		}
	})
}
