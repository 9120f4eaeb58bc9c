package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ConvStatus is whether a contact's conversation is open or closed.
type ConvStatus string

// The statuses of a conversation. A contact that never interacted has a
// closed conversation (the zero value reads as closed).
const (
	ConvOpen   ConvStatus = "open"
	ConvClosed ConvStatus = "closed"
)

// Conversation is a contact's one conversation with the account: open or
// closed, held by people (an operator and/or a team) or by flows. It is
// kept with the contact (Contact.Conv), so the events that touch a
// contact pay no extra write for it.
type Conversation struct {
	Status ConvStatus `json:"status,omitempty"`
	// Operator and Team are the assignee ("" when none). While either is
	// set, people hold the conversation.
	Operator string `json:"operator,omitempty"`
	Team     string `json:"team,omitempty"`
	// OpenedAt and OpenedBy say when and by whom or what it last opened
	// ("contact", "flow NAME", "operator NAME", "api").
	OpenedAt time.Time `json:"opened_at,omitzero"`
	OpenedBy string    `json:"opened_by,omitempty"`
	// ClosedAt, ClosedBy, Note and Category say how it last closed
	// (ClosedBy: "flow NAME", "operator NAME", "auto_close", "unfollow").
	ClosedAt time.Time `json:"closed_at,omitzero"`
	ClosedBy string    `json:"closed_by,omitempty"`
	Note     string    `json:"note,omitempty"`
	Category string    `json:"category,omitempty"`
	// AssignedAt is when people took it (zero while flows hold it);
	// FirstReplyAt when an operator first replied since (zero before).
	AssignedAt   time.Time `json:"assigned_at,omitzero"`
	FirstReplyAt time.Time `json:"first_reply_at,omitzero"`
	// WaitingSince is when the contact's oldest message that no operator
	// answered yet came, while people hold the conversation (zero when
	// nobody waits).
	WaitingSince time.Time `json:"waiting_since,omitzero"`
	// Last is the newest message of the transcript, for the inbox list:
	// Inbox fills it when it reads the list; it is not stored.
	Last *ConvLast `json:"-"`
}

// Open reports whether the conversation is open.
func (c *Conversation) Open() bool { return c.Status == ConvOpen }

// Held reports whether people hold the conversation (an operator or a
// team is assigned): the contact's messages are then for them.
func (c *Conversation) Held() bool { return c.Operator != "" || c.Team != "" }

// ConvLast is the newest message of a conversation.
type ConvLast struct {
	At time.Time `json:"at"`
	// From is "contact", "flow NAME" or "operator NAME".
	From string `json:"from"`
	// Text is the message's text, clipped, or its kind ("[image]").
	Text string `json:"text"`
}

// EncodeConversationJSON returns a contact's conversation as the JSON
// every store keeps it in ("{}" for a conversation never opened). The
// stores index its status, operator and team. Every event reads and
// writes its contact, so this is written by hand.
func EncodeConversationJSON(c *Contact) ([]byte, error) {
	v := &c.Conv
	b := make([]byte, 0, 128)
	b = append(b, '{')
	b = appendConvString(b, "status", string(v.Status))
	b = appendConvString(b, "operator", v.Operator)
	b = appendConvString(b, "team", v.Team)
	b = appendConvTime(b, "opened_at", v.OpenedAt)
	b = appendConvString(b, "opened_by", v.OpenedBy)
	b = appendConvTime(b, "closed_at", v.ClosedAt)
	b = appendConvString(b, "closed_by", v.ClosedBy)
	b = appendConvString(b, "note", v.Note)
	b = appendConvString(b, "category", v.Category)
	b = appendConvTime(b, "assigned_at", v.AssignedAt)
	b = appendConvTime(b, "first_reply_at", v.FirstReplyAt)
	b = appendConvTime(b, "waiting_since", v.WaitingSince)
	return append(b, '}'), nil
}

func appendConvKey(b []byte, key string) []byte {
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendConvString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = appendConvKey(b, key)
	if plainJSON(v) {
		b = append(b, '"')
		b = append(b, v...)
		return append(b, '"')
	}
	q, _ := json.Marshal(v) // a string always marshals
	return append(b, q...)
}

