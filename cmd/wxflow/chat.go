package main

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/engine/scenario"
	"github.com/wxflow/wxflow/flows"
)

// stdin is what `wxflow chat` reads; tests replace it.
var stdin io.Reader = os.Stdin

// chatTime is how `wxflow chat` shows the virtual clock.
const chatTime = "Mon 2006-01-02 15:04 -07:00"

const chatHelp = `Type a message and press Enter to send it. Commands:
  /follow [SCENE]        follow the account (through the QR code of SCENE)
  /unfollow              unfollow the account
  /scan SCENE            scan the QR code of SCENE (as a follower)
  /menu KEY              click the custom menu button KEY
  /tap ID                tap item ID of the last message menu
  /image [MEDIA_ID]      send an image
  /location LAT LNG [LABEL]  send a location
  /wait DURATION         let time pass (90s, 30m, 2h, 3d); due timers fire
  /state                 show the window, the quota left, runs, tags and fields
  /help                  show this help
  /quit                  leave (so do Ctrl-D, end of input, and Ctrl-C)
A line starting with // sends the text after the first /.`

// runChat is `wxflow chat`: an interactive chat with the flows of a folder
// as a simulated follower, on a virtual clock.
func runChat(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return chat(ctx, args, stdin, stdout, stderr)
}

