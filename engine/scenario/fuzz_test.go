package scenario_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wxflow/wxflow/engine/scenario"
)

// FuzzParse checks that no test file, however broken, makes the scenario
// parser panic, and that every problem it reports has a position.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "flows", "examples", "*.test.yaml"))
	for _, name := range files {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte("name: x\nscript:\n  - expect: {status: failed, reason: window_closed}\n  - wait: 49h\n"))
	f.Add([]byte("name: [\n"))
	f.Add([]byte("---\n---\nscript: 3\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file := scenario.Parse("fuzz.test.yaml", src)
		if file == nil {
			t.Fatal("Parse returned nil")
		}
		for _, p := range file.Problems {
			if p.Line < 1 || p.Col < 1 || p.Message == "" {
				t.Fatalf("problem without a position or message: %+v", p)
			}
		}
	})
}
