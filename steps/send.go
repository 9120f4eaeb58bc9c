package steps

import "github.com/wxflow/wxflow/flows"

func init() {
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
