package wechat

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// The regions an account can be registered in.
const (
	// RegionMainland is an account registered in Mainland China: it may
	// send every kind of message.
	RegionMainland = "mainland"
	// RegionInternational is an account registered outside Mainland
	// China: it may send text and images, not voice or video.
	RegionInternational = "international"
)

// The defaults of Settings, from the product rules.
const (
	DefaultWindow       = 48 * time.Hour
	DefaultMessageQuota = 5
	DefaultEventQuota   = 3
	DefaultRegion       = RegionMainland
)

// Settings are an account's window and quota rules. A zero field means its
// default, so the zero Settings are the product rules.
type Settings struct {
	// Window is how long after a message from the contact replies may go
	// out (default 48h).
	Window time.Duration
	// MessageQuota is how many replies may go out after a message from the
	// contact (default 5). The older rule of 20 per session is
	// MessageQuota and EventQuota set to 20.
	MessageQuota int
	// EventQuota is how many replies may go out after a follow, a QR scan
	// or a menu click (default 3).
	EventQuota int
	// EventWindow is how long after such an event replies may go out
	// (default Window). WeChat's own document says 1 minute.
	EventWindow time.Duration
	// Region is "mainland" (default) or "international".
	Region string
}

// Defaults returns the settings of the product rules: a 48-hour window, 5
// replies after a message, 3 after an event, a mainland account.
func Defaults() Settings {
	return Settings{}.withDefaults()
}

// withDefaults fills in the zero fields.
func (s Settings) withDefaults() Settings {
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	if s.MessageQuota == 0 {
		s.MessageQuota = DefaultMessageQuota
	}
	if s.EventQuota == 0 {
		s.EventQuota = DefaultEventQuota
	}
	if s.EventWindow == 0 {
		s.EventWindow = s.Window
	}
	if s.Region == "" {
		s.Region = DefaultRegion
	}
	return s
}

// Validate reports settings that cannot be meant: negative durations or
// quotas, or an unknown region. Zero fields are valid (they mean the
// defaults).
func (s Settings) Validate() error {
	var errs []error
	if s.Window < 0 {
		errs = append(errs, fmt.Errorf("window %s is negative", s.Window))
	}
	if s.EventWindow < 0 {
		errs = append(errs, fmt.Errorf("event window %s is negative", s.EventWindow))
	}
	if s.MessageQuota < 0 {
		errs = append(errs, fmt.Errorf("message quota %d is negative", s.MessageQuota))
	}
	if s.EventQuota < 0 {
		errs = append(errs, fmt.Errorf("event quota %d is negative", s.EventQuota))
	}
	switch s.Region {
	case "", RegionMainland, RegionInternational:
	default:
		errs = append(errs, fmt.Errorf("region %q is unknown (want %q or %q)", s.Region, RegionMainland, RegionInternational))
	}
	return errors.Join(errs...)
}

// Policy is the WeChat channel's channels.Policy for one account. It holds
// only its settings and never reads a clock: every decision is a function of
// the session and the time passed in. The zero Policy applies the defaults.
type Policy struct {
	settings Settings
}

// NewPolicy returns the policy of an account with the given settings (zero
// fields mean the defaults). Its dynamic type is Policy, whose Settings
// method shows the settings in force.
func NewPolicy(s Settings) channels.Policy {
	return Policy{settings: s.withDefaults()}
}

var _ channels.Policy = Policy{}

// Settings returns the settings the policy applies, defaults filled in.
func (p Policy) Settings() Settings {
	return p.settings.withDefaults()
}

// Interact returns the session after an inbound event of kind k at at.
//
// A message, follow, scan or menu click opens a new window at at, with the
// quota of its kind and nothing used, clears Closed and marks the contact as
// following. An unfollow marks the contact as not following and closes the
// window. Other kinds (VIEW, LOCATION, unknown events) change nothing. An
// interaction older than the one that opened the current window (a late
// retry) changes nothing either: it must not give back spent replies. An
// unfollow applies whatever its time: both rules err on the side of not
// sending.
func (p Policy) Interact(s channels.Session, k channels.Kind, at time.Time) channels.Session {
	if k == channels.Unfollow {
		s.Followed = false
		s.Closed = true
		return s
	}
	i := k.Interaction()
	if i == channels.NoInteraction {
		return s
	}
	if hasInteraction(s) && at.Before(s.Last) {
		return s
	}
	return channels.Session{Followed: true, Last: at, Kind: i}
}

