-- The outbox claim cursor: every pending entry whose id is at most
-- `claimed` is being sent. Claiming a batch is one write to this row
-- instead of one per message; a restart turns claimed entries that are
-- still pending into `unknown`.
CREATE TABLE outbox_cursor (
    k       INTEGER PRIMARY KEY CHECK (k = 0),
    claimed INTEGER NOT NULL
);
INSERT INTO outbox_cursor (k, claimed) VALUES (0, 0);
