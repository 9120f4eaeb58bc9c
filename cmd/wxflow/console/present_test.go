package console

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

// mediaFlows send every kind of message but menus (a text message opens
// a window of 5 messages).
var mediaFlows = map[string]string{
	"media.yaml": `name: media
triggers:
  - keyword: [media]
steps:
  - send:
      news:
        title: "Autumn sale"
        description: "Everything 20% off this week"
        url: "https://example.com/sale"
        picurl: "https://example.com/sale.jpg"
  - send:
      image: pic.png
  - send:
      voice: hello.mp3
  - send:
      video: clip.mp4
      title: "How to order"
      description: "Two minutes"
  - send: "That was all."
`,
}

// newMediaFixture is a console over a sandbox with mediaFlows and their
// files; change alters the console's Config.
func newMediaFixture(t *testing.T, change func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	var pic bytes.Buffer
	if err := png.Encode(&pic, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"pic.png": pic.Bytes(), "hello.mp3": []byte("ID3\x03\x00\x00\x00\x00\x00\x00voice"), "clip.mp4": []byte("\x00\x00\x00\x18ftypmp42video")}
	for name, src := range mediaFlows {
		files[name] = []byte(src)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.Diags.HasErrors() {
		t.Fatal(set.Diags.Err())
	}
	sb, err := sandbox.New(context.Background(), sandbox.Config{Set: set, Start: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), DBPath: filepath.Join(dir, "db.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg := Config{Engine: sb.Engine(), Sandbox: sb, Accounts: []string{sb.Account()}}
	if change != nil {
		change(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, c)
	return &fixture{t: t, sb: sb, c: c, srv: srv}
}

// play does a simulator action through the API.
func (f *fixture) play(a SimAction) SimView {
	f.t.Helper()
	b, _ := json.Marshal(a)
	status, body, _ := f.do("POST", "/api/sandbox", "", string(b))
	if status != http.StatusOK {
		f.t.Fatalf("%+v: %d %s", a, status, body)
	}
	return decode[SimView](f.t, body)
}

// page gets a page that must answer 200.
func (f *fixture) page(path string) string {
	f.t.Helper()
	status, body, _ := f.do("GET", path, "", "")
	if status != http.StatusOK {
		f.t.Fatalf("GET %s: %d\n%s", path, status, body)
	}
	return body
}

// TestConsoleShowsMessagesAsTheyAre: a news article is a card (picture,
// title as its link, description), an image is the image (served from
// the flow's file), a voice message and a video say so and play, on
// every page that lists messages; never "NEWS news".
func TestConsoleShowsMessagesAsTheyAre(t *testing.T) {
	t.Parallel()
	f := newMediaFixture(t, nil)
	v := f.play(SimAction{Contact: "amy", Action: "text", Text: "media"})
	var ids []int64
	for _, l := range v.Chat {
		if l.Message != nil {
			ids = append(ids, l.Message.ID)
			if l.Message.Status != "sent" {
				t.Fatalf("message %d %s: %s %s", l.Message.ID, l.Message.Type, l.Message.Status, l.Message.Reason)
			}
		}
	}
	if len(ids) != 5 {
		t.Fatalf("%d messages sent, want 5: %+v", len(ids), v.Chat)
	}
	if v.Chat[1].Message.Summary != "Autumn sale" {
		t.Errorf("the news message's summary is %q, want its title", v.Chat[1].Message.Summary)
	}
	run := v.Chat[1].Message.RunID
	image, voice, video := ids[1], ids[2], ids[3]
	card := regexp.MustCompile(`<span class="news-card"><img class="news-pic" src="https://example.com/sale.jpg"[^>]*><span class="news-body"><a class="news-title" href="https://example.com/sale"[^>]*>Autumn sale</a><span class="news-desc">Everything 20% off this week</span>`)
	for _, path := range []string{"/messages", "/runs/" + itoa(run), "/contacts/sandbox/amy", "/simulator?contact=amy"} {
		body := f.page(path)
		if !card.MatchString(body) {
			t.Errorf("%s shows no news card:\n%s", path, body)
		}
		if strings.Contains(body, "</span> news<") {
			t.Errorf("%s shows the news message as its type", path)
		}
		for _, want := range []string{
			`<img src="/messages/` + itoa(image) + `/media" alt="the image sent"`,
			`<span class="media-label">voice message</span> <audio class="msg-voice" controls preload="none" src="/messages/` + itoa(voice) + `/media">`,
			`<span class="media-label">video</span> <b class="video-title">How to order</b> <span class="video-desc">Two minutes</span><video class="msg-video" controls preload="none" src="/messages/` + itoa(video) + `/media">`,
			`<span class="media-ref muted">clip.mp4 · 17 bytes</span>`,
			`<span class="text">That was all.</span>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s does not show %s", path, want)
			}
		}
	}

	// The image is the flow's file.
	status, body, h := f.do("GET", "/messages/"+itoa(image)+"/media", "", "")
	if status != http.StatusOK || h.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG") {
		t.Errorf("the image: %d %s %.8q", status, h.Get("Content-Type"), body)
	}
	status, _, h = f.do("GET", "/messages/"+itoa(video)+"/media", "", "")
	if status != http.StatusOK || h.Get("Content-Type") != "video/mp4" {
		t.Errorf("the video: %d %s", status, h.Get("Content-Type"))
	}
	// Nothing else: no thumbnail, a text has no file, no such message.
	for _, path := range []string{"/messages/" + itoa(video) + "/thumb", "/messages/" + itoa(ids[4]) + "/media", "/messages/999/media", "/messages/x/media", "/messages/" + itoa(image) + "/other"} {
		if status, _, _ := f.do("GET", path, "", ""); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, status)
		}
	}
}

// TestConsoleTimesInTheZone: every time the pages show is in the
// config's time zone, with the zone's abbreviation, and the header names
// the zone.
func TestConsoleTimesInTheZone(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	f := newMediaFixture(t, func(c *Config) { c.Zone, c.ZoneName = shanghai, "Asia/Shanghai" })
	v := f.play(SimAction{Contact: "amy", Action: "text", Text: "media"})
	run := v.Chat[1].Message.RunID
	// The sandbox's clock starts at 10:00 UTC: 18:00 in Shanghai.
	for _, path := range []string{"/messages", "/runs/" + itoa(run), "/runs", "/contacts", "/contacts/sandbox/amy", "/simulator?contact=amy", "/flows"} {
		body := f.page(path)
		if !strings.Contains(body, `<time id="now" data-live datetime="2026-11-02T18:00:00&#43;08:00">2026-11-02 18:00:00 CST</time> <span id="zone">Asia/Shanghai</span>`) {
			t.Errorf("%s: the header does not show the clock in Asia/Shanghai:\n%.1500s", path, body)
		}
		if path == "/flows" {
			continue
		}
		if n := strings.Count(body, "2026-11-02 18:00:00 CST"); n < 2 {
			t.Errorf("%s shows 2026-11-02 18:00:00 CST %d times, want the header's and the page's", path, n)
		}
		if strings.Contains(body, "10:00:00") {
			t.Errorf("%s shows a time in UTC", path)
		}
	}
	if body := f.page("/simulator?contact=amy"); !strings.Contains(body, `<time id="sim-now" datetime="2026-11-02T18:00:00&#43;08:00">2026-11-02 18:00:00 CST</time>`) {
		t.Errorf("the simulator's clock is not in Asia/Shanghai")
	}
	// Without a zone name the location's; "Local" says its offset.
	g := newMediaFixture(t, func(c *Config) { c.Zone = time.FixedZone("", 0) })
	if body := g.page("/flows"); !strings.Contains(body, `2026-11-02 10:00:00 &#43;0000</time> <span id="zone">UTC</span>`) {
		t.Errorf("a zone without a name:\n%.1500s", body)
	}
	h := newMediaFixture(t, func(c *Config) { c.Zone, c.ZoneName = time.FixedZone("", 8*3600), "Local" })
	if body := h.page("/flows"); !strings.Contains(body, `<span id="zone">Local, UTC&#43;08:00</span>`) {
		t.Errorf("the machine's zone:\n%.1500s", body)
	}
}

// TestConsoleFlowNotLoaded: a flow whose file failed the last reload
// shows, on its page and in the list, that the file is not loaded and
// which version still runs, with the file's errors.
func TestConsoleFlowNotLoaded(t *testing.T) {
	t.Parallel()
	var last flows.Diagnostics
	f := newMediaFixture(t, func(c *Config) { c.Diagnostics = func() flows.Diagnostics { return last } })
	fl := f.sb.Engine().Flows().Flows[0]
	short := shortVersion(fl.Version)
	page := f.page("/flows/media")
	if strings.Contains(page, "not loaded") {
		t.Fatal("the flow page says not loaded before any failed reload")
	}
	// The file is broken on disk, and the reload fails.
	if err := os.WriteFile(fl.File, []byte(strings.Replace(mediaFlows["media.yaml"], "  - send: \"That was all.\"", "  - sned: \"That was all.\"", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flows.LoadDir(filepath.Dir(fl.File), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !set.Diags.HasErrors() {
		t.Fatal("the broken file loads")
	}
	last = set.Diags
	page = f.page("/flows/media")
	for _, want := range []string{`id="not-loaded"`, "media.yaml not loaded</b>; version <code title=\"" + fl.Version + "\">" + short + "</code> still runs.", "sned"} {
		if !strings.Contains(page, want) {
			t.Errorf("the flow page does not show %q:\n%s", want, page)
		}
	}
	list := f.page("/flows")
	if !strings.Contains(list, `<div class="bad notloaded">not loaded; version `+short+` still runs</div>`) {
		t.Errorf("the flow list does not say the file is not loaded:\n%s", list)
	}
	_, body, _ := f.do("GET", "/api/flows/media", "", "")
	if v := decode[FlowView](t, body); !v.NotLoaded || v.Version != fl.Version {
		t.Errorf("API: not_loaded %v, version %s", v.NotLoaded, v.Version)
	}
}

// TestConsoleFavicon: the pages link an icon, and /favicon.ico answers
// it, without a login.
func TestConsoleFavicon(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testToken)
	for _, path := range []string{"/favicon.ico", "/static/favicon.svg"} {
		status, body, h := f.do("GET", path, "", "")
		if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "image/svg+xml") || !strings.HasPrefix(body, "<svg") {
			t.Errorf("GET %s: %d %s %.20q", path, status, h.Get("Content-Type"), body)
		}
	}
	_, login, _ := f.do("GET", "/login", "", "")
	if !strings.Contains(login, `<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">`) {
		t.Errorf("the login page links no icon")
	}
}

// TestConsoleDiagramZoomable: the flow page's diagram is focusable and
// loads the zoom script, which the console serves.
func TestConsoleDiagramZoomable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	page := f.page("/flows/hello")
	if !strings.Contains(page, `<div class="diagram" id="diagram" tabindex="0"`) || !strings.Contains(page, `<script src="/static/diagram.js" defer></script>`) {
		t.Errorf("the flow page's diagram cannot zoom:\n%s", page)
	}
	status, body, h := f.do("GET", "/static/diagram.js", "", "")
	if status != http.StatusOK || !strings.Contains(h.Get("Content-Type"), "javascript") || !strings.Contains(body, "viewBox") {
		t.Errorf("diagram.js: %d %s", status, h.Get("Content-Type"))
	}
}

func newTestServer(t *testing.T, c *Console) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
