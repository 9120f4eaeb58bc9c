-- wxflow's store on PostgreSQL, version 1: the tables of the SQLite store
-- (engine/sqlite/migrations 001 to 006) in one step. Times are Unix
-- nanoseconds (UTC) in bigint columns, 0 for none. Keys and the text the
-- store orders by compare byte by byte (COLLATE "C"), as SQLite's do. JSON
-- (tags, fields, run state, messages, event payloads) is kept as text: the
-- store writes and reads it whole, and never queries inside it.

CREATE TABLE flow_versions (
    version   text COLLATE "C" PRIMARY KEY,
    name      text NOT NULL,
    file      text NOT NULL,
    source    bytea NOT NULL,
    loaded_at bigint NOT NULL
);

CREATE TABLE contacts (
    account    text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    followed   boolean NOT NULL,
    first_seen bigint NOT NULL,
    last_seen  bigint NOT NULL,
    tags       text NOT NULL DEFAULT '[]',
    fields     text NOT NULL DEFAULT '{}',
    PRIMARY KEY (account, id)
);

CREATE TABLE sessions (
    account  text COLLATE "C" NOT NULL,
    contact  text COLLATE "C" NOT NULL,
    followed boolean NOT NULL,
    last     bigint NOT NULL,   -- last interaction that opened the window, 0 for none
    kind     integer NOT NULL,  -- channels.Interaction of it
    used     integer NOT NULL,  -- replies sent since
    closed   boolean NOT NULL,  -- the platform said it is closed
    PRIMARY KEY (account, contact)
);

-- reply: the outbox id of the passive reply the callback's answer carried
-- (0 for none); WeChat's retry is answered with the same reply.
CREATE TABLE events (
    key         text COLLATE "C" PRIMARY KEY,
    account     text NOT NULL,
    contact     text NOT NULL,
    kind        text NOT NULL,
    payload     text NOT NULL,
    received_at bigint NOT NULL,
    reply       bigint NOT NULL DEFAULT 0
);
-- Retention finds old events by class (location reports have their own).
CREATE INDEX events_age ON events ((kind = 'location_report'), received_at);

-- Run ids are given by the engine (or max + 1, as SQLite's rowids).
CREATE TABLE runs (
    id         bigint PRIMARY KEY,
    account    text COLLATE "C" NOT NULL,
    contact    text COLLATE "C" NOT NULL,
    flow       text COLLATE "C" NOT NULL,
    version    text COLLATE "C" NOT NULL,
    status     text COLLATE "C" NOT NULL,
    pos        text COLLATE "C" NOT NULL,
    step       text COLLATE "C" NOT NULL,
    state      text NOT NULL,
    seq        bigint NOT NULL,
    started_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    ended_at   bigint NOT NULL DEFAULT 0
);
CREATE INDEX runs_active ON runs (account, contact) WHERE ended_at = 0;
CREATE INDEX runs_flow ON runs (account, contact, flow, started_at);
CREATE INDEX runs_ended ON runs (ended_at) WHERE ended_at <> 0;

-- A timer names its run's contact, so that a due timer loads the
-- contact's state and active runs directly.
CREATE TABLE timers (
    run_id  bigint PRIMARY KEY,
    seq     bigint NOT NULL,
    due     bigint NOT NULL,
    account text NOT NULL DEFAULT '',
    contact text NOT NULL DEFAULT ''
);
CREATE INDEX timers_due ON timers (due, run_id);

-- Outbox ids come from a sequence, a block at a time (the writer takes
-- them in order, so ids follow the order messages were reserved in); a
-- sequence never gives an id out twice.
CREATE SEQUENCE outbox_ids;
CREATE TABLE outbox (
    id         bigint PRIMARY KEY DEFAULT nextval('outbox_ids'),
    run_id     bigint NOT NULL,
    account    text COLLATE "C" NOT NULL,
    contact    text COLLATE "C" NOT NULL,
    message    text NOT NULL,
    status     text COLLATE "C" NOT NULL,
    reason     text COLLATE "C" NOT NULL DEFAULT '',
    code       integer NOT NULL DEFAULT 0,
    detail     text NOT NULL DEFAULT '',
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
ALTER SEQUENCE outbox_ids OWNED BY outbox.id;
CREATE INDEX outbox_open ON outbox (status, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_contact ON outbox (account, contact, id);

-- The outbox claim cursor: every pending entry whose id is at most
-- claimed is being sent (held entries, reason paused, excepted).
CREATE TABLE outbox_cursor (
    k       integer PRIMARY KEY CHECK (k = 0),
    claimed bigint NOT NULL
);
INSERT INTO outbox_cursor (k, claimed) VALUES (0, 0);

CREATE TABLE schedules (
    key text COLLATE "C" PRIMARY KEY,
    due bigint NOT NULL
);

-- What a channel keeps across restarts (access tokens, uploaded media
-- ids), each until it expires.
CREATE TABLE channel_state (
    key     text COLLATE "C" PRIMARY KEY,
    value   text NOT NULL,
    expires bigint NOT NULL
);
