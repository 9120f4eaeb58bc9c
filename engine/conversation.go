package engine

import (
	"errors"
	"time"

	"github.com/wxflow/wxflow/steps"
)

// DefaultAutoClose is how long an open conversation stays open after the
// contact's last interaction when the account sets no auto_close: the
// window's end, after which nobody can reply anyway.
const DefaultAutoClose = 48 * time.Hour

// People are the operators and teams of a server (or a test scenario).
type People struct {
	// Operators in the order they are declared: round_robin takes them
	// in this order.
	Operators []Operator
	// Teams by name. A team's hours say when its operators are on shift;
	// nil hours mean always.
	Teams map[string]*steps.Hours
}

// Operator is a person who answers conversations in the console.
type Operator struct {
	// Name is how flows, the API and the transcript name them.
	Name string
	// Display is the name the console shows (Name when empty).
	Display string
	// Teams the operator belongs to.
	Teams []string
}

// errNoConversations is returned by the conversation steps until the
// engine keeps conversations.
var errNoConversations = errors.New("conversations are not kept yet")

// Assign implements steps.Runtime.
func (x *runner) Assign(a steps.Handover) (bool, error) { return false, errNoConversations }

// OpenConversation implements steps.Runtime.
func (x *runner) OpenConversation() error { return errNoConversations }

// CloseConversation implements steps.Runtime.
func (x *runner) CloseConversation(note, category string) error { return errNoConversations }

// Comment implements steps.Runtime.
func (x *runner) Comment(text string) error { return errNoConversations }
