package postgres

import (
	"sync"
)

// The contacts cache of a node's writer.
//
// A node is the only writer of the contacts, sessions and runs of the
// lanes it holds (see allFresh), and its transactions run one at a time.
// What a transaction knows of a contact at its commit (the contact, its
// session, its active runs: what AddEvents read ahead, kept up to date
// by the transaction's writes) is then what the database holds, and
// stays so until the node writes it again or lets its lane go. The cache
// keeps it for the next transactions: AddEvents reads only the contacts
// it does not hold, and a batch whose contacts are all in it reads
// nothing ahead (two statements fewer per transaction: in wxflow bench
// the two reads were about 9% of the server's statement time).
//
// It is kept only for a node (a store that joined: an engine holds its
// lanes), and emptied whenever that could be wrong: a transaction that
// did not commit (its writes, or a commit the client saw fail, may or may
// not be in the database), lanes taken, given back or left, and the set
// of lanes worked on changing. An entry is replaced or dropped at each
// commit of a transaction that wrote its contact, session or runs
// (touched), so a write of the transaction the cache does not follow
// (one with no read ahead of the contact) drops the entry.

// cacheMax bounds the entries of a writer's cache (an entry holds a
// contact's tags, fields and conversation, its session and its active
// runs' state); when full, an eighth of it is dropped.
const cacheMax = 4096

// cacheEntry is a contact as the database holds it.
type cacheEntry struct {
	contact *contactRow // nil: there is no such contact
	session cachedSession
	runs    []runRow // active runs, newest first
}

// contactCache is a writer's cache of contacts (see above).
type contactCache struct {
	mu sync.Mutex
	m  map[[2]string]cacheEntry
}

// clear empties the cache.
func (c *contactCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// lookup splits refs (accounts, ids) into the entries the cache holds,
// copied, and the refs it does not. A contact the transaction wrote
// (touched) is a miss: the database has the transaction's writes, the
// cache what was committed.
func (c *contactCache) lookup(refs [2][]string, touched map[[2]string]bool) (hits map[[2]string]cacheEntry, misses [2][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) == 0 {
		return nil, refs
	}
	for i := range refs[0] {
		k := [2]string{refs[0][i], refs[1][i]}
		e, ok := c.m[k]
		if !ok || touched[k] {
			misses[0], misses[1] = append(misses[0], k[0]), append(misses[1], k[1])
			continue
		}
		if hits == nil {
			hits = make(map[[2]string]cacheEntry, len(refs[0]))
		}
		if e.contact != nil {
			row := *e.contact
			e.contact = &row
		}
		e.runs = append([]runRow(nil), e.runs...)
		hits[k] = e
	}
	return hits, misses
}

// committed keeps what a committed transaction knew of its contacts: an
// entry for each contact whose contact, session and active runs it knew
// (read ahead, then written), and none for a contact it wrote without
// knowing all three.
func (c *contactCache) committed(t *pgTx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry := func(k [2]string) (cacheEntry, bool) {
		row, ok := t.known[k]
		if !ok {
			return cacheEntry{}, false
		}
		s, ok := t.sessions[k]
		if !ok {
			return cacheEntry{}, false
		}
		runs, ok := t.active[k]
		if !ok {
			return cacheEntry{}, false
		}
		if row != nil {
			cp := *row
			cp.fresh = false
			row = &cp
		}
		return cacheEntry{contact: row, session: s, runs: runs}, true
	}
	for k := range t.touched {
		if _, ok := t.known[k]; !ok {
			delete(c.m, k)
		}
	}
	for k := range t.known {
		e, ok := entry(k)
		if !ok {
			if t.touched[k] {
				delete(c.m, k)
			}
			continue
		}
		if c.m == nil {
			c.m = make(map[[2]string]cacheEntry)
		}
		if _, in := c.m[k]; !in && len(c.m) >= cacheMax {
			c.evict()
		}
		c.m[k] = e
	}
}

// evict drops an eighth of the entries (any: map order).
func (c *contactCache) evict() {
	n := max(1, len(c.m)/8)
	for k := range c.m {
		delete(c.m, k)
		if n--; n == 0 {
			return
		}
	}
}

// touch records that the transaction wrote the contact, session or runs
// of a contact.
func (t *pgTx) touch(account, contact string) {
	if t.touched == nil {
		t.touched = make(map[[2]string]bool)
	}
	t.touched[[2]string{account, contact}] = true
}
