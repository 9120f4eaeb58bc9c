package flows

import (
	"testing"
	"time"
)

// TestTextOf: values are written into texts as people read them, not as
// Go prints them (2026-11-16 02:00:00 +0000 UTC, 1e+06, map[k:v]).
func TestTextOf(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 11, 16, 10, 0, 0, 0, shanghai)
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, ""},
		{"上海 <b>", "上海 <b>"},
		{true, "true"},
		{42, "42"},
		{int64(-7), "-7"},
		{3.0, "3"},
		{1000000.0, "1000000"},
		{0.25, "0.25"},
		{1e21, "1000000000000000000000"},
		{float32(1.5), "1.5"},
		{at, "2026-11-16T10:00:00+08:00"},
		{at.UTC(), "2026-11-16T02:00:00Z"},
		{90 * time.Minute, "1h30m0s"},
		{[]any{1.0, "a"}, `[1,"a"]`},
		{[]string{"vip", "a&b"}, `["vip","a&b"]`},
		{map[string]any{"k": "上海", "n": []any{1.0, 2.0}}, `{"k":"上海","n":[1,2]}`},
		// Before: null, {31.2 121.5 0 x}, {true ... 5}.
		{[]string(nil), `[]`},
		{map[string]string(nil), `{}`},
		{LocationEnv{Lat: 31.2, Lng: 121.5, Label: "x"}, `{"label":"x","lat":31.2,"lng":121.5,"scale":0}`},
		{WindowEnv{Open: true, ExpiresAt: at, QuotaLeft: 5}, `{"expires_at":"2026-11-16T10:00:00+08:00","open":true,"quota_left":5}`},
		{time.November, "November"},
		{time.Monday, "Monday"},
		{map[string]any{"l": LocationEnv{Lat: 1}}, `{"l":{"label":"","lat":1,"lng":0,"scale":0}}`},
	} {
		if got := TextOf(c.v); got != c.want {
			t.Errorf("TextOf(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}
