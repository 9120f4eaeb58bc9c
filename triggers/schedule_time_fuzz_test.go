package triggers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/triggers"
)

// fuzzZones are the zones FuzzNext picks from: zones that change their
// clocks by an hour (New York, Berlin, Nuuk, Dublin's negative summer
// time in the IANA data), at midnight (Beirut, Santiago, Havana, Cairo),
// by half an hour (Lord Howe), with odd offsets (Chatham's +12:45, St
// John's -03:30, Adelaide's +09:30 and +10:30), back and forth around
// Ramadan (Casablanca), and zones that do not change (UTC, Shanghai,
// Kolkata, Apia since 2021).
var fuzzZones = []string{
	"UTC", "Asia/Shanghai", "Asia/Kolkata", "America/New_York", "Europe/Berlin",
	"Asia/Beirut", "America/Santiago", "America/Havana", "Australia/Lord_Howe",
	"America/Nuuk", "Pacific/Apia", "Africa/Casablanca", "Pacific/Chatham",
	"Africa/Cairo", "America/St_Johns", "Australia/Adelaide", "Europe/Dublin",
}

// fuzzHorizon is how far ahead FuzzNext's reference scans: firings later
// than this are only checked for Next's invariants.
const fuzzHorizon = 8 * 24 * time.Hour

// fuzzField is one of a cron's five fields, as the docs describe them.
type fuzzField struct {
	min, max int
	names    []string
}

var fuzzFields = [5]fuzzField{
	{0, 59, nil},
	{0, 23, nil},
	{1, 31, nil},
	{1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{0, 6, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// value reads one value of the field: digits within its range, or a name
// (any case).
func (f fuzzField) value(s string) (int, bool) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, true
		}
	}
	n, ok := fuzzNumber(s)
	return n, ok && n >= f.min && n <= f.max
}

