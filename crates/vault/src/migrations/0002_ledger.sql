-- 0002: the ledger. Frozen once shipped.
-- Entries are the canonical bytes the leaves hash; they hold ids and commitments only.
CREATE TABLE ledger_entries (
    idx   INTEGER PRIMARY KEY,
    entry BLOB NOT NULL
) STRICT;

-- The hash of every complete, aligned subtree: level l, index i covers the entries
-- [i * 2^l, (i + 1) * 2^l). Proofs read O(log n) of them.
CREATE TABLE ledger_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Every checkpoint signed, so that none is ever signed inconsistent with an earlier one.
CREATE TABLE ledger_checkpoints (
    size    INTEGER PRIMARY KEY,
    note    TEXT NOT NULL,
    created TEXT NOT NULL
) STRICT;

-- What an entry commits to (labels, paths, reasons: things that may be personal data)
-- lives here, with its salt, and can be erased without touching the log.
CREATE TABLE event_details (
    idx     INTEGER PRIMARY KEY,
    salt    BLOB NOT NULL,
    details TEXT NOT NULL
) STRICT;
