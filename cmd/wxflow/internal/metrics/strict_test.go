package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// promSample is one parsed sample line.
type promSample struct {
	name   string
	labels [][2]string // in the order written
	value  float64
	line   int
}

func (s promSample) label(name string) (string, bool) {
	for _, l := range s.labels {
		if l[0] == name {
			return l[1], true
		}
	}
	return "", false
}

// promFamily is a parsed family: its HELP, TYPE and samples.
type promFamily struct {
	name, help, typ string
	samples         []promSample
}

// parseStrict parses text as the Prometheus text format 0.0.4 and checks
// what validateExposition does not: one HELP and one TYPE per family,
// before its samples; label values valid UTF-8 with only \\, \" and \n
// escapes; no series twice; counters named _total and never negative;
// histograms with each series' buckets ascending by le, cumulative, ending
// with le="+Inf" that equals _count, and one _sum and _count.
func parseStrict(t testing.TB, text string) map[string]*promFamily {
	t.Helper()
	fams := map[string]*promFamily{}
	var cur *promFamily
	seen := map[string]int{} // series (name and labels) -> line
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Errorf("the exposition does not end in a newline")
	}
	if !utf8.ValidString(text) {
		t.Errorf("the exposition is not valid UTF-8")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		bad := func(format string, args ...any) {
			t.Helper()
			t.Errorf("line %d %q: %s", n, line, fmt.Sprintf(format, args...))
		}
		if line == "" {
			bad("empty line")
			continue
		}
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			f := strings.SplitN(strings.TrimPrefix(rest, " "), " ", 3)
			if len(f) < 3 || (f[0] != "HELP" && f[0] != "TYPE") {
				bad("a comment other than HELP or TYPE")
				continue
			}
			name := f[1]
			if !testNameRE.MatchString(name) {
				bad("bad metric name")
				continue
			}
			if cur == nil || cur.name != name {
				if fams[name] != nil {
					bad("family %s described again", name)
					continue
				}
				cur = &promFamily{name: name}
				fams[name] = cur
			}
			if len(cur.samples) > 0 {
				bad("%s after the family's samples", f[0])
			}
			switch f[0] {
			case "HELP":
				if cur.help != "" || cur.typ != "" {
					bad("second HELP, or HELP after TYPE")
				}
				cur.help = f[2]
				if f[2] == "" {
					bad("empty HELP")
				}
			case "TYPE":
				if cur.typ != "" {
					bad("second TYPE")
				}
				switch f[2] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					bad("unknown type")
				}
				cur.typ = f[2]
			}
			continue
		}
		s, err := parseStrictSample(line)
		if err != nil {
			bad("%v", err)
			continue
		}
		s.line = n
		if cur == nil || cur.typ == "" {
			bad("sample before its family's TYPE")
			continue
		}
		base := s.name
		if cur.typ == "histogram" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(s.name, suf); ok && b == cur.name {
					base = b
				}
			}
		}
		if base != cur.name {
			bad("sample of %s within family %s", s.name, cur.name)
			continue
		}
		var key strings.Builder
		key.WriteString(s.name)
		sorted := slices.Clone(s.labels)
		slices.SortFunc(sorted, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		for _, l := range sorted {
			fmt.Fprintf(&key, "\xff%s\xfe%s", l[0], l[1])
		}
		if first, dup := seen[key.String()]; dup {
			bad("series already given at line %d", first)
		}
		seen[key.String()] = n
		if cur.typ == "counter" {
			if !strings.HasSuffix(cur.name, "_total") {
				bad("counter not named _total")
			}
			if s.value < 0 || math.IsNaN(s.value) {
				bad("counter below zero")
			}
		}
		cur.samples = append(cur.samples, s)
	}
	for _, f := range fams {
		if f.typ == "" {
			t.Errorf("family %s has no TYPE", f.name)
		}
		if f.typ == "histogram" {
			checkStrictHistogram(t, f)
		}
	}
	return fams
}