func appendConvTime(b []byte, key string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = appendConvKey(b, key)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// plainJSON reports whether s can stand between quotes in JSON as it is
// (printable ASCII, no quote or backslash).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// DecodeConversationJSON reads a contact's conversation from the JSON
// EncodeConversationJSON wrote ("" reads as a closed conversation). The
// JSON it wrote is read by hand; any other (escapes, unknown shapes) by
// encoding/json.
func DecodeConversationJSON(c *Contact, conv string) error {
	c.Conv = Conversation{}
	if conv == "" || conv == "{}" {
		return nil
	}
	if !decodeConvFast(&c.Conv, conv) {
		c.Conv = Conversation{}
		if err := json.Unmarshal([]byte(conv), &c.Conv); err != nil {
			return fmt.Errorf("contact %s conversation: %w", c.ID, err)
		}
	}
	return nil
}

// decodeConvFast reads a flat object of plain strings; false when s is
// not one (the caller uses encoding/json).
func decodeConvFast(v *Conversation, s string) bool {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' || strings.IndexByte(s, '\\') >= 0 || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return false
		}
	}
	s = s[1 : len(s)-1]
	for s != "" {
		if s[0] != '"' {
			return false
		}
		k := strings.IndexByte(s[1:], '"')
		if k < 0 || len(s) < k+4 || s[k+2] != ':' || s[k+3] != '"' {
			return false
		}
		key := s[1 : k+1]
		s = s[k+4:]
		e := strings.IndexByte(s, '"')
		if e < 0 {
			return false
		}
		val := s[:e]
		s = s[e+1:]
		if s != "" {
			if s[0] != ',' {
				return false
			}
			s = s[1:]
		}
		var t *time.Time
		switch key {
		case "status":
			v.Status = ConvStatus(val)
		case "operator":
			v.Operator = val
		case "team":
			v.Team = val
		case "opened_by":
			v.OpenedBy = val
		case "closed_by":
			v.ClosedBy = val
		case "note":
			v.Note = val
		case "category":
			v.Category = val
		case "opened_at":
			t = &v.OpenedAt
		case "closed_at":
			t = &v.ClosedAt
		case "assigned_at":
			t = &v.AssignedAt
		case "first_reply_at":
			t = &v.FirstReplyAt
		case "waiting_since":
			t = &v.WaitingSince
		default:
			return false
		}
		if t != nil {
			p, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				return false
			}
			*t = p
		}
	}
	return true
}

// ConvNoteKind says what a conversation note records.
type ConvNoteKind string

// The kinds of conversation notes.
const (
	// NoteComment is an internal comment (the contact never sees it).
	NoteComment ConvNoteKind = "comment"
	// NoteReply links an operator's reply (an outbox entry) to them.
	NoteReply ConvNoteKind = "reply"
	// NoteOpened, NoteAssigned and NoteClosed record changes.
	NoteOpened   ConvNoteKind = "opened"
	NoteAssigned ConvNoteKind = "assigned"
	NoteClosed   ConvNoteKind = "closed"
)

// ConvNote is an entry of a conversation's transcript that is neither a
// message the contact sent nor one the account sent: a comment, a change
// (opened, assigned, closed) with who made it, or the link between an
// operator and the reply they sent.
type ConvNote struct {
	ID               int64
	Account, Contact string
	At               time.Time
	Kind             ConvNoteKind
	// By is who or what did it: "operator NAME", "flow NAME", "contact",
	// "auto_close", "api".
	By string
	// Text is the comment, or the change in words ("assigned to amy
	// (support)", "closed: solved").
	Text string
	// OutboxID is the reply's outbox entry (NoteReply).
	OutboxID int64
}

// ConversationFilter selects conversations for the inbox.
type ConversationFilter struct {
	// Account selects one account's ("" for all).
	Account string
	// Status selects open or closed ones ("" for both).
	Status ConvStatus
	// Operator selects those assigned to an operator; Unassigned those
	// with no operator (open ones only); Teams those of any of the teams.
	Operator   string
	Unassigned bool
	Teams      []string
	// Before lists conversations whose contact last interacted before
	// the cursor (last_seen, account, id), exclusive; zero for the
	// newest.
	Before ConvCursor
	Limit  int
}

// ConvCursor is a position in the inbox's order: newest interaction
// first, then account and contact ID.
type ConvCursor struct {
	Seen        time.Time
	Account, ID string
}

// ConversationStore is a store transaction that keeps conversations:
// both stores' transactions implement it (a ReadTx for the reads, a Tx
// for AddConvNote).
type ConversationStore interface {
	// Conversations lists contacts with a conversation (opened at least
	// once) by f, newest interaction first. Their sessions are read with
	// them (Session answers without another read).
	Conversations(f ConversationFilter) ([]*Contact, error)
	// StaleConversations lists up to limit open conversations whose
	// contact last interacted before before, oldest first, after the
	// cursor (exclusive; zero for the first).
	StaleConversations(before time.Time, after ConvCursor, limit int) ([]*Contact, error)
	// OpenAssigned counts the open conversations assigned to each of
	// operators (of any account).
	OpenAssigned(operators []string) (map[string]int, error)
	// OpenByTeam counts open conversations by team ("" for none).
	OpenByTeam() (map[string]int, error)
	// ConvNotes returns up to limit of a contact's conversation notes
	// with an ID below beforeID (0: the newest), newest first.
	ConvNotes(account, contact string, beforeID int64, limit int) ([]*ConvNote, error)
	// RecentEvents returns up to limit events of a contact received
	// before before (zero: the newest), newest first.
	RecentEvents(account, contact string, before time.Time, limit int) ([]*EventRecord, error)
	// LastMessages returns, for each contact of refs, its newest event
	// and its newest outbox entry (nil for none): the inbox's last
	// message, for a page of conversations at once.
	LastMessages(refs []ContactRef) (map[ContactRef]LastMessage, error)
}

// LastMessage is the newest entry of each side of a contact's transcript.
type LastMessage struct {
	In  *EventRecord
	Out *OutboxEntry
}

// ConvNoteWriter is a Tx that records conversation notes.
type ConvNoteWriter interface {
	// AddConvNote stores a note and sets its ID.
	AddConvNote(n *ConvNote) error
}
