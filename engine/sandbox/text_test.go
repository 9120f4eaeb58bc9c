package sandbox_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
)

// TestSandboxRefusesWhatNoCallbackCarries: a text, key, scene or label
// with a control character XML 1.0 has not (all below U+0020 but tab,
// newline and carriage return), U+FFFE or invalid UTF-8 is refused as
// engine.ErrBadEvent and changes nothing: no WeChat callback brings one.
// Before, a NUL went into contact fields and the messages sent.
func TestSandboxRefusesWhatNoCallbackCarries(t *testing.T) {
	b := newSandbox(t, map[string]string{"ask.yaml": `name: ask
triggers:
  - follow:
steps:
  - ask: "Name?"
    save: contact.fields.name
  - send: "Hi ${contact.fields.name}"
`}, sandbox.Config{})
	b.must(b.sb.Follow(b.ctx, "alice", ""))
	for name, play := range map[string]func() error{
		"NUL":        func() error { return b.sb.Say(b.ctx, "alice", "a\x00b") },
		"ESC":        func() error { return b.sb.Say(b.ctx, "alice", "\x1b[31mred") },
		"U+FFFE":     func() error { return b.sb.Say(b.ctx, "alice", "a\uFFFE") },
		"invalid":    func() error { return b.sb.Say(b.ctx, "alice", "a\xffb") },
		"tap text":   func() error { return b.sb.Tap(b.ctx, "alice", "1", "x\x01") },
		"menu key":   func() error { return b.sb.Menu(b.ctx, "alice", "K\x00") },
		"scan scene": func() error { return b.sb.Scan(b.ctx, "alice", "s\x00") },
		"location":   func() error { return b.sb.Location(b.ctx, "alice", 1, 2, "here\x00") },
		"ingest field": func() error {
			return b.sb.Ingest(b.ctx, channels.Event{Contact: "alice", Kind: channels.Text, Text: "\x7f\x00"})
		},
	} {
		err := play()
		if !errors.Is(err, engine.ErrBadEvent) {
			t.Errorf("%s: %v, want an error wrapping ErrBadEvent", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "a follower's ") {
			t.Errorf("%s: %v does not say what is wrong", name, err)
		}
	}
	if got := b.transcript(); got != "sent Name?" {
		t.Errorf("transcript %q: a refused text was taken", got)
	}
	b.must(b.sb.Say(b.ctx, "alice", "Al\tice\r\nB"))
	st, err := b.sb.State(b.ctx, "alice")
	b.must(err)
	if got := st.Contact.Fields["name"]; got != "Al\tice\r\nB" {
		t.Errorf("name = %q: tab, CR and LF are XML 1.0's and go through", got)
	}
	if err := sandbox.CheckText("text", "a\x00b"); err == nil || err.Error() != "a follower's text may not hold control characters other than tab, newline and carriage return (U+0000 at byte 1): WeChat's callbacks are XML 1.0, which cannot carry them" {
		t.Errorf("CheckText = %v", err)
	}
}

// TestSandboxTapOnlyWhatAMenuOffered: Tap takes only the id of an item
// of a message menu sent to the contact, with that item's text (its text
// when "" is given); anything else is refused as engine.ErrBadEvent and
// changes nothing, the rule wxflow test's tap: follows. Before, any id
// and text were played.
func TestSandboxTapOnlyWhatAMenuOffered(t *testing.T) {
	b := newSandbox(t, map[string]string{"pick.yaml": `name: pick
triggers:
  - keyword: [pick]
steps:
  - ask:
      menu:
        items: [{ id: a, text: Apples }, { id: b, text: Bananas }]
    expect: choice
    choices: { a: [apples], b: [bananas] }
    save: vars.fruit
  - send: "You picked ${vars.fruit}"
`}, sandbox.Config{})
	if err := b.sb.Tap(b.ctx, "alice", "a", "Apples"); !errors.Is(err, engine.ErrBadEvent) || !strings.Contains(err.Error(), `cannot tap "a": no message menu sent so far has an item with this id`) {
		t.Errorf("a tap before any menu: %v", err)
	}
	b.must(b.sb.Say(b.ctx, "alice", "pick"))
	if err := b.sb.Tap(b.ctx, "alice", "zz", "x"); !errors.Is(err, engine.ErrBadEvent) {
		t.Errorf("a tap of an id no menu has: %v", err)
	}
	if err := b.sb.Tap(b.ctx, "alice", "a", "Pears"); !errors.Is(err, engine.ErrBadEvent) || !strings.Contains(err.Error(), `the item's text is "Apples"`) {
		t.Errorf("a tap with another text: %v", err)
	}
	if text, ok, err := b.sb.MenuItem(b.ctx, "alice", "b"); err != nil || !ok || text != "Bananas" {
		t.Errorf("MenuItem b = %q %v %v", text, ok, err)
	}
	b.must(b.sb.Tap(b.ctx, "alice", "b", ""))
	if got := b.transcript(); got != "sent |sent You picked b" {
		t.Errorf("transcript %q", got)
	}
}
