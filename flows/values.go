package flows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
)

// A run's variables, its answer and a contact's fields are kept as JSON
// between steps, and JSON has no times, no durations, no integers beyond
// what a float64 holds exactly and no infinities. StoredValue writes such
// a value as a one-key object naming its kind ({"$time": "..."},
// {"$int": "..."}, {"$float": "+Inf"}, {"$duration": "1h30m0s"}), and
// LiveValue reads it back, so that a value is the same after a run waits
// (or after a restart) as before: a time stays a time, an order number
// keeps its digits. A map of one key that starts with "$" is escaped as
// {"$map": {...}}, so that no value of a flow reads back as another.

// maxExactInt is the largest integer a float64 holds exactly (2^53).
const maxExactInt = 1 << 53

// StoredValue returns v with the values JSON cannot keep written as
// tagged objects; v itself is not changed (a map or a list that needs it
// is copied).
func StoredValue(v any) any {
	out, _ := stored(v)
	return out
}

// stored returns v's stored form and whether it differs from v.
func stored(v any) (any, bool) {
	switch x := v.(type) {
	case nil, string, bool:
		return v, false
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return map[string]any{"$float": strconv.FormatFloat(x, 'g', -1, 64)}, true
		}
		return v, false
	case int:
		return storedInt(int64(x), v)
	case int64:
		return storedInt(x, v)
	case time.Time:
		return map[string]any{"$time": x.Format(time.RFC3339Nano)}, true
	case *time.Time:
		if x == nil {
			return nil, true
		}
		return map[string]any{"$time": x.Format(time.RFC3339Nano)}, true
	case time.Duration:
		return map[string]any{"$duration": x.String()}, true
	case map[string]any:
		var out map[string]any // a copy, made at the first change
		for k, e := range x {
			if s, changed := stored(e); changed {
				if out == nil {
					out = maps.Clone(x)
				}
				out[k] = s
			}
		}
		changed := out != nil
		if out == nil {
			out = x
		}
		if len(out) == 1 {
			for k := range out {
				if strings.HasPrefix(k, "$") {
					return map[string]any{"$map": out}, true
				}
			}
		}
		return out, changed
	case []any:
		var out []any
		for i, e := range x {
			s, changed := stored(e)
			if changed && out == nil {
				out = append(make([]any, 0, len(x)), x[:i]...)
			}
			if out != nil {
				out = append(out, s)
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	}
	return v, false
}

// storedInt keeps an integer a float64 holds exactly as a JSON number.
func storedInt(i int64, v any) (any, bool) {
	if i >= -maxExactInt && i <= maxExactInt {
		return v, false
	}
	return map[string]any{"$int": strconv.FormatInt(i, 10)}, true
}

// LiveValue reads back what StoredValue wrote (after encoding/json
// decoded it into maps, lists and float64s): tagged objects become their
// values again. It changes maps and lists in place.
func LiveValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, e := range x {
				if t, ok := tagged(k, e); ok {
					return t
				}
			}
		}
		for k, e := range x {
			x[k] = LiveValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = LiveValue(e)
		}
	}
	return v
}

// tagged reads one tagged object's value.
func tagged(k string, e any) (any, bool) {
	if k == "$map" {
		if m, ok := e.(map[string]any); ok {
			for k2, e2 := range m {
				m[k2] = LiveValue(e2)
			}
			return m, true
		}
		return nil, false
	}
	s, ok := e.(string)
	if !ok {
		return nil, false
	}
	switch k {
	case "$time":
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
	case "$int":
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
	case "$float":
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, true
		}
	case "$duration":
		if d, err := time.ParseDuration(s); err == nil {
			return d, true
		}
	}
	return nil, false
}

// DecodeJSONValue decodes a JSON document into maps, lists, texts,
// booleans and numbers as encoding/json does, except that an integer
// beyond what a float64 holds exactly (2^53: order numbers, snowflake
// IDs) keeps its digits: an int64 when it fits, else the text of its
// digits.
func DecodeJSONValue(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("more after the JSON value at offset %d", d.InputOffset())
	}
	return numbers(v)
}

// numbers turns the json.Numbers of a decoded value into float64s, or
// exact integers where a float64 would round them. A number no float64
// holds (1e400) is an error, as encoding/json makes it.
func numbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			i, err := strconv.ParseInt(s, 10, 64)
			switch {
			case err == nil && i >= -maxExactInt && i <= maxExactInt:
				return float64(i), nil
			case err == nil:
				return i, nil
			case errors.Is(err, strconv.ErrRange):
				// Kept exact as its text, within float64's range as
				// encoding/json has it (an integer of 309 digits or more
				// is an error there, as 1e400 is).
				if _, err := strconv.ParseFloat(s, 64); err != nil {
					return nil, fmt.Errorf("number %s: %w", s, err)
				}
				return s, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", s, err)
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			n, err := numbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	case []any:
		for i, e := range x {
			n, err := numbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	}
	return v, nil
}

// StoredValues is StoredValue of each of a map's values (variables,
// fields: their names are never escaped); m is not changed.
func StoredValues(m map[string]any) map[string]any {
	var out map[string]any
	for k, e := range m {
		if s, changed := stored(e); changed {
			if out == nil {
				out = maps.Clone(m)
			}
			out[k] = s
		}
	}
	if out == nil {
		return m
	}
	return out
}

// LiveValues is LiveValue of each of a map's values, in place.
func LiveValues(m map[string]any) {
	for k, e := range m {
		m[k] = LiveValue(e)
	}
}

// JSONShape turns what a YAML decoder gives for a value into the shapes
// JSON carries, as the API and the store give them back: maps with text
// keys ({1: a} has the key "1"), times as RFC 3339 text. Maps and lists
// are changed in place.
func JSONShape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = JSONShape(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = JSONShape(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = JSONShape(e)
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}
