package channels

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is what an inbound event is.
type Kind string

// The kinds of inbound events.
const (
	// Follow is a `subscribe` event; Scene is set when it came through a
	// QR code (`qrscene_` stripped).
	Follow Kind = "follow"
	// Unfollow is an `unsubscribe` event.
	Unfollow Kind = "unfollow"
	// Scan is a `SCAN` event of a follower; Scene is the QR code's scene.
	Scan Kind = "scan"
	// MenuClick is a `CLICK` (or `scancode_*`) menu event, or a tap on a
	// message-menu item (text with bizmsgmenuid); Key is the menu key or
	// the item's id.
	MenuClick Kind = "menu"
	// View is a `VIEW` menu event (a link click); it opens no window.
	View Kind = "view"
	// LocationReport is a `LOCATION` event; it opens no window.
	LocationReport Kind = "location_report"
	// Text, Image, Voice, Video, Location and Link are messages.
	Text     Kind = "text"
	Image    Kind = "image"
	Voice    Kind = "voice"
	Video    Kind = "video"
	Location Kind = "location"
	Link     Kind = "link"
	// Other is an event wxflow does not act on; it is stored and
	// acknowledged.
	Other Kind = "other"
	// OtherMessage is a message of a type wxflow does not act on (a mini
	// program card, a file, ...; Name is WeChat's MsgType): a message of
	// any type opens the reply window (WECHAT.md), so it does, and bare
	// message triggers and a waiting ask see it.
	OtherMessage Kind = "other_message"
)

// Interaction classifies an event by what it does to the WeChat session.
type Interaction int

// The interactions.
const (
	// NoInteraction leaves the session as it is (VIEW, LOCATION, unknown).
	NoInteraction Interaction = iota
	// MessageInteraction opens the window with the message quota (5).
	MessageInteraction
	// EventInteraction opens the window with the event quota (3).
	EventInteraction
)

// String names the interaction as the store keeps it.
func (i Interaction) String() string {
	switch i {
	case MessageInteraction:
		return "message"
	case EventInteraction:
		return "event"
	}
	return "none"
}

// IsMessage reports whether the kind is a message from the contact.
func (k Kind) IsMessage() bool {
	switch k {
	case Text, Image, Voice, Video, Location, Link, OtherMessage:
		return true
	}
	return false
}

// Interaction returns what an event of this kind does to the session.
func (k Kind) Interaction() Interaction {
	switch {
	case k.IsMessage():
		return MessageInteraction
	case k == Follow || k == Scan || k == MenuClick:
		return EventInteraction
	}
	return NoInteraction
}

// Geo is a location a contact sent.
type Geo struct {
	Lat   float64 `json:"lat"`
	Lng   float64 `json:"lng"`
	Scale int     `json:"scale,omitempty"`
	Label string  `json:"label,omitempty"`
}

// Event is one inbound event, normalised from the channel's wire format.
type Event struct {
	// Account is the account's id in wxflow's configuration.
	Account string `json:"account"`
	// Contact is the contact's id (the OpenID on WeChat).
	Contact string `json:"contact"`
	Kind    Kind   `json:"kind"`
	// MsgID is the platform's message id (messages only).
	MsgID string `json:"msg_id,omitempty"`
	// Text is a text message's content, or a link's URL.
	Text string `json:"text,omitempty"`
	// Scene is the QR code's scene (follow through a QR code, scan).
	Scene string `json:"scene,omitempty"`
	// Key is the menu key (menu clicks), or the URL (view).
	Key string `json:"key,omitempty"`
	// MediaID is the media of an image, voice or video message.
	MediaID string `json:"media_id,omitempty"`
	// Location is a location message's place.
	Location *Geo `json:"location,omitempty"`
	// Name is the platform's own name for an event wxflow does not know
	// (Kind Other).
	Name string `json:"name,omitempty"`
	// At is when the platform says the event happened.
	At time.Time `json:"at"`
}

// DedupeKeyRange gives the range [lo, hi) of the dedupe keys of one
// contact's events (byte order): every key starts with the account and
// the contact, so a store keyed by it reads a contact's events without
// another index.
func DedupeKeyRange(account, contact string) (lo, hi string) {
	return account + "|" + contact + "|", account + "|" + contact + "}"
}

