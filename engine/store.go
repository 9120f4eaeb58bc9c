package engine

import (
	"context"
	"errors"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/flows"
	"github.com/wxflow/wxflow/steps"
)

// ErrNotFound is returned by a store for a row that does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnavailable wraps a store's error that says the database could not
// be reached or did not answer in time (a server restarting or failing
// over, a network cut, a stalled server), rather than that something was
// wrong with what was asked: the same request may work a moment later.
// The console answers it with 503, not 500.
var ErrUnavailable = errors.New("the database is unavailable")

// Store keeps everything the engine knows. It is the truth: memory is only
// a cache. engine/sqlite is the embedded implementation; any other must pass
// the suite in engine/storetest.
type Store interface {
	// Update runs fn in one write transaction: all of it is committed, or
	// none of it when fn returns an error.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx ReadTx) error) error
	// Close releases the store.
	Close() error
}

// ContactRef names a contact.
type ContactRef struct{ Account, ID string }

// ReadTx reads the store.
type ReadTx interface {
	// Contact returns a contact, or ErrNotFound.
	Contact(account, id string) (*Contact, error)
	// Contacts returns up to limit contacts of an account ("" for every
	// account) that follow, ordered by account and id, after the given
	// position (account, id) exclusive.
	Contacts(account, afterAccount, afterID string, limit int) ([]*Contact, error)
	// ContactsOf returns the contacts of refs that exist, in no set order:
	// one read for a job that will touch them all.
	ContactsOf(refs []ContactRef) ([]*Contact, error)
	// ActiveRunsOf returns the runs of the contacts of refs that have not
	// ended, newest first.
	ActiveRunsOf(refs []ContactRef) ([]*Run, error)
	// Session returns a contact's session; ok is false when it has none.
	Session(account, contact string) (s channels.Session, ok bool, err error)
	// Run returns a run, or ErrNotFound.
	Run(id int64) (*Run, error)
	// Runs lists runs, newest first.
	Runs(f RunFilter) ([]*Run, error)
	// LastStart returns when the contact's latest run of a flow started.
	LastStart(account, contact, flow string) (t time.Time, ok bool, err error)
	// Outbox lists outbox entries in the order they were reserved.
	Outbox(f OutboxFilter) ([]*OutboxEntry, error)
	// OutboxEntry returns one outbox entry, or ErrNotFound.
	OutboxEntry(id int64) (*OutboxEntry, error)
	// EventReply returns the outbox ID of the passive reply given to the
	// event with a dedupe key (see Tx.SetEventReply); 0 when it got none
	// or there is no such event.
	EventReply(key string) (int64, error)
	// EventNotes returns up to limit of a contact's event notes, newest
	// first.
	EventNotes(account, contact string, limit int) ([]*EventNote, error)
	// FlowVersion returns a stored flow version, or ErrNotFound.
	FlowVersion(version string) (*FlowVersion, error)
	// DueTimers returns up to limit timers due at or before now, earliest
	// first.
	DueTimers(now time.Time, limit int) ([]Timer, error)
	// NextTimer returns the earliest timer's due time.
	NextTimer() (due time.Time, ok bool, err error)
	// Schedules returns every schedule key with its next due time.
	Schedules() (map[string]time.Time, error)
	// ChannelState returns a value a channel keeps (an access token, an
	// uploaded media id) and when it expires; ok is false when there is
	// none or it expired at or before now.
	ChannelState(key string, now time.Time) (value string, expires time.Time, ok bool, err error)
	// Counts returns the number of rows per table, for tests and metrics.
	Counts() (map[string]int, error)
	// ActiveSteps counts the active runs by flow, version, position and
	// status: where runs wait.
	ActiveSteps() ([]StepCount, error)
}

// StepCount is how many active runs stand at one step of a flow version.
type StepCount struct {
	Flow, Version string
	// Pos and Step are the runs' position and its name (see Run).
	Pos, Step string
	Status    RunStatus
	N         int
}

