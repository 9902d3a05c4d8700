-- The last hygiene check of each server (issue 13): when, and what it found (the JSON
-- `server check --json` prints), for the portal's page and `server show`.
CREATE TABLE server_checks (
    server TEXT PRIMARY KEY REFERENCES servers(name),
    at     TEXT NOT NULL,
    report TEXT NOT NULL
) STRICT;
