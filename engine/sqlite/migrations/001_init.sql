-- wxflow's store, version 1. Times are Unix nanoseconds (UTC).

CREATE TABLE flow_versions (
    version   TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    file      TEXT NOT NULL,
    source    BLOB NOT NULL,
    loaded_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE contacts (
    account    TEXT NOT NULL,
    id         TEXT NOT NULL,
    followed   INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    tags       TEXT NOT NULL DEFAULT '[]',
    fields     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (account, id)
) WITHOUT ROWID;

CREATE TABLE sessions (
    account TEXT NOT NULL,
    contact TEXT NOT NULL,
    followed INTEGER NOT NULL,
    last     INTEGER NOT NULL,  -- last interaction that opened the window, 0 for none
    kind     INTEGER NOT NULL,  -- channels.Interaction of it
    used     INTEGER NOT NULL,  -- replies sent since
    closed   INTEGER NOT NULL,  -- the platform said it is closed
    PRIMARY KEY (account, contact)
) WITHOUT ROWID;

CREATE TABLE events (
    key         TEXT PRIMARY KEY,
    account     TEXT NOT NULL,
    contact     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    account    TEXT NOT NULL,
    contact    TEXT NOT NULL,
    flow       TEXT NOT NULL,
    version    TEXT NOT NULL,
    status     TEXT NOT NULL,
    pos        TEXT NOT NULL,
    step       TEXT NOT NULL,
    state      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ended_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_active ON runs (account, contact) WHERE ended_at = 0;
CREATE INDEX runs_flow ON runs (account, contact, flow, started_at);

CREATE TABLE timers (
    run_id INTEGER PRIMARY KEY,
    seq    INTEGER NOT NULL,
    due    INTEGER NOT NULL
);
CREATE INDEX timers_due ON timers (due, run_id);

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL,
    account    TEXT NOT NULL,
    contact    TEXT NOT NULL,
    message    TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    code       INTEGER NOT NULL DEFAULT 0,
    detail     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_open ON outbox (status, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_contact ON outbox (account, contact, id);

CREATE TABLE schedules (
    key TEXT PRIMARY KEY,
    due INTEGER NOT NULL
) WITHOUT ROWID;
