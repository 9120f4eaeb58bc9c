package engine

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// sampleStates are run states of every shape: empty, a fresh run, a run
// after an ask, and every field set.
func sampleStates() []RunState {
	at := time.Date(2026, 11, 21, 9, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
	return []RunState{
		{},
		{Event: &flows.EventEnv{Type: "follow", At: at}, Trail: Trail{{At: at, What: "started by follow"}, {At: at, Step: "wait (line 4)", Kind: "wait", What: "waits"}}},
		{Vars: map[string]any{"email": "a@b.c"}, Answer: "a@b.c", Event: &flows.EventEnv{Type: "text", Text: "a@b.c", Match: []string{"a@b.c"}}, Attempts: 1,
			Trail: Trail{{At: at, Step: "ask (line 3)", Kind: "ask", What: "got \"a@b.c\"", Messages: []int64{7, 8}}}, TrailDropped: 12},
		{
			Vars:     map[string]any{"n": float64(3), "nested": map[string]any{"list": []any{"x", 1.5, nil, true}}},
			Answer:   map[string]any{"id": "2", "text": "two"},
			HTTP:     &flows.HTTPEnv{Status: 200, Body: map[string]any{"ok": true}, Headers: map[string]string{"Content-Type": "application/json"}},
			Event:    &flows.EventEnv{Type: "location", Scene: "store_1", Key: "k", MediaID: "m", Location: flows.LocationEnv{Lat: 31.2, Lng: 121.5, Scale: 15, Label: "上海 <b>&"}, At: at},
			Attempts: 2, Jumps: 99,
			Request:  &steps.Request{Method: "POST", URL: "https://example.com/x?a=1&b=2", Body: []byte(`{"a":1}`), Timeout: 10 * time.Second},
			Error:    "line\nbreak \u2028 \"quoted\" \\ \x01",
			Response: &steps.HTTPResult{Status: 502, Body: []byte("bad"), Err: "upstream"},
			Trail:    Trail{{At: at, What: "é 😀 \xff"}},
		},
	}
}

// TestStateJSON: AppendState writes what json.Marshal writes, up to
// HTML escaping, and DecodeState reads it back whole.
func TestStateJSON(t *testing.T) {
	for i, s := range sampleStates() {
		mine, err := AppendState(nil, &s)
		if err != nil {
			t.Fatal(err)
		}
		std, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var fromMine, fromStd RunState
		if err := DecodeState(mine, &fromMine); err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		if err := json.Unmarshal(std, &fromStd); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromMine, fromStd) {
			t.Errorf("state %d:\n mine %s\n std  %s\n%#v\n%#v", i, mine, std, fromMine, fromStd)
		}
		// The fast path took it: a document it refuses would decode
		// the same through encoding/json, hiding a slow path.
		r := jsonReader{b: mine}
		var fast RunState
		if !r.state(&fast) {
			t.Errorf("state %d: the hand reader refused %s", i, mine)
		}
	}
}

// FuzzStateJSON holds the hand-written state JSON to encoding/json: any
// document decodes as json.Unmarshal decodes it (the same value, or an
// error for the same documents), and AppendState's output of any state
// decodes as json.Marshal's does.
func FuzzStateJSON(f *testing.F) {
	for _, s := range sampleStates() {
		b, err := AppendState(nil, &s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "x", int64(1))
	}
	for _, doc := range []string{
		`{"event":{"Type":"follow","Text":"","Scene":"","Key":"","Match":null,"MediaID":"","Location":{"Lat":0,"Lng":0,"Scale":0,"Label":""},"At":"2026-11-20T10:00:00Z"},"trail":[{"at":"2026-11-20T10:00:00Z","what":"started by follow"}]}`,
		`{"Attempts":1}`, `{"attempts":1,"attempts":2}`, `{"attempts":1.0}`, `{"attempts":1e2}`, `{"attempts":01}`, `{"attempts":-0}`,
		`{"attempts":99999999999999999999}`, `{"jumps":null}`, `{"event":null}`, `{"trail":[]}`, `{"trail":null}`,
		`{"trail":[{"at":"2026-11-20T10:00:00+08:00","messages":[]}]}`, `{"trail":[{"at":null}]}`, `{"error":"a\u00e9\n"}`,
		`{"tr\u0061il":[]}`, `{"vars":{"a":[1,{"b":"}]"}]}}`, `{"vars":{"t":{"$time":"2026-11-20T10:00:00+08:00"},"m":{"$map":{"$int":"x"}},"i":{"$int":"9007199254740993"},"f":{"$float":"+Inf"},"d":{"$duration":"1h"},"bad":{"$time":1}},"answer":{"$int":"-9007199254740993"}}`, `{"vars":{"a":1}}x`, ` { "vars" : { } , "jumps" : 3 } `,
		`{"answer":"x"`, `{"answer":tru}`, `{"answer":"\"}"}`, `{"other":1}`, `[]`, `null`, ``, `{"event":{"Location":null}}`,
		`{"event":{"At":"bad"}}`, `{"error":"` + "\xff" + `"}`, `{"trail":[{"what":"a","what":"b"}]}`,
	} {
		f.Add([]byte(doc), "x", int64(1))
	}
	f.Fuzz(func(t *testing.T, doc []byte, text string, n int64) {
		var mine, std RunState
		errMine := DecodeState(doc, &mine)
		errStd := json.Unmarshal(doc, &std)
		if errStd == nil {
			liveState(&std) // the tagged values (flows.StoredValue) read back
		}
		if (errMine == nil) != (errStd == nil) {
			t.Fatalf("%q: hand %v, standard %v", doc, errMine, errStd)
		}
		if errStd == nil && !reflect.DeepEqual(mine, std) {
			t.Fatalf("%q:\n hand     %#v\n standard %#v", doc, mine, std)
		}

		at := time.Unix(0, n).In(time.FixedZone("X", int(n%50400)))
		s := RunState{
			Vars: map[string]any{text: text}, Answer: text, Error: text, Attempts: int(n), Jumps: int(-n), TrailDropped: int(n / 3),
			Event: &flows.EventEnv{Type: text, Text: text, Scene: text, Key: text, Match: []string{text, ""}, MediaID: text,
				Location: flows.LocationEnv{Lat: float64(n) / 7, Label: text}, At: at},
			Trail: Trail{{At: at, Step: text, Kind: text, What: text, Messages: []int64{n, -n}}, {At: at, What: text}},
		}
		stdOut, err := json.Marshal(s)
		if err != nil {
			t.Skip() // a time the standard encoder refuses (year out of range)
		}
		out, err := AppendState(nil, &s)
		if err != nil {
			t.Fatalf("AppendState: %v", err)
		}
		var a, b, c RunState
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if err := json.Unmarshal(stdOut, &b); err != nil {
			t.Fatal(err)
		}
		if err := DecodeState(out, &c); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(c, b) {
			t.Fatalf("\n hand     %s\n standard %s", out, stdOut)
		}
	})
}
