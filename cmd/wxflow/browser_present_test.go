package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// presentFlows are a flow sending every kind of message but menus, and
// a flow long enough that its diagram needs zooming.
func presentFlows(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "flows")
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	var long strings.Builder
	long.WriteString("name: long\ntriggers:\n  - keyword: [long]\nsteps:\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&long, "  - send: \"Step %d of a long flow\"\n", i)
	}
	files := map[string]string{
		"media.yaml": `name: media
triggers:
  - keyword: [media]
steps:
  - send:
      news:
        title: "Autumn sale"
        description: "Everything 20% off this week"
        url: "https://example.com/sale"
  - send:
      image: pic.png
  - send:
      voice: hello.mp3
  - send:
      video: clip.mp4
      title: "How to order"
`,
		"long.yaml": long.String(),
		"url.yaml":  "name: url\ntriggers:\n  - keyword: [url]\nsteps:\n  - send: \"Track it here: https://shop.example.com/track?order=" + strings.Repeat("x1", 150) + "\"\n",
		"pic.png":   pic.String(),
		"hello.mp3": "ID3\x03\x00\x00\x00\x00\x00\x00voice",
		"clip.mp4":  "\x00\x00\x00\x18ftypmp42video",
	}
	writeFiles(t, dir, files)
	return dir
}