// fuzzNumber reads 1 to 4 decimal digits.
func fuzzNumber(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parse reads a field the way the docs (docs/flows.md, cron expression)
// describe it: a comma-separated list of `*`, a value or a range a-b, each
// with an optional step /n; a single value with a step runs to the field's
// end (5/15 is 5-59/15), as the parser wxflow uses reads it. star reports
// a `*` (or `?`) without a step of more than 1, which makes the day fields
// combine with "and" rather than "or" (robfig/cron's rule, as Vixie cron's
// for a bare `*`).
func (f fuzzField) parse(s string) (bits uint64, star, ok bool) {
	if s == "" {
		return 0, false, false
	}
	for _, part := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, ok := fuzzNumber(stepText)
			if !ok || n < 1 {
				return 0, false, false
			}
			step = n
		}
		var lo, hi int
		if rng == "*" || rng == "?" {
			lo, hi = f.min, f.max
			if step == 1 {
				star = true
			}
		} else {
			a, b, isRange := strings.Cut(rng, "-")
			var ok bool
			if lo, ok = f.value(a); !ok {
				return 0, false, false
			}
			hi = lo
			if isRange {
				if hi, ok = f.value(b); !ok || lo > hi {
					return 0, false, false
				}
			} else if hasStep {
				hi = f.max
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, star, true
}

// generate writes a valid field from arbitrary bytes: one to three parts,
// each `*`, `?`, a value, a range, `*` with a step, a value with a step or
// a range with a step; values of months and days of the week are names
// (in any case) half the time.
func (f fuzzField) generate(seed string) string {
	i := 0
	next := func() int {
		if i < len(seed) {
			i++
			return int(seed[i-1])
		}
		return 0
	}
	span := f.max - f.min + 1
	val := func(v int) string {
		if f.names != nil {
			switch next() % 4 {
			case 1:
				return f.names[v-f.min]
			case 2:
				return strings.ToUpper(f.names[v-f.min])
			case 3:
				n := f.names[v-f.min]
				return strings.ToUpper(n[:1]) + n[1:]
			}
		}
		return fmt.Sprint(v)
	}
	step := func() string { return fmt.Sprint(1 + next()%(span/2+1)) }
	var parts []string
	for n := 1 + next()%3; len(parts) < n; {
		a := f.min + next()%span
		b := a + next()%(f.max-a+1)
		switch next() % 10 {
		case 0, 1:
			parts = append(parts, "*")
		case 2:
			parts = append(parts, "?")
		case 3:
			parts = append(parts, "*/"+step())
		case 4, 5:
			parts = append(parts, val(a))
		case 6, 7:
			parts = append(parts, val(a)+"-"+val(b))
		case 8:
			parts = append(parts, val(a)+"/"+step())
		case 9:
			parts = append(parts, val(a)+"-"+val(b)+"/"+step())
		}
	}
	return strings.Join(parts, ",")
}

// fuzzCron is a cron's five fields as sets, read independently of the
// parser Next uses.
type fuzzCron struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
}

// everyHour reports whether the cron names every hour (Next's crons over
// every hour, which follow the clock as it is).
func (c fuzzCron) everyHour() bool {
	const all = 1<<24 - 1
	return c.hour&all == all
}

// day reports whether the cron names the date: both day fields must match
// when either is `*`, else either may.
func (c fuzzCron) day(d time.Time) bool {
	if c.month&(1<<uint(d.Month())) == 0 {
		return false
	}
	dom := c.dom&(1<<uint(d.Day())) != 0
	dow := c.dow&(1<<uint(d.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// neverFires reports what the loader refuses: with any day of the week,
// no chosen month has a chosen day of the month.
func (c fuzzCron) neverFires() bool {
	if !c.dowStar {
		return false
	}
	longest := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if c.month&(1<<uint(m)) == 0 {
			continue
		}
		for d := 1; d <= longest[m]; d++ {
			if c.dom&(1<<uint(d)) != 0 {
				return false
			}
		}
	}
	return true
}

// refNext is FuzzNext's reference: it reads loc's clock minute by minute
// from two days before after to two days past the horizon and applies the
// documented rule to the readings. A cron over every hour fires at every
// instant the clock reads a wall-clock time it names. A cron with fixed
// hours fires at the first instant the clock reads a time it names, and
// at a time the clock never reads (a jump forward skips it) at the moment
// of the jump. It returns the first firing after after, if there is one
// within the horizon.
func refNext(c fuzzCron, loc *time.Location, after time.Time) (time.Time, bool) {
	start := after.Truncate(time.Minute).Add(-48 * time.Hour)
	end := after.Add(fuzzHorizon + 48*time.Hour)
	every := c.everyHour()
	var days struct {
		n  int64
		ok bool
	}
	days.n = -1
	// matches reports whether the wall-clock minute w (minutes since
	// 1970-01-01 00:00 on that clock) is one the cron names.
	matches := func(w int64) bool {
		m := w % (24 * 60)
		if c.minute&(1<<uint(m%60)) == 0 || c.hour&(1<<uint(m/60)) == 0 {
			return false
		}
		if d := w / (24 * 60); d != days.n {
			days.n, days.ok = d, c.day(time.Unix(d*86400, 0).UTC())
		}
		return days.ok
	}
	first := map[int64]time.Time{}
	type jump struct {
		wall int64
		at   time.Time
	}
	var skipped []jump
	var best time.Time
	consider := func(f time.Time) {
		if f.After(after) && (best.IsZero() || f.Before(best)) {
			best = f
		}
	}
	var off int
	var periodEnd time.Time
	prev := int64(-1)
	for u := start; !u.After(end); u = u.Add(time.Minute) {
		if periodEnd.IsZero() || !u.Before(periodEnd) {
			l := u.In(loc)
			_, off = l.Zone()
			_, periodEnd = l.ZoneBounds()
			if off%60 != 0 || periodEnd.Before(end) && periodEnd.Second() != 0 {
				panic(fmt.Sprintf("%s: offset %d or change at %s not on a minute", loc, off, periodEnd))
			}
			if periodEnd.IsZero() {
				periodEnd = end.Add(time.Hour)
			}
		}
		w := (u.Unix() + int64(off)) / 60
		if prev >= 0 && w > prev+1 {
			for s := prev + 1; s < w; s++ {
				if matches(s) {
					skipped = append(skipped, jump{s, u})
				}
			}
		}
		prev = w
		if !matches(w) {
			continue
		}
		if every {
			consider(u)
		} else if _, ok := first[w]; !ok {
			first[w] = u
			consider(u)
		}
	}
	if !every {
		for _, s := range skipped {
			if _, ok := first[s.wall]; !ok {
				consider(s.at)
			}
		}
	}
	if best.IsZero() || best.After(after.Add(fuzzHorizon)) {
		return time.Time{}, false
	}
	return best, true
}

var (
	fuzzFrom = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fuzzTo   = time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
)

// fuzzInstant turns v into an instant in 2025-2028: v itself when it is
// one (Unix nanoseconds), else by its two low bits any instant, a whole
// minute, or a minute or an instant near one of the zone's clock changes
// (changes lists them).
func fuzzInstant(v int64, changes []time.Time) time.Time {
	if t := time.Unix(0, v); !t.Before(fuzzFrom) && t.Before(fuzzTo) {
		return t
	}
	u := uint64(v)
	sel, rest := u&3, u>>2
	if sel >= 2 && len(changes) == 0 {
		sel = 1
	}
	span := uint64(fuzzTo.Sub(fuzzFrom))
	switch sel {
	case 0:
		return fuzzFrom.Add(time.Duration(rest % span))
	case 1:
		return fuzzFrom.Add(time.Duration(rest%(span/uint64(time.Minute))) * time.Minute)
	}
	c := changes[rest%uint64(len(changes))]
	rest /= uint64(len(changes))
	// Up to four days either side.
	t := c.Add(time.Duration(int64(rest%(8*24*60))-4*24*60) * time.Minute)
	if sel == 3 {
		// Up to a minute either side of that minute.
		rest /= 8 * 24 * 60
		t = t.Add(time.Duration(int64(rest%uint64(2*time.Minute+1)) - int64(time.Minute)))
	}
	return t
}

// FuzzNext checks Next against refNext, a minute-by-minute scan of the
// zone's clock, for crons built from fuzzed fields (`*`, values, names,
// lists, ranges, steps) in zones with odd clock changes, from instants in
// 2025-2028; and, for every input, that Next's answer is in UTC, strictly
// after after, the same from any instant between after and it, and the
// same whatever zone after is given in.
//
// A field that is not a valid field (as the docs describe them) is turned
// into one made from its bytes. The high bit of zone leaves timezone: out
// and passes the zone as the server's.
func FuzzNext(f *testing.F) {
	locs := make([]*time.Location, len(fuzzZones))
	changes := make([][]time.Time, len(fuzzZones))
	for i, name := range fuzzZones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			f.Fatal(err)
		}
		locs[i] = loc
		for t := fuzzFrom.AddDate(0, -1, 0); ; {
			_, end := t.In(loc).ZoneBounds()
			if end.IsZero() || !end.Before(fuzzTo) {
				break
			}
			changes[i] = append(changes[i], end)
			t = end
		}
	}
	zoneIndex := func(name string) uint8 {
		for i, n := range fuzzZones {
			if n == name {
				return uint8(i)
			}
		}
		f.Fatalf("zone %s is not in fuzzZones", name)
		return 0
	}
	// TestNext's cases.
	for _, tc := range nextCases(f) {
		var cronSrc string
		zone := uint8(0x80) // no timezone: and no server zone: UTC
		if tc.server != nil {
			zone = 0x80 | zoneIndex(tc.server.String())
		}
		for _, l := range tc.lines {
			if c, ok := strings.CutPrefix(l, "cron: "); ok {
				cronSrc = strings.Trim(c, `"`)
			}
			if z, ok := strings.CutPrefix(l, "timezone: "); ok {
				zone = zoneIndex(z)
			}
		}
		fs := strings.Fields(cronSrc)
		f.Add(fs[0], fs[1], fs[2], fs[3], fs[4], zone, utc(tc.after).UnixNano())
	}
	// Near clock changes, and fields generated from bytes.
	f.Add("0", "2,3", "*", "*", "*", zoneIndex("Africa/Casablanca"), int64(2))
	f.Add("*/15", "0-1", "*", "*", "sat-sun", zoneIndex("America/Santiago"), int64(3))
	f.Add("\x01\x02", "\x03", "", "", "\x09\x01", zoneIndex("Pacific/Chatham"), int64(6))

	f.Fuzz(func(t *testing.T, minute, hour, dom, month, dow string, zone uint8, at int64) {
		fields := [5]string{minute, hour, dom, month, dow}
		var sets [5]uint64
		var stars [5]bool
		for i, ff := range fuzzFields {
			bits, star, ok := ff.parse(fields[i])
			if !ok {
				fields[i] = ff.generate(fields[i])
				if bits, star, ok = ff.parse(fields[i]); !ok {
					t.Fatalf("generated field %q does not parse", fields[i])
				}
			}
			sets[i], stars[i] = bits, star
		}
		c := fuzzCron{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4], domStar: stars[2], dowStar: stars[4]}
		if c.neverFires() {
			t.Skip("the loader refuses a cron that never fires")
		}
		zi := int(zone&0x7f) % len(fuzzZones)
		loc := locs[zi]
		spec := strings.Join(fields[:], " ")
		src := "name: s\ntriggers:\n  - schedule:\n      cron: \"" + spec + "\"\n"
		var server *time.Location
		if zone&0x80 == 0 {
			src += "      timezone: " + fuzzZones[zi] + "\n"
		} else if loc != time.UTC {
			server = loc
		}
		src += "steps: [end]\n"
		fl, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{})
		if diags.HasErrors() {
			t.Fatalf("cron %q does not load:\n%v", spec, diags)
		}
		tr := fl.Triggers[0]
		after := fuzzInstant(at, changes[zi])
		describe := func() string {
			return fmt.Sprintf("cron %q in %s, after %s (%s there)", spec, loc, after.UTC().Format(time.RFC3339Nano), after.In(loc).Format("Mon 2006-01-02 15:04:05.999999999 -07:00"))
		}

		n := triggers.Next(tr, after, server)
		if n.IsZero() {
			t.Fatalf("%s: Next = zero", describe())
		}
		if n.Location() != time.UTC {
			t.Errorf("%s: Next = %s, not in UTC", describe(), n)
		}
		if !n.After(after) {
			t.Fatalf("%s: Next = %s, not after after", describe(), n.Format(time.RFC3339Nano))
		}
		show := func(x time.Time) string {
			return x.UTC().Format(time.RFC3339Nano) + " (" + x.In(loc).Format("Mon 2006-01-02 15:04 -07:00") + ")"
		}
		if again := triggers.Next(tr, n.Add(-time.Nanosecond), server); !again.Equal(n) {
			t.Errorf("%s: Next = %s, but Next of 1ns before it = %s", describe(), show(n), show(again))
		}
		if mid := after.Add(n.Sub(after) / 2); mid.After(after) {
			if again := triggers.Next(tr, mid, server); !again.Equal(n) {
				t.Errorf("%s: Next = %s, but Next of %s = %s", describe(), show(n), show(mid), show(again))
			}
		}
		if again := triggers.Next(tr, after.In(time.FixedZone("X", -7*3600)), server); !again.Equal(n) {
			t.Errorf("%s: Next = %s, but %s given in another zone = %s", describe(), show(n), show(after), show(again))
		}

		want, ok := refNext(c, loc, after)
		switch {
		case ok && !n.Equal(want):
			t.Errorf("%s: Next = %s, the clock's scan fires at %s", describe(), show(n), show(want))
		case !ok && !n.After(after.Add(fuzzHorizon)):
			t.Errorf("%s: Next = %s, the clock's scan fires at none within %s", describe(), show(n), fuzzHorizon)
		}
	})
}
