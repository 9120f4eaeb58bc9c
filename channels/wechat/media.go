package wechat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// MediaLifetime is how long WeChat keeps temporary media.
const MediaLifetime = 72 * time.Hour

// medReuseMargin is how long before the end of its lifetime a cached
// media id is no longer reused.
const medReuseMargin = time.Hour

// MediaCache remembers uploaded temporary media by AppID (a media id is
// the app's, whichever account id names it) and a key (the file's content
// hash and its kind), until the media expires on WeChat.
type MediaCache interface {
	// LoadMedia returns the media id saved under key, and when it
	// expires; ok is false when there is none.
	LoadMedia(ctx context.Context, appID, key string) (mediaID string, expires time.Time, ok bool, err error)
	// SaveMedia saves a media id under key, replacing any previous one.
	SaveMedia(ctx context.Context, appID, key, mediaID string, expires time.Time) error
}

// UploadReader reads the files kept in the store that messages name by
// channels.Media.Upload (images operators uploaded in the console).
type UploadReader interface {
	// ReadUpload returns the content of the upload with the given key.
	ReadUpload(ctx context.Context, key string) ([]byte, error)
}

// medEntry is one media id the memory cache keeps.
type medEntry struct {
	id      string
	expires time.Time
}

// medMemCache is the MediaCache used when none is configured. It forgets
// expired entries as it grows.
type medMemCache struct {
	mu      sync.Mutex
	m       map[string]medEntry
	sweepAt int
}

func newMedMemCache() *medMemCache { return &medMemCache{m: map[string]medEntry{}} }

func (c *medMemCache) LoadMedia(_ context.Context, appID, key string) (string, time.Time, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[appID+"\x00"+key]
	return e.id, e.expires, ok, nil
}

func (c *medMemCache) SaveMedia(_ context.Context, appID, key, mediaID string, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.sweepAt {
		// Entries saved a lifetime before this one have expired.
		before := expires.Add(-MediaLifetime)
		for k, e := range c.m {
			if e.expires.Before(before) {
				delete(c.m, k)
			}
		}
		c.sweepAt = 2*len(c.m) + 256
	}
	c.m[appID+"\x00"+key] = medEntry{mediaID, expires}
	return nil
}

// medContentTypes maps the MIME types of downloads without a file
// extension to one.
var medContentTypes = map[string]string{
	"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/bmp": "bmp",
	"audio/amr": "amr", "audio/mpeg": "mp3", "audio/mp3": "mp3", "video/mp4": "mp4",
}

// UploadMedia returns a media id for m: m.MediaID as it is, or the id of
// the file at m.Path, m.URL or kept in the store as m.Upload, uploaded as
// temporary media of kind m.Kind.
// The file's type (by extension) and size are checked before anything is
// uploaded, and a file WeChat would not accept returns a
// *channels.Refusal (ReasonMediaType or ReasonMediaTooLarge). The same
// content of the same kind is uploaded once and its id reused until an
// hour before WeChat forgets it (3 days after the upload).
//
// A send that WeChat refuses with 40007 (invalid media_id) forgets the
// cached ids of its media, so that the next send uploads them again.
func (c *Client) UploadMedia(ctx context.Context, m *channels.Media) (string, error) {
	id, _, err := c.uploadMedia(ctx, m)
	return id, err
}

// ErrCodeInvalidMediaID is WeChat's errcode for a media id it does not
// know (expired, or never uploaded by this account): "invalid media_id".
const ErrCodeInvalidMediaID = 40007

// uploadMedia is UploadMedia; key is the cache key of the id returned
// ("" for a media id given as it is).
func (c *Client) uploadMedia(ctx context.Context, m *channels.Media) (id, key string, err error) {
	if m == nil {
		return "", "", errors.New("wechat: upload media: no media")
	}
	if m.MediaID != "" {
		return m.MediaID, "", nil
	}
	kind := m.Kind
	if err := checkMedia(m, kind); err != nil {
		return "", "", err
	}
	lim := mediaLimits[kind]
	var data []byte
	var name string
	switch {
	case m.Path != "":
		data, err = medReadFile(m.Path, kind, lim)
		name = filepath.Base(m.Path)
	case m.URL != "":
		data, name, err = c.medDownload(ctx, m.URL, kind, lim)
	case m.Upload != "":
		data, err = c.medReadUpload(ctx, m.Upload, kind, lim)
		name = m.Upload
	default:
		return "", "", fmt.Errorf("wechat: upload %s: the media has no path, URL, upload or media id", kind)
	}
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(data)
	key = hex.EncodeToString(sum[:]) + ":" + kind
	now := c.clock.Now()
	id, expires, ok, err := c.media.LoadMedia(ctx, c.appID, key)
	switch {
	case err != nil:
		c.log.Warn("wechat: loading a cached media id failed; uploading", "account", c.account, "kind", kind, "err", err.Error())
	case ok && id != "" && now.Before(expires.Add(-medReuseMargin)):
		return id, key, nil
	}
	id, err = c.medUpload(ctx, kind, name, data)
	if err != nil {
		return "", "", err
	}
	// The lifetime counts from before the upload started: never later
	// than WeChat's own created_at, whatever the clocks say.
	if err := c.media.SaveMedia(ctx, c.appID, key, id, now.Add(MediaLifetime)); err != nil {
		c.log.Warn("wechat: caching a media id failed", "account", c.account, "kind", kind, "err", err.Error())
	}
	return id, key, nil
}