// TestBrowserConsolePresents: in a sandbox console with the config's
// time zone Asia/Shanghai, the pages show times in that zone and name
// it; a news article, an image, a voice message and a video show as what
// they are in the simulator, the messages, run and contact pages; a
// flow file that fails its reload shows as not loaded with the version
// that still runs; a long flow's diagram zooms and pans with the wheel,
// a drag, the keys and the buttons; the pages have an icon.
func TestBrowserConsolePresents(t *testing.T) {
	chromium := browserExec(t)
	cfg := sandboxConfig()
	dir := presentFlows(t)
	cfg.Flows = dir
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timezone, cfg.TimezoneName = shanghai, "Asia/Shanghai"
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = cfg.Listen
	cfg.Database = filepath.Join(t.TempDir(), "wxflow.db")
	s := startServer(t, cfg)
	b := newBrowser(t, chromium, s.ConsoleURL())

	// Times: the header names the zone; the clock is in it.
	b.open("/simulator")
	b.wantText("#zone", "Asia/Shanghai")
	if now := b.text("#now"); !strings.HasSuffix(now, " CST") {
		t.Errorf("the header's clock %q is not in CST", now)
	}
	if now := b.text("#sim-now"); !strings.HasSuffix(now, " CST") {
		t.Errorf("the simulator's clock %q is not in CST", now)
	}

	// Messages as what they are.
	b.typeInto(`form.say input[name=text]`, "media")
	b.submit("ask for media", `form.say button`, 200)
	b.wantText("#chat .news-card .news-title", "Autumn sale")
	b.wantText("#chat .news-card .news-desc", "Everything 20% off this week")
	if href := browserEval[string](b, `document.querySelector("#chat .news-title").href`); href != "https://example.com/sale" {
		t.Errorf("the news card links %q", href)
	}
	if w := b.imageWidth("#chat .msg-image img"); w != 40 {
		t.Errorf("the image shows %d pixels wide, want the file's 40", w)
	}
	b.wantText("#chat", "voice message", "hello.mp3", "video", "How to order", "clip.mp4")
	if n := b.count("#chat audio.msg-voice"); n != 1 {
		t.Errorf("%d voice players in the chat", n)
	}
	if n := b.count("#chat video.msg-video"); n != 1 {
		t.Errorf("%d video players in the chat", n)
	}
	b.shot("present-simulator")
	for _, path := range []string{"/messages", "/contacts/sandbox/visitor", "/runs/1"} {
		b.open(path)
		if n := b.count(".news-card"); n != 1 {
			t.Errorf("%s shows %d news cards", path, n)
		}
		if w := b.imageWidth(".msg-image img"); w != 40 {
			t.Errorf("%s shows the image %d pixels wide", path, w)
		}
		body := b.text("main")
		if strings.Contains(strings.ToLower(body), "news news") {
			t.Errorf("%s shows the news message as its type:\n%s", path, body)
		}
		if !strings.Contains(body, " CST") || strings.Contains(body, " UTC") {
			t.Errorf("%s does not show its times in CST:\n%s", path, body)
		}
	}
	b.shot("present-run")

	// The favicon.
	if href := browserEval[string](b, `document.querySelector('link[rel=icon]').getAttribute("href")`); href != "/static/favicon.svg" {
		t.Errorf("icon link %q", href)
	}
	if got := browserRun(b, "fetch the favicon", chromedp.Evaluate[string](`fetch("/favicon.ico").then(r => r.status + " " + r.headers.get("Content-Type"))`, chromedp.EvalAwaitPromise)); got != "200 image/svg+xml" {
		t.Errorf("/favicon.ico: %s", got)
	}

	// The long flow's diagram zooms and pans.
	b.open("/flows/long")
	b.step("show the diagram", chromedp.ScrollIntoView(chromedp.CSS("#diagram")), chromedp.WaitVisible(chromedp.CSS(".diagram-tools")))
	view0 := b.viewBox()
	b.wantZoom("1.00")
	b.step("zoom in with +", chromedp.Focus(chromedp.CSS("#diagram")), chromedp.KeyEvent("+"))
	b.wantZoom("1.25")
	v1 := b.viewBox()
	if v1[2] >= view0[2] {
		t.Errorf("+ did not zoom in: %v then %v", view0, v1)
	}
	b.step("pan right", chromedp.KeyEvent(kb.ArrowRight))
	if v2 := b.viewBox(); v2[0] <= v1[0] || v2[2] != v1[2] {
		t.Errorf("the right arrow did not pan: %v then %v", v1, v2)
	}
	b.step("zoom out with -", chromedp.KeyEvent("-"))
	b.wantZoom("1.00")
	x, y := b.center("#diagram")
	b.step("wheel", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, x, y, func(p *input.DispatchMouseEventParams) { p.DeltaX, p.DeltaY = 0.001, -300 }))
	if z := browserEval[string](b, `document.querySelector("#diagram").dataset.zoom`); z <= "1.20" {
		t.Errorf("the wheel zoomed to %s", z)
	}
	before := b.viewBox()
	b.step("drag", chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x-60, y-80, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x-60, y-80, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	if after := b.viewBox(); after[0] <= before[0] || after[1] <= before[1] || after[2] != before[2] {
		t.Errorf("the drag did not pan: %v then %v", before, after)
	}
	b.step("zoom in with the button", chromedp.Click(chromedp.CSS(`.diagram-tools button[data-act=in]`)))
	b.shot("present-diagram")
	b.step("fit", chromedp.Click(chromedp.CSS(`.diagram-tools button[data-act=fit]`)))
	if z := browserEval[string](b, `document.querySelector("#diagram").dataset.zoom`); z >= "1.00" {
		t.Errorf("Fit on a long flow zoomed to %s, want less than 1", z)
	}
	whole := browserEval[[]float64](b, `(() => { const s = document.querySelector("#diagram svg"); const g = s.getBBox(); const v = s.viewBox.baseVal; return [g.y, g.y + g.height, v.y, v.y + v.height]; })()`)
	if whole[0] < whole[2] || whole[1] > whole[3] {
		t.Errorf("Fit does not show the whole diagram: drawing from %v to %v, view from %v to %v", whole[0], whole[1], whole[2], whole[3])
	}
	b.shot("present-diagram-fit")
	b.step("reset", chromedp.Click(chromedp.CSS(`.diagram-tools button[data-act=reset]`)))
	b.wantZoom("1.00")
	if v := b.viewBox(); v != view0 {
		t.Errorf("reset shows %v, want %v", v, view0)
	}

	// A file that fails its reload: not loaded, the version before runs.
	version := s.engine.Flows().Flows[0].Version
	for _, f := range s.engine.Flows().Flows {
		if f.Name == "media" {
			version = f.Version
		}
	}
	short := strings.TrimPrefix(version, "sha256:")[:8]
	src, err := os.ReadFile(filepath.Join(dir, "media.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"media.yaml": strings.Replace(string(src), "  - send:\n      voice", "  - sned:\n      voice", 1)})
	s.Reload(true)
	b.open("/flows/media")
	b.wantText("#not-loaded", "media.yaml not loaded; version "+short+" still runs.", "sned")
	b.shot("present-not-loaded")
	b.open("/flows")
	b.wantText(`tr[data-flow=media]`, "not loaded; version "+short+" still runs")
	if n := b.count(`tr[data-flow=long] .notloaded`); n != 0 {
		t.Errorf("the long flow shows as not loaded")
	}

	// An error page's Back goes back: it was a javascript: link, which
	// the console's own CSP blocks, so it did nothing.
	b.navigate("open a contact that does not exist", chromedp.NavigateResponse(b.base+"/contacts/sandbox/nobody"), 404)
	b.wantText("main", "Back")
	browserRun(b, "click Back", chromedp.Click(chromedp.CSS("a[data-back]")))
	// The page comes back from the browser's cache, without a request to
	// wait for, and chromedp's Poll (and an evaluation begun on the error
	// page) stays with the error page's context: ask the page shown, again
	// and again (each ask a round trip to the browser) until the deadline.
	back := false
	for deadline := time.Now().Add(browserStepTimeout); !back && time.Now().Before(deadline); {
		ctx, cancel := context.WithDeadline(b.ctx, deadline)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.pathname === "/flows" && !!document.querySelector("tr[data-flow=long]")`))
		cancel()
		back = err == nil && ok
	}
	if p := b.path(); !back || p != "/flows" {
		t.Errorf("Back led to %s, want /flows", p)
	}

	// A long word (a URL) wraps in the tables: it made the messages page
	// 2,700 px wide, the status and reason columns off screen.
	b.open("/simulator")
	b.typeInto(`form.say input[name=text]`, "url")
	b.submit("ask for a long URL", `form.say button`, 200)
	for _, page := range []string{"/messages", "/contacts"} {
		b.open(page)
		if w, vw := browserEval[int](b, `document.documentElement.scrollWidth`), browserEval[int](b, `window.innerWidth`); w > vw {
			t.Errorf("%s is %d px wide in a %d px window", page, w, vw)
		}
	}
}

// imageWidth loads the first image sel matches, lazy or not, and
// returns its natural width (0: it did not load).
func (b *browser) imageWidth(sel string) int {
	b.t.Helper()
	return browserRun(b, "load "+sel, chromedp.Evaluate[int](fmt.Sprintf(`new Promise(done => {
		const i = document.querySelector(%q);
		if (!i) return done(-1);
		i.loading = "eager";
		if (i.complete && i.naturalWidth) return done(i.naturalWidth);
		i.onload = () => done(i.naturalWidth);
		i.onerror = () => done(0);
	})`, sel), chromedp.EvalAwaitPromise))
}

// viewBox is the flow page's diagram's viewBox.
func (b *browser) viewBox() [4]float64 {
	b.t.Helper()
	var v [4]float64
	s := browserEval[string](b, `document.querySelector("#diagram svg").getAttribute("viewBox")`)
	if _, err := fmt.Sscan(s, &v[0], &v[1], &v[2], &v[3]); err != nil {
		b.t.Fatalf("viewBox %q: %v", s, err)
	}
	return v
}

// wantZoom checks the diagram's zoom.
func (b *browser) wantZoom(want string) {
	b.t.Helper()
	if z := browserEval[string](b, `document.querySelector("#diagram").dataset.zoom`); z != want {
		b.t.Fatalf("the diagram's zoom is %s, want %s", z, want)
	}
}

// center is the middle of the first element sel matches, in the
// window's coordinates.
func (b *browser) center(sel string) (x, y float64) {
	b.t.Helper()
	p := browserEval[[]float64](b, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left + r.width/2, r.top + Math.min(r.height/2, 150)]; })()`, sel))
	return p[0], p[1]
}
