package steps

import (
	"fmt"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// Runtime is what a step may ask of the engine while it runs. The engine
// implements it inside the transaction that advances the run, so whatever
// a step does through it is committed together with the run's new position,
// or not at all.
type Runtime interface {
	// Env is the run's expression environment: contact, event, answer,
	// vars, http, now, flow and account. Steps read it; they change it
	// only through the methods below.
	Env() *flows.Env
	// Now is the engine's clock.
	Now() time.Time
	// Send renders msg in the run's environment and reserves it in the
	// outbox. ok is true when the channel's policy lets it go out and
	// false when the policy refused it (the outbox records the reason);
	// err is set when the message cannot be rendered.
	Send(msg *flows.Message) (ok bool, err error)
	// Save stores value at a save path (vars.x, contact.fields.x).
	Save(path string, value any) error
	// SetAnswer sets `answer` for the steps that follow.
	SetAnswer(value any)
	// SetHTTP sets `http` for the steps that follow.
	SetHTTP(resp flows.HTTPEnv)
	// Tag adds tags to the contact; Untag removes them.
	Tag(tags ...string)
	Untag(tags ...string)
	// Start starts another flow for the contact once this run suspends
	// or ends; vars (nil for none) become the new run's first variables.
	Start(flow string, vars map[string]any) error
	// Assign hands the contact's conversation to people (the `assign`
	// step); see Handover. ok is false, and nothing changed, when
	// Pick found no operator of the team on shift.
	Assign(a Handover) (ok bool, err error)
	// OpenConversation opens the contact's conversation; nothing happens
	// when it is open.
	OpenConversation() error
	// CloseConversation closes the contact's conversation with an
	// optional note and category; nothing happens when it is closed.
	CloseConversation(note, category string) error
	// Comment adds an internal note to the contact's conversation.
	Comment(text string) error
}

// Handover is what an `assign` step asks for.
type Handover struct {
	// None hands the conversation back to nobody: no operator, no team.
	None bool
	// Operator, alone, assigns an operator and keeps the team when the
	// operator is of it (else the operator holds it alone).
	Operator string
	// Team, alone, puts the conversation in the team's queue (no
	// operator); with Pick, it assigns the team and an operator of the
	// team who is on shift, picked by Pick ("round_robin" or
	// "least_open").
	Team string
	Pick string
}

// Step runs one step kind. Implementations are stateless: everything a run
// knows is in the Runtime and the Input.
type Step interface {
	// Run executes the step and says what happens next.
	Run(rt Runtime, s *flows.Step) (Outcome, error)
}

// Resumer is implemented by steps that suspend (ask, wait, http): the
// engine calls Resume when the answer, the time or the response comes.
type Resumer interface {
	Resume(rt Runtime, s *flows.Step, in Input) (Outcome, error)
}

// OutcomeKind says what the engine does after a step.
type OutcomeKind int

// The outcomes of a step.
const (
	// Next goes on to the step after this one.
	Next OutcomeKind = iota
	// Goto jumps to the step with id Target.
	Goto
	// Enter runs the nested step list Steps (a branch's case, hours'
	// when_open), then goes on after this step. An empty list is Next.
	Enter
	// WaitReply suspends the run until the contact answers, or until
	// Until (the timeout).
	WaitReply
	// WaitUntil suspends the run until Until.
	WaitUntil
	// Call suspends the run while the engine makes Request outside the
	// transaction; the step is resumed with the response.
	Call
	// End ends the run with Status.
	End
	// WaitSent suspends the run until the message the step just reserved
	// has an outcome (sent, failed, unknown); the step is resumed with it
	// (Input kind Sent). A message the channel's answer to the callback
	// carried (a passive reply) has one already: the engine resumes the
	// step at once.
	WaitSent
)

// Outcome is what a step returns: what the engine does next.
type Outcome struct {
	Kind OutcomeKind
	// Target is the step id of Goto.
	Target flows.StepRef
	// Steps is the list of Enter.
	Steps []*flows.Step
	// Until is the timeout of WaitReply and the time of WaitUntil.
	Until time.Time
	// Attempts is, for WaitReply, how many invalid answers came so far;
	// the engine keeps it and passes it back in Input.
	Attempts int
	// Request is the request of Call.
	Request *Request
	// Status is the run's final status for End ("completed" when empty).
	Status string
}

// Target turns a `*flows.Target` (a step list or a step id) into an
// outcome: Enter for a list, Goto for an id, Next for nil.
func TargetOutcome(t *flows.Target) Outcome {
	switch {
	case t == nil:
		return Outcome{Kind: Next}
	case t.Ref != "":
		return Outcome{Kind: Goto, Target: t.Ref}
	}
	return Outcome{Kind: Enter, Steps: t.Steps}
}

// InputKind says why a suspended step is resumed.
type InputKind int

// The reasons a step is resumed.
const (
	// Answer: the contact sent something; it is Runtime.Env().Event.
	Answer InputKind = iota
	// Timeout: the WaitReply's Until passed without an answer.
	Timeout
	// Elapsed: the WaitUntil's time came.
	Elapsed
	// Response: the Call's response (or its error) is in Response.
	Response
	// Sent: the WaitSent's message has an outcome; Failed says whether
	// it failed (an unknown outcome is not a failure), Reason why.
	Sent
)

// Input is what a suspended step is resumed with.
type Input struct {
	Kind InputKind
	// Attempts is the Attempts of the WaitReply outcome that suspended.
	Attempts int
	// Response is the result of a Call.
	Response *HTTPResult
	// Failed is set, for Sent, when the message failed, and Reason names
	// why (a channels.Reason, as text); Reason is "unknown" for a
	// message whose outcome is unknown (not a failure).
	Failed bool
	Reason string
}

// Request is an HTTP request a step wants made. It holds no secret: each
// `${secret.NAME}` of the step stands in URL, Headers or Body as
// flows.SecretPlaceholder(NAME), and Secrets says where; Resolve puts the
// values in when the request is sent. So a Request can be kept with the
// run and shown in its trail.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
	Timeout time.Duration     `json:"timeout"`
	Secrets []SecretUse       `json:"secrets,omitempty"`
	// Unsendable says why the request could not be made (a header value
	// with a line break, a URL whose host a value made invalid, an
	// expression that failed): the call fails with it, unsent, and the
	// step takes on_error as for any failed call.
	Unsendable string `json:"unsendable,omitempty"`
}

// HTTPResult is the answer to a Request: a status, headers and body, or
// Err when no answer came (network error, timeout).
type HTTPResult struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
	Err     string            `json:"err,omitempty"`
}

var registry = map[string]Step{}

// register makes a step kind's runtime known; each kind's file calls it
// from init.
func register(kind string, s Step) {
	if _, dup := registry[kind]; dup {
		panic(fmt.Sprintf("steps: %q registered twice", kind))
	}
	registry[kind] = s
}

// Lookup returns the runtime of a step kind, or nil.
func Lookup(kind string) Step { return registry[kind] }
