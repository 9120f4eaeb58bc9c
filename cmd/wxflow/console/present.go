package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// The pages show a message as what it is (templates/message.html): a
// text as text, a news article as a card with its picture, title,
// description and link, an image as the image, a voice message or a
// video as such, playable when the file is on this server.

// messageFuncs are the templates' helpers for messages.
func (c *Console) messageFuncs() template.FuncMap {
	return template.FuncMap{
		"mediaSrc": mediaSrc,
		"playable": func(v MessageView) bool {
			m := v.Message
			return m != nil && m.Media != nil && (m.Media.URL != "" || strings.EqualFold(filepath.Ext(m.Media.Path), ".mp3"))
		},
		"base": filepath.Base,
		"size": formatSize,
	}
}

// mediaSrc is where a browser gets a message's media ("media") or a
// video's thumbnail ("thumb"): the console's /messages/ID/PART for a
// file of this server, the URL for an https one, "" for a WeChat media
// id (nothing to show).
func mediaSrc(v MessageView, part string) string {
	md := messageMediaPart(v.Message, part)
	switch {
	case md == nil:
		return ""
	case md.Path != "" || md.Upload != "":
		return "/messages/" + strconv.FormatInt(v.ID, 10) + "/" + part
	case strings.HasPrefix(md.URL, "https://"):
		return md.URL
	}
	return ""
}

// messageMediaPart is a message's media or thumbnail, or nil.
func messageMediaPart(m *channels.Message, part string) *channels.Media {
	if m == nil {
		return nil
	}
	switch part {
	case "media":
		return m.Media
	case "thumb":
		return m.Thumb
	}
	return nil
}

// formatSize says a file size in bytes, KB or MB.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// mediaTypes are the content types of the media files flows may send
// (flows.MediaLimits).
var mediaTypes = map[string]string{
	"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "bmp": "image/bmp",
	"amr": "audio/amr", "mp3": "audio/mpeg", "mp4": "video/mp4",
}

// messageMedia serves the file of a message's media or thumbnail
// (GET /messages/{id}/{part}, part media or thumb): only a file an
// outbound message names, of a type its kind allows.
func (c *Console) messageMedia(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	part := r.PathValue("part")
	if err != nil || (part != "media" && part != "thumb") {
		http.NotFound(w, r)
		return
	}
	var o *engine.OutboxEntry
	err = c.eng.Store().View(r.Context(), func(tx engine.ReadTx) error {
		var err error
		o, err = tx.OutboxEntry(id)
		return err
	})
	if err != nil {
		c.fail(w, r, fmt.Errorf("message %d: %w", id, err), false)
		return
	}
	md := messageMediaPart(&o.Message, part)
	if md != nil && md.Upload != "" {
		c.serveUpload(w, r, id, md)
		return
	}
	if md == nil || md.Path == "" {
		c.fail(w, r, fmt.Errorf("%w: message %d has no %s file on this server", engine.ErrNotFound, id, part), false)
		return
	}
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(md.Path)), ".")
	if !slices.Contains(flows.MediaLimits[md.Kind].Exts, ext) || mediaTypes[ext] == "" {
		c.fail(w, r, fmt.Errorf("%w: message %d's %s is not a %s file", engine.ErrNotFound, id, part, md.Kind), false)
		return
	}
	f, err := os.Open(md.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: the file of message %d is gone: %s", engine.ErrNotFound, id, filepath.Base(md.Path))
		}
		c.fail(w, r, err, false)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		c.fail(w, r, fmt.Errorf("%w: the file of message %d is not a regular file", engine.ErrNotFound, id), false)
		return
	}
	w.Header().Set("Content-Type", mediaTypes[ext])
	w.Header().Set("Cache-Control", "private, max-age=300")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// serveUpload serves the file of a message's media kept in the store (an
// operator's upload): any node's console has it.
func (c *Console) serveUpload(w http.ResponseWriter, r *http.Request, id int64, md *channels.Media) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(md.Upload)), ".")
	if !slices.Contains(flows.MediaLimits[md.Kind].Exts, ext) || mediaTypes[ext] == "" {
		c.fail(w, r, fmt.Errorf("%w: message %d's upload is not a %s file", engine.ErrNotFound, id, md.Kind), false)
		return
	}
	u, err := engine.ReadUpload(r.Context(), c.eng.Store(), md.Upload)
	if errors.Is(err, engine.ErrNotFound) {
		err = fmt.Errorf("%w: the upload of message %d is gone (pruned)", engine.ErrNotFound, id)
	}
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	w.Header().Set("Content-Type", mediaTypes[ext])
	// The key is the content's hash: it never changes.
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	http.ServeContent(w, r, "", u.Created, bytes.NewReader(u.Data))
}

// favicon answers /favicon.ico with the console's icon (the pages link
// /static/favicon.svg; browsers and tools ask for this one anyway).
func favicon(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/favicon.svg")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}
