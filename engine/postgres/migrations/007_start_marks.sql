-- A message about to be sent is marked started (the only kind that can be
-- `unknown` after its node stops) by a flag that no index holds, instead
-- of its status going from pending to sending. Changing status rewrote
-- the row with an entry in each of the table's indexes (it is in two of
-- them); the flag's update is a heap-only (HOT) one where the row's page
-- has room, which the fill factor leaves for it and for the claim's new
-- version: the three updates of each message (claim, start, outcome)
-- were half of the server's time in a follow ingest. An entry is
-- `sending` while status is pending and started (or, written before this
-- migration, status is sending); an outcome, or a message put back
-- (held by a pause), clears the flag.
ALTER TABLE outbox ADD COLUMN started boolean NOT NULL DEFAULT false;
ALTER TABLE outbox SET (fillfactor = 70);
