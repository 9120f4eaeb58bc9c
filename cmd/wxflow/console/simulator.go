package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/sandbox"
	"github.com/wxflow/wxflow/flows"
)

// The simulator plays a follower of the sandbox account in the browser.

// errNoSandbox answers simulator requests to a server of WeChat accounts.
var errNoSandbox = fmt.Errorf("%w: the simulator runs only on the sandbox account (wxflow serve without a config, or sandbox: true)", errBadRequest)

// defaultSimContact is the follower the simulator plays unless told.
const defaultSimContact = "visitor"

// maxSaid bounds what the simulator remembers a contact did.
const maxSaid = 200

// SimAction is something the simulated follower does: follow (Scene
// optional), unfollow, scan (Scene), menu (Key, a menu button), tap (Key,
// the id of an item of a message menu sent to the contact, and Text, the
// item's, by default), text (Text), or advance (the
// sandbox clock by Duration, such as "1h" or "2d").
type SimAction struct {
	Contact  string `json:"contact"`
	Action   string `json:"action"`
	Scene    string `json:"scene,omitempty"`
	Key      string `json:"key,omitempty"`
	Text     string `json:"text,omitempty"`
	Duration string `json:"duration,omitempty"`
}

// simSaid is one thing the follower did, placed after the messages the
// account had sent by then.
type simSaid struct {
	what  string
	at    time.Time
	after int64
	// key is set on the engine's note of why an event started nothing
	// (see rememberWhy): the event's key.
	key string
}

// SimView is the simulator's state for one follower.
type SimView struct {
	Now     time.Time    `json:"now"`
	Contact string       `json:"contact"`
	Chat    []ChatLine   `json:"chat"`
	State   *ContactView `json:"state,omitempty"`
	// Menu is the account's menu (menu.yaml): the buttons that send a
	// click key.
	Menu []MenuButtonView `json:"menu"`
}

// ChatLine is one line of the chat: what the follower did, or a message
// of the account with its outcome.
type ChatLine struct {
	From    string       `json:"from"` // "contact", "account", or "engine" (why nothing happened)
	At      time.Time    `json:"at"`
	What    string       `json:"what,omitempty"`
	Message *MessageView `json:"message,omitempty"`
}

// MenuButtonView is a menu button that sends a click key.
type MenuButtonView struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// simActions are the actions a SimAction may name.
var simActions = []string{"follow", "unfollow", "scan", "menu", "tap", "text", "advance"}

// simAct plays an action and returns when the engine did everything it
// caused.
func (c *Console) simAct(ctx context.Context, a SimAction) error {
	sb := c.cfg.Sandbox
	if sb == nil {
		return errNoSandbox
	}
	if a.Contact == "" {
		a.Contact = defaultSimContact
	}
	if !sandbox.ValidContactID(a.Contact) {
		return badRequest(sandbox.ContactIDRule+"; not %q", clipText(a.Contact, 70))
	}
	// Sandbox actions return when the engine did everything they caused:
	// the messages after this one are the action's.
	after, err := c.lastMessage(ctx, sb.Account(), a.Contact)
	if err != nil {
		return err
	}
	var said string
	since := sb.Now()
	switch a.Action {
	case "follow":
		said = "followed"
		if a.Scene != "" {
			said += " (QR scene " + a.Scene + ")"
		}
		err = sb.Follow(ctx, a.Contact, a.Scene)
	case "unfollow":
		said = "unfollowed"
		err = sb.Unfollow(ctx, a.Contact)
	case "scan":
		if a.Scene == "" {
			return badRequest("scan needs a scene")
		}
		said = "scanned QR scene " + a.Scene
		err = sb.Scan(ctx, a.Contact, a.Scene)
	case "menu":
		if a.Key == "" {
			return badRequest("menu needs the button's key")
		}
		said = "clicked menu " + c.menuName(a.Key)
		err = sb.Menu(ctx, a.Contact, a.Key)
	case "tap":
		if a.Key == "" {
			return badRequest("tap needs the item's id (key)")
		}
		// A follower taps only an item of a message menu the account
		// sent: a tap of another id was played, and the export's tap:
		// then failed wxflow test. Sandbox.Tap refuses it too.
		text, ok, merr := sb.MenuItem(ctx, a.Contact, a.Key)
		if merr != nil {
			return merr
		}
		if !ok {
			return badRequest("cannot tap %q: no message menu sent to %s so far has an item with this id", clipText(a.Key, 70), a.Contact)
		}
		if a.Text == "" {
			a.Text = text
		}
		said = a.Text
		err = sb.Tap(ctx, a.Contact, a.Key, a.Text)
	case "text":
		if strings.TrimSpace(a.Text) == "" {
			return badRequest("text needs something to say")
		}
		said = a.Text
		err = sb.Say(ctx, a.Contact, a.Text)
	case "advance":
		d, perr := flows.ParseDuration(a.Duration)
		if perr != nil && strings.Contains(perr.Error(), "too long") {
			// A valid duration past what a time.Duration holds (2562047h
			// and more): over the cap, not wrong.
			d, perr = maxAdvance+1, nil
		}
		if perr != nil || d <= 0 {
			return badRequest("advance needs a positive duration such as 30m, 2h or 3d, not %q", clipText(a.Duration, 40))
		}
		if d > maxAdvance {
			return badRequest("advance moves the clock by a year (366d) at most, not %s", clipText(a.Duration, 40))
		}
		c.log.Info("sandbox clock advanced", "by", a.Duration)
		return sb.Advance(ctx, d)
	default:
		return badRequest("unknown action %q (one of %s)", a.Action, strings.Join(simActions, ", "))
	}
	if err != nil {
		return err
	}
	c.remember(a.Contact, said, after)
	return c.rememberWhy(ctx, a.Contact, since)
}

