package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/engine"
)

// docMetricRow is a row of the metrics table in docs/console.md.
var docMetricRow = regexp.MustCompile("^\\| `(wxflow_[a-z_]+)` \\| (counter|gauge|histogram) \\|([^|]*)\\|")

// TestMetricsMatchTheDocs: the metrics table of docs/console.md lists
// every family /metrics has, with its type and labels, and nothing else.
func TestMetricsMatchTheDocs(t *testing.T) {
	doc, err := os.ReadFile("../../../../docs/console.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ typ, labels string }
	documented := map[string]row{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := docMetricRow.FindStringSubmatch(line); m != nil {
			var labels []string
			for _, l := range strings.Split(m[3], ",") {
				if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
					labels = append(labels, l)
				}
			}
			slices.Sort(labels)
			documented[m[1]] = row{m[2], strings.Join(labels, ",")}
		}
	}
	if len(documented) == 0 {
		t.Fatal("no metrics table in docs/console.md")
	}
	stats := fullStats()
	fams := parseStrict(t, scrape(t, fullMetrics(func() engine.Stats { return stats }).Registry))
	for name, f := range fams {
		var labels []string
		for _, s := range f.samples {
			for _, l := range s.labels {
				if l[0] != "le" && !slices.Contains(labels, l[0]) {
					labels = append(labels, l[0])
				}
			}
		}
		slices.Sort(labels)
		got := row{f.typ, strings.Join(labels, ",")}
		d, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s (%s, labels %q) is not in the metrics table of docs/console.md", name, got.typ, got.labels)
		case d != got:
			t.Errorf("%s: docs/console.md says %s with labels %q; /metrics has %s with %q", name, d.typ, d.labels, got.typ, got.labels)
		}
	}
	for name := range documented {
		if fams[name] == nil {
			t.Errorf("docs/console.md lists %s; /metrics has no such family", name)
		}
	}
}
