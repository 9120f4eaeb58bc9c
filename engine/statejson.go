package engine

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/wxflow/wxflow/flows"
)

// A run's state is written and read back at every step of every run: on
// the ingest and timer paths, encoding/json's reflection over the event
// and the trail cost about a quarter of the time. AppendState and
// DecodeState do the same work by hand for the fields every run has; the
// rest (variables, answers, HTTP requests and responses) still goes
// through encoding/json. FuzzStateJSON holds both to encoding/json's
// results.

// AppendState appends the JSON of a run's state, with the field names
// and omissions of json.Marshal: the run-state codec every store uses to
// keep a run's state in one column.
func AppendState(b []byte, s *RunState) ([]byte, error) {
	b = append(b, '{')
	first := true
	key := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	var err error
	value := func(name string, v any) {
		if err != nil {
			return
		}
		var j []byte
		if j, err = json.Marshal(v); err == nil {
			key(name)
			b = append(b, j...)
		}
	}
	// Times, large integers and the like keep their kind (flows.StoredValue).
	if len(s.Vars) > 0 {
		value("vars", flows.StoredValues(s.Vars))
	}
	if s.Answer != nil {
		value("answer", flows.StoredValue(s.Answer))
	}
	if s.HTTP != nil {
		h := *s.HTTP
		h.Body = flows.StoredValue(h.Body)
		value("http", &h)
	}
	if s.Event != nil {
		key("event")
		if b, err = appendEvent(b, s.Event); err != nil {
			return nil, err
		}
	}
	if s.Attempts != 0 {
		key("attempts")
		b = strconv.AppendInt(b, int64(s.Attempts), 10)
	}
	if s.Jumps != 0 {
		key("jumps")
		b = strconv.AppendInt(b, int64(s.Jumps), 10)
	}
	if s.Request != nil {
		value("request", s.Request)
	}
	if s.Error != "" {
		key("error")
		b = AppendJSONString(b, s.Error)
	}
	if s.Response != nil {
		value("response", s.Response)
	}
	if s.Awaits != 0 {
		key("awaits")
		b = strconv.AppendInt(b, s.Awaits, 10)
	}
	if err != nil {
		return nil, err
	}
	if len(s.Trail) > 0 {
		key("trail")
		b = s.Trail.appendJSON(b)
	}
	if s.TrailDropped != 0 {
		key("trail_dropped")
		b = strconv.AppendInt(b, int64(s.TrailDropped), 10)
	}
	return append(b, '}'), nil
}

// appendEvent appends the JSON of a run's event.
func appendEvent(b []byte, ev *flows.EventEnv) ([]byte, error) {
	b = append(b, '{')
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	for _, f := range [...]struct{ name, v string }{{"Type", ev.Type}, {"Text", ev.Text}, {"Scene", ev.Scene}, {"Key", ev.Key}} {
		if f.v != "" {
			sep()
			b = append(b, '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = AppendJSONString(b, f.v)
		}
	}
	if len(ev.Match) > 0 {
		sep()
		b = append(b, `"Match":[`...)
		for i, m := range ev.Match {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, m)
		}
		b = append(b, ']')
	}
	if ev.MediaID != "" {
		sep()
		b = append(b, `"MediaID":`...)
		b = AppendJSONString(b, ev.MediaID)
	}
	if ev.Location != (flows.LocationEnv{}) {
		j, err := json.Marshal(ev.Location)
		if err != nil {
			return nil, err
		}
		sep()
		b = append(b, `"Location":`...)
		b = append(b, j...)
	}
	if !ev.At.IsZero() {
		j, err := ev.At.MarshalJSON()
		if err != nil {
			return nil, err
		}
		sep()
		b = append(b, `"At":`...)
		b = append(b, j...)
	}
	return append(b, '}'), nil
}

// DecodeState reads a run's state into s (the zero RunState) exactly as
// json.Unmarshal would, then reads the values flows.StoredValue wrote
// back (liveState). The shapes AppendState writes are read by hand;
// anything else (an unknown, repeated or differently spelt key, a null,
// a malformed document) is left to encoding/json, which also gives the
// errors.
func DecodeState(data []byte, s *RunState) error {
	r := jsonReader{b: data}
	if r.state(s) {
		r.ws()
		if r.i == len(r.b) {
			liveState(s)
			return nil
		}
	}
	*s = RunState{}
	if err := json.Unmarshal(data, s); err != nil {
		return err
	}
	liveState(s)
	return nil
}

// liveState reads back the values AppendState wrote with
// flows.StoredValue.
func liveState(s *RunState) {
	flows.LiveValues(s.Vars)
	s.Answer = flows.LiveValue(s.Answer)
	if s.HTTP != nil {
		s.HTTP.Body = flows.LiveValue(s.HTTP.Body)
	}
}

// jsonReader reads the JSON of a run's state. Its methods report false
// for anything they do not read exactly as encoding/json would.
type jsonReader struct {
	b []byte
	i int
}

// ws skips white space.
func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// eat reads the byte c, after white space.
func (r *jsonReader) eat(c byte) bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// object reads an object, calling field for each key; field reads the
// value. A key that is escaped, or repeated (by field's bit), is refused.
func (r *jsonReader) object(field func(key []byte) (bit uint, ok bool)) bool {
	if !r.eat('{') {
		return false
	}
	if r.eat('}') {
		return true
	}
	var seen uint
	for {
		key, ok := r.key()
		if !ok || !r.eat(':') {
			return false
		}
		bit, ok := field(key)
		if !ok || seen&(1<<bit) != 0 {
			return false
		}
		seen |= 1 << bit
		if r.eat(',') {
			continue
		}
		return r.eat('}')
	}
}

