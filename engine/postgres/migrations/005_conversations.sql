-- Conversations and people (issue 14), as SQLite's migration 009. A
-- contact's one conversation is kept with it, as JSON text
-- (engine.Conversation; '{}' for a conversation never opened), so the
-- events that touch a contact write nothing more for it. Its status,
-- operator and team ('' for none) are columns of their own for the
-- inbox's indexes, written by the store with conv (not generated from it:
-- PostgreSQL's JSON functions refuse a string holding \u0000, which an
-- operator's closing note may hold, and parsing conv on every write of a
-- contact would cost the hot path).
ALTER TABLE contacts ADD COLUMN conv text NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN conv_status text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN conv_operator text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN conv_team text COLLATE "C" NOT NULL DEFAULT '';
-- conv_seen is last_seen for a contact whose conversation opened at least
-- once (conv_status not ''), 0 for the others: the inbox's indexes order
-- by it rather than by last_seen, so that the update of a contact that
-- never talked to people (most events) changes no indexed column and can
-- stay a HOT update, as before this migration (an index on last_seen,
-- even a partial one, would make every update of a contact write every
-- index of the table).
ALTER TABLE contacts ADD COLUMN conv_seen bigint NOT NULL DEFAULT 0;
-- The inbox lists conversations newest interaction first, in the order
-- (last_seen, account, id) of its cursor: by status (and the auto-close
-- sweep, open ones oldest first), by operator and status, by team and
-- status. With the status in the index, an operator's or a team's open
-- ones are read in order whatever the planner estimates (it takes
-- operator and status for independent, while an assigned conversation is
-- mostly open: it planned a sort of a team's every conversation). The
-- indexes are partial: a contact whose conversation never opened is in
-- none of them.
CREATE INDEX contacts_conv ON contacts (conv_status, conv_seen, account, id) WHERE conv_status <> '';
CREATE INDEX contacts_conv_operator ON contacts (conv_operator, conv_status, conv_seen, account, id) WHERE conv_operator <> '';
CREATE INDEX contacts_conv_team ON contacts (conv_team, conv_status, conv_seen, account, id) WHERE conv_team <> '';

-- The transcript reads what a contact sent by the events' primary key:
-- dedupe keys start with the account and the contact (no index by contact
-- for every event to pay).

-- The entries of a transcript that are neither a message of the contact
-- nor one of the account: internal comments, changes (opened, assigned,
-- closed) with who made them, and the operator who sent a reply
-- (outbox_id). Ids grow in the order notes were added. Retention never
-- prunes them: comments are the team's record.
CREATE TABLE conv_notes (
    id        bigserial PRIMARY KEY,
    account   text COLLATE "C" NOT NULL,
    contact   text COLLATE "C" NOT NULL,
    at        bigint NOT NULL,
    kind      text NOT NULL,
    "by"      text NOT NULL,
    text      text NOT NULL,
    outbox_id bigint NOT NULL DEFAULT 0
);
CREATE INDEX conv_notes_contact ON conv_notes (account, contact, id);