// Spend returns the session after a message was sent.
func (p Policy) Spend(s channels.Session) channels.Session {
	s.Used++
	return s
}

// Check returns nil when msg may be sent at now, or a *channels.Refusal
// (whose times are written in now's zone). It looks, in this order, at:
// the follow, the window, the quota, the region, then each media file's
// size and file type.
func (p Policy) Check(s channels.Session, msg *channels.Message, now time.Time) error {
	cfg := p.Settings()
	if err := cfg.checkSession(s, now); err != nil {
		return err
	}
	if msg == nil {
		return nil
	}
	return cfg.checkMessage(msg)
}

// Window describes the session at now: Open when a text message would pass
// Check, ExpiresAt when the window ends (zero when no interaction opened it
// or the platform closed it), and QuotaLeft the replies still allowed (zero
// when the window is not open).
func (p Policy) Window(s channels.Session, now time.Time) channels.Window {
	cfg := p.Settings()
	var w channels.Window
	if hasInteraction(s) && !s.Closed {
		w.ExpiresAt = s.Last.Add(cfg.window(s.Kind))
	}
	w.Open = cfg.checkSession(s, now) == nil
	if w.Open {
		w.QuotaLeft = cfg.quota(s.Kind) - s.Used
	}
	return w
}

// hasInteraction reports whether an interaction opened the session's window.
func hasInteraction(s channels.Session) bool {
	return s.Kind != channels.NoInteraction && !s.Last.IsZero()
}

// window is how long the window lasts after an interaction of kind i.
func (s Settings) window(i channels.Interaction) time.Duration {
	if i == channels.EventInteraction {
		return s.EventWindow
	}
	return s.Window
}

// quota is how many replies may go out after an interaction of kind i.
func (s Settings) quota(i channels.Interaction) int {
	if i == channels.EventInteraction {
		return s.EventQuota
	}
	return s.MessageQuota
}

// checkSession applies the rules of the session: follow, window, quota.
func (s Settings) checkSession(ss channels.Session, now time.Time) error {
	if !ss.Followed {
		return &channels.Refusal{Reason: channels.ReasonUnfollowed}
	}
	if !hasInteraction(ss) {
		return &channels.Refusal{Reason: channels.ReasonWindowClosed, Detail: "the contact has not interacted with the account"}
	}
	if ss.Closed {
		return &channels.Refusal{Reason: channels.ReasonWindowClosed, Detail: "WeChat closed the session; it reopens at the contact's next interaction"}
	}
	w := s.window(ss.Kind)
	if end := ss.Last.Add(w); !now.Before(end) {
		return &channels.Refusal{Reason: channels.ReasonWindowClosed,
			Detail: fmt.Sprintf("the %s window opened by %s closed at %s", formatDuration(w), opener(ss.Kind), end.In(now.Location()).Format(time.RFC3339))}
	}
	if q := s.quota(ss.Kind); ss.Used >= q {
		return &channels.Refusal{Reason: channels.ReasonQuotaExhausted,
			Detail: fmt.Sprintf("%d of the %d replies allowed after %s are sent", ss.Used, q, opener(ss.Kind))}
	}
	return nil
}

// mediaLimit is what WeChat accepts of one kind of media.
type mediaLimit struct {
	size       int64
	extensions []string
}

// mediaLimits are WeChat's limits on uploaded media, by kind.
var mediaLimits = map[string]mediaLimit{
	"image": {10 << 20, []string{"jpg", "jpeg", "png", "gif", "bmp"}},
	"voice": {2 << 20, []string{"amr", "mp3"}},
	"video": {10 << 20, []string{"mp4"}},
	"thumb": {64 << 10, []string{"jpg", "jpeg"}},
}

