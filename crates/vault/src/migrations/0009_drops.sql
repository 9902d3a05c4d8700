-- 0009: the secure drop (issue 11). Frozen once shipped.
-- A drop is a one-file mailbox for one client's data, addressed to one technical operator
-- (PRE-3): a link (a 256-bit token) and a password (argon2id) open it (PRE-1, PRE-2). Its
-- dataset key is made when it is opened, kept wrapped to the master key like every other;
-- the sender encrypts to its public half, so nothing in clear ever reaches the operator.
CREATE TABLE drops (
    id           TEXT PRIMARY KEY,
    -- SHA-256 of the link's token, never the token.
    token_hash   TEXT NOT NULL UNIQUE,
    -- argon2id PHC string of the password.
    password     TEXT NOT NULL,
    client       TEXT NOT NULL REFERENCES clients(slug),
    contract     TEXT NOT NULL REFERENCES contracts(name),
    class        TEXT NOT NULL CHECK (class IN ('presales-sample', 'loading-data')),
    addressed_to TEXT NOT NULL REFERENCES persons(handle),
    created_by   TEXT NOT NULL,
    label        TEXT,
    max_size     INTEGER NOT NULL CHECK (max_size > 0),
    recipient    TEXT NOT NULL,
    -- Cleared when the drop ends: once received the key lives in the dataset's row only
    -- (so the sweeper's crypto-shredding leaves no other copy), and a drop that ended
    -- without a file keeps none.
    wrapped_key  TEXT,
    created      TEXT NOT NULL,
    expires      TEXT NOT NULL,
    -- open, received (its one file became `dataset`), revoked, expired.
    state        TEXT NOT NULL CHECK (state IN ('open', 'received', 'revoked', 'expired')),
    -- Wrong passwords in a row (five revoke the drop, PRE-2).
    failures     INTEGER NOT NULL DEFAULT 0,
    ended        TEXT,
    end_reason   TEXT,
    dataset      TEXT REFERENCES datasets(id)
) STRICT;
CREATE INDEX drops_client ON drops(client);

-- What a sender's password opens: an upload token (a bearer secret, kept as its SHA-256).
CREATE TABLE drop_sessions (
    hash     TEXT PRIMARY KEY,
    drop_id  TEXT NOT NULL REFERENCES drops(id),
    created  TEXT NOT NULL,
    address  TEXT NOT NULL
) STRICT;

-- tus uploads into a drop. Their bytes (ciphertext only) are files under the data dir's
-- `drops/`; the durable offset is in the upload's `.offset` file, not here (no catalog
-- write per chunk).
CREATE TABLE drop_uploads (
    id        TEXT PRIMARY KEY,
    drop_id   TEXT NOT NULL REFERENCES drops(id),
    -- NULL while deferred (Upload-Defer-Length).
    length    INTEGER,
    -- none, partial, final.
    concat    TEXT NOT NULL CHECK (concat IN ('none', 'partial', 'final')),
    -- A final concatenation's parts, space-separated upload ids.
    parts     TEXT,
    -- Upload-Metadata as the client sent it (base64 values: names of files stay encoded).
    metadata  TEXT,
    created   TEXT NOT NULL,
    expires   TEXT NOT NULL,
    -- receiving, complete (a whole upload received, or a part ready), terminated, expired,
    -- refused (not an age file for the drop's key, or one that failed authentication).
    state     TEXT NOT NULL CHECK (state IN ('receiving', 'complete', 'terminated', 'expired', 'refused')),
    ended     TEXT
) STRICT;
CREATE INDEX drop_uploads_drop ON drop_uploads(drop_id);
