package scenario

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// FuzzExportText: whatever a contact wrote and a flow sent, the export
// parses without a problem and plays and expects exactly that text.
func FuzzExportText(f *testing.F) {
	f.Add("hello", "Welcome*", "store_1")
	f.Add("line\none \"quoted\" \\ #not a comment", "- [x]: {y}", "")
	f.Add("\x00\x7f\u2028 é 你好", "'single'", "a: b")
	f.Fuzz(func(t *testing.T, said, sent, scene string) {
		if !utf8.ValidString(said) || !utf8.ValidString(sent) || !utf8.ValidString(scene) {
			t.Skip("events and messages are stored as JSON, in UTF-8")
		}
		at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		events := []*engine.EventRecord{
			{Key: "1", ReceivedAt: at, Event: channels.Event{Kind: channels.Follow, Scene: scene}},
			{Key: "2", ReceivedAt: at.Add(time.Minute), Event: channels.Event{Kind: channels.Text, Text: said}},
		}
		msgs := []*engine.OutboxEntry{{ID: 1, RunID: 1, CreatedAt: at.Add(time.Minute), Status: engine.OutboxSent, Message: channels.Message{Type: "text", Text: sent}}}
		contact := said // odd ids must be quoted as well
		if contact == "" {
			contact = "o_empty" // no contact has an empty id (callbacks without one are refused)
		}
		src := writeExport(ExportOptions{Account: "main", Contact: contact, Zone: time.UTC}, events, msgs, nil)
		f := Parse("fuzz.test.yaml", src)
		if len(f.Problems) > 0 || len(f.Scenarios) != 1 {
			t.Fatalf("export does not parse: %v\n%s", f.Problems, src)
		}
		sc := f.Scenarios[0]
		if len(sc.Problems) > 0 {
			t.Fatalf("scenario problems: %v\n%s", sc.Problems, src)
		}
		var got []string
		for _, a := range sc.Script {
			switch a.Kind {
			case ActFollow, ActSay:
				got = append(got, a.Arg)
			case ActExpect:
				if a.Expect.Text != nil {
					got = append(got, *a.Expect.Text)
				}
			}
		}
		if said == "" {
			// An empty text cannot be played (say: "" is refused): a
			// comment stands for it.
			if len(got) != 2 || got[0] != scene || got[1] != sent || !strings.Contains(string(src), "# said an empty text") {
				t.Fatalf("played and expected %q, want %q, %q and a comment for the empty text\n%s", got, scene, sent, src)
			}
			return
		}
		if len(got) != 3 || got[0] != scene || got[1] != said || got[2] != sent {
			t.Fatalf("played and expected %q, want %q, %q, %q\n%s", got, scene, said, sent, src)
		}
	})
}
