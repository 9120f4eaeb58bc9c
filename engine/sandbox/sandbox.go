package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/sim"
	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sqlite"
	"github.com/wxflow/wxflow/flows"
)

// DefaultAccount is the account a Sandbox plays when its config
// names none.
const DefaultAccount = "sandbox"

// contactID is what a simulated contact's id may be: an OpenID's
// characters.
var contactID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidContactID reports whether id may name a simulated contact: 1 to
// 64 letters, digits, _ or - (as OpenIDs are).
func ValidContactID(id string) bool { return contactID.MatchString(id) }

// ContactIDRule says what ValidContactID accepts, for errors.
const ContactIDRule = "a simulated contact's id is 1 to 64 letters, digits, _ or -"

// CheckText returns an error when s, what a simulated follower sends
// (what names it: "text", "key", "scene", "label"), holds what no WeChat
// callback can carry: the callbacks are XML 1.0 (channels/wechat's
// ParseCallback refuses the rest), which has no control character below
// U+0020 but tab, newline and carriage return, nor U+FFFE, U+FFFF or
// invalid UTF-8. Such a text would reach contact fields and sent messages
// that a real follower's never do (and the PostgreSQL store refuses NUL
// bytes). The error says which character, at which byte; nil otherwise.
func CheckText(what, s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("a follower's %s must be UTF-8 (byte %d, 0x%02X, is not): WeChat's callbacks are XML 1.0 in UTF-8", what, i, s[i])
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			return fmt.Errorf("a follower's %s may not hold control characters other than tab, newline and carriage return (U+%04X at byte %d): WeChat's callbacks are XML 1.0, which cannot carry them", what, r, i)
		}
		i += size
	}
	return nil
}

// checkEvent refuses an event whose strings no WeChat callback could
// carry (CheckText), as engine.ErrBadEvent.
func checkEvent(ev *channels.Event) error {
	fields := []struct{ what, s string }{{"text", ev.Text}, {"key", ev.Key}, {"scene", ev.Scene}, {"media id", ev.MediaID}}
	if ev.Location != nil {
		fields = append(fields, struct{ what, s string }{"label", ev.Location.Label})
	}
	for _, f := range fields {
		if err := CheckText(f.what, f.s); err != nil {
			return fmt.Errorf("%w: %w", engine.ErrBadEvent, err)
		}
	}
	return nil
}

// maxFiringsPerAdvance stops Advance when timers keep coming due at the
// same moment without end: only a flow bug can do that, and the run's jump
// limit should have stopped it first.
const maxFiringsPerAdvance = 100000

// Config is what a Sandbox is built from.
type Config struct {
	// Set is the flows the sandbox runs (default: none). A set with
	// errors is refused.
	Set *flows.Set
	// Start is where the virtual clock starts (default: the wall clock's
	// now, to the second).
	Start time.Time
	// Account is the account the simulated follower writes to (default
	// DefaultAccount).
	Account string
	// Settings are the account's window, quota and region rules (zero
	// fields mean the product rules).
	Settings wechat.Settings
	// HTTPClient makes the `http` steps' calls (default: the engine's
	// default, which uses the network). `wxflow test` passes a client that
	// answers from stubs.
	HTTPClient *http.Client
	// DBPath is the SQLite file (default: a file in a new temporary
	// folder, removed by Close). A given file is kept.
	DBPath string
	// Zone is the server's time zone for `hours` and `schedule` without a
	// timezone (default: time.Local).
	Zone *time.Location
	// Logger receives the engine's log lines (default: discarded).
	Logger *slog.Logger
	// Secrets are the values of the `http` steps' `${secret.NAME}`
	// (Config.Secrets).
	Secrets map[string]string
	// KeepClock keeps the clock's time in the store: a sandbox opened
	// again on the same file starts where the clock stood, or at Start
	// when that is later, so time never goes back for its contacts.
	KeepClock bool
	// People are the operators and teams who take conversations over
	// (engine.Config.People): a scenario's header, or the server's.
	People engine.People
	// AutoClose is how long the account's conversations stay open after
	// the contact's last interaction (0: engine.DefaultAutoClose).
	AutoClose time.Duration
}

// sandboxClockKey is where a KeepClock sandbox keeps its clock.
const sandboxClockKey = "sandbox/clock"

