-- 0011: notifications (issue 15). Frozen once shipped. A notification is a row written in
-- the transaction of the event that causes it, delivered later (the server, `notify
-- flush`): a relay that is down delays mail, never the operation. A row holds ids, kinds,
-- dates and sizes only, never client data (no label, file name, scope or content).
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    -- approval-waiting, approval-decided, drop-received, drop-revoked, certificate-issued.
    kind         TEXT NOT NULL,
    person       TEXT NOT NULL REFERENCES persons(handle),
    -- The client it is about (a person of another client never gets it).
    client       TEXT,
    -- What it is about (ap-..., dr-..., cert-...) and its facts, `key=value` per line.
    subject      TEXT NOT NULL,
    facts        TEXT NOT NULL,
    created      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error   TEXT,
    sent         TEXT,
    message_id   TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox(state, next_attempt);
