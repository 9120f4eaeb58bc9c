-- Run ids come from a sequence: every process using the database takes
-- ids no other took (in blocks, as the outbox's).
CREATE SEQUENCE run_ids;
SELECT setval('run_ids', (SELECT coalesce(max(id), 0) + 1 FROM runs), false);