// key reads an object key without escapes.
func (r *jsonReader) key() ([]byte, bool) {
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false
	}
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			k := r.b[r.i+1 : j]
			r.i = j + 1
			return k, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// str reads a string. Escapes and invalid UTF-8 are decoded by
// encoding/json.
func (r *jsonReader) str() (string, bool) {
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return "", false
	}
	plain := true
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			raw := r.b[r.i : j+1]
			r.i = j + 1
			if plain || (bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)) {
				return string(raw[1 : len(raw)-1]), true
			}
			var s string
			return s, json.Unmarshal(raw, &s) == nil
		case c == '\\':
			plain = false
			j++
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return "", false
}

// intInto reads an int into p.
func (r *jsonReader) intInto(p *int) bool {
	n, ok := r.int(strconv.IntSize)
	*p = int(n)
	return ok
}

// strInto reads a string into p.
func (r *jsonReader) strInto(p *string) bool {
	v, ok := r.str()
	*p = v
	return ok
}

// int reads an integer of bits bits; a fraction or an exponent is
// refused, as encoding/json refuses them for integer fields.
func (r *jsonReader) int(bits int) (int64, bool) {
	r.ws()
	j := r.i
	if j < len(r.b) && r.b[j] == '-' {
		j++
	}
	d := j
	for j < len(r.b) && r.b[j] >= '0' && r.b[j] <= '9' {
		j++
	}
	if j == d || (r.b[d] == '0' && j-d > 1) {
		return 0, false
	}
	if j < len(r.b) && (r.b[j] == '.' || r.b[j] == 'e' || r.b[j] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(r.b[r.i:j]), 10, bits)
	if err != nil {
		return 0, false
	}
	r.i = j
	return n, true
}

// span reads any value and hands its text to decode (encoding/json);
// it reports whether decode could read it.
func (r *jsonReader) span(decode func([]byte) error) bool {
	r.ws()
	start, depth := r.i, 0
scan:
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			for r.i++; r.i < len(r.b) && r.b[r.i] != '"'; r.i++ {
				if r.b[r.i] == '\\' {
					r.i++
				}
			}
			if r.i >= len(r.b) {
				return false
			}
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				break scan
			}
			depth--
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			break scan
		}
		r.i++
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			break scan
		}
	}
	return depth == 0 && r.i > start && decode(r.b[start:r.i]) == nil
}

// into returns a decode function for span that unmarshals into v.
func into(v any) func([]byte) error {
	return func(b []byte) error { return json.Unmarshal(b, v) }
}

// state reads a run's state.
func (r *jsonReader) state(s *RunState) bool {
	return r.object(func(key []byte) (uint, bool) {
		switch string(key) {
		case "vars":
			return 0, r.span(into(&s.Vars))
		case "answer":
			return 1, r.span(into(&s.Answer))
		case "http":
			return 2, r.span(into(&s.HTTP))
		case "event":
			s.Event = &flows.EventEnv{}
			return 3, r.event(s.Event)
		case "attempts":
			return 4, r.intInto(&s.Attempts)
		case "jumps":
			return 5, r.intInto(&s.Jumps)
		case "request":
			return 6, r.span(into(&s.Request))
		case "error":
			return 7, r.strInto(&s.Error)
		case "response":
			return 8, r.span(into(&s.Response))
		case "trail":
			return 9, r.trail(&s.Trail)
		case "trail_dropped":
			return 10, r.intInto(&s.TrailDropped)
		case "awaits":
			n, ok := r.int(64)
			s.Awaits = n
			return 11, ok
		}
		return 0, false
	})
}

// event reads a run's event.
func (r *jsonReader) event(ev *flows.EventEnv) bool {
	return r.object(func(key []byte) (uint, bool) {
		switch string(key) {
		case "Type":
			return 0, r.strInto(&ev.Type)
		case "Text":
			return 1, r.strInto(&ev.Text)
		case "Scene":
			return 2, r.strInto(&ev.Scene)
		case "Key":
			return 3, r.strInto(&ev.Key)
		case "MediaID":
			return 4, r.strInto(&ev.MediaID)
		case "Match":
			return 5, r.span(into(&ev.Match))
		case "Location":
			return 6, r.span(into(&ev.Location))
		case "At":
			return 7, r.span(ev.At.UnmarshalJSON)
		}
		return 0, false
	})
}

// trail reads a run's trail.
func (r *jsonReader) trail(t *Trail) bool {
	if !r.eat('[') {
		return false
	}
	*t = Trail{}
	if r.eat(']') {
		return true
	}
	for {
		var e TrailEntry
		if !r.trailEntry(&e) {
			return false
		}
		*t = append(*t, e)
		if r.eat(',') {
			continue
		}
		return r.eat(']')
	}
}

// trailEntry reads one entry of a trail.
func (r *jsonReader) trailEntry(e *TrailEntry) bool {
	return r.object(func(key []byte) (uint, bool) {
		switch string(key) {
		case "at":
			return 0, r.span(e.At.UnmarshalJSON)
		case "step":
			return 1, r.strInto(&e.Step)
		case "kind":
			return 2, r.strInto(&e.Kind)
		case "what":
			return 3, r.strInto(&e.What)
		case "messages":
			return 4, r.messages(&e.Messages)
		}
		return 0, false
	})
}

// messages reads a trail entry's outbox IDs.
func (r *jsonReader) messages(ids *[]int64) bool {
	if !r.eat('[') {
		return false
	}
	*ids = []int64{}
	if r.eat(']') {
		return true
	}
	for {
		n, ok := r.int(64)
		if !ok {
			return false
		}
		*ids = append(*ids, n)
		if r.eat(',') {
			continue
		}
		return r.eat(']')
	}
}
