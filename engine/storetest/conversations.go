package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// The cases of conversations (engine.ConversationStore and
// engine.ConvNoteWriter, issue 14): every store's transactions keep them.

// convStore returns a transaction as an engine.ConversationStore.
func convStore(t *testing.T, tx engine.ReadTx) engine.ConversationStore {
	t.Helper()
	cs, ok := tx.(engine.ConversationStore)
	if !ok {
		t.Fatalf("%T is not an engine.ConversationStore", tx)
	}
	return cs
}

// noteWriter returns a write transaction as an engine.ConvNoteWriter.
func noteWriter(t *testing.T, tx engine.Tx) engine.ConvNoteWriter {
	t.Helper()
	w, ok := tx.(engine.ConvNoteWriter)
	if !ok {
		t.Fatalf("%T is not an engine.ConvNoteWriter", tx)
	}
	return w
}

// fullConversation has every field of a conversation set; its note holds
// quotes, a NUL byte and text beyond ASCII, which the stores keep.
func fullConversation() engine.Conversation {
	return engine.Conversation{
		Status: engine.ConvOpen, Operator: "amy", Team: "support",
		OpenedAt: at(time.Minute), OpenedBy: "flow handoff",
		ClosedAt: at(-time.Hour), ClosedBy: "operator bob", Note: "solved \"quickly\" 订单\x00号", Category: "billing",
		AssignedAt: at(2 * time.Minute), FirstReplyAt: at(3*time.Minute + 7), WaitingSince: at(4 * time.Minute),
	}
}

// checkConv reports a conversation that does not come back equal (times
// to the nanosecond, in UTC).
func checkConv(t *testing.T, what string, got, want engine.Conversation) {
	t.Helper()
	times := func(c *engine.Conversation) []*time.Time {
		ts := []*time.Time{&c.OpenedAt, &c.ClosedAt, &c.AssignedAt, &c.FirstReplyAt, &c.WaitingSince}
		if c.Last != nil {
			l := *c.Last
			c.Last = &l
			ts = append(ts, &c.Last.At)
		}
		return ts
	}
	gt, wt := times(&got), times(&want)
	if len(gt) != len(wt) {
		t.Errorf("%s: conversation %+v, want %+v", what, got, want)
		return
	}
	for i := range gt {
		checkTime(t, fmt.Sprintf("%s: conversation time %d", what, i), *gt[i], *wt[i])
		*gt[i], *wt[i] = time.Time{}, time.Time{}
	}
	mustEqual(t, what+": conversation", got, want)
}

// checkConvContact checks a contact and its conversation.
func checkConvContact(t *testing.T, what string, got, want *engine.Contact) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: contact %s/%s: nil", what, want.Account, want.ID)
	}
	checkConv(t, what, got.Conv, want.Conv)
	g, w := *got, *want
	g.Conv, w.Conv = engine.Conversation{}, engine.Conversation{}
	checkContact(t, &g, &w)
}

// testConvRoundTrip: a contact keeps its conversation through PutContact
// and every read of contacts (Contact, ContactsOf, Contacts), in the
// transaction that wrote it and after; a conversation never opened comes
// back as the zero one, and one written over is replaced.
func testConvRoundTrip(t *testing.T, s engine.Store) {
	alice := sampleContact("a", "alice")
	alice.Conv = fullConversation()
	bare := sampleContact("a", "bare")
	read := func(what string, tx engine.ReadTx, want ...*engine.Contact) {
		t.Helper()
		for _, w := range want {
			c, err := tx.Contact(w.Account, w.ID)
			if err != nil {
				t.Fatalf("%s: Contact(%s): %v", what, w.ID, err)
			}
			checkConvContact(t, what+": Contact", c, w)
		}
		of, err := tx.ContactsOf(refs("a", "alice", "a", "bare"))
		if err != nil {
			t.Fatalf("%s: ContactsOf: %v", what, err)
		}
		all, err := tx.Contacts("a", "", "", 10)
		if err != nil {
			t.Fatalf("%s: Contacts: %v", what, err)
		}
		for _, list := range [][]*engine.Contact{of, all} {
			slices.SortFunc(list, func(x, y *engine.Contact) int { return cmp.Compare(x.ID, y.ID) })
			if len(list) != len(want) {
				t.Fatalf("%s: %d contacts, want %d", what, len(list), len(want))
			}
			for i, w := range want {
				checkConvContact(t, what+": ContactsOf/Contacts", list[i], w)
			}
		}
	}
	update(t, s, func(tx engine.Tx) error {
		for _, c := range []*engine.Contact{alice, bare} {
			if err := tx.PutContact(c); err != nil {
				return err
			}
		}
		read("its transaction", tx, alice, bare)
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		read("committed", tx, alice, bare)
		return nil
	})
	// Closed and handed back to flows: the assignee goes.
	alice.Conv.Status, alice.Conv.Operator, alice.Conv.Team, alice.Conv.Last = engine.ConvClosed, "", "", nil
	bare.Conv = engine.Conversation{Status: engine.ConvOpen, OpenedBy: "contact", OpenedAt: at(time.Hour)}
	update(t, s, func(tx engine.Tx) error {
		if err := tx.PutContact(alice); err != nil {
			return err
		}
		return tx.PutContact(bare)
	})
	view(t, s, func(tx engine.ReadTx) error {
		read("replaced", tx, alice, bare)
		return nil
	})
}