func chat(ctx context.Context, args []string, in io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("flows", "flows", "the folder of flows (and menu.yaml) to chat with")
	contact := fs.String("contact", scenario.DefaultContact, "the contact id (OpenID) you play")
	start := fs.String("start", "", "where the virtual clock starts, RFC 3339 (default now)")
	tzName := fs.String("timezone", "Local", "the server's time zone the flows run in (hours, schedules without their own), an IANA name, or Local for the machine's; the clock is shown in it")
	region := fs.String("region", wechat.RegionMainland, "the account's region: mainland or international")
	accountRegions := fs.String("account-region", "", "regions of named accounts, as wxflow validate takes them: ACCOUNT=international,...")
	account := fs.String("account", sandbox.DefaultAccount, "the account you write to, for flows with account: (its region is --account-region's for it, else --region)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: wxflow chat [--contact ID] [--account ID] [--start RFC3339] [--timezone ZONE] [--region R] [--account-region A=R,...] [PATH | --flows DIR]")
		fmt.Fprintln(w, "\nChats with the flows as a simulated follower: each line you type is a")
		fmt.Fprintln(w, "message; /help lists the commands (/follow, /menu, /wait 2h, /state, ...).")
		fmt.Fprintln(w, "PATH is found as wxflow validate finds it (default flows); a flow file plays")
		fmt.Fprintln(w, "with the flows of its folder. The people are the sandbox's, as wxflow serve")
		fmt.Fprintln(w, "without a config has them: the operators amy and bob of the team support.")
		fmt.Fprintln(w, "http steps make real requests. Exit 0, 1 when the flows have errors, 2 on usage errors.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 1 || (fs.NArg() == 1 && flagGiven(fs, "flows")) {
		fmt.Fprintf(stderr, "wxflow chat: unexpected argument %q: chat plays one folder (PATH or --flows DIR)\n", fs.Arg(fs.NArg()-1))
		fs.Usage()
		return exitUsage
	}
	regions, err := splitRegions(*accountRegions)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow chat: %v\n", err)
		return exitUsage
	}
	if !flows.AccountIDPattern.MatchString(*account) {
		fmt.Fprintf(stderr, "wxflow chat: --account %q is no account id: 1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit\n", *account)
		return exitUsage
	}
	settings := wechat.Settings{Region: *region}
	if r, ok := regions[*account]; ok {
		settings.Region = r
	}
	if err := settings.Validate(); err != nil {
		fmt.Fprintf(stderr, "wxflow chat: --region: %v\n", err)
		return exitUsage
	}
	if !sandbox.ValidContactID(*contact) {
		fmt.Fprintf(stderr, "wxflow chat: --contact: %s; not %q\n", sandbox.ContactIDRule, *contact)
		return exitUsage
	}
	zone, err := time.LoadLocation(*tzName)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow chat: --timezone %q is not a time zone: write an IANA name such as Asia/Shanghai\n", *tzName)
		return exitUsage
	}
	startAt := time.Now().Truncate(time.Second)
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			fmt.Fprintf(stderr, "wxflow chat: --start %q is not an RFC 3339 time such as 2026-11-20T10:00:00+08:00\n", *start)
			return exitUsage
		}
		startAt = t
	}
	folder, note, err := chatFolder(*dir, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "wxflow chat: %v\n", err)
		return exitUsage
	}
	*dir = folder
	set, err := flows.LoadDir(*dir, flows.Options{Region: *region, Regions: regions})
	if err != nil {
		fmt.Fprintf(stderr, "wxflow chat: %v\n", err)
		return exitUsage
	}
	if set.Diags.HasErrors() {
		for _, d := range set.Diags {
			if d.Severity == flows.SeverityError {
				fmt.Fprintln(stderr, d.String())
			}
		}
		fmt.Fprintf(stderr, "wxflow chat: the flows in %s have errors\n", *dir)
		return exitProblems
	}
	calls := &callLog{next: http.DefaultTransport}
	// The clock is shown in the zone the flows run in, whatever offset
	// --start was written with.
	sb, err := sandbox.New(ctx, sandbox.Config{Set: set, Start: startAt.In(zone), Zone: zone, Settings: settings, HTTPClient: &http.Client{Transport: calls}, People: sandboxConfig().People(), Account: *account})
	if err != nil {
		fmt.Fprintf(stderr, "wxflow chat: %v\n", err)
		return exitProblems
	}
	defer sb.Close()
	c := &chatSession{ctx: ctx, sb: sb, contact: *contact, out: stdout, calls: calls}
	if note != "" {
		fmt.Fprintf(stdout, "wxflow chat: %s.\n", note)
	}
	// The folder is followed by ";", not ".": "from .. You are" read
	// badly for the folder ".".
	fmt.Fprintf(stdout, "wxflow chat: %d %s from %s; you are %s, and the clock stands at %s.\n",
		len(set.Flows), plural(len(set.Flows), "flow"), *dir, *contact, sb.Now().Format(chatTime))
	if len(set.Flows) == 0 {
		fmt.Fprintf(stdout, "No flows in %s: nothing will answer. Try --flows flows/examples.\n", *dir)
	}
	fmt.Fprintln(stdout, "Type a message, or /follow to start; /help lists the commands.")
	prompt := isTerminal(in)
	// The lines are read aside, so that Ctrl-C (ctx done) leaves while
	// the chat waits for one.
	lines, readErr := make(chan typedLine), make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		readErr <- readChatLines(in, lines, done)
		close(lines)
	}()
	for {
		if prompt {
			fmt.Fprint(stdout, "> ")
		}
		select {
		case <-ctx.Done():
			if prompt {
				fmt.Fprintln(stdout)
			}
			return exitOK
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					fmt.Fprintf(stderr, "wxflow chat: %v\n", err)
					return exitProblems
				}
				return exitOK
			}
			if line.long > 0 {
				c.say(fmt.Sprintf("not sent: the line is %d bytes long, more than %d", line.long, maxChatLine))
				continue
			}
			if quit := c.handle(line.text); quit || ctx.Err() != nil {
				return exitOK
			}
		}
	}
}

// maxChatLine is the longest line the chat takes, in bytes.
const maxChatLine = 1 << 20

// typedLine is a line typed, or the length of one too long to take.
type typedLine struct {
	text string
	long int
}

// readChatLines sends the lines of in (without their line ending) until
// its end or done; a line longer than maxChatLine is sent as its length
// only, and reading goes on after it.
func readChatLines(in io.Reader, lines chan<- typedLine, done <-chan struct{}) error {
	r := bufio.NewReaderSize(in, 64<<10)
	var buf []byte
	n := 0
	for {
		frag, more, err := r.ReadLine()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n += len(frag)
		if n <= maxChatLine {
			buf = append(buf, frag...)
		}
		if more {
			continue
		}
		l := typedLine{text: string(buf)}
		if n > maxChatLine {
			l = typedLine{long: n}
		}
		buf, n = buf[:0], 0
		select {
		case lines <- l:
		case <-done:
			return nil
		}
	}
}

