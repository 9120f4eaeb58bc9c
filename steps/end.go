package steps

import "github.com/wxflow/wxflow/flows"

func init() {
	flows.RegisterStep(&flows.StepSpec{
		Kind:     "end",
		Summary:  "Ends the run.",
		Terminal: true,
		Example: `- end
- id: done
  end:`,
	})
}
