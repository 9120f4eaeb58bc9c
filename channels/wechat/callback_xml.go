package wechat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// ErrMalformed is wrapped by every error of ParseCallback: the body is not
// a callback WeChat could have sent.
var ErrMalformed = errors.New("malformed callback XML")

// Callback is a parsed callback body: a message or an event from a contact
// (WECHAT.md section 2), or the envelope of a safe-mode callback (Encrypt).
// Field comments give the XML element each field comes from; a missing
// element leaves its field zero.
type Callback struct {
	// ToUserName is the account's original id (gh_...).
	ToUserName string
	// FromUserName is the contact's OpenID.
	FromUserName string
	// CreateTime is when the message was sent, in Unix seconds.
	CreateTime int64
	// MsgType is text, image, voice, video, shortvideo, location, link or
	// event.
	MsgType string
	// MsgID (MsgId) is a message's 64-bit id, kept as its decimal digits.
	MsgID string

	// Content is a text message's text.
	Content string
	// BizMsgMenuID (bizmsgmenuid) is the id of the message-menu item a
	// text message comes from.
	BizMsgMenuID string

	// PicURL (PicUrl) is an image message's picture.
	PicURL string
	// MediaID (MediaId) is the media of an image, voice or video message.
	MediaID string
	// Format is a voice message's format (amr, speex).
	Format string
	// Recognition is a voice message's transcript, usually empty.
	Recognition string
	// ThumbMediaID (ThumbMediaId) is a video message's thumbnail.
	ThumbMediaID string

	// LocationX (Location_X) is a location message's latitude.
	LocationX float64
	// LocationY (Location_Y) is a location message's longitude.
	LocationY float64
	// Scale is a location message's map zoom.
	Scale int
	// Label is a location message's place name.
	Label string

	// Title, Description and URL (Url) describe a link message.
	Title       string
	Description string
	URL         string

	// EventType (Event) is an event's name: subscribe, unsubscribe, SCAN,
	// CLICK, VIEW, LOCATION, scancode_push... The field is not named Event
	// because that is the method giving the normalised event.
	EventType string
	// EventKey is the QR scene ("qrscene_" + scene for a subscribe), the
	// menu key or a VIEW event's URL.
	EventKey string
	// Ticket is the QR code's ticket (subscribe through a QR code, SCAN).
	Ticket string

	// Latitude, Longitude and Precision are a LOCATION event's report.
	Latitude  float64
	Longitude float64
	Precision float64

	// ScanCodeInfo is what a scancode_push or scancode_waitmsg menu
	// button scanned.
	ScanCodeInfo struct {
		// ScanType is qrcode or barcode.
		ScanType string
		// ScanResult is the scanned text ("EAN_13,6901234567892").
		ScanResult string
	}

	// Encrypt is the encrypted callback of safe (and compatible) mode;
	// decrypt it with Cipher.Decrypt and parse the result.
	Encrypt string
}

// The bounds ParseCallback puts on a body. WeChat's callbacks are a few
// hundred bytes, about 20 elements and 3 levels deep (SendPicsInfo goes to
// 5).
const (
	callbackXMLMaxBody     = 1 << 20
	callbackXMLMaxDepth    = 8
	callbackXMLMaxElements = 256
	// callbackXMLMaxAttrs bounds the attributes of a callback; WeChat
	// sends none.
	callbackXMLMaxAttrs = 16
)

