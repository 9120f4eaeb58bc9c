package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzTrailJSON: the hand-written trail encoding is valid JSON that the
// standard decoder reads back as the standard encoder's output would be.
func FuzzTrailJSON(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " backslash \ slash /`, "tab\tnl\ncr\r\x00\x1f", "<b>&</b>", "中文 emoji 😀", "\xff\xfe bad utf8", "\u2028\u2029", "\u007f"} {
		f.Add(s, int64(1), int64(1763700000123456789))
	}
	f.Fuzz(func(t *testing.T, s string, id int64, nanos int64) {
		at := time.Unix(0, nanos).In(time.FixedZone("X", 8*3600))
		in := Trail{{At: at, Step: s, Kind: "send", What: s, Messages: []int64{id, -id}}, {At: at, What: s}}
		mine, err := in.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(mine) {
			t.Fatalf("invalid JSON: %s", mine)
		}
		std, err := json.Marshal([]TrailEntry(in))
		if err != nil {
			t.Skip() // a time the standard encoder refuses (year out of range)
		}
		var got, want []TrailEntry
		if err := json.Unmarshal(mine, &got); err != nil {
			t.Fatalf("decode %s: %v", mine, err)
		}
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d entries, want %d", len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if !g.At.Equal(w.At) || g.Step != w.Step || g.Kind != w.Kind || g.What != w.What || len(g.Messages) != len(w.Messages) {
				t.Fatalf("entry %d: got %+v, want %+v", i, g, w)
			}
		}
		if strings.Contains(string(mine), "\n") {
			t.Fatalf("a raw newline in %q", mine)
		}
	})
}
