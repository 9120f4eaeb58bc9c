package console

import (
	"time"
)

// timeLayout is how the pages show a time: to the second, with the
// zone's abbreviation (CST, UTC, +08 for a zone without one).
const timeLayout = "2006-01-02 15:04:05 MST"

// zone is the time zone the pages show times in: Config.Zone, else the
// engine's clock's.
func (c *Console) zone() *time.Location {
	if c.cfg.Zone != nil {
		return c.cfg.Zone
	}
	return c.eng.Clock().Now().Location()
}

// zoneName names the zone of the pages' times: Config.ZoneName, else the
// location's name; "Local" gets the machine's offset added, which says
// more than the word, and a zone without a name is its offset.
func (c *Console) zoneName() string {
	name := c.cfg.ZoneName
	loc := c.zone()
	if name == "" {
		name = loc.String()
	}
	if name == "" || name == "Local" {
		_, off := c.eng.Clock().Now().In(loc).Zone()
		utc := "UTC"
		if off != 0 {
			utc += time.Unix(0, 0).In(time.FixedZone("", off)).Format("-07:00")
		}
		if name == "" {
			return utc
		}
		return name + ", " + utc
	}
	return name
}

// formatTime shows t in the console's zone, with the zone's abbreviation.
func (c *Console) formatTime(t time.Time) string {
	return t.In(c.zone()).Format(timeLayout)
}

// isoTime is t in RFC 3339 in the console's zone, for a <time datetime>.
func (c *Console) isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(c.zone()).Format(time.RFC3339)
}
