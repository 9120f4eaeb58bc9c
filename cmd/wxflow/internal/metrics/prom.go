// Package metrics is a tiny metrics registry writing the Prometheus text
// exposition format (version 0.0.4), and the metrics `wxflow serve`
// exports with it at /metrics (the console serves them).
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Registry holds metric families and writes them in the Prometheus text format.
type Registry struct {
	mu       sync.Mutex
	families []family
	names    map[string]bool // every sample name in use, to catch collisions
	collect  []func()

	scrapeMu sync.Mutex // serializes collect+render, so collectors never run concurrently
}

// family is a registered metric family (a *Vec or a *Histogram).
type family interface {
	familyName() string
	write(b *bytes.Buffer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{names: map[string]bool{}}
}

// register adds f, panicking if any of its sample names is already taken.
func (r *Registry) register(f family, sampleNames ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range sampleNames {
		if r.names[n] {
			panic(fmt.Sprintf("metrics: metric name %q registered twice", n))
		}
	}
	for _, n := range sampleNames {
		r.names[n] = true
	}
	r.families = append(r.families, f)
}

func checkName(name string) {
	if !metricNameRE.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
}

// Counter registers a counter family; name must end in _total.
func (r *Registry) Counter(name, help string, labels ...string) *Vec {
	if !strings.HasSuffix(name, "_total") {
		panic(fmt.Sprintf("metrics: counter name %q must end in _total", name))
	}
	return r.newVec("counter", name, help, labels)
}

// Gauge registers a gauge family.
func (r *Registry) Gauge(name, help string, labels ...string) *Vec {
	return r.newVec("gauge", name, help, labels)
}

func (r *Registry) newVec(typ, name, help string, labels []string) *Vec {
	checkName(name)
	for i, l := range labels {
		if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "__") || slices.Contains(labels[:i], l) {
			panic(fmt.Sprintf("metrics: invalid or duplicate label name %q for %s", l, name))
		}
	}
	v := &Vec{typ: typ, name: name, help: help, labels: slices.Clone(labels), series: map[string]*series{}}
	if len(labels) == 0 {
		v.series[""] = &series{} // an unlabelled family always has its one series
	}
	r.register(v, name)
	return v
}

// OnCollect adds a function run (in registration order) before every write,
// to refresh values from snapshots.
func (r *Registry) OnCollect(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collect = append(r.collect, fn)
}

// WriteTo writes every family, sorted by name, series sorted by label values.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r.render())
	return int64(n), err
}

// ServeHTTP serves the registry with Content-Type "text/plain; version=0.0.4; charset=utf-8".
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body := r.render()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// render runs the collectors and formats every family into one buffer.
func (r *Registry) render() []byte {
	r.scrapeMu.Lock()
	defer r.scrapeMu.Unlock()
	r.mu.Lock()
	collect, fams := slices.Clone(r.collect), slices.Clone(r.families)
	r.mu.Unlock()
	for _, fn := range collect {
		fn()
	}
	slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.familyName(), b.familyName()) })
	var b bytes.Buffer
	for _, f := range fams {
		f.write(&b)
	}
	return b.Bytes()
}

// Vec is a family of counters or gauges by label values.
type Vec struct {
	typ, name, help string
	labels          []string

	mu     sync.Mutex
	series map[string]*series // by seriesKey(label values)
}

type series struct {
	values []string
	v      float64
}

