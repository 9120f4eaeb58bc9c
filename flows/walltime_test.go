package flows_test

import (
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// wallCases are readings where zones change their clocks (2026), with the
// instant each must be: a skipped time pushed forward by the gap, a
// repeated time its first occurrence. time.Date gave 01:30 EST for New
// York's 02:30, 01:00 for Beirut's midnight (right by luck), 01:45 for Lord
// Howe's 02:15, and the second occurrence in Berlin and Lord Howe.
var wallCases = []struct {
	zone, text string // text: 2006-01-02 15:04
	want       string // RFC 3339
}{
	// New York, spring forward 8 March 02:00 EST -> 03:00 EDT.
	{"America/New_York", "2026-03-08 02:30", "2026-03-08T03:30:00-04:00"},
	{"America/New_York", "2026-03-08 02:00", "2026-03-08T03:00:00-04:00"},
	{"America/New_York", "2026-03-08 01:59", "2026-03-08T01:59:00-05:00"},
	{"America/New_York", "2026-03-08 03:00", "2026-03-08T03:00:00-04:00"},
	// New York, fall back 1 November 02:00 EDT -> 01:00 EST: the first.
	{"America/New_York", "2026-11-01 01:30", "2026-11-01T01:30:00-04:00"},
	{"America/New_York", "2026-11-01 01:00", "2026-11-01T01:00:00-04:00"},
	{"America/New_York", "2026-11-01 02:00", "2026-11-01T02:00:00-05:00"},
	// Berlin, fall back 25 October 03:00 CEST -> 02:00 CET: the first.
	{"Europe/Berlin", "2026-10-25 02:30", "2026-10-25T02:30:00+02:00"},
	{"Europe/Berlin", "2026-03-29 02:30", "2026-03-29T03:30:00+02:00"},
	// Lord Howe: half-hour changes. Spring forward 4 October 02:00 ->
	// 02:30 (+10:30 -> +11), fall back 5 April 02:00 -> 01:30.
	{"Australia/Lord_Howe", "2026-10-04 02:15", "2026-10-04T02:45:00+11:00"},
	{"Australia/Lord_Howe", "2026-10-04 02:00", "2026-10-04T02:30:00+11:00"},
	{"Australia/Lord_Howe", "2026-10-04 02:30", "2026-10-04T02:30:00+11:00"},
	{"Australia/Lord_Howe", "2026-04-05 01:45", "2026-04-05T01:45:00+11:00"},
	// Beirut: the clocks go from 00:00 to 01:00 on 29 March.
	{"Asia/Beirut", "2026-03-29 00:00", "2026-03-29T01:00:00+03:00"},
	{"Asia/Beirut", "2026-03-29 00:30", "2026-03-29T01:30:00+03:00"},
	{"Asia/Beirut", "2026-03-28 23:59", "2026-03-28T23:59:00+02:00"},
	// Shanghai changes nothing.
	{"Asia/Shanghai", "2026-03-08 02:30", "2026-03-08T02:30:00+08:00"},
	{"Asia/Shanghai", "2026-11-01 01:30", "2026-11-01T01:30:00+08:00"},
	{"UTC", "2026-03-08 02:30", "2026-03-08T02:30:00Z"},
}

func TestWallTime(t *testing.T) {
	t.Parallel()
	for _, tc := range wallCases {
		loc := mustZone(t, tc.zone)
		w, err := time.Parse("2006-01-02 15:04", tc.text)
		if err != nil {
			t.Fatal(err)
		}
		got := flows.WallTime(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, loc)
		if got.Format(time.RFC3339) != tc.want || got.Location() != loc {
			t.Errorf("WallTime(%s in %s) = %s (%s), want %s", tc.text, tc.zone, got.Format(time.RFC3339), got.Location(), tc.want)
		}
		p, err := flows.ParseInZone("2006-01-02 15:04", tc.text, loc)
		if err != nil || p.Format(time.RFC3339) != tc.want {
			t.Errorf("ParseInZone(%s in %s) = %s, %v; want %s", tc.text, tc.zone, p.Format(time.RFC3339), err, tc.want)
		}
	}
	// time.Date's normalization is kept: 24:30 is 00:30 the next day, and
	// so skipped in Beirut.
	beirut := mustZone(t, "Asia/Beirut")
	if got := flows.WallTime(2026, 3, 28, 24, 30, 0, 0, beirut).Format(time.RFC3339); got != "2026-03-29T01:30:00+03:00" {
		t.Errorf("24:30 = %s", got)
	}
}

// TestParseInZoneKeepsWrittenZones: a text with its own offset or zone
// names that instant, whatever loc does at that wall-clock time.
func TestParseInZoneKeepsWrittenZones(t *testing.T) {
	t.Parallel()
	ny := mustZone(t, "America/New_York")
	berlin := mustZone(t, "Europe/Berlin")
	for _, tc := range []struct {
		layout, text string
		loc          *time.Location
		want         string
	}{
		{time.RFC3339, "2026-03-08T02:30:00-05:00", ny, "2026-03-08T07:30:00Z"},
		{time.RFC3339, "2026-03-08T02:30:00Z", ny, "2026-03-08T02:30:00Z"},
		{time.RFC3339, "2026-03-08T02:30:00+00:00", ny, "2026-03-08T02:30:00Z"},
		{time.RFC3339, "2026-03-08T02:30:00+01:00", ny, "2026-03-08T01:30:00Z"},
		{"2006-01-02 15:04 MST", "2026-10-25 02:30 CET", berlin, "2026-10-25T01:30:00Z"},
		{"2006-01-02 15:04 MST", "2026-10-25 02:30 CEST", berlin, "2026-10-25T00:30:00Z"},
		{"2006-01-02 15:04 MST", "2026-11-01 01:30 EST", ny, "2026-11-01T06:30:00Z"},
		{"2006-01-02 15:04 MST", "2026-11-01 01:30 EDT", ny, "2026-11-01T05:30:00Z"},
	} {
		got, err := flows.ParseInZone(tc.layout, tc.text, tc.loc)
		if err != nil || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("ParseInZone(%q, %q) = %v, %v; want %s", tc.layout, tc.text, got, err, tc.want)
		}
	}
	if _, err := flows.ParseInZone("2006-01-02", "2026-13-01", ny); err == nil {
		t.Error("month 13: no error")
	}
}