// forgetMedia drops the cached media ids that WeChat refused (used is
// the ids a send used, by cache key), unless another upload replaced
// them meanwhile: the next send of the same file uploads it again.
func (c *Client) forgetMedia(ctx context.Context, used map[string]string) {
	for key, id := range used {
		cached, _, ok, err := c.media.LoadMedia(ctx, c.appID, key)
		if err == nil && (!ok || cached != id) {
			continue
		}
		if err == nil {
			// An empty id that expires now is never reused.
			err = c.media.SaveMedia(ctx, c.appID, key, "", c.clock.Now())
		}
		if err != nil {
			c.log.Warn("wechat: forgetting a refused media id failed", "account", c.account, "err", err.Error())
		}
	}
}

// medTooLarge is the refusal of a file over its kind's limit.
func medTooLarge(kind string, size int64, lim mediaLimit) error {
	return &channels.Refusal{Reason: channels.ReasonMediaTooLarge,
		Detail: fmt.Sprintf("%s is %s, WeChat accepts up to %s", kind, formatSize(size, lim.size), formatLimit(lim.size))}
}

// medReadFile reads a local file, refusing it from its size before
// reading it when it is over the limit.
func medReadFile(p, kind string, lim mediaLimit) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("wechat: upload %s: %w", kind, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wechat: upload %s: %w", kind, err)
	}
	if st.Size() > lim.size {
		return nil, medTooLarge(kind, st.Size(), lim)
	}
	data, err := io.ReadAll(io.LimitReader(f, lim.size+1))
	if err != nil {
		return nil, fmt.Errorf("wechat: upload %s: read %s: %w", kind, p, err)
	}
	if int64(len(data)) > lim.size {
		return nil, medTooLarge(kind, int64(len(data)), lim)
	}
	return data, nil
}

// medReadUpload reads a file kept in the store.
func (c *Client) medReadUpload(ctx context.Context, key, kind string, lim mediaLimit) ([]byte, error) {
	if c.uploads == nil {
		return nil, fmt.Errorf("wechat: upload %s: the message names the upload %s, and the client reads no uploads", kind, key)
	}
	data, err := c.uploads.ReadUpload(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("wechat: upload %s: %w", kind, err)
	}
	if int64(len(data)) > lim.size {
		return nil, medTooLarge(kind, int64(len(data)), lim)
	}
	return data, nil
}

// medExtOK reports whether ext is one the kind accepts.
func medExtOK(ext string, lim mediaLimit) bool {
	for _, e := range lim.extensions {
		if ext == e {
			return true
		}
	}
	return false
}

// medDownload fetches a file to upload, refusing it when its type is not
// one the kind accepts or when it is larger than the limit (it stops
// reading past the limit). It returns the content and a file name with an
// extension.
func (c *Client) medDownload(ctx context.Context, rawURL, kind string, lim mediaLimit) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, "", fmt.Errorf("wechat: upload %s: media URL %q is not an http(s) URL", kind, rawURL)
	}
	name := path.Base(u.Path)
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(u.Path), "."))
	refuseType := func(got string) error {
		return &channels.Refusal{Reason: channels.ReasonMediaType,
			Detail: fmt.Sprintf("%s at %s %s, WeChat accepts %s", kind, rawURL, got, strings.Join(lim.extensions, ", "))}
	}
	if ext != "" && !medExtOK(ext, lim) {
		return nil, "", refuseType("is ." + ext)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("wechat: upload %s: %w", kind, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("wechat: upload %s: download: %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("wechat: upload %s: download %s: HTTP %d %s", kind, rawURL, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if ext == "" {
		ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		ext = medContentTypes[ct]
		if ext == "" || !medExtOK(ext, lim) {
			got := "has no extension"
			if ct != "" {
				got = "has no extension and is " + ct
			}
			return nil, "", refuseType(got)
		}
		name = kind + "." + ext
	}
	if resp.ContentLength > lim.size {
		return nil, "", medTooLarge(kind, resp.ContentLength, lim)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, lim.size+1))
	if err != nil {
		return nil, "", fmt.Errorf("wechat: upload %s: download %s: %w", kind, rawURL, err)
	}
	if int64(len(data)) > lim.size {
		return nil, "", &channels.Refusal{Reason: channels.ReasonMediaTooLarge,
			Detail: fmt.Sprintf("%s at %s is over %s, WeChat accepts up to %s", kind, rawURL, formatLimit(lim.size), formatLimit(lim.size))}
	}
	return data, name, nil
}

// medUpload uploads content as temporary media of a kind and returns its
// media id.
func (c *Client) medUpload(ctx context.Context, kind, name string, data []byte) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile("media", name)
	if err == nil {
		_, err = part.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return "", fmt.Errorf("wechat: upload %s: %w", kind, err)
	}
	var out struct {
		Type         string `json:"type"`
		MediaID      string `json:"media_id"`
		ThumbMediaID string `json:"thumb_media_id"`
		CreatedAt    int64  `json:"created_at"`
	}
	body := &apiMultipart{contentType: w.FormDataContentType(), data: buf.Bytes()}
	if err := c.call(ctx, http.MethodPost, "/cgi-bin/media/upload", url.Values{"type": {kind}}, body, &out); err != nil {
		return "", fmt.Errorf("upload %s: %w", kind, err)
	}
	id := out.MediaID
	if id == "" {
		// WeChat answers thumbnails with thumb_media_id.
		id = out.ThumbMediaID
	}
	if id == "" {
		return "", fmt.Errorf("wechat: upload %s: the answer has no media id", kind)
	}
	return id, nil
}