// DedupeKey identifies the event among the platform's retries of the same
// callback: messages by contact and message id, events by contact, time,
// kind and key. It starts with the account and the contact (see
// DedupeKeyRange).
func (e *Event) DedupeKey() string {
	if e.MsgID != "" {
		return e.Account + "|" + e.Contact + "|m" + e.MsgID
	}
	return fmt.Sprintf("%s|%s|e%d|%s|%s|%s%s", e.Account, e.Contact, e.At.Unix(), e.Kind, e.Name, e.Key, e.Scene)
}

// Session is what the engine keeps, durably, of a contact's WeChat session:
// enough for a Policy to decide whether a message may go out now.
type Session struct {
	// Followed is false once the contact unfollowed.
	Followed bool
	// Last is the time of the last interaction that opened the window;
	// zero when there was none.
	Last time.Time
	// Kind is that interaction's kind.
	Kind Interaction
	// Used counts the replies sent since Last.
	Used int
	// Closed is set when the platform said the window is closed or the
	// quota used (45015, 45047); the next interaction clears it.
	Closed bool
}

// Window is the session as a flow sees it now.
type Window struct {
	Open      bool
	ExpiresAt time.Time
	QuotaLeft int
}

// Message is a rendered outbound message: templates are filled in.
type Message struct {
	// Type is text, image, voice, video, news or menu.
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	// Media is the image, voice or video; Thumb a video's thumbnail.
	Media       *Media `json:"media,omitempty"`
	Thumb       *Media `json:"thumb,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	News        *News  `json:"news,omitempty"`
	Menu        *Menu  `json:"menu,omitempty"`
}

// Media is a media file to send: a file path, a URL or a platform media id.
type Media struct {
	// Kind is image, voice, video or thumb.
	Kind    string `json:"kind"`
	Path    string `json:"path,omitempty"`
	URL     string `json:"url,omitempty"`
	MediaID string `json:"media_id,omitempty"`
	// Upload names a file kept in the store (an image an operator
	// uploaded in the console), so that whichever node sends the message
	// reads it there: the SHA-256 of its content in hex, a dot and its
	// extension.
	Upload string `json:"upload,omitempty"`
	// Size is the file's size in bytes, when known.
	Size int64 `json:"size,omitempty"`
}

// News is one news article.
type News struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
	PicURL      string `json:"picurl,omitempty"`
}

// Menu is a message menu.
type Menu struct {
	Head  string     `json:"head,omitempty"`
	Items []MenuItem `json:"items"`
	Tail  string     `json:"tail,omitempty"`
}

// MenuItem is one tappable item of a message menu.
type MenuItem struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Reason says why a message was not sent.
type Reason string

// The reasons a message fails. They are the words scenarios and the
// console use.
const (
	ReasonWindowClosed   Reason = "window_closed"
	ReasonQuotaExhausted Reason = "quota_exhausted"
	ReasonUnfollowed     Reason = "unfollowed"
	ReasonMediaTooLarge  Reason = "media_too_large"
	ReasonMediaType      Reason = "media_type"
	ReasonRegion         Reason = "region"
	ReasonAPIError       Reason = "api_error"
	// ReasonPaused marks a pending message held back while the account's
	// sends are paused (see Paused); it is no failure.
	ReasonPaused Reason = "paused"
)

// Describe says what the reason means, in words for operators.
func (r Reason) Describe() string {
	switch r {
	case ReasonWindowClosed:
		return "the reply window is closed"
	case ReasonQuotaExhausted:
		return "the replies allowed since the contact's last interaction are used up"
	case ReasonUnfollowed:
		return "the contact no longer follows the account"
	case ReasonMediaTooLarge:
		return "the media file is larger than WeChat accepts"
	case ReasonMediaType:
		return "WeChat does not accept this kind of media file"
	case ReasonRegion:
		return "the account's region cannot send this kind of message"
	case ReasonAPIError:
		return "WeChat's API refused the message"
	case ReasonPaused:
		return "held back while sending from the account is paused after WeChat's errors"
	}
	return string(r)
}

// Refusal is the error a Policy or a Channel returns for a message that is
// not sent. It matches the sentinel error of its reason with errors.Is.
type Refusal struct {
	Reason Reason
	// Detail adds specifics ("video is 12 MB, WeChat accepts 10 MB").
	Detail string
	// Code is the platform's error code, when the platform refused.
	Code int
}

// Error implements error.
func (r *Refusal) Error() string {
	msg := r.Reason.Describe()
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	if r.Code != 0 {
		msg += fmt.Sprintf(" (errcode %d)", r.Code)
	}
	return msg
}

// Is matches the sentinel error of the same reason.
func (r *Refusal) Is(target error) bool {
	t, ok := target.(*Refusal)
	return ok && t.Detail == "" && t.Code == 0 && t.Reason == r.Reason
}

// Sentinel errors, one per reason, for errors.Is.
var (
	ErrWindowClosed   error = &Refusal{Reason: ReasonWindowClosed}
	ErrQuotaExhausted error = &Refusal{Reason: ReasonQuotaExhausted}
	ErrUnfollowed     error = &Refusal{Reason: ReasonUnfollowed}
	ErrMediaTooLarge  error = &Refusal{Reason: ReasonMediaTooLarge}
	ErrMediaType      error = &Refusal{Reason: ReasonMediaType}
	ErrRegion         error = &Refusal{Reason: ReasonRegion}
	ErrAPI            error = &Refusal{Reason: ReasonAPIError}
)

// ErrUnknown is returned by Channel.Send when the message may or may not
// have reached the platform (a timeout after the request went out). The
// engine records it as `unknown` and never sends it again.
var ErrUnknown = errors.New("outcome unknown")

// ErrPaused is matched (errors.Is) by the *Paused error a Channel's Send
// returns when it did not try to send because the account's sends are
// paused.
var ErrPaused = errors.New("sending paused")

// Paused is the error a Channel's Send returns, without calling the
// platform, while the account's sends are paused after a storm of the
// platform's errors (system busy, HTTP 5xx, rate limits). The message was
// not attempted: the engine keeps it pending and tries again at Until.
// It matches ErrPaused.
type Paused struct {
	// Until is when the channel lets a message through again, as a probe.
	Until time.Time
	// Since is when the pause began: the same for every message held
	// back until a probe goes through (a failed probe extends the pause,
	// it starts none), so that the writers that share a channel count
	// one pause once. Zero when the channel does not tell.
	Since time.Time
	// Cause says why, in words for operators ("WeChat answered -1 (system
	// busy) 5 times in a row").
	Cause string
}

// Error implements error.
func (p *Paused) Error() string {
	return fmt.Sprintf("sending paused until %s: %s", p.Until.UTC().Format(time.RFC3339), p.Cause)
}

// Unwrap returns ErrPaused.
func (p *Paused) Unwrap() error { return ErrPaused }

// ReasonOf returns the reason of a refusal, or "" for other errors.
func ReasonOf(err error) Reason {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// Policy decides, as a pure function of the session state, whether a
// message may go out. The engine asks it inside the transaction that
// reserves the send, and keeps the session state durable.
type Policy interface {
	// Check returns nil when msg may be sent now, or a *Refusal.
	Check(s Session, msg *Message, now time.Time) error
	// Interact returns the session after an inbound event of kind k at at.
	Interact(s Session, k Kind, at time.Time) Session
	// Spend returns the session after a message was sent.
	Spend(s Session) Session
	// Window describes the session at now, as flows see it.
	Window(s Session, now time.Time) Window
}

// Channel connects the engine to one messaging platform.
type Channel interface {
	// Policy returns the rules of the given account.
	Policy(account string) Policy
	// Send delivers a message whose send the policy allowed. It returns
	// nil when the platform accepted it, a *Refusal when it refused, an
	// error wrapping ErrUnknown when the outcome cannot be known, or a
	// *Paused when it did not call the platform because the account's
	// sends are paused (the message may be sent again later).
	Send(ctx context.Context, account, contact string, msg *Message) error
}
