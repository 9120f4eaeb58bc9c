package steps

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxflow/wxflow/flows"
	"go.yaml.in/yaml/v3"
)

// TimeRange is an opening range within a day, in minutes after midnight;
// End may be 24*60.
type TimeRange struct{ Start, End int }

// OpenHours is a week of opening ranges, indexed by time.Weekday.
type OpenHours [7][]TimeRange

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// openHoursType accepts `mon-fri: "09:00-18:00"`, `sat: "10:00-14:00"`,
// several ranges as a list or separated by commas, and day lists `sat,sun`.
var openHoursType = flows.Refine(flows.MapOf(flows.OneOf("time ranges", flows.String, flows.ListOf(flows.String, true))),
	"opening hours", "Days (`mon`, `mon-fri`, `sat,sun`; in a `{ }` map quote a day list: `\"sat,sun\": ...`) to ranges (`\"09:00-18:00\"`, or several: `[\"09:00-12:00\", \"13:00-18:00\"]`).",
	func(v any, at flows.Pos, r *flows.Reporter) (any, bool) {
		o := v.(*flows.Object)
		var week OpenHours
		given := map[time.Weekday]bool{}
		ok := true
		for _, k := range o.Keys {
			days, err := parseDays(k)
			if err != nil {
				r.Errorf(o.KeyPos[k], "days are mon, tue, wed, thu, fri, sat, sun; ranges like mon-fri; lists like sat,sun", "%v", err)
				ok = false
				continue
			}
			var texts []string
			switch val := o.Get(k).(type) {
			case string:
				texts = strings.Split(val, ",")
			case []any:
				for _, t := range val {
					texts = append(texts, t.(string))
				}
			}
			var ranges []TimeRange
			for _, t := range texts {
				rg, err := parseRange(strings.TrimSpace(t))
				if err != nil {
					hint := `write ranges as "09:00-18:00"`
					if errors.Is(err, errEmptyRange) {
						hint = `for the whole day, write "00:00-24:00"`
					}
					r.Errorf(o.At(k), hint, "%v", err)
					ok = false
					continue
				}
				ranges = append(ranges, rg)
			}
			for _, d := range days {
				if given[d] {
					r.Errorf(o.KeyPos[k], "give each day once", "%s is given twice", strings.ToLower(d.String()[:3]))
					ok = false
				}
				given[d] = true
				week[d] = append(week[d], ranges...)
			}
		}
		return week, ok
	})

func parseDays(s string) ([]time.Weekday, error) {
	var out []time.Weekday
	for _, part := range strings.Split(s, ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		from, to, isRange := strings.Cut(part, "-")
		a, okA := dayNames[from]
		if !okA {
			return nil, fmt.Errorf("unknown day %q", from)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, okB := dayNames[to]
		if !okB {
			return nil, fmt.Errorf("unknown day %q", to)
		}
		for d := a; ; d = (d + 1) % 7 {
			out = append(out, d)
			if d == b {
				break
			}
		}
	}
	return out, nil
}

// errEmptyRange is a time range that starts and ends at the same time.
var errEmptyRange = errors.New("is empty: it starts and ends at the same time")

func parseRange(s string) (TimeRange, error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return TimeRange{}, fmt.Errorf("invalid time range %q", s)
	}
	a, errA := parseClock(strings.TrimSpace(from))
	b, errB := parseClock(strings.TrimSpace(to))
	if errA != nil || errB != nil {
		return TimeRange{}, fmt.Errorf("invalid time range %q", s)
	}
	if a == b {
		return TimeRange{}, fmt.Errorf("time range %q %w", s, errEmptyRange)
	}
	if a > b {
		return TimeRange{}, fmt.Errorf("time range %q ends before it starts", s)
	}
	return TimeRange{Start: a, End: b}, nil
}

func parseClock(s string) (int, error) {
	if s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

func init() {
	register("hours", hoursStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "hours",
		Summary:     "Branches on business hours: runs when_open or when_closed.",
		ArgRequired: true,
		ArgDoc:      "a map with timezone, open, holidays, workdays",
		Arg:         hoursType,
		Keys: []flows.Field{
			{Name: "when_open", Type: flows.StepsOrRef, Doc: "Steps (or a step id) for when it is open; without it the run goes on. The step needs this key, `when_closed`, or both; when neither has a step, the step does nothing (a warning), and when `open` lists no day, when_open never runs (a warning)."},
			{Name: "when_closed", Type: flows.StepsOrRef, Doc: "Steps (or a step id) for when it is closed; without it the run goes on. The step needs this key, `when_open`, or both; when neither has a step, the step does nothing (a warning)."},
		},
		Check: checkHours,
		Exhaustive: func(s *flows.Step) bool {
			return s.Args.Has("when_open") && s.Args.Has("when_closed")
		},
		Example: `- hours:
    timezone: Asia/Shanghai
    open: { mon-fri: "09:00-18:00", sat: "10:00-14:00" }
    holidays: [2026-10-01, 2026-10-02]
    workdays: [2026-10-10]
  when_closed:
    - send: "We're closed now; we'll answer from 9:00."`,
	})
}

