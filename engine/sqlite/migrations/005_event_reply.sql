-- The passive reply given to a callback: the outbox id of the message the
-- answer carried (0 for none). WeChat retries a callback whose answer it
-- did not get; the retry is answered with the same reply.
ALTER TABLE events ADD COLUMN reply INTEGER NOT NULL DEFAULT 0;