// isTerminal reports whether r is an interactive terminal, which gets a
// prompt.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// chatSession is one `wxflow chat`: the sandbox, the contact played and
// how much of the transcript is shown.
type chatSession struct {
	ctx     context.Context
	sb      *sandbox.Sandbox
	contact string
	out     io.Writer
	calls   *callLog
	shown   int64
	// whySeen counts the event notes shown; trailSeen the trail entries
	// looked at, by run.
	whySeen int
	// unsentSeen counts the trail entries looked at for unsent calls.
	unsentSeen map[int64]int
	trailSeen  map[int64]int
	// failSeen holds the runs whose failure was shown.
	failSeen map[int64]bool
}

// handle runs one input line; quit is true for /quit.
func (c *chatSession) handle(line string) (quit bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return false
	}
	// A NUL or another control character (printf 'a\x00b' | wxflow
	// chat) went into contact fields and sent messages, where no WeChat
	// callback can bring one; the commands' arguments are the line's too.
	if err := sandbox.CheckText("text", line); err != nil {
		c.say("not sent: " + err.Error())
		return false
	}
	if !strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//") {
		if strings.HasPrefix(line, "//") {
			line = line[1:]
		}
		c.act(c.sb.Say(c.ctx, c.contact, line))
		return false
	}
	cmd, rest, _ := strings.Cut(line[1:], " ")
	rest = strings.TrimSpace(rest)
	fields := strings.Fields(rest)
	switch cmd {
	case "follow":
		c.act(c.sb.Follow(c.ctx, c.contact, rest))
	case "unfollow":
		c.act(c.sb.Unfollow(c.ctx, c.contact))
	case "scan":
		if rest == "" {
			c.say("usage: /scan SCENE")
			break
		}
		c.act(c.sb.Scan(c.ctx, c.contact, rest))
	case "menu":
		if rest == "" {
			c.say("usage: /menu KEY")
			break
		}
		c.act(c.sb.Menu(c.ctx, c.contact, rest))
	case "tap":
		if rest == "" {
			c.say("usage: /tap ID (an item of the last message menu)")
			break
		}
		text, ok := c.menuItem(rest)
		if !ok {
			c.say(fmt.Sprintf("no message menu so far has an item %q", rest))
			break
		}
		c.act(c.sb.Tap(c.ctx, c.contact, rest, text))
	case "image":
		c.act(c.sb.Image(c.ctx, c.contact, rest))
	case "location":
		if len(fields) < 2 {
			c.say("usage: /location LAT LNG [LABEL]")
			break
		}
		lat, err1 := strconv.ParseFloat(fields[0], 64)
		lng, err2 := strconv.ParseFloat(fields[1], 64)
		if err1 != nil || err2 != nil {
			c.say("usage: /location LAT LNG [LABEL], e.g. /location 31.23 121.47 People's Square")
			break
		}
		// As a scenario's location: is checked, and as WeChat sends
		// them; NaN and Inf, which ParseFloat takes, could not be stored.
		if !(lat >= -90 && lat <= 90) || !(lng >= -180 && lng <= 180) {
			c.say("usage: /location LAT LNG [LABEL]: LAT is between -90 and 90 and LNG between -180 and 180 (east is positive), e.g. /location 31.23 121.47")
			break
		}
		c.act(c.sb.Location(c.ctx, c.contact, lat, lng, strings.Join(fields[2:], " ")))
	case "wait":
		d, err := flows.ParseDuration(rest)
		if err != nil {
			c.say("usage: /wait DURATION, e.g. /wait 2h (" + err.Error() + ")")
			break
		}
		err = c.sb.Advance(c.ctx, d)
		c.say("the clock stands at " + c.sb.Now().Format(chatTime))
		c.act(err)
	case "state":
		c.state()
	case "help", "?":
		fmt.Fprintln(c.out, chatHelp)
	case "quit", "exit", "q":
		return true
	default:
		c.say(fmt.Sprintf("unknown command /%s; /help lists the commands (start with // to send a text beginning with /)", cmd))
	}
	return false
}

// say prints a note from wxflow itself.
func (c *chatSession) say(msg string) { fmt.Fprintln(c.out, "("+msg+")") }

