package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestChatFindsFlowsAsValidate: chat takes the PATH validate takes; a
// folder whose flows are in a subfolder (which validate checks) names
// it instead of chatting with nothing; a flow file plays with its
// folder; --account-region is validate's.
func TestChatFindsFlowsAsValidate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	shop := filepath.Join(root, "shop")
	writeFiles(t, shop, map[string]string{"hi.yaml": "name: hi\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send: \"Hello!\"\n"})
	writeFiles(t, filepath.Join(root, "testdata"), map[string]string{"x.yaml": "name: x\n"})

	if r := runCLI(t, "validate", root); r.code != exitOK || !strings.Contains(r.stdout, "1 flow checked") {
		t.Fatalf("validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := chatScript(t, "hi\n", root)
	if want := root + " has no flows of its own; these folders in it have some (wxflow validate checks them all): " + shop + ". Chat with one of them: wxflow chat " + shop; r.code != exitUsage || !strings.Contains(r.stderr, want) {
		t.Errorf("chat ROOT: exit %d, stderr:\n%s\nwant %s", r.code, r.stderr, want)
	}
	r = chatScript(t, "hi\n", shop)
	if r.code != exitOK || !strings.Contains(r.stdout, "1 flow from "+shop) || !strings.Contains(r.stdout, "bot: Hello!") {
		t.Errorf("chat SHOP: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	file := filepath.Join(shop, "hi.yaml")
	r = chatScript(t, "hi\n", file)
	if r.code != exitOK || !strings.Contains(r.stdout, file+" is a flow of "+shop+": its flows play together") || !strings.Contains(r.stdout, "bot: Hello!") {
		t.Errorf("chat FILE: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{shop, root}, `unexpected argument "` + root + `"`},
		{[]string{"--flows", shop, root}, `unexpected argument "` + root + `"`},
		{[]string{"--account-region", "main=mars", shop}, "invalid --account-region"},
		{[]string{filepath.Join(root, "notes.txt")}, "no such folder"},
	} {
		if r := chatScript(t, "", tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("chat %v: exit %d, stderr:\n%s", tc.args, r.code, r.stderr)
		}
	}
}

// TestChatCurrentFolder: chat . said "1 flow from .. You are ...", the
// folder followed by the sentence's dot.
func TestChatCurrentFolder(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hi.yaml": "name: hi\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send: \"Hello!\"\n"})
	t.Chdir(dir)
	r := chatScript(t, "hi\n", ".")
	if r.code != exitOK || !strings.Contains(r.stdout, "wxflow chat: 1 flow from .; you are ") || strings.Contains(r.stdout, "..") || !strings.Contains(r.stdout, "bot: Hello!") {
		t.Errorf("chat .: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
