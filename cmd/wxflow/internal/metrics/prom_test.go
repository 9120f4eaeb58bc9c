package metrics

import (
	"fmt"
	"math"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// scrape writes r to a string, checking it with validateExposition.
func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	n, err := r.WriteTo(&b)
	if err != nil || n != int64(b.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, b.Len())
	}
	validateExposition(t, b.String())
	return b.String()
}

func TestPromGolden(t *testing.T) {
	r := NewRegistry()
	req := r.Counter("wxflow_requests_total", "Requests served.", "route", "code")
	req.Add(2, "/b", "200")
	req.Add(1, "/a", "500")
	req.Add(1, "/a", "200")
	req.Add(0.5, "/a", "200")
	r.Gauge("wxflow_up", "Whether the engine is up.").Set(1)
	r.Gauge("wxflow_empty", "No series yet.", "kind")
	r.Counter("wxflow_idle_total", "Never touched.")
	r.Counter("wxflow_big_total", "Big.").Set(1e6)
	h := r.Histogram("wxflow_latency_seconds", "Latency.", []float64{0.25, 1})
	for _, v := range []float64{0.125, 0.25, 0.5, 3} {
		h.Observe(v)
	}
	want := `# HELP wxflow_big_total Big.
# TYPE wxflow_big_total counter
wxflow_big_total 1000000
# HELP wxflow_empty No series yet.
# TYPE wxflow_empty gauge
# HELP wxflow_idle_total Never touched.
# TYPE wxflow_idle_total counter
wxflow_idle_total 0
# HELP wxflow_latency_seconds Latency.
# TYPE wxflow_latency_seconds histogram
wxflow_latency_seconds_bucket{le="0.25"} 2
wxflow_latency_seconds_bucket{le="1"} 3
wxflow_latency_seconds_bucket{le="+Inf"} 4
wxflow_latency_seconds_sum 3.875
wxflow_latency_seconds_count 4
# HELP wxflow_requests_total Requests served.
# TYPE wxflow_requests_total counter
wxflow_requests_total{route="/a",code="200"} 1.5
wxflow_requests_total{route="/a",code="500"} 1
wxflow_requests_total{route="/b",code="200"} 2
# HELP wxflow_up Whether the engine is up.
# TYPE wxflow_up gauge
wxflow_up 1
`
	if got := scrape(t, r); got != want {
		t.Errorf("WriteTo:\n%s\nwant:\n%s", got, want)
	}

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("ServeHTTP: %d\n%s", rec.Code, rec.Body)
	}
}

func TestPromEscaping(t *testing.T) {
	r := NewRegistry()
	g := r.Gauge("esc", "a \"quoted\" back\\slash\nnew line", "v")
	g.Set(1, "a\\b\"c\nd")
	want := `# HELP esc a "quoted" back\\slash\nnew line
# TYPE esc gauge
esc{v="a\\b\"c\nd"} 1
`
	if got := scrape(t, r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPromSorting(t *testing.T) {
	r := NewRegistry()
	for _, n := range []string{"c", "a", "b_total", "B"} {
		if strings.HasSuffix(n, "_total") {
			r.Counter(n, "")
		} else {
			r.Gauge(n, "")
		}
	}
	v := r.Gauge("z", "", "x", "y")
	for _, lv := range [][2]string{{"b", "a"}, {"a", "b"}, {"a", "a"}, {"", "z"}, {"a", ""}} {
		v.Set(1, lv[0], lv[1])
	}
	var names, series []string
	for _, line := range strings.Split(scrape(t, r), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(name)[0])
		} else if strings.HasPrefix(line, "z{") {
			series = append(series, strings.TrimSuffix(line, " 1"))
		}
	}
	if got := strings.Join(names, " "); got != "B a b_total c z" {
		t.Errorf("families = %s", got)
	}
	want := `z{x="",y="z"} z{x="a",y=""} z{x="a",y="a"} z{x="a",y="b"} z{x="b",y="a"}`
	if got := strings.Join(series, " "); got != want {
		t.Errorf("series = %s\nwant     %s", got, want)
	}
}

func TestPromHistogram(t *testing.T) {
	r := NewRegistry()
	h := r.Histogram("h", "", []float64{1, 2, math.Inf(1)}) // trailing +Inf dropped
	if err := h.SetCounts([]uint64{1, 2}, 1); err == nil {
		t.Error("SetCounts with wrong length: no error")
	}
	if err := h.SetCounts([]uint64{1, 2, 3}, 10.5); err != nil {
		t.Fatal(err)
	}
	h.Observe(2) // le is inclusive
	h.Observe(math.NaN())
	want := `h_bucket{le="1"} 1
h_bucket{le="2"} 4
h_bucket{le="+Inf"} 8
h_sum NaN
h_count 8
`
	if got := scrape(t, r); !strings.HasSuffix(got, want) {
		t.Errorf("got:\n%s\nwant suffix:\n%s", got, want)
	}
	if err := h.SetCounts([]uint64{0, 0, 5}, 1e20); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, r); !strings.Contains(got, "h_bucket{le=\"2\"} 0\nh_bucket{le=\"+Inf\"} 5\nh_sum 1e+20\nh_count 5\n") {
		t.Errorf("after SetCounts:\n%s", got)
	}
}

