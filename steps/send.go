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
			{Name: "on_fail", Type: flows.Ref, Doc: "The step to go to when the message cannot be sent: refused before sending (window closed, quota used, ...), refused by WeChat, or still failing after retries; an unknown outcome is not a failure. With it, the run waits at this step for the message's outcome; without it the run goes on."},
		},
		Sends: true,
		Example: `- send: "Welcome, ${contact.fields.name}!"
- send:
    image: images/map.png
  on_fail: fallback`,
	})
}

// sendStep sends its message; a message that fails (refused by the
// channel's policy, by WeChat, or failing after retries) goes to on_fail
// when it is given.
type sendStep struct{}

// Run sends the message. Without on_fail it goes on; with it, a message
// the policy refused goes to on_fail at once, and one reserved for
// sending waits for its outcome (WaitSent).
func (sendStep) Run(rt Runtime, s *flows.Step) (Outcome, error) {
	msg, _ := s.Arg.(*flows.Message)
	if msg == nil {
		return Outcome{}, errors.New("send: no message")
	}
	ok, err := rt.Send(msg)
	if err != nil {
		return Outcome{}, fmt.Errorf("send: %w", err)
	}
	onFail := s.Args.Ref("on_fail")
	if !ok {
		return refOr(onFail, Outcome{Kind: Next}), nil
	}
	if onFail != "" {
		return Outcome{Kind: WaitSent}, nil
	}
	return Outcome{Kind: Next}, nil
}

// Resume takes the message's outcome: on_fail when it failed, the next
// step when it was sent or its outcome is unknown.
func (sendStep) Resume(rt Runtime, s *flows.Step, in Input) (Outcome, error) {
	if in.Kind != Sent {
		return Outcome{}, fmt.Errorf("send: resumed with %s", in.Kind)
	}
	if in.Failed {
		return refOr(s.Args.Ref("on_fail"), Outcome{Kind: Next}), nil
	}
	return Outcome{Kind: Next}, nil
}
