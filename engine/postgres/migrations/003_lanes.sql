-- Several nodes on one database. Contacts are split into 256 lanes (a
-- hash of account and OpenID, computed by wxflow: engine.LaneOf); each
-- lane is held by one node, whose lease (nodes.expires, Unix nanoseconds
-- of the database's clock) every write transaction of the node checks.
CREATE TABLE nodes (
    id      text COLLATE "C" PRIMARY KEY,
    name    text NOT NULL,
    joined  bigint NOT NULL,
    expires bigint NOT NULL
);

-- owner: the node holding the lane, '' for none. A lane whose owner has
-- no row in nodes (its lease expired and was reaped) is free.
CREATE TABLE lanes (
    lane  integer PRIMARY KEY,
    owner text COLLATE "C" NOT NULL DEFAULT ''
);
INSERT INTO lanes (lane) SELECT generate_series(0, 255);

-- Rows name their lane (-1 until wxflow computed it, at the end of this
-- migration). An outbox entry is claimed by a node (claimed_by, '' for
-- unclaimed) instead of the single claim cursor: nodes claim their lanes'
-- messages, and the node taking a dead node's lanes releases its claims.
ALTER TABLE outbox ADD COLUMN lane integer NOT NULL DEFAULT -1;
ALTER TABLE outbox ADD COLUMN claimed_by text COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX outbox_unclaimed ON outbox (lane, created_at, id) WHERE status = 'pending' AND claimed_by = '';
ALTER TABLE timers ADD COLUMN lane integer NOT NULL DEFAULT -1;
CREATE INDEX timers_lane ON timers (lane, due);
DROP TABLE outbox_cursor;

-- Work for a contact whose lane another node holds, in the order it was
-- queued: events received by another node, a schedule's firing, a flow
-- started through the API. key dedupes events (NULL for the others).
CREATE TABLE queue (
    id        bigserial PRIMARY KEY,
    lane      integer NOT NULL,
    kind      text NOT NULL,
    key       text COLLATE "C" UNIQUE,
    item      text NOT NULL,
    queued_at bigint NOT NULL
);
CREATE INDEX queue_lane ON queue (lane, id);

-- The fence every write transaction of a node starts with: it locks the
-- node's row until the transaction ends (a node reaping an expired lease
-- waits for it) and fails the transaction, on the server, when the lease
-- expired or was reaped: nothing after it can commit.
CREATE FUNCTION wxflow_fence(node text, now bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM nodes WHERE id = node AND expires > now FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wxflow: node % lost its lease', node USING ERRCODE = 'WXFNC';
    END IF;
END $$;
