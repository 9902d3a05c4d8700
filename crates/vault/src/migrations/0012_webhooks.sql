-- 0012: webhooks, a sender's receipt, and destruction notices (issue 15). Frozen once
-- shipped. Runs with foreign keys off: `outbox` is rebuilt so that a row goes to a person,
-- to an address (a drop's sender, who is nobody's account) or to a webhook, exactly one.

-- A webhook: an endpoint of the operator's (a ticketing system) that receives the
-- notifications' facts as JSON, signed with HMAC-SHA-256. Its secret is kept wrapped to
-- the master key (age), like a dataset key: the catalog alone does not forge a signature.
CREATE TABLE webhooks (
    id             TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    -- The kinds it receives, comma-separated, or `*`.
    events         TEXT NOT NULL,
    -- Only this client's notifications (none: every client's, and the operator's own).
    client         TEXT REFERENCES clients(slug),
    wrapped_secret TEXT NOT NULL,
    created        TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    removed        TEXT
) STRICT;

CREATE TABLE outbox_new (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    person       TEXT REFERENCES persons(handle),
    -- A drop sender's address, for their receipt, and the language they read.
    address      TEXT,
    lang         TEXT,
    webhook      TEXT REFERENCES webhooks(id),
    client       TEXT,
    subject      TEXT NOT NULL,
    facts        TEXT NOT NULL,
    created      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error   TEXT,
    sent         TEXT,
    message_id   TEXT,
    CHECK ((person IS NOT NULL) + (address IS NOT NULL) + (webhook IS NOT NULL) = 1)
) STRICT;
INSERT INTO outbox_new (id, kind, person, client, subject, facts, created, state, attempts, next_attempt, last_error, sent, message_id)
    SELECT id, kind, person, client, subject, facts, created, state, attempts, next_attempt, last_error, sent, message_id FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(state, next_attempt);
CREATE INDEX outbox_subject ON outbox(subject, kind);

-- The address a drop's sender gave for a receipt (optional), and its language.
ALTER TABLE drops ADD COLUMN receipt_to TEXT;
ALTER TABLE drops ADD COLUMN receipt_lang TEXT;

-- Destruction notices (21, 7 and 1 days before, SecNumCloud 19.4.a): one row per dataset
-- and threshold, written when the notice is; the certificate cites the first.
CREATE TABLE destruction_notices (
    dataset TEXT NOT NULL REFERENCES datasets(id),
    days    INTEGER NOT NULL CHECK (days IN (1, 7, 21)),
    due     TEXT NOT NULL,
    written TEXT NOT NULL,
    PRIMARY KEY (dataset, days)
) STRICT;
