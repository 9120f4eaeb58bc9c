package steps

import (
	"errors"
	"fmt"

	"github.com/wxflow/wxflow/flows"
)

func init() {
	register("send", sendStep{})
	flows.RegisterStep(&flows.StepSpec{
		Kind:        "send",
		Summary:     "Sends a message to the contact.",
		Arg:         flows.MessageType,
		ArgRequired: true,
		ArgDoc:      "a text, or a map with one of text, image, voice, video, news, menu",
		Keys: []flows.Field{
			{Name: "on_fail", Type: flows.Ref, Doc: "The step to go to when the message cannot be sent (window closed, quota used, ...); without it the run goes on."},
		},
		Sends: true,
		Example: `- send: "Welcome, ${contact.fields.name}!"
- send:
    image: images/map.png
  on_fail: fallback`,
	})
}

// sendStep sends its message; a message the channel's policy refuses goes
// to on_fail when it is given.
type sendStep struct{}

// Run sends the message and goes on, or to on_fail when it was refused.
func (sendStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	msg, _ := s.Arg.(*flows.Message)
	if msg == nil {
		return Outcome{}, errors.New("send: no message")
	}
	ok, err := rt.Send(msg)
	if err != nil {
		return Outcome{}, fmt.Errorf("send: %w", err)
	}
	if !ok {
		return refOr(s.Args.Ref("on_fail"), Outcome{Kind: Next}), nil
	}
	return Outcome{Kind: Next}, nil
}
