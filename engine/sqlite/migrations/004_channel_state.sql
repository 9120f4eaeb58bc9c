-- What a channel keeps across restarts: access tokens, and the ids of
-- uploaded temporary media, each until it expires.
CREATE TABLE channel_state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    expires INTEGER NOT NULL
);
