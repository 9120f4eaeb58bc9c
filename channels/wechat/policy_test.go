package wechat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
)

var t0 = time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)

var text = &channels.Message{Type: "text", Text: "hi"}

// step is one thing that happens to a session in a scenario: an inbound
// event (kind), or a send attempt (send) expected to fail with want (nil
// for success). Successful sends are spent.
type step struct {
	after time.Duration // since t0
	kind  channels.Kind
	send  *channels.Message
	want  error
}

// sendN returns n text sends at after, all expected to pass.
func sendN(after time.Duration, n int) []step {
	var steps []step
	for range n {
		steps = append(steps, step{after: after, send: text})
	}
	return steps
}

func join(parts ...[]step) []step {
	var all []step
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestPolicyScenarios(t *testing.T) {
	t.Parallel()
	event := func(after time.Duration, k channels.Kind) []step { return []step{{after: after, kind: k}} }
	refused := func(after time.Duration, want error) []step { return []step{{after: after, send: text, want: want}} }

	tests := []struct {
		name     string
		settings wechat.Settings
		steps    []step
	}{
		{"5 replies after a message", wechat.Settings{}, join(
			event(0, channels.Text), sendN(time.Minute, 5), refused(time.Minute, channels.ErrQuotaExhausted))},
		{"5 replies after an image", wechat.Settings{}, join(
			event(0, channels.Image), sendN(time.Hour, 5), refused(time.Hour, channels.ErrQuotaExhausted))},
		{"3 replies after a follow", wechat.Settings{}, join(
			event(0, channels.Follow), sendN(time.Minute, 3), refused(time.Minute, channels.ErrQuotaExhausted))},
		{"3 replies after a scan", wechat.Settings{}, join(
			event(0, channels.Follow), event(time.Hour, channels.Scan), sendN(2*time.Hour, 3), refused(2*time.Hour, channels.ErrQuotaExhausted))},
		{"3 replies after a menu click", wechat.Settings{}, join(
			event(0, channels.Follow), event(time.Hour, channels.MenuClick), sendN(2*time.Hour, 3), refused(2*time.Hour, channels.ErrQuotaExhausted))},
		{"a message after an event resets to 5", wechat.Settings{}, join(
			event(0, channels.Follow), sendN(time.Minute, 3), refused(time.Minute, channels.ErrQuotaExhausted),
			event(time.Hour, channels.Text), sendN(time.Hour, 5), refused(time.Hour, channels.ErrQuotaExhausted))},
		{"an event after a message resets to 3", wechat.Settings{}, join(
			event(0, channels.Text), sendN(time.Minute, 2),
			event(time.Hour, channels.MenuClick), sendN(time.Hour, 3), refused(time.Hour, channels.ErrQuotaExhausted))},
		{"a new interaction resets the window", wechat.Settings{}, join(
			event(0, channels.Text), sendN(47*time.Hour, 1),
			event(47*time.Hour, channels.Text), sendN(94*time.Hour, 1), refused(95*time.Hour, channels.ErrWindowClosed))},
		{"open just before 48h", wechat.Settings{}, join(
			event(0, channels.Text), sendN(48*time.Hour-time.Nanosecond, 1))},
		{"closed exactly at 48h", wechat.Settings{}, join(
			event(0, channels.Text), refused(48*time.Hour, channels.ErrWindowClosed))},
		{"closed exactly at 48h after an event", wechat.Settings{}, join(
			event(0, channels.Follow), sendN(48*time.Hour-time.Second, 1), refused(48*time.Hour, channels.ErrWindowClosed))},
		{"event window of 1 minute", wechat.Settings{EventWindow: time.Minute}, join(
			event(0, channels.Follow), sendN(59*time.Second, 1), refused(time.Minute, channels.ErrWindowClosed),
			event(time.Hour, channels.Text), sendN(time.Hour+47*time.Hour, 1))},
		{"older rule: 20 per session", wechat.Settings{MessageQuota: 20, EventQuota: 20}, join(
			event(0, channels.Follow), sendN(time.Hour, 20), refused(time.Hour, channels.ErrQuotaExhausted),
			event(2*time.Hour, channels.Text), sendN(3*time.Hour, 20), refused(3*time.Hour, channels.ErrQuotaExhausted))},
		{"no interaction: unfollowed", wechat.Settings{}, refused(0, channels.ErrUnfollowed)},
		{"unfollow closes the session", wechat.Settings{}, join(
			event(0, channels.Text), sendN(time.Minute, 1),
			event(time.Hour, channels.Unfollow), refused(time.Hour, channels.ErrUnfollowed),
			event(2*time.Hour, channels.Follow), sendN(2*time.Hour, 3), refused(2*time.Hour, channels.ErrQuotaExhausted))},
		{"VIEW and LOCATION do not open the window", wechat.Settings{}, join(
			event(0, channels.Follow), sendN(time.Minute, 3),
			event(time.Hour, channels.View), event(time.Hour, channels.LocationReport), event(time.Hour, channels.Other),
			refused(time.Hour, channels.ErrQuotaExhausted),
			refused(48*time.Hour, channels.ErrWindowClosed),
			event(49*time.Hour, channels.View), event(49*time.Hour, channels.LocationReport),
			refused(49*time.Hour, channels.ErrWindowClosed))},
		{"a late retry gives back nothing", wechat.Settings{}, join(
			event(time.Hour, channels.Text), sendN(time.Hour, 5),
			event(30*time.Minute, channels.Text), refused(time.Hour, channels.ErrQuotaExhausted),
			event(time.Hour, channels.Text), sendN(time.Hour, 5))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := wechat.NewPolicy(tt.settings)
			var s channels.Session
			for i, st := range tt.steps {
				at := t0.Add(st.after)
				if st.send == nil {
					s = p.Interact(s, st.kind, at)
					continue
				}
				err := p.Check(s, st.send, at)
				if st.want == nil {
					if err != nil {
						t.Fatalf("step %d: send at +%s: %v (session %+v)", i, st.after, err, s)
					}
					s = p.Spend(s)
					continue
				}
				if !errors.Is(err, st.want) {
					t.Fatalf("step %d: send at +%s: got %v, want %v (session %+v)", i, st.after, err, st.want, s)
				}
			}
		})
	}
}

