package flows

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Message is what a `send` step sends or an `ask` step asks: text, media,
// a news article or a message menu.
type Message struct {
	// Type is text, image, voice, video, news or menu.
	Type string
	Text *Template
	// Media is the image, voice or video; Thumb the video's thumbnail.
	Media, Thumb       *Media
	Title, Description *Template
	News               *News
	Menu               *MsgMenu
	Pos                Pos
}

// Media is a media file: a path relative to the flow file (checked at load
// time), a URL, or a media_id already uploaded to WeChat.
type Media struct {
	// Kind is image, voice, video or thumb.
	Kind string
	// Path is the file's absolute path, when the media is a file.
	Path    string
	URL     string
	MediaID string
	// Size is the file's size in bytes, when the media is a file.
	Size int64
	Pos  Pos
}

// News is one article of a news message.
type News struct {
	Title, Description, URL, PicURL *Template
}

// MsgMenu is a WeChat message menu: a head text, items the contact taps,
// and a tail text.
type MsgMenu struct {
	Head, Tail *Template
	Items      []MenuItem
}

// MenuItem is one tappable line of a message menu.
type MenuItem struct {
	ID   string
	Text *Template
}

// MediaLimit is what WeChat accepts for one kind of media.
type MediaLimit struct {
	MaxBytes int64
	// Exts are the accepted file extensions, lower case, without the dot.
	Exts []string
}

// MediaLimits are WeChat's limits for temporary media (WECHAT.md).
var MediaLimits = map[string]MediaLimit{
	"image": {MaxBytes: 10 << 20, Exts: []string{"jpg", "jpeg", "png", "gif", "bmp"}},
	"voice": {MaxBytes: 2 << 20, Exts: []string{"amr", "mp3"}},
	"video": {MaxBytes: 10 << 20, Exts: []string{"mp4"}},
	"thumb": {MaxBytes: 64 << 10, Exts: []string{"jpg", "jpeg"}},
}

// noMediaTemplate is the hint for ${...} in a media file, URL or id:
// media is uploaded and cached by what is written.
const noMediaTemplate = "write it out; for media that depends on the contact, branch to one send each"

func mediaType(kind string) *Type {
	byID := ObjectOf("media id", kind, Field{Name: "media_id", Type: String, Required: true, Example: "MEDIA_ID", Doc: "The id of media already uploaded to WeChat."})
	t := Refine(OneOf(kind, String, byID), kind,
		"A file path relative to the flow file, an http(s) URL (whose extension, when it has one, is one of the kind's types: the file is fetched when the message is sent), or `{media_id: ...}`, written out (not a template: `${...}` in it is an error).",
		func(v any, at Pos, r *Reporter) (any, bool) {
			m := &Media{Kind: kind, Pos: at}
			switch v := v.(type) {
			case *Object:
				m.MediaID = v.String("media_id")
				if strings.Contains(m.MediaID, "${") {
					r.p.report(SeverityError, v.At("media_id"), noMediaTemplate, fmt.Sprintf("a media_id is not a template: %q would be sent as written", m.MediaID))
					return nil, false
				}
				return m, true
			case string:
				if strings.Contains(v, "${") {
					r.p.report(SeverityError, at, noMediaTemplate, fmt.Sprintf("%s's file or URL is not a template: %q would be sent as written", article(kind), v))
					return nil, false
				}
				if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
					// A URL's extension, when it has one, must be one
					// WeChat takes: the channel refuses it before the
					// download (media_type).
					if u, err := url.Parse(v); err == nil {
						limit := MediaLimits[m.Kind]
						if ext := strings.TrimPrefix(strings.ToLower(path.Ext(u.Path)), "."); ext != "" && !contains(limit.Exts, ext) {
							r.p.report(SeverityError, at, "WeChat accepts "+m.Kind+" files of type "+strings.Join(limit.Exts, ", "), fmt.Sprintf("%s %q has an unsupported type", m.Kind, v))
							return nil, false
						}
					}
					m.URL = v
					return m, true
				}
				return r.p.mediaFile(m, v, at)
			}
			return nil, false
		})
	t.literal = true
	return t
}

