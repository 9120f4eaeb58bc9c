-- Timers name their run's contact, so that a due timer loads the contact's
-- state and active runs directly, without reading the run first.
ALTER TABLE timers ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE timers ADD COLUMN contact TEXT NOT NULL DEFAULT '';
