package engine

import (
	"errors"

	"github.com/wxflow/wxflow/steps"
)

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
