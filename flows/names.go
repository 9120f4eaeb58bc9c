package flows

import (
	"errors"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked against the embedded IANA database
)

// loadLocation loads an IANA time zone; "Local" and "" are refused so that
// flows mean the same on every server.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, errUnknownZone
	}
	return time.LoadLocation(name)
}

var errUnknownZone = errors.New("unknown time zone")

// commonZones are offered as suggestions for misspelt time zones.
var commonZones = []string{
	"Asia/Shanghai", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
	"Asia/Seoul", "Asia/Kuala_Lumpur", "Asia/Bangkok", "Asia/Dubai", "Asia/Kolkata", "Asia/Jakarta",
	"Asia/Manila", "Asia/Ho_Chi_Minh", "Asia/Urumqi", "Europe/London", "Europe/Paris", "Europe/Berlin",
	"Europe/Madrid", "Europe/Rome", "Europe/Amsterdam", "Europe/Zurich", "Europe/Moscow",
	"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
	"America/Vancouver", "America/Sao_Paulo", "America/Mexico_City", "Australia/Sydney",
	"Australia/Melbourne", "Australia/Perth", "Pacific/Auckland", "Africa/Johannesburg", "UTC",
}

func timezoneHint(name string) string {
	if name == "Local" || name == "" {
		return "leave timezone out to use the server's zone, or name one such as Asia/Shanghai"
	}
	if h := didYouMean(name, commonZones); h != "" {
		return h
	}
	return "use an IANA name such as Asia/Shanghai"
}

// MatchGlob reports whether s matches pattern, where `*` matches any text
// (including none) and `?` exactly one character. Matching is
// case-sensitive.
func MatchGlob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// IsGlob reports whether a pattern has wildcards.
func IsGlob(pattern string) bool { return strings.ContainsAny(pattern, "*?") }

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
