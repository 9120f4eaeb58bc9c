package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// medTestFile writes a file of size bytes in a temporary directory.
func medTestFile(t *testing.T, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(name); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// medTestFiles serves files over HTTP and counts the requests.
type medTestFiles struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newMedTestFiles(t *testing.T) *medTestFiles {
	f := &medTestFiles{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		switch r.URL.Path {
		case "/big.jpg":
			// Chunked, no Content-Length: the client must stop reading.
			chunk := make([]byte, 1<<20)
			for range 11 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		case "/declared.mp3":
			w.Header().Set("Content-Length", "3000000")
			w.WriteHeader(http.StatusOK)
		case "/noext":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("png bytes"))
		case "/noext-html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>"))
		case "/small.png":
			w.Write([]byte("png bytes"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestUploadMediaRefusesBeforeUploading(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	files := newMedTestFiles(t)
	for _, tc := range []struct {
		name string
		m    *channels.Media
		want channels.Reason
		hits int64
	}{
		{"image txt", &channels.Media{Kind: "image", Path: medTestFile(t, "notes.txt", 10)}, channels.ReasonMediaType, 0},
		{"voice wav", &channels.Media{Kind: "voice", Path: medTestFile(t, "a.wav", 10)}, channels.ReasonMediaType, 0},
		{"thumb png", &channels.Media{Kind: "thumb", Path: medTestFile(t, "t.png", 10)}, channels.ReasonMediaType, 0},
		{"unknown kind", &channels.Media{Kind: "sticker", Path: medTestFile(t, "s.png", 10)}, channels.ReasonMediaType, 0},
		{"image 10MB+1", &channels.Media{Kind: "image", Path: medTestFile(t, "big.png", 10<<20+1)}, channels.ReasonMediaTooLarge, 0},
		{"voice 2MB+1", &channels.Media{Kind: "voice", Path: medTestFile(t, "long.mp3", 2<<20+1)}, channels.ReasonMediaTooLarge, 0},
		{"video 10MB+1", &channels.Media{Kind: "video", Path: medTestFile(t, "long.mp4", 10<<20+1)}, channels.ReasonMediaTooLarge, 0},
		{"thumb 64KB+1", &channels.Media{Kind: "thumb", Path: medTestFile(t, "t.jpg", 64<<10+1)}, channels.ReasonMediaTooLarge, 0},
		{"declared size", &channels.Media{Kind: "image", URL: files.srv.URL + "/small.png", Size: 11 << 20}, channels.ReasonMediaTooLarge, 0},
		{"URL wav", &channels.Media{Kind: "voice", URL: files.srv.URL + "/a.wav"}, channels.ReasonMediaType, 0},
		{"URL chunked 11MB", &channels.Media{Kind: "image", URL: files.srv.URL + "/big.jpg"}, channels.ReasonMediaTooLarge, 1},
		{"URL Content-Length", &channels.Media{Kind: "voice", URL: files.srv.URL + "/declared.mp3"}, channels.ReasonMediaTooLarge, 1},
		{"URL no extension, html", &channels.Media{Kind: "image", URL: files.srv.URL + "/noext-html"}, channels.ReasonMediaType, 1},
	} {
		before := files.hits.Load()
		_, err := b.client.UploadMedia(context.Background(), tc.m)
		var ref *channels.Refusal
		if !errors.As(err, &ref) || ref.Reason != tc.want {
			t.Errorf("%s: err = %v, want a %s refusal", tc.name, err, tc.want)
		}
		if got := files.hits.Load() - before; got != tc.hits {
			t.Errorf("%s: %d downloads, want %d", tc.name, got, tc.hits)
		}
	}
	if got := b.srv.Calls(wechattest.PathUpload); got != 0 {
		t.Errorf("upload calls = %d, want 0", got)
	}
	if got := b.srv.Calls(wechattest.PathStableToken); got != 0 {
		t.Errorf("token calls = %d, want 0 (nothing to upload)", got)
	}

	// Through SendMessage: the refusal passes through and nothing is sent.
	err := b.client.SendMessage(context.Background(), "o1", &channels.Message{Type: "video",
		Media: &channels.Media{Path: medTestFile(t, "v.mp4", 10)}, Thumb: &channels.Media{Path: medTestFile(t, "t.jpg", 65<<10)}})
	if !errors.Is(err, channels.ErrMediaTooLarge) {
		t.Errorf("video with a large thumb: %v, want media_too_large", err)
	}
	if !strings.Contains(err.Error(), "thumb is 65.0 KB, WeChat accepts up to 64 KB") {
		t.Errorf("detail: %v", err)
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 0 {
		t.Errorf("send calls = %d, want 0", got)
	}
}

func TestUploadMediaFromURL(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	files := newMedTestFiles(t)
	id, err := b.client.UploadMedia(context.Background(), &channels.Media{Kind: "image", URL: files.srv.URL + "/noext"})
	if err != nil {
		t.Fatal(err)
	}
	up := b.srv.Uploads()
	if len(up) != 1 || up[0].MediaID != id || up[0].Filename != "image.png" || up[0].Size != len("png bytes") {
		t.Errorf("uploads %+v, want image.png as %s", up, id)
	}
	// The same content from another URL is the same media.
	id2, err := b.client.UploadMedia(context.Background(), &channels.Media{Kind: "image", URL: files.srv.URL + "/small.png"})
	if err != nil || id2 != id {
		t.Errorf("same content: %q, %v; want %q", id2, err, id)
	}
	if _, err := b.client.UploadMedia(context.Background(), &channels.Media{Kind: "image", URL: files.srv.URL + "/missing.png"}); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("missing file: %v", err)
	}
}

// medTestCache is a MediaCache in memory that counts its use.
type medTestCache struct {
	mu      sync.Mutex
	entries map[string]medEntry
	saves   int
}

func (c *medTestCache) LoadMedia(_ context.Context, appID, key string) (string, time.Time, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[appID+"|"+key]
	return e.id, e.expires, ok, nil
}

func (c *medTestCache) SaveMedia(_ context.Context, appID, key, id string, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]medEntry{}
	}
	c.entries[appID+"|"+key] = medEntry{id, expires}
	c.saves++
	return nil
}

func TestUploadMediaCache(t *testing.T) {
	t.Parallel()
	cache := &medTestCache{}
	b := apiSetup(t, func(c *ClientConfig) { c.Media = cache })
	ctx := context.Background()
	img := medTestFile(t, "a.png", 1000)
	same := filepath.Join(t.TempDir(), "copy.png")
	data, _ := os.ReadFile(img)
	os.WriteFile(same, data, 0o600)

	id1, err := b.client.UploadMedia(ctx, &channels.Media{Kind: "image", Path: img})
	if err != nil {
		t.Fatal(err)
	}
	if cache.saves != 1 {
		t.Fatalf("cache saves = %d, want 1", cache.saves)
	}
	for key, e := range cache.entries {
		if !strings.HasPrefix(key, apiTestAppID+"|") || !strings.HasSuffix(key, ":image") || !e.expires.Equal(apiTestT0.Add(72*time.Hour)) {
			t.Errorf("cache entry %q %+v, want the AppID, kind image, expiry after 72h", key, e)
		}
	}
	// Same content under another name, 70 hours later: reused.
	b.clock.Advance(70 * time.Hour)
	if id, err := b.client.UploadMedia(ctx, &channels.Media{Kind: "image", Path: same}); err != nil || id != id1 {
		t.Errorf("after 70h: %q, %v; want the cached %q", id, err, id1)
	}
	if got := b.srv.Calls(wechattest.PathUpload); got != 1 {
		t.Errorf("upload calls = %d, want 1", got)
	}
	// Past 71 hours: less than an hour left, upload again.
	b.clock.Advance(time.Hour + time.Second)
	id2, err := b.client.UploadMedia(ctx, &channels.Media{Kind: "image", Path: img})
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id1 {
		t.Error("media id reused less than an hour before it expires")
	}
	if got := b.srv.Calls(wechattest.PathUpload); got != 2 {
		t.Errorf("upload calls = %d, want 2", got)
	}
	// A given media id is used as it is.
	if id, err := b.client.UploadMedia(ctx, &channels.Media{Kind: "image", MediaID: "GIVEN"}); err != nil || id != "GIVEN" {
		t.Errorf("media id: %q, %v", id, err)
	}
}

func TestUploadMediaThumbAndErrors(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	ctx := context.Background()
	id, err := b.client.UploadMedia(ctx, &channels.Media{Kind: "thumb", Path: medTestFile(t, "t.jpeg", 1000)})
	if err != nil || id == "" {
		t.Fatalf("thumb: %q, %v", id, err)
	}
	b.srv.FailNext(wechattest.PathUpload, 40005)
	_, err = b.client.UploadMedia(ctx, &channels.Media{Kind: "image", Path: medTestFile(t, "x.gif", 10)})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 40005 {
		t.Errorf("err = %v, want APIError 40005", err)
	}
	apiNoSecrets(t, err)
	// Uploads are idempotent: -1 and 5xx are retried.
	b.srv.FailNext(wechattest.PathUpload, -1)
	b.srv.FailHTTP(wechattest.PathUpload, 503)
	if _, err := b.client.UploadMedia(ctx, &channels.Media{Kind: "image", Path: medTestFile(t, "y.gif", 10)}); err != nil {
		t.Errorf("retried upload: %v", err)
	}
	if _, err := b.client.UploadMedia(ctx, &channels.Media{Kind: "image", Path: filepath.Join(t.TempDir(), "gone.png")}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestMedMemCacheForgetsExpired(t *testing.T) {
	t.Parallel()
	c := newMedMemCache()
	ctx := context.Background()
	for i := range 300 {
		c.SaveMedia(ctx, "a", strconv.Itoa(i), "old", apiTestT0)
	}
	// Saved a lifetime and more later: the old entries go.
	later := apiTestT0.Add(MediaLifetime + time.Hour)
	for i := range 600 {
		c.SaveMedia(ctx, "a", "new"+strconv.Itoa(i), "new", later)
	}
	if _, _, ok, _ := c.LoadMedia(ctx, "a", "new0"); !ok {
		t.Error("a fresh entry was forgotten")
	}
	if n := len(c.m); n != 600 {
		t.Errorf("%d entries kept, want the 600 unexpired ones", n)
	}
}

// medTestUploads is an UploadReader of a map.
type medTestUploads map[string][]byte

func (u medTestUploads) ReadUpload(_ context.Context, key string) ([]byte, error) {
	d, ok := u[key]
	if !ok {
		return nil, errors.New("no such upload")
	}
	return d, nil
}

// TestUploadMediaFromTheStore: a message's media kept in the store
// (Media.Upload) is read through the UploadReader and uploaded under its
// key's name; its type and size are checked as a file's; without a
// reader, or for an upload gone, it fails with nothing uploaded.
func TestUploadMediaFromTheStore(t *testing.T) {
	t.Parallel()
	ups := medTestUploads{"abc.png": []byte("png bytes"), "big.png": make([]byte, 10<<20+1), "notes.txt": []byte("text")}
	b := apiSetup(t, func(c *ClientConfig) { c.Uploads = ups })
	id, err := b.client.UploadMedia(context.Background(), &channels.Media{Kind: "image", Upload: "abc.png"})
	if err != nil || id == "" {
		t.Fatalf("UploadMedia of an upload: %q, %v", id, err)
	}
	got := b.srv.Uploads()
	if len(got) != 1 || got[0].Filename != "abc.png" || got[0].Size != len("png bytes") || got[0].MediaID != id {
		t.Fatalf("uploaded %+v", got)
	}
	for name, want := range map[string]channels.Reason{"big.png": channels.ReasonMediaTooLarge, "notes.txt": channels.ReasonMediaType} {
		_, err := b.client.UploadMedia(context.Background(), &channels.Media{Kind: "image", Upload: name})
		var ref *channels.Refusal
		if !errors.As(err, &ref) || ref.Reason != want {
			t.Errorf("%s: %v, want a %s refusal", name, err, want)
		}
	}
	if _, err := b.client.UploadMedia(context.Background(), &channels.Media{Kind: "image", Upload: "gone.png"}); err == nil || !strings.Contains(err.Error(), "no such upload") {
		t.Errorf("an upload gone: %v", err)
	}
	none := b.newClient(t)
	if _, err := none.UploadMedia(context.Background(), &channels.Media{Kind: "image", Upload: "abc.png"}); err == nil || !strings.Contains(err.Error(), "reads no uploads") {
		t.Errorf("no UploadReader: %v", err)
	}
	if n := len(b.srv.Uploads()); n != 1 {
		t.Errorf("%d uploads, want the first only", n)
	}
}