// act reports an action's error, or prints the requests made and the
// messages sent since the last action.
func (c *chatSession) act(err error) {
	for _, l := range c.calls.take() {
		c.say(l)
	}
	c.unsent()
	if err != nil {
		c.say("error: " + err.Error())
		return
	}
	entries, err := c.sb.Transcript(c.ctx, c.contact, c.shown)
	if err != nil {
		c.say("error: " + err.Error())
		return
	}
	skips := c.skips()
	for _, o := range entries {
		for len(skips) > 0 && skips[0].After < o.ID {
			c.say("skipped " + skips[0].Step + " of " + skips[0].Flow + ": its if: is false")
			skips = skips[1:]
		}
		c.shown = o.ID
		fmt.Fprint(c.out, renderOutbound(o))
	}
	for _, s := range skips {
		c.say("skipped " + s.Step + " of " + s.Flow + ": its if: is false")
	}
	c.failures()
	c.why()
}

// failures says which runs failed or stopped looping since the last
// action, with why, as wxflow test's report does.
func (c *chatSession) failures() {
	if c.failSeen == nil {
		c.failSeen = map[int64]bool{}
	}
	runs, err := c.sb.Failures(c.ctx, c.contact, c.failSeen)
	if err != nil {
		c.say("error: " + err.Error())
		return
	}
	for _, r := range runs {
		c.say(fmt.Sprintf("run %d of %s %s: %s", r.ID, r.Flow, r.Status, r.State.Error))
	}
}

// unsent says which http steps' calls failed before reaching the
// network since the last action (a value the request cannot carry, a
// secret the chat does not have): the transport never saw them, and
// the chat showed nothing of them while the run went on.
func (c *chatSession) unsent() {
	if c.unsentSeen == nil {
		c.unsentSeen = map[int64]int{}
	}
	calls, err := c.sb.UnsentCalls(c.ctx, c.contact, c.unsentSeen)
	if err != nil {
		c.say("error: " + err.Error())
		return
	}
	for _, u := range calls {
		c.say(fmt.Sprintf("http of %s at %s -> error: %s", u.Flow, u.Step, u.Why))
	}
}

// skips returns the steps skipped since the last action, in the order
// of the messages around them.
func (c *chatSession) skips() []sandbox.Skip {
	if c.trailSeen == nil {
		c.trailSeen = map[int64]int{}
	}
	skips, err := c.sb.Skips(c.ctx, c.contact, c.trailSeen)
	if err != nil {
		c.say("error: " + err.Error())
		return nil
	}
	slices.SortStableFunc(skips, func(a, b sandbox.Skip) int { return cmp.Compare(a.After, b.After) })
	return skips
}

// why says why the last action started nothing, when the engine noted
// it.
func (c *chatSession) why() {
	notes, err := c.sb.Notes(c.ctx, c.contact)
	if err != nil {
		c.say("error: " + err.Error())
		return
	}
	for _, n := range notes[min(c.whySeen, len(notes)):] {
		c.say("nothing happened: " + n.Why)
	}
	c.whySeen = len(notes)
}

// menuItem finds the text of item id in the newest message menu that
// has it (sandbox.Sandbox.MenuItem: the rule wxflow test's tap: follows).
func (c *chatSession) menuItem(id string) (string, bool) {
	text, ok, err := c.sb.MenuItem(c.ctx, c.contact, id)
	return text, ok && err == nil
}

// renderOutbound shows one outbound message as the follower would see
// it, or why it was not sent.
func renderOutbound(o *engine.OutboxEntry) string {
	const pad = "     "
	body := renderMessage(&o.Message)
	var b strings.Builder
	switch o.Status {
	case engine.OutboxSent:
		b.WriteString("bot: " + indentLines(body, pad)[len(pad):])
	case engine.OutboxFailed:
		fmt.Fprintf(&b, "bot: (not sent: %s — %s)\n", o.Reason, o.Reason.Describe())
		b.WriteString(indentLines(body, pad))
	default:
		fmt.Fprintf(&b, "bot: (%s: %s)\n", o.Status, o.Detail)
		b.WriteString(indentLines(body, pad))
	}
	b.WriteString("\n")
	return b.String()
}

