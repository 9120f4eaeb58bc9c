package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/wxflow/wxflow/channels"
)

// sendPath is the customer-service message API.
const sendPath = "/cgi-bin/message/custom/send"

// sendBody is the JSON of a customer-service message.
type sendBody struct {
	ToUser  string        `json:"touser"`
	MsgType string        `json:"msgtype"`
	Text    *sendText     `json:"text,omitempty"`
	Image   *sendMediaRef `json:"image,omitempty"`
	Voice   *sendMediaRef `json:"voice,omitempty"`
	Video   *sendVideo    `json:"video,omitempty"`
	News    *sendNews     `json:"news,omitempty"`
	MsgMenu *sendMsgMenu  `json:"msgmenu,omitempty"`
}

type sendText struct {
	Content string `json:"content"`
}

type sendMediaRef struct {
	MediaID string `json:"media_id"`
}

type sendVideo struct {
	MediaID      string `json:"media_id"`
	ThumbMediaID string `json:"thumb_media_id"`
	Title        string `json:"title"`
	Description  string `json:"description"`
}

type sendNews struct {
	Articles []sendArticle `json:"articles"`
}

type sendArticle struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	PicURL      string `json:"picurl"`
}

type sendMsgMenu struct {
	HeadContent string         `json:"head_content"`
	List        []sendMenuItem `json:"list"`
	TailContent string         `json:"tail_content"`
}

type sendMenuItem struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// SendMessage sends msg to the contact with the OpenID openID, through the
// customer-service message API. Media given by path or URL is uploaded
// first (see UploadMedia). The message types are text, image, voice,
// video, news (one article) and menu (a msgmenu).
//
// It returns nil when WeChat accepted the message; an *APIError when
// WeChat refused it; a *channels.Refusal when a media file is refused
// before any upload; and an error wrapping channels.ErrUnknown when the
// request may have reached WeChat but no answer came (such a send is never
// repeated).
func (c *Client) SendMessage(ctx context.Context, openID string, msg *channels.Message) error {
	used := map[string]string{}
	body, err := c.sendBuild(ctx, openID, msg, used)
	if err != nil {
		return err
	}
	if err := c.call(ctx, http.MethodPost, sendPath, nil, body, nil); err != nil {
		// WeChat no longer knows a media id it was given (40007): the
		// cached ones are forgotten, so that the next send uploads.
		if ae := (*APIError)(nil); errors.As(err, &ae) && ae.Code == ErrCodeInvalidMediaID && len(used) > 0 {
			c.forgetMedia(ctx, used)
		}
		return fmt.Errorf("send %s to %s: %w", body.MsgType, openID, err)
	}
	return nil
}

// sendBuild turns a message into the API's JSON, uploading its media; the
// cached media ids it used are added to used, by cache key.
func (c *Client) sendBuild(ctx context.Context, openID string, msg *channels.Message, used map[string]string) (*sendBody, error) {
	if msg == nil {
		return nil, errors.New("wechat: send: no message")
	}
	if openID == "" {
		return nil, fmt.Errorf("wechat: send %s: no recipient", msg.Type)
	}
	b := &sendBody{ToUser: openID, MsgType: msg.Type}
	switch msg.Type {
	case "text":
		b.Text = &sendText{Content: msg.Text}
	case "image", "voice":
		id, err := c.sendMedia(ctx, msg.Media, msg.Type, used)
		if err != nil {
			return nil, err
		}
		if msg.Type == "image" {
			b.Image = &sendMediaRef{MediaID: id}
		} else {
			b.Voice = &sendMediaRef{MediaID: id}
		}
	case "video":
		id, err := c.sendMedia(ctx, msg.Media, "video", used)
		if err != nil {
			return nil, err
		}
		v := &sendVideo{MediaID: id, Title: msg.Title, Description: msg.Description}
		if msg.Thumb != nil {
			if v.ThumbMediaID, err = c.sendMedia(ctx, msg.Thumb, "thumb", used); err != nil {
				return nil, err
			}
		}
		b.Video = v
	case "news":
		if msg.News == nil {
			return nil, errors.New("wechat: send news: the message has no article")
		}
		b.News = &sendNews{Articles: []sendArticle{{
			Title: msg.News.Title, Description: msg.News.Description, URL: msg.News.URL, PicURL: msg.News.PicURL,
		}}}
	case "menu":
		if msg.Menu == nil || len(msg.Menu.Items) == 0 {
			return nil, errors.New("wechat: send menu: the message menu has no items")
		}
		m := &sendMsgMenu{HeadContent: msg.Menu.Head, TailContent: msg.Menu.Tail, List: make([]sendMenuItem, len(msg.Menu.Items))}
		for i, it := range msg.Menu.Items {
			m.List[i] = sendMenuItem{ID: it.ID, Content: it.Text}
		}
		b.MsgType = "msgmenu"
		b.MsgMenu = m
	default:
		return nil, fmt.Errorf("wechat: send: message type %q is not text, image, voice, video, news or menu", msg.Type)
	}
	return b, nil
}

// sendMedia returns the media id of a message's media, of kind kind when
// the media does not say; the id is added to used under its cache key.
func (c *Client) sendMedia(ctx context.Context, m *channels.Media, kind string, used map[string]string) (string, error) {
	if m == nil {
		return "", fmt.Errorf("wechat: send %s: the message has no media", kind)
	}
	if m.Kind == "" {
		cp := *m
		cp.Kind = kind
		m = &cp
	}
	id, key, err := c.uploadMedia(ctx, m)
	if err == nil && key != "" {
		used[key] = id
	}
	return id, err
}