// checkStrictHistogram checks a histogram family's series.
func checkStrictHistogram(t testing.TB, f *promFamily) {
	t.Helper()
	type series struct {
		les        []float64
		counts     []float64
		sum, count []float64
	}
	by := map[string]*series{}
	var order []string
	for _, s := range f.samples {
		var id []string
		le, hasLE := "", false
		for _, l := range s.labels {
			if l[0] == "le" {
				le, hasLE = l[1], true
				continue
			}
			id = append(id, l[0]+"="+l[1])
		}
		slices.Sort(id)
		k := strings.Join(id, ",")
		if by[k] == nil {
			by[k] = &series{}
			order = append(order, k)
		}
		ser := by[k]
		switch s.name {
		case f.name + "_bucket":
			if !hasLE {
				t.Errorf("line %d: %s_bucket without le", s.line, f.name)
				continue
			}
			v, err := strconv.ParseFloat(le, 64)
			if err != nil || !testFloatRE.MatchString(le) {
				t.Errorf("line %d: le %q is not a float", s.line, le)
				continue
			}
			if n := len(ser.les); n > 0 && !(v > ser.les[n-1]) {
				t.Errorf("line %d: le %q after le %v: buckets not ascending", s.line, le, ser.les[n-1])
			}
			if n := len(ser.counts); n > 0 && s.value < ser.counts[n-1] {
				t.Errorf("line %d: bucket count %v below the one before (%v): not cumulative", s.line, s.value, ser.counts[n-1])
			}
			ser.les, ser.counts = append(ser.les, v), append(ser.counts, s.value)
		case f.name + "_sum":
			if hasLE {
				t.Errorf("line %d: le on _sum", s.line)
			}
			ser.sum = append(ser.sum, s.value)
		case f.name + "_count":
			if hasLE {
				t.Errorf("line %d: le on _count", s.line)
			}
			ser.count = append(ser.count, s.value)
		}
	}
	for _, k := range order {
		ser := by[k]
		if n := len(ser.les); n == 0 || !math.IsInf(ser.les[n-1], 1) {
			t.Errorf("%s{%s}: no le=\"+Inf\" bucket last", f.name, k)
			continue
		}
		if len(ser.sum) != 1 || len(ser.count) != 1 {
			t.Errorf("%s{%s}: %d _sum and %d _count", f.name, k, len(ser.sum), len(ser.count))
			continue
		}
		if inf := ser.counts[len(ser.counts)-1]; inf != ser.count[0] {
			t.Errorf("%s{%s}: _count %v but the +Inf bucket %v", f.name, k, ser.count[0], inf)
		}
	}
}

// parseStrictSample parses `name{l="v",...} value` (no timestamp).
func parseStrictSample(line string) (promSample, error) {
	var s promSample
	i := strings.IndexAny(line, "{ ")
	if i <= 0 || !testNameRE.MatchString(line[:i]) {
		return s, fmt.Errorf("bad metric name")
	}
	s.name, line = line[:i], line[i:]
	if rest, ok := strings.CutPrefix(line, "{"); ok {
		line = rest
		for !strings.HasPrefix(line, "}") {
			eq := strings.Index(line, `="`)
			if eq < 0 || !testLabelRE.MatchString(line[:eq]) || strings.HasPrefix(line[:eq], "__") {
				return s, fmt.Errorf("bad label name")
			}
			name := line[:eq]
			if _, dup := s.label(name); dup {
				return s, fmt.Errorf("label %s twice", name)
			}
			line = line[eq+2:]
			var v strings.Builder
			j := 0
			for ; j < len(line) && line[j] != '"'; j++ {
				switch c := line[j]; c {
				case '\n':
					return s, fmt.Errorf("raw newline in a label value")
				case '\\':
					j++
					if j == len(line) {
						return s, fmt.Errorf("unterminated escape")
					}
					switch line[j] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("bad escape \\%c", line[j])
					}
				default:
					v.WriteByte(c)
				}
			}
			if j == len(line) {
				return s, fmt.Errorf("unterminated label value")
			}
			if !utf8.ValidString(v.String()) {
				return s, fmt.Errorf("label %s is not UTF-8", name)
			}
			s.labels = append(s.labels, [2]string{name, v.String()})
			line = line[j+1:]
			if rest, ok := strings.CutPrefix(line, ","); ok {
				line = rest
			} else if !strings.HasPrefix(line, "}") {
				return s, fmt.Errorf("labels not separated by a comma")
			}
		}
		line = line[1:]
	}
	v, ok := strings.CutPrefix(line, " ")
	if !ok || !testFloatRE.MatchString(v) {
		return s, fmt.Errorf("bad value %q (or a timestamp)", v)
	}
	var err error
	s.value, err = strconv.ParseFloat(v, 64)
	return s, err
}

