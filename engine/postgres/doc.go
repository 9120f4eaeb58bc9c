// Package postgres is engine.Store on PostgreSQL (github.com/jackc/pgx/v5):
// one writer connection (the engine writes from one goroutine) and a pool
// of readers, migrations embedded in the binary and applied at open under
// an advisory lock (one of several nodes migrates; a database migrated by
// a newer wxflow is refused), then ANALYZE of the tables that hold rows.
// It passes engine/storetest.
//
// Connections keep PostgreSQL's plan cache mode (auto, unless the URL
// sets plan_cache_mode): a prepared statement's generic plan, chosen from
// its sixth execution, finds rows by key because the statements are
// written so (arrays unnested into LATERAL lookups, id = ANY) and empty
// tables are not analyzed after migrating; planning every execution
// (force_custom_plan) cost the server a fifth of its time end to end.
//
// It keeps round trips low and works set-based. Writes whose result the
// engine does not need (PutContact, PutSession, InsertRun, UpdateRun,
// SetTimer, DeleteTimer, InsertOutbox, FinishOutbox, StartOutbox) are
// buffered by table, the writes of one row merged in their order, and
// go to the server as one multi-row statement per kind (arrays unnested
// into rows) with the next statement whose answer is needed, or with
// COMMIT: BEGIN, the writes and COMMIT of a transaction without reads
// are one round trip. Contacts and sessions that the transaction read
// and found absent, when all its buffered ones are, go in by a plain
// INSERT instead of an upsert (only the node holding a contact's lane
// writes it; a row there after all fails the commit, and the engine runs
// the batch's jobs again one by one). Run and outbox ids come from sequences a block at
// a time. Its transactions are engine.BatchTx: the writer records a
// batch's events in one statement (AddEvents), which reads their
// contacts, sessions and active runs in the same round trip into a cache
// that the transaction's writes keep up to date, so the jobs' reads of
// them cost none. A node (a store that joined) keeps what its committed
// transactions knew of those contacts for its next ones (cache.go): a
// batch reads ahead only the contacts it does not hold. A batch of follow events that each start a one-send
// flow thus costs two round trips, whatever its size: on a node, the take
// of other nodes' queued work for its lanes goes in the first
// (engine.QueueAheadTx), and a transaction that leaves fewer than 128 run
// or outbox ids takes the next block of 256 with its commit (one more
// round trip only for a batch that needs more ids than were left). Reads of many contacts are set-based
// (unnest), and ClaimOutbox is one statement. A buffered write that
// fails makes the transaction fail: the error is returned by the call
// that sends it (without matching engine.ErrNotFound there) and by
// Update; text is checked for what PostgreSQL refuses (invalid UTF-8,
// NUL bytes) by the call itself.
//
// Times are Unix nanoseconds in bigint columns, as in SQLite; run state
// uses the engine's codec (engine.AppendState, engine.DecodeState); JSON
// is stored as text.
package postgres
