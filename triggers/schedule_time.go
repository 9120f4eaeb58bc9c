package triggers

import (
	"sort"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/wxflow/wxflow/flows"
)

// Next returns when the schedule trigger t fires next, strictly after
// after, in UTC. The cron fields are read in the trigger's timezone:, or in
// serverZone when it has none (UTC when serverZone is nil). It returns the
// zero time when t is not a schedule trigger or the cron never fires
// within five years.
//
// The cron is matched against the zone's calendar: its day fields against
// the date, its hour and minute fields against the wall-clock time of that
// date. Where the zone changes its clocks (by an hour, by half an hour, at
// midnight), a cron with fixed hours (anything but `*` in the hour field)
// fires once per wall-clock time, as Vixie cron does: a time the clocks
// skip forward over fires at the moment of the jump, and a time the clocks
// go back over fires the first time only. Crons over every hour keep
// firing by the clock as it is: not at a time it skips, twice at a time
// it repeats.
func Next(t *flows.Trigger, after time.Time, serverZone *time.Location) time.Time {
	if t == nil {
		return time.Time{}
	}
	o, _ := t.Arg.(*flows.Object)
	c, _ := o.Get("cron").(*flows.Cron)
	if c == nil || c.Schedule == nil {
		return time.Time{}
	}
	loc := zone(o, serverZone)
	spec, ok := c.Schedule.(*cron.SpecSchedule)
	if !ok {
		n := c.Next(after.In(loc))
		if n.IsZero() {
			return n
		}
		return n.UTC()
	}
	return next(spec, after, loc)
}

// Audience returns the audience: expression of a schedule trigger, or nil
// when it runs for every contact.
func Audience(t *flows.Trigger) *flows.Expr {
	if t == nil {
		return nil
	}
	o, _ := t.Arg.(*flows.Object)
	return o.Expr("audience")
}

// OwnZone reports whether a schedule trigger names its own timezone:;
// without, its cron is read in the server's zone, and its times move
// when that changes.
func OwnZone(t *flows.Trigger) bool {
	if t == nil {
		return false
	}
	o, _ := t.Arg.(*flows.Object)
	switch z := o.Get("timezone").(type) {
	case *time.Location:
		return z != nil
	case string:
		return z != ""
	}
	return false
}

// zone returns the time zone a schedule's cron fields are in.
func zone(o *flows.Object, serverZone *time.Location) *time.Location {
	switch z := o.Get("timezone").(type) {
	case *time.Location:
		if z != nil {
			return z
		}
	case string:
		// The loader parses timezone: into a *time.Location; a name is
		// accepted for triggers built by hand.
		if z != "" && z != "Local" {
			if loc, err := time.LoadLocation(z); err == nil {
				return loc
			}
		}
	}
	if serverZone != nil {
		return serverZone
	}
	return time.UTC
}

// allHours is the hour field of a cron that names every hour.
const allHours = 1<<24 - 1

// starBit marks a day field written as `*` (robfig/cron's own mark).
const starBit = 1 << 63

// fixedHours reports whether a cron fires at chosen hours rather than
// every hour, and so should fire once per wall-clock time across clock
// changes.
func fixedHours(s *cron.SpecSchedule) bool {
	return s.Hour&allHours != allHours
}

