package wechat

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

func TestSendMessageBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		msg  *channels.Message
		want string
	}{
		{"text", &channels.Message{Type: "text", Text: "<a&b> 你好\n"},
			`{"touser":"o1","msgtype":"text","text":{"content":"<a&b> 你好\n"}}`},
		{"image", &channels.Message{Type: "image", Media: &channels.Media{MediaID: "IMG1"}},
			`{"touser":"o1","msgtype":"image","image":{"media_id":"IMG1"}}`},
		{"voice", &channels.Message{Type: "voice", Media: &channels.Media{Kind: "voice", MediaID: "VOICE1"}},
			`{"touser":"o1","msgtype":"voice","voice":{"media_id":"VOICE1"}}`},
		{"video", &channels.Message{Type: "video", Media: &channels.Media{MediaID: "VID1"}, Thumb: &channels.Media{MediaID: "TH1"},
			Title: "Q&A", Description: "<b>how</b>"},
			`{"touser":"o1","msgtype":"video","video":{"media_id":"VID1","thumb_media_id":"TH1","title":"Q&A","description":"<b>how</b>"}}`},
		{"news", &channels.Message{Type: "news", News: &channels.News{Title: "T", Description: "D", URL: "https://x.example/a?b=1&c=2", PicURL: "https://x.example/p.jpg"}},
			`{"touser":"o1","msgtype":"news","news":{"articles":[{"title":"T","description":"D","url":"https://x.example/a?b=1&c=2","picurl":"https://x.example/p.jpg"}]}}`},
		{"menu", &channels.Message{Type: "menu", Menu: &channels.Menu{Head: "Pick one", Tail: "Thanks", Items: []channels.MenuItem{{ID: "101", Text: "Yes"}, {ID: "102", Text: "No"}}}},
			`{"touser":"o1","msgtype":"msgmenu","msgmenu":{"head_content":"Pick one","list":[{"id":"101","content":"Yes"},{"id":"102","content":"No"}],"tail_content":"Thanks"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := apiSetup(t)
			if err := b.client.SendMessage(context.Background(), "o1", tc.msg); err != nil {
				t.Fatal(err)
			}
			sent := b.srv.Sent()
			if len(sent) != 1 {
				t.Fatalf("sent %d, want 1", len(sent))
			}
			if got := string(sent[0].Body); got != tc.want {
				t.Errorf("body\n got %s\nwant %s", got, tc.want)
			}
			if sent[0].AppID != apiTestAppID || sent[0].ToUser != "o1" {
				t.Errorf("sent %+v", sent[0])
			}
			if got := b.srv.Calls(wechattest.PathUpload); got != 0 {
				t.Errorf("uploads = %d, want 0 for media ids", got)
			}
		})
	}
}

func TestSendMessageUploadsMedia(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "cat.jpg")
	vid := filepath.Join(dir, "clip.mp4")
	for p, data := range map[string]string{img: "jpeg bytes", vid: "mp4 bytes"} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := b.client.SendMessage(ctx, "o1", &channels.Message{Type: "image", Media: &channels.Media{Path: img}}); err != nil {
		t.Fatal(err)
	}
	// The same jpg as a video's thumbnail is another upload (another kind).
	if err := b.client.SendMessage(ctx, "o1", &channels.Message{Type: "video", Media: &channels.Media{Path: vid}, Thumb: &channels.Media{Path: img}, Title: "t"}); err != nil {
		t.Fatal(err)
	}
	up := b.srv.Uploads()
	if len(up) != 3 || up[0].Type != "image" || up[0].Filename != "cat.jpg" || up[1].Type != "video" || up[2].Type != "thumb" {
		t.Fatalf("uploads %+v, want image, video, thumb", up)
	}
	sent := b.srv.Sent()
	if want := `{"touser":"o1","msgtype":"image","image":{"media_id":"` + up[0].MediaID + `"}}`; string(sent[0].Body) != want {
		t.Errorf("image body %s, want %s", sent[0].Body, want)
	}
	if want := `{"touser":"o1","msgtype":"video","video":{"media_id":"` + up[1].MediaID + `","thumb_media_id":"` + up[2].MediaID + `","title":"t","description":""}}`; string(sent[1].Body) != want {
		t.Errorf("video body %s, want %s", sent[1].Body, want)
	}
}

func TestSendMessageRejectsBadMessages(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	for _, tc := range []struct {
		msg  *channels.Message
		want string
	}{
		{nil, "no message"},
		{&channels.Message{Type: "sticker"}, `message type "sticker"`},
		{&channels.Message{Type: "image"}, "no media"},
		{&channels.Message{Type: "news"}, "no article"},
		{&channels.Message{Type: "menu", Menu: &channels.Menu{}}, "no items"},
		{&channels.Message{Type: "image", Media: &channels.Media{Kind: "image"}}, "no path, URL, upload or media id"},
	} {
		err := b.client.SendMessage(context.Background(), "o1", tc.msg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.msg, err, tc.want)
		}
	}
	if err := b.client.SendMessage(context.Background(), "", apiText("hi")); err == nil || !strings.Contains(err.Error(), "no recipient") {
		t.Errorf("no recipient: %v", err)
	}
	if got := b.srv.Calls(wechattest.PathSend); got != 0 {
		t.Errorf("send calls = %d, want 0", got)
	}
}

// BenchmarkSendMessage measures text sends through the fake server over
// loopback HTTP, in parallel.
func BenchmarkSendMessage(b *testing.B) {
	srv := wechattest.NewServer()
	defer srv.Close()
	srv.AddApp(apiTestAppID, apiTestSecret)
	srv.CountOnly()
	c, err := NewClient(ClientConfig{Account: "main", AppID: apiTestAppID, AppSecret: apiTestSecret, APIBase: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	msg := apiText("hello")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.SendMessage(context.Background(), "o1", msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestSendMessageForgetsRefusedMedia: when WeChat answers a send with
// 40007 (invalid media_id), the cached id of the message's media is
// forgotten and the next send uploads the file again; before, the refused
// id was reused until the cache's 71 hours ran out.
func TestSendMessageForgetsRefusedMedia(t *testing.T) {
	t.Parallel()
	b := apiSetup(t)
	img := filepath.Join(t.TempDir(), "cat.jpg")
	if err := os.WriteFile(img, []byte("jpeg bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := &channels.Message{Type: "image", Media: &channels.Media{Path: img}}
	if err := b.client.SendMessage(ctx, "o1", msg); err != nil {
		t.Fatal(err)
	}
	b.srv.FailNext(wechattest.PathSend, 40007)
	err := b.client.SendMessage(ctx, "o1", msg)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 40007 || !strings.Contains(err.Error(), "invalid media_id") {
		t.Fatalf("send: %v, want errcode 40007 invalid media_id", err)
	}
	if got := b.srv.Calls(wechattest.PathUpload); got != 1 {
		t.Fatalf("upload calls = %d, want 1 (the cached id was tried)", got)
	}
	if err := b.client.SendMessage(ctx, "o1", msg); err != nil {
		t.Fatal(err)
	}
	up := b.srv.Uploads()
	if len(up) != 2 || up[0].MediaID == up[1].MediaID {
		t.Fatalf("uploads %+v, want a second upload with a new id", up)
	}
	sent := b.srv.Sent()
	if want := `{"touser":"o1","msgtype":"image","image":{"media_id":"` + up[1].MediaID + `"}}`; len(sent) != 2 || string(sent[1].Body) != want {
		t.Errorf("sent %+v, want the last one %s", sent, want)
	}
	// The new id is cached again: the next send reuses it.
	if err := b.client.SendMessage(ctx, "o1", msg); err != nil {
		t.Fatal(err)
	}
	if got := b.srv.Calls(wechattest.PathUpload); got != 2 {
		t.Errorf("upload calls = %d, want 2", got)
	}
	// Another error keeps the cached id.
	b.srv.FailNext(wechattest.PathSend, 45015)
	if err := b.client.SendMessage(ctx, "o1", msg); err == nil {
		t.Fatal("send: no error, want 45015")
	}
	if err := b.client.SendMessage(ctx, "o1", msg); err != nil {
		t.Fatal(err)
	}
	if got := b.srv.Calls(wechattest.PathUpload); got != 2 {
		t.Errorf("upload calls = %d after 45015, want 2", got)
	}
}