// testConvBatch: the set-based path of a batch (engine.BatchTx: the
// contacts AddEvents reads ahead, the writes buffered) keeps a contact's
// conversation: read ahead, written over, read back, committed.
func testConvBatch(t *testing.T, s engine.Store) {
	alice := sampleContact("a", "alice")
	alice.Conv = fullConversation()
	update(t, s, func(tx engine.Tx) error { return tx.PutContact(alice) })
	update(t, s, func(tx engine.Tx) error {
		b := batchTx(t, tx)
		if _, err := b.AddEvents([]*engine.EventRecord{batchEvent("e1", "alice"), batchEvent("e2", "bob")}); err != nil {
			return err
		}
		c, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkConvContact(t, "read ahead", c, alice)
		c.Conv.Operator, c.Conv.WaitingSince = "bob", at(time.Hour)
		if err := tx.PutContact(c); err != nil {
			return err
		}
		bob := sampleContact("a", "bob")
		bob.Conv = engine.Conversation{Status: engine.ConvOpen, Team: "sales", OpenedAt: at(time.Second), OpenedBy: "contact"}
		if err := tx.PutContact(bob); err != nil {
			return err
		}
		for _, w := range []*engine.Contact{c, bob} {
			got, err := tx.Contact("a", w.ID)
			if err != nil {
				return err
			}
			checkConvContact(t, "written after AddEvents", got, w)
		}
		alice = c
		// And listed, from the writes not sent yet.
		list, err := convStore(t, tx).Conversations(engine.ConversationFilter{Status: engine.ConvOpen})
		if err != nil {
			return err
		}
		// Both interacted at the same time: by id, descending.
		mustEqual(t, "open conversations in the batch", contactKeys(list), []string{"a/bob", "a/alice"})
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		c, err := tx.Contact("a", "alice")
		if err != nil {
			return err
		}
		checkConvContact(t, "committed", c, alice)
		list, err := convStore(t, tx).Conversations(engine.ConversationFilter{Operator: "bob"})
		if err != nil {
			return err
		}
		mustEqual(t, "bob's", contactKeys(list), []string{"a/alice"})
		return nil
	})
}

// convFixture is a contact with a conversation, for the lists.
type convFixture struct {
	account, id string
	seen        time.Duration // LastSeen is at(seen); -1: the zero time
	status      engine.ConvStatus
	op, team    string
}

func (f convFixture) contact() *engine.Contact {
	c := &engine.Contact{Account: f.account, ID: f.id, Followed: true, FirstSeen: at(0), LastSeen: at(f.seen)}
	if f.seen < 0 {
		c.LastSeen = time.Time{}
	}
	if f.status != "" {
		c.Conv = engine.Conversation{Status: f.status, Operator: f.op, Team: f.team, OpenedAt: at(0), OpenedBy: "contact"}
	}
	return c
}

