package scenario

// WhyPrefix starts a transcript line that says why an action started no
// flow and answered no run.
const WhyPrefix = "    why nothing: "

// whyState is what of the engine's notes and the runs' skipped steps the
// transcript has.
type whyState struct {
	notes int
	trail map[int64]int
	// starts is what of the runs' trails NotStarted has looked at.
	starts map[int64]int
}

// whyNotes adds to the transcript the event notes the last action left
// (why its event started nothing), the steps its runs skipped because
// their if: was false, and the flows their start steps could not start
// (cooldown, reentry).
func (r *runner) whyNotes() {
	// A skip before its run's first message goes after the action.
	var action int64
	if len(r.notes) > 0 {
		action = r.notes[len(r.notes)-1].after
	}
	notes, err := r.sb.Notes(r.ctx, r.contact)
	if err != nil {
		r.notes = append(r.notes, note{after: r.lastID(), text: "    (cannot read why: " + err.Error() + ")"})
		return
	}
	for _, n := range notes[min(r.why.notes, len(notes)):] {
		r.notes = append(r.notes, note{after: r.lastID(), text: WhyPrefix + n.Why})
	}
	r.why.notes = len(notes)
	if r.why.trail == nil {
		r.why.trail = map[int64]int{}
	}
	skips, err := r.sb.Skips(r.ctx, r.contact, r.why.trail)
	if err != nil {
		r.notes = append(r.notes, note{after: r.lastID(), text: "    (cannot read the runs: " + err.Error() + ")"})
		return
	}
	for _, s := range skips {
		r.notes = append(r.notes, note{after: max(s.After, action), text: "    skipped " + s.Step + " of " + s.Flow + ": its if: is false"})
	}
	if r.why.starts == nil {
		r.why.starts = map[int64]int{}
	}
	blocked, err := r.sb.NotStarted(r.ctx, r.contact, r.why.starts)
	if err != nil {
		r.notes = append(r.notes, note{after: r.lastID(), text: "    (cannot read the runs: " + err.Error() + ")"})
		return
	}
	for _, b := range blocked {
		r.notes = append(r.notes, note{after: max(b.After, action), text: "    " + b.Step + " of " + b.Flow + " " + b.Why})
	}
}
