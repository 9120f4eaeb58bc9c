package flows

import "time"

// WallTime returns the instant at which the clocks of loc read the given
// wall-clock time. It is time.Date, except where loc changes its clocks:
//
//   - A wall-clock time that does not exist, skipped when the clocks go
//     forward, is pushed forward by the length of the gap: 02:30 on the
//     day New York's summer time starts is 03:30 EDT, 02:15 on the day
//     Lord Howe's starts (a half-hour gap) is 02:45, and midnight on the
//     day Beirut's starts is 01:00. This is java.time's ZonedDateTime and
//     JavaScript Temporal's "compatible" rule: the wall time read with the
//     offset in force before the gap. time.Date gives 01:30 EST for New
//     York (an hour early: a wait until it would wake at once past 01:30)
//     and 01:00 for Beirut, by no rule a flow could rely on.
//   - A wall-clock time that occurs twice, when the clocks go back, is
//     the first of the two (01:30 EDT on the day New York's summer time
//     ends, 02:30 CEST on Berlin's); time.Date gives the first in New
//     York but the second in Berlin or Lord Howe.
//
// Every place that turns a wall-clock reading an operator or a contact
// wrote into an instant uses it (date() in expressions, ParseInZone).
// Schedules have their own rule (a skipped time fires at the moment of
// the jump; triggers.Next), for a cron names times of every day, not one
// instant.
func WallTime(year int, month time.Month, day, hour, min, sec, nsec int, loc *time.Location) time.Time {
	t := time.Date(year, month, day, hour, min, sec, nsec, loc)
	// wall is the reading asked for (normalized as time.Date does: 25:00
	// is 01:00 of the next day) as a UTC time, to compare readings.
	wall := time.Date(year, month, day, hour, min, sec, nsec, time.UTC)
	if wallOf(t).Equal(wall) {
		// It exists. The clocks may have read it in the zone period
		// before t's too, earlier: the first of a repeated time.
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			if first := wall.Add(-zoneOffset(start.Add(-time.Nanosecond))).In(loc); first.Before(t) && wallOf(first).Equal(wall) {
				return first
			}
		}
		return t
	}
	// Skipped. time.Date read it with one of the two offsets around the
	// gap and landed on the other side of the change: before it with the
	// later offset, or after it with the earlier. Read with t's own
	// offset it lands on the other side; the later of the two is the
	// reading with the offset before the gap.
	if other := wall.Add(-zoneOffset(t)).In(loc); other.After(t) {
		return other
	}
	return t
}

// zoneOffset is t's zone's offset east of UTC.
func zoneOffset(t time.Time) time.Duration {
	_, off := t.Zone()
	return time.Duration(off) * time.Second
}

// wallOf is t's wall-clock reading in its zone, as a UTC time.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// ParseInZone is time.ParseInLocation with WallTime's rule: a text without
// a zone or an offset is a wall-clock reading in loc (a skipped time is
// pushed forward by the gap, a repeated time is the first); a text with
// one is the instant it names, as time.ParseInLocation reads it.
func ParseInZone(layout, value string, loc *time.Location) (time.Time, error) {
	// Read the text in two made-up zones: it names no zone of its own
	// exactly when both readings are in theirs (an offset written in the
	// text could match one of them, not both).
	r1, err := time.ParseInLocation(layout, value, probeZone1)
	if err != nil {
		return time.Time{}, err
	}
	r2, err := time.ParseInLocation(layout, value, probeZone2)
	if err != nil {
		return time.Time{}, err
	}
	if r1.Location() == probeZone1 && r2.Location() == probeZone2 {
		return WallTime(r1.Year(), r1.Month(), r1.Day(), r1.Hour(), r1.Minute(), r1.Second(), r1.Nanosecond(), loc), nil
	}
	return time.ParseInLocation(layout, value, loc)
}

// probeZone1 and probeZone2 are ParseInZone's made-up zones; their names
// keep them apart from the unnamed zones time.FixedZone shares.
var (
	probeZone1 = time.FixedZone("wall clock", 0)
	probeZone2 = time.FixedZone("wall clock", 3600)
)