// convFixtures: conversations of two accounts, open and closed, assigned
// or not, some interacting at the same time (ordered by account, then
// id), one never opened (never listed), one whose contact has no time.
var convFixtures = []convFixture{
	{"a", "never", 100 * time.Minute, "", "", ""},
	{"a", "o1", 10 * time.Minute, engine.ConvOpen, "", ""},
	{"a", "o2", 20 * time.Minute, engine.ConvOpen, "amy", "support"},
	{"a", "o3", 30 * time.Minute, engine.ConvOpen, "bob", "sales"},
	{"a", "o4", 40 * time.Minute, engine.ConvOpen, "", "support"},
	{"a", "o5", 40 * time.Minute, engine.ConvOpen, "amy", ""},
	{"b", "o1", 40 * time.Minute, engine.ConvOpen, "amy", "support"},
	{"b", "o2", 45 * time.Minute, engine.ConvOpen, "", ""},
	{"a", "o6", -1, engine.ConvOpen, "", ""},
	{"a", "c1", 50 * time.Minute, engine.ConvClosed, "", ""},
	{"a", "c2", 5 * time.Minute, engine.ConvClosed, "amy", ""},
	{"b", "c3", 60 * time.Minute, engine.ConvClosed, "", "sales"},
}

// putConvFixtures stores the fixtures (with a session for a/o2) and
// returns their contacts.
func putConvFixtures(t *testing.T, s engine.Store) []*engine.Contact {
	var out []*engine.Contact
	update(t, s, func(tx engine.Tx) error {
		for _, f := range convFixtures {
			c := f.contact()
			if err := tx.PutContact(c); err != nil {
				return err
			}
			out = append(out, c)
		}
		return tx.PutSession("a", "o2", channels.Session{Followed: true, Last: at(20 * time.Minute), Kind: channels.MessageInteraction, Used: 1})
	})
	return out
}

func convCursor(c *engine.Contact) engine.ConvCursor {
	return engine.ConvCursor{Seen: c.LastSeen, Account: c.Account, ID: c.ID}
}

// convBefore reports whether a comes before b in the inbox's order
// (newest interaction first, then account and id, descending).
func convCompare(a, b *engine.Contact) int {
	if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Account, a.Account); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// wantConversations is what Conversations(f) lists of cs, by the
