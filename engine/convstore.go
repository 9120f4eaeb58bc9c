package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels"
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
	Status ConvStatus
	// Operator and Team are the assignee ("" when none). While either is
	// set, people hold the conversation.
	Operator string
	Team     string
	// OpenedAt and OpenedBy say when and by whom or what it last opened
	// ("contact", "flow NAME", "operator NAME", "api").
	OpenedAt time.Time
	OpenedBy string
	// ClosedAt, ClosedBy, Note and Category say how it last closed
	// (ClosedBy: "flow NAME", "operator NAME", "auto_close", "unfollow").
	ClosedAt time.Time
	ClosedBy string
	Note     string
	Category string
	// AssignedAt is when people took it (zero while flows hold it);
	// FirstReplyAt when an operator first replied since (zero before).
	AssignedAt   time.Time
	FirstReplyAt time.Time
	// AssignedBy is the run whose assign step handed the conversation to
	// people (0 when an operator or the API did): of the runs from
	// before the assignment, it alone may still ask (see
	// runner.fromBeforeHandover).
	AssignedBy int64
	// HeldBefore are the contact's runs that were active when people took
	// the conversation (AssignedBy aside): they may not ask while people
	// hold it; a run started after, even at the same instant, may. Nil in
	// a conversation stored before wxflow recorded it (the runs that
	// started no later than AssignedAt are taken for them).
	HeldBefore []int64
	// WaitingSince is when the contact's oldest message that no operator
	// answered yet came, while people hold the conversation (zero when
	// nobody waits).
	WaitingSince time.Time
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
	// Status is an outbound message's (pending, sending, sent, failed,
	// unknown), with the reason and the reason in words (Why) when it
	// failed; empty for what the contact sent.
	Status OutboxStatus    `json:"status,omitempty"`
	Reason channels.Reason `json:"reason,omitempty"`
	Why    string          `json:"why,omitempty"`
}