// The longest values the callback fields take, in bytes. WeChat's own are
// far shorter (an OpenID is 28 characters, a gh_ id 15, a media id 64);
// where WeChat documents a limit the bound leaves room above it: a menu
// key is at most 128 bytes, a VIEW button's URL 1024, a QR scene 64
// characters. A longer value is refused, so that nothing that size is
// stored.
const (
	// callbackXMLMaxUser bounds ToUserName and FromUserName.
	callbackXMLMaxUser = 64
	// callbackXMLMaxName bounds MsgType, Format and ScanType.
	callbackXMLMaxName = 32
	// callbackXMLMaxEvent bounds Event (some event names are 30
	// characters long).
	callbackXMLMaxEvent = 64
	// callbackXMLMaxMsgID bounds MsgId: 2^64 has 20 digits.
	callbackXMLMaxMsgID = 20
	// callbackXMLMaxMediaID bounds MediaId, ThumbMediaId and bizmsgmenuid.
	callbackXMLMaxMediaID = 256
	// callbackXMLMaxTicket bounds Ticket.
	callbackXMLMaxTicket = 512
	// callbackXMLMaxKey bounds EventKey: a menu key, "qrscene_" and a QR
	// scene, or a VIEW button's URL.
	callbackXMLMaxKey = 1024
	// callbackXMLMaxURL bounds PicUrl and Url.
	callbackXMLMaxURL = 4096
	// callbackXMLMaxText bounds the free texts: Content, Recognition,
	// Label, Title, Description and ScanResult.
	callbackXMLMaxText = 64 << 10
)

// callbackXMLField stores an element's text in its Callback field.
type callbackXMLField func(c *Callback, v string) error

// callbackXMLFields maps the path of an element below the root to its
// field.
var callbackXMLFields = map[string]callbackXMLField{
	"ToUserName":              callbackXMLID("ToUserName", callbackXMLMaxUser, func(c *Callback) *string { return &c.ToUserName }),
	"FromUserName":            callbackXMLID("FromUserName", callbackXMLMaxUser, func(c *Callback) *string { return &c.FromUserName }),
	"CreateTime":              callbackXMLCreateTime,
	"MsgType":                 callbackXMLID("MsgType", callbackXMLMaxName, func(c *Callback) *string { return &c.MsgType }),
	"MsgId":                   callbackXMLMsgID,
	"Content":                 callbackXMLText("Content", callbackXMLMaxText, func(c *Callback) *string { return &c.Content }),
	"bizmsgmenuid":            callbackXMLID("bizmsgmenuid", callbackXMLMaxMediaID, func(c *Callback) *string { return &c.BizMsgMenuID }),
	"PicUrl":                  callbackXMLID("PicUrl", callbackXMLMaxURL, func(c *Callback) *string { return &c.PicURL }),
	"MediaId":                 callbackXMLID("MediaId", callbackXMLMaxMediaID, func(c *Callback) *string { return &c.MediaID }),
	"Format":                  callbackXMLID("Format", callbackXMLMaxName, func(c *Callback) *string { return &c.Format }),
	"Recognition":             callbackXMLText("Recognition", callbackXMLMaxText, func(c *Callback) *string { return &c.Recognition }),
	"ThumbMediaId":            callbackXMLID("ThumbMediaId", callbackXMLMaxMediaID, func(c *Callback) *string { return &c.ThumbMediaID }),
	"Location_X":              callbackXMLFloat("Location_X", func(c *Callback) *float64 { return &c.LocationX }),
	"Location_Y":              callbackXMLFloat("Location_Y", func(c *Callback) *float64 { return &c.LocationY }),
	"Scale":                   callbackXMLScale,
	"Label":                   callbackXMLText("Label", callbackXMLMaxText, func(c *Callback) *string { return &c.Label }),
	"Title":                   callbackXMLText("Title", callbackXMLMaxText, func(c *Callback) *string { return &c.Title }),
	"Description":             callbackXMLText("Description", callbackXMLMaxText, func(c *Callback) *string { return &c.Description }),
	"Url":                     callbackXMLID("Url", callbackXMLMaxURL, func(c *Callback) *string { return &c.URL }),
	"Event":                   callbackXMLID("Event", callbackXMLMaxEvent, func(c *Callback) *string { return &c.EventType }),
	"EventKey":                callbackXMLText("EventKey", callbackXMLMaxKey, func(c *Callback) *string { return &c.EventKey }),
	"Ticket":                  callbackXMLID("Ticket", callbackXMLMaxTicket, func(c *Callback) *string { return &c.Ticket }),
	"Latitude":                callbackXMLFloat("Latitude", func(c *Callback) *float64 { return &c.Latitude }),
	"Longitude":               callbackXMLFloat("Longitude", func(c *Callback) *float64 { return &c.Longitude }),
	"Precision":               callbackXMLFloat("Precision", func(c *Callback) *float64 { return &c.Precision }),
	"ScanCodeInfo/ScanType":   callbackXMLID("ScanType", callbackXMLMaxName, func(c *Callback) *string { return &c.ScanCodeInfo.ScanType }),
	"ScanCodeInfo/ScanResult": callbackXMLText("ScanResult", callbackXMLMaxText, func(c *Callback) *string { return &c.ScanCodeInfo.ScanResult }),
	// Encrypt holds a whole callback, encrypted: the body's bound is its
	// bound.
	"Encrypt": callbackXMLID("Encrypt", callbackXMLMaxBody, func(c *Callback) *string { return &c.Encrypt }),
}

