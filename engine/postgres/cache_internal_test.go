package postgres

import (
	"fmt"
	"testing"
)

// TestContactCacheStaysBounded: past cacheMax contacts the cache drops
// some to take new ones, and answers for those it keeps.
func TestContactCacheStaysBounded(t *testing.T) {
	var c contactCache
	const n = cacheMax + cacheMax/2
	for i := range n {
		k := [2]string{"a", fmt.Sprintf("u%d", i)}
		tx := &pgTx{
			known:    map[[2]string]*contactRow{k: {account: k[0], id: k[1], tags: fmt.Sprint(i), fresh: true}},
			sessions: map[[2]string]cachedSession{k: {}},
			active:   map[[2]string][]runRow{k: {{id: int64(i), account: k[0], contact: k[1]}}},
		}
		c.committed(tx)
		if len(c.m) > cacheMax {
			t.Fatalf("%d entries after %d contacts, want at most %d", len(c.m), i+1, cacheMax)
		}
	}
	last := [2]string{"a", fmt.Sprintf("u%d", n-1)}
	hits, misses := c.lookup([2][]string{{last[0], "a"}, {last[1], "nobody"}}, nil)
	e, ok := hits[last]
	if !ok || e.contact == nil || e.contact.tags != fmt.Sprint(n-1) || e.contact.fresh || len(e.runs) != 1 {
		t.Fatalf("the last contact cached: %+v (found %v)", e, ok)
	}
	if len(misses[0]) != 1 || misses[1][0] != "nobody" {
		t.Fatalf("misses %v, want the unknown contact", misses)
	}
	// A copy: changing it leaves the cache as it was.
	e.contact.tags = "changed"
	e.runs[0].status = "changed"
	again, _ := c.lookup([2][]string{{last[0]}, {last[1]}}, nil)
	if again[last].contact.tags != fmt.Sprint(n-1) || again[last].runs[0].status != "" {
		t.Fatal("a lookup handed out the cache's own rows")
	}
	// A contact the transaction wrote is a miss.
	if hits, _ := c.lookup([2][]string{{last[0]}, {last[1]}}, map[[2]string]bool{last: true}); len(hits) != 0 {
		t.Fatal("a contact the transaction touched came from the cache")
	}
}
