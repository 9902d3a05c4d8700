-- 0003: contracts, holds, and datasets that can be destroyed. Frozen once shipped.
-- Runs with foreign keys off (see catalog.rs): `datasets` is rebuilt to widen its states.
CREATE TABLE contracts (
    name               TEXT PRIMARY KEY,
    client             TEXT NOT NULL REFERENCES clients(slug),
    presales_until     TEXT,
    deal               TEXT NOT NULL CHECK (deal IN ('undecided', 'concluded', 'lost')),
    deal_on            TEXT,
    vsr_until          TEXT,
    ends               TEXT,
    custody_months     INTEGER NOT NULL CHECK (custody_months BETWEEN 0 AND 12),
    admin_window_until TEXT,
    created            TEXT NOT NULL
) STRICT;
CREATE INDEX contracts_client ON contracts(client);

-- 'destroying': the key is shredded, blobs are being deleted (a sweep that crashed here
-- finishes it next time). 'destroyed': no key, no blob; the row stays as the record.
CREATE TABLE datasets_new (
    id          TEXT PRIMARY KEY,
    client      TEXT NOT NULL REFERENCES clients(slug),
    class       TEXT NOT NULL CHECK (class IN ('presales-sample', 'loading-data', 'backup', 'archive', 'export', 'other')),
    label       TEXT,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'active', 'destroying', 'destroyed')),
    size        INTEGER,
    sha256      TEXT,
    recipient   TEXT NOT NULL,
    wrapped_key TEXT,
    created     TEXT NOT NULL,
    contract    TEXT REFERENCES contracts(name),
    destroyed   TEXT,
    rule        TEXT,
    clause      TEXT,
    event       INTEGER
) STRICT;
INSERT INTO datasets_new (id, client, class, label, state, size, sha256, recipient, wrapped_key, created)
    SELECT id, client, class, label, state, size, sha256, recipient, wrapped_key, created FROM datasets;
DROP TABLE datasets;
ALTER TABLE datasets_new RENAME TO datasets;
CREATE INDEX datasets_client ON datasets(client);
CREATE INDEX datasets_contract ON datasets(contract);
CREATE INDEX datasets_state_class ON datasets(state, class);

CREATE TABLE holds (
    dataset  TEXT NOT NULL REFERENCES datasets(id),
    held     TEXT NOT NULL,
    released TEXT,
    reason   TEXT NOT NULL
) STRICT;
CREATE INDEX holds_dataset ON holds(dataset);

-- Copies that left the vault: installed on a test machine, handed to a person, or given
-- back to the client (kind 'client': the client's, listed, never blocking a destruction).
CREATE TABLE out_copies (
    id          TEXT PRIMARY KEY,
    dataset     TEXT NOT NULL REFERENCES datasets(id),
    kind        TEXT NOT NULL CHECK (kind IN ('environment', 'client')),
    environment TEXT NOT NULL,
    holder      TEXT NOT NULL,
    created     TEXT NOT NULL,
    attested    TEXT,
    attested_by TEXT,
    method      TEXT
) STRICT;
CREATE INDEX out_copies_dataset ON out_copies(dataset);

-- Signed destruction certificates (gardien-certificate/v1 as a C2SP signed note).
CREATE TABLE certificates (
    id      TEXT PRIMARY KEY,
    dataset TEXT NOT NULL UNIQUE REFERENCES datasets(id),
    issued  TEXT NOT NULL,
    note    TEXT NOT NULL
) STRICT;

-- The sweeper's due query starts from these: contracts whose dates have passed, exports by
-- age, datasets half-destroyed (see `Catalog::sweep_candidates`).
CREATE INDEX contracts_presales ON contracts(presales_until);
CREATE INDEX contracts_deal_on ON contracts(deal_on);
CREATE INDEX contracts_vsr ON contracts(vsr_until);
CREATE INDEX contracts_ends ON contracts(ends);
CREATE INDEX datasets_contract_state ON datasets(contract, state, class);
CREATE INDEX datasets_state_created ON datasets(state, class, created);