// renderMessage renders a message on one or more lines.
func renderMessage(m *channels.Message) string {
	switch m.Type {
	case "text":
		return m.Text
	case "image", "voice", "video":
		s := fmt.Sprintf("[%s %s]", m.Type, scenario.MediaName(m.Media))
		if m.Title != "" {
			s += "\n" + m.Title
		}
		if m.Description != "" {
			s += "\n" + m.Description
		}
		return s
	case "news":
		if m.News == nil {
			return "[news]"
		}
		s := "[news] " + m.News.Title
		if m.News.Description != "" {
			s += "\n" + m.News.Description
		}
		return s + "\n" + m.News.URL
	case "menu":
		if m.Menu == nil {
			return "[menu]"
		}
		var lines []string
		if m.Menu.Head != "" {
			lines = append(lines, m.Menu.Head)
		}
		for _, it := range m.Menu.Items {
			lines = append(lines, fmt.Sprintf("[%s] %s", it.ID, it.Text))
		}
		if m.Menu.Tail != "" {
			lines = append(lines, m.Menu.Tail)
		}
		return strings.Join(lines, "\n") + "\n(tap an item with /tap ID)"
	}
	return "[" + m.Type + "]"
}

// indentLines puts pad before every line of s.
func indentLines(s, pad string) string {
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// state prints the contact, its window and its runs.
func (c *chatSession) state() {
	st, err := c.sb.State(c.ctx, c.contact)
	if err != nil {
		c.say("error: " + err.Error())
		return
	}
	loc := c.sb.Now().Location()
	w := c.out
	fmt.Fprintf(w, "clock:   %s\n", st.Now.Format(chatTime))
	if st.Contact == nil {
		fmt.Fprintf(w, "contact: %s, not seen yet (/follow to start)\n", c.contact)
	} else {
		follows := "following"
		if !st.Contact.Followed {
			follows = "not following"
		}
		fmt.Fprintf(w, "contact: %s, %s\n", c.contact, follows)
		tags := "none"
		if len(st.Contact.Tags) > 0 {
			tags = strings.Join(st.Contact.Tags, ", ")
		}
		fmt.Fprintf(w, "tags:    %s\n", tags)
		fmt.Fprintf(w, "fields:  %s\n", formatValues(st.Contact.Fields))
	}
	if st.Window.Open {
		fmt.Fprintf(w, "window:  open until %s, %d %s left\n", st.Window.ExpiresAt.In(loc).Format(chatTime), st.Window.QuotaLeft, map[bool]string{true: "reply", false: "replies"}[st.Window.QuotaLeft == 1])
	} else {
		why := "no interaction yet"
		switch {
		case st.Contact != nil && !st.Session.Followed && !st.Session.Last.IsZero():
			why = "the contact unfollowed"
		case st.Session.Closed:
			why = "WeChat closed the session"
		case !st.Window.ExpiresAt.IsZero() && !st.Now.Before(st.Window.ExpiresAt):
			why = "expired at " + st.Window.ExpiresAt.In(loc).Format(chatTime)
		case !st.Session.Last.IsZero():
			why = "no replies left"
		}
		fmt.Fprintf(w, "window:  closed (%s)\n", why)
	}
	if len(st.Runs) == 0 {
		fmt.Fprintln(w, "runs:    none active")
	}
	for i, r := range st.Runs {
		label := "runs:   "
		if i > 0 {
			label = "        "
		}
		fmt.Fprintf(w, "%s %s (run %d): %s at step %s; vars: %s\n", label, r.Flow, r.ID, r.Status, r.Step, formatValues(r.State.Vars))
	}
}

// formatValues writes fields or vars as name=value, sorted by name.
func formatValues(m map[string]any) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := m[k]
		s, ok := v.(string)
		if !ok {
			b, err := marshalJSON(v)
			if err != nil {
				s = fmt.Sprint(v)
			} else {
				s = string(b)
			}
		}
		parts[i] = k + "=" + s
	}
	return strings.Join(parts, ", ")
}

// callLog is an http.RoundTripper that notes the requests the flows
// make, for the chat to show.
type callLog struct {
	next  http.RoundTripper
	mu    sync.Mutex
	lines []string
}

// RoundTrip implements http.RoundTripper.
func (l *callLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	line := fmt.Sprintf("http %s %s -> ", req.Method, req.URL)
	if err != nil {
		line += "error: " + err.Error()
	} else {
		line += resp.Status
	}
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return resp, err
}

// take returns the requests noted since the last call.
func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}
