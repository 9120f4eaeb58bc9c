-- Files kept for the messages that name them (channels.Media.Upload): the
-- images operators upload in the console to reply with, in the database
-- rather than on the disk of the node that took them, so that the node
-- that sends the message and every node's console read them. key is the
-- SHA-256 of data in hex, a dot and the extension. The pruner deletes
-- those older than the messages' retention that no pending message names.
CREATE TABLE uploads (
    key        text COLLATE "C" PRIMARY KEY,
    data       bytea NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX uploads_age ON uploads (created_at);
