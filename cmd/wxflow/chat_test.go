package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatScript runs `wxflow chat ARGS...` with input as what is typed.
func chatScript(t *testing.T, input string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := chat(context.Background(), args, strings.NewReader(input), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestChatExamples plays a follower of the example flows and checks the
// whole conversation as the chat shows it.
func TestChatExamples(t *testing.T) {
	t.Parallel()
	input := `/state
/follow store_1
Alice
/menu MENU_HELP
1

0
/menu MENU_NEW
/wait 49h
/menu MENU_JOIN
/wait 30m
/state
/bogus
/quit
this is never read
`
	r := chatScript(t, input, "--flows", examplesDir, "--start", "2026-11-16T10:00:00+08:00", "--timezone", "Asia/Shanghai")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	want := `wxflow chat: 11 flows from ` + examplesDir + `; you are alice, and the clock stands at Mon 2026-11-16 10:00 +08:00.
Type a message, or /follow to start; /help lists the commands.
clock:   Mon 2026-11-16 10:00 +08:00
contact: alice, not seen yet (/follow to start)
window:  closed (no interaction yet)
runs:    none active
bot: Welcome, and thanks for visiting our store! Show this chat at the till for 10% off today.
bot: What should we call you?
bot: Nice to meet you, Alice! Tap Join us in the menu for member offers.
bot: How can we help?
     1. Opening hours
     2. Track an order
     3. Talk to a person
     0. That's all, thanks
bot: We're open Mon-Fri 9:00-18:00 and Sat 10:00-14:00 (Beijing time), and closed on public holidays.
bot: How can we help?
     1. Opening hours
     2. Track an order
     3. Talk to a person
     0. That's all, thanks
bot: Thanks! Tap Help in the menu, or write MENU, whenever you need us.
bot: [news] New this week
     Autumn jackets, knitwear and more. Tap to browse.
     https://shop.example.com/new?utm_source=wechat&openid=alice
bot: All of them are also in store: ask for them at store_1.
(the clock stands at Wed 2026-11-18 11:00 +08:00)
bot: Great! What's your email address?
(the clock stands at Wed 2026-11-18 11:30 +08:00)
bot: No problem. Tap Join us in the menu whenever you're ready.
clock:   Wed 2026-11-18 11:30 +08:00
contact: alice, following
tags:    in_store, store_1
fields:  first_store=store_1, name=Alice
window:  open until Fri 2026-11-20 11:00 +08:00, 1 reply left
runs:    none active
(unknown command /bogus; /help lists the commands (start with // to send a text beginning with /))
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

// TestChatNotSent shows why a message was not sent, and the state of a
// conversation under way.
func TestChatNotSent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"drip.yaml": `name: drip
triggers: [follow]
steps:
  - send: "Hello!"
  - set: { vars.step: 1 }
  - wait: 49h
  - send: "Still there?"
  - ask:
      menu:
        head: "Pick one"
        items: [{ id: a, text: Apples }]
        tail: "Tap one"
    expect: choice
    choices: { a: [apples] }
  - send:
      image: { media_id: m_1 }
`})
	input := "/follow\n/state\n/wait 3d\n/tap a\n/tap z\n/image\n/location 31.2 121.5 The Bund\n/location x\n//ping\n/help\n"
	r := chatScript(t, input, "--flows", dir, "--start", "2026-11-16T10:00:00+08:00", "--timezone", "Asia/Shanghai", "--contact", "o_bob")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"; you are o_bob, and the clock stands at ",
		"bot: Hello!\n",
		"runs:    drip (run 1): waiting_time at step wait (line 6); vars: step=1\n",
		"window:  open until Wed 2026-11-18 10:00 +08:00, 2 replies left\n",
		"bot: (not sent: window_closed — the reply window is closed)\n     Still there?\n",
		"bot: (not sent: window_closed — the reply window is closed)\n     Pick one\n     [a] Apples\n     Tap one\n     (tap an item with /tap ID)\n",
		"bot: [image media_id:m_1]\n",
		`(no message menu so far has an item "z")`,
		"(usage: /location LAT LNG [LABEL])",
		"/wait DURATION",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestChatLocationRange: /location takes what a scenario's location:
// takes, a latitude from -90 to 90 and a longitude from -180 to 180.
// Before, 91 200 was sent as it was, and NaN or Inf (which ParseFloat
// reads) failed the chat with "ingest: json: unsupported value: NaN".
func TestChatLocationRange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"where.yaml": `name: where
triggers:
  - message:
    type: location
steps:
  - send: "at ${event.location.lat},${event.location.lng}"
`})
	input := "/location NaN 0\n/location 0 Inf\n/location 91 0\n/location 0 -180.5\n/location -90 180 South Pole\n"
	r := chatScript(t, input, "--flows", dir, "--start", "2026-11-16T10:00:00+08:00")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "LAT is between -90 and 90"); n != 4 {
		t.Errorf("%d out-of-range locations refused, want 4:\n%s", n, r.stdout)
	}
	if strings.Contains(r.stdout, "error") || strings.Count(r.stdout, "bot: at ") != 1 || !strings.Contains(r.stdout, "bot: at -90,180\n") {
		t.Errorf("want only -90 180 sent:\n%s", r.stdout)
	}
}

// TestChatShowsFailedRuns: a run that fails or stops looping is said,
// with why, as wxflow test reports it; before, the chat printed nothing.
func TestChatShowsFailedRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"calc.yaml": `name: calc
triggers: [{keyword: [calc]}, {keyword: [loop]}]
steps:
  - if: event.text == "loop"
    id: again
    goto: again
  - send: "${contact.fields.age * 2}"
`})
	r := chatScript(t, "calc\nloop\ncalc\n", "--flows", dir)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"(run 1 of calc failed: send (line 7): ",
		"(run 2 of calc looping: ",
		"(run 3 of calc failed: send (line 7): ",
	} {
		if strings.Count(r.stdout, want) != 1 {
			t.Errorf("stdout has not once %q:\n%s", want, r.stdout)
		}
	}
}

// TestChatShowsUnsentCalls: an http step whose call fails before it
// reaches the network (a secret the chat does not have; a value the
// request cannot carry, here a header with a line break) is said, with
// why: the chat showed only the calls its transport saw, so these left
// no line at all while the run went on (no on_error) and sent what
// followed. Found by posting a json: body holding ${1/0} from wxflow chat.
func TestChatShowsUnsentCalls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"crm.yaml": `name: crm
triggers: [{keyword: {pattern: "^crm (.*)$"}}]
steps:
  - if: event.match[1] == "key"
    http:
      url: "http://127.0.0.1:1/leads"
      headers: { Authorization: "Bearer ${secret.CRM_TOKEN}" }
  - if: event.match[1] != "key"
    http:
      url: "http://127.0.0.1:1/leads"
      headers: { X-Name: "${event.match[1] + '\\n'}" }
  - send: "done"
`})
	r := chatScript(t, "crm key\ncrm bob\n", "--flows", dir)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"(http of crm at http (line 4) -> error: secret CRM_TOKEN is not declared in the config)\n",
		"(http of crm at http (line 8) -> error: not sent: headers: X-Name: a header value cannot have a line break",
	} {
		if strings.Count(r.stdout, want) != 1 {
			t.Errorf("stdout has not once %q:\n%s", want, r.stdout)
		}
	}
}

// TestChatZone: the flows run in --timezone (default the machine's), and
// the clock is shown in it, whatever offset --start has: before, the
// clock showed --start's offset while hours were read in the machine's
// zone, and the two disagreed.
func TestChatZone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"h.yaml": `name: h
triggers: [{keyword: [hours]}]
steps:
  - hours:
      open: { mon-fri: "09:00-18:00" }
    when_open: [ { send: "open now" } ]
    when_closed: [ { send: "closed now" } ]
`})
	r := chatScript(t, "hours\n", "--flows", dir, "--start", "2026-11-16T10:00:00Z", "--timezone", "Asia/Shanghai")
	if r.code != exitOK || !strings.Contains(r.stdout, "the clock stands at Mon 2026-11-16 18:00 +08:00") || !strings.Contains(r.stdout, "bot: closed now") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = chatScript(t, "hours\n", "--flows", dir, "--start", "2026-11-16T10:00:00Z", "--timezone", "UTC")
	if r.code != exitOK || !strings.Contains(r.stdout, "the clock stands at Mon 2026-11-16 10:00 +00:00") || !strings.Contains(r.stdout, "bot: open now") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestChatAccount: --account names the account the follower writes to,
// so that flows with account: play (they never started: chat played the
// sandbox's account alone), with --account-region's region for it.
func TestChatAccount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hk.yaml": `name: welcome-hk
account: hk
triggers: [follow]
steps:
  - send: "hello hk"
  - send: { voice: { media_id: V1 } }
`})
	r := chatScript(t, "/follow\n", "--flows", dir)
	if r.code != exitOK || strings.Contains(r.stdout, "hello hk") {
		t.Fatalf("without --account: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = chatScript(t, "/follow\n", "--flows", dir, "--account", "hk", "--account-region", "hk=international")
	if r.code != exitOK || !strings.Contains(r.stdout, "bot: hello hk") || !strings.Contains(r.stdout, "region") {
		t.Fatalf("--account hk, international: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestChatErrors(t *testing.T) {
	t.Parallel()
	broken := t.TempDir()
	writeFiles(t, broken, map[string]string{"broken.yaml": "name: broken\ntriggers: [follow]\nsteps:\n  - sned: hi\n"})
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing folder", []string{"--flows", filepath.Join(broken, "nope")}, exitUsage, "no such folder"},
		{"bad start", []string{"--flows", examplesDir, "--start", "tomorrow"}, exitUsage, "--start"},
		{"bad region", []string{"--flows", examplesDir, "--region", "mars"}, exitUsage, "--region"},
		{"empty contact", []string{"--flows", examplesDir, "--contact", ""}, exitUsage, `--contact: a simulated contact's id is 1 to 64 letters, digits, _ or -; not ""`},
		{"bad zone", []string{"--flows", examplesDir, "--timezone", "Mars/Olympus"}, exitUsage, `--timezone "Mars/Olympus" is not a time zone`},
		{"argument", []string{"--flows", examplesDir, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad account", []string{"--flows", examplesDir, "--account", "Main Acct"}, exitUsage, `--account "Main Acct" is no account id`},
		{"broken flows", []string{"--flows", broken}, exitProblems, filepath.Join(broken, "broken.yaml") + ":4:5: error:"},
	} {
		r := chatScript(t, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d (want %d), stderr:\n%s", tc.name, r.code, tc.code, r.stderr)
		}
	}
}

// TestChatReadsStdin runs the command through run, which reads stdin.
func TestChatReadsStdin(t *testing.T) {
	// Not parallel: it replaces stdin.
	old := stdin
	stdin = strings.NewReader("/follow\n")
	t.Cleanup(func() { stdin = old })
	r := runCLI(t, "chat", "--flows", examplesDir)
	if r.code != exitOK || !strings.Contains(r.stdout, "bot: Welcome! Tap Help in the menu, or just write to us.\n") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestChatPeople: chat plays the sandbox's people (team support, its
// operators amy and bob), as wxflow serve's sandbox does, so that the
// bundled handoff example assigns; before, chat declared nobody and the
// run failed with "assign: assign: no team "support" is declared".
func TestChatPeople(t *testing.T) {
	t.Parallel()
	r := chatScript(t, "/menu MENU_HUMAN\n", "--flows", examplesDir, "--start", "2026-11-16T10:00:00+08:00", "--timezone", "Asia/Shanghai")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "bot: amy will answer you here in a few minutes.\n") || strings.Contains(r.stdout, "failed") {
		t.Errorf("the handoff example did not assign:\n%s", r.stdout)
	}
	// Names the sandbox does not declare still fail at run time, once
	// prefixed.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"h.yaml": "name: h\ntriggers: [{keyword: [sales]}]\nsteps:\n  - assign: { team: sales }\n"})
	r = chatScript(t, "sales\n", "--flows", dir)
	if want := `(run 1 of h failed: assign (line 4): assign: no team "sales" is declared)`; !strings.Contains(r.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
	}
}

// TestChatLeavesOnInterrupt: Ctrl-C (the context canceled) leaves the
// chat while it waits for a line; it went on waiting, and the next line
// was answered "(error: context canceled)" before the chat left.
func TestChatLeavesOnInterrupt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pipe, typing := io.Pipe()
	t.Cleanup(func() { typing.Close() })
	in := &readSignal{r: pipe, reading: make(chan struct{})}
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- chat(ctx, []string{"--flows", examplesDir}, in, &stdout, &stderr) }()
	<-in.reading // nothing typed: the chat waits for a line
	cancel()
	select {
	case code := <-done:
		if code != exitOK || strings.Contains(stdout.String(), "context canceled") {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the chat still waits for a line after Ctrl-C")
	}
}

// readSignal closes reading at the first Read.
type readSignal struct {
	r       io.Reader
	once    sync.Once
	reading chan struct{}
}

func (s *readSignal) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.reading) })
	return s.r.Read(p)
}

