package wechat

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
)

// ErrNoPassiveReply is returned by ReplyXML for a message that cannot be a
// passive reply (a message menu): send it with the customer-service API.
var ErrNoPassiveReply = errors.New("message cannot be a passive reply")

// ReplyXML renders msg as a passive reply, the XML answer to a callback:
// to is the contact's OpenID and from the account's original id (gh_...),
// the callback's FromUserName and ToUserName swapped. It renders text
// (Content), image and voice (MediaId inside <Image> or <Voice>), video
// (MediaId, Title, Description inside <Video>) and news (one article from
// msg.News). Every string is in CDATA, a "]]>" inside it split so that it
// cannot end the section, and characters XML cannot hold replaced by
// U+FFFD. Media must already be uploaded (msg.Media.MediaID set). A menu
// returns ErrNoPassiveReply; an empty text, missing media or article, or an
// unknown type returns another error.
func ReplyXML(to, from string, at time.Time, msg *channels.Message) ([]byte, error) {
	if msg == nil {
		return nil, errors.New("passive reply: no message")
	}
	if to == "" || from == "" {
		return nil, fmt.Errorf("passive reply: ToUserName %q and FromUserName %q must both be set", to, from)
	}
	var b bytes.Buffer
	b.WriteString("<xml>")
	replyXMLField(&b, "ToUserName", to)
	replyXMLField(&b, "FromUserName", from)
	b.WriteString("<CreateTime>")
	b.WriteString(strconv.FormatInt(at.Unix(), 10))
	b.WriteString("</CreateTime>")
	switch msg.Type {
	case "text":
		if msg.Text == "" {
			return nil, errors.New("passive reply: text message is empty")
		}
		replyXMLField(&b, "MsgType", "text")
		replyXMLField(&b, "Content", msg.Text)
	case "image", "voice":
		id, err := replyXMLMediaID(msg)
		if err != nil {
			return nil, err
		}
		wrap := "Image"
		if msg.Type == "voice" {
			wrap = "Voice"
		}
		replyXMLField(&b, "MsgType", msg.Type)
		b.WriteString("<" + wrap + ">")
		replyXMLField(&b, "MediaId", id)
		b.WriteString("</" + wrap + ">")
	case "video":
		id, err := replyXMLMediaID(msg)
		if err != nil {
			return nil, err
		}
		replyXMLField(&b, "MsgType", "video")
		b.WriteString("<Video>")
		replyXMLField(&b, "MediaId", id)
		replyXMLField(&b, "Title", msg.Title)
		replyXMLField(&b, "Description", msg.Description)
		b.WriteString("</Video>")
	case "news":
		n := msg.News
		if n == nil {
			return nil, errors.New("passive reply: news message has no article")
		}
		replyXMLField(&b, "MsgType", "news")
		b.WriteString("<ArticleCount>1</ArticleCount><Articles><item>")
		replyXMLField(&b, "Title", n.Title)
		replyXMLField(&b, "Description", n.Description)
		replyXMLField(&b, "PicUrl", n.PicURL)
		replyXMLField(&b, "Url", n.URL)
		b.WriteString("</item></Articles>")
	case "menu":
		return nil, fmt.Errorf("%w: a message menu goes by the customer-service API", ErrNoPassiveReply)
	default:
		return nil, fmt.Errorf("passive reply: message type %q is unknown (want text, image, voice, video or news)", msg.Type)
	}
	b.WriteString("</xml>")
	return b.Bytes(), nil
}

// replyXMLMediaID returns the uploaded media id of an image, voice or
// video message.
func replyXMLMediaID(msg *channels.Message) (string, error) {
	if msg.Media == nil {
		return "", fmt.Errorf("passive reply: %s message has no media", msg.Type)
	}
	if msg.Media.MediaID == "" {
		return "", fmt.Errorf("passive reply: %s message's media is not uploaded (no media id)", msg.Type)
	}
	return msg.Media.MediaID, nil
}

// replyXMLField writes <name><![CDATA[value]]></name>.
func replyXMLField(b *bytes.Buffer, name, value string) {
	b.WriteString("<" + name + ">")
	replyXMLCDATA(b, value)
	b.WriteString("</" + name + ">")
}

// replyXMLCDATA writes value as one or more CDATA sections: each "]]>" is
// split between two sections ("]]" ends one, ">" starts the next), and
// invalid UTF-8 and characters XML 1.0 forbids become U+FFFD.
func replyXMLCDATA(b *bytes.Buffer, value string) {
	b.WriteString("<![CDATA[")
	for rest := value; ; {
		i := strings.Index(rest, "]]>")
		if i < 0 {
			replyXMLChars(b, rest)
			break
		}
		replyXMLChars(b, rest[:i])
		b.WriteString("]]]]><![CDATA[>")
		rest = rest[i+3:]
	}
	b.WriteString("]]>")
}

// replyXMLChars writes s with the characters XML cannot hold replaced.
func replyXMLChars(b *bytes.Buffer, s string) {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if (r == utf8.RuneError && size == 1) || !replyXMLIsChar(r) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
}

// replyXMLIsChar reports whether r is a character of XML 1.0 (its Char
// production).
func replyXMLIsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// EncryptReply wraps a rendered reply for a safe-mode account:
// <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>, with the reply
// encrypted under fresh random bytes and MsgSignature =
// Signature(token, timestamp, nonce, Encrypt). The timestamp must be
// decimal digits; the error never contains the token.
func EncryptReply(c *Cipher, token string, reply []byte, timestamp, nonce string) ([]byte, error) {
	if err := replyXMLCheckTimestamp(timestamp); err != nil {
		return nil, err
	}
	enc, err := c.EncryptMessage(reply)
	if err != nil {
		return nil, fmt.Errorf("encrypted reply: %w", err)
	}
	return replyXMLEncrypted(token, enc, timestamp, nonce)
}

// replyXMLEncrypted renders the safe-mode envelope of an encrypted reply.
func replyXMLEncrypted(token, encrypted, timestamp, nonce string) ([]byte, error) {
	if err := replyXMLCheckTimestamp(timestamp); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("<xml>")
	replyXMLField(&b, "Encrypt", encrypted)
	replyXMLField(&b, "MsgSignature", Signature(token, timestamp, nonce, encrypted))
	b.WriteString("<TimeStamp>" + timestamp + "</TimeStamp>")
	replyXMLField(&b, "Nonce", nonce)
	b.WriteString("</xml>")
	return b.Bytes(), nil
}

// replyXMLCheckTimestamp checks that a timestamp can be written bare.
func replyXMLCheckTimestamp(timestamp string) error {
	if timestamp == "" || strings.Trim(timestamp, "0123456789") != "" {
		return fmt.Errorf("encrypted reply: timestamp %q is not decimal digits", timestamp)
	}
	return nil
}
