-- 0001: the vault. Frozen once shipped: later changes are new numbered files.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Where blobs may be written. The site is checked against the allowed list (LOC-1) when
-- the store is added and again before every write.
CREATE TABLE stores (
    name     TEXT PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('local')),
    site     TEXT NOT NULL,
    location TEXT NOT NULL,
    created  TEXT NOT NULL
) STRICT;

CREATE TABLE clients (
    slug    TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    created TEXT NOT NULL
) STRICT;

-- A dataset is 'pending' while its copies are being written, by the process holding the
-- lock file named after it; only 'active' datasets are listed. size and sha256 are set
-- when it becomes active.
CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    client      TEXT NOT NULL REFERENCES clients(slug),
    class       TEXT NOT NULL CHECK (class IN ('presales-sample', 'loading-data', 'backup', 'archive', 'export', 'other')),
    label       TEXT,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'active')),
    size        INTEGER,
    sha256      TEXT,
    recipient   TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    created     TEXT NOT NULL
) STRICT;
CREATE INDEX datasets_client ON datasets(client);

CREATE TABLE copies (
    dataset TEXT NOT NULL REFERENCES datasets(id),
    store   TEXT NOT NULL REFERENCES stores(name),
    object  TEXT NOT NULL,
    PRIMARY KEY (dataset, store)
) STRICT;