func TestPromFormatFloat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 1: "1", -3: "-3", 0.5: "0.5", 1e6: "1000000",
		123456789012: "123456789012", 1e15: "1e+15", 1.5e-7: "1.5e-07", 2.5e20: "2.5e+20",
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf",
	} {
		if got := formatFloat(v); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatFloat(math.NaN()); got != "NaN" {
		t.Errorf("formatFloat(NaN) = %q", got)
	}
}

func TestPromCounterSetGet(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "", "k")
	if c.Get("x") != 0 {
		t.Error("Get of a missing series != 0")
	}
	c.Set(41, "x") // mirrored from a snapshot
	c.Add(1, "x")
	if got := c.Get("x"); got != 42 {
		t.Errorf("Get = %v, want 42", got)
	}
	if got := scrape(t, r); strings.Count(got, "c_total{") != 1 {
		t.Errorf("Get created a series:\n%s", got)
	}
}

func TestPromOnCollect(t *testing.T) {
	r := NewRegistry()
	g := r.Gauge("g", "")
	var order []int
	r.OnCollect(func() { order = append(order, 1); g.Set(7) })
	r.OnCollect(func() { order = append(order, 2); g.Add(1) })
	if got := scrape(t, r); !strings.Contains(got, "\ng 8\n") {
		t.Errorf("collectors did not run before the write:\n%s", got)
	}
	scrape(t, r)
	if fmt.Sprint(order) != "[1 2 1 2]" {
		t.Errorf("collector order = %v", order)
	}
}

func TestPromPanics(t *testing.T) {
	for name, fn := range map[string]func(r *Registry){
		"duplicate":           func(r *Registry) { r.Gauge("a", ""); r.Gauge("a", "") },
		"counter as gauge":    func(r *Registry) { r.Counter("a_total", ""); r.Gauge("a_total", "") },
		"histogram suffix":    func(r *Registry) { r.Gauge("h_count", ""); r.Histogram("h", "", nil) },
		"bad name":            func(r *Registry) { r.Gauge("1a", "") },
		"bad name char":       func(r *Registry) { r.Gauge("a-b", "") },
		"empty name":          func(r *Registry) { r.Gauge("", "") },
		"bad histogram name":  func(r *Registry) { r.Histogram("a b", "", nil) },
		"counter suffix":      func(r *Registry) { r.Counter("requests", "") },
		"bad label":           func(r *Registry) { r.Gauge("a", "", "x:y") },
		"reserved label":      func(r *Registry) { r.Gauge("a", "", "__x") },
		"duplicate label":     func(r *Registry) { r.Gauge("a", "", "x", "x") },
		"unsorted buckets":    func(r *Registry) { r.Histogram("h", "", []float64{2, 1}) },
		"repeated bucket":     func(r *Registry) { r.Histogram("h", "", []float64{1, 1}) },
		"NaN bucket":          func(r *Registry) { r.Histogram("h", "", []float64{math.NaN()}) },
		"too few values":      func(r *Registry) { r.Gauge("a", "", "x").Set(1) },
		"too many values":     func(r *Registry) { r.Counter("a_total", "").Add(1, "x") },
		"Get arity":           func(r *Registry) { r.Gauge("a", "", "x", "y").Get("x") },
		"negative counter":    func(r *Registry) { r.Counter("a_total", "").Add(-1) },
		"NaN counter delta":   func(r *Registry) { r.Counter("a_total", "").Add(math.NaN()) },
		"negative labelled c": func(r *Registry) { r.Counter("a_total", "", "k").Add(-0.5, "v") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			fn(NewRegistry())
		})
	}
	// Things that must not panic.
	r := NewRegistry()
	r.Gauge("a:b_c", "", "_x", "le").Add(-1, "", "") // le is fine outside histograms
	r.Histogram("h", "", nil).Observe(1)
	r.Counter("c_total", "").Add(0)
}

func TestPromConcurrent(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "", "worker")
	g := r.Gauge("g", "")
	h := r.Histogram("h", "", []float64{1, 10})
	r.OnCollect(func() { g.Set(c.Get("0")) }) // collectors read other metrics
	const workers, n = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				c.Add(1, strconv.Itoa(w%4))
				h.Observe(float64(i % 20))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for scrapes := 0; ; scrapes++ {
		select {
		case <-done:
			out := scrape(t, r)
			for w := range 4 {
				if got := c.Get(strconv.Itoa(w)); got != 2*n {
					t.Errorf("worker %d: %v, want %d", w, got, 2*n)
				}
			}
			if !strings.Contains(out, fmt.Sprintf("h_count %d\n", workers*n)) {
				t.Errorf("histogram count wrong:\n%s", out)
			}
			return
		default:
			scrape(t, r)
		}
	}
}

