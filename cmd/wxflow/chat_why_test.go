package main

import (
	"strings"
	"testing"
)

// TestChatSaysWhyNothingHappened: a message no flow answers, and a menu
// key no flow knows, say why.
func TestChatSaysWhyNothingHappened(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"help.yaml": `name: help
triggers: [{ menu: MENU_HELP }]
steps:
  - if: '"vip" in contact.tags'
    send: "Our VIP line is open."
  - send: "How can we help?"
`})
	r := chatScript(t, "hello\n/menu MENU_HLP\n/menu MENU_HELP\n", "--flows", dir)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		`(nothing happened: no trigger matched text "hello")`,
		`(nothing happened: unknown menu key "MENU_HLP": no flow has a menu trigger for it)`,
		"(skipped send (line 4) of help: its if: is false)\nbot: How can we help?\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "nothing happened"); n != 2 {
		t.Errorf("%d notes, want 2:\n%s", n, r.stdout)
	}
}
