package sandbox

import (
	"context"
	"fmt"
	"slices"

	"github.com/wxflow/wxflow/engine"
)

// maxNotes bounds the event notes Notes returns.
const maxNotes = 10000

// Notes returns a contact's event notes, oldest first: for each event
// that started no flow and answered no run, why.
func (s *Sandbox) Notes(ctx context.Context, contact string) ([]*engine.EventNote, error) {
	var out []*engine.EventNote
	err := s.store.View(ctx, func(tx engine.ReadTx) error {
		var err error
		out, err = tx.EventNotes(s.account, contact, maxNotes)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: notes of %s: %w", contact, err)
	}
	slices.Reverse(out)
	return out, nil
}
