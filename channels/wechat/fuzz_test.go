package wechat_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
)

// FuzzParseCallback: ParseCallback never panics; what it accepts gives the
// same Callback twice, fields within their bounds (cbTestBounds), and an
// Event with a kind, the callback's contact, and a form the store can
// write as JSON.
func FuzzParseCallback(f *testing.F) {
	for _, tt := range cbTestCases {
		f.Add([]byte(tt.body))
	}
	for _, tt := range cbTestMalformed {
		f.Add([]byte(tt.body))
	}
	for _, v := range cryptoVectors {
		f.Add([]byte(v.plain))
	}
	for _, b := range cbTestBounds {
		f.Add([]byte(cbTestWith(b.elem, b.value(b.max+1))))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := wechat.ParseCallback(body)
		if err != nil {
			if cb != nil {
				t.Fatalf("ParseCallback returned a callback with the error %v", err)
			}
			if !errors.Is(err, wechat.ErrMalformed) {
				t.Fatalf("ParseCallback error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := wechat.ParseCallback(body)
		if err != nil || !reflect.DeepEqual(cb, again) {
			t.Fatalf("ParseCallback is not deterministic: %+v, then %+v, %v", cb, again, err)
		}
		fuzzWithinBounds(t, cb)
		e := cb.Event("acme")
		if e.Kind == "" {
			t.Fatalf("Event of %+v has no kind", *cb)
		}
		if e.Account != "acme" || e.Contact != cb.FromUserName {
			t.Fatalf("Event of %+v is for %q/%q", *cb, e.Account, e.Contact)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("Event %+v does not marshal: %v", e, err)
		}
		_ = e.DedupeKey()
	})
}

// fuzzWithinBounds fails the test if a field of cb is longer than its
// bound.
func fuzzWithinBounds(t *testing.T, cb *wechat.Callback) {
	t.Helper()
	fields := map[string]string{
		"ToUserName": cb.ToUserName, "FromUserName": cb.FromUserName, "MsgType": cb.MsgType,
		"Event": cb.EventType, "EventKey": cb.EventKey, "MsgId": cb.MsgID, "Ticket": cb.Ticket,
		"MediaId": cb.MediaID, "ThumbMediaId": cb.ThumbMediaID, "bizmsgmenuid": cb.BizMsgMenuID,
		"Format": cb.Format, "PicUrl": cb.PicURL, "Url": cb.URL, "ScanCodeInfo/ScanType": cb.ScanCodeInfo.ScanType,
		"Content": cb.Content, "Recognition": cb.Recognition, "Label": cb.Label, "Title": cb.Title,
		"Description": cb.Description, "ScanCodeInfo/ScanResult": cb.ScanCodeInfo.ScanResult,
	}
	for _, b := range cbTestBounds {
		if v, ok := fields[b.elem]; !ok {
			t.Fatalf("no field for %s", b.elem)
		} else if len(v) > b.max {
			t.Fatalf("%s is %d bytes, over its bound %d", b.elem, len(v), b.max)
		}
	}
}

// FuzzDecrypt: Decrypt never panics, on base64 text or on any ciphertext,
// and its errors are one of the two sentinels; Encrypt then Decrypt gives
// any message back.
func FuzzDecrypt(f *testing.F) {
	for _, v := range cryptoVectors {
		f.Add(v.encrypt, []byte(v.plain), []byte(v.random))
	}
	f.Add("", []byte{}, []byte{})
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==", bytes.Repeat([]byte{32}, 32), []byte("0123456789abcdef"))
	a := cryptoTestCipher(f, cryptoVecA)
	e := cryptoTestCipher(f, cryptoVecE)
	f.Fuzz(func(t *testing.T, encrypted string, msg, random []byte) {
		for _, c := range []*wechat.Cipher{a, e} {
			for _, in := range []string{encrypted, base64.StdEncoding.EncodeToString(msg)} {
				got, err := c.Decrypt(in)
				if err != nil {
					if got != nil {
						t.Fatalf("Decrypt returned %q with the error %v", got, err)
					}
					if errors.Is(err, wechat.ErrDecrypt) == errors.Is(err, wechat.ErrAppID) {
						t.Fatalf("Decrypt error %v wraps neither or both sentinels", err)
					}
				}
			}
		}
		r := make([]byte, 16)
		copy(r, random)
		enc, err := a.Encrypt(msg, r)
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		got, err := a.Decrypt(enc)
		if err != nil {
			t.Fatalf("Decrypt(Encrypt(%q)): %v", msg, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("Decrypt(Encrypt(%q)) = %q", msg, got)
		}
		if _, err := e.Decrypt(enc); !errors.Is(err, wechat.ErrDecrypt) && !errors.Is(err, wechat.ErrAppID) {
			t.Fatalf("Decrypt with another key: %v", err)
		}
	})
}

// FuzzReplyXML: a text reply is always XML that encoding/xml and
// ParseCallback read, and gives back any text XML can hold.
func FuzzReplyXML(f *testing.F) {
	for _, v := range []string{"hello", "]]>", "a]]>b]]]>>c", "中文", "\x00", "\xff", "\r\n", "<![CDATA[", "&amp;"} {
		f.Add(v)
	}
	at := time.Unix(1713424427, 0)
	f.Fuzz(func(t *testing.T, text string) {
		out, err := wechat.ReplyXML("oUser1", "gh_1", at, &channels.Message{Type: "text", Text: text})
		if text == "" {
			if err == nil {
				t.Fatal("ReplyXML of an empty text: want an error")
			}
			return
		}
		if err != nil {
			t.Fatalf("ReplyXML(%q): %v", text, err)
		}
		var got struct{ Content string }
		if err := xml.Unmarshal(out, &got); err != nil {
			t.Fatalf("xml.Unmarshal(%q): %v", out, err)
		}
		cb, err := wechat.ParseCallback(out)
		if err != nil {
			t.Fatalf("ParseCallback(%q): %v", out, err)
		}
		if cb.Content != got.Content {
			t.Fatalf("ParseCallback reads %q, encoding/xml %q", cb.Content, got.Content)
		}
		if fuzzXMLHolds(text) && got.Content != text {
			t.Fatalf("%q round-trips as %q through %q", text, got.Content, out)
		}
	})
}

// fuzzXMLHolds reports whether XML gives s back as it is: valid UTF-8, XML
// characters only, and no carriage return (XML turns it into a newline).
func fuzzXMLHolds(s string) bool {
	if !utf8.ValidString(s) || strings.ContainsRune(s, '\r') {
		return false
	}
	for _, r := range s {
		if !(r == '\t' || r == '\n' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000) {
			return false
		}
	}
	return true
}
