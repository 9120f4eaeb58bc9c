package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestConsoleSaysWhyNothingHappened: the simulator's chat and the
// contact's page say why an event started nothing.
func TestConsoleSaysWhyNothingHappened(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	play := func(a SimAction) SimView {
		b, _ := json.Marshal(a)
		status, body, _ := f.do("POST", "/api/sandbox", "", string(b))
		if status != http.StatusOK {
			t.Fatalf("%+v: %d %s", a, status, body)
		}
		return decode[SimView](t, body)
	}
	play(SimAction{Contact: "cy", Action: "menu", Key: "HELP"})
	play(SimAction{Contact: "cy", Action: "text", Text: "opening hours?"})
	v := play(SimAction{Contact: "cy", Action: "menu", Key: "NOPE"})
	var lines []string
	for _, l := range v.Chat {
		switch l.From {
		case "contact", "engine":
			lines = append(lines, l.From+": "+l.What)
		default:
			lines = append(lines, "account: "+l.Message.Summary)
		}
	}
	want := []string{
		`contact: clicked menu "Help"`,
		"account: How can we help?",
		"contact: opening hours?",
		`engine: nothing happened: no trigger matched text "opening hours?"`,
		"contact: clicked menu NOPE",
		`engine: nothing happened: unknown menu key "NOPE": no flow has a menu trigger for it`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("chat:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	_, body, _ := f.do("GET", "/api/contacts/sandbox/cy", "", "")
	cv := decode[ContactView](t, body)
	if len(cv.Notes) != 2 || cv.Notes[0].Kind != "menu" || !strings.HasPrefix(cv.Notes[0].Why, "unknown menu key") {
		t.Errorf("notes: %+v", cv.Notes)
	}
	_, page, _ := f.do("GET", "/contacts/sandbox/cy", "", "")
	if !strings.Contains(page, "Events that started nothing") || !strings.Contains(page, "no trigger matched text &#34;opening hours?&#34;") {
		t.Errorf("the contact page does not say why:\n%s", page)
	}
	_, sim, _ := f.do("GET", "/simulator?contact=cy", "", "")
	if !strings.Contains(sim, `class="why"`) || !strings.Contains(sim, "unknown menu key &#34;NOPE&#34;") {
		t.Errorf("the simulator does not say why")
	}
}
