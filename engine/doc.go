// Package engine is wxflow's runtime: it ingests events, keeps contacts,
// sessions, runs, timers and the outbox in the SQLite store, runs steps
// until a run suspends or ends, and applies flow versions and reloads.
// Nothing imports engine but cmd.
package engine
