package wechat

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// replyXMLTestAt is the CreateTime 1713424427 of the replies below.
var replyXMLTestAt = time.Unix(1713424427, 0)

func TestReplyXML(t *testing.T) {
	t.Parallel()
	const head = `<xml><ToUserName><![CDATA[oUser1]]></ToUserName><FromUserName><![CDATA[gh_97417a04a28d]]></FromUserName><CreateTime>1713424427</CreateTime>`
	tests := []struct {
		name string
		msg  *channels.Message
		want string
	}{
		{"text", &channels.Message{Type: "text", Text: "你好\nhello"},
			head + `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好` + "\n" + `hello]]></Content></xml>`},
		{"text with markup", &channels.Message{Type: "text", Text: `<a href="x">&amp;</a>`},
			head + `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[<a href="x">&amp;</a>]]></Content></xml>`},
		{"text with ]]>", &channels.Message{Type: "text", Text: "a]]>b"},
			head + `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>`},
		{"text that is ]]>", &channels.Message{Type: "text", Text: "]]>"},
			head + `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[]]]]><![CDATA[>]]></Content></xml>`},
		{"text with characters XML forbids", &channels.Message{Type: "text", Text: "a\x00b\x1bc\xffd\tok\r\n"},
			head + `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a` + "\uFFFDb\uFFFDc\uFFFDd\tok\r\n" + `]]></Content></xml>`},
		{"image", &channels.Message{Type: "image", Media: &channels.Media{Kind: "image", MediaID: "media_image_1"}},
			head + `<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[media_image_1]]></MediaId></Image></xml>`},
		{"voice", &channels.Message{Type: "voice", Media: &channels.Media{Kind: "voice", MediaID: "media_voice_1", Path: "hi.mp3"}},
			head + `<MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA[media_voice_1]]></MediaId></Voice></xml>`},
		{"video", &channels.Message{Type: "video", Media: &channels.Media{Kind: "video", MediaID: "media_video_1"},
			Thumb: &channels.Media{Kind: "thumb", MediaID: "thumb_1"}, Title: "Tour", Description: "Our store]]>"},
			head + `<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[media_video_1]]></MediaId><Title><![CDATA[Tour]]></Title><Description><![CDATA[Our store]]]]><![CDATA[>]]></Description></Video></xml>`},
		{"video without title", &channels.Message{Type: "video", Media: &channels.Media{MediaID: "media_video_2"}},
			head + `<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[media_video_2]]></MediaId><Title><![CDATA[]]></Title><Description><![CDATA[]]></Description></Video></xml>`},
		{"news", &channels.Message{Type: "news", News: &channels.News{Title: "Opening", Description: "We open on Monday",
			URL: "https://example.com/a?b=1&c=2", PicURL: "https://example.com/p.jpg"}},
			head + `<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[Opening]]></Title><Description><![CDATA[We open on Monday]]></Description><PicUrl><![CDATA[https://example.com/p.jpg]]></PicUrl><Url><![CDATA[https://example.com/a?b=1&c=2]]></Url></item></Articles></xml>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReplyXML("oUser1", "gh_97417a04a28d", replyXMLTestAt, tt.msg)
			if err != nil {
				t.Fatalf("ReplyXML: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("ReplyXML =\n%s\nwant\n%s", got, tt.want)
			}
			// Every reply is well-formed XML that ParseCallback accepts.
			cb, err := ParseCallback(got)
			if err != nil {
				t.Fatalf("ParseCallback(reply): %v", err)
			}
			if cb.ToUserName != "oUser1" || cb.FromUserName != "gh_97417a04a28d" || cb.CreateTime != 1713424427 || cb.MsgType != tt.msg.Type {
				t.Errorf("reply header parses as %+v", *cb)
			}
		})
	}
}

func TestReplyXMLRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		to, from string
		msg      *channels.Message
		want     error  // a sentinel, or nil for any error
		says     string // part of the message
	}{
		{"menu", "oUser1", "gh_1", &channels.Message{Type: "menu", Menu: &channels.Menu{Items: []channels.MenuItem{{ID: "1", Text: "yes"}}}},
			ErrNoPassiveReply, "a message menu goes by the customer-service API"},
		{"no message", "oUser1", "gh_1", nil, nil, "no message"},
		{"empty text", "oUser1", "gh_1", &channels.Message{Type: "text"}, nil, "text message is empty"},
		{"image without media", "oUser1", "gh_1", &channels.Message{Type: "image"}, nil, "image message has no media"},
		{"image not uploaded", "oUser1", "gh_1", &channels.Message{Type: "image", Media: &channels.Media{Path: "a.jpg"}}, nil, "image message's media is not uploaded"},
		{"voice not uploaded", "oUser1", "gh_1", &channels.Message{Type: "voice", Media: &channels.Media{URL: "https://x/a.mp3"}}, nil, "voice message's media is not uploaded"},
		{"video not uploaded", "oUser1", "gh_1", &channels.Message{Type: "video", Media: &channels.Media{}}, nil, "video message's media is not uploaded"},
		{"news without article", "oUser1", "gh_1", &channels.Message{Type: "news"}, nil, "news message has no article"},
		{"unknown type", "oUser1", "gh_1", &channels.Message{Type: "music"}, nil, `message type "music" is unknown`},
		{"no to", "", "gh_1", &channels.Message{Type: "text", Text: "x"}, nil, "must both be set"},
		{"no from", "oUser1", "", &channels.Message{Type: "text", Text: "x"}, nil, "must both be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReplyXML(tt.to, tt.from, replyXMLTestAt, tt.msg)
			if err == nil {
				t.Fatalf("ReplyXML = %s, want an error", got)
			}
			if got != nil {
				t.Errorf("ReplyXML returned %s with the error", got)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("ReplyXML error %v, want %v", err, tt.want)
			}
			if tt.want == nil && errors.Is(err, ErrNoPassiveReply) {
				t.Errorf("ReplyXML error %v wraps ErrNoPassiveReply", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("ReplyXML error %q does not say %q", err, tt.says)
			}
		})
	}
}

// replyXMLTestValues are strings that must survive CDATA unchanged.
var replyXMLTestValues = []string{
	"]]>", "]]>]]>", "]]]>>", "a]]>b]]>c", "]]", "]>", "]", ">", "<![CDATA[x]]>",
	"]]&gt;", "<xml></xml>", "中文]]>中文", "\t tab and newline\n", "",
}

// TestReplyXMLCDATARoundTrip decodes rendered replies with encoding/xml
// and with ParseCallback: every value comes back as it was.
func TestReplyXMLCDATARoundTrip(t *testing.T) {
	t.Parallel()
	type article struct {
		Title       string
		Description string
		PicURL      string `xml:"PicUrl"`
		URL         string `xml:"Url"`
	}
	type reply struct {
		ToUserName   string
		FromUserName string
		Content      string
		Articles     []article `xml:"Articles>item"`
	}
	for _, v := range replyXMLTestValues {
		text := v + "!" // a text may not be empty
		out, err := ReplyXML("o"+v, "gh"+v, replyXMLTestAt, &channels.Message{Type: "text", Text: text})
		if err != nil {
			t.Fatalf("ReplyXML(%q): %v", v, err)
		}
		var got reply
		if err := xml.Unmarshal(out, &got); err != nil {
			t.Fatalf("xml.Unmarshal(%s): %v", out, err)
		}
		if got.Content != text || got.ToUserName != "o"+v || got.FromUserName != "gh"+v {
			t.Errorf("%q round-trips as %+v through\n%s", v, got, out)
		}
		cb, err := ParseCallback(out)
		if err != nil {
			t.Fatalf("ParseCallback(%s): %v", out, err)
		}
		if cb.Content != text {
			t.Errorf("%q round-trips through ParseCallback as %q", v, cb.Content)
		}

		news := &channels.News{Title: v, Description: v + v, URL: "u" + v, PicURL: "p" + v}
		out, err = ReplyXML("o", "gh", replyXMLTestAt, &channels.Message{Type: "news", News: news})
		if err != nil {
			t.Fatalf("ReplyXML(news %q): %v", v, err)
		}
		got = reply{}
		if err := xml.Unmarshal(out, &got); err != nil {
			t.Fatalf("xml.Unmarshal(%s): %v", out, err)
		}
		want := []article{{Title: news.Title, Description: news.Description, PicURL: news.PicURL, URL: news.URL}}
		if len(got.Articles) != 1 || got.Articles[0] != want[0] {
			t.Errorf("news %q round-trips as %+v through\n%s", v, got.Articles, out)
		}
	}
}

// replyXMLTestE is vector E of WECHAT.md: its account and its reply.
var replyXMLTestE = struct {
	token, key, appID, random, reply, timestamp, nonce, encrypt, signature string
}{
	token:     "AAAAA",
	key:       strings.Repeat("A", 43),
	appID:     "wx134c8103faa5a59e",
	random:    "999951349e8ee746",
	reply:     "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
	timestamp: "1713424427",
	nonce:     "415670741",
	encrypt:   "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7",
	signature: "03e0812039325c2712ef5f0f980fd14c70d6e307",
}

// TestEncryptReplyVectorE renders vector E's encrypted reply with its
// random bytes and compares the whole envelope.
func TestEncryptReplyVectorE(t *testing.T) {
	t.Parallel()
	v := replyXMLTestE
	c, err := NewCipher(v.key, v.appID)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt([]byte(v.reply), []byte(v.random))
	if err != nil {
		t.Fatal(err)
	}
	got, err := replyXMLEncrypted(v.token, enc, v.timestamp, v.nonce)
	if err != nil {
		t.Fatal(err)
	}
	want := `<xml><Encrypt><![CDATA[` + v.encrypt + `]]></Encrypt><MsgSignature><![CDATA[` + v.signature +
		`]]></MsgSignature><TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></Nonce></xml>`
	if string(got) != want {
		t.Errorf("encrypted reply =\n%s\nwant\n%s", got, want)
	}
}

// replyXMLTestEnvelope is the safe-mode envelope of an encrypted reply.
type replyXMLTestEnvelope struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      string
	MsgSignature string
	TimeStamp    string
	Nonce        string
}

func TestEncryptReplyRoundTrip(t *testing.T) {
	t.Parallel()
	v := replyXMLTestE
	c, err := NewCipher(v.key, v.appID)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := ReplyXML("oUser1", "gh_97417a04a28d", replyXMLTestAt, &channels.Message{Type: "text", Text: "好的 ]]> done"})
	if err != nil {
		t.Fatal(err)
	}
	for _, nonce := range []string{"415670741", "abc]]>def", ""} {
		out, err := EncryptReply(c, v.token, reply, v.timestamp, nonce)
		if err != nil {
			t.Fatalf("EncryptReply: %v", err)
		}
		var env replyXMLTestEnvelope
		if err := xml.Unmarshal(out, &env); err != nil {
			t.Fatalf("xml.Unmarshal(%s): %v", out, err)
		}
		if env.TimeStamp != v.timestamp || env.Nonce != nonce {
			t.Errorf("envelope TimeStamp %q Nonce %q, want %q %q", env.TimeStamp, env.Nonce, v.timestamp, nonce)
		}
		if !VerifySignature(env.MsgSignature, v.token, env.TimeStamp, env.Nonce, env.Encrypt) {
			t.Errorf("MsgSignature %s does not verify", env.MsgSignature)
		}
		// The way an incoming safe-mode callback is read: ParseCallback
		// finds Encrypt, Decrypt gives the reply back byte for byte.
		cb, err := ParseCallback(out)
		if err != nil {
			t.Fatalf("ParseCallback(envelope): %v", err)
		}
		plain, err := c.Decrypt(cb.Encrypt)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if string(plain) != string(reply) {
			t.Errorf("decrypted reply =\n%s\nwant\n%s", plain, reply)
		}
	}
}

func TestEncryptReplyRefuses(t *testing.T) {
	t.Parallel()
	v := replyXMLTestE
	c, err := NewCipher(v.key, v.appID)
	if err != nil {
		t.Fatal(err)
	}
	const token = "s3cr3t-token-value"
	tests := []struct {
		name      string
		c         *Cipher
		timestamp string
	}{
		{"no cipher", nil, "1713424427"},
		{"empty timestamp", c, ""},
		{"timestamp with markup", c, "1</TimeStamp><x>"},
		{"negative timestamp", c, "-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := EncryptReply(tt.c, token, []byte("<xml/>"), tt.timestamp, "1")
			if err == nil {
				t.Fatalf("EncryptReply = %s, want an error", out)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), v.key[:10]) {
				t.Errorf("error %q contains a secret", err)
			}
		})
	}
}
