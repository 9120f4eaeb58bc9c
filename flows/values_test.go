package flows_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// TestStoredValuesReadBack: what JSON cannot keep (times, durations,
// integers beyond 2^53, infinities) reads back as it was written, nested
// or not; a flow's own map of one "$" key is not mistaken for a tag; the
// value written is not changed.
func TestStoredValuesReadBack(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 10, 0, 0, 123, time.FixedZone("", 8*3600))
	in := map[string]any{
		"t": at, "d": 90 * time.Minute, "big": int64(1790000000000000123), "neg": int64(-9007199254740993),
		"small": 7, "f": 0.25, "inf": math.Inf(1), "s": "x", "nil": nil, "b": true,
		"nested": map[string]any{"list": []any{at, "a", map[string]any{"$time": "mine"}}, "k": 1.0},
		"dollar": map[string]any{"$map": map[string]any{"$int": "1"}},
	}
	before, _ := json.Marshal(map[string]any{"s": in["s"], "f": in["f"]})
	stored := flows.StoredValues(in)
	if _, ok := in["t"].(time.Time); !ok {
		t.Fatal("StoredValues changed its argument")
	}
	j, err := json.Marshal(stored)
	if err != nil {
		t.Fatalf("stored values are not JSON: %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	flows.LiveValues(back)
	want := map[string]any{
		"t": at, "d": 90 * time.Minute, "big": int64(1790000000000000123), "neg": int64(-9007199254740993),
		"small": 7.0, "f": 0.25, "inf": math.Inf(1), "s": "x", "nil": nil, "b": true,
		"nested": map[string]any{"list": []any{at, "a", map[string]any{"$time": "mine"}}, "k": 1.0},
		"dollar": map[string]any{"$map": map[string]any{"$int": "1"}},
	}
	for k, w := range want {
		g := back[k]
		if wt, ok := w.(time.Time); ok {
			gt, ok := g.(time.Time)
			if !ok || !gt.Equal(wt) || gt.Format(time.RFC3339Nano) != wt.Format(time.RFC3339Nano) {
				t.Errorf("%s: %#v, want %v", k, g, w)
			}
			continue
		}
		if k == "nested" {
			l := g.(map[string]any)["list"].([]any)
			if gt, ok := l[0].(time.Time); !ok || !gt.Equal(at) || !reflect.DeepEqual(l[1:], []any{"a", map[string]any{"$time": "mine"}}) {
				t.Errorf("nested: %#v", g)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %#v, want %#v", k, g, w)
		}
	}
	if after, _ := json.Marshal(map[string]any{"s": stored["s"], "f": stored["f"]}); string(after) != string(before) {
		t.Errorf("plain values changed: %s, want %s", after, before)
	}
}

// TestDecodeJSONValueKeepsDigits: an API's large integer IDs keep their
// digits; other numbers are float64, as encoding/json gives them.
func TestDecodeJSONValueKeepsDigits(t *testing.T) {
	t.Parallel()
	v, err := flows.DecodeJSONValue([]byte(`{"id": 1790000000000000123, "huge": 123456789012345678901, "n": 9007199254740992, "f": 1.5, "e": 1e3, "l": [-9007199254740993]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": int64(1790000000000000123), "huge": "123456789012345678901", "n": 9007199254740992.0, "f": 1.5, "e": 1000.0, "l": []any{int64(-9007199254740993)}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got  %#v\nwant %#v", v, want)
	}
	if got := flows.TextOf(v.(map[string]any)["id"]); got != "1790000000000000123" {
		t.Errorf("written as %q", got)
	}
	for _, bad := range []string{`{"a":1} {}`, `{`, ``} {
		if _, err := flows.DecodeJSONValue([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// FuzzDecodeJSONValue: any JSON document decodes as encoding/json
// decodes it (numbers aside, which keep their digits), and its stored
// form reads back as the same value, "$" keys and all.
func FuzzDecodeJSONValue(f *testing.F) {
	for _, s := range []string{`{"id": 1790000000000000123}`, `[1, 2.5, -9007199254740993, 1e400]`, `{"$time": "2026-11-20T10:00:00Z"}`,
		`{"$map": {"$int": "1"}}`, `{"a": {"$float": "NaN"}}`, `"x"`, `null`, `123456789012345678901234`, `{"a":1} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := flows.DecodeJSONValue(doc)
		var std any
		errStd := json.Unmarshal(doc, &std)
		if (err == nil) != (errStd == nil) {
			t.Fatalf("%q: %v, encoding/json %v", doc, err, errStd)
		}
		if err != nil {
			return
		}
		j, err := json.Marshal(flows.StoredValue(v))
		if err != nil {
			t.Fatalf("%q: stored form: %v", doc, err)
		}
		var back any
		if err := json.Unmarshal(j, &back); err != nil {
			t.Fatal(err)
		}
		if back = flows.LiveValue(back); !reflect.DeepEqual(back, v) {
			t.Fatalf("%q: read back %#v, want %#v", doc, back, v)
		}
	})
}
