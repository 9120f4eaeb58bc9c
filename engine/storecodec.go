package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wxflow/wxflow/flows"
)

// The codec every store shares: times as Unix nanoseconds, a contact's
// tags and fields as JSON (and a run's state, AppendState and
// DecodeState).

// UnixNanos is how stores keep a time: Unix nanoseconds, 0 for the zero
// time.
func UnixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromUnixNanos reads a time UnixNanos wrote, in UTC.
func FromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// EncodeContactJSON returns a contact's tags and fields as the JSON every
// store keeps them in (an empty list and an empty object for none).
func EncodeContactJSON(c *Contact) (tags, fields []byte, err error) {
	t := c.Tags
	if t == nil {
		t = []string{}
	}
	if tags, err = json.Marshal(t); err != nil {
		return nil, nil, fmt.Errorf("contact %s tags: %w", c.ID, err)
	}
	f := c.Fields
	if f == nil {
		f = map[string]any{}
	}
	if fields, err = json.Marshal(flows.StoredValues(f)); err != nil {
		return nil, nil, fmt.Errorf("contact %s fields: %w", c.ID, err)
	}
	return tags, fields, nil
}

// DecodeContactJSON reads a contact's tags and fields from the JSON
// EncodeContactJSON wrote; Fields is never nil afterwards.
func DecodeContactJSON(c *Contact, tags, fields string) error {
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
		return fmt.Errorf("contact %s tags: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
		return fmt.Errorf("contact %s fields: %w", c.ID, err)
	}
	if c.Fields == nil {
		c.Fields = map[string]any{}
	}
	flows.LiveValues(c.Fields)
	return nil
}
