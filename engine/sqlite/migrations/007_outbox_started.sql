-- The outbox entries whose sending started and is not finished: only they
-- can be `unknown` after a crash. A small table of in-flight ids, so that
-- recording a start costs one short insert (not a rewrite of the entry
-- and its index); an entry's outcome removes it.
CREATE TABLE outbox_started (id INTEGER PRIMARY KEY);
