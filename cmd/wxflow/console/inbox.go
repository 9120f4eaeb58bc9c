package console

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/engine"
)

// The inbox: the conversations people hold or may take, and each
// conversation as a chat (issue 14). The views below are what the pages
// show and the API returns; none holds a secret.

// ConversationView is a contact's conversation as the inbox lists it.
type ConversationView struct {
	Account string            `json:"account"`
	Contact string            `json:"contact"`
	Status  engine.ConvStatus `json:"status"`
	// Operator and Team are the assignee; OperatorName is the operator's
	// display name.
	Operator     string     `json:"operator,omitempty"`
	OperatorName string     `json:"operator_name,omitempty"`
	Team         string     `json:"team,omitempty"`
	OpenedAt     *time.Time `json:"opened_at,omitempty"`
	OpenedBy     string     `json:"opened_by,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	ClosedBy     string     `json:"closed_by,omitempty"`
	Note         string     `json:"note,omitempty"`
	Category     string     `json:"category,omitempty"`
	AssignedAt   *time.Time `json:"assigned_at,omitempty"`
	// WaitingSince is when the contact's oldest message no operator
	// answered came (while people hold it); Waiting says how long ago.
	WaitingSince *time.Time `json:"waiting_since,omitempty"`
	Waiting      string     `json:"waiting,omitempty"`
	// Last is the newest message of the transcript.
	Last     *engine.ConvLast `json:"last_message,omitempty"`
	LastSeen time.Time        `json:"last_seen"`
	Followed bool             `json:"followed"`
	Tags     []string         `json:"tags"`
	Window   WindowView       `json:"window"`
}

// WindowView is what WeChat lets the account send the contact now.
type WindowView struct {
	// Open is set when a message may go now (followed, in the window,
	// replies left); WindowOpen when the window itself is open (the last
	// interaction was less than 48 h ago), replies left or not. ClosesAt
	// is when the window closes, given while WindowOpen.
	Open       bool       `json:"open"`
	WindowOpen bool       `json:"window_open"`
	ClosesAt   *time.Time `json:"closes_at,omitempty"`
	QuotaLeft  int        `json:"quota_left"`
	// CanReply is set when a reply may go now; otherwise Reason and Why
	// say why not (window_closed, quota_exhausted, unfollowed).
	CanReply bool            `json:"can_reply"`
	Reason   channels.Reason `json:"reason,omitempty"`
	Why      string          `json:"why,omitempty"`
	// Says it in words: "window closes in 3 h 12 min · 2 replies left".
	Says string `json:"says"`
}

// ConversationDetail is one conversation: the contact, the window, the
// transcript and the runs that touched it.
type ConversationDetail struct {
	ConversationView
	Fields     map[string]any    `json:"fields"`
	Transcript []TranscriptEntry `json:"transcript"`
	Runs       []RunSummary      `json:"runs"`
}

// TranscriptEntry is one line of a conversation: what the contact did
// (Kind "in", Event), what the account sent (Kind "out", Message, From:
// "flow NAME" with Step, "operator NAME" or "api"), an internal comment
// (Kind "comment") or a change (Kind "change": opened, assigned,
// closed), with who made it (By).
type TranscriptEntry struct {
	At      time.Time    `json:"at"`
	Kind    string       `json:"kind"`
	Event   *EventView   `json:"event,omitempty"`
	Message *MessageView `json:"message,omitempty"`
	From    string       `json:"from,omitempty"`
	Step    string       `json:"step,omitempty"`
	// Change is the kind of a change (opened, assigned, closed); Text a
	// comment, or the change in words.
	Change string `json:"change,omitempty"`
	By     string `json:"by,omitempty"`
	Text   string `json:"text,omitempty"`
}

// EventView is an inbound message or event, with what it says in words.
type EventView struct {
	Kind     channels.Kind `json:"kind"`
	Text     string        `json:"text,omitempty"`
	Key      string        `json:"key,omitempty"`
	Scene    string        `json:"scene,omitempty"`
	MediaID  string        `json:"media_id,omitempty"`
	Location *channels.Geo `json:"location,omitempty"`
	Says     string        `json:"says"`
}

// inboxViews are the lists of the inbox.
var inboxViews = []string{"mine", "unassigned", "teams", "all"}

// inboxQuery is a request for a page of the inbox.
type inboxQuery struct {
	View, Status, Account string
	Cursor                engine.ConvCursor
	Limit                 int
}

// readInboxQuery reads view, status, account, cursor and limit; view
// defaults to mine for an operator and all for the admin, status to
// open.
func readInboxQuery(q url.Values, who actor) (inboxQuery, error) {
	iq := inboxQuery{View: q.Get("view"), Status: q.Get("status"), Account: q.Get("account"), Limit: pageSize}
	if iq.View == "" {
		iq.View = "all"
		if who.Operator != "" {
			iq.View = "mine"
		}
	}
	if !slices.Contains(inboxViews, iq.View) {
		return iq, badRequest("view must be one of %s, not %q", strings.Join(inboxViews, ", "), iq.View)
	}
	if (iq.View == "mine" || iq.View == "teams") && who.Operator == "" {
		return iq, badRequest("view=%s lists an operator's conversations: log in, or call the API, with an operator's token (the admin has view=all and view=unassigned)", iq.View)
	}
	switch iq.Status {
	case "":
		iq.Status = string(engine.ConvOpen)
	case string(engine.ConvOpen), string(engine.ConvClosed):
	default:
		return iq, badRequest("status must be open or closed, not %q", iq.Status)
	}
	if iq.View != "all" && iq.Status != string(engine.ConvOpen) {
		// Closing hands a conversation back to flows: a closed one has
		// no assignee or team to list it under.
		return iq, badRequest("view=%s lists open conversations only (a closed conversation has no assignee: list them with view=all&status=closed, closed_by says who closed each)", iq.View)
	}
	if s := q.Get("cursor"); s != "" {
		cur, err := parseCursor(s)
		if err != nil {
			return iq, err
		}
		iq.Cursor = cur
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return iq, badRequest("limit must be a number from 1 to 500, not %q", s)
		}
		iq.Limit = n
	}
	return iq, nil
}

// formatCursor is the opaque text of an inbox position.
func formatCursor(c engine.ConvCursor) string {
	raw := strconv.FormatInt(c.Seen.UnixNano(), 10) + "\n" + c.Account + "\n" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parseCursor reads a cursor formatCursor wrote.
func parseCursor(s string) (engine.ConvCursor, error) {
	bad := badRequest("cursor %q is not one this console gave (use next_cursor of the last page)", clipText(s, 40))
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return engine.ConvCursor{}, bad
	}
	parts := strings.SplitN(string(raw), "\n", 3)
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return engine.ConvCursor{}, bad
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return engine.ConvCursor{}, bad
	}
	return engine.ConvCursor{Seen: time.Unix(0, ns).UTC(), Account: parts[1], ID: parts[2]}, nil
}

// clipText cuts s to n bytes at most, for messages that quote input,
// at a character's start: a cut inside a character (Chinese takes 3
// bytes) showed a broken one before the "…". Invalid UTF-8 is cut where
// n falls.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	if !utf8.RuneStart(s[i]) {
		i = n
	}
	return s[:i] + "…"
}

// inbox lists a page of conversations, newest interaction first, and
// the cursor of the next page ("" at the end).
func (c *Console) inbox(ctx context.Context, iq inboxQuery, who actor) ([]ConversationView, string, error) {
	if iq.Account != "" && len(c.cfg.Accounts) > 0 && !slices.Contains(c.cfg.Accounts, iq.Account) {
		return nil, "", badRequest("account %q is not one this server serves (%s)", clipText(iq.Account, 40), strings.Join(c.cfg.Accounts, ", "))
	}
	// One more than the page: a next page only when there is a row for
	// it (a list of exactly the limit had a cursor to an empty page).
	f := engine.ConversationFilter{Account: iq.Account, Status: engine.ConvStatus(iq.Status), Before: iq.Cursor, Limit: iq.Limit + 1}
	switch iq.View {
	case "mine":
		f.Operator = who.Operator
	case "unassigned":
		f.Unassigned = true
		// A conversation an operator removed from the config holds is
		// listed here too: nobody's Mine has it, and flows do not answer
		// while it is held.
		f.Operators = []string{}
		for _, op := range c.eng.People().Operators {
			f.Operators = append(f.Operators, op.Name)
		}
	case "teams":
		op, ok := c.eng.People().Operator(who.Operator)
		if !ok || len(op.Teams) == 0 {
			return []ConversationView{}, "", nil
		}
		f.Teams = op.Teams
	}
	items, err := c.eng.Inbox(ctx, f)
	if err != nil {
		return nil, "", err
	}
	more := len(items) > iq.Limit
	items = items[:min(len(items), iq.Limit)]
	now := c.eng.Clock().Now()
	out := make([]ConversationView, 0, len(items))
	for _, it := range items {
		out = append(out, c.conversationView(it.Contact, it.Window, now))
	}
	next := ""
	if more {
		last := items[len(items)-1].Contact
		next = formatCursor(engine.ConvCursor{Seen: last.LastSeen, Account: last.Account, ID: last.ID})
	}
	return out, next, nil
}

// conversationView is a contact's conversation with its window now.
func (c *Console) conversationView(ct *engine.Contact, w channels.Window, now time.Time) ConversationView {
	cv := ct.Conv
	v := ConversationView{Account: ct.Account, Contact: ct.ID, Status: cv.Status, Operator: cv.Operator, Team: cv.Team,
		OpenedAt: timePtr(cv.OpenedAt), OpenedBy: cv.OpenedBy, ClosedAt: timePtr(cv.ClosedAt), ClosedBy: cv.ClosedBy,
		Note: cv.Note, Category: cv.Category, AssignedAt: timePtr(cv.AssignedAt), WaitingSince: timePtr(cv.WaitingSince),
		Last: cv.Last, LastSeen: ct.LastSeen, Followed: ct.Followed, Tags: ct.Tags, Window: windowView(w, ct.Followed, now)}
	if v.Status == "" {
		v.Status = engine.ConvClosed
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if op, ok := c.eng.People().Operator(cv.Operator); ok {
		v.OperatorName = op.Display
	}
	if v.OperatorName == "" {
		v.OperatorName = cv.Operator
	}
	if !cv.WaitingSince.IsZero() {
		v.Waiting = span(now.Sub(cv.WaitingSince))
	}
	return v
}

// windowView says what WeChat lets the account send now, before anyone
// types: open until when and how many replies are left, or why not.
func windowView(w channels.Window, followed bool, now time.Time) WindowView {
	v := WindowView{Open: w.Open, QuotaLeft: w.QuotaLeft, WindowOpen: windowOpen(w, followed, now)}
	if v.WindowOpen {
		v.ClosesAt = timePtr(w.ExpiresAt)
	}
	switch {
	case !followed:
		v.Reason = channels.ReasonUnfollowed
	case !w.Open && !w.ExpiresAt.IsZero() && now.Before(w.ExpiresAt):
		v.Reason = channels.ReasonQuotaExhausted
	case !w.Open:
		v.Reason = channels.ReasonWindowClosed
	case w.QuotaLeft <= 0:
		v.Reason = channels.ReasonQuotaExhausted
	}
	if v.Reason != "" {
		v.Why = v.Reason.Describe()
		v.Says = "no reply can go: " + v.Why
		return v
	}
	v.CanReply = true
	replies := "replies"
	if w.QuotaLeft == 1 {
		replies = "reply"
	}
	v.Says = fmt.Sprintf("window closes in %s · %d %s left", span(w.ExpiresAt.Sub(now)), w.QuotaLeft, replies)
	return v
}

// windowOpen reports whether the contact's window is open now (they
// follow and their last interaction's window has not ended), whether or
// not replies are left: with the quota used the window stays open until
// it ends, and the next interaction resets the count.
func windowOpen(w channels.Window, followed bool, now time.Time) bool {
	return followed && !w.ExpiresAt.IsZero() && now.Before(w.ExpiresAt)
}

// span says a duration as a person reads it: "45 s", "12 min",
// "3 h 12 min" (up to 48 h), "2 d 3 h".
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 49*time.Hour: // the window is 48 h: "47 h 59 min" says more than "1 d 23 h"
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}

// transcriptLimit is how many entries of a conversation the view shows.
const transcriptLimit = 200

// conversation is one contact's conversation with its transcript.
func (c *Console) conversation(ctx context.Context, account, id string) (*ConversationDetail, error) {
	var ct *engine.Contact
	var s channels.Session
	var runs []RunSummary
	err := c.eng.Store().View(ctx, func(tx engine.ReadTx) error {
		var err error
		if ct, err = tx.Contact(account, id); err != nil {
			return err
		}
		if s, _, err = tx.Session(account, id); err != nil {
			return err
		}
		rs, err := tx.Runs(engine.RunFilter{Account: account, Contact: id, Limit: 20})
		if err != nil {
			return err
		}
		runs = runSummaries(rs)
		return withMessages(tx, runs)
	})
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("%w: account %s has no contact %q", engine.ErrNotFound, account, id)
	}
	if err != nil {
		return nil, err
	}
	items, err := c.eng.Transcript(ctx, engine.ContactRef{Account: account, ID: id}, transcriptLimit)
	if err != nil {
		return nil, err
	}
	now := c.eng.Clock().Now()
	d := &ConversationDetail{ConversationView: c.conversationView(ct, c.eng.Window(account, s), now),
		Fields: ct.Fields, Runs: runs, Transcript: make([]TranscriptEntry, 0, len(items))}
	if d.Fields == nil {
		d.Fields = map[string]any{}
	}
	if d.Last == nil {
		if d.Last, err = c.eng.LastMessage(ctx, engine.ContactRef{Account: account, ID: id}); err != nil {
			return nil, err
		}
	}
	for _, it := range items {
		d.Transcript = append(d.Transcript, c.transcriptEntry(it))
	}
	return d, nil
}

// transcriptEntry is one transcript item as the views show it.
func (c *Console) transcriptEntry(it engine.TranscriptItem) TranscriptEntry {
	e := TranscriptEntry{At: it.At}
	switch {
	case it.Event != nil:
		e.Kind = "in"
		e.Event = c.eventView(&it.Event.Event)
	case it.Outbox != nil:
		e.Kind = "out"
		m := messageView(it.Outbox)
		e.Message, e.From, e.Step = &m, it.From, it.Step
	case it.Note != nil:
		e.Kind = "change"
		if it.Note.Kind == engine.NoteComment {
			e.Kind = "comment"
		} else {
			e.Change = string(it.Note.Kind)
		}
		e.By, e.Text = it.Note.By, it.Note.Text
	}
	return e
}

// eventView says what a contact did in words.
func (c *Console) eventView(ev *channels.Event) *EventView {
	v := &EventView{Kind: ev.Kind, Text: ev.Text, Key: ev.Key, Scene: ev.Scene, MediaID: ev.MediaID, Location: ev.Location}
	switch ev.Kind {
	case channels.Text:
		v.Says = ev.Text
	case channels.Image:
		v.Says = "sent an image"
	case channels.Voice:
		v.Says = "sent a voice message"
	case channels.Video:
		v.Says = "sent a video"
	case channels.Location:
		v.Says = "sent a location"
		if g := ev.Location; g != nil {
			v.Says += fmt.Sprintf(": %s (%.5f, %.5f)", g.Label, g.Lat, g.Lng)
		}
	case channels.Link:
		v.Says = "sent a link: " + ev.Text
	case channels.Follow:
		v.Says = "followed the account"
		if ev.Scene != "" {
			v.Says += " (QR scene " + ev.Scene + ")"
		}
	case channels.Unfollow:
		v.Says = "unfollowed the account"
	case channels.Scan:
		v.Says = "scanned QR scene " + ev.Scene
	case channels.MenuClick:
		v.Says = "clicked menu " + c.menuName(ev.Key)
	case channels.View:
		v.Says = "opened the menu link " + ev.Key
	case channels.LocationReport:
		v.Says = "reported their location"
	default:
		v.Says = "event " + ev.Name
	}
	return v
}

// who says who did something in the views: an operator's display name,
// "flow NAME", "api" (the admin), "contact", "auto_close".
func (c *Console) who(by string) string {
	if name, ok := strings.CutPrefix(by, "operator "); ok {
		if op, ok := c.eng.People().Operator(name); ok && op.Display != "" {
			return op.Display
		}
		return name
	}
	if by == "api" {
		return "admin"
	}
	return by
}
