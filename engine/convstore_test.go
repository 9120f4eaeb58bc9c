package engine_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
)

// The conversation's JSON is written and read by hand: it must read what
// encoding/json reads, and give back what it was given.

func TestConversationJSONRoundTrips(t *testing.T) {
	at := time.Date(2026, 11, 20, 18, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	for _, conv := range []engine.Conversation{
		{},
		{Status: engine.ConvOpen, OpenedAt: at, OpenedBy: "contact"},
		{Status: engine.ConvClosed, Operator: "amy", Team: "support", OpenedAt: at, OpenedBy: "flow handoff", ClosedAt: at.Add(time.Hour),
			ClosedBy: "operator amy", Note: "solved \"quickly\" \\ 订单\x00号\n", Category: "billing",
			AssignedAt: at.Add(time.Minute), FirstReplyAt: at.Add(2 * time.Minute), WaitingSince: at.Add(3 * time.Minute), AssignedBy: 4_000_000_123, HeldBefore: []int64{7, 4_000_000_124}},
		{Status: engine.ConvOpen, Operator: "amy", OpenedAt: at, OpenedBy: "contact", AssignedAt: at, HeldBefore: []int64{}},
	} {
		c := &engine.Contact{ID: "o1", Conv: conv}
		js, err := engine.EncodeConversationJSON(c)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(js) {
			t.Fatalf("%s is not JSON", js)
		}
		viaStd, err := engine.DecodeConvSlow(string(js))
		if err != nil {
			t.Fatalf("%s does not read: %v", js, err)
		}
		var back engine.Contact
		if err := engine.DecodeConversationJSON(&back, string(js)); err != nil {
			t.Fatal(err)
		}
		for _, got := range []engine.Conversation{viaStd, back.Conv} {
			if !sameConv(got, conv) {
				t.Fatalf("%s read back as %+v, want %+v", js, got, conv)
			}
		}
	}
}

func sameConv(a, b engine.Conversation) bool {
	times := func(c *engine.Conversation) []*time.Time {
		return []*time.Time{&c.OpenedAt, &c.ClosedAt, &c.AssignedAt, &c.FirstReplyAt, &c.WaitingSince}
	}
	ta, tb := times(&a), times(&b)
	for i := range ta {
		if !ta[i].Equal(*tb[i]) {
			return false
		}
		*ta[i], *tb[i] = time.Time{}, time.Time{}
	}
	if (a.HeldBefore == nil) != (b.HeldBefore == nil) || !slices.Equal(a.HeldBefore, b.HeldBefore) {
		return false
	}
	a.HeldBefore, b.HeldBefore = nil, nil
	return reflect.DeepEqual(a, b)
}

// FuzzConversationJSON: any stored text reads without a panic, the hand
// reader agrees with encoding/json on what both read, and what is read
// is written and read back the same.
func FuzzConversationJSON(f *testing.F) {
	f.Add(`{}`)
	f.Add(`{"s":"open","oa":1795172400000000000}`)
	f.Add(`{"s":"closed","n":"a\"b","ca":1795172400500000000,"ob":"flow x"}`)
	f.Add(`{"s":"open","o":"amy","t":"support","x":"y"}`)
	f.Add(`{"s":1}`)
	f.Add(`{"oa":"1"}`)
	f.Add(`{"s":"open","o":"amy","aa":1795172400000000000,"ar":42}`)
	f.Add(`{"ar":"42"}`)
	f.Add(`{"s":"open","o":"amy","aa":1795172400000000000,"hb":"3 4"}`)
	f.Add(`{"s":"open","hb":""}`)
	f.Add(`{"hb":3}`)
	f.Fuzz(func(t *testing.T, s string) {
		var c engine.Contact
		if err := engine.DecodeConversationJSON(&c, s); err != nil {
			return
		}
		if std, err := engine.DecodeConvSlow(s); err == nil && s != "" && !sameConv(std, c.Conv) {
			t.Fatalf("%q: hand %+v, encoding/json %+v", s, c.Conv, std)
		}
		js, err := engine.EncodeConversationJSON(&c)
		if err != nil {
			t.Fatal(err)
		}
		var back engine.Contact
		if err := engine.DecodeConversationJSON(&back, string(js)); err != nil {
			t.Fatalf("%q wrote %s, which does not read: %v", s, js, err)
		}
		if !sameConv(back.Conv, c.Conv) {
			t.Fatalf("%q: wrote %s, read back %+v, want %+v", s, js, back.Conv, c.Conv)
		}
	})
}
