package wechat

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

func TestCreateMenu(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	buttons := []MenuButton{
		{Type: "click", Name: "今日歌曲", Key: "V1001_TODAY_MUSIC"},
		{Name: "菜单", SubButtons: []MenuButton{
			{Type: "view", Name: "搜索", URL: "http://www.soso.com/?a=1&b=<2>"},
			{Type: "scancode_push", Name: "扫码", Key: "scan"},
		}},
	}
	if err := b.client.CreateMenu(context.Background(), buttons); err != nil {
		t.Fatal(err)
	}
	menus := b.srv.Menus()
	want := `{"button":[{"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"},{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"http://www.soso.com/?a=1&b=<2>"},{"type":"scancode_push","name":"扫码","key":"scan"}]}]}`
	if len(menus) != 1 || string(menus[0].Body) != want {
		t.Fatalf("menus %+v\nwant %s", menus, want)
	}
}

func TestCreateMenuChecksLimits(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	click := MenuButton{Type: "click", Name: "A", Key: "a"}
	for _, tc := range []struct {
		buttons []MenuButton
		want    string
	}{
		{nil, "0 buttons"},
		{[]MenuButton{click, click, click, click}, "4 buttons"},
		{[]MenuButton{{Type: "click", Name: "一二三四五六", Key: "k"}}, "18 bytes, WeChat accepts 1 to 16"},
		{[]MenuButton{{Type: "click", Name: "A"}}, "needs a key"},
		{[]MenuButton{{Type: "view", Name: "A"}}, "needs a url"},
		{[]MenuButton{{Type: "click", Name: "A", Key: strings.Repeat("k", 129)}}, "key is 129 bytes"},
		{[]MenuButton{{Name: "G"}}, "0 sub-buttons"},
		{[]MenuButton{{Name: "G", SubButtons: []MenuButton{click, click, click, click, click, click}}}, "6 sub-buttons"},
		{[]MenuButton{{Name: "G", SubButtons: []MenuButton{{Name: "S", SubButtons: []MenuButton{click}}}}}, "cannot have sub-buttons"},
	} {
		err := b.client.CreateMenu(context.Background(), tc.buttons)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.buttons, err, tc.want)
		}
	}
	if got := b.srv.Calls(wechattest.PathMenu); got != 0 {
		t.Errorf("menu calls = %d, want 0", got)
	}
}

func TestCreateQRCode(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		expires   time.Duration
		permanent bool
		want      string
		seconds   int
	}{
		{0, false, `{"expire_seconds":604800,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"store_1&<x>"}}}`, 604800},
		{90*time.Second + 500*time.Millisecond, false, `{"expire_seconds":90,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"store_1&<x>"}}}`, 90},
		{0, true, `{"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"store_1&<x>"}}}`, 0},
	} {
		before := len(b.srv.QRCodes())
		qr, err := b.client.CreateQRCode(ctx, "store_1&<x>", tc.expires, tc.permanent)
		if err != nil {
			t.Fatal(err)
		}
		got := b.srv.QRCodes()
		if len(got) != before+1 || string(got[before].Body) != tc.want {
			t.Errorf("body %s\nwant %s", got[len(got)-1].Body, tc.want)
		}
		if qr.Ticket == "" || qr.URL == "" || qr.ExpireSeconds != tc.seconds {
			t.Errorf("qr %+v, want ticket, url and %d seconds", qr, tc.seconds)
		}
		if want := "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + url.QueryEscape(qr.Ticket); qr.ImageURL != want || !strings.Contains(qr.ImageURL, "%2B%2F%3D%3D") {
			t.Errorf("image URL %s, want %s", qr.ImageURL, want)
		}
	}
}

// TestCreateQRCodeNoExpiryInAnswer: an answer without expire_seconds
// leaves a temporary code with the lifetime requested, not 0 (which says
// permanent).
func TestCreateQRCodeNoExpiryInAnswer(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	b.srv.OmitQRExpiry()
	ctx := context.Background()
	for _, tc := range []struct {
		expires   time.Duration
		permanent bool
		seconds   int
	}{{0, false, 604800}, {90 * time.Second, false, 90}, {0, true, 0}} {
		qr, err := b.client.CreateQRCode(ctx, "store_1", tc.expires, tc.permanent)
		if err != nil {
			t.Fatal(err)
		}
		if qr.ExpireSeconds != tc.seconds || qr.Permanent != tc.permanent {
			t.Errorf("%v, permanent %v: qr %+v, want %d seconds", tc.expires, tc.permanent, qr, tc.seconds)
		}
	}
}

func TestCreateQRCodeChecksLimits(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		scene   string
		expires time.Duration
		want    string
	}{
		{"", 0, "scene \"\" is 0 characters"},
		{strings.Repeat("场", 65), 0, "65 characters"},
		{"s", 59 * time.Second, "not 59s"},
		{"s", 30*24*time.Hour + time.Second, "not 720h0m1s"},
	} {
		_, err := b.client.CreateQRCode(ctx, tc.scene, tc.expires, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %s: err = %v, want %q", tc.scene, tc.expires, err, tc.want)
		}
	}
	if _, err := b.client.CreateQRCode(ctx, strings.Repeat("场", 64), QRMaxExpiry, false); err != nil {
		t.Errorf("64 characters, 30 days: %v", err)
	}
	if got := b.srv.Calls(wechattest.PathQRCode); got != 1 {
		t.Errorf("qrcode calls = %d, want 1", got)
	}
	b.srv.FailNext(wechattest.PathQRCode, 48001)
	_, err := b.client.CreateQRCode(ctx, "s", 0, true)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 48001 {
		t.Errorf("err = %v, want APIError 48001", err)
	}
	apiNoSecrets(t, err)
}
