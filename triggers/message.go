package triggers

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:    "message",
		Summary: "The contact sends any message (optionally of one type).",
		Input:   "any inbound message",
		Keys: []flows.Field{
			{Name: "type", Type: flows.Enum("text", "image", "voice", "video", "location", "link"), Doc: "Only messages of this type."},
		},
		Interaction: "message",
		Inputs: func(t *flows.Trigger) ([]string, int) {
			if typ := t.Args.String("type"); typ != "" {
				return []string{"message:" + typ}, SpecificityTyped
			}
			return []string{"message:"}, SpecificityBare
		},
		Example: `- message:
  priority: -10
- message:
  type: image`,
	})
}
