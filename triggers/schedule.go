package triggers

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterTrigger(&flows.TriggerSpec{
		Kind:        "schedule",
		Summary:     "A time comes due; the flow runs for every contact the audience chooses.",
		Input:       "time",
		ArgRequired: true,
		ArgDoc:      "a map with cron, timezone, audience",
		// A schedule is not the contact talking: by default it starts its
		// flow whether or not they are answering another flow or talking
		// to people; `interrupt: false` leaves those contacts out.
		InterruptDefault: true,
		Arg: flows.ObjectOf("schedule", "schedule trigger",
			flows.Field{Name: "cron", Type: flows.CronSpec, Required: true, Doc: "When: five fields, minute hour day-of-month month day-of-week."},
			flows.Field{Name: "timezone", Type: flows.Timezone, Default: "the server's time zone", Doc: "The zone the cron fields are in."},
			flows.Field{Name: "audience", Type: flows.BoolExpr, Default: "every contact", Doc: "Which contacts it runs for, an expression over contact (not `vars`, `answer` or `http`, which only a run has: a validation error)."},
		),
		Example: `- schedule:
    cron: "0 9 * * mon"
    timezone: Asia/Shanghai
    audience: "'weekly' in contact.tags"`,
	})
}
