package triggers

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestFoldRuneEveryRune checks foldRune over every rune: it picks a rune
// strings.EqualFold holds equal to r, and the same one for every rune of
// r's case-folding orbit, so two keys are equal exactly when EqualFold
// says the runes are.
func TestFoldRuneEveryRune(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		k := foldRune(r)
		if !strings.EqualFold(string(r), string(k)) {
			t.Fatalf("foldRune(%U) = %U, which EqualFold does not hold equal", r, k)
		}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if foldRune(f) != k {
				t.Fatalf("foldRune(%U) = %U but foldRune(%U) = %U", r, k, f, foldRune(f))
			}
		}
	}
}

func TestFoldKeyNoCopyForLowerASCII(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = foldKey("hello world 123") }); n != 0 {
		t.Errorf("foldKey of lower-case ASCII allocates %v times", n)
	}
	if got := foldKey("Hello\u3000WORLD"); got != "hello world" {
		t.Errorf("foldKey = %q", got)
	}
}