// checkMessage applies the rules of the message: region, media size and
// file type.
func (s Settings) checkMessage(msg *channels.Message) error {
	if why := emptyContent(msg); why != "" {
		// A template that rendered empty: WeChat refuses it (44004 for
		// a text), so it is not sent; the flows' own texts written out
		// empty are refused when they load.
		return &channels.Refusal{Reason: channels.ReasonAPIError, Detail: "not sent: " + why + ", which WeChat refuses"}
	}
	if s.Region == RegionInternational {
		kind := msg.Type
		if msg.Media != nil && (msg.Media.Kind == "voice" || msg.Media.Kind == "video") {
			kind = msg.Media.Kind
		}
		if kind == "voice" || kind == "video" {
			return &channels.Refusal{Reason: channels.ReasonRegion,
				Detail: fmt.Sprintf("an international account cannot send %s by API", kind)}
		}
	}
	if msg.Media != nil {
		if err := checkMedia(msg.Media, msg.Type); err != nil {
			return err
		}
	}
	if msg.Thumb != nil {
		if err := checkMedia(msg.Thumb, "thumb"); err != nil {
			return err
		}
	}
	return nil
}

// emptyContent says what of a message is empty that WeChat requires
// (a text's text, a news article's title or URL, a menu item's id or
// text), or "".
func emptyContent(msg *channels.Message) string {
	switch msg.Type {
	case "text":
		if msg.Text == "" {
			return "the text is empty"
		}
	case "news":
		if msg.News != nil && (msg.News.Title == "" || msg.News.URL == "") {
			return "the news article has no title or no URL"
		}
	case "menu":
		if msg.Menu != nil {
			for _, it := range msg.Menu.Items {
				if it.ID == "" || it.Text == "" {
					return "a menu item has no id or no text"
				}
			}
		}
	}
	return ""
}

// checkMedia checks one media file against the limits of its kind (kind
// when m.Kind is empty): its size when known, its extension when it is a
// local file.
func checkMedia(m *channels.Media, kind string) error {
	if m.Kind != "" {
		kind = m.Kind
	}
	lim, ok := mediaLimits[kind]
	if !ok {
		return &channels.Refusal{Reason: channels.ReasonMediaType,
			Detail: fmt.Sprintf("media kind %q is not image, voice, video or thumb", kind)}
	}
	if m.Size > lim.size {
		return &channels.Refusal{Reason: channels.ReasonMediaTooLarge,
			Detail: fmt.Sprintf("%s is %s, WeChat accepts up to %s", kind, formatSize(m.Size, lim.size), formatLimit(lim.size))}
	}
	file := m.Path
	if file == "" {
		file = m.Upload
	}
	if file == "" && m.URL != "" {
		// A URL's extension, when it has one, is checked before the
		// download (medDownload); one without is judged by what it
		// answers.
		u, err := url.Parse(m.URL)
		if err != nil || path.Ext(u.Path) == "" {
			return nil
		}
		file = u.Path
	}
	if file == "" {
		return nil
	}
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(file), "."))
	for _, e := range lim.extensions {
		if ext == e {
			return nil
		}
	}
	got := "has no extension"
	if ext != "" {
		got = "is ." + ext
	}
	return &channels.Refusal{Reason: channels.ReasonMediaType,
		Detail: fmt.Sprintf("%s file %s %s, WeChat accepts %s", kind, filepath.Base(file), got, strings.Join(lim.extensions, ", "))}
}

// formatLimit writes a limit: "10 MB", "64 KB".
func formatLimit(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d KB", n>>10)
}

// formatSize writes a size in the unit of the limit it is compared with,
// with one decimal: "12.0 MB", "80.5 KB".
func formatSize(n, limit int64) string {
	if limit >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
}

// opener names what opens a window of interaction kind i, for details.
func opener(i channels.Interaction) string {
	if i == channels.EventInteraction {
		return "a follow, scan or menu click"
	}
	return "a message"
}

// formatDuration writes a window length: "48h", "1m", "90s".
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