// maxAdvance is the most the simulator's advance moves the clock.
const maxAdvance = 366 * 24 * time.Hour

// remember notes what a contact did: it shows after the message after
// and before the messages the action caused.
func (c *Console) remember(contact, what string, after int64) {
	c.simMu.Lock()
	defer c.simMu.Unlock()
	list := append(c.said[contact], simSaid{what: what, at: c.cfg.Sandbox.Now(), after: after})
	if len(list) > maxSaid {
		list = list[len(list)-maxSaid:]
	}
	c.said[contact] = list
}

// lastMessage is the ID of the newest message to a contact, or 0.
func (c *Console) lastMessage(ctx context.Context, account, contact string) (int64, error) {
	var last int64
	err := c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		msgs, err := tx.Outbox(engine.OutboxFilter{Account: account, Contact: contact, Newest: true, Limit: 1})
		if len(msgs) > 0 {
			last = msgs[0].ID
		}
		return err
	})
	return last, err
}

func (c *Console) menuName(key string) string {
	if m := c.eng.Flows().Menu; m != nil {
		for _, b := range m.ClickButtons() {
			if b.Key == key {
				return fmt.Sprintf("%q", b.Name)
			}
		}
	}
	return key
}

// simView is the simulator's chat and state for a contact.
func (c *Console) simView(ctx context.Context, contact string) (*SimView, error) {
	sb := c.cfg.Sandbox
	if sb == nil {
		return nil, errNoSandbox
	}
	if contact == "" {
		contact = defaultSimContact
	}
	if !sandbox.ValidContactID(contact) {
		return nil, badRequest(sandbox.ContactIDRule+"; not %q", clipText(contact, 70))
	}
	v := &SimView{Now: sb.Now(), Contact: contact, Chat: []ChatLine{}, Menu: []MenuButtonView{}}
	if m := c.eng.Flows().Menu; m != nil {
		for _, b := range m.ClickButtons() {
			v.Menu = append(v.Menu, MenuButtonView{Name: b.Name, Key: b.Key})
		}
	}
	msgs, err := sb.Transcript(ctx, contact, 0)
	if err != nil {
		return nil, err
	}
	c.simMu.Lock()
	said := append([]simSaid(nil), c.said[contact]...)
	c.simMu.Unlock()
	skips, err := c.simSkips(ctx, contact, msgs)
	if err != nil {
		return nil, err
	}
	said = append(said, skips...)
	slices.SortStableFunc(said, func(a, b simSaid) int { return cmp.Compare(a.after, b.after) })
	i := 0
	for _, o := range msgs {
		for i < len(said) && said[i].after < o.ID {
			// Said before this message was sent.
			v.Chat = append(v.Chat, said[i].line())
			i++
		}
		m := messageView(o)
		v.Chat = append(v.Chat, ChatLine{From: "account", At: o.CreatedAt, Message: &m})
	}
	for ; i < len(said); i++ {
		v.Chat = append(v.Chat, said[i].line())
	}
	st, err := c.contactDetail(ctx, sb.Account(), contact)
	switch {
	case err == nil:
		v.State = st
	case !errors.Is(err, engine.ErrNotFound):
		return nil, err
	}
	return v, nil
}

func (c *Console) simulatorPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Sandbox == nil {
		c.fail(w, r, errNoSandbox, false)
		return
	}
	v, err := c.simView(r.Context(), r.URL.Query().Get("contact"))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, r, "simulator", "Simulator", map[string]any{"Sim": v, "Error": c.flash(r.URL.Query(), "error"), "People": len(c.eng.People().Operators) > 0})
}

// simulatorForm plays the form's action and shows the simulator again.
func (c *Console) simulatorForm(w http.ResponseWriter, r *http.Request) {
	a := SimAction{Contact: strings.TrimSpace(r.FormValue("contact")), Action: r.FormValue("action"),
		Scene: strings.TrimSpace(r.FormValue("scene")), Key: r.FormValue("key"), Text: r.FormValue("text"),
		Duration: strings.TrimSpace(r.FormValue("duration"))}
	if a.Contact == "" {
		a.Contact = defaultSimContact
	}
	q := url.Values{"contact": {a.Contact}}
	if err := c.simAct(r.Context(), a); err != nil {
		if statusOf(err) >= http.StatusInternalServerError {
			c.fail(w, r, err, false)
			return
		}
		q.Set("error", errText(err))
	}
	http.Redirect(w, r, "/simulator?"+c.signFlash(q).Encode()+"#end", http.StatusSeeOther)
}
