package triggers

import (
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
// Where the zone changes its clocks, a cron with fixed hours (anything but
// `*` in the hour field) fires once per wall-clock time, as Vixie cron
// does: a time the clocks skip forward over fires at the moment of the
// jump, and a time the clocks go back over fires the first time only.
// Crons over every hour keep firing by the clock as it is.
func Next(t *flows.Trigger, after time.Time, serverZone *time.Location) time.Time {
	if t == nil {
		return time.Time{}
	}
	o, _ := t.Arg.(*flows.Object)
	c, _ := o.Get("cron").(*flows.Cron)
	if c == nil || c.Schedule == nil {
		return time.Time{}
	}
	a := after.In(zone(o, serverZone))
	n := c.Next(a)
	if fixedHours(c.Schedule) {
		for !n.IsZero() && repeated(n) {
			n = c.Next(n)
		}
		if n.IsZero() {
			return n
		}
		if jump, ok := skippedFiring(c.Schedule, a, n); ok {
			n = jump
		}
	}
	if n.IsZero() {
		return n
	}
	return n.UTC()
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

// fixedHours reports whether a cron fires at chosen hours rather than
// every hour, and so should fire once per wall-clock time across clock
// changes.
func fixedHours(s cron.Schedule) bool {
	spec, ok := s.(*cron.SpecSchedule)
	return ok && spec.Hour&allHours != allHours
}

// repeated reports whether t's wall-clock time already happened earlier:
// t is in the first part of a period that began by putting the clocks
// back.
func repeated(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, before := start.Add(-time.Nanosecond).Zone()
	_, now := t.Zone()
	return before > now && t.Before(start.Add(time.Duration(before-now)*time.Second))
}

// skippedFiring looks for a forward clock change after a and not after n
// over a wall-clock time the cron names; it returns the moment of the
// first such change.
func skippedFiring(s cron.Schedule, a, n time.Time) (time.Time, bool) {
	for t := a; ; {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(n) {
			return time.Time{}, false
		}
		_, before := end.Add(-time.Nanosecond).Zone()
		_, after := end.Zone()
		if after > before {
			// Read the cron in the old offset, where the skipped wall-clock
			// times still exist: [end, end+gap) there.
			gap := time.Duration(after-before) * time.Second
			old := time.FixedZone("", before)
			if f := s.Next(end.Add(-time.Second).In(old)); !f.IsZero() && f.Before(end.Add(gap)) {
				return end, true
			}
		}
		t = end
	}
}
