package wechattest_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// TestDocsNameEveryMethod: docs/wechat.md's "Testing against the fake API"
// names every exported method of the fake, so that a way to script it or
// to look at it is not added without its row (OmitQRExpiry was).
func TestDocsNameEveryMethod(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/wechat.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, "## 10. Testing against the fake API")
	if i < 0 {
		t.Fatal("docs/wechat.md has no section \"10. Testing against the fake API\"")
	}
	s = s[i+1:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	typ := reflect.TypeOf(&wechattest.Server{})
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if name == "ServeHTTP" { // the http.Handler it is, not an API of the fake
			continue
		}
		if !strings.Contains(s, name+"(") {
			t.Errorf("docs/wechat.md's section on the fake API does not name (*wechattest.Server).%s", name)
		}
	}
}