// mediaFile checks a media file named in a flow: it exists, and its type
// and size fit WeChat's limits for the kind.
func (p *parser) mediaFile(m *Media, name string, at Pos) (*Media, bool) {
	limit := MediaLimits[m.Kind]
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.file), name)
	}
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(name)), ".")
	if !contains(limit.Exts, ext) {
		p.report(SeverityError, at, "WeChat accepts "+m.Kind+" files of type "+strings.Join(limit.Exts, ", "), fmt.Sprintf("%s %q has an unsupported type", m.Kind, name))
		return nil, false
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		p.report(SeverityError, at, "paths are relative to the flow file's folder", fmt.Sprintf("%s file %q not found", m.Kind, name))
		return nil, false
	}
	if st.Size() > limit.MaxBytes {
		p.report(SeverityError, at, fmt.Sprintf("WeChat accepts %s files up to %s, %d bytes", m.Kind, formatBytes(limit.MaxBytes), limit.MaxBytes),
			fmt.Sprintf("%s %q is too large: %d bytes", m.Kind, name, st.Size()))
		return nil, false
	}
	if m.Kind == "image" || m.Kind == "thumb" {
		if f, err := os.Open(path); err == nil {
			head := make([]byte, 512)
			n, _ := f.Read(head)
			f.Close()
			if ct := http.DetectContentType(head[:n]); !strings.HasPrefix(ct, "image/") {
				p.report(SeverityError, at, "the file's content is "+ct, fmt.Sprintf("%s %q is not an image", m.Kind, name))
				return nil, false
			} else if m.Kind == "thumb" && ct != "image/jpeg" {
				// WeChat takes a video's thumbnail as JPEG only.
				p.report(SeverityError, at, "the file's content is "+ct+"; save it as JPEG", fmt.Sprintf("thumb %q is not a JPEG", name))
				return nil, false
			}
		}
	}
	m.Path, m.Size = path, st.Size()
	return m, true
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var messageKinds = []string{"text", "image", "voice", "video", "news", "menu"}

var messageFields = []Field{
	{Name: "text", Type: Text, Doc: "A text message."},
	{Name: "image", Type: mediaType("image"), Doc: "An image (jpg, png, gif, bmp; up to 10 MB)."},
	{Name: "voice", Type: mediaType("voice"), Doc: "A voice message (amr, mp3; up to 2 MB; mainland accounts only)."},
	{Name: "video", Type: mediaType("video"), Doc: "A video (mp4; up to 10 MB; mainland accounts only)."},
	{Name: "title", Type: Text, Doc: "The video's title."},
	{Name: "description", Type: Text, Doc: "The video's description."},
	{Name: "thumb", Type: mediaType("thumb"), Doc: "The video's thumbnail (jpg, up to 64 KB)."},
	{Name: "news", Type: ObjectOf("news article", "news article",
		Field{Name: "title", Type: Text, Required: true, Example: `"New arrivals"`, Doc: "The article's title."},
		Field{Name: "description", Type: Text, Doc: "A line under the title."},
		Field{Name: "url", Type: Text, Required: true, Example: `"https://shop.example.com/new"`, Doc: "Where a tap leads."},
		Field{Name: "picurl", Type: Text, Doc: "The picture's URL."}), Doc: "One news article: `title`, `description`, `url`, `picurl`."},
	{Name: "menu", Type: ObjectOf("message menu", "message menu",
		Field{Name: "head", Type: Text, Doc: "Text above the items."},
		Field{Name: "items", Type: ListOf(ObjectOf("menu item", "menu item",
			Field{Name: "id", Type: Literal(String, "id", "sent back", "write it out: the tap sends the id back to the flow"), Required: true, Example: "hours", Doc: "The value the tap sends back: not empty, unique in the menu, and written as is (not a template)."},
			Field{Name: "text", Type: Text, Required: true, Example: `"Opening hours"`, Doc: "The item's text, not empty."}), true), Required: true, Example: `[{ id: hours, text: "Opening hours" }]`, Doc: "The items the contact taps: `{id, text}`."},
		Field{Name: "tail", Type: Text, Doc: "Text below the items."}), Doc: "A message menu: `head`, `items` (`{id, text}`), `tail`."},
}