// TestDateAcrossClockChanges: date() turns a wall-clock time into an
// instant by WallTime's rule, with a zone given and in the server's zone
// (that of now). Found from outside: date("2026-03-08 02:30", "2006-01-02
// 15:04", "America/New_York") was 01:30 EST, an hour early, so a wait
// until it woke at once at 01:50.
func TestDateAcrossClockChanges(t *testing.T) {
	t.Parallel()
	src := `name: a
triggers: [{keyword: [go]}]
steps:
  - send: "${date('2026-03-08 02:30', '2006-01-02 15:04', 'America/New_York')} ${date('2026-03-08 02:30:00')} ${date('2026-11-01 01:30', '2006-01-02 15:04')} ${date('2026-03-29', '2006-01-02', 'Asia/Beirut')} ${date('2026-03-29', '2006-01-02', 'Asia/Shanghai')} ${date('2026-03-08T02:30:00-05:00')}"
`
	f, diags := load(t, src, flows.Options{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	ny := mustZone(t, "America/New_York")
	got, err := f.Steps[0].Arg.(*flows.Message).Text.Render(&flows.Env{Now: time.Date(2026, 3, 8, 1, 50, 0, 0, ny)})
	want := "2026-03-08T03:30:00-04:00 2026-03-08T03:30:00-04:00 2026-11-01T01:30:00-04:00 2026-03-29T01:00:00+03:00 2026-03-29T00:00:00+08:00 2026-03-08T02:30:00-05:00"
	if err != nil || got != want {
		t.Fatalf("got  %q, %v\nwant %q", got, err, want)
	}
}
