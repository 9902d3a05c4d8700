-- Server access (issue 13): the catalog of maneuvers (ACC-2), the bastion (ACC-4), each
-- client's user CA, and the grants an approved server-access request gives (ACC-3).

-- A maneuver never changes once added: an approval names maneuvers by id, and the signer
-- decided on what the id said then.
CREATE TABLE maneuvers (
    id          TEXT PRIMARY KEY,
    program     TEXT NOT NULL,
    fixed       TEXT NOT NULL,   -- JSON: the fixed leading arguments
    args        TEXT NOT NULL,   -- JSON: [[NAME, PATTERN], ...]
    max_ttl     INTEGER NOT NULL CHECK (max_ttl > 0),
    description TEXT NOT NULL,
    created     TEXT NOT NULL,
    created_by  TEXT NOT NULL
) STRICT;

-- The one bastion: where people connect, where it connects from, its account, and the
-- maneuvers' account and runner on dedicated servers.
CREATE TABLE bastion (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    site         TEXT NOT NULL,
    address      TEXT NOT NULL,
    egress       TEXT NOT NULL,
    login        TEXT NOT NULL,
    target_login TEXT NOT NULL,
    runner       TEXT NOT NULL,
    updated      TEXT NOT NULL
) STRICT;

-- A client's user CA: its public line, and its private key as an armored age file to the
-- master key.
CREATE TABLE client_cas (
    client  TEXT PRIMARY KEY REFERENCES clients(slug),
    public  TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    created TEXT NOT NULL
) STRICT;

-- A grant: two certificates for one person's key, one approval, one server, one window.
CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    approval     TEXT NOT NULL REFERENCES approvals(id),
    client       TEXT NOT NULL REFERENCES clients(slug),
    server       TEXT NOT NULL REFERENCES servers(name),
    person       TEXT NOT NULL REFERENCES persons(handle),
    key          TEXT NOT NULL,   -- SHA256:... of the person's key
    serial       INTEGER NOT NULL,
    valid_after  TEXT NOT NULL,
    valid_before TEXT NOT NULL,
    revoked_at   TEXT,
    revoked_by   TEXT,
    created      TEXT NOT NULL
) STRICT;
CREATE INDEX grants_client ON grants(client);
CREATE INDEX grants_approval ON grants(approval);

-- Each maneuver run through a grant: started, ended (NULL: running, or killed), its status.
CREATE TABLE maneuver_runs (
    id       TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants(id),
    maneuver TEXT NOT NULL,
    argv     TEXT NOT NULL,   -- JSON
    started  TEXT NOT NULL,
    ended    TEXT,
    status   INTEGER
) STRICT;
CREATE INDEX maneuver_runs_grant ON maneuver_runs(grant_id);