// callbackXMLLong is the error of a value longer than its field's bound.
func callbackXMLLong(name, v string, limit int) error {
	return fmt.Errorf("%s is %d bytes, more than %d", name, len(v), limit)
}

// callbackXMLText stores free text (a message, a key) as it came, up to
// limit bytes.
func callbackXMLText(name string, limit int, field func(*Callback) *string) callbackXMLField {
	return func(c *Callback, v string) error {
		if len(v) > limit {
			return callbackXMLLong(name, v, limit)
		}
		*field(c) = v
		return nil
	}
}

// callbackXMLID stores an identifier, URL or name, which never has
// surrounding whitespace of its own: pretty-printed XML may add some. The
// value without it is at most limit bytes.
func callbackXMLID(name string, limit int, field func(*Callback) *string) callbackXMLField {
	return func(c *Callback, v string) error {
		v = strings.TrimSpace(v)
		if len(v) > limit {
			return callbackXMLLong(name, v, limit)
		}
		*field(c) = v
		return nil
	}
}

// callbackXMLCreateTime stores CreateTime, Unix seconds.
func callbackXMLCreateTime(c *Callback, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("CreateTime %q is not a whole number of seconds", callbackXMLQuote(v))
	}
	if n < 0 || n > maxCreateTime {
		return fmt.Errorf("CreateTime %d is not a time WeChat sends (Unix seconds from 1970 to 9999)", n)
	}
	c.CreateTime = n
	return nil
}

// maxCreateTime is the last second of year 9999: a time past it cannot be
// stored (as JSON, RFC 3339 has four-digit years).
const maxCreateTime = 253402300799

// callbackXMLMsgID stores MsgId, a 64-bit id, as its digits.
func callbackXMLMsgID(c *Callback, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if len(v) > callbackXMLMaxMsgID {
		return callbackXMLLong("MsgId", v, callbackXMLMaxMsgID)
	}
	if strings.TrimLeft(v, "0123456789") != "" {
		return fmt.Errorf("MsgId %q is not digits", callbackXMLQuote(v))
	}
	if _, err := strconv.ParseUint(v, 10, 64); err != nil {
		return fmt.Errorf("MsgId %q does not fit 64 bits", callbackXMLQuote(v))
	}
	c.MsgID = v
	return nil
}

// callbackXMLScale stores Scale, a whole zoom level (a float with no
// fraction is accepted too).
func callbackXMLScale(c *Callback, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil {
		c.Scale = int(n)
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return fmt.Errorf("Scale %q is not a whole number", callbackXMLQuote(v))
	}
	c.Scale = int(f)
	return nil
}

// callbackXMLFloat stores a coordinate; NaN and infinities are refused
// (they are no place, and JSON cannot hold them).
func callbackXMLFloat(name string, field func(*Callback) *float64) callbackXMLField {
	return func(c *Callback, v string) error {
		v = strings.TrimSpace(v)
		if v == "" {
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s %q is not a number", name, callbackXMLQuote(v))
		}
		*field(c) = f
		return nil
	}
}