// TestStrictParserRejects: the strict parser catches what it is for.
func TestStrictParserRejects(t *testing.T) {
	head := "# HELP a x\n# TYPE a counter\n"
	hist := "# HELP h x\n# TYPE h histogram\n"
	for _, bad := range []string{
		"a_total 1\n",
		"# HELP a x\n# TYPE a counter\na 1\n", // counter without _total
		"# HELP a_total x\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n",               // duplicate series
		"# HELP a_total x\n# TYPE a_total counter\na_total{x=\"\",x=\"\"} 1\n",                             // label twice, empty
		"# HELP a_total x\n# TYPE a_total counter\na_total 1\n# HELP a_total x\n",                          // HELP after samples
		"# HELP a_total x\n# TYPE a_total counter\n# HELP b y\n# TYPE b gauge\n# HELP a_total x\n",         // family again
		"# HELP a_total x\n# TYPE a_total counter\na_total{x=\"\xff\"} 1\n",                                // not UTF-8
		"# HELP a_total x\n# TYPE a_total counter\na_total{x=\"\\t\"} 1\n",                                 // bad escape
		hist + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",                       // not cumulative
		hist + "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",                                                // no +Inf
		hist + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",                                             // count differs
		hist + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", // le descending
		head + "a 1 1700000000\n", // timestamp
	} {
		rec := &errRecorder{TB: t}
		parseStrict(rec, bad)
		if rec.errs == 0 {
			t.Errorf("the strict parser accepted %q", bad)
		}
	}
	parseStrict(t, hist+"h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
}

// fullStats is a Stats with every field set, label values included that
// need escaping.
func fullStats() engine.Stats {
	hist := func(n int) *engine.Histogram {
		h := &engine.Histogram{Counts: make([]uint64, len(engine.ConvBuckets)+1)}
		h.Counts[1], h.Counts[len(engine.ConvBuckets)] = uint64(n), 1
		h.Sum = float64(n)*45 + 1e6
		return h
	}
	ingest := make([]uint64, len(engine.IngestBuckets)+1)
	ingest[0], ingest[3], ingest[len(ingest)-1] = 5, 2, 1
	odd := "a\"b\\c\nd 中文"
	return engine.Stats{
		Events:     map[channels.Kind]uint64{channels.Follow: 3, channels.Text: 7},
		Duplicates: 2, Queued: 4, Dequeued: 5, Lanes: 128, Node: true,
		LeaseRenewals: 9, LeaseRenewFailures: 1, LeaseLeft: []time.Duration{4 * time.Second, 4500 * time.Millisecond},
		RunsStarted: map[string]uint64{"welcome": 3, odd: 1},
		RunsEnded:   map[engine.RunStatus]uint64{engine.RunCompleted: 2},
		Messages:    map[engine.MessageKey]uint64{{Status: engine.OutboxSent}: 6, {Status: engine.OutboxFailed, Reason: channels.ReasonWindowClosed}: 1},
		TimersFired: 3, TimerLag: 1500 * time.Millisecond,
		WriterQueue: 1, OutboxQueue: 2,
		IngestCounts: ingest, IngestSum: 0.75,
		Pruned:         map[string]uint64{"events": 10},
		Paused:         []engine.SendPause{{Account: odd, State: "open", Held: 3}},
		SendPauses:     map[string]uint64{odd: 1, "main": 2},
		SendProbes:     map[string]uint64{"main": 1},
		FirstResponse:  map[string]*engine.Histogram{"": hist(1), odd: hist(2)},
		Resolution:     map[string]*engine.Histogram{"support": hist(3)},
		RepliesRefused: map[channels.Reason]uint64{channels.ReasonQuotaExhausted: 1},
	}
}

// fullMetrics is the metrics of wxflow serve with every family given
// samples.
func fullMetrics(stats func() engine.Stats) *Metrics {
	m := New(stats)
	m.SetBuild("v1.2.3", "go1.26")
	odd := "a\"b\\c\nd 中文"
	m.CountOpenConversations(func(context.Context) (map[string]int, error) {
		return map[string]int{"": 1, odd: 2}, nil
	})
	m.CountRefreshes("main", func() int64 { return 4 })
	m.ObserveCallback("main", channels.Follow, 200, 3*time.Millisecond)
	m.ObserveCallback(odd, "", 403, time.Second)
	m.ObserveAPI("main")("/cgi-bin/message/custom/send", "0")
	m.ObserveAPI("main")("/cgi-bin/message/custom/send", "45015")
	return m
}

// TestExpositionStrict: what /metrics serves, with every family given
// samples and label values that need escaping, is valid text format
// 0.0.4 by a strict parser, the escaped values read back as they were.
func TestExpositionStrict(t *testing.T) {
	stats := fullStats()
	m := fullMetrics(func() engine.Stats { return stats })
	fams := parseStrict(t, scrape(t, m.Registry))
	odd := "a\"b\\c\nd 中文"
	for fam, label := range map[string]string{
		"wxflow_runs_started_total":                  "flow",
		"wxflow_send_breaker_state":                  "account",
		"wxflow_send_held":                           "account",
		"wxflow_send_pauses_total":                   "account",
		"wxflow_conversations_open":                  "team",
		"wxflow_conversation_first_response_seconds": "team",
		"wxflow_callbacks_total":                     "account",
	} {
		f := fams[fam]
		if f == nil {
			t.Errorf("no family %s", fam)
			continue
		}
		found := false
		for _, s := range f.samples {
			if v, _ := s.label(label); v == odd {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no series with %s %q read back", fam, label, odd)
		}
	}
	for name, f := range fams {
		if len(f.samples) == 0 {
			t.Errorf("%s has no sample with every stat set", name)
		}
	}
}
