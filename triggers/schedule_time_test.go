package triggers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/triggers"
)

// scheduleTrigger loads a flow with one schedule trigger whose argument
// lines (indented under schedule:) are given, and returns the trigger.
func scheduleTrigger(tb testing.TB, lines ...string) *flows.Trigger {
	tb.Helper()
	src := "name: s\ntriggers:\n  - schedule:\n"
	for _, l := range lines {
		src += "      " + l + "\n"
	}
	src += "steps: [end]\n"
	return loadFlow(tb, src).Triggers[0]
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// nextCase is a case of TestNext (and a seed of FuzzNext): the schedule's
// argument lines, the server's zone, after and the firing wanted.
type nextCase struct {
	name   string
	lines  []string
	server *time.Location
	after  string
	want   string
}

func nextCases(tb testing.TB) []nextCase {
	tb.Helper()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		tb.Fatal(err)
	}
	mondayNine := []string{`cron: "0 9 * * mon"`, "timezone: Asia/Shanghai"}
	newYorkNine := []string{`cron: "0 9 * * *"`, "timezone: America/New_York"}
	nyAt := func(minuteHour string) []string {
		return []string{`cron: "` + minuteHour + ` * * *"`, "timezone: America/New_York"}
	}
	everyMinute := []string{`cron: "* * * * *"`, "timezone: UTC"}
	return []nextCase{
		// 2026-11-20 is a Friday; 09:00 in Shanghai is 01:00 UTC.
		{"weekly in Shanghai from a UTC time", mondayNine, nil, "2026-11-20T00:00:00Z", "2026-11-23T01:00:00Z"},
		{"the same day when the zone's time is still before", mondayNine, nil, "2026-11-23T00:59:59Z", "2026-11-23T01:00:00Z"},
		{"Sunday evening UTC is already Monday in Shanghai", mondayNine, nil, "2026-11-22T20:00:00Z", "2026-11-23T01:00:00Z"},
		{"Monday 09:30 in Shanghai is Monday 01:30 UTC: next week", mondayNine, nil, "2026-11-23T01:30:00Z", "2026-11-30T01:00:00Z"},
		{"exactly on a firing: the next one", mondayNine, nil, "2026-11-23T01:00:00Z", "2026-11-30T01:00:00Z"},
		{"just before a firing", mondayNine, nil, "2026-11-23T00:59:59.999Z", "2026-11-23T01:00:00Z"},
		{"just after a firing", mondayNine, nil, "2026-11-23T01:00:00.001Z", "2026-11-30T01:00:00Z"},
		// Both day fields name days: either fires, and a step names days
		// (2026-12-14 is an even Monday, 2026-12-13 an odd Sunday).
		{"day of month or day of week", []string{`cron: "0 0 */2 * mon"`, "timezone: UTC"}, nil, "2026-12-13T00:00:00Z", "2026-12-14T00:00:00Z"},
		{"day of month with any day of the week", []string{`cron: "0 0 */2 * *"`, "timezone: UTC"}, nil, "2026-12-13T00:00:00Z", "2026-12-15T00:00:00Z"},
		// New York moves from EST (UTC-5) to EDT (UTC-4) on 2026-03-08.
		{"before the March change: EST", newYorkNine, nil, "2026-03-07T00:00:00Z", "2026-03-07T14:00:00Z"},
		{"across the March change: EDT", newYorkNine, nil, "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"},
		{"after the March change", newYorkNine, nil, "2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"},
		{"across the November change: EST again", newYorkNine, nil, "2026-10-31T13:00:00Z", "2026-11-01T14:00:00Z"},
		// Clock changes with fixed hours: once per wall-clock time.
		{"02:30 does not exist on 8 March: fires at the jump", nyAt("30 2"), nil, "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"},
		{"after the jump, the next day", nyAt("30 2"), nil, "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
		{"an hour the jump does not skip", nyAt("0 4"), nil, "2026-03-08T05:00:00Z", "2026-03-08T08:00:00Z"},
		{"01:30 happens twice on 1 November: the first", nyAt("30 1"), nil, "2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z"},
		{"01:30 happens twice on 1 November: not the second", nyAt("30 1"), nil, "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"within the repeated hour", nyAt("30 1"), nil, "2026-11-01T06:15:00Z", "2026-11-02T06:30:00Z"},
		{"an hour after the repeated one", nyAt("30 2"), nil, "2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z"},
		// Clocks that change at midnight or by half an hour: the cron's
		// days are the zone's dates, its hours that date's clock.
		{"Beirut skips Sunday 29 March's midnight: Sunday 09:00 still fires", []string{`cron: "0 9 * * sun"`, "timezone: Asia/Beirut"}, nil, "2026-03-22T07:00:00Z", "2026-03-29T06:00:00Z"},
		{"Beirut, every hour of that Sunday: from 01:00", []string{`cron: "0 * * * sun"`, "timezone: Asia/Beirut"}, nil, "2026-03-28T12:00:00Z", "2026-03-28T22:00:00Z"},
		{"Santiago skips Sunday 6 September's midnight: a Saturday cron waits for Saturday", []string{`cron: "0 9 * * sat"`, "timezone: America/Santiago"}, nil, "2026-09-05T13:00:00Z", "2026-09-12T12:00:00Z"},
		{"Havana skips Sunday 8 March's midnight: a Saturday cron waits for Saturday", []string{`cron: "0 9 * * sat"`, "timezone: America/Havana"}, nil, "2026-03-07T14:00:00Z", "2026-03-14T13:00:00Z"},
		{"Lord Howe goes back half an hour on 5 April: 09:00 still fires", []string{`cron: "0 9 * * *"`, "timezone: Australia/Lord_Howe"}, nil, "2026-04-03T22:00:00Z", "2026-04-04T22:30:00Z"},
		{"Lord Howe goes forward half an hour on 4 October: 09:00 still fires", []string{`cron: "0 9 * * *"`, "timezone: Australia/Lord_Howe"}, nil, "2026-10-02T22:30:00Z", "2026-10-03T22:00:00Z"},
		{"Lord Howe, 4 October: 01:30 fires once, not again at 02:30", []string{`cron: "30 1 * * *"`, "timezone: Australia/Lord_Howe"}, nil, "2026-10-03T15:00:00Z", "2026-10-04T14:30:00Z"},
		{"Lord Howe skips 02:15 on 4 October: fires at the jump", []string{`cron: "15 2 * * *"`, "timezone: Australia/Lord_Howe"}, nil, "2026-10-03T15:00:00Z", "2026-10-03T15:30:00Z"},
		{"Lord Howe repeats 01:45 on 5 April: the first only", []string{`cron: "45 1 * * *"`, "timezone: Australia/Lord_Howe"}, nil, "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"},
		// Crons over every hour follow the clock as it is.
		{"every half hour through the repeated hour", []string{`cron: "*/30 * * * *"`, "timezone: America/New_York"}, nil, "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z"},
		{"every half hour across the jump", []string{`cron: "*/30 * * * *"`, "timezone: America/New_York"}, nil, "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"},
		{"every minute", everyMinute, nil, "2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"},
		{"every minute, within a minute", everyMinute, nil, "2026-01-01T10:00:30.5Z", "2026-01-01T10:01:00Z"},
		{"every minute, across midnight and the year", everyMinute, nil, "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"},
		{"every five minutes", []string{`cron: "*/5 * * * *"`}, nil, "2026-01-01T10:04:59Z", "2026-01-01T10:05:00Z"},
		{"no timezone: the server's", []string{`cron: "0 9 * * *"`}, shanghai, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"},
		{"no timezone and no server zone: UTC", []string{`cron: "0 9 * * *"`}, nil, "2026-01-01T00:00:00Z", "2026-01-01T09:00:00Z"},
		{"timezone: wins over the server's", []string{`cron: "0 9 * * *"`, "timezone: UTC"}, shanghai, "2026-01-01T00:00:00Z", "2026-01-01T09:00:00Z"},
		{"a date that comes every four years", []string{`cron: "0 0 29 2 *"`, "timezone: UTC"}, nil, "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
	}
}

func TestNext(t *testing.T) {
	t.Parallel()
	for _, tt := range nextCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := scheduleTrigger(t, tt.lines...)
			after := utc(tt.after)
			got := triggers.Next(tr, after, tt.server)
			if !got.Equal(utc(tt.want)) {
				t.Errorf("Next after %s = %s, want %s", tt.after, got.Format(time.RFC3339Nano), tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("Next returned %s, not UTC", got.Location())
			}
			// The zone after is given in does not matter.
			if again := triggers.Next(tr, after.In(time.FixedZone("X", -7*3600)), tt.server); !again.Equal(got) {
				t.Errorf("Next depends on the zone of after: %s vs %s", again, got)
			}
		})
	}
}

// TestNextOncePerDay checks, over two years of zones whose clocks change
// by an hour, by half an hour or at midnight, that a daily cron fires once
// on each of the zone's dates and a weekly one once on each of its
// Sundays and on no other day.
func TestNextOncePerDay(t *testing.T) {
	t.Parallel()
	zones := []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "America/Havana", "Asia/Beirut", "Africa/Cairo", "Pacific/Chatham", "Asia/Shanghai"}
	for _, zn := range zones {
		loc, err := time.LoadLocation(zn)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"30 2 * * *", "0 9 * * *", "0 0 * * sun", "0 9 * * sun"} {
			tr := scheduleTrigger(t, `cron: "`+c+`"`, "timezone: "+zn)
			start := time.Date(2026, 1, 1, 12, 0, 0, 0, loc)
			end := time.Date(2028, 1, 1, 0, 0, 0, 0, loc)
			fired := map[string]int{}
			for a := start; ; {
				a = triggers.Next(tr, a, nil)
				if a.IsZero() || !a.Before(end) {
					break
				}
				fired[a.In(loc).Format(time.DateOnly)]++
			}
			for d := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC); d.Year() < 2028; d = d.AddDate(0, 0, 1) {
				want := 1
				if strings.HasSuffix(c, "sun") && d.Weekday() != time.Sunday {
					want = 0
				}
				if got := fired[d.Format(time.DateOnly)]; got != want {
					t.Errorf("%s %q: fired %d times on %s, want %d", zn, c, got, d.Format("Mon 2006-01-02"), want)
				}
			}
		}
	}
}