func TestInteract(t *testing.T) {
	t.Parallel()
	p := wechat.NewPolicy(wechat.Settings{})
	open := channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Used: 2}
	later := t0.Add(time.Hour)
	tests := []struct {
		name string
		s    channels.Session
		kind channels.Kind
		want channels.Session
	}{
		{"follow", channels.Session{}, channels.Follow,
			channels.Session{Followed: true, Last: later, Kind: channels.EventInteraction}},
		{"message implies follow", channels.Session{}, channels.Text,
			channels.Session{Followed: true, Last: later, Kind: channels.MessageInteraction}},
		{"scan resets count", open, channels.Scan,
			channels.Session{Followed: true, Last: later, Kind: channels.EventInteraction}},
		{"message clears Closed", channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Used: 1, Closed: true}, channels.Voice,
			channels.Session{Followed: true, Last: later, Kind: channels.MessageInteraction}},
		{"menu click clears Closed", channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Closed: true}, channels.MenuClick,
			channels.Session{Followed: true, Last: later, Kind: channels.EventInteraction}},
		{"unfollow", open, channels.Unfollow,
			channels.Session{Followed: false, Last: t0, Kind: channels.MessageInteraction, Used: 2, Closed: true}},
		{"view changes nothing", open, channels.View, open},
		{"location report changes nothing", open, channels.LocationReport, open},
		{"other changes nothing", open, channels.Other, open},
		{"view does not follow", channels.Session{}, channels.View, channels.Session{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := p.Interact(tt.s, tt.kind, later); got != tt.want {
				t.Errorf("Interact(%+v, %s)\n got %+v\nwant %+v", tt.s, tt.kind, got, tt.want)
			}
		})
	}
}

