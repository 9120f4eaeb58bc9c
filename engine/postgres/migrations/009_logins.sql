-- The console's login sessions, so that a login outlives a restart and
-- works on every node. A row holds nothing that lets anyone in: id is the
-- SHA-256 of the cookie's value, and credential an HMAC of the token
-- logged in with, keyed with the cookie's value.
CREATE TABLE console_logins (
    id         bytea PRIMARY KEY,
    operator   text NOT NULL,
    credential bytea NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX console_logins_expiry ON console_logins (expires_at);
