// Package postgres is engine.Store on PostgreSQL (github.com/jackc/pgx/v5):
// one writer connection (the engine writes from one goroutine) and a pool
// of readers, migrations embedded in the binary and applied at open under
// an advisory lock (one of several nodes migrates; a database migrated by
// a newer wxflow is refused), then ANALYZE of the tables that hold rows.
// It passes engine/storetest.
//
// Connections plan every execution (plan_cache_mode=force_custom_plan,
// unless the URL sets plan_cache_mode): a prepared statement's generic
// plan, chosen from its sixth execution, is made for the tables as they
// were then (tiny, on a fresh database: sequential scans) and kept while
// they grow, until autovacuum analyzes them.
//
// It keeps round trips low. Writes whose result the engine does not need
// (PutContact, PutSession, InsertRun with an ID, UpdateRun, SetTimer,
// FinishOutbox, ...) are queued and go to the server together with the
// next statement whose answer is needed, or with COMMIT: BEGIN, the
// writes and COMMIT of a transaction without reads are one round trip.
// Outbox ids come from a sequence a block at a time, so InsertOutbox is
// such a write too. AddEvent reads the event's contact (with its
// session) in its own round trip, for the Contact call the engine makes
// next. Reads of many contacts are set-based (unnest), and ClaimOutbox is
// one statement. A follow event that starts a one-send flow thus costs
// one round trip. A queued write that fails makes the
// transaction fail: the error is returned by the call that sends it
// (without matching engine.ErrNotFound there) and by Update; text is
// checked for what PostgreSQL refuses (invalid UTF-8, NUL bytes) by the
// call itself.
//
// Times are Unix nanoseconds in bigint columns, as in SQLite; run state
// uses the engine's codec (engine.AppendState, engine.DecodeState); JSON
// is stored as text.
package postgres
