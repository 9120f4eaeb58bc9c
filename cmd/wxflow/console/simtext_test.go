package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestSimulatorRefusesControlCharacters: POST /api/sandbox refuses a
// text (and a scene, a key) holding a NUL or another control character
// no WeChat callback can carry (XML 1.0 has none below U+0020 but tab,
// newline and carriage return), with a 400 saying which and where.
// Before, "a\u0000b" was played: it reached contact fields (hello saves
// the answer as contact.fields.name) and the message sent back.
func TestSimulatorRefusesControlCharacters(t *testing.T) {
	f := newFixture(t, "")
	play := func(a SimAction) (int, string) {
		b, _ := json.Marshal(a)
		status, body, _ := f.do("POST", "/api/sandbox", "", string(b))
		return status, body
	}
	if status, body := play(SimAction{Contact: "amy", Action: "follow"}); status != http.StatusOK {
		t.Fatalf("follow: %d %s", status, body)
	}
	for _, a := range []SimAction{
		{Contact: "amy", Action: "text", Text: "a\x00b"},
		{Contact: "amy", Action: "text", Text: "bell\a"},
		{Contact: "amy", Action: "text", Text: "a\x1bb"},
		{Contact: "amy", Action: "follow", Scene: "s\x00"},
		{Contact: "amy", Action: "menu", Key: "HELP\x00"},
	} {
		status, body := play(a)
		if status != http.StatusBadRequest || !strings.Contains(body, "may not hold control characters other than tab, newline and carriage return") {
			t.Errorf("%q: %d %s, want 400 saying why", a.Text+a.Scene+a.Key, status, body)
		}
		if strings.Contains(body, "bad event") {
			t.Errorf("%q: the error says the console's internal prefix: %s", a.Text, body)
		}
	}
	status, body := play(SimAction{Contact: "amy", Action: "text", Text: "Amy\tLee"})
	if status != http.StatusOK {
		t.Fatalf("a tab: %d %s", status, body)
	}
	v := decode[SimView](t, body)
	if v.State == nil || v.State.Fields["name"] != "Amy\tLee" {
		t.Errorf("name = %q, want the text with its tab (and nothing of the refused texts)", v.State.Fields["name"])
	}
	for _, l := range v.Chat {
		if strings.ContainsAny(l.What, "\x00\a\x1b") {
			t.Errorf("the chat remembers a refused action: %q", l.What)
		}
	}
}