func TestClosedByPlatform(t *testing.T) {
	t.Parallel()
	p := wechat.NewPolicy(wechat.Settings{})
	s := p.Interact(channels.Session{}, channels.Text, t0)
	s.Closed = true // what the engine does on 45015 or 45047
	if err := p.Check(s, text, t0.Add(time.Minute)); !errors.Is(err, channels.ErrWindowClosed) {
		t.Fatalf("closed session: got %v, want window closed", err)
	}
	if w := p.Window(s, t0.Add(time.Minute)); w != (channels.Window{}) {
		t.Fatalf("closed session: window %+v, want zero", w)
	}
	s = p.Interact(s, channels.Text, t0.Add(2*time.Minute))
	if err := p.Check(s, text, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("after the next interaction: %v", err)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	p := wechat.NewPolicy(wechat.Settings{EventWindow: time.Minute})
	msg := channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Used: 2}
	evt := channels.Session{Followed: true, Last: t0, Kind: channels.EventInteraction, Used: 1}
	tests := []struct {
		name string
		s    channels.Session
		now  time.Time
		want channels.Window
	}{
		{"none", channels.Session{}, t0, channels.Window{}},
		{"followed, no interaction", channels.Session{Followed: true}, t0, channels.Window{}},
		{"after a message", msg, t0.Add(time.Hour), channels.Window{Open: true, ExpiresAt: t0.Add(48 * time.Hour), QuotaLeft: 3}},
		{"after an event", evt, t0.Add(time.Second), channels.Window{Open: true, ExpiresAt: t0.Add(time.Minute), QuotaLeft: 2}},
		{"expired", msg, t0.Add(48 * time.Hour), channels.Window{ExpiresAt: t0.Add(48 * time.Hour)}},
		{"event expired", evt, t0.Add(time.Minute), channels.Window{ExpiresAt: t0.Add(time.Minute)}},
		{"quota used", channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Used: 5}, t0,
			channels.Window{ExpiresAt: t0.Add(48 * time.Hour)}},
		{"over quota", channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Used: 9}, t0,
			channels.Window{ExpiresAt: t0.Add(48 * time.Hour)}},
		{"unfollowed", p.Interact(msg, channels.Unfollow, t0), t0, channels.Window{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := p.Window(tt.s, tt.now)
			if got != tt.want {
				t.Errorf("Window(%+v)\n got %+v\nwant %+v", tt.s, got, tt.want)
			}
			if open := p.Check(tt.s, text, tt.now) == nil; open != got.Open {
				t.Errorf("Open = %v but Check says %v", got.Open, open)
			}
		})
	}
}

