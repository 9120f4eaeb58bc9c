package triggers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/triggers"
)

// loadFlow loads one flow file and fails the test on an error diagnostic.
func loadFlow(tb testing.TB, src string) *flows.Flow {
	tb.Helper()
	f, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
	if diags.HasErrors() {
		tb.Fatalf("flow does not load:\n%s\n%v", src, diags)
	}
	return f
}

// flow writes a flow file named name with the given trigger lines (each
// indented under triggers:) and loads it. A line "account: x" before the
// triggers sets the flow's account.
func flow(tb testing.TB, name string, lines ...string) *flows.Flow {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", name)
	var triggerLines []string
	for _, l := range lines {
		if strings.HasPrefix(l, "account: ") {
			b.WriteString(l + "\n")
			continue
		}
		triggerLines = append(triggerLines, l)
	}
	b.WriteString("triggers:\n")
	for _, l := range triggerLines {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("steps: [end]\n")
	return loadFlow(tb, b.String())
}

// names renders candidates as "flow#trigger-index" for comparison.
func names(cs []triggers.Candidate) string {
	var out []string
	for _, c := range cs {
		idx := -1
		for i, t := range c.Flow.Triggers {
			if t == c.Trigger {
				idx = i
			}
		}
		out = append(out, fmt.Sprintf("%s#%d", c.Flow.Name, idx))
	}
	return strings.Join(out, " ")
}

func TestMatchRules(t *testing.T) {
	t.Parallel()
	fs := []*flows.Flow{
		flow(t, "welcome", "- follow"),
		flow(t, "store-1", "- follow: store_1"),
		flow(t, "stores", "- follow: store_*"),
		flow(t, "scan-stores", "- scan: store_*"),
		flow(t, "scan-exact", "- scan: event_9"),
		flow(t, "bye", "- unfollow"),
		flow(t, "help", "- menu: MENU_HELP", "- keyword: [help, 帮助, hello world, ſtop]"),
		flow(t, "menus", "- menu: MENU_*"),
		flow(t, "order", `- keyword: { pattern: "^order ([0-9]+)(?: (\\w+))?$" }`),
		flow(t, "photos", "- message:", "  type: image"),
		flow(t, "away", "- message:", "  priority: -10"),
		flow(t, "weekly", "- schedule:", "    cron: \"0 9 * * mon\""),
	}
	ix := triggers.NewIndex(fs)
	tests := []struct {
		name string
		in   triggers.Input
		want string
	}{
		{"plain follow: bare follow only", triggers.Input{Kind: "follow"}, "welcome#0"},
		{"follow by QR code: exact, globs (follow and scan), bare", triggers.Input{Kind: "follow", Scene: "store_1"}, "store-1#0 scan-stores#0 stores#0 welcome#0"},
		{"follow by another code", triggers.Input{Kind: "follow", Scene: "store_2"}, "scan-stores#0 stores#0 welcome#0"},
		{"follow by a code no glob takes", triggers.Input{Kind: "follow", Scene: "event_9"}, "scan-exact#0 welcome#0"},
		{"scan: only scan triggers, never a follow's", triggers.Input{Kind: "scan", Scene: "store_1"}, "scan-stores#0"},
		{"scan of an exact scene", triggers.Input{Kind: "scan", Scene: "event_9"}, "scan-exact#0"},
		{"scan of an unknown scene", triggers.Input{Kind: "scan", Scene: "poster"}, ""},
		{"scene globs are case-sensitive", triggers.Input{Kind: "scan", Scene: "STORE_1"}, ""},
		{"unfollow", triggers.Input{Kind: "unfollow"}, "bye#0"},
		{"menu: exact before glob", triggers.Input{Kind: "menu", Key: "MENU_HELP"}, "help#0 menus#0"},
		{"menu: glob", triggers.Input{Kind: "menu", Key: "MENU_NEW"}, "menus#0"},
		{"menu: no match", triggers.Input{Kind: "menu", Key: "OTHER"}, ""},
		{"menu key is not a keyword", triggers.Input{Kind: "menu", Key: "help"}, ""},
		{"keyword, then the low-priority message", triggers.Input{Kind: "text", Text: "help"}, "help#1 away#0"},
		{"keyword: case and spaces", triggers.Input{Kind: "text", Text: "  HeLP \n"}, "help#1 away#0"},
		{"keyword: Chinese", triggers.Input{Kind: "text", Text: "帮助"}, "help#1 away#0"},
		{"keyword: full-width spaces", triggers.Input{Kind: "text", Text: "\u3000Hello\u3000World\u3000"}, "help#1 away#0"},
		{"keyword: Unicode folding as strings.EqualFold", triggers.Input{Kind: "text", Text: "STOP"}, "help#1 away#0"},
		{"keyword: the whole message only", triggers.Input{Kind: "text", Text: "help me"}, "away#0"},
		{"keyword pattern", triggers.Input{Kind: "text", Text: " order 123 "}, "order#0 away#0"},
		{"keyword pattern is as written (case-sensitive)", triggers.Input{Kind: "text", Text: "ORDER 123"}, "away#0"},
		{"image: typed message before bare", triggers.Input{Kind: "image"}, "photos#0 away#0"},
		{"voice: bare message only", triggers.Input{Kind: "voice"}, "away#0"},
		{"message kind with MsgType", triggers.Input{Kind: "message", MsgType: "image"}, "photos#0 away#0"},
		{"location", triggers.Input{Kind: "location"}, "away#0"},
		{"link", triggers.Input{Kind: "link"}, "away#0"},
		{"unknown kind", triggers.Input{Kind: "view", Key: "MENU_HELP"}, ""},
		{"schedule never matches", triggers.Input{Kind: "schedule"}, ""},
		{"empty input", triggers.Input{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := names(ix.Match(tt.in)); got != tt.want {
				t.Errorf("Match(%+v)\n got: %s\nwant: %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestMatchGroupsAndSpecificity(t *testing.T) {
	t.Parallel()
	ix := triggers.NewIndex([]*flows.Flow{
		flow(t, "order", `- keyword: { pattern: "^order ([0-9]+)(?: (\\w+))?$" }`),
		flow(t, "hi", "- keyword: [Hi]"),
		flow(t, "any", "- message:"),
	})
	got := ix.Match(triggers.Input{Kind: "text", Text: "\torder 42 urgent "})
	if names(got) != "order#0 any#0" {
		t.Fatalf("got %s", names(got))
	}
	if m := got[0].Match; len(m) != 3 || m[0] != "order 42 urgent" || m[1] != "42" || m[2] != "urgent" {
		t.Errorf("pattern groups: %q", m)
	}
	if got[0].Specificity != triggers.SpecificityPattern || got[1].Specificity != triggers.SpecificityBare {
		t.Errorf("specificities %d %d", got[0].Specificity, got[1].Specificity)
	}
	if got[1].Match != nil {
		t.Errorf("message trigger has a match: %q", got[1].Match)
	}
	got = ix.Match(triggers.Input{Kind: "text", Text: " HI "})
	if names(got) != "hi#0 any#0" || got[0].Specificity != triggers.SpecificityExact {
		t.Fatalf("got %s", names(got))
	}
	if m := got[0].Match; len(m) != 1 || m[0] != "HI" {
		t.Errorf("word match: %q", m)
	}
}

func TestMatchPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flows []*flows.Flow
		in    triggers.Input
		want  string
	}{
		{
			name: "priority beats specificity",
			flows: []*flows.Flow{
				flow(t, "a", "- keyword: [hi]"),
				flow(t, "z", "- message:", "  priority: 10"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "z#0 a#0",
		},
		{
			name: "negative priority comes last",
			flows: []*flows.Flow{
				flow(t, "a", "- menu: MENU_A", "  priority: -1"),
				flow(t, "b", "- menu: MENU_*"),
			},
			in:   triggers.Input{Kind: "menu", Key: "MENU_A"},
			want: "b#0 a#0",
		},
		{
			name: "exact beats glob beats bare",
			flows: []*flows.Flow{
				flow(t, "a-bare", "- follow"),
				flow(t, "b-glob", "- follow: s*"),
				flow(t, "c-exact", "- follow: s1"),
			},
			in:   triggers.Input{Kind: "follow", Scene: "s1"},
			want: "c-exact#0 b-glob#0 a-bare#0",
		},
		{
			name: "word beats pattern",
			flows: []*flows.Flow{
				flow(t, "a", `- keyword: { pattern: "^h" }`),
				flow(t, "b", "- keyword: [hi]"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "b#0 a#0",
		},
		{
			name: "name order on ties, whatever the order given",
			flows: []*flows.Flow{
				flow(t, "c", "- keyword: [hi]"),
				flow(t, "a", "- keyword: [hi]"),
				flow(t, "b", "- keyword: [HI]"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "a#0 b#0 c#0",
		},
		{
			name: "a follow by QR code ties with a scan of the same scene",
			flows: []*flows.Flow{
				flow(t, "b", "- follow: store_1"),
				flow(t, "a", "- scan: store_1"),
			},
			in:   triggers.Input{Kind: "follow", Scene: "store_1"},
			want: "a#0 b#0",
		},
		{
			name: "one candidate per flow: its best trigger",
			flows: []*flows.Flow{
				flow(t, "a", "- message:", "- keyword: [hi]", "- keyword: [HI, hello]", `- keyword: { pattern: "^h" }`),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "a#1",
		},
		{
			name: "one candidate per flow: trigger order on a tie",
			flows: []*flows.Flow{
				flow(t, "a", "- menu: M*", "- menu: MENU_*"),
			},
			in:   triggers.Input{Kind: "menu", Key: "MENU_1"},
			want: "a#0",
		},
		{
			name: "a guarded trigger does not hide the flow's next one",
			flows: []*flows.Flow{
				flow(t, "a", "- keyword: [hi]", "  if: contact.followed", "- message:"),
				flow(t, "b", "- message:"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "a#0 a#1 b#0",
		},
		{
			name: "a trigger that does not interrupt does not hide one that does",
			flows: []*flows.Flow{
				flow(t, "a", "- keyword: [hi]", "- message:", "  interrupt: true", "- message:", "  type: text"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "a#0 a#1",
		},
		{
			name: "an interrupting trigger hides every later one",
			flows: []*flows.Flow{
				flow(t, "a", "- keyword: [hi]", "  interrupt: true", "- message:", "  interrupt: true"),
			},
			in:   triggers.Input{Kind: "text", Text: "hi"},
			want: "a#0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := names(triggers.NewIndex(tt.flows).Match(tt.in)); got != tt.want {
				t.Errorf("got:  %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestMatchManyCandidates(t *testing.T) {
	t.Parallel()
	// More hits than the small-input path handles: the same rules apply.
	var fs []*flows.Flow
	var want []string
	for i := range 20 {
		name := fmt.Sprintf("f%02d", i)
		switch i % 3 {
		case 0: // best trigger unguarded: the flow once
			fs = append(fs, flow(t, name, "- keyword: [hi]", "- message:"))
		case 1: // best trigger guarded: the next one too
			fs = append(fs, flow(t, name, "- keyword: [hi]", "  if: contact.followed", "- message:"))
		case 2: // message only
			fs = append(fs, flow(t, name, "- message:"))
		}
	}
	for i := range 20 {
		if i%3 != 2 {
			want = append(want, fmt.Sprintf("f%02d#0", i))
		}
	}
	for i := range 20 {
		switch i % 3 {
		case 1:
			want = append(want, fmt.Sprintf("f%02d#1", i))
		case 2:
			want = append(want, fmt.Sprintf("f%02d#0", i))
		}
	}
	if got := names(triggers.NewIndex(fs).Match(triggers.Input{Kind: "text", Text: "hi"})); got != strings.Join(want, " ") {
		t.Errorf("got:  %s\nwant: %s", got, strings.Join(want, " "))
	}
}

func TestMatchAccount(t *testing.T) {
	t.Parallel()
	ix := triggers.NewIndex([]*flows.Flow{
		flow(t, "main-only", "account: main", "- keyword: [hi]", "- follow: s*", "- menu: M*"),
		flow(t, "shop-only", "account: shop", "- keyword: [hi]", `- keyword: { pattern: "^h" }`),
		flow(t, "everywhere", "- keyword: [hi]", "- follow: s*", "- menu: M*"),
	})
	tests := []struct {
		in   triggers.Input
		want string
	}{
		{triggers.Input{Account: "main", Kind: "text", Text: "hi"}, "everywhere#0 main-only#0"},
		{triggers.Input{Account: "shop", Kind: "text", Text: "hi"}, "everywhere#0 shop-only#0"},
		{triggers.Input{Account: "shop", Kind: "text", Text: "ho"}, "shop-only#1"},
		{triggers.Input{Account: "main", Kind: "text", Text: "ho"}, ""},
		{triggers.Input{Account: "other", Kind: "text", Text: "hi"}, "everywhere#0"},
		{triggers.Input{Kind: "text", Text: "hi"}, "everywhere#0"},
		{triggers.Input{Account: "main", Kind: "follow", Scene: "s1"}, "everywhere#1 main-only#1"},
		{triggers.Input{Account: "shop", Kind: "follow", Scene: "s1"}, "everywhere#1"},
		{triggers.Input{Account: "shop", Kind: "scan", Scene: "s1"}, ""}, // follow triggers never match a scan
		{triggers.Input{Account: "shop", Kind: "menu", Key: "M1"}, "everywhere#2"},
	}
	for _, tt := range tests {
		if got := names(ix.Match(tt.in)); got != tt.want {
			t.Errorf("Match(%+v)\n got: %s\nwant: %s", tt.in, got, tt.want)
		}
	}
}

func TestNewIndexSkipsFlowsWithoutTriggers(t *testing.T) {
	t.Parallel()
	ix := triggers.NewIndex([]*flows.Flow{nil, {Name: "empty"}, {Name: "nil-trigger", Triggers: []*flows.Trigger{nil}}, flow(t, "a", "- follow")})
	if got := names(ix.Match(triggers.Input{Kind: "follow"})); got != "a#0" {
		t.Errorf("got %s", got)
	}
	if got := triggers.NewIndex(nil).Match(triggers.Input{Kind: "follow"}); got != nil {
		t.Errorf("empty index matched %v", got)
	}
}

func TestSchedules(t *testing.T) {
	t.Parallel()
	ix := triggers.NewIndex([]*flows.Flow{
		flow(t, "weekly", "- keyword: [hi]", "- schedule:", "    cron: \"0 9 * * mon\"", "    timezone: Asia/Shanghai",
			"- schedule:", "    cron: \"*/5 * * * *\""),
		flow(t, "daily", "- schedule:", "    cron: \"0 8 * * *\"", "    audience: \"'daily' in contact.tags\""),
		flow(t, "none", "- follow"),
	})
	var got []string
	for _, s := range ix.Schedules() {
		if s.Trigger.Kind != "schedule" || !slices.Contains(s.Flow.Triggers, s.Trigger) {
			t.Errorf("not a schedule of its flow: %+v", s)
		}
		got = append(got, s.Key)
	}
	want := "daily#0#0 8 * * *# weekly#1#0 9 * * mon#Asia/Shanghai weekly#2#*/5 * * * *#"
	if strings.Join(got, " ") != want {
		t.Errorf("keys\n got: %s\nwant: %s", strings.Join(got, " "), want)
	}
	for _, s := range ix.Schedules() {
		if ix.Match(triggers.Input{Kind: "schedule"}) != nil {
			t.Errorf("%s matched an input", s.Key)
		}
	}
	// A changed cron or zone gives a new key; the same file the same key.
	key := func(src string) string {
		return triggers.NewIndex([]*flows.Flow{loadFlow(t, src)}).Schedules()[0].Key
	}
	base := "name: a\ntriggers:\n  - schedule:\n      cron: \"0 9 * * *\"\n      timezone: UTC\nsteps: [end]\n"
	if key(base) != key(base) {
		t.Error("key is not stable")
	}
	if key(base) == key(strings.Replace(base, "0 9", "0 10", 1)) {
		t.Error("a changed cron keeps its key")
	}
	if key(base) == key(strings.Replace(base, "UTC", "Asia/Tokyo", 1)) {
		t.Error("a changed zone keeps its key")
	}
	// Moved: the same schedule at another place among its flow's
	// triggers, not another flow's, cron's or zone's.
	st := ix.Schedules()[1] // weekly#1#0 9 * * mon#Asia/Shanghai
	for k, want := range map[string]bool{
		st.Key:                                 false,
		"weekly#0#0 9 * * mon#Asia/Shanghai":   true,
		"weekly#12#0 9 * * mon#Asia/Shanghai":  true,
		"weekly#x#0 9 * * mon#Asia/Shanghai":   false,
		"weekly##0 9 * * mon#Asia/Shanghai":    false,
		"weekly2#0#0 9 * * mon#Asia/Shanghai":  false,
		"daily#1#0 9 * * mon#Asia/Shanghai":    false,
		"weekly#0#0 10 * * mon#Asia/Shanghai":  false,
		"weekly#0#0 9 * * mon#Asia/Tokyo":      false,
		"weekly#0#0 9 * * mon#":                false,
		"weekly#0#1#0 9 * * mon#Asia/Shanghai": false,
		"weekly#2#*/5 * * * *#":                false,
		"":                                     false,
	} {
		if got := st.Moved(k); got != want {
			t.Errorf("%s Moved(%q) = %v, want %v", st.Key, k, got, want)
		}
	}
}

// TestFoldKey checks, over every rune, that keywords fold exactly as
// strings.EqualFold compares.
func TestFoldKey(t *testing.T) {
	t.Parallel()
	ix := func(word string) *triggers.Index {
		return triggers.NewIndex([]*flows.Flow{flow(t, "a", fmt.Sprintf("- keyword: [%q]", word))})
	}
	matches := func(x *triggers.Index, text string) bool {
		return x.Match(triggers.Input{Kind: "text", Text: text}) != nil
	}
	// Words whose folding is subtle: Kelvin sign, long s, Greek sigmas,
	// dotted and dotless i, full-width letters (not folded to ASCII).
	for _, tt := range []struct {
		word, text string
		want       bool
	}{
		{"kelvin", "\u212aELVIN", true},
		{"stop", "\u017ftop", true},
		{"σοφός", "ΣΟΦΟΣ", false},
		{"σοφός", "ΣΟΦΌΣ", true},
		{"σοφος", "ΣΟΦΌΣ", false},
		{"ıi", "II", false},
		{"hi", "ｈｉ", false},
		{"a b", "a\u3000b", true},
		{"a\u3000b", "A B", true},
	} {
		if equal := strings.EqualFold(strings.ReplaceAll(tt.word, "\u3000", " "), strings.ReplaceAll(tt.text, "\u3000", " ")); equal != tt.want {
			t.Errorf("test case %q, %q: strings.EqualFold says %v", tt.word, tt.text, equal)
		}
		if got := matches(ix(tt.word), tt.text); got != tt.want {
			t.Errorf("keyword %q, text %q: matched=%v", tt.word, tt.text, got)
		}
	}
}

func TestFoldRuneAgreesWithEqualFold(t *testing.T) {
	t.Parallel()
	// Two one-rune keywords match each other exactly when strings.EqualFold
	// says so (the exhaustive check is in fold_test.go).
	x := triggers.NewIndex([]*flows.Flow{flow(t, "a", "- keyword: [\u212a, \u03c2, \u0130]")})
	for _, r := range []rune{'k', 'K', '\u212a', 'σ', 'Σ', 'ς', 'İ', 'i', 'I', 'ı'} {
		want := strings.EqualFold(string(r), "\u212a") || strings.EqualFold(string(r), "\u03c2") || strings.EqualFold(string(r), "\u0130")
		if got := x.Match(triggers.Input{Kind: "text", Text: string(r)}) != nil; got != want {
			t.Errorf("%q: matched=%v, EqualFold=%v", r, got, want)
		}
	}
}

// benchFlows returns n flows, each with two keywords, a menu key and a
// follow scene of its own; every 10th has a scan glob, every 20th a menu
// glob, every 25th a keyword pattern, every 50th a message trigger, every
// 100th a bare follow, and every 5th is restricted to one account.
func benchFlows(tb testing.TB, n int) []*flows.Flow {
	tb.Helper()
	out := make([]*flows.Flow, 0, n)
	for i := range n {
		lines := []string{
			fmt.Sprintf("- keyword: [kw%d, word%d]", i, i),
			fmt.Sprintf("- menu: MENU_%d", i),
			fmt.Sprintf("- follow: store_%d", i),
		}
		if i%5 == 0 {
			lines = append(lines, "account: main")
		}
		if i%10 == 0 {
			lines = append(lines, fmt.Sprintf("- scan: region%d_*", i/10))
		}
		if i%20 == 0 {
			lines = append(lines, fmt.Sprintf("- menu: SUB%d_*", i/20))
		}
		if i%25 == 0 {
			lines = append(lines, fmt.Sprintf(`- keyword: { pattern: "^order%d ([0-9]+)$" }`, i))
		}
		if i%50 == 0 {
			lines = append(lines, "- message:", "  priority: -10")
		}
		if i%100 == 50 {
			lines = append(lines, "  type: image")
		}
		if i%100 == 0 {
			lines = append(lines, "- follow")
		}
		out = append(out, flow(tb, fmt.Sprintf("flow-%03d", i), lines...))
	}
	return out
}

func BenchmarkMatch(b *testing.B) {
	ix := triggers.NewIndex(benchFlows(b, 500))
	inputs := []struct {
		name string
		in   triggers.Input
		want int
	}{
		{"text-word", triggers.Input{Account: "main", Kind: "text", Text: "kw250"}, 6},
		{"text-word-folded", triggers.Input{Account: "main", Kind: "text", Text: " KW250 "}, 6},
		{"text-pattern", triggers.Input{Account: "main", Kind: "text", Text: "order100 42"}, 5},
		{"text-miss", triggers.Input{Account: "main", Kind: "text", Text: "what are your opening hours?"}, 5},
		{"image", triggers.Input{Account: "main", Kind: "image"}, 10},
		{"menu-exact", triggers.Input{Account: "main", Kind: "menu", Key: "MENU_321"}, 1},
		{"menu-glob", triggers.Input{Account: "main", Kind: "menu", Key: "SUB7_X"}, 1},
		{"follow-scene", triggers.Input{Account: "main", Kind: "follow", Scene: "store_42"}, 6},
		{"scan-glob", triggers.Input{Account: "main", Kind: "scan", Scene: "region3_east"}, 1},
	}
	for _, tt := range inputs {
		if got := ix.Match(tt.in); len(got) != tt.want {
			b.Fatalf("%s: %d candidates, want %d: %s", tt.name, len(got), tt.want, names(got))
		}
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Match(tt.in)
			}
		})
	}
}

func BenchmarkNewIndex(b *testing.B) {
	fs := benchFlows(b, 500)
	b.ReportAllocs()
	for b.Loop() {
		triggers.NewIndex(fs)
	}
}

// TestTypedMessageBetweenPatternAndBare: a message of one type is less
// specific than a keyword pattern and more than a bare message, whatever
// the flows' names; before, a message: with type: text ranked as a
// pattern and won over "^order ([0-9]+)$" by name order alone.
func TestTypedMessageBetweenPatternAndBare(t *testing.T) {
	t.Parallel()
	ix := triggers.NewIndex([]*flows.Flow{
		flow(t, "a-anytext", "- message:\n    type: text"),
		flow(t, "a-any", "- message:"),
		flow(t, "z-order", `- keyword: { pattern: "^order ([0-9]+)$" }`),
	})
	if got := names(ix.Match(triggers.Input{Kind: "text", Text: "order 42"})); got != "z-order#0 a-anytext#0 a-any#0" {
		t.Fatalf("got %s", got)
	}
}