// callbackXMLQuote shortens a value quoted in an error.
func callbackXMLQuote(v string) string {
	const limit = 40
	if len(v) > limit {
		return v[:limit] + "..."
	}
	return v
}

// ParseCallback parses a callback body (or a decrypted safe-mode
// message). It is made for hostile input: it reads the body as a strict
// token stream and refuses a DOCTYPE or any other directive, entities
// other than XML's five, a root other than <xml>, nesting deeper than 8
// levels, more than 256 elements, a body over 1 MiB, anything after the
// root element, a known field given twice or holding elements, a field
// longer than its bound (64 bytes for ToUserName and FromUserName, 32 for
// MsgType, 64 for Event, 1024 for EventKey, 64 KiB for Content and the
// other free texts: the callbackXMLMax constants), and numbers that do not
// parse. Unknown elements are skipped. Every error wraps ErrMalformed; it
// never panics.
func ParseCallback(body []byte) (*Callback, error) {
	cb, err := callbackXMLParse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return cb, nil
}

// callbackXMLParse does ParseCallback's work; its errors say what is wrong.
func callbackXMLParse(body []byte) (*Callback, error) {
	if len(body) > callbackXMLMaxBody {
		return nil, fmt.Errorf("body is %d bytes, more than %d", len(body), callbackXMLMaxBody)
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.Entity = nil
	d.CharsetReader = nil

	cb := &Callback{}
	var (
		path     []string // open elements below the root
		rootSeen bool     // the root element started
		rootDone bool     // the root element ended
		elements int
		attrs    int
		field    callbackXMLField // the known field being read, if any
		fieldAt  int              // its depth
		text     strings.Builder  // its text so far
		seen     = map[string]bool{}
		depth    int // open elements, the root included
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if rootDone {
				return nil, fmt.Errorf("element <%s> after the root element", t.Name.Local)
			}
			elements++
			if elements > callbackXMLMaxElements {
				return nil, fmt.Errorf("more than %d elements", callbackXMLMaxElements)
			}
			if attrs += len(t.Attr); attrs > callbackXMLMaxAttrs {
				return nil, fmt.Errorf("more than %d attributes", callbackXMLMaxAttrs)
			}
			depth++
			if depth > callbackXMLMaxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d levels", callbackXMLMaxDepth)
			}
			if depth == 1 {
				if t.Name.Space != "" || t.Name.Local != "xml" {
					return nil, fmt.Errorf("root element is <%s>, want <xml>", callbackXMLName(t.Name))
				}
				rootSeen = true
				continue
			}
			if field != nil {
				return nil, fmt.Errorf("field <%s> holds an element <%s>", path[len(path)-1], callbackXMLName(t.Name))
			}
			name := t.Name.Local
			if t.Name.Space != "" {
				name = t.Name.Space + ":" + name // matches no field
			}
			path = append(path, name)
			key := strings.Join(path, "/")
			if f, ok := callbackXMLFields[key]; ok {
				if seen[key] {
					return nil, fmt.Errorf("field <%s> appears twice", key)
				}
				seen[key] = true
				field, fieldAt = f, depth
				text.Reset()
			}
		case xml.EndElement:
			// The decoder has checked that it matches its start.
			if depth == fieldAt && field != nil {
				if err := field(cb, text.String()); err != nil {
					return nil, err
				}
				field = nil
			}
			depth--
			if depth == 0 {
				rootDone = true
			} else {
				path = path[:len(path)-1]
			}
		case xml.CharData:
			if depth == 0 {
				if len(bytes.TrimSpace(t)) == 0 {
					continue
				}
				if rootDone {
					return nil, errors.New("text after the root element")
				}
				return nil, errors.New("text before the root element (not XML?)")
			}
			if field != nil && depth == fieldAt {
				text.Write(t)
			}
		case xml.Directive:
			if d := bytes.TrimSpace(t); len(d) >= 7 && strings.EqualFold(string(d[:7]), "DOCTYPE") {
				return nil, errors.New("a DOCTYPE is not allowed (no DTDs, no entities)")
			}
			return nil, errors.New("XML directives are not allowed")
		case xml.ProcInst:
			if rootSeen {
				return nil, fmt.Errorf("processing instruction <?%s?> inside or after the root element", t.Target)
			}
		case xml.Comment:
			// Comments carry nothing.
		}
	}
	if !rootSeen {
		return nil, errors.New("no <xml> root element")
	}
	if !rootDone {
		return nil, errors.New("the root element is not closed")
	}
	return cb, nil
}

