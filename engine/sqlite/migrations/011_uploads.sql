-- Files kept for the messages that name them (channels.Media.Upload): the
-- images operators upload in the console to reply with. key is the SHA-256
-- of data in hex, a dot and the extension. The pruner deletes those older
-- than the messages' retention that no pending message names.
CREATE TABLE uploads (
    key        TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX uploads_age ON uploads (created_at);
