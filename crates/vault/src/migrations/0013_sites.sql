-- Moodle sites (issue 12): where a client's site lives, so that it is handed back whole
-- (OPS-2) and backed up into the vault (ARC-1). The database URL never holds a password.
CREATE TABLE sites (
    slug        TEXT PRIMARY KEY,
    client      TEXT NOT NULL REFERENCES clients(slug),
    contract    TEXT NOT NULL REFERENCES contracts(name),
    db_url      TEXT NOT NULL,
    moodledata  TEXT NOT NULL,
    config_path TEXT,
    created     TEXT NOT NULL
) STRICT;
CREATE INDEX sites_client ON sites(client);

-- What a restitution or a backup of a site holds, beside its dataset.
CREATE TABLE site_archives (
    dataset         TEXT PRIMARY KEY REFERENCES datasets(id),
    site            TEXT NOT NULL REFERENCES sites(slug),
    kind            TEXT NOT NULL CHECK (kind IN ('restitution', 'backup')),
    recipient       TEXT,
    top             TEXT NOT NULL,
    files           INTEGER NOT NULL,
    file_bytes      INTEGER NOT NULL,
    db_bytes        INTEGER NOT NULL,
    sums_sha256     TEXT NOT NULL,
    inconsistencies TEXT NOT NULL,
    -- A restitution's age header for its recipient, made once: the client's file is this
    -- header and the stored payload, the same bytes on every download (HTTP Range resumes).
    client_header   BLOB,
    CHECK ((kind = 'restitution') = (recipient IS NOT NULL)),
    CHECK ((kind = 'restitution') = (client_header IS NOT NULL))
) STRICT;
CREATE INDEX site_archives_site ON site_archives(site);