// hoursType is the business hours map of an hours step, and of a team in
// the server's configuration and a scenario's header (ParseHoursNode).
var hoursType = flows.ObjectOf("business hours", "hours",
	flows.Field{Name: "timezone", Type: flows.Timezone, Default: "the server's time zone", Doc: "The zone the hours are in."},
	flows.Field{Name: "open", Type: openHoursType, Required: true, Example: `{ mon-fri: "09:00-18:00" }`, Doc: "Opening hours per day: `mon-fri: \"09:00-18:00\"`, `sat: \"10:00-14:00\"`; days not listed are closed."},
	flows.Field{Name: "holidays", Type: flows.ListOf(flows.DateType, false), Doc: "Dates closed all day; a date listed twice is warned about."},
	flows.Field{Name: "workdays", Type: flows.ListOf(flows.DateType, false), Doc: "Weekend dates that are working days (China's make-up days); they open with Monday-to-Friday's first listed hours; a date listed twice is warned about."},
)

func checkHours(s *flows.Step, r *flows.Reporter) {
	o, _ := s.Arg.(*flows.Object)
	if o == nil {
		return
	}
	if !s.Args.Given("when_open") && !s.Args.Given("when_closed") {
		r.Errorf(s.Pos, "add when_open: or when_closed:, each a list of steps or a step id", "hours has neither when_open: nor when_closed:")
	}
	if week, ok := o.Get("open").(OpenHours); ok && week.Never() && s.Args.Given("when_open") {
		r.Warnf(o.At("open"), `give the opening hours, e.g. open: { mon-fri: "09:00-18:00" }, or remove when_open:`,
			"open: lists no day, so it is always closed and when_open: (line %d) never runs", s.Args.KeyPos["when_open"].Line)
	}
	if nothing(s.Args, "when_open") && nothing(s.Args, "when_closed") && (s.Args.Has("when_open") || s.Args.Has("when_closed")) {
		what := "when_open: and when_closed: have no steps"
		switch {
		case !s.Args.Given("when_closed"):
			what = "when_open: has no steps, and there is no when_closed:"
		case !s.Args.Given("when_open"):
			what = "when_closed: has no steps, and there is no when_open:"
		}
		r.Warnf(s.Pos, "give when_open: or when_closed: the steps to do, or remove the hours step", "this hours step does nothing: %s", what)
	}
	checkHoursDates(o, r)
}

// nothing reports whether key of an hours step leads nowhere: it is an
// empty list of steps, or not given.
func nothing(a *flows.Object, key string) bool {
	if !a.Given(key) {
		return true
	}
	t, ok := a.Get(key).(*flows.Target)
	return ok && t.Ref == "" && len(t.Steps) == 0
}

// checkHoursDates checks holidays and workdays against each other and
// against the opening hours.
func checkHoursDates(o *flows.Object, r *flows.Reporter) {
	holidays := map[string]bool{}
	if hs, ok := o.Get("holidays").([]any); ok {
		for _, h := range hs {
			d := h.(flows.Date)
			if holidays[d.String()] {
				r.Warnf(o.At("holidays"), "drop the second one (a date listed twice is one holiday; was another date meant?)", "%s is listed twice in holidays", d)
			}
			holidays[d.String()] = true
		}
	}
	week, weekOK := o.Get("open").(OpenHours)
	hasWeekday := false
	for d := time.Monday; d <= time.Friday; d++ {
		hasWeekday = hasWeekday || len(week[d]) > 0
	}
	if ws, ok := o.Get("workdays").([]any); ok {
		workdays := map[string]bool{}
		for _, w := range ws {
			d := w.(flows.Date)
			if workdays[d.String()] {
				r.Warnf(o.At("workdays"), "drop the second one (a date listed twice is one workday; was another date meant?)", "%s is listed twice in workdays", d)
			}
			workdays[d.String()] = true
			if holidays[d.String()] {
				r.Errorf(o.At("workdays"), "a date is either a holiday or a workday", "%s is both a holiday and a workday", d)
			}
			if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
				r.Warnf(o.At("workdays"), "workdays: are weekend dates that are working days", "%s is a %s, not a weekend day", d, wd)
			}
		}
		if len(ws) > 0 && weekOK && !hasWeekday {
			r.Errorf(o.At("workdays"), "give Monday-to-Friday hours in open:", "workdays open with weekday hours, but open: has none")
		}
	}
}

