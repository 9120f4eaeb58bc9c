package flows_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// TestFitVarEnvValues: the environment's own values fit the variable
// types they are (a set: or start: of "${contact.tags}" into a list,
// "${http.headers}" into a map, "${http.status}" into a number); before,
// contact.tags into a list failed the run with "expects a list, but is a
// []string", which validation had accepted.
func TestFitVarEnvValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		t    flows.VarType
		v    any
		want any
	}{
		{"tags", flows.VarList, []string{"vip", "new"}, []any{"vip", "new"}},
		{"no tags", flows.VarList, []string{}, []any{}},
		{"headers", flows.VarMap, map[string]string{"X-Y": "yy"}, map[string]any{"X-Y": "yy"}},
		{"status", flows.VarNumber, 200, float64(200)},
		{"uint", flows.VarNumber, uint16(7), float64(7)},
		{"location", flows.VarMap, flows.LocationEnv{Lat: 1, Lng: 2, Scale: 3, Label: "x"}, map[string]any{"lat": 1.0, "lng": 2.0, "scale": 3, "label": "x"}},
		{"list", flows.VarList, []any{1.0}, []any{1.0}},
	} {
		got, err := flows.FitVar(tc.t, tc.v)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: FitVar(%s, %#v) = %#v, %v; want %#v", tc.name, tc.t, tc.v, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		t    flows.VarType
		v    any
		want string
	}{
		{"duration as number", flows.VarNumber, time.Hour, "expects a number, but is a duration"},
		{"tags as map", flows.VarMap, []string{"a"}, "expects a map, but is a list"},
		{"bytes as list", flows.VarList, "ab", `expects a list, but is text "ab"`},
		{"headers as list", flows.VarList, map[string]string{}, "expects a list, but is a map"},
	} {
		_, err := flows.FitVar(tc.t, tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: FitVar(%s, %#v) error %v, want %q", tc.name, tc.t, tc.v, err, tc.want)
		}
	}
}
