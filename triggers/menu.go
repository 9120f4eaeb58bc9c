package triggers

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:             "menu",
		Summary:          "Someone clicks a button of the account's menu (menu.yaml).",
		Input:            "`CLICK` menu event",
		Arg:              flows.Glob,
		ArgRequired:      true,
		ArgDoc:           "a menu key glob, e.g. MENU_HELP",
		Interaction:      "event",
		InterruptDefault: true,
		Inputs:           globInputs("menu"),
		Example:          `- menu: MENU_HELP`,
	})
}
