package flows

import "strings"

// Describe says what the trigger reacts to in one line, as the flow
// diagram labels it: "keyword: price, match: contains, priority 2".
func (t *Trigger) Describe() string {
	return strings.Join(triggerLabel(t), ", ")
}
