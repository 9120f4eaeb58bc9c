package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

func TestRedactResult(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{"KEY": "k/y&z", "LONG": "k/y&z-and-more", "EMPTY": ""}
	res := &steps.HTTPResult{
		Err:     `Get "https://x.example/k%2Fy&z?key=k%2Fy%26z": dial tcp: connection refused`,
		Headers: map[string]string{"X-Echo": "Bearer k/y&z-and-more", "X-k/y&z": "1"},
		Body:    []byte(`{"key":"k/y\u0026z","raw":"k/y&z"}`),
	}
	redactResult(res, secrets)
	if want := `Get "https://x.example/${secret.KEY}?key=${secret.KEY}": dial tcp: connection refused`; res.Err != want {
		t.Errorf("err %q\nwant %q", res.Err, want)
	}
	if res.Headers["X-Echo"] != "Bearer ${secret.LONG}" || res.Headers["X-${secret.KEY}"] != "1" {
		t.Errorf("headers %v", res.Headers)
	}
	// encoding/json writes & as \u0026 (HTML escaping): parsed, that is
	// the value too, so the string is written again, redacted.
	if want := `{"key":"${secret.KEY}","raw":"${secret.KEY}"}`; string(res.Body) != want {
		t.Errorf("body %s\nwant %s", res.Body, want)
	}
}

// FuzzRedactResult holds that no form of a secret's value is left in a
// redacted text between the placeholders.
func FuzzRedactResult(f *testing.F) {
	f.Add("k/y&z", "Get \"https://x/k%2Fy&z?key=k%2Fy%26z\"")
	f.Add("a", "aaaa")
	f.Add("ab", "aabb")
	f.Add("x y", `{"v":"x y","q":"x+y","p":"x%20y"}`)
	f.Add("${secret.K}", "${secret.K}${secret.K}")
	f.Add(`"\`, `"\\\"`)
	f.Add("k/y&z", `{"k\/y\u0026z":["k\/y&z",1e3,"\u006b/y&z"]}`)
	f.Fuzz(func(t *testing.T, value, text string) {
		if value == "" {
			return
		}
		res := &steps.HTTPResult{Err: text, Body: []byte(text), Headers: map[string]string{"H": text}}
		redactResult(res, map[string]string{"K": value})
		ph := flows.SecretPlaceholder("K")
		var parsed any
		if json.Unmarshal(res.Body, &parsed) == nil {
			for _, s := range jsonStrings(parsed) {
				for _, part := range strings.Split(s, ph) {
					if strings.Contains(part, value) {
						t.Fatalf("%q redacted is %q: parsed, its string %q holds %q", text, res.Body, s, value)
					}
				}
			}
		}
		for _, out := range []string{res.Err, string(res.Body), res.Headers["H"]} {
			for _, part := range strings.Split(out, ph) {
				for _, esc := range []steps.Escape{steps.EscapeBody, steps.EscapePath, steps.EscapeQuery, steps.EscapeJSON} {
					form, err := steps.EscapeValue(esc, value)
					if err == nil && form != "" && strings.Contains(part, form) {
						t.Fatalf("%q redacted is %q: %q is left", text, out, form)
					}
				}
			}
		}
	})
}

// jsonStrings is every string (member names too) of a parsed JSON value.
func jsonStrings(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