// callbackXMLName writes an element name for an error.
func callbackXMLName(n xml.Name) string {
	if n.Space != "" {
		return callbackXMLQuote(n.Space) + ":" + callbackXMLQuote(n.Local)
	}
	return callbackXMLQuote(n.Local)
}

// Event returns the callback as the engine's event for account, the
// account's id in wxflow's configuration. Messages become their kinds (a
// text tapped from a message menu, with bizmsgmenuid, is a MenuClick);
// subscribe, unsubscribe, SCAN, CLICK, scancode_push, scancode_waitmsg,
// VIEW and LOCATION events become Follow, Unfollow, Scan, MenuClick, View
// and LocationReport (event names compare case-insensitively); anything
// else is Other, named by its Event or MsgType.
func (c *Callback) Event(account string) channels.Event {
	e := channels.Event{
		Account: account,
		Contact: c.FromUserName,
		At:      time.Unix(c.CreateTime, 0).UTC(),
	}
	switch strings.ToLower(c.MsgType) {
	case "text":
		e.MsgID = c.MsgID
		e.Text = c.Content
		e.Kind = channels.Text
		if c.BizMsgMenuID != "" {
			e.Kind = channels.MenuClick
			e.Key = c.BizMsgMenuID
		}
	case "image":
		e.Kind, e.MsgID, e.MediaID = channels.Image, c.MsgID, c.MediaID
	case "voice":
		e.Kind, e.MsgID, e.MediaID, e.Text = channels.Voice, c.MsgID, c.MediaID, c.Recognition
	case "video", "shortvideo":
		e.Kind, e.MsgID, e.MediaID = channels.Video, c.MsgID, c.MediaID
	case "location":
		e.Kind, e.MsgID = channels.Location, c.MsgID
		e.Location = &channels.Geo{Lat: c.LocationX, Lng: c.LocationY, Scale: c.Scale, Label: c.Label}
	case "link":
		e.Kind, e.MsgID, e.Text = channels.Link, c.MsgID, c.URL
	case "event":
		c.callbackXMLEvent(&e)
	case "":
		e.Kind, e.MsgID = channels.Other, c.MsgID
	default:
		// A message of another type (miniprogrampage, file, ...): it
		// opens the window as every message does.
		e.Kind, e.MsgID, e.Name = channels.OtherMessage, c.MsgID, c.MsgType
	}
	return e
}

// callbackXMLEvent fills in e for a callback of MsgType event.
func (c *Callback) callbackXMLEvent(e *channels.Event) {
	switch strings.ToLower(c.EventType) {
	case "subscribe":
		e.Kind = channels.Follow
		if scene, ok := strings.CutPrefix(c.EventKey, "qrscene_"); ok {
			e.Scene = scene
		}
	case "unsubscribe":
		e.Kind = channels.Unfollow
	case "scan":
		e.Kind, e.Scene = channels.Scan, c.EventKey
	case "click", "scancode_push", "scancode_waitmsg":
		e.Kind, e.Key = channels.MenuClick, c.EventKey
	case "view":
		e.Kind, e.Key = channels.View, c.EventKey
	case "location":
		e.Kind = channels.LocationReport
		e.Location = &channels.Geo{Lat: c.Latitude, Lng: c.Longitude}
	default:
		e.Kind, e.Name, e.Key = channels.Other, c.EventType, c.EventKey
	}
}