// MessageType is what `send` and `ask` accept: a text, or a map with one of
// text, image, voice, video, news or menu.
var MessageType = Refine(OneOf("message", Text, ObjectOf("message", "", messageFields...)), "message",
	"A text, or a map with one of `text`, `image`, `voice`, `video` (+`title`, `description`, `thumb`), `news`, `menu`.",
	func(v any, at Pos, r *Reporter) (any, bool) {
		m := &Message{Pos: at}
		switch v := v.(type) {
		case *Template:
			if strings.TrimSpace(v.Src) == "" {
				r.Errorf(at, "write the text to send", "empty message")
				return nil, false
			}
			m.Type, m.Text = "text", v
			return m, true
		case *Object:
			var kinds []string
			for _, k := range messageKinds {
				if v.Has(k) {
					kinds = append(kinds, k)
				}
			}
			if len(kinds) != 1 {
				if len(kinds) == 0 {
					r.Errorf(at, "add one of "+strings.Join(messageKinds, ", "), "message has no content")
				} else {
					r.Errorf(v.KeyPos[kinds[1]], "send them as two messages", "a message has one kind, but this one has %q and %q", kinds[0], kinds[1])
				}
				return nil, false
			}
			m.Type = kinds[0]
			for _, k := range []string{"title", "description", "thumb"} {
				if v.Has(k) && m.Type != "video" {
					r.Errorf(v.KeyPos[k], "title, description and thumb go with video", "%q does not apply to %s message", k, article(m.Type))
					return nil, false
				}
			}
			m.Text = v.Template("text")
			if m.Type == "text" && m.Text != nil && strings.TrimSpace(m.Text.Src) == "" {
				r.Errorf(v.At("text"), "write the text to send", "empty message")
				return nil, false
			}
			m.Title, m.Description = v.Template("title"), v.Template("description")
			if md, ok := v.Get(m.Type).(*Media); ok {
				m.Media = md
			}
			m.Thumb, _ = v.Get("thumb").(*Media)
			if n, ok := v.Get("news").(*Object); ok {
				m.News = &News{Title: n.Template("title"), Description: n.Template("description"), URL: n.Template("url"), PicURL: n.Template("picurl")}
			}
			if mo, ok := v.Get("menu").(*Object); ok {
				m.Menu = &MsgMenu{Head: mo.Template("head"), Tail: mo.Template("tail")}
				items, _ := mo.Get("items").([]any)
				if !menuItems(items, m.Menu, r) {
					return nil, false
				}
			}
			return m, true
		}
		return nil, false
	})

// menuItems checks a message menu's items and adds them to menu: an id
// and a text that are not empty, and ids unique in the menu (the tap
// sends the id back, so two items with one id cannot be told apart).
func menuItems(items []any, menu *MsgMenu, r *Reporter) bool {
	ok := true
	first := map[string]Pos{}
	for _, it := range items {
		io, isObj := it.(*Object)
		if !isObj {
			continue
		}
		id, text := io.String("id"), io.Template("text")
		switch {
		case strings.TrimSpace(id) == "":
			r.Errorf(io.At("id"), "write the value the tap sends back, e.g. id: \"1\"", "empty menu item id")
			ok = false
		case first[strings.TrimSpace(id)] != Pos{}:
			r.Errorf(io.At("id"), fmt.Sprintf("it is first used at line %d; give each item its own id", first[strings.TrimSpace(id)].Line), "duplicate menu item id %q", id)
			ok = false
		default:
			first[strings.TrimSpace(id)] = io.At("id")
		}
		if text != nil && strings.TrimSpace(text.Src) == "" {
			r.Errorf(io.At("text"), "write the text the contact taps", "empty menu item text")
			ok = false
		}
		menu.Items = append(menu.Items, MenuItem{ID: id, Text: text})
	}
	return ok
}
