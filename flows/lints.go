package flows

import (
	"fmt"
	"path/filepath"
	"strings"
)

// lintCooldownHours warns about a cooldown on a flow whose first step is
// an hours step: every start counts, so a message in opening hours (when
// the flow may send nothing) keeps the after-hours answer from being sent
// for the whole cooldown.
func lintCooldownHours(p *parser, f *Flow) {
	if f.Cooldown <= 0 || len(f.Steps) == 0 || f.Steps[0].Kind != "hours" {
		return
	}
	var cooldownPos Pos
	if f.cooldownPos != (Pos{}) {
		cooldownPos = f.cooldownPos
	} else {
		cooldownPos = f.NamePos
	}
	d := FormatDuration(f.Cooldown)
	p.report(SeverityWarning, cooldownPos,
		fmt.Sprintf("move it: put the steps that should happen at most once every %s in a flow of their own with cooldown: %s and no triggers, and start: that flow from when_closed: (or when_open:) of the hours step at line %d", d, d, f.Steps[0].Pos.Line),
		fmt.Sprintf("cooldown counts every start, also those in the hours step's other branch: a message in opening hours uses the cooldown up, and the after-hours answer is then not sent for %s", d))
}

// lintFollowScan warns, at both triggers, where a flow's bare follow
// trigger loses to another flow's scan trigger for new followers who come
// through a QR code: such a follow is also a scan, and a scene (exact or a
// glob) is more specific than a bare follow, so at the same priority or
// above the scan flow starts and the follower never gets the welcome.
func lintFollowScan(flows []*Flow, report reportFunc) {
	for _, fw := range flows {
		if fw.Name == "" {
			continue
		}
		for _, follow := range fw.triggersParsed() {
			if follow.Kind != "follow" || follow.Arg != nil {
				continue
			}
			for _, fs := range flows {
				if fs == fw || fs.Name == "" || (fw.Account != "" && fs.Account != "" && fw.Account != fs.Account) {
					continue
				}
				for _, scan := range fs.triggersParsed() {
					scene, _ := scan.Arg.(string)
					if scan.Kind != "scan" || scene == "" || scan.Priority < follow.Priority || ownScan(fw, scene, scan.Priority) {
						continue
					}
					report(fw.File, follow.Pos, SeverityWarning,
						fmt.Sprintf("give this trigger a priority above %d (priority: %d) so that new followers land here whatever code they came through, or start: %s from %s", scan.Priority, scan.Priority+10, fw.Name, fs.Name),
						"a new follower who comes through a QR code whose scene matches %q starts flow %q (scan: %s at %s:%d) instead, and never gets this flow's welcome",
						scene, fs.Name, scene, relTo(fw.File, fs.File), scan.Pos.Line)
					report(fs.File, scan.Pos, SeverityWarning,
						fmt.Sprintf("give %s's follow trigger a priority above %d, or start: %s from this flow", fw.Name, scan.Priority, fw.Name),
						"a new follower who comes through this QR code starts this flow, not flow %q (follow at %s:%d): they never get its welcome",
						fw.Name, relTo(fs.File, fw.File), follow.Pos.Line)
				}
			}
		}
	}
}

// ownScan reports whether flow f has a scan trigger of its own for the
// same codes (the same scene, or every scene) at priority or above: a
// new follower through them lands in f or in a tie between the two
// scans, which checkTies warns of, not in the other flow alone.
func ownScan(f *Flow, scene string, priority int) bool {
	for _, t := range f.triggersParsed() {
		own, _ := t.Arg.(string)
		if t.Kind == "scan" && (own == scene || own == "*") && t.Priority >= priority {
			return true
		}
	}
	return false
}

// relTo names file as seen from beside from: its base name when both are
// in the same folder.
func relTo(from, file string) string {
	if filepath.Dir(from) == filepath.Dir(file) {
		return filepath.Base(file)
	}
	return file
}

// nameHint suggests a flow name from the file's name.
func nameHint(file string) string {
	stem := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	return fmt.Sprintf("every flow needs a unique name: lower-case letters, digits, _ and -, e.g. name: %s", suggestName(stem))
}
