-- Conversations and people (issue 14). A contact's one conversation is
-- kept with it, as JSON (engine.Conversation; '{}' for a conversation
-- never opened), so the events that touch a contact write nothing more
-- for it. Its status, operator and team are columns of their own ('' for
-- none), written with it, for the inbox's indexes. (They were generated
-- columns extracting them from the JSON: every contact write then parsed
-- it for each index, which cost the follow ingest 8% of its CPU.)
ALTER TABLE contacts ADD COLUMN conv TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN conv_status TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN conv_operator TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN conv_team TEXT NOT NULL DEFAULT '';
-- The inbox lists conversations newest interaction first: by status (and
-- the auto-close sweep, open ones oldest first), by operator and status,
-- by team and status (with the status in the index, an operator's or a
-- team's open ones are read in order, however many closed ones they
-- have). The indexes end with the primary key (account, id), so they
-- give the order (last_seen, account, id) of the inbox's cursor. They are
-- partial: a contact whose conversation never opened is in none of them,
-- so the events of contacts that never talked to people (most of them)
-- change no index entry when they move last_seen.
CREATE INDEX contacts_conv ON contacts (conv_status, last_seen) WHERE conv_status <> '';
CREATE INDEX contacts_conv_operator ON contacts (conv_operator, conv_status, last_seen) WHERE conv_operator <> '';
CREATE INDEX contacts_conv_team ON contacts (conv_team, conv_status, last_seen) WHERE conv_team <> '';

-- The transcript reads what a contact sent by the events' primary key:
-- dedupe keys start with the account and the contact (no index by contact
-- for every event to pay).

-- The entries of a transcript that are neither a message of the contact
-- nor one of the account: internal comments, changes (opened, assigned,
-- closed) with who made them, and the operator who sent a reply
-- (outbox_id). Ids grow in the order notes were added. Retention never
-- prunes them: comments are the team's record.
CREATE TABLE conv_notes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    account   TEXT NOT NULL,
    contact   TEXT NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    "by"      TEXT NOT NULL,
    text      TEXT NOT NULL,
    outbox_id INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conv_notes_contact ON conv_notes (account, contact, id);
