package flows

import (
	"fmt"
	"strconv"
	"strings"
)

// cronField describes one of the five fields of a cron expression.
type cronField struct {
	name     string // as the docs name it
	plural   string // what its values count
	one      string // one value, with its article
	min, max int
	names    []string // names accepted for values, from min (months, days)
}

var cronFields = []cronField{
	{name: "minute", plural: "minutes", one: "a minute", min: 0, max: 59},
	{name: "hour", plural: "hours", one: "an hour", min: 0, max: 23},
	{name: "day-of-month", plural: "days of the month", one: "a day of the month", min: 1, max: 31},
	{name: "month", plural: "months", one: "a month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day-of-week", plural: "days of the week", one: "a day of the week", min: 0, max: 6, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

const cronFieldsHint = `five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * mon-fri"`

// cronError is a problem in a cron expression, in the docs' words, with
// the byte offset inside the expression where it is.
type cronError struct {
	msg, hint string
	off       int
	// whole marks a problem of the expression as a whole (off is 0).
	whole bool
}

// checkCron reads a cron expression field by field, as the docs describe
// it, and returns its first problem, or nil. Each field is `*`, a value, a
// range `a-b`, any of them with a step `/n`, or a comma-separated list of
// those; months and days of the week may be written as names (jan, mon).
func checkCron(src string) *cronError {
	if strings.HasPrefix(strings.TrimSpace(src), "@") {
		return &cronError{msg: fmt.Sprintf("%s is not supported", strings.Fields(src)[0]), hint: `write five fields instead, e.g. "0 0 * * *" for every day at midnight`, whole: true}
	}
	type span struct {
		text string
		off  int
	}
	var fields []span
	for i := 0; i < len(src); {
		if src[i] == ' ' || src[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(src) && src[j] != ' ' && src[j] != '\t' {
			j++
		}
		fields = append(fields, span{src[i:j], i})
		i = j
	}
	if len(fields) != len(cronFields) {
		hint := cronFieldsHint
		if len(fields) == 6 {
			hint = "there is no seconds field: drop the first one; " + hint
		}
		return &cronError{msg: fmt.Sprintf("%d fields, not 5", len(fields)), hint: hint, whole: true}
	}
	for i, f := range fields {
		spec := cronFields[i]
		off := f.off
		for _, part := range strings.Split(f.text, ",") {
			if e := spec.checkPart(part); e != nil {
				e.off += off
				return e
			}
			off += len(part) + 1
		}
	}
	return nil
}

// checkPart checks one comma-separated part of a field.
func (c cronField) checkPart(part string) *cronError {
	if part == "" {
		return &cronError{msg: fmt.Sprintf("%s: empty item in the list", c.name), hint: "separate values with commas and no spaces, e.g. 1,15"}
	}
	rng, step, hasStep := strings.Cut(part, "/")
	if hasStep {
		n, err := strconv.Atoi(step)
		if err != nil || n < 1 {
			return &cronError{msg: fmt.Sprintf("%s: step %q must be a whole number of at least 1", c.name, step), hint: fmt.Sprintf("e.g. */15 for every 15 %s", c.plural), off: len(rng) + 1}
		}
	}
	if rng == "*" || rng == "?" {
		return nil
	}
	lo, hi, isRange := strings.Cut(rng, "-")
	a, e := c.value(lo)
	if e != nil {
		return e
	}
	if !isRange {
		return nil
	}
	b, e := c.value(hi)
	if e != nil {
		e.off += len(lo) + 1
		return e
	}
	if a > b {
		return &cronError{msg: fmt.Sprintf("%s: range %s runs backwards", c.name, rng), hint: fmt.Sprintf("write the smaller first, or two ranges with a comma (%s-%s,%s-%s)", lo, c.show(c.max), c.show(c.min), hi)}
	}
	return nil
}

// value reads one value of the field: a number in its range, or a name.
func (c cronField) value(s string) (int, *cronError) {
	for i, n := range c.names {
		if strings.EqualFold(s, n) {
			return c.min + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		hint := fmt.Sprintf("%s are %d-%d", c.plural, c.min, c.max)
		if len(c.names) > 0 {
			hint += " or " + strings.Join(c.names, ", ")
			if h := didYouMean(strings.ToLower(s), c.names); h != "" {
				hint = h
			}
		}
		if s == "" {
			return 0, &cronError{msg: fmt.Sprintf("%s: a range needs a value on both sides of -", c.name), hint: hint}
		}
		return 0, &cronError{msg: fmt.Sprintf("%s: %q is not %s", c.name, s, c.one), hint: hint}
	}
	if n < c.min || n > c.max {
		hint := fmt.Sprintf("%s are %d-%d", c.plural, c.min, c.max)
		if c.name == "day-of-week" && n == 7 {
			hint = "Sunday is 0 (or sun); days of the week are 0-6"
		}
		return 0, &cronError{msg: fmt.Sprintf("%s %d is out of range", c.name, n), hint: hint}
	}
	return n, nil
}

// show writes a value of the field as the docs would: a name when the
// field has names.
func (c cronField) show(v int) string {
	if len(c.names) > 0 {
		return c.names[v-c.min]
	}
	return strconv.Itoa(v)
}