// Never reports whether the week has no opening hours at all.
func (w OpenHours) Never() bool {
	for _, rs := range w {
		if len(rs) > 0 {
			return false
		}
	}
	return true
}

// WorkdayHours returns the ranges a make-up workday opens with: those of
// the first weekday, Monday to Friday, that has any.
func (w OpenHours) WorkdayHours() []TimeRange {
	for d := time.Monday; d <= time.Friday; d++ {
		if len(w[d]) > 0 {
			return w[d]
		}
	}
	return nil
}

// Hours are the business hours of an hours step.
type Hours struct {
	// Location is the zone the hours are in; nil means the zone of the
	// time asked about (the engine gives times in the server's zone).
	Location *time.Location
	// Week holds each weekday's opening ranges.
	Week OpenHours
	// Holidays are dates closed all day.
	Holidays []flows.Date
	// Workdays are weekend dates that open with Week.WorkdayHours().
	Workdays []flows.Date
}

// HoursOf returns the business hours an hours step was given.
func HoursOf(s *flows.Step) (*Hours, error) {
	o, _ := s.Arg.(*flows.Object)
	return hoursOf(o)
}

// ParseHoursNode parses a team's hours in the server's configuration or a
// scenario's header: the same map as an hours step's (timezone, open,
// holidays, workdays), with the same checks. A missing or null node, or an
// empty map, means always on shift: (nil, nil). The error, when there is
// one, is a flows.Diagnostics of errors, each with the node's line and
// column, a message and a hint but no File: set File on each (errors.As)
// to place them in a file. Warnings (a workday that is not a weekend day)
// are left out.
func ParseHoursNode(n *yaml.Node) (*Hours, error) {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") ||
		(n.Kind == yaml.MappingNode && len(n.Content) == 0) {
		return nil, nil
	}
	v, diags := flows.ParseValue(hoursType, n, func(v any, r *flows.Reporter) {
		if o, _ := v.(*flows.Object); o != nil {
			checkHoursDates(o, r)
		}
	})
	var errs flows.Diagnostics
	for _, d := range diags {
		if d.Severity == flows.SeverityError {
			errs = append(errs, d)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	o, _ := v.(*flows.Object)
	return hoursOf(o)
}

func hoursOf(o *flows.Object) (*Hours, error) {
	if o == nil {
		return nil, errors.New("no business hours")
	}
	h := &Hours{}
	h.Location, _ = o.Get("timezone").(*time.Location)
	week, ok := o.Get("open").(OpenHours)
	if !ok {
		return nil, errors.New("no opening hours")
	}
	h.Week = week
	h.Holidays = dates(o.Get("holidays"))
	h.Workdays = dates(o.Get("workdays"))
	return h, nil
}

func dates(v any) []flows.Date {
	list, _ := v.([]any)
	out := make([]flows.Date, 0, len(list))
	for _, x := range list {
		if d, ok := x.(flows.Date); ok {
			out = append(out, d)
		}
	}
	return out
}

// Open reports whether the business is open at t: t's wall clock in the
// hours' zone falls in one of its day's ranges (start included, end
// excluded), the day is not a holiday, and a make-up workday on a weekend
// has the weekday hours.
func (h *Hours) Open(t time.Time) bool {
	if h.Location != nil {
		t = t.In(h.Location)
	}
	if onDate(h.Holidays, t) {
		return false
	}
	ranges := h.Week[t.Weekday()]
	if wd := t.Weekday(); (wd == time.Saturday || wd == time.Sunday) && onDate(h.Workdays, t) {
		ranges = h.Week.WorkdayHours()
	}
	minute := t.Hour()*60 + t.Minute()
	for _, r := range ranges {
		if minute >= r.Start && minute < r.End {
			return true
		}
	}
	return false
}

// onDate reports whether t's calendar date (in t's zone) is in list.
func onDate(list []flows.Date, t time.Time) bool {
	y, m, d := t.Date()
	for _, x := range list {
		if xy, xm, xd := x.Date(); xy == y && xm == m && xd == d {
			return true
		}
	}
	return false
}

// hoursStep branches on business hours.
type hoursStep struct{}

// Run takes when_open or when_closed by whether it is open now; an absent
// one goes on.
func (hoursStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	h, err := HoursOf(s)
	if err != nil {
		return Outcome{}, fmt.Errorf("hours: %w", err)
	}
	key := "when_closed"
	if h.Open(rt.Now()) {
		key = "when_open"
	}
	t, _ := s.Args.Get(key).(*flows.Target)
	return TargetOutcome(t), nil
}
