package engine

import "time"

// EventLister is a ReadTx that lists the inbound events a contact sent,
// as recorded for dedupe and history (until retention prunes them). Both
// stores' read transactions implement it; `wxflow export-test` turns a
// contact's events into a test's script.
type EventLister interface {
	// ContactEvents returns up to limit events of a contact received at
	// or after since, oldest first (in the order recorded).
	ContactEvents(account, contact string, since time.Time, limit int) ([]*EventRecord, error)
}

// FlowVersionLister is a ReadTx that lists every stored flow version.
// Both stores' read transactions implement it; `wxflow plan` compares
// them with a flows folder.
type FlowVersionLister interface {
	// FlowVersions returns every stored flow version with its source,
	// the most recently first stored first.
	FlowVersions() ([]*FlowVersion, error)
}
