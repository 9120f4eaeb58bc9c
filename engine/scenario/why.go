package scenario

// WhyPrefix starts a transcript line that says why an action started no
// flow and answered no run.
const WhyPrefix = "    why nothing: "

// whyNotes adds to the transcript the event notes the last action left:
// why its event started nothing.
func (r *runner) whyNotes() {
	notes, err := r.sb.Notes(r.ctx, r.contact)
	if err != nil {
		r.notes = append(r.notes, note{after: r.lastID(), text: "    (cannot read why: " + err.Error() + ")"})
		return
	}
	for _, n := range notes[min(r.whySeen, len(notes)):] {
		r.notes = append(r.notes, note{after: r.lastID(), text: WhyPrefix + n.Why})
	}
	r.whySeen = len(notes)
}
