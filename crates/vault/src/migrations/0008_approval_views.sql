-- 0008: which signer was shown which request in full (CONF-4: the signer who decides is
-- the one who read the scope; `approvals.shown_at` only says someone did). Frozen once
-- shipped.
CREATE TABLE approval_views (
    approval TEXT NOT NULL REFERENCES approvals(id),
    handle   TEXT NOT NULL REFERENCES persons(handle),
    at       TEXT NOT NULL,
    PRIMARY KEY (approval, handle)
) STRICT;
