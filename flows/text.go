package flows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// TextOf is how a value is written into a text (a `${...}` inside a
// template, an http request's URL or body): text as it is, nothing as
// "", a number in decimal without an exponent (1000000, 0.25), a time
// in RFC 3339 in its own zone (2026-11-16T10:00:00+08:00, the server's
// zone for `now`), a duration as Go writes it (1h30m0s), a list or a
// map as JSON (["a","b"], {"k":1}), and anything else as Go prints it.
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
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err == nil {
			return string(bytes.TrimRight(b.Bytes(), "\n"))
		}
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