// TestChatSkipsOverlongLines: a line longer than the chat takes is not
// sent, and the chat goes on; it ended the chat, exit 1 with
// "bufio.Scanner: token too long", and the lines after it were lost.
func TestChatSkipsOverlongLines(t *testing.T) {
	t.Parallel()
	r := chatScript(t, strings.Repeat("a", maxChatLine+10)+"\n/follow\n", "--flows", examplesDir)
	if r.code != exitOK || r.stderr != "" ||
		!strings.Contains(r.stdout, fmt.Sprintf("(not sent: the line is %d bytes long, more than %d)\n", maxChatLine+10, maxChatLine)) ||
		!strings.Contains(r.stdout, "bot: Welcome! Tap Help in the menu, or just write to us.\n") {
		t.Errorf("exit %d\nstdout:\n%.2000s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// A line of the longest length is taken.
	r = chatScript(t, "//"+strings.Repeat("a", maxChatLine-2)+"\n", "--flows", examplesDir)
	if r.code != exitOK || strings.Contains(r.stdout, "not sent: the line") {
		t.Errorf("the longest line: exit %d\nstdout:\n%.2000s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestChatRefusesControlCharacters: a line holding a NUL or another
// control character no WeChat callback can carry (printf 'a\x00b' |
// wxflow chat) is not sent, saying why, and the chat goes on. Before, it
// was played: the NUL reached contact fields and the message sent back.
func TestChatRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"echo.yaml": `name: echo
triggers:
  - message:
steps:
  - set: { contact.fields.last: "${event.text}" }
  - send: "got ${event.text}"
`})
	input := "a\x00b\n/scan s\x01\n\x1b[31mred\nfine\ttab\n/state\n"
	r := chatScript(t, input, "--flows", dir, "--start", "2026-11-16T10:00:00+08:00")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	want := "(not sent: a follower's text may not hold control characters other than tab, newline and carriage return (U+0000 at byte 1): WeChat's callbacks are XML 1.0, which cannot carry them)\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("no line saying the NUL was not sent:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, "(not sent: a follower's text may not hold control characters"); n != 3 {
		t.Errorf("%d lines refused, want 3:\n%s", n, r.stdout)
	}
	if strings.ContainsAny(r.stdout, "\x00\x01\x1b") || strings.Count(r.stdout, "bot: got ") != 1 || !strings.Contains(r.stdout, "bot: got fine\ttab\n") {
		t.Errorf("want only the line with a tab sent:\n%q", r.stdout)
	}
}