// Tx reads and writes the store inside one transaction.
type Tx interface {
	ReadTx
	// AddEvent records an inbound event by its dedupe key; added is false
	// when an event with the same key was recorded before.
	AddEvent(e *EventRecord) (added bool, err error)
	// SetEventReply records that the event with a dedupe key was
	// answered with the passive reply of an outbox entry; ErrNotFound
	// when there is no such event.
	SetEventReply(key string, outboxID int64) error
	// AddEventNote records why an event started nothing and answered
	// nothing (one note per event key; a second one replaces it).
	AddEventNote(n *EventNote) error
	// PutContact creates or replaces a contact.
	PutContact(c *Contact) error
	// PutSession creates or replaces a contact's session.
	PutSession(account, contact string, s channels.Session) error
	// NewRunID gives a new run's ID, never given before by the database
	// (by any process using it), increasing within a process. The engine
	// takes it before it stores the run, since the run's first steps
	// refer to it.
	NewRunID() (int64, error)
	// InsertRun stores a new run; a zero ID is chosen by the store and set.
	InsertRun(r *Run) error
	// UpdateRun replaces a run's mutable fields.
	UpdateRun(r *Run) error
	// SetTimer creates or replaces the timer of a run.
	SetTimer(t Timer) error
	// DeleteTimer removes the timer of a run, if any.
	DeleteTimer(runID int64) error
	// InsertOutbox reserves a message and sets its ID.
	InsertOutbox(o *OutboxEntry) error
	// ClaimOutbox marks up to limit pending entries as sending, oldest
	// first, and returns them.
	ClaimOutbox(limit int, at time.Time) ([]*OutboxEntry, error)
	// ClaimOutboxThrough marks every pending entry with an ID up to id as
	// sending, in one write: the dispatcher's batches are prefixes of the
	// outbox, so a cursor is enough.
	ClaimOutboxThrough(id int64, at time.Time) error
	// FinishOutbox records the outcome of a send. Status pending with
	// reason paused holds a claimed entry back without an outcome: it was
	// not attempted, and it is not sending (RecoverOutbox leaves it
	// pending); pending with no reason claims it again.
	FinishOutbox(id int64, status OutboxStatus, reason channels.Reason, code int, detail string, at time.Time) error
	// StartOutbox marks claimed entries as sending: their requests are
	// about to start. Only such an entry can be unknown after a crash.
	StartOutbox(ids []int64, at time.Time) error
	// RecoverOutbox marks every entry whose sending started (status
	// sending) and was not finished as unknown: the process stopped while
	// it may have been sent. It returns how many. Entries claimed but
	// never started, and entries held back (pending, reason paused),
	// become unclaimed pending entries again, claimed in their order:
	// whoever takes over sends them, once.
	RecoverOutbox(at time.Time) (int, error)
	// PutFlowVersion stores a flow version (content-addressed; storing
	// the same version again is a no-op).
	PutFlowVersion(v *FlowVersion) error
	// PutChannelState stores a value a channel keeps until it expires,
	// and forgets the values that expired at or before now.
	PutChannelState(key, value string, expires, now time.Time) error
	// SetSchedule stores a schedule's next due time.
	SetSchedule(key string, due time.Time) error
	// DeleteSchedule forgets a schedule.
	DeleteSchedule(key string) error
	// Savepoint runs fn so that, when it returns an error, only its own
	// writes are undone.
	Savepoint(fn func() error) error
	// PruneEvents deletes up to limit events received before before and
	// returns how many: location reports (channels.LocationReport) when
	// locations is set, the events of every other kind when not.
	PruneEvents(before time.Time, locations bool, limit int) (int, error)
	// PruneEventNotes deletes up to limit event notes of events received
	// before before and returns how many.
	PruneEventNotes(before time.Time, limit int) (int, error)
	// PruneRuns deletes up to limit runs that ended before before, each
	// with its outbox entries, and returns how many runs and entries. It
	// keeps a run with an entry still pending or being sent, the run with
	// the largest ID and the run of the outbox entry with the largest ID,
	// so that no ID is ever given out again.
	PruneRuns(before time.Time, limit int) (runs, messages int, err error)
	// PruneOutbox looks at up to limit outbox entries with an ID above
	// after, in ID order (the order they were reserved), and deletes
	// those reserved and finished (sent, failed, unknown) before before.
	// It keeps the entries of active runs and the entry with the largest
	// ID. It returns how many it deleted, the last ID it looked at (the
	// after of the next call), and done when no entry reserved before
	// before is left past that ID: at the first entry reserved between
	// before and now. An entry reserved after now (while the clock ran
	// ahead) does not end the walk: entries reserved after it, once the
	// clock came back, may be old.
	PruneOutbox(before, now time.Time, after int64, limit int) (deleted int, last int64, done bool, err error)
}

// Contact is a follower of an account.
type Contact struct {
	Account   string
	ID        string
	Followed  bool
	FirstSeen time.Time
	LastSeen  time.Time
	Tags      []string
	Fields    map[string]any
	// Conv is the contact's conversation with the account.
	Conv Conversation
}

