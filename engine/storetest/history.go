package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// RunHistory runs the cases of the history readers every store offers
// beside engine.ReadTx: engine.EventLister and engine.FlowVersionLister.
func RunHistory(t *testing.T, open func(t *testing.T) engine.Store) {
	t.Helper()
	for _, c := range []testCase{
		{"ContactEvents", testContactEvents},
		{"FlowVersions", testFlowVersions},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			c.fn(t, s)
		})
	}
}

// testContactEvents: a contact's events come back oldest first, whatever
// order they were recorded in, only that contact's, from since on, up to
// the limit, with their payload whole.
func testContactEvents(t *testing.T, s engine.Store) {
	ev := func(contact string, kind channels.Kind, text string, d time.Duration) *engine.EventRecord {
		e := channels.Event{Account: "main", Contact: contact, Kind: kind, Text: text, At: at(d).Truncate(time.Second), MsgID: contact + text}
		return &engine.EventRecord{Key: e.DedupeKey(), Event: e, ReceivedAt: at(d)}
	}
	recs := []*engine.EventRecord{
		ev("alice", channels.Text, "second", 2*time.Second),
		ev("alice", channels.Follow, "", time.Second),
		ev("bob", channels.Text, "not alice", 3*time.Second),
		ev("alice", channels.Text, "third", 4*time.Second),
	}
	recs[3].Event.Location = &channels.Geo{Lat: 31.2, Lng: 121.5, Label: "Shanghai"}
	update(t, s, func(tx engine.Tx) error {
		for _, r := range recs {
			if _, err := tx.AddEvent(r); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(since time.Time, limit int) []*engine.EventRecord {
		var out []*engine.EventRecord
		view(t, s, func(tx engine.ReadTx) error {
			l, ok := tx.(engine.EventLister)
			if !ok {
				t.Fatalf("%T is not an engine.EventLister", tx)
			}
			var err error
			out, err = l.ContactEvents("main", "alice", since, limit)
			return err
		})
		return out
	}
	got := list(time.Time{}, 0)
	if len(got) != 3 || got[0].Event.Kind != channels.Follow || got[1].Event.Text != "second" || got[2].Event.Text != "third" {
		t.Fatalf("events = %v, want follow, second, third", texts(got))
	}
	if !got[0].ReceivedAt.Equal(at(time.Second)) || got[0].Key != recs[1].Key || !got[0].Event.At.Equal(at(time.Second).Truncate(time.Second)) {
		t.Errorf("first event = %+v, want the follow received at %v", got[0], at(time.Second))
	}
	if g := got[2].Event.Location; g == nil || g.Label != "Shanghai" || g.Lat != 31.2 {
		t.Errorf("location = %+v", g)
	}
	if got := list(at(2*time.Second), 0); len(got) != 2 || got[0].Event.Text != "second" {
		t.Errorf("since 2s: %v, want second, third", texts(got))
	}
	if got := list(time.Time{}, 2); len(got) != 2 || got[1].Event.Text != "second" {
		t.Errorf("limit 2: %v, want follow, second", texts(got))
	}
}

func texts(recs []*engine.EventRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Event.Kind)+":"+r.Event.Text)
	}
	return out
}

// testFlowVersions: every stored version with its source, the most
// recently stored first; storing a version again changes nothing.
func testFlowVersions(t *testing.T, s engine.Store) {
	v1 := &engine.FlowVersion{Version: "sha256:1", Name: "welcome", File: "welcome.yaml", Source: []byte("name: welcome\n"), LoadedAt: at(0)}
	v2 := &engine.FlowVersion{Version: "sha256:2", Name: "welcome", File: "welcome.yaml", Source: []byte("name: welcome # 2\n"), LoadedAt: at(time.Minute)}
	other := &engine.FlowVersion{Version: "sha256:3", Name: "away", File: "away.yaml", Source: []byte("name: away\n"), LoadedAt: at(30 * time.Second)}
	for _, v := range []*engine.FlowVersion{v1, v2, other} {
		update(t, s, func(tx engine.Tx) error { return tx.PutFlowVersion(v) })
	}
	again := *v1
	again.LoadedAt = at(time.Hour)
	update(t, s, func(tx engine.Tx) error { return tx.PutFlowVersion(&again) })
	var got []*engine.FlowVersion
	if err := s.View(context.Background(), func(tx engine.ReadTx) error {
		l, ok := tx.(engine.FlowVersionLister)
		if !ok {
			t.Fatalf("%T is not an engine.FlowVersionLister", tx)
		}
		var err error
		got, err = l.FlowVersions()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Version != "sha256:2" || got[1].Version != "sha256:3" || got[2].Version != "sha256:1" {
		t.Fatalf("versions = %v, want 2, 3, 1", got)
	}
	if g := got[0]; g.Name != "welcome" || g.File != "welcome.yaml" || string(g.Source) != "name: welcome # 2\n" || !g.LoadedAt.Equal(at(time.Minute)) {
		t.Errorf("newest = %+v", g)
	}
}
