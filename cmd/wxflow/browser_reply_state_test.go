package main

import "testing"

// TestBrowserReplyBoxSaysWhatIsTrueNow: the reply box of an open
// conversation page follows the window both ways, its placeholder and
// the Send button's tooltip with it: the box enabled again when the
// contact wrote after the window closed still said "no reply can go: the
// reply window is closed" (and the button's tooltip why), and a box
// disabled when the window closed still invited "Reply to walt".
func TestBrowserReplyBoxSaysWhatIsTrueNow(t *testing.T) {
	const admin = "reply-state-admin-token-0123"
	amy := amyWithWalt(t, admin)
	amy.api("POST", "/api/sandbox", admin, `{"contact": "walt", "action": "advance", "duration": "49h"}`, 200)
	amy.open("/inbox/sandbox/walt")
	amy.live()
	box := `document.querySelector("#reply textarea")`
	send := `document.querySelector("#reply button")`
	if !browserEval[bool](amy, box+".disabled") {
		t.Fatal("the reply box is enabled after the window closed")
	}

	amy.api("POST", "/api/sandbox", admin, `{"contact": "walt", "action": "text", "text": "hi again"}`, 200)
	amy.transcriptHas("hi again")
	amy.waitFor("the reply box is enabled again", "!"+box+".disabled")
	amy.stillSamePage()
	if ph := browserEval[string](amy, box+".placeholder"); ph != "Reply to walt" {
		t.Errorf("the enabled reply box says %q, want %q", ph, "Reply to walt")
	}
	if title := browserEval[string](amy, send+".title"); title != "" {
		t.Errorf("the enabled Send button's tooltip says %q, want none", title)
	}

	// The window closes while a page read with it open is shown.
	amy.open("/inbox/sandbox/walt")
	amy.live()
	amy.api("POST", "/api/sandbox", admin, `{"contact": "walt", "action": "advance", "duration": "49h"}`, 200)
	amy.waitFor("the reply box is disabled again", box+".disabled")
	amy.stillSamePage()
	if ph := browserEval[string](amy, box+".placeholder"); ph != "no reply can go: the reply window is closed" {
		t.Errorf("the disabled reply box says %q, want why no reply can go", ph)
	}
	if title := browserEval[string](amy, send+".title"); title != "the reply window is closed" {
		t.Errorf("the disabled Send button's tooltip says %q, want why", title)
	}
}
