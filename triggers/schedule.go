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
			flows.Field{Name: "cron", Type: flows.CronSpec, Required: true, Example: `"0 9 * * mon"`, Doc: "When: five fields, minute hour day-of-month month day-of-week."},
			flows.Field{Name: "timezone", Type: flows.Timezone, Default: "the server's time zone", Doc: "The zone the cron fields are in: its days are the zone's dates, its hours and minutes their wall-clock times. Where the zone changes its clocks, a cron with fixed hours (not `*` in the hour field) fires once per wall-clock time: a time the clocks skip (02:30 on the day summer time starts) fires at the moment they jump, a time they go back over fires the first time only; a cron over every hour follows the clock as it is."},
			flows.Field{Name: "audience", Type: flows.BoolExpr, Default: "every contact", Doc: "Which contacts it runs for, an expression over contact (not `vars`, `answer` or `http`, which only a run has: a validation error)."},
		),
		Example: `- schedule:
    cron: "0 9 * * mon"
    timezone: Asia/Shanghai
    audience: "'weekly' in contact.tags"`,
	})
}
