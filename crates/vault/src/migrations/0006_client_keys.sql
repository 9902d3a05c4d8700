-- 0006: the client's own age keys (OPS-2: an export goes only to a key the client's admin
-- registered; anything else is a copy out). Frozen once shipped.
CREATE TABLE client_keys (
    client     TEXT NOT NULL REFERENCES clients(slug),
    -- An age X25519 recipient (age1...), as the client gave it.
    recipient  TEXT NOT NULL,
    label      TEXT,
    added      TEXT NOT NULL,
    added_by   TEXT NOT NULL REFERENCES persons(handle),
    -- A removed key takes no new export; it stays listed as removed (PROOF-1).
    removed    TEXT,
    removed_by TEXT REFERENCES persons(handle),
    PRIMARY KEY (client, recipient)
) STRICT;
