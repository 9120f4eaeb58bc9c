-- A node claims the oldest unclaimed pending messages of its lanes, by
-- (created_at, id). Indexed by lane first, the claim read every unclaimed
-- message of its lanes and sorted them: with a backlog of 12,000 a claim
-- of 512 spent 4 ms reading and sorting (auto_explain). In claim order,
-- it reads as many as it claims, plus those of other nodes' lanes among
-- them.
DROP INDEX outbox_unclaimed;
CREATE INDEX outbox_unclaimed ON outbox (created_at, id) WHERE status = 'pending' AND claimed_by = '';
