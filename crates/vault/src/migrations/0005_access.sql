-- 0005: where copies may go, the client's approvals, and who a sample is addressed to.
-- Frozen once shipped.

-- A pre-sales sample is addressed to one technical operator (PRE-3) and keeps its
-- original provider, who decides its re-use elsewhere (PRE-4).
ALTER TABLE datasets ADD COLUMN addressed_to TEXT REFERENCES persons(handle);
ALTER TABLE datasets ADD COLUMN provider TEXT;

-- Where a copy may go (PRE-5: samples only to 'local-test').
CREATE TABLE environments (
    name    TEXT PRIMARY KEY,
    kind    TEXT NOT NULL CHECK (kind IN ('local-test', 'online')),
    holder  TEXT REFERENCES persons(handle),
    created TEXT NOT NULL
) STRICT;

-- Requests that need the client, and the client signer's decision. The scope never
-- changes after the request (no UPDATE touches it; a trigger refuses one).
CREATE TABLE approvals (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('disclosure', 'observation', 'material-reuse', 'sample-reuse', 'server-access')),
    client     TEXT NOT NULL REFERENCES clients(slug),
    scope      TEXT NOT NULL,
    requester  TEXT NOT NULL REFERENCES persons(handle),
    for_handle TEXT REFERENCES persons(handle),
    server     TEXT,
    maneuvers  TEXT,
    until      TEXT,
    status     TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'refused', 'revoked')),
    decided_by TEXT REFERENCES persons(handle),
    decided_at TEXT,
    comment    TEXT,
    revoked_at TEXT,
    -- When a signer of the client was shown the request in full (CONF-4: before deciding).
    shown_at   TEXT,
    created    TEXT NOT NULL
) STRICT;
-- The policy asks for the approvals of one client, for one person or for anyone.
CREATE INDEX approvals_client_for ON approvals(client, for_handle, status);
CREATE TRIGGER approvals_scope_frozen BEFORE UPDATE OF scope, kind, client, requester, for_handle, server, maneuvers, until ON approvals
BEGIN
    SELECT RAISE(ABORT, 'the scope of an approval cannot change after the request');
END;

-- The datasets an approval covers; none listed: all of the client's.
CREATE TABLE approval_datasets (
    approval TEXT NOT NULL REFERENCES approvals(id),
    dataset  TEXT NOT NULL REFERENCES datasets(id),
    PRIMARY KEY (approval, dataset)
) STRICT;
CREATE INDEX approval_datasets_dataset ON approval_datasets(dataset);
