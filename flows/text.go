package flows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// TextOf is how a value is written into a text (a `${...}` inside a
// template, an http request's URL or body): text as it is, nothing as
// "", a number in decimal without an exponent (1000000, 0.25), a time
// in RFC 3339 in its own zone (2026-11-16T10:00:00+08:00, the server's
// zone for `now`), a duration as Go writes it (1h30m0s), a list or a
// map as JSON (["a","b"], {"k":1}; an empty one as [] or {}), a record
// of the environment as a map of its names ({"lat":31.2,...}), and
// anything else as Go prints it (a month or a weekday by its name).
func TextOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return formatFloat(v, 64)
	case float32:
		return formatFloat(float64(v), 32)
	case time.Time:
		return v.Format(time.RFC3339)
	case *time.Time:
		if v == nil {
			return ""
		}
		return v.Format(time.RFC3339)
	case time.Duration:
		return v.String()
	case []any, []string, map[string]any, map[string]string, []int, []float64:
		return jsonText(PlainValue(v))
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Slice, reflect.Map:
		return jsonText(PlainValue(v))
	case reflect.Struct, reflect.Pointer:
		// An environment record as a map of its names, as a variable
		// keeps it (PlainValue).
		if p := PlainValue(v); reflect.TypeOf(p) != r.Type() {
			return TextOf(p)
		}
	}
	return fmt.Sprint(v)
}

// jsonText writes a list or a map as JSON; an empty one (also nil) as
// [] or {}, never null.
func jsonText(v any) string {
	r := reflect.ValueOf(v)
	if r.IsValid() && r.IsNil() {
		if r.Kind() == reflect.Map {
			return "{}"
		}
		return "[]"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err == nil {
		return string(bytes.TrimRight(b.Bytes(), "\n"))
	}
	return fmt.Sprint(v)
}

// formatFloat writes f in decimal, without an exponent for the numbers
// people write (a whole number as one: 3, not 3.0 or 3e+00).
func formatFloat(f float64, bits int) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, bits)
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}
