package flows_test

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// TestGolden validates every case folder of testdata/ (NN-short-name/,
// holding one or more flow files and maybe a menu.yaml) and compares the
// diagnostics, one d.String() per line, with the folder's want.txt. Paths
// inside the output are made relative to the case folder, so the goldens do
// not depend on where the repository lives. Run with -update to rewrite
// want.txt from the current output.
//
// A case may hold an options.txt with one "key: value" per line to set the
// flows.Options it is validated with:
//
//	region: international           Options.Region
//	account: ACCOUNT=international  one entry of Options.Regions (repeatable)
//	window: 24h                     Options.Window
//	message_quota: 5                Options.MessageQuota
//	event_quota: 3                  Options.EventQuota
//	secrets: CRM_KEY, CRM_TOKEN     Options.Secrets, with CheckSecrets
//
// Lines starting with # are comments. Every case must produce at least one
// diagnostic: a folder that validates cleanly is a broken case.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "[0-9]*-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 45 {
		t.Fatalf("found %d golden cases in testdata/, want at least 45", len(dirs))
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			opts := readOptions(t, dir)
			diags, _, err := flows.Validate([]string{dir}, opts)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if len(diags) == 0 {
				t.Fatalf("no diagnostics: every case in testdata/ must produce at least one")
			}
			for _, d := range diags {
				if d.Line < 1 || d.Col < 1 {
					t.Errorf("diagnostic with no position: %s", d)
				}
				if d.Message == "" {
					t.Errorf("diagnostic with no message: %s", d)
				}
			}
			checkGolden(t, filepath.Join(dir, "want.txt"), render(dir, diags))
		})
	}
}

// render writes one diagnostic per line, with every mention of the case
// folder made relative to it.
func render(dir string, diags flows.Diagnostics) string {
	var b strings.Builder
	prefix := dir + string(filepath.Separator)
	for _, d := range diags {
		d.File = strings.TrimPrefix(d.File, prefix)
		s := d.String()
		s = strings.ReplaceAll(s, prefix, "")
		s = strings.ReplaceAll(s, dir, ".")
		b.WriteString(s)
		b.WriteString("\n")
	}
	return b.String()
}

// readOptions reads a case's options.txt, if any.
func readOptions(t *testing.T, dir string) flows.Options {
	t.Helper()
	var opts flows.Options
	f, err := os.Open(filepath.Join(dir, "options.txt"))
	if os.IsNotExist(err) {
		return opts
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("options.txt:%d: want key: value, got %q", n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "secrets":
			opts.CheckSecrets = true
			for _, name := range strings.Split(val, ",") {
				opts.Secrets = append(opts.Secrets, strings.TrimSpace(name))
			}
		case "region":
			opts.Region = val
		case "account":
			acct, region, ok := strings.Cut(val, "=")
			if !ok {
				t.Fatalf("options.txt:%d: want account: ACCOUNT=REGION, got %q", n, val)
			}
			if opts.Regions == nil {
				opts.Regions = map[string]string{}
			}
			opts.Regions[acct] = region
		case "window":
			d, err := time.ParseDuration(val)
			if err != nil {
				t.Fatalf("options.txt:%d: %v", n, err)
			}
			opts.Window = d
		case "message_quota", "event_quota":
			q, err := strconv.Atoi(val)
			if err != nil {
				t.Fatalf("options.txt:%d: %v", n, err)
			}
			if key == "message_quota" {
				opts.MessageQuota = q
			} else {
				opts.EventQuota = q
			}
		default:
			t.Fatalf("options.txt:%d: unknown option %q", n, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return opts
}

// TestMediaTooLarge checks the size limit of every media kind with sparse
// temporary files, so that no large file lives in testdata/. The output is
// compared with testdata/media-too-large.txt (rewritten by -update).
func TestMediaTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sizes := map[string]int64{
		"big.png":   flows.MediaLimits["image"].MaxBytes + 1,
		"big.amr":   flows.MediaLimits["voice"].MaxBytes + 1,
		"big.mp4":   flows.MediaLimits["video"].MaxBytes + 1,
		"big.jpg":   flows.MediaLimits["thumb"].MaxBytes + 1,
		"small.mp4": 1024,
		"fits.amr":  flows.MediaLimits["voice"].MaxBytes,
	}
	for name, size := range sizes {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	src := `name: media-too-large
triggers:
  - keyword: [media]
steps:
  - send: { image: big.png }
  - send: { voice: big.amr }
  - send: { video: big.mp4, title: "Too big" }
  - send: { video: small.mp4, thumb: big.jpg }
  - send: { voice: fits.amr }
`
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	diags, _, err := flows.Validate([]string{dir}, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 4 {
		t.Errorf("want 4 diagnostics (one per file over its limit), got %d", len(diags))
	}
	for _, d := range diags {
		if d.Severity != flows.SeverityError || !strings.Contains(d.Message, "too large") {
			t.Errorf("want a too-large error, got %s", d)
		}
	}
	checkGolden(t, filepath.Join("testdata", "media-too-large.txt"), render(dir, diags))
}

// checkGolden compares got with the golden file, or rewrites the file
// under -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./flows -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (check the change, then run go test ./flows -run %s -update)\n--- got\n%s--- want\n%s", golden, t.Name(), got, want)
	}
}