// seriesKey encodes label values unambiguously (length-prefixed).
func seriesKey(values []string) string {
	var b strings.Builder
	for _, s := range values {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

func (v *Vec) checkArity(values []string) {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s has %d labels, got %d values", v.name, len(v.labels), len(values)))
	}
}

// Add adds delta to the series with the given label values; a counter panics
// on a negative delta.
func (v *Vec) Add(delta float64, labelValues ...string) {
	v.checkArity(labelValues)
	if v.typ == "counter" && !(delta >= 0) {
		panic(fmt.Sprintf("metrics: counter %s: invalid delta %v", v.name, delta))
	}
	v.update(labelValues, func(s *series) { s.v += delta })
}

// Set sets the series with the given label values (counters too: values are
// often mirrored from engine snapshots).
func (v *Vec) Set(value float64, labelValues ...string) {
	v.checkArity(labelValues)
	v.update(labelValues, func(s *series) { s.v = value })
}

func (v *Vec) update(values []string, fn func(*series)) {
	key := seriesKey(values)
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.series[key]
	if s == nil {
		s = &series{values: slices.Clone(values)}
		v.series[key] = s
	}
	fn(s)
}

// Get returns the value of the series with the given label values, 0 if it
// does not exist yet. Meant for tests.
func (v *Vec) Get(labelValues ...string) float64 {
	v.checkArity(labelValues)
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.series[seriesKey(labelValues)]; s != nil {
		return s.v
	}
	return 0
}

func (v *Vec) familyName() string { return v.name }

func (v *Vec) write(b *bytes.Buffer) {
	v.mu.Lock()
	ss := make([]series, 0, len(v.series))
	for _, s := range v.series {
		ss = append(ss, *s)
	}
	v.mu.Unlock()
	slices.SortFunc(ss, func(a, b series) int { return slices.Compare(a.values, b.values) })
	writeHeader(b, v.name, v.help, v.typ)
	for _, s := range ss {
		writeSample(b, v.name, v.labels, s.values, formatFloat(s.v))
	}
}

// Histogram is an unlabelled histogram with fixed bucket upper bounds.
type Histogram struct {
	name, help string
	upper      []float64 // finite, strictly ascending; +Inf implied

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; len(upper)+1
	sum    float64
}

// Histogram registers a histogram (no labels) with the given upper bounds
// (sorted ascending, +Inf implied; a trailing +Inf is accepted and dropped).
func (r *Registry) Histogram(name, help string, buckets []float64) *Histogram {
	checkName(name)
	upper := slices.Clone(buckets)
	if n := len(upper); n > 0 && math.IsInf(upper[n-1], +1) {
		upper = upper[:n-1]
	}
	for i, u := range upper {
		if math.IsNaN(u) || math.IsInf(u, 0) || i > 0 && u <= upper[i-1] {
			panic(fmt.Sprintf("metrics: histogram %s: buckets must be finite and strictly ascending: %v", name, buckets))
		}
	}
	h := &Histogram{name: name, help: help, upper: upper, counts: make([]uint64, len(upper)+1)}
	r.register(h, name, name+"_bucket", name+"_sum", name+"_count")
	return h
}

// Observe records one observation.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v) // first bound >= v; NaN lands in +Inf
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[i]++
	h.sum += v
}

// SetCounts replaces the histogram's state from a snapshot: counts[i] is the
// number of observations in bucket i (NOT cumulative; len(counts) ==
// len(buckets)+1, the last one being above the top bound), sum their sum.
func (h *Histogram) SetCounts(counts []uint64, sum float64) error {
	if len(counts) != len(h.upper)+1 {
		return fmt.Errorf("metrics: histogram %s: got %d counts, want %d", h.name, len(counts), len(h.upper)+1)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	copy(h.counts, counts)
	h.sum = sum
	return nil
}

func (h *Histogram) familyName() string { return h.name }

func (h *Histogram) write(b *bytes.Buffer) {
	h.mu.Lock()
	counts, sum := slices.Clone(h.counts), h.sum
	h.mu.Unlock()
	writeHeader(b, h.name, h.help, "histogram")
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(h.upper) {
			le = formatFloat(h.upper[i])
		}
		writeSample(b, h.name+"_bucket", []string{"le"}, []string{le}, strconv.FormatUint(cum, 10))
	}
	writeSample(b, h.name+"_sum", nil, nil, formatFloat(sum))
	writeSample(b, h.name+"_count", nil, nil, strconv.FormatUint(cum, 10))
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func writeHeader(b *bytes.Buffer, name, help, typ string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, helpEscaper.Replace(help), name, typ)
}

func writeSample(b *bytes.Buffer, name string, labels, values []string, value string) {
	b.WriteString(name)
	for i, l := range labels {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%s=\"%s\"", l, labelEscaper.Replace(values[i]))
	}
	if len(labels) > 0 {
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(value)
	b.WriteByte('\n')
}

// formatFloat formats v as Prometheus expects: +Inf, -Inf, NaN, integers below
// 1e15 in plain digits, anything else in the shortest 'g' form (e.g. 0.25, 1e+20).
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == 0:
		return "0" // also for -0
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
