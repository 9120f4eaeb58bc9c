package flows

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// FitVars checks the variables a flow is given when it starts (by a
// `start:` step, the admin API or an operator) against its `vars:`
// declarations, and returns them with each value made the declared type
// where that loses nothing: a time written as RFC 3339 text (as JSON
// carries times) becomes a time, a number of any Go kind a float64. A
// variable the flow does not declare, or a value of another type than
// declared, is an error naming it: the run would otherwise hold a value
// that every read of it was checked against as another type. A nil
// value is no value.
func (f *Flow) FitVars(vars map[string]any) (map[string]any, error) {
	if len(vars) == 0 {
		return vars, nil
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	var out map[string]any
	var problems []string
	for _, name := range names {
		v := vars[name]
		d, ok := f.declared(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s declares no variable %q (%s)", f.Name, name, f.declaredList()))
			continue
		}
		fit, err := FitVar(d.Type, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if out == nil {
			out = make(map[string]any, len(vars))
		}
		out[name] = fit
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("variables of flow %s: %s", f.Name, strings.Join(problems, "; "))
	}
	return out, nil
}

// declaredList says what the flow declares, for an error.
func (f *Flow) declaredList() string {
	if len(f.VarDecls) == 0 {
		return "it declares none"
	}
	var b strings.Builder
	b.WriteString("it declares ")
	for i, d := range f.VarDecls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", d.Name, d.Type)
	}
	return b.String()
}

// FitVar returns v as a value of type t (see FitVars), or an error that
// says what v is.
func FitVar(t VarType, v any) (any, error) {
	v = PlainValue(v)
	if v == nil || t == VarAny {
		return v, nil
	}
	switch t {
	case VarText:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case VarNumber:
		switch n := v.(type) {
		case float64:
			return n, nil
		case float32:
			return float64(n), nil
		case int:
			return float64(n), nil
		case int64:
			return float64(n), nil
		case int32:
			return float64(n), nil
		case json.Number:
			if f, err := n.Float64(); err == nil {
				return f, nil
			}
		case time.Duration:
			// not a number: a duration
		default:
			// The environment's own integers (contact.window.quota_left,
			// http.status, event.location.scale) and expr's other kinds.
			switch r := reflect.ValueOf(v); r.Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				return float64(r.Int()), nil
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				return float64(r.Uint()), nil
			case reflect.Float32, reflect.Float64:
				return r.Float(), nil
			}
		}
	case VarBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case VarTime:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			tm, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("expects a time, written as RFC 3339 (2027-01-31T09:30:00+08:00), not %q", truncate(x, 40))
			}
			return tm, nil
		}
	case VarList:
		if l, ok := v.([]any); ok {
			return l, nil
		}
		// A list of the environment (contact.tags, event.match) is a
		// []string: a list all the same.
		if r := reflect.ValueOf(v); (r.Kind() == reflect.Slice && r.Type().Elem().Kind() != reflect.Uint8) || r.Kind() == reflect.Array {
			l := make([]any, r.Len())
			for i := range l {
				l[i] = r.Index(i).Interface()
			}
			return l, nil
		}
	case VarMap:
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
		// A map of the environment (http.headers) has other values.
		if r := reflect.ValueOf(v); r.Kind() == reflect.Map && r.Type().Key().Kind() == reflect.String {
			m := make(map[string]any, r.Len())
			for it := r.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().Interface()
			}
			return m, nil
		}
		// A record of the environment (event.location, contact.window)
		// is a map of its names.
		if m, ok := envRecord(v); ok {
			return m, nil
		}
	}
	return nil, fmt.Errorf("expects %s, but is %s", t.Phrase(), valuePhrase(v))
}

// valuePhrase says what a value is, in the flow language's words.
func valuePhrase(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("text %q", truncate(x, 40))
	case bool:
		return fmt.Sprintf("%t", x)
	case float64, float32, int, int64, int32, json.Number:
		return fmt.Sprintf("the number %v", x)
	case time.Time:
		return "a time"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case time.Duration:
		return "a duration"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}

// envRecord returns a struct of the environment (its fields tagged with
// their expr names) as a map of those names.
func envRecord(v any) (map[string]any, bool) {
	r := reflect.ValueOf(v)
	if r.Kind() == reflect.Pointer && !r.IsNil() {
		r = r.Elem()
	}
	if r.Kind() != reflect.Struct {
		return nil, false
	}
	m := map[string]any{}
	for i := 0; i < r.NumField(); i++ {
		f := r.Type().Field(i)
		name := f.Tag.Get("expr")
		if name == "" || !f.IsExported() {
			continue
		}
		m[name] = r.Field(i).Interface()
	}
	return m, len(m) > 0
}

// TimeVars are the names of the flow's variables of type time, declared
// or written: a run's state keeps a time as RFC 3339 text (JSON has no
// time), and a run read back turns them into times again.
func (f *Flow) TimeVars() []string {
	var out []string
	for name, t := range f.Variables() {
		if t == VarTime {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// PlainValue returns v as the flow language's values are kept: a record
// of the environment (`${event.location}`, `${contact.window}`) as a map
// of its names, an integer of a named kind (`${now.Month()}`,
// `${now.Weekday()}`) as a number; inside maps and lists too. A run's
// state is JSON, which would otherwise turn the record into a map of Go's
// field names (Lat, not lat) and the month from November into 11 once the
// run waits: the value is then the same before a wait as after.
func PlainValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64, int, int64, time.Time, time.Duration, json.Number:
		return v
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			if p := PlainValue(e); !sameValue(p, e) {
				if out == nil {
					out = make(map[string]any, len(x))
					for k2, e2 := range x {
						out[k2] = e2
					}
				}
				out[k] = p
			}
		}
		if out == nil {
			return v
		}
		return out
	case []any:
		var out []any
		for i, e := range x {
			if p := PlainValue(e); !sameValue(p, e) {
				if out == nil {
					out = append([]any(nil), x...)
				}
				out[i] = p
			}
		}
		if out == nil {
			return v
		}
		return out
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(r.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return int(r.Uint())
	case reflect.Float32:
		return r.Float()
	case reflect.Struct, reflect.Pointer:
		if m, ok := envRecord(v); ok {
			return PlainValue(m)
		}
	}
	return v
}

// sameValue reports whether PlainValue left a value as it was (values
// of kinds == cannot compare are never the same).
func sameValue(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || !ta.Comparable() {
		return ta == tb && (ta.Kind() == reflect.Map || ta.Kind() == reflect.Slice) && reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
	}
	return a == b
}