// Sandbox is an engine on its own SQLite store, the simulated WeChat
// channel and a virtual clock: a follower is played by calling its
// actions (Follow, Say, ...), time is moved with Advance, and what the
// flows sent is read with Transcript. `wxflow test`, `wxflow chat` and the
// console's simulator use it. Its methods are safe for concurrent use,
// but actions are meant to be called one after another: each returns when
// the engine has done everything the action caused.
type Sandbox struct {
	account   string
	autoClose time.Duration
	clock     *engine.VirtualClock
	channel   *sim.Channel
	store     *sqlite.Store
	engine    *engine.Engine
	dbPath    string
	tmpDir    string

	keepClock bool
	// opened tells this opening's message ids from those of earlier
	// openings of the same file, which the store remembers for dedupe.
	opened    int64
	msgID     atomic.Int64
	advanceMu sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

// New builds and starts a sandbox with the config's flows loaded.
// Close it when done.
func New(ctx context.Context, cfg Config) (*Sandbox, error) {
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox: account settings: %w", err)
	}
	if cfg.Set == nil {
		cfg.Set = &flows.Set{}
	}
	// Refused before anything is started (Engine.Load would refuse it too).
	if err := cfg.Set.Diags.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: the flows have errors:\n%w", err)
	}
	for _, f := range cfg.Set.Flows {
		if err := f.Diags.Err(); err != nil {
			return nil, fmt.Errorf("sandbox: flow %s has errors:\n%w", f.File, err)
		}
	}
	if cfg.Account == "" {
		cfg.Account = DefaultAccount
	}
	if cfg.Start.IsZero() {
		cfg.Start = engine.SystemClock{}.Now().Truncate(time.Second)
	}
	if cfg.AutoClose < 0 {
		return nil, fmt.Errorf("sandbox: auto_close %s is negative", cfg.AutoClose)
	}
	s := &Sandbox{account: cfg.Account, autoClose: cfg.AutoClose, keepClock: cfg.KeepClock, opened: rand.Int64()}
	if s.autoClose == 0 {
		s.autoClose = engine.DefaultAutoClose
	}
	path := cfg.DBPath
	if path == "" {
		dir, err := os.MkdirTemp("", "wxflow-sandbox-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		s.tmpDir = dir
		path = filepath.Join(dir, "sandbox.db")
	}
	st, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "NORMAL", ReadConns: 2, Exclusive: cfg.DBPath != ""})
	if err != nil {
		s.removeTmp()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.store, s.dbPath = st, path
	if cfg.KeepClock {
		err := st.View(ctx, func(tx engine.ReadTx) error {
			v, _, ok, err := tx.ChannelState(sandboxClockKey, time.Time{})
			if err != nil || !ok {
				return err
			}
			saved, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return fmt.Errorf("stored sandbox clock %q: %w", v, err)
			}
			if saved.After(cfg.Start) {
				cfg.Start = saved.In(cfg.Start.Location())
			}
			return nil
		})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	s.clock = engine.NewVirtualClock(cfg.Start)
	s.channel = sim.New(map[string]wechat.Settings{cfg.Account: cfg.Settings}, cfg.Settings)
	e, err := engine.New(engine.Config{Store: st, Channel: s.channel, Clock: s.clock, Zone: cfg.Zone, HTTPClient: cfg.HTTPClient, Logger: cfg.Logger, Secrets: cfg.Secrets,
		People: cfg.People, AutoClose: map[string]time.Duration{cfg.Account: s.autoClose}})
	if err == nil {
		err = e.Start(ctx)
	}
	if err != nil {
		st.Close()
		s.removeTmp()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.engine = e
	if err := e.Load(ctx, cfg.Set); err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := e.Sync(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// Kept at once: actions before the first Advance happen at this time,
	// and the next opening must not start before it.
	if err := s.saveClock(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the engine, closes the store and removes the temporary
// folder it made. It is idempotent.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		// Let the work under way (sends, calls) finish first.
		s.engine.Sync(context.Background())
		s.engine.Stop()
		s.closeErr = s.store.Close()
		if err := s.removeTmp(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

func (s *Sandbox) removeTmp() error {
	if s.tmpDir == "" {
		return nil
	}
	return os.RemoveAll(s.tmpDir)
}

// Account returns the account the sandbox plays.
func (s *Sandbox) Account() string { return s.account }

// Engine returns the sandbox's engine.
func (s *Sandbox) Engine() *engine.Engine { return s.engine }

// Clock returns the sandbox's virtual clock. Move it with Advance, which
// also fires the timers that come due.
func (s *Sandbox) Clock() *engine.VirtualClock { return s.clock }

// Channel returns the simulated channel (its deliveries, and FailNext to
// make the platform refuse sends).
func (s *Sandbox) Channel() *sim.Channel { return s.channel }

// DBPath returns the SQLite file the sandbox keeps its state in.
func (s *Sandbox) DBPath() string { return s.dbPath }

// Now returns the virtual clock's time.
func (s *Sandbox) Now() time.Time { return s.clock.Now() }

// Ingest hands the engine an event from a contact and waits until the
// engine has done everything it caused. The account defaults to the
// sandbox's; every event gets a fresh MsgID (a sandbox action is never a
// platform retry, even when two happen in the same second) and At
// defaults to the clock's now. An event with a text, key, scene, media id
// or label no WeChat callback could carry (CheckText) is refused with an
// error wrapping engine.ErrBadEvent, and changes nothing.
func (s *Sandbox) Ingest(ctx context.Context, ev channels.Event) error {
	if err := checkEvent(&ev); err != nil {
		return err
	}
	if ev.Account == "" {
		ev.Account = s.account
	}
	if ev.MsgID == "" {
		ev.MsgID = s.nextMsgID(s.msgID.Add(1))
	}
	if ev.At.IsZero() {
		ev.At = s.clock.Now()
	}
	if err := s.engine.Ingest(ctx, ev); err != nil {
		return err
	}
	return s.engine.Sync(ctx)
}

// Follow plays a contact following the account, through the QR code of
// scene when it is not "".
func (s *Sandbox) Follow(ctx context.Context, contact, scene string) error {
	return s.Ingest(ctx, channels.Event{Contact: contact, Kind: channels.Follow, Scene: scene})
}

// Unfollow plays a contact unfollowing the account.
func (s *Sandbox) Unfollow(ctx context.Context, contact string) error {
	return s.Ingest(ctx, channels.Event{Contact: contact, Kind: channels.Unfollow})
}

// Scan plays a follower scanning the QR code of scene.
func (s *Sandbox) Scan(ctx context.Context, contact, scene string) error {
	return s.Ingest(ctx, channels.Event{Contact: contact, Kind: channels.Scan, Scene: scene})
}

// Menu plays a click on the custom menu button with key.
func (s *Sandbox) Menu(ctx context.Context, contact, key string) error {
	return s.Ingest(ctx, channels.Event{Contact: contact, Kind: channels.MenuClick, Key: key})
}

// Tap plays a tap on the item id of a message menu sent to contact: on
// WeChat a text message carrying bizmsgmenuid, whose text is the item's.
// A text of "" is the item's (of the newest menu that has the id). A
// follower taps only what a menu offered: an id no message menu sent to
// contact has, or a text no such item has, is refused as
// engine.ErrBadEvent, the rule wxflow test's tap: follows (MenuItem).
func (s *Sandbox) Tap(ctx context.Context, contact, id, text string) error {
	ev := channels.Event{Contact: contact, Kind: channels.MenuClick, Key: id, Text: text}
	if err := checkEvent(&ev); err != nil {
		return err
	}
	texts, err := s.menuItems(ctx, contact, id)
	if err != nil {
		return err
	}
	switch {
	case len(texts) == 0:
		return fmt.Errorf("%w: cannot tap %q: no message menu sent so far has an item with this id", engine.ErrBadEvent, id)
	case text == "":
		ev.Text = texts[0]
	case !slices.Contains(texts, text):
		return fmt.Errorf("%w: cannot tap %q with the text %q: the item's text is %q (a tap sends the text of the item tapped)", engine.ErrBadEvent, id, text, texts[0])
	}
	return s.Ingest(ctx, ev)
}

// MenuItem returns the text of the item id in the newest message menu
// the account sent contact that has one (whether it was sent, failed or
// is pending, as wxflow test's tap: finds it); ok is false when no
// message menu sent to contact has an item id.
func (s *Sandbox) MenuItem(ctx context.Context, contact, id string) (text string, ok bool, err error) {
	texts, err := s.menuItems(ctx, contact, id)
	if err != nil || len(texts) == 0 {
		return "", false, err
	}
	return texts[0], true, nil
}

// menuItems returns the texts of the items id of the message menus sent
// to contact, newest first.
func (s *Sandbox) menuItems(ctx context.Context, contact, id string) ([]string, error) {
	entries, err := s.Transcript(ctx, contact, 0)
	if err != nil {
		return nil, err
	}
	var texts []string
	for i := len(entries) - 1; i >= 0; i-- {
		if m := entries[i].Message.Menu; m != nil {
			for _, it := range m.Items {
				if it.ID == id {
					texts = append(texts, it.Text)
				}
			}
		}
	}
	return texts, nil
}

// Say plays a text message.
func (s *Sandbox) Say(ctx context.Context, contact, text string) error {
	return s.Ingest(ctx, channels.Event{Contact: contact, Kind: channels.Text, Text: text})
}

// Image plays an image message; an empty mediaID gets a made-up one.
func (s *Sandbox) Image(ctx context.Context, contact, mediaID string) error {
	n := s.msgID.Add(1)
	if mediaID == "" {
		mediaID = fmt.Sprintf("sandbox-media-%d", n)
	}
	return s.Ingest(ctx, channels.Event{Contact: contact, Kind: channels.Image, MediaID: mediaID, MsgID: s.nextMsgID(n)})
}

// Location plays a location message.
func (s *Sandbox) Location(ctx context.Context, contact string, lat, lng float64, label string) error {
	return s.Ingest(ctx, channels.Event{Contact: contact, Kind: channels.Location, Location: &channels.Geo{Lat: lat, Lng: lng, Label: label}})
}

// Act does an operator's action on a contact's conversation (a reply, an
// assignment, a close, a comment, ...; see engine.Engine.Act) and waits
// until the engine has done everything it caused. A reply the channel
// refused is kept in the transcript as failed, with the reason; Act then
// returns the result and an error wrapping engine.ErrRefused.
func (s *Sandbox) Act(ctx context.Context, contact string, a engine.Action) (*engine.ActResult, error) {
	res, err := s.engine.Act(ctx, engine.ContactRef{Account: s.account, ID: contact}, a)
	if serr := s.engine.Sync(ctx); serr != nil && err == nil {
		err = serr
	}
	return res, err
}

// Conversation returns a contact's conversation as the store keeps it
// (closed, with no assignee, for a contact never seen).
func (s *Sandbox) Conversation(ctx context.Context, contact string) (engine.Conversation, error) {
	var conv engine.Conversation
	err := s.store.View(ctx, func(tx engine.ReadTx) error {
		c, err := tx.Contact(s.account, contact)
		if errors.Is(err, engine.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		conv = c.Conv
		return nil
	})
	if err != nil {
		return conv, fmt.Errorf("sandbox: conversation of %s: %w", contact, err)
	}
	if conv.Status == "" {
		conv.Status = engine.ConvClosed
	}
	return conv, nil
}

// Advance moves the clock forward by d, firing the timers and schedules
// that come due on the way in order: the clock stops at each due time,
// fires what is due then and waits for the work it caused, before moving
// on. It returns when the clock stands at now+d and everything due by then
// is done.
func (s *Sandbox) Advance(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("sandbox: cannot move the clock back (%s)", d)
	}
	return s.AdvanceTo(ctx, s.clock.Now().Add(d))
}

// AdvanceTo moves the clock to target as Advance does; a target in the
// past fires what is due now and leaves the clock where it is.
func (s *Sandbox) AdvanceTo(ctx context.Context, target time.Time) error {
	target = target.In(s.clock.Now().Location())
	s.advanceMu.Lock()
	defer s.advanceMu.Unlock()
	for n := 0; ; n++ {
		if n >= maxFiringsPerAdvance {
			return fmt.Errorf("sandbox: timers keep coming due at %s", s.clock.Now().Format(time.RFC3339))
		}
		due, ok, err := s.engine.NextDue(ctx)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		// NextDue includes when an open conversation comes due for
		// auto_close: the clock stops there, so that it closes (and its
		// closed flows send) at that time, not at the end of the wait.
		if !ok || due.After(target) {
			break
		}
		// The store gives times in UTC; the clock keeps the zone it
		// started in.
		s.clock.Set(due.In(target.Location()))
		if err := s.fire(ctx); err != nil {
			return err
		}
	}
	s.clock.Set(target)
	if err := s.saveClock(ctx); err != nil {
		return err
	}
	return s.fire(ctx)
}

// nextMsgID is the platform message id of the sandbox's n-th action.
func (s *Sandbox) nextMsgID(n int64) string {
	return fmt.Sprintf("sandbox-%d-%d", s.opened, n)
}

// saveClock keeps the clock's time in the store (KeepClock).
func (s *Sandbox) saveClock(ctx context.Context) error {
	if !s.keepClock {
		return nil
	}
	now := s.clock.Now()
	err := s.store.Update(ctx, func(tx engine.Tx) error {
		// It never expires; "now" forgets nothing of the channel's.
		return tx.PutChannelState(sandboxClockKey, now.UTC().Format(time.RFC3339Nano), now.AddDate(100, 0, 0), time.Time{})
	})
	if err != nil {
		return fmt.Errorf("sandbox: keep the clock: %w", err)
	}
	return nil
}

// fire fires what is due at the clock's now and waits for the work.
func (s *Sandbox) fire(ctx context.Context) error {
	if err := s.engine.FireDue(ctx); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return s.engine.Sync(ctx)
}

// SeedContact stores a contact as it would be before the first event, for
// a scenario's starting state. The account defaults to the sandbox's,
// FirstSeen and LastSeen to the clock's now; the contact is stored as it
// is otherwise (set Followed for a follower, who then has a session
// that WeChat's rules see as following). It opens no window: the
// contact has not interacted yet.
func (s *Sandbox) SeedContact(ctx context.Context, c engine.Contact) error {
	if c.ID == "" {
		return errors.New("sandbox: a contact needs an id")
	}
	if c.Account == "" {
		c.Account = s.account
	}
	now := s.clock.Now()
	if c.FirstSeen.IsZero() {
		c.FirstSeen = now
	}
	if c.LastSeen.IsZero() {
		c.LastSeen = now
	}
	if c.Fields == nil {
		c.Fields = map[string]any{}
	}
	err := s.store.Update(ctx, func(tx engine.Tx) error {
		if err := tx.PutContact(&c); err != nil {
			return err
		}
		return tx.PutSession(c.Account, c.ID, channels.Session{Followed: c.Followed})
	})
	if err != nil {
		return fmt.Errorf("sandbox: seed contact %s: %w", c.ID, err)
	}
	return nil
}

// Transcript returns the messages the flows tried to send to a contact,
// in order, after the entry with ID afterID (0 for all): sent, failed
// (with the reason), unknown, or still pending.
func (s *Sandbox) Transcript(ctx context.Context, contact string, afterID int64) ([]*engine.OutboxEntry, error) {
	var out []*engine.OutboxEntry
	err := s.store.View(ctx, func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Outbox(engine.OutboxFilter{Account: s.account, Contact: contact, AfterID: afterID})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: transcript of %s: %w", contact, err)
	}
	return out, nil
}

// Runs returns every run of a contact, active or ended, newest first.
func (s *Sandbox) Runs(ctx context.Context, contact string) ([]*engine.Run, error) {
	var out []*engine.Run
	err := s.store.View(ctx, func(tx engine.ReadTx) error {
		var err error
		out, err = tx.Runs(engine.RunFilter{Account: s.account, Contact: contact})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: runs of %s: %w", contact, err)
	}
	return out, nil
}

// State is a contact as the sandbox sees it at one moment.
type State struct {
	// Now is the virtual clock's time.
	Now time.Time
	// Contact is the contact, or nil when the account has never seen it.
	Contact *engine.Contact
	// Session is the contact's WeChat session as the engine keeps it.
	Session channels.Session
	// Window is the session as flows see it now: open, until when, and
	// the replies left.
	Window channels.Window
	// Runs are the contact's active runs, oldest first, with their
	// status, step and variables.
	Runs []*engine.Run
}

// State returns a contact's tags and fields, window and active runs.
func (s *Sandbox) State(ctx context.Context, contact string) (*State, error) {
	now := s.clock.Now()
	st := &State{Now: now}
	err := s.store.View(ctx, func(tx engine.ReadTx) error {
		c, err := tx.Contact(s.account, contact)
		switch {
		case errors.Is(err, engine.ErrNotFound):
		case err != nil:
			return err
		default:
			st.Contact = c
		}
		st.Session, _, err = tx.Session(s.account, contact)
		if err != nil {
			return err
		}
		runs, err := tx.Runs(engine.RunFilter{Account: s.account, Contact: contact, Active: true})
		if err != nil {
			return err
		}
		// Oldest first, whatever order the store lists them in.
		slices.SortFunc(runs, func(a, b *engine.Run) int { return cmp.Compare(a.ID, b.ID) })
		st.Runs = runs
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: state of %s: %w", contact, err)
	}
	st.Window = s.channel.Policy(s.account).Window(st.Session, now)
	return st, nil
}
