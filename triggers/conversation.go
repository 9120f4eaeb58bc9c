package triggers

import "github.com/wxflow/wxflow/flows"

// The arguments of a conversation trigger, which are also the Key of the
// Input the engine matches when a contact's conversation opens or closes
// (Input{Kind: "conversation", Key: ConversationOpened}).
const (
	ConversationOpened = "opened"
	ConversationClosed = "closed"
)

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:        "conversation",
		Summary:     "The contact's conversation opens or closes (see [Conversations and people](#conversations-and-people)). A flow it starts may open or close the conversation again, starting the next: one event follows at most 8 such triggers in a chain, and the ninth starts nothing (the server's log says so).",
		Input:       "the contact's conversation opening or closing",
		Arg:         flows.Enum(ConversationOpened, ConversationClosed),
		ArgRequired: true,
		ArgDoc:      "`opened` or `closed`",
		// Not an interaction: the interaction that opened the conversation
		// (matched together with `conversation: opened`) is one, and an
		// operator's or the clock's close is none.
		Interaction: "",
		// An `ask` waiting for the contact's answer keeps it: the answer
		// that opens a closed conversation goes to the ask, not to a new
		// flow, unless the trigger says `interrupt: true`.
		InterruptDefault: false,
		Inputs: func(t *flows.Trigger) ([]string, int) {
			arg, _ := t.Arg.(string)
			if arg == ConversationOpened {
				// The interaction that opens the conversation is matched
				// against its own triggers too, where this ranks like a
				// bare kind: it ties with a bare follow or message.
				return []string{"conversation:" + arg, "follow:", "message:"}, SpecificityBare
			}
			// An unfollow that closes the conversation is matched
			// against the unfollow triggers too: it ties with a bare
			// unfollow.
			return []string{"conversation:" + arg, "unfollow:"}, SpecificityBare
		},
		Example: `- conversation: opened
- conversation: closed`,
	})
}
