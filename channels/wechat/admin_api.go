package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"
)

// MenuButton is a button of the account's custom menu: a click button
// (Type "click", Key), a link (Type "view", URL), another kind WeChat
// knows (scancode_push, ...), or a group of SubButtons (Type empty).
type MenuButton struct {
	Type       string       `json:"type,omitempty"`
	Name       string       `json:"name,omitempty"`
	Key        string       `json:"key,omitempty"`
	URL        string       `json:"url,omitempty"`
	SubButtons []MenuButton `json:"sub_button,omitempty"`
}

// CreateMenu replaces the account's custom menu. It checks WeChat's limits
// first: 1 to 3 buttons, 1 to 5 sub-buttons in a group, names up to 16
// bytes (60 for sub-buttons), keys up to 128 bytes, URLs up to 1024 bytes.
func (c *Client) CreateMenu(ctx context.Context, buttons []MenuButton) error {
	if err := admCheckMenu(buttons); err != nil {
		return fmt.Errorf("wechat: create menu: %w", err)
	}
	body := struct {
		Button []MenuButton `json:"button"`
	}{buttons}
	if err := c.call(ctx, http.MethodPost, "/cgi-bin/menu/create", nil, body, nil); err != nil {
		return fmt.Errorf("create menu: %w", err)
	}
	return nil
}

// admCheckMenu checks a menu against WeChat's limits.
func admCheckMenu(buttons []MenuButton) error {
	var errs []error
	if len(buttons) < 1 || len(buttons) > 3 {
		errs = append(errs, fmt.Errorf("the menu has %d buttons, WeChat accepts 1 to 3", len(buttons)))
	}
	for i, b := range buttons {
		where := fmt.Sprintf("button %d", i+1)
		if len(b.SubButtons) > 0 || b.Type == "" {
			if len(b.SubButtons) < 1 || len(b.SubButtons) > 5 {
				errs = append(errs, fmt.Errorf("%s has %d sub-buttons, WeChat accepts 1 to 5", where, len(b.SubButtons)))
			}
			errs = append(errs, admCheckButton(b, where, 16, false))
			for j, s := range b.SubButtons {
				errs = append(errs, admCheckButton(s, fmt.Sprintf("%s.%d", where, j+1), 60, true))
			}
			continue
		}
		errs = append(errs, admCheckButton(b, where, 16, true))
	}
	return errors.Join(errs...)
}

// admCheckButton checks one button's fields.
func admCheckButton(b MenuButton, where string, maxName int, leaf bool) error {
	var errs []error
	if b.Name == "" || len(b.Name) > maxName {
		errs = append(errs, fmt.Errorf("%s: name %q is %d bytes, WeChat accepts 1 to %d", where, b.Name, len(b.Name), maxName))
	}
	if leaf {
		if len(b.SubButtons) > 0 {
			errs = append(errs, fmt.Errorf("%s: a sub-button cannot have sub-buttons", where))
		}
		switch b.Type {
		case "":
			errs = append(errs, fmt.Errorf("%s: no type", where))
		case "view":
			if b.URL == "" {
				errs = append(errs, fmt.Errorf("%s: a view button needs a url", where))
			}
		case "click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select":
			if b.Key == "" {
				errs = append(errs, fmt.Errorf("%s: a %s button needs a key", where, b.Type))
			}
		}
	}
	if len(b.Key) > 128 {
		errs = append(errs, fmt.Errorf("%s: key is %d bytes, WeChat accepts up to 128", where, len(b.Key)))
	}
	if len(b.URL) > 1024 {
		errs = append(errs, fmt.Errorf("%s: url is %d bytes, WeChat accepts up to 1024", where, len(b.URL)))
	}
	return errors.Join(errs...)
}

// QRCode is a QR code that carries a scene.
type QRCode struct {
	// Ticket identifies the code; it is what WeChat shows the image of.
	Ticket string
	// Permanent is whether a permanent code was requested.
	Permanent bool
	// ExpireSeconds is the temporary code's lifetime (0 for a permanent
	// code): WeChat's expire_seconds, or the lifetime requested when its
	// answer has none.
	ExpireSeconds int
	// URL is the address the code encodes.
	URL string
	// ImageURL is where WeChat serves the code's image.
	ImageURL string
}

// The limits of QR codes.
const (
	// QRDefaultExpiry is the lifetime of a temporary code when none is
	// given.
	QRDefaultExpiry = 7 * 24 * time.Hour
	// QRMinExpiry and QRMaxExpiry bound a temporary code's lifetime.
	QRMinExpiry = 60 * time.Second
	QRMaxExpiry = 30 * 24 * time.Hour
	// QRMaxScene is the longest scene, in characters.
	QRMaxScene = 64
)

// CreateQRCode creates a QR code whose scan reports scene (1 to 64
// characters): a permanent one (QR_LIMIT_STR_SCENE, 100000 at most per
// account), or a temporary one that lives expires (60 s to 30 days; 0 means
// 7 days; rounded down to the second).
func (c *Client) CreateQRCode(ctx context.Context, scene string, expires time.Duration, permanent bool) (*QRCode, error) {
	if n := utf8.RuneCountInString(scene); n < 1 || n > QRMaxScene {
		return nil, fmt.Errorf("wechat: create QR code: scene %q is %d characters, WeChat accepts 1 to %d", scene, n, QRMaxScene)
	}
	type sceneStr struct {
		SceneStr string `json:"scene_str"`
	}
	type actionInfo struct {
		Scene sceneStr `json:"scene"`
	}
	body := struct {
		ExpireSeconds int        `json:"expire_seconds,omitempty"`
		ActionName    string     `json:"action_name"`
		ActionInfo    actionInfo `json:"action_info"`
	}{ActionName: "QR_LIMIT_STR_SCENE", ActionInfo: actionInfo{sceneStr{scene}}}
	if !permanent {
		if expires == 0 {
			expires = QRDefaultExpiry
		}
		if expires < QRMinExpiry || expires > QRMaxExpiry {
			return nil, fmt.Errorf("wechat: create QR code: a temporary code lives 60s to 720h (30 days), not %s", expires)
		}
		body.ExpireSeconds = int(expires / time.Second)
		body.ActionName = "QR_STR_SCENE"
	}
	var out struct {
		Ticket        string `json:"ticket"`
		ExpireSeconds int    `json:"expire_seconds"`
		URL           string `json:"url"`
	}
	if err := c.call(ctx, http.MethodPost, "/cgi-bin/qrcode/create", nil, body, &out); err != nil {
		return nil, fmt.Errorf("create QR code %q: %w", scene, err)
	}
	if out.Ticket == "" {
		return nil, fmt.Errorf("wechat: create QR code %q: the answer has no ticket", scene)
	}
	if permanent {
		out.ExpireSeconds = 0
	} else if out.ExpireSeconds <= 0 {
		// An answer without expire_seconds does not make the code
		// permanent: it lives what was requested.
		out.ExpireSeconds = body.ExpireSeconds
	}
	return &QRCode{
		Ticket:        out.Ticket,
		Permanent:     permanent,
		ExpireSeconds: out.ExpireSeconds,
		URL:           out.URL,
		ImageURL:      "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + url.QueryEscape(out.Ticket),
	}, nil
}
