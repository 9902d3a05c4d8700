-- 0020: S3-compatible stores (issue 14). A store is a local directory or a bucket and
-- prefix behind an endpoint; its credentials are never here, only where to find them
-- (a file's path, or none: the environment). Rebuilt, as SQLite changes a CHECK no other
-- way; copies refer to stores by name and keep pointing at the same rows.
CREATE TABLE stores_new (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('local', 's3')),
    site        TEXT NOT NULL,
    -- A local store's directory; an S3 store's s3://BUCKET/PREFIX.
    location    TEXT NOT NULL,
    endpoint    TEXT,
    region      TEXT,
    credentials TEXT,
    -- The certificate authorities an https endpoint is checked against besides the
    -- system's (a PEM file's path), for a private service.
    ca          TEXT,
    created     TEXT NOT NULL,
    CHECK ((kind = 'local') = (endpoint IS NULL AND region IS NULL AND credentials IS NULL AND ca IS NULL)),
    CHECK (kind = 'local' OR (endpoint IS NOT NULL AND region IS NOT NULL))
) STRICT;
INSERT INTO stores_new (name, kind, site, location, created)
    SELECT name, kind, site, location, created FROM stores;
DROP TABLE stores;
ALTER TABLE stores_new RENAME TO stores;

-- The entity tag a remote store gave a copy when it was written: fsck compares it with the
-- object's tag now, so an object replaced behind gardien's back is found without reading
-- it. NULL for local copies (a local tag follows the inode, which a restore changes).
ALTER TABLE copies ADD COLUMN etag TEXT;