// HasTag reports whether the contact has a tag.
func (c *Contact) HasTag(tag string) bool {
	for _, t := range c.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// EventRecord is an inbound event as stored for dedupe and history.
type EventRecord struct {
	Key        string
	Event      channels.Event
	ReceivedAt time.Time
}

// EventNote says why an inbound event started nothing and answered
// nothing: the contact's timeline shows it beside the event.
type EventNote struct {
	// Key is the event's dedupe key.
	Key              string
	Account, Contact string
	Kind             channels.Kind
	// At is when the event was received.
	At time.Time
	// Why says it in words ("no trigger matched ...").
	Why string
}

// RunStatus is where a run is in its life.
type RunStatus string

// The statuses of a run. The first five are active; the rest are final.
// A run is waiting_send at a `send` with on_fail until its message has an
// outcome.
const (
	RunRunning      RunStatus = "running"
	RunWaitingReply RunStatus = "waiting_reply"
	RunWaitingTime  RunStatus = "waiting_time"
	RunCalling      RunStatus = "calling"
	RunWaitingSend  RunStatus = "waiting_send"
	RunCompleted    RunStatus = "completed"
	RunTimedOut     RunStatus = "timed_out"
	RunInvalid      RunStatus = "invalid"
	RunInterrupted  RunStatus = "interrupted"
	RunRestarted    RunStatus = "restarted"
	RunUnfollowed   RunStatus = "unfollowed"
	RunLooping      RunStatus = "looping"
	RunFailed       RunStatus = "failed"
)

// Active reports whether a run with this status has not ended.
func (s RunStatus) Active() bool {
	switch s {
	case RunRunning, RunWaitingReply, RunWaitingTime, RunCalling, RunWaitingSend:
		return true
	}
	return false
}

// Run is one execution of a flow for a contact.
type Run struct {
	ID      int64
	Account string
	Contact string
	Flow    string
	// Version is the flow version the run started with and keeps.
	Version string
	Status  RunStatus
	// Pos is the position of the current step: indexes into the flow's
	// step lists and the steps' nested lists ("2", "1/0/3").
	Pos string
	// Step names the current step for people: its id, or kind and line.
	Step  string
	State RunState
	// Seq grows with every change; timers and calls carry the Seq they
	// were made for, so a stale one is ignored.
	Seq       int64
	StartedAt time.Time
	UpdatedAt time.Time
	EndedAt   time.Time
}

// RunState is a run's memory: what its expressions see and what a
// suspended step needs to resume.
type RunState struct {
	Vars     map[string]any    `json:"vars,omitempty"`
	Answer   any               `json:"answer,omitempty"`
	HTTP     *flows.HTTPEnv    `json:"http,omitempty"`
	Event    *flows.EventEnv   `json:"event,omitempty"`
	Attempts int               `json:"attempts,omitempty"`
	Jumps    int               `json:"jumps,omitempty"`
	Request  *steps.Request    `json:"request,omitempty"`
	Error    string            `json:"error,omitempty"`
	Response *steps.HTTPResult `json:"response,omitempty"`
	// Awaits is the outbox ID of the message a run waiting_send waits
	// for.
	Awaits int64 `json:"awaits,omitempty"`
	// Trail is what the run did, step by step (the last maxTrail
	// entries); TrailDropped counts the older ones dropped.
	Trail        Trail `json:"trail,omitempty"`
	TrailDropped int   `json:"trail_dropped,omitempty"`
}

// RunFilter selects runs.
type RunFilter struct {
	Account, Contact, Flow string
	// Active selects runs that have not ended.
	Active bool
	Status RunStatus
	// BeforeID, when not 0, lists runs with a smaller ID only.
	BeforeID int64
	Limit    int
}

// Timer resumes a run at Due.
type Timer struct {
	RunID int64
	Seq   int64
	Due   time.Time
	// Account and Contact name the run's contact ("" in timers stored
	// before they were recorded).
	Account, Contact string
}

// OutboxStatus is where an outbound message is.
type OutboxStatus string

// The statuses of an outbound message. WeChat reports no delivery or read.
const (
	OutboxPending OutboxStatus = "pending"
	OutboxSending OutboxStatus = "sending"
	OutboxSent    OutboxStatus = "sent"
	OutboxFailed  OutboxStatus = "failed"
	OutboxUnknown OutboxStatus = "unknown"
)

// OutboxEntry is one outbound message.
type OutboxEntry struct {
	ID      int64
	RunID   int64
	Account string
	Contact string
	Message channels.Message
	Status  OutboxStatus
	Reason  channels.Reason
	// Code is the platform's error code, when it answered one.
	Code      int
	Detail    string
	CreatedAt time.Time
	UpdatedAt time.Time
	// awaited is set, in memory, on the entry a run waits for (a send
	// with on_fail): the dispatcher resumes the run with its outcome.
	awaited bool
}

// OutboxFilter selects outbox entries.
type OutboxFilter struct {
	Account, Contact string
	// RunID selects one run's messages.
	RunID  int64
	Status OutboxStatus
	Reason channels.Reason
	// AfterID lists entries with a larger ID only; BeforeID, when not 0,
	// entries with a smaller ID only.
	AfterID, BeforeID int64
	// Newest lists the newest entries first.
	Newest bool
	Limit  int
}

// FlowVersion is a flow file's content, stored by its hash so that runs
// can resume with the version they started with.
type FlowVersion struct {
	Version  string
	Name     string
	File     string
	Source   []byte
	LoadedAt time.Time
}
