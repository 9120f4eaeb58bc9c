package engine

import (
	"fmt"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
)

// render fills in a message's templates in env.
func render(m *flows.Message, env *flows.Env) (*channels.Message, error) {
	var err error
	text := func(t *flows.Template) string {
		if t == nil || err != nil {
			return ""
		}
		s, e := t.Render(env)
		if e != nil {
			err = fmt.Errorf("line %d: %w", m.Pos.Line, e)
		}
		return s
	}
	out := &channels.Message{Type: m.Type, Text: text(m.Text), Title: text(m.Title), Description: text(m.Description)}
	out.Media = media(m.Media)
	out.Thumb = media(m.Thumb)
	if m.News != nil {
		out.News = &channels.News{Title: text(m.News.Title), Description: text(m.News.Description), URL: text(m.News.URL), PicURL: text(m.News.PicURL)}
	}
	if m.Menu != nil {
		out.Menu = &channels.Menu{Head: text(m.Menu.Head), Tail: text(m.Menu.Tail)}
		for _, it := range m.Menu.Items {
			out.Menu.Items = append(out.Menu.Items, channels.MenuItem{ID: it.ID, Text: text(it.Text)})
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func media(m *flows.Media) *channels.Media {
	if m == nil {
		return nil
	}
	return &channels.Media{Kind: m.Kind, Path: m.Path, URL: m.URL, MediaID: m.MediaID, Size: m.Size}
}
