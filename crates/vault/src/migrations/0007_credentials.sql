-- 0007: how people prove who they are to `gardien serve` (issue 10). Frozen once shipped.
-- Nothing here is a secret in clear but the TOTP seeds (the catalog is the owner's alone,
-- 0600): passwords are argon2id PHC strings, tokens and sessions their SHA-256.
CREATE TABLE credentials (
    handle        TEXT PRIMARY KEY REFERENCES persons(handle),
    -- argon2id, PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password      TEXT,
    password_set  TEXT,
    -- RFC 6238 seed, base32, once enrolment is confirmed (`totp_enrolled`); a seed being
    -- enrolled waits in `totp_pending` until a first code proves the person holds it.
    totp_secret   TEXT,
    totp_pending  TEXT,
    totp_enrolled TEXT,
    -- The last time step a code was accepted for: a code is accepted once (no replay).
    totp_last_step INTEGER,
    -- Consecutive failed sign-ins, and the temporary lock they set (NET-2).
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT
) STRICT;

-- API tokens: a bearer secret shown once; kept as its SHA-256.
CREATE TABLE tokens (
    id       TEXT PRIMARY KEY,
    hash     TEXT NOT NULL UNIQUE,
    handle   TEXT NOT NULL REFERENCES persons(handle),
    label    TEXT,
    created  TEXT NOT NULL,
    expires  TEXT,
    revoked  TEXT
) STRICT;
CREATE INDEX tokens_handle ON tokens(handle);

-- Portal sessions: a random secret in a __Host- cookie, kept as its SHA-256.
CREATE TABLE sessions (
    hash      TEXT PRIMARY KEY,
    handle    TEXT NOT NULL REFERENCES persons(handle),
    created   TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    -- The absolute end; idle expiry counts from last_seen.
    expires   TEXT NOT NULL,
    -- 'password' once the password was checked, 'full' once the second factor was too (or
    -- when none is needed).
    level     TEXT NOT NULL CHECK (level IN ('password', 'full')),
    -- The anti-CSRF token of this session's forms.
    csrf      TEXT NOT NULL,
    ended     TEXT
) STRICT;
CREATE INDEX sessions_handle ON sessions(handle);