func TestCheckOrder(t *testing.T) {
	t.Parallel()
	p := wechat.NewPolicy(wechat.Settings{Region: wechat.RegionInternational})
	big := &channels.Message{Type: "video", Media: &channels.Media{Kind: "video", Path: "a.mov", Size: 50 << 20}}
	tests := []struct {
		name string
		s    channels.Session
		now  time.Time
		want error
	}{
		{"unfollowed first", channels.Session{Last: t0, Kind: channels.MessageInteraction, Used: 9}, t0.Add(99 * time.Hour), channels.ErrUnfollowed},
		{"then the window", channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Used: 9}, t0.Add(99 * time.Hour), channels.ErrWindowClosed},
		{"then the quota", channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction, Used: 9}, t0, channels.ErrQuotaExhausted},
		{"then the region", channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction}, t0, channels.ErrRegion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := p.Check(tt.s, big, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMedia(t *testing.T) {
	t.Parallel()
	open := channels.Session{Followed: true, Last: t0, Kind: channels.MessageInteraction}
	media := func(typ, kind, path string, size int64) *channels.Message {
		return &channels.Message{Type: typ, Media: &channels.Media{Kind: kind, Path: path, Size: size}}
	}
	video := func(path string, size int64, thumb *channels.Media) *channels.Message {
		m := media("video", "video", path, size)
		m.Thumb = thumb
		return m
	}
	tests := []struct {
		name     string
		region   string
		msg      *channels.Message
		want     error
		inDetail string
	}{
		{"text anywhere", wechat.RegionInternational, text, nil, ""},
		{"image abroad", wechat.RegionInternational, media("image", "image", "a.png", 1<<20), nil, ""},
		{"voice abroad", wechat.RegionInternational, media("voice", "voice", "a.mp3", 1<<10), channels.ErrRegion, "cannot send voice"},
		{"video abroad", wechat.RegionInternational, media("video", "video", "", 0), channels.ErrRegion, "cannot send video"},
		{"voice by media kind abroad", wechat.RegionInternational, media("", "voice", "", 0), channels.ErrRegion, "cannot send voice"},
		{"voice at home", "", media("voice", "voice", "a.amr", 1<<10), nil, ""},
		{"video at home", wechat.RegionMainland, media("video", "video", "a.mp4", 1<<20), nil, ""},

		{"image at 10 MB", "", media("image", "image", "a.jpg", 10<<20), nil, ""},
		{"image over 10 MB", "", media("image", "image", "a.jpg", 10<<20+1), channels.ErrMediaTooLarge, "image is 10.0 MB, WeChat accepts up to 10 MB"},
		{"voice at 2 MB", "", media("voice", "voice", "a.mp3", 2<<20), nil, ""},
		{"voice over 2 MB", "", media("voice", "voice", "a.mp3", 3<<20), channels.ErrMediaTooLarge, "voice is 3.0 MB, WeChat accepts up to 2 MB"},
		{"video of 12 MB", "", media("video", "video", "a.mp4", 12<<20), channels.ErrMediaTooLarge, "video is 12.0 MB, WeChat accepts up to 10 MB"},
		{"thumb at 64 KB", "", video("a.mp4", 1<<20, &channels.Media{Kind: "thumb", Path: "t.jpg", Size: 64 << 10}), nil, ""},
		{"thumb over 64 KB", "", video("a.mp4", 1<<20, &channels.Media{Path: "t.jpg", Size: 80 << 10}), channels.ErrMediaTooLarge, "thumb is 80.0 KB, WeChat accepts up to 64 KB"},
		{"size unknown", "", media("video", "video", "a.mp4", 0), nil, ""},
		{"kind from the message type", "", media("voice", "", "a.mp3", 3<<20), channels.ErrMediaTooLarge, "voice is 3.0 MB"},

		{"jpeg image", "", media("image", "image", "dir/a.JPEG", 0), nil, ""},
		{"gif image", "", media("image", "image", "a.gif", 0), nil, ""},
		{"bmp image", "", media("image", "image", "a.bmp", 0), nil, ""},
		{"webp image", "", media("image", "image", "a.webp", 0), channels.ErrMediaType, "image file a.webp is .webp, WeChat accepts jpg, jpeg, png, gif, bmp"},
		{"wav voice", "", media("voice", "voice", "a.wav", 0), channels.ErrMediaType, "voice file a.wav is .wav"},
		{"mov video", "", media("video", "video", "/x/clip.mov", 0), channels.ErrMediaType, "video file clip.mov is .mov, WeChat accepts mp4"},
		{"png thumb", "", video("a.mp4", 0, &channels.Media{Kind: "thumb", Path: "t.png"}), channels.ErrMediaType, "thumb file t.png is .png, WeChat accepts jpg, jpeg"},
		{"no extension", "", media("image", "image", "upload", 0), channels.ErrMediaType, "has no extension"},
		{"no path: no extension check", "", &channels.Message{Type: "image", Media: &channels.Media{Kind: "image", MediaID: "m1"}}, nil, ""},
		{"url: no extension check", "", &channels.Message{Type: "image", Media: &channels.Media{Kind: "image", URL: "https://x/y"}}, nil, ""},
		{"unknown media kind", "", media("image", "sticker", "a.jpg", 0), channels.ErrMediaType, `media kind "sticker"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := wechat.NewPolicy(wechat.Settings{Region: tt.region})
			err := p.Check(open, tt.msg, t0)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var r *channels.Refusal
			if !errors.As(err, &r) {
				t.Fatalf("%T is not a *channels.Refusal", err)
			}
			if !strings.Contains(r.Detail, tt.inDetail) {
				t.Errorf("detail %q does not contain %q", r.Detail, tt.inDetail)
			}
		})
	}
}

func TestRefusalMessages(t *testing.T) {
	t.Parallel()
	p := wechat.NewPolicy(wechat.Settings{})
	s := p.Interact(channels.Session{}, channels.Follow, t0)
	for range 3 {
		s = p.Spend(s)
	}
	tests := []struct {
		name string
		s    channels.Session
		now  time.Time
		want string
	}{
		{"quota", s, t0,
			"the replies allowed since the contact's last interaction are used up: 3 of the 3 replies allowed after a follow, scan or menu click are sent"},
		{"window", s, t0.Add(50 * time.Hour),
			"the reply window is closed: the 48h window opened by a follow, scan or menu click closed at 2024-05-19T10:00:00Z"},
		{"unfollowed", channels.Session{}, t0,
			"the contact no longer follows the account"},
		// The times of a refusal are in now's zone (the server's), as the
		// console shows every other time.
		{"window in now's zone", s, t0.Add(50 * time.Hour).In(time.FixedZone("CST", 8*3600)),
			"the reply window is closed: the 48h window opened by a follow, scan or menu click closed at 2024-05-19T18:00:00+08:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := p.Check(tt.s, text, tt.now)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	want := wechat.Settings{Window: 48 * time.Hour, MessageQuota: 5, EventQuota: 3, EventWindow: 48 * time.Hour, Region: "mainland"}
	if got := wechat.Defaults(); got != want {
		t.Errorf("Defaults() = %+v, want %+v", got, want)
	}
	if got := (wechat.Policy{}).Settings(); got != want {
		t.Errorf("zero Policy settings = %+v, want %+v", got, want)
	}
	p, ok := wechat.NewPolicy(wechat.Settings{Window: 24 * time.Hour, EventQuota: 20}).(wechat.Policy)
	if !ok {
		t.Fatal("NewPolicy does not return a wechat.Policy")
	}
	want = wechat.Settings{Window: 24 * time.Hour, MessageQuota: 5, EventQuota: 20, EventWindow: 24 * time.Hour, Region: "mainland"}
	if got := p.Settings(); got != want {
		t.Errorf("Settings() = %+v, want %+v", got, want)
	}

	if err := (wechat.Settings{}).Validate(); err != nil {
		t.Errorf("zero settings: %v", err)
	}
	if err := wechat.Defaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := wechat.Settings{Window: -1, EventWindow: -1, MessageQuota: -1, EventQuota: -1, Region: "mars"}.Validate()
	if err == nil {
		t.Fatal("bad settings: no error")
	}
	for _, s := range []string{"window -1ns", "event window -1ns", "message quota -1", "event quota -1", `region "mars"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// TestEmptyContentRefused: a message whose template rendered empty (a
// text, a news article's title or URL, a menu item's id or text) is
// refused before it is sent: WeChat refuses it (44004 for a text), and
// the simulator showed it sent.
func TestEmptyContentRefused(t *testing.T) {
	t.Parallel()
	p := wechat.NewPolicy(wechat.Settings{})
	s := p.Interact(channels.Session{}, channels.Text, t0)
	for _, m := range []*channels.Message{
		{Type: "text"},
		{Type: "news", News: &channels.News{Title: "", URL: "https://example.com"}},
		{Type: "news", News: &channels.News{Title: "t", URL: ""}},
		{Type: "menu", Menu: &channels.Menu{Head: "h", Items: []channels.MenuItem{{ID: "1", Text: "a"}, {ID: "2", Text: ""}}}},
	} {
		var ref *channels.Refusal
		if err := p.Check(s, m, t0); !errors.As(err, &ref) || ref.Reason != channels.ReasonAPIError || !strings.Contains(ref.Detail, "not sent") {
			t.Errorf("%+v: %v, want a refusal before sending", m, err)
		}
	}
	for _, m := range []*channels.Message{
		{Type: "text", Text: " "},
		{Type: "news", News: &channels.News{Title: "t", URL: "https://example.com"}},
		{Type: "menu", Menu: &channels.Menu{Head: "h", Items: []channels.MenuItem{{ID: "1", Text: "a"}}}},
	} {
		if err := p.Check(s, m, t0); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
}

// TestMediaURLExtensionChecked: a media URL whose path has an extension
// WeChat does not take is refused before sending, as the real channel
// refuses it before downloading; the simulator showed it sent. A URL
// without an extension is judged by what it answers.
func TestMediaURLExtensionChecked(t *testing.T) {
	t.Parallel()
	p := wechat.NewPolicy(wechat.Settings{})
	s := p.Interact(channels.Session{}, channels.Text, t0)
	for url, ok := range map[string]bool{
		"https://example.com/a.wav":            false,
		"https://example.com/doc.pdf?x=1.mp3":  false,
		"https://example.com/a.mp3":            true,
		"https://cdn.example.com/voice/123":    true,
		"https://example.com/a.MP3#fragment.x": true,
	} {
		err := p.Check(s, &channels.Message{Type: "voice", Media: &channels.Media{Kind: "voice", URL: url}}, t0)
		var ref *channels.Refusal
		if ok != (err == nil) || (!ok && (!errors.As(err, &ref) || ref.Reason != channels.ReasonMediaType)) {
			t.Errorf("%s: %v, want allowed %v", url, err, ok)
		}
	}
}