// EncodeConversationJSON returns a contact's conversation as the JSON
// every store keeps it in ("{}" for a conversation never opened): short
// keys, times as Unix nanoseconds, and "contact" as the opener left out.
// Every event writes its contact, and the contacts table is keyed by
// contact (WITHOUT ROWID on SQLite): each byte of the row costs the
// write, so the common conversation (opened by the contact) takes about
// 40 bytes. The stores index status, operator and team from columns of
// their own. It is written and read by hand.
func EncodeConversationJSON(c *Contact) ([]byte, error) {
	v := &c.Conv
	b := make([]byte, 0, 64)
	b = append(b, '{')
	b = appendConvString(b, "s", string(v.Status))
	b = appendConvString(b, "o", v.Operator)
	b = appendConvString(b, "t", v.Team)
	b = appendConvTime(b, "oa", v.OpenedAt)
	if v.OpenedBy != byContact {
		b = appendConvString(b, "ob", v.OpenedBy)
	}
	b = appendConvTime(b, "ca", v.ClosedAt)
	b = appendConvString(b, "cb", v.ClosedBy)
	b = appendConvString(b, "n", v.Note)
	b = appendConvString(b, "c", v.Category)
	b = appendConvTime(b, "aa", v.AssignedAt)
	b = appendConvTime(b, "fr", v.FirstReplyAt)
	b = appendConvTime(b, "ws", v.WaitingSince)
	if v.AssignedBy != 0 {
		b = strconv.AppendInt(appendConvKey(b, "ar"), v.AssignedBy, 10)
	}
	if v.HeldBefore != nil {
		// Always written while held, empty or not: its absence means a
		// conversation stored before it was recorded.
		b = append(appendConvKey(b, "hb"), '"')
		for i, id := range v.HeldBefore {
			if i > 0 {
				b = append(b, ' ')
			}
			b = strconv.AppendInt(b, id, 10)
		}
		b = append(b, '"')
	}
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
	return strconv.AppendInt(appendConvKey(b, key), UnixNanos(t), 10)
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

// convJSON is the stored conversation as encoding/json reads it (the
// texts with escapes, which the hand reader leaves to it).
type convJSON struct {
	S  string  `json:"s"`
	O  string  `json:"o"`
	T  string  `json:"t"`
	OA int64   `json:"oa"`
	OB string  `json:"ob"`
	CA int64   `json:"ca"`
	CB string  `json:"cb"`
	N  string  `json:"n"`
	C  string  `json:"c"`
	AA int64   `json:"aa"`
	FR int64   `json:"fr"`
	WS int64   `json:"ws"`
	AR int64   `json:"ar"`
	HB *string `json:"hb"`
}

func (j *convJSON) conversation() Conversation {
	return Conversation{Status: ConvStatus(j.S), Operator: j.O, Team: j.T, OpenedAt: FromUnixNanos(j.OA), OpenedBy: j.OB,
		ClosedAt: FromUnixNanos(j.CA), ClosedBy: j.CB, Note: j.N, Category: j.C,
		AssignedAt: FromUnixNanos(j.AA), FirstReplyAt: FromUnixNanos(j.FR), WaitingSince: FromUnixNanos(j.WS), AssignedBy: j.AR,
		HeldBefore: heldBefore(j.HB)}
}

// heldBefore reads the stored list of run ids ("12 15"; nil for none
// stored, an empty list for an empty text); an id that does not read is
// left out.
func heldBefore(s *string) []int64 {
	if s == nil {
		return nil
	}
	out := []int64{}
	for _, f := range strings.Fields(*s) {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// DecodeConversationJSON reads a contact's conversation from the JSON
// EncodeConversationJSON wrote ("" reads as a closed conversation). The
// JSON it wrote is read by hand; texts with escapes by encoding/json.
func DecodeConversationJSON(c *Contact, conv string) error {
	c.Conv = Conversation{}
	if conv == "" || conv == "{}" {
		return nil
	}
	if !decodeConvFast(&c.Conv, conv) {
		v, err := decodeConvSlow(conv)
		if err != nil {
			return fmt.Errorf("contact %s conversation: %w", c.ID, err)
		}
		c.Conv = v
	}
	if !c.Conv.OpenedAt.IsZero() && c.Conv.OpenedBy == "" {
		c.Conv.OpenedBy = byContact
	}
	return nil
}

// decodeConvSlow reads the stored JSON with encoding/json.
func decodeConvSlow(conv string) (Conversation, error) {
	var j convJSON
	if err := json.Unmarshal([]byte(conv), &j); err != nil {
		return Conversation{}, err
	}
	return j.conversation(), nil
}

// decodeConvFast reads a flat object of plain strings and integers;
// false when s is not one (the caller uses encoding/json).
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
		if k < 0 || len(s) < k+4 || s[k+2] != ':' {
			return false
		}
		key := s[1 : k+1]
		s = s[k+3:]
		var val string
		var num int64
		quoted := s[0] == '"'
		if quoted {
			e := strings.IndexByte(s[1:], '"')
			if e < 0 {
				return false
			}
			val, s = s[1:e+1], s[e+2:]
		} else {
			e := strings.IndexByte(s, ',')
			if e < 0 {
				e = len(s)
			}
			n, err := strconv.ParseInt(s[:e], 10, 64)
			if err != nil {
				return false
			}
			num, s = n, s[e:]
		}
		if s != "" {
			if s[0] != ',' || len(s) == 1 {
				return false
			}
			s = s[1:]
		}
		var str *string
		var t *time.Time
		switch key {
		case "s":
			if !quoted {
				return false
			}
			v.Status = ConvStatus(val)
			continue
		case "o":
			str = &v.Operator
		case "t":
			str = &v.Team
		case "ob":
			str = &v.OpenedBy
		case "cb":
			str = &v.ClosedBy
		case "n":
			str = &v.Note
		case "c":
			str = &v.Category
		case "oa":
			t = &v.OpenedAt
		case "ca":
			t = &v.ClosedAt
		case "aa":
			t = &v.AssignedAt
		case "fr":
			t = &v.FirstReplyAt
		case "ws":
			t = &v.WaitingSince
		case "ar":
			if quoted {
				return false
			}
			v.AssignedBy = num
			continue
		case "hb":
			if !quoted {
				return false
			}
			v.HeldBefore = heldBefore(&val)
			continue
		default:
			return false
		}
		if (str != nil) != quoted {
			return false
		}
		if str != nil {
			*str = val
		} else {
			*t = FromUnixNanos(num)
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
	// Operators, when not nil, are the operators there are: with
	// Unassigned, a conversation held by one not among them (an operator
	// removed from the config) is unassigned too, so that it is listed
	// where someone can take it.
	Operators []string
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
