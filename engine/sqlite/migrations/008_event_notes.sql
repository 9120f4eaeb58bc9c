-- Why an event started nothing and answered nothing (no trigger matched,
-- and how the nearest ones lost; an unknown menu key; ...), by event key:
-- the contact's timeline shows it. Only such events have a note, so the
-- events that start flows pay nothing for it. Retention prunes a note with
-- the events received before the cut.
CREATE TABLE event_notes (
    key     TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    contact TEXT NOT NULL,
    kind    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    why     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX event_notes_contact ON event_notes (account, contact, at);
CREATE INDEX event_notes_age ON event_notes (at);