func TestNextWithoutSchedule(t *testing.T) {
	t.Parallel()
	f := flow(t, "a", "- follow")
	if got := triggers.Next(f.Triggers[0], utc("2026-01-01T00:00:00Z"), nil); !got.IsZero() {
		t.Errorf("Next of a follow trigger = %s", got)
	}
	if got := triggers.Next(nil, utc("2026-01-01T00:00:00Z"), nil); !got.IsZero() {
		t.Errorf("Next of nil = %s", got)
	}
	// A cron that cannot fire (30 February; validation refuses it, so
	// it is put in by hand) gives the zero time.
	tr := scheduleTrigger(t, `cron: "0 0 29 2 *"`)
	never, err := cron.ParseStandard("0 0 30 2 *")
	if err != nil {
		t.Fatal(err)
	}
	tr.Arg.(*flows.Object).Get("cron").(*flows.Cron).Schedule = never
	if got := triggers.Next(tr, utc("2026-01-01T00:00:00Z"), nil); !got.IsZero() {
		t.Errorf("Next of a cron that never fires = %s", got)
	}
}

func TestNextWithZoneName(t *testing.T) {
	t.Parallel()
	// Triggers built by hand may name the zone instead of loading it.
	tr := scheduleTrigger(t, `cron: "0 9 * * *"`)
	o := tr.Arg.(*flows.Object)
	hand := &flows.Trigger{Kind: "schedule", Arg: &flows.Object{
		Keys:   []string{"cron", "timezone"},
		Values: map[string]any{"cron": o.Get("cron"), "timezone": "Asia/Tokyo"},
	}}
	if got, want := triggers.Next(hand, utc("2026-01-01T00:00:00Z"), nil), utc("2026-01-02T00:00:00Z"); !got.Equal(want) {
		t.Errorf("Next = %s, want %s", got, want)
	}
}

func TestAudience(t *testing.T) {
	t.Parallel()
	tr := scheduleTrigger(t, `cron: "0 9 * * *"`, `audience: "'weekly' in contact.tags"`)
	if a := triggers.Audience(tr); a == nil || a.Src != "'weekly' in contact.tags" {
		t.Errorf("Audience = %+v", a)
	}
	if a := triggers.Audience(scheduleTrigger(t, `cron: "0 9 * * *"`)); a != nil {
		t.Errorf("Audience without audience: = %+v", a)
	}
	if a := triggers.Audience(flow(t, "a", "- follow").Triggers[0]); a != nil {
		t.Errorf("Audience of a follow = %+v", a)
	}
	if a := triggers.Audience(nil); a != nil {
		t.Errorf("Audience of nil = %+v", a)
	}
}