// next returns the first firing of s in loc strictly after after, in UTC,
// or the zero time when there is none within five years.
//
// It walks the zone's dates and, on each date the cron names, the
// wall-clock times it names, and turns each into the instants the clocks
// read it (firings). robfig/cron's own Next steps through absolute time
// instead, and loses its place where the clocks move at midnight or by
// half an hour: a Sunday cron skipped the Sunday Beirut starts summer time
// (its midnight does not exist), a Saturday cron fired on the Sunday
// Santiago and Havana start theirs, and a daily 09:00 was skipped on Lord
// Howe Island's two change days.
func next(s *cron.SpecSchedule, after time.Time, loc *time.Location) time.Time {
	once := fixedHours(s)
	l := after.In(loc)
	// after's wall-clock reading, written as UTC. An instant that reads w
	// is after after only if w is after that reading less the most the
	// zone's offset moves around after.
	wallAfter := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
	lo, hi := offsets(loc, after.Add(-48*time.Hour), after.Add(48*time.Hour))
	earliest := wallAfter.Add(-time.Duration(hi-lo) * time.Second)
	limit := l.Year() + 5
	var best time.Time
	// From the date of earliest: the clocks going back over midnight read
	// the day before's times again.
	for d := earliest.Truncate(24 * time.Hour); d.Year() <= limit; d = d.AddDate(0, 0, 1) {
		named := 1<<uint(d.Month())&s.Month != 0 && dayMatches(s, d)
		if !named && best.IsZero() {
			continue
		}
		// Where the offset holds from the day before d to the day after,
		// the clocks read d's times once each, in order, after the
		// earlier dates' times.
		lo, hi := offsets(loc, d.Add(-36*time.Hour), d.Add(60*time.Hour))
		calm := lo == hi
		if !best.IsZero() && (calm || d.After(best.Add(48*time.Hour))) {
			break
		}
		if !named {
			continue
		}
		// No time read later than this can come before best.
		var latest time.Time
		if !best.IsZero() {
			b := best.In(loc)
			latest = time.Date(b.Year(), b.Month(), b.Day(), b.Hour(), b.Minute(), 0, 0, time.UTC).Add(time.Duration(hi-lo) * time.Second)
		}
	day:
		for h := 0; h < 24; h++ {
			if 1<<uint(h)&s.Hour == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if 1<<uint(m)&s.Minute == 0 {
					continue
				}
				w := d.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
				if w.Before(earliest) {
					continue
				}
				if !latest.IsZero() && w.After(latest) {
					break day
				}
				for _, f := range firings(w, loc, once) {
					if f.After(after) && (best.IsZero() || f.Before(best)) {
						best = f
						if calm {
							break day
						}
						b := best.In(loc)
						latest = time.Date(b.Year(), b.Month(), b.Day(), b.Hour(), b.Minute(), 0, 0, time.UTC).Add(time.Duration(hi-lo) * time.Second)
					}
				}
			}
		}
	}
	if best.IsZero() {
		return best
	}
	return best.UTC()
}

// offsets returns the smallest and largest offset (seconds east of UTC)
// loc has between from and to (wall-clock readings written as UTC, or
// instants: a day's margin either side is the callers').
func offsets(loc *time.Location, from, to time.Time) (lo, hi int) {
	_, lo = from.In(loc).Zone()
	hi = lo
	for t := from; ; {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || end.After(to) {
			return lo, hi
		}
		_, o := end.In(loc).Zone()
		lo, hi = min(lo, o), max(hi, o)
		t = end
	}
}

// dayMatches reports whether the date d (its year, month and day, in any
// zone) is one of the cron's days, as robfig/cron reads its two day
// fields: both must match when either is `*`, else either may.
func dayMatches(s *cron.SpecSchedule, d time.Time) bool {
	dom := 1<<uint(d.Day())&s.Dom != 0
	dow := 1<<uint(d.Weekday())&s.Dow != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// firings returns the instants at which a cron naming the wall-clock time
// w (its reading written as UTC) fires in loc, in order. The clocks read
// most times once; a time they go back over, twice; a time they skip
// forward over, never. With once, the cron fires at the first reading
// only, and at a skipped time at the moment of the jump over it.
func firings(w time.Time, loc *time.Location, once bool) []time.Time {
	// Fast path: the zone's offset there holds a day either side.
	guess := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, loc)
	if start, end := guess.ZoneBounds(); (start.IsZero() || start.Before(guess.Add(-26*time.Hour))) && (end.IsZero() || end.After(guess.Add(26*time.Hour))) {
		return []time.Time{guess}
	}
	var reads []time.Time
	var jump time.Time
	// The zone's periods within a day and a half of w: every instant that
	// reads w is within 15 hours of it.
	for t := w.Add(-36 * time.Hour); t.Before(w.Add(36 * time.Hour)); {
		_, off := t.In(loc).Zone()
		i := w.Add(-time.Duration(off) * time.Second)
		if _, o := i.In(loc).Zone(); o == off && (len(reads) == 0 || !reads[len(reads)-1].Equal(i)) {
			reads = append(reads, i)
		}
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() {
			break
		}
		// A jump forward over w: before it the clocks read less than w,
		// from it on more.
		_, after := end.In(loc).Zone()
		if after > off && !end.Add(time.Duration(off)*time.Second).After(w) && end.Add(time.Duration(after)*time.Second).After(w) {
			jump = end
		}
		t = end
	}
	sort.Slice(reads, func(i, j int) bool { return reads[i].Before(reads[j]) })
	if once {
		if len(reads) > 0 {
			return reads[:1]
		}
		if !jump.IsZero() {
			return []time.Time{jump}
		}
	}
	return reads
}