// errRecorder captures Errorf calls, to check the validator rejects bad input.
type errRecorder struct {
	testing.TB
	errs int
}

func (r *errRecorder) Errorf(string, ...any) { r.errs++ }
func (r *errRecorder) Helper()               {}

func TestPromValidatorRejects(t *testing.T) {
	head := "# HELP a x\n# TYPE a counter\n"
	for _, bad := range []string{
		"a 1\n",                               // sample before TYPE
		head + "b 1\n",                        // sample of another family
		head + "a one\n",                      // bad value
		head + "a -1\n",                       // negative counter
		head + "a{x=\"1} 1\n",                 // unterminated label value
		head + "a{x=\"\\q\"} 1\n",             // bad escape
		head + "a{1x=\"\"} 1\n",               // bad label name
		head + "a 1",                          // no final newline
		head + head,                           // duplicate family
		"# HELP b x\n# TYPE b gauge\n" + head, // unsorted
		"# TYPE a gauge\n",                    // TYPE without HELP
		"# HELP h x\n# TYPE h histogram\nh_bucket 1\n", // bucket without le
		"# COMMENT a\n",
	} {
		rec := &errRecorder{TB: t}
		validateExposition(rec, bad)
		if rec.errs == 0 {
			t.Errorf("validator accepted %q", bad)
		}
	}
}

// Independent of the implementation's regexps on purpose.
var (
	testNameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	testLabelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	testFloatRE = regexp.MustCompile(`^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)$`)
)

// validateExposition checks that every line of text is a # HELP / # TYPE
// comment or a `name{labels} value` sample with a valid float, and that every
// sample belongs to the family whose TYPE line precedes it. Families must be
// unique and sorted.
func validateExposition(t testing.TB, text string) {
	t.Helper()
	if text == "" {
		return
	}
	if !strings.HasSuffix(text, "\n") {
		t.Errorf("output does not end in a newline")
	}
	types := map[string]string{}
	cur, last, help := "", "", ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		bad := func(format string, args ...any) {
			t.Helper()
			t.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 2 || !testNameRE.MatchString(f[1]) {
				bad("malformed comment")
				continue
			}
			switch f[0] {
			case "HELP":
				if len(f) != 3 || types[f[1]] != "" {
					bad("HELP missing text or after TYPE")
				}
				cur, help = "", f[1]
			case "TYPE":
				if len(f) != 3 || (f[2] != "counter" && f[2] != "gauge" && f[2] != "histogram") {
					bad("bad type")
				}
				if types[f[1]] != "" || f[1] <= last || help != f[1] {
					bad("duplicate, unsorted, or without its HELP")
				}
				types[f[1]], cur, last, help = f[2], f[1], f[1], ""
			default:
				bad("unknown comment")
			}
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			bad("%v", err)
			continue
		}
		switch typ := types[cur]; typ {
		case "counter", "gauge":
			if name != cur {
				bad("sample outside family %q", cur)
			}
			if typ == "counter" && value < 0 {
				bad("negative counter")
			}
		case "histogram":
			switch name {
			case cur + "_bucket":
				if le, ok := labels["le"]; !ok || !testFloatRE.MatchString(le) {
					bad("bucket without a valid le")
				}
			case cur + "_sum", cur + "_count":
			default:
				bad("sample outside histogram %q", cur)
			}
		default:
			bad("sample before any TYPE line")
		}
	}
}

// parseSample parses `name{l="v",...} value`.
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 || !testNameRE.MatchString(line[:i]) {
		return "", nil, 0, fmt.Errorf("bad metric name")
	}
	name, rest := line[:i], line[i:]
	labels = map[string]string{}
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			eq := strings.Index(rest, `="`)
			if eq < 0 || !testLabelRE.MatchString(rest[:eq]) || labels[rest[:eq]] != "" {
				return "", nil, 0, fmt.Errorf("bad or duplicate label name")
			}
			key := rest[:eq]
			var val strings.Builder
			j := eq + 2
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\n' {
					return "", nil, 0, fmt.Errorf("raw newline in label value")
				}
				if rest[j] == '\\' {
					j++
					if j == len(rest) || !strings.ContainsRune(`\"n`, rune(rest[j])) {
						return "", nil, 0, fmt.Errorf("bad escape in label value")
					}
				}
				val.WriteByte(rest[j])
			}
			if j == len(rest) {
				return "", nil, 0, fmt.Errorf("unterminated label value")
			}
			labels[key], rest = val.String(), rest[j+1:]
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			if rest, _ = strings.CutPrefix(rest, ","); rest == "" {
				return "", nil, 0, fmt.Errorf("unterminated labels")
			}
		}
	}
	v, ok := strings.CutPrefix(rest, " ")
	if !ok || !testFloatRE.MatchString(v) {
		return "", nil, 0, fmt.Errorf("bad value %q", v)
	}
	value, err = strconv.ParseFloat(v, 64)
	return name, labels, value, err
}
