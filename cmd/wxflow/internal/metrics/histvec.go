package metrics

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
)

// HistogramVec is a histogram family with one label (a team, ...), each
// series set from a snapshot with fixed bucket upper bounds.
type HistogramVec struct {
	name, help, label string
	upper             []float64 // finite, strictly ascending; +Inf implied

	mu     sync.Mutex
	series map[string]*histSeries
}

// histSeries is one label value's counts (per bucket, not cumulative;
// len(upper)+1) and sum.
type histSeries struct {
	counts []uint64
	sum    float64
}

// HistogramVec registers a histogram family with one label and the given
// upper bounds (sorted ascending, +Inf implied).
func (r *Registry) HistogramVec(name, help, label string, buckets []float64) *HistogramVec {
	checkName(name)
	if !labelNameRE.MatchString(label) || label == "le" {
		panic(fmt.Sprintf("metrics: invalid label name %q for %s", label, name))
	}
	upper := slices.Clone(buckets)
	if n := len(upper); n > 0 && math.IsInf(upper[n-1], +1) {
		upper = upper[:n-1]
	}
	for i, u := range upper {
		if math.IsNaN(u) || math.IsInf(u, 0) || i > 0 && u <= upper[i-1] {
			panic(fmt.Sprintf("metrics: histogram %s: buckets must be finite and strictly ascending: %v", name, buckets))
		}
	}
	h := &HistogramVec{name: name, help: help, label: label, upper: upper, series: map[string]*histSeries{}}
	r.register(h, name, name+"_bucket", name+"_sum", name+"_count")
	return h
}

// SetCounts replaces one label value's series from a snapshot: counts[i]
// is the number of observations in bucket i (not cumulative; len(counts)
// == len(buckets)+1, the last above the top bound), sum their sum.
func (h *HistogramVec) SetCounts(value string, counts []uint64, sum float64) error {
	if len(counts) != len(h.upper)+1 {
		return fmt.Errorf("metrics: histogram %s: got %d counts, want %d", h.name, len(counts), len(h.upper)+1)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.series[value] = &histSeries{counts: slices.Clone(counts), sum: sum}
	return nil
}

func (h *HistogramVec) familyName() string { return h.name }

func (h *HistogramVec) write(b *bytes.Buffer) {
	h.mu.Lock()
	values := make([]string, 0, len(h.series))
	for v := range h.series {
		values = append(values, v)
	}
	slices.Sort(values)
	snap := make([]histSeries, len(values))
	for i, v := range values {
		snap[i] = histSeries{counts: slices.Clone(h.series[v].counts), sum: h.series[v].sum}
	}
	h.mu.Unlock()
	writeHeader(b, h.name, h.help, "histogram")
	for i, v := range values {
		var cum uint64
		for j, c := range snap[i].counts {
			cum += c
			le := "+Inf"
			if j < len(h.upper) {
				le = formatFloat(h.upper[j])
			}
			writeSample(b, h.name+"_bucket", []string{h.label, "le"}, []string{v, le}, strconv.FormatUint(cum, 10))
		}
		writeSample(b, h.name+"_sum", []string{h.label}, []string{v}, formatFloat(snap[i].sum))
		writeSample(b, h.name+"_count", []string{h.label}, []string{v}, strconv.FormatUint(cum, 10))
	}
}
