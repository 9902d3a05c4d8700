-- 0004: the people who act. Frozen once shipped.
-- Roles (issue 5): ops, technical-operator, sales (the operator's staff, no client);
-- client-admin, client-signer, client-tech, third-party (each of exactly one client).
CREATE TABLE persons (
    handle   TEXT PRIMARY KEY,
    role     TEXT NOT NULL CHECK (role IN ('ops', 'technical-operator', 'sales', 'client-admin', 'client-signer', 'client-tech', 'third-party')),
    client   TEXT REFERENCES clients(slug),
    name     TEXT,
    disabled TEXT,
    created  TEXT NOT NULL,
    CHECK ((role IN ('ops', 'technical-operator', 'sales')) = (client IS NULL))
) STRICT;
-- `init` registers the person 'operator' (role ops): the CLI acts as it unless told otherwise.
