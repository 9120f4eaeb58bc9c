-- A claim (claimed_by) becomes a heap-only (HOT) update, as a start mark
-- is (migration 007): no index holds claimed_by any more, in its columns
-- or its predicate. The index of messages to claim holds every pending
-- message but those held back by a pause (reason paused, claimed while
-- held); a claim reads it in claim order past the few claimed in the
-- rounds under way. Each message's claim rewrote the row with an entry
-- in each of the table's indexes: 10 µs a message, a tenth of the
-- server's statement time end to end.
DROP INDEX outbox_unclaimed;
CREATE INDEX outbox_unclaimed ON outbox (created_at, id) WHERE status = 'pending' AND reason <> 'paused';
-- Room on each page for a message's claim and start versions besides its
-- own (an update is heap-only only where its page has room): at 70, 36%
-- of the outbox's updates were heap-only in wxflow bench (3,000
-- followers, mixed, one node); at 50, 63%. The outbox takes about twice
-- the pages for it.
ALTER TABLE outbox SET (fillfactor = 50);
