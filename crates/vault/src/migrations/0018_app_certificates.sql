-- Let's Encrypt by default (WEB-1, issue 13): the ACME accounts gardien orders with, one per
-- directory, and the last certificate obtained for each application, renewed 30 days before
-- its end. Account credentials and certificate keys are wrapped to the master key. Each
-- certificate keeps how it was obtained (its directory and the root its HTTPS was trusted
-- with, where the CA's request was answered, where its files were written), so that a
-- renewal does the same.
CREATE TABLE acme_accounts (
    directory TEXT PRIMARY KEY,
    wrapped   TEXT NOT NULL,
    created   TEXT NOT NULL
) STRICT;

CREATE TABLE app_certificates (
    domain    TEXT PRIMARY KEY REFERENCES server_apps(domain),
    directory TEXT NOT NULL,
    chain     TEXT NOT NULL,
    key       TEXT NOT NULL,
    serial    TEXT NOT NULL,
    not_after TEXT NOT NULL,
    issued    TEXT NOT NULL,
    responder TEXT NOT NULL,
    out       TEXT,
    root      TEXT
) STRICT;
