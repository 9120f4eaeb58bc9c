-- Retention: the pruner (engine/prune.go) finds what is old through these
-- indexes, a small batch at a time. Location reports have their own
-- retention, so events are indexed by that class first. Messages need
-- none: their ids follow the order they were reserved in, and an index
-- that finished messages enter would cost every send.
CREATE INDEX events_age ON events ((kind = 'location_report'), received_at);
CREATE INDEX runs_ended ON runs (ended_at) WHERE ended_at != 0;
