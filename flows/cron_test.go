package flows

import (
	"strings"
	"testing"
)

// TestCronErrorsInTheDocsWords checks the messages of cron mistakes: what
// the docs call the fields, the allowed values, and never the parser's
// own words (strconv.Atoi, "failed to parse").
func TestCronErrorsInTheDocsWords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, msg, hint string }{
		{"0 9 * *", "4 fields, not 5", "five fields"},
		{"x 9 * * *", `minute: "x" is not a minute`, "minutes are 0-59"},
		{"0 9 * * mnn", `day-of-week: "mnn" is not a day of the week`, `did you mean "mon"?`},
		{"0 9 * foo *", `month: "foo" is not a month`, "months are 1-12 or jan"},
		{"0 9 32 * *", "day-of-month 32 is out of range", "days of the month are 1-31"},
		{"0 9 * * 7", "day-of-week 7 is out of range", "Sunday is 0"},
		{"0 9 * * fri-mon", "day-of-week: range fri-mon runs backwards", "fri-sat,sun-mon"},
		{"*/0 * * * *", `minute: step "0" must be a whole number of at least 1`, "*/15"},
		{"0 9-x * * *", `hour: "x" is not an hour`, "hours are 0-23"},
		{"0 9- * * *", "hour: a range needs a value on both sides of -", "hours are 0-23"},
		{"0,,5 9 * * *", "minute: empty item in the list", "commas"},
		{"@daily", "@daily is not supported", "five fields"},
	} {
		e := checkCron(tc.src)
		if e == nil {
			t.Errorf("%q: no error", tc.src)
			continue
		}
		if e.msg != tc.msg || !strings.Contains(e.hint, tc.hint) {
			t.Errorf("%q: got %q (%s), want %q (%s)", tc.src, e.msg, e.hint, tc.msg, tc.hint)
		}
	}
	for _, ok := range []string{"0 9 * * mon-fri", "*/15 * * * *", "0 9,18 1-15/2 jan-jun ?", "30 8 * * SUN", "5/10 * * * *"} {
		if e := checkCron(ok); e != nil {
			t.Errorf("%q: %s", ok, e.msg)
		}
	}
}

// FuzzCron checks that every expression the cron parser refuses is
// refused in the docs' words first (the parser's message is never shown),
// and that the words never quote strconv.
func FuzzCron(f *testing.F) {
	for _, s := range []string{"0 9 * * mon-fri", "*/15 * * * *", "0 25 * * *", "0 9 * * 7", "1-5/2 * * * *", "0 9 * * fri-mon", "? ? ? ? ?", "+5 * * * *", "0 0 L * *", "@daily", "0 9 * * mon#1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e := checkCron(src)
		if e != nil && (strings.Contains(e.msg, "strconv") || strings.Contains(e.hint, "strconv")) {
			t.Fatalf("%q: %s", src, e.msg)
		}
		if e != nil && (e.off < 0 || e.off > len(src)) {
			t.Fatalf("%q: offset %d outside", src, e.off)
		}
		if _, err := cronParser.Parse(src); err != nil && e == nil && !strings.HasPrefix(src, "TZ=") && !strings.HasPrefix(src, "CRON_TZ=") {
			t.Fatalf("%q: the parser refuses it (%v) but checkCron does not", src, err)
		}
	})
}