// documented rules.
func wantConversations(cs []*engine.Contact, f engine.ConversationFilter) []string {
	var out []*engine.Contact
	for _, c := range cs {
		v := c.Conv
		switch {
		case v.Status == "",
			f.Account != "" && c.Account != f.Account,
			f.Status != "" && v.Status != f.Status,
			f.Operator != "" && v.Operator != f.Operator,
			f.Unassigned && (v.Status != engine.ConvOpen || v.Operator != "" && (f.Operators == nil || slices.Contains(f.Operators, v.Operator))),
			len(f.Teams) > 0 && !slices.Contains(f.Teams, v.Team):
			continue
		}
		if f.Before != (engine.ConvCursor{}) {
			cur := &engine.Contact{LastSeen: f.Before.Seen, Account: f.Before.Account, ID: f.Before.ID}
			if convCompare(c, cur) <= 0 {
				continue
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, convCompare)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return contactKeys(out)
}

// testConvList: Conversations lists by every filter, newest interaction
// first, never a conversation never opened; paging with the cursor of
// the last one listed, a page at a time, lists them all once; the
// contacts' sessions are read with them.
func testConvList(t *testing.T, s engine.Store) {
	cs := putConvFixtures(t, s)
	filters := []engine.ConversationFilter{
		{},
		{Status: engine.ConvOpen},
		{Status: engine.ConvClosed},
		{Account: "a"},
		{Account: "b", Status: engine.ConvOpen},
		{Operator: "amy"},
		{Operator: "amy", Status: engine.ConvOpen},
		{Operator: "amy", Account: "a"},
		{Operator: "nobody"},
		{Unassigned: true},
		{Unassigned: true, Account: "a"},
		{Unassigned: true, Status: engine.ConvClosed},
		{Unassigned: true, Operator: "amy"},
		{Unassigned: true, Operators: []string{"amy"}},
		{Unassigned: true, Operators: []string{"amy", "bob"}, Account: "a"},
		{Unassigned: true, Operators: []string{}},
		{Unassigned: true, Operators: []string{"bob"}, Teams: []string{"support"}},
		{Teams: []string{"support"}},
		{Teams: []string{"support", "sales"}},
		{Teams: []string{"sales"}, Status: engine.ConvOpen},
		{Teams: []string{"support"}, Unassigned: true},
		{Teams: []string{"support", "sales"}, Operator: "amy"},
		{Teams: []string{"nobody"}},
	}
	view(t, s, func(tx engine.ReadTx) error {
		st := convStore(t, tx)
		for _, f := range filters {
			what := fmt.Sprintf("Conversations(%+v)", f)
			got, err := st.Conversations(f)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want := wantConversations(cs, f)
			mustEqual(t, what, contactKeys(got), want)
			for _, c := range got {
				for _, w := range cs {
					if w.Account == c.Account && w.ID == c.ID {
						checkConvContact(t, what, c, w)
					}
				}
			}
			// A page at a time.
			for _, limit := range []int{1, 2, 5} {
				var paged []string
				pf := f
				pf.Limit = limit
				for range len(cs) + 1 {
					page, err := st.Conversations(pf)
					if err != nil {
						t.Fatalf("%s, limit %d, before %+v: %v", what, limit, pf.Before, err)
					}
					mustEqual(t, fmt.Sprintf("%s limit %d before %+v", what, limit, pf.Before), contactKeys(page), wantConversations(cs, pf))
					paged = append(paged, contactKeys(page)...)
					if len(page) < limit {
						break
					}
					pf.Before = convCursor(page[len(page)-1])
				}
				if want == nil {
					want = []string{}
				}
				if paged == nil {
					paged = []string{}
				}
				mustEqual(t, fmt.Sprintf("%s by pages of %d", what, limit), paged, want)
			}
		}
		// The session came with the contact.
		if _, err := st.Conversations(engine.ConversationFilter{Operator: "amy"}); err != nil {
			return err
		}
		sess, ok, err := tx.Session("a", "o2")
		if err != nil || !ok || sess.Used != 1 || !sess.Last.Equal(at(20*time.Minute)) {
			t.Errorf("Session(o2) after Conversations = %+v, %v, %v", sess, ok, err)
		}
		if _, ok, err := tx.Session("a", "o5"); ok || err != nil {
			t.Errorf("Session(o5), which has none, after Conversations = %v, %v", ok, err)
		}
		return nil
	})
}

// testConvListReadsOwnWrites: in a write transaction, the lists see its
// writes: a conversation opened, then closed.
func testConvListReadsOwnWrites(t *testing.T, s engine.Store) {
	putConvFixtures(t, s)
	update(t, s, func(tx engine.Tx) error {
		st := convStore(t, tx)
		c := convFixture{"a", "new", 200 * time.Minute, engine.ConvOpen, "zoe", "vip"}.contact()
		if err := tx.PutContact(c); err != nil {
			return err
		}
		for _, f := range []engine.ConversationFilter{{Limit: 1}, {Operator: "zoe"}, {Teams: []string{"vip"}}, {Status: engine.ConvOpen, Limit: 1}} {
			got, err := st.Conversations(f)
			if err != nil {
				return err
			}
			mustEqual(t, fmt.Sprintf("Conversations(%+v) after opening", f), contactKeys(got), []string{"a/new"})
		}
		n, err := st.OpenAssigned([]string{"zoe"})
		if err != nil {
			return err
		}
		mustEqual(t, "OpenAssigned after opening", n, map[string]int{"zoe": 1})
		c.Conv.Status, c.Conv.Operator, c.Conv.Team = engine.ConvClosed, "", ""
		if err := tx.PutContact(c); err != nil {
			return err
		}
		got, err := st.Conversations(engine.ConversationFilter{Status: engine.ConvOpen, Limit: 1})
		if err != nil {
			return err
		}
		mustEqual(t, "newest open after closing", contactKeys(got), []string{"b/o2"})
		if got, err = st.Conversations(engine.ConversationFilter{Operator: "zoe"}); err != nil || len(got) != 0 {
			t.Errorf("zoe's after closing = %v, %v", contactKeys(got), err)
		}
		return nil
	})
}

// testConvStale: StaleConversations lists open conversations whose
// contact last interacted before a time, oldest first (then by account
// and id), a page at a time after the cursor of the last one listed.
func testConvStale(t *testing.T, s engine.Store) {
	cs := putConvFixtures(t, s)
	want := func(before time.Time) []string {
		var out []*engine.Contact
		for _, c := range cs {
			if c.Conv.Status == engine.ConvOpen && c.LastSeen.Before(before) {
				out = append(out, c)
			}
		}
		slices.SortFunc(out, func(a, b *engine.Contact) int { return -convCompare(a, b) })
		return contactKeys(out)
	}
	view(t, s, func(tx engine.ReadTx) error {
		st := convStore(t, tx)
		for _, before := range []time.Time{at(41 * time.Minute), at(40 * time.Minute), at(time.Minute), at(time.Hour * 24)} {
			got, err := st.StaleConversations(before, engine.ConvCursor{}, 100)
			if err != nil {
				return err
			}
			mustEqual(t, fmt.Sprintf("stale before %v", before), contactKeys(got), want(before))
			var paged []string
			var after engine.ConvCursor
			for range len(cs) + 1 {
				page, err := st.StaleConversations(before, after, 2)
				if err != nil {
					return err
				}
				paged = append(paged, contactKeys(page)...)
				if len(page) < 2 {
					break
				}
				after = convCursor(page[len(page)-1])
			}
			if paged == nil {
				paged = []string{}
			}
			mustEqual(t, fmt.Sprintf("stale before %v by pages of 2", before), paged, want(before))
		}
		got, err := st.StaleConversations(at(41*time.Minute), engine.ConvCursor{}, 100)
		if err != nil {
			return err
		}
		mustEqual(t, "the oldest first", contactKeys(got), []string{"a/o6", "a/o1", "a/o2", "a/o3", "a/o4", "a/o5", "b/o1"})
		return nil
	})
}

// testConvCounts: OpenAssigned counts each operator's open
// conversations (0 for one with none); OpenByTeam counts open ones by
// team, "" for none.
func testConvCounts(t *testing.T, s engine.Store) {
	putConvFixtures(t, s)
	view(t, s, func(tx engine.ReadTx) error {
		st := convStore(t, tx)
		n, err := st.OpenAssigned([]string{"amy", "bob", "zed"})
		if err != nil {
			return err
		}
		mustEqual(t, "OpenAssigned", n, map[string]int{"amy": 3, "bob": 1, "zed": 0})
		if n, err = st.OpenAssigned(nil); err != nil || len(n) != 0 {
			t.Errorf("OpenAssigned(nil) = %v, %v", n, err)
		}
		teams, err := st.OpenByTeam()
		if err != nil {
			return err
		}
		mustEqual(t, "OpenByTeam", teams, map[string]int{"": 4, "support": 3, "sales": 1})
		return nil
	})
}

// testConvNotes: notes get increasing IDs; ConvNotes lists a contact's
// newest first, a page at a time below an ID, with every field; pruning
// events and runs keeps them; Counts counts them.
func testConvNotes(t *testing.T, s engine.Store) {
	mk := func(contact string, kind engine.ConvNoteKind, d time.Duration, by, text string, outbox int64) *engine.ConvNote {
		return &engine.ConvNote{Account: "a", Contact: contact, At: at(d), Kind: kind, By: by, Text: text, OutboxID: outbox}
	}
	notes := []*engine.ConvNote{
		mk("alice", engine.NoteOpened, 0, "contact", "opened", 0),
		mk("alice", engine.NoteAssigned, time.Minute, "flow handoff", "assigned to amy (support)", 0),
		mk("bob", engine.NoteComment, time.Minute, "operator amy", "bob's", 0),
		mk("alice", engine.NoteComment, 2*time.Minute, "operator amy", "VIP: \"be nice\" 中文", 0),
		mk("alice", engine.NoteReply, 3*time.Minute, "operator amy", "", 42),
		mk("alice", engine.NoteClosed, 4*time.Minute, "auto_close", "closed: solved", 0),
	}
	update(t, s, func(tx engine.Tx) error {
		w := noteWriter(t, tx)
		var last int64
		for _, n := range notes {
			if err := w.AddConvNote(n); err != nil {
				return err
			}
			if n.ID <= last {
				t.Errorf("note %q: ID %d, not above %d", n.Text, n.ID, last)
			}
			last = n.ID
		}
		// Read in the transaction that wrote them.
		got, err := convStore(t, tx).ConvNotes("a", "alice", 0, 1)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].ID != notes[5].ID {
			t.Errorf("the newest note in its transaction = %+v", got)
		}
		return nil
	})
	alice := []*engine.ConvNote{notes[5], notes[4], notes[3], notes[1], notes[0]}
	ids := func(ns []*engine.ConvNote) []int64 {
		out := []int64{}
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	update(t, s, func(tx engine.Tx) error {
		if _, err := tx.PruneEvents(at(time.Hour), false, 100); err != nil {
			return err
		}
		_, _, err := tx.PruneRuns(at(time.Hour), 100)
		return err
	})
	view(t, s, func(tx engine.ReadTx) error {
		st := convStore(t, tx)
		got, err := st.ConvNotes("a", "alice", 0, 10)
		if err != nil {
			return err
		}
		mustEqual(t, "alice's notes", ids(got), ids(alice))
		for i, n := range got {
			if i < len(alice) {
				w := *alice[i]
				checkTime(t, "note At", n.At, w.At)
				g := *n
				g.At, w.At = time.Time{}, time.Time{}
				mustEqual(t, "note", g, w)
			}
		}
		var paged []int64
		before := int64(0)
		for range 10 {
			page, err := st.ConvNotes("a", "alice", before, 2)
			if err != nil {
				return err
			}
			paged = append(paged, ids(page)...)
			if len(page) < 2 {
				break
			}
			before = page[len(page)-1].ID
		}
		mustEqual(t, "alice's notes by pages of 2", paged, ids(alice))
		if got, err := st.ConvNotes("a", "bob", 0, 10); err != nil || len(got) != 1 || got[0].Text != "bob's" {
			t.Errorf("bob's notes = %+v, %v", got, err)
		}
		if got, err := st.ConvNotes("b", "alice", 0, 10); err != nil || len(got) != 0 {
			t.Errorf("notes of alice of account b = %+v, %v", got, err)
		}
		return nil
	})
	checkCounts(t, s, map[string]int{"conv_notes": 6})
	// A transaction that fails keeps none.
	err := s.Update(context.Background(), func(tx engine.Tx) error {
		if err := noteWriter(t, tx).AddConvNote(mk("alice", engine.NoteComment, time.Hour, "api", "undone", 0)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want errBoom", err)
	}
	checkCounts(t, s, map[string]int{"conv_notes": 6})
}

// testRecentEvents: a contact's events come back newest first, received
// before a time (zero: the newest), up to the limit, only that
// contact's, with their payload whole.
func testRecentEvents(t *testing.T, s engine.Store) {
	ev := func(account, contact string, kind channels.Kind, text string, d time.Duration) *engine.EventRecord {
		e := channels.Event{Account: account, Contact: contact, Kind: kind, Text: text, At: at(d).Truncate(time.Second), MsgID: account + contact + text}
		return &engine.EventRecord{Key: e.DedupeKey(), Event: e, ReceivedAt: at(d)}
	}
	recs := []*engine.EventRecord{
		ev("a", "alice", channels.Text, "second", 2*time.Second),
		ev("a", "alice", channels.Follow, "", time.Second),
		ev("a", "bob", channels.Text, "not alice", 3*time.Second),
		ev("b", "alice", channels.Text, "another account", 3*time.Second),
		ev("a", "alice", channels.Image, "third", 4*time.Second),
		ev("a", "alice", channels.Text, "fourth", 5*time.Second),
	}
	recs[4].Event.MediaID = "media-1"
	update(t, s, func(tx engine.Tx) error {
		for _, r := range recs {
			if _, err := tx.AddEvent(r); err != nil {
				return err
			}
		}
		// Read in the transaction that recorded them.
		got, err := convStore(t, tx).RecentEvents("a", "alice", time.Time{}, 1)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Event.Text != "fourth" {
			t.Errorf("the newest event in its transaction = %v", texts(got))
		}
		return nil
	})
	view(t, s, func(tx engine.ReadTx) error {
		st := convStore(t, tx)
		list := func(before time.Time, limit int) []string {
			got, err := st.RecentEvents("a", "alice", before, limit)
			if err != nil {
				t.Fatalf("RecentEvents: %v", err)
			}
			return texts(got)
		}
		mustEqual(t, "alice's events", list(time.Time{}, 10), []string{"text:fourth", "image:third", "text:second", "follow:"})
		mustEqual(t, "limit 2", list(time.Time{}, 2), []string{"text:fourth", "image:third"})
		mustEqual(t, "before 4s", list(at(4*time.Second), 10), []string{"text:second", "follow:"})
		mustEqual(t, "before 1s", list(at(time.Second), 10), []string(nil))
		got, err := st.RecentEvents("a", "alice", at(5*time.Second), 1)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Key != recs[4].Key || got[0].Event.MediaID != "media-1" || got[0].Event.Kind != channels.Image {
			t.Fatalf("event before 5s = %+v, want the image", got)
		}
		checkTime(t, "ReceivedAt", got[0].ReceivedAt, at(4*time.Second))
		if !got[0].Event.At.Equal(at(4 * time.Second).Truncate(time.Second)) {
			t.Errorf("Event.At = %v", got[0].Event.At)
		}
		return nil
	})
}
