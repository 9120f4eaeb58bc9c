package triggers

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:             "unfollow",
		Summary:          "Someone unfollows the account; every run of the contact has ended first and nothing can be sent.",
		Input:            "`unsubscribe` event",
		InterruptDefault: true,
		Inputs:           globInputs("unfollow"),
		Example:          `- unfollow`,
	})
}
