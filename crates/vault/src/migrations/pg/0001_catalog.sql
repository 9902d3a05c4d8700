-- PostgreSQL 0001: the whole catalog as SQLite's migrations 0001-0020 leave it, in
-- PostgreSQL's words. Frozen once shipped: later changes are new files, numbered for this
-- dialect, each beside its SQLite twin (crates/vault/src/catalog.rs, PG_MIGRATIONS).
--
-- Translation rules, so the same statements give the same answers on both engines:
-- * INTEGER is BIGINT, BLOB is BYTEA, and every TEXT compares bytewise (COLLATE "C"),
--   as SQLite's BINARY collation does: ids, slugs and RFC 3339 dates sort the same.
-- * SQLite's rowid, where a query orders by it (holds), is an identity column named rowid;
--   outbox.id, an INTEGER PRIMARY KEY SQLite numbers, is an identity column.
-- * References are added after every table, as SQLite allows forward ones.
-- * The trigger and the two SQLite functions the catalog uses (instr, datetime) are
--   PL/pgSQL or SQL functions of the same name.

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);
CREATE TABLE clients (
    slug    TEXT COLLATE "C" PRIMARY KEY,
    name    TEXT COLLATE "C" NOT NULL,
    created TEXT COLLATE "C" NOT NULL
);
CREATE TABLE copies (
    dataset TEXT COLLATE "C" NOT NULL,
    store   TEXT COLLATE "C" NOT NULL,
    object  TEXT COLLATE "C" NOT NULL, etag TEXT COLLATE "C",
    PRIMARY KEY (dataset, store)
);
CREATE TABLE ledger_entries (
    idx   BIGINT PRIMARY KEY,
    entry BYTEA NOT NULL
);
CREATE TABLE ledger_nodes (
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE ledger_checkpoints (
    size    BIGINT PRIMARY KEY,
    note    TEXT COLLATE "C" NOT NULL,
    created TEXT COLLATE "C" NOT NULL
);
CREATE TABLE event_details (
    idx     BIGINT PRIMARY KEY,
    salt    BYTEA NOT NULL,
    details TEXT COLLATE "C" NOT NULL
);
CREATE TABLE contracts (
    name               TEXT COLLATE "C" PRIMARY KEY,
    client             TEXT COLLATE "C" NOT NULL,
    presales_until     TEXT COLLATE "C",
    deal               TEXT COLLATE "C" NOT NULL CHECK (deal IN ('undecided', 'concluded', 'lost')),
    deal_on            TEXT COLLATE "C",
    vsr_until          TEXT COLLATE "C",
    ends               TEXT COLLATE "C",
    custody_months     BIGINT NOT NULL CHECK (custody_months BETWEEN 0 AND 12),
    admin_window_until TEXT COLLATE "C",
    created            TEXT COLLATE "C" NOT NULL
);
CREATE TABLE datasets (
    id          TEXT COLLATE "C" PRIMARY KEY,
    client      TEXT COLLATE "C" NOT NULL,
    class       TEXT COLLATE "C" NOT NULL CHECK (class IN ('presales-sample', 'loading-data', 'backup', 'archive', 'export', 'other')),
    label       TEXT COLLATE "C",
    state       TEXT COLLATE "C" NOT NULL CHECK (state IN ('pending', 'active', 'destroying', 'destroyed')),
    size        BIGINT,
    sha256      TEXT COLLATE "C",
    recipient   TEXT COLLATE "C" NOT NULL,
    wrapped_key TEXT COLLATE "C",
    created     TEXT COLLATE "C" NOT NULL,
    contract    TEXT COLLATE "C",
    destroyed   TEXT COLLATE "C",
    rule        TEXT COLLATE "C",
    clause      TEXT COLLATE "C",
    event       BIGINT
, addressed_to TEXT COLLATE "C", provider TEXT COLLATE "C");
CREATE TABLE holds (
    rowid    BIGINT GENERATED ALWAYS AS IDENTITY,
    dataset  TEXT COLLATE "C" NOT NULL,
    held     TEXT COLLATE "C" NOT NULL,
    released TEXT COLLATE "C",
    reason   TEXT COLLATE "C" NOT NULL
);
CREATE TABLE out_copies (
    id          TEXT COLLATE "C" PRIMARY KEY,
    dataset     TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('environment', 'client')),
    environment TEXT COLLATE "C" NOT NULL,
    holder      TEXT COLLATE "C" NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    attested    TEXT COLLATE "C",
    attested_by TEXT COLLATE "C",
    method      TEXT COLLATE "C"
);
CREATE TABLE certificates (
    id      TEXT COLLATE "C" PRIMARY KEY,
    dataset TEXT COLLATE "C" NOT NULL UNIQUE,
    issued  TEXT COLLATE "C" NOT NULL,
    note    TEXT COLLATE "C" NOT NULL
);
CREATE TABLE persons (
    handle   TEXT COLLATE "C" PRIMARY KEY,
    role     TEXT COLLATE "C" NOT NULL CHECK (role IN ('ops', 'technical-operator', 'sales', 'client-admin', 'client-signer', 'client-tech', 'third-party')),
    client   TEXT COLLATE "C",
    name     TEXT COLLATE "C",
    disabled TEXT COLLATE "C",
    created  TEXT COLLATE "C" NOT NULL,
    CHECK ((role IN ('ops', 'technical-operator', 'sales')) = (client IS NULL))
);
CREATE TABLE environments (
    name    TEXT COLLATE "C" PRIMARY KEY,
    kind    TEXT COLLATE "C" NOT NULL CHECK (kind IN ('local-test', 'online')),
    holder  TEXT COLLATE "C",
    created TEXT COLLATE "C" NOT NULL
);
CREATE TABLE approvals (
    id         TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT COLLATE "C" NOT NULL CHECK (kind IN ('disclosure', 'observation', 'material-reuse', 'sample-reuse', 'server-access')),
    client     TEXT COLLATE "C" NOT NULL,
    scope      TEXT COLLATE "C" NOT NULL,
    requester  TEXT COLLATE "C" NOT NULL,
    for_handle TEXT COLLATE "C",
    server     TEXT COLLATE "C",
    maneuvers  TEXT COLLATE "C",
    until      TEXT COLLATE "C",
    status     TEXT COLLATE "C" NOT NULL CHECK (status IN ('requested', 'approved', 'refused', 'revoked')),
    decided_by TEXT COLLATE "C",
    decided_at TEXT COLLATE "C",
    comment    TEXT COLLATE "C",
    revoked_at TEXT COLLATE "C",
    -- When a signer of the client was shown the request in full (CONF-4: before deciding).
    shown_at   TEXT COLLATE "C",
    created    TEXT COLLATE "C" NOT NULL
);
CREATE TABLE approval_datasets (
    approval TEXT COLLATE "C" NOT NULL,
    dataset  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (approval, dataset)
);
CREATE TABLE client_keys (
    client     TEXT COLLATE "C" NOT NULL,
    -- An age X25519 recipient (age1...), as the client gave it.
    recipient  TEXT COLLATE "C" NOT NULL,
    label      TEXT COLLATE "C",
    added      TEXT COLLATE "C" NOT NULL,
    added_by   TEXT COLLATE "C" NOT NULL,
    -- A removed key takes no new export; it stays listed as removed (PROOF-1).
    removed    TEXT COLLATE "C",
    removed_by TEXT COLLATE "C",
    PRIMARY KEY (client, recipient)
);
CREATE TABLE credentials (
    handle        TEXT COLLATE "C" PRIMARY KEY,
    -- argon2id, PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password      TEXT COLLATE "C",
    password_set  TEXT COLLATE "C",
    -- RFC 6238 seed, base32, once enrolment is confirmed (`totp_enrolled`); a seed being
    -- enrolled waits in `totp_pending` until a first code proves the person holds it.
    totp_secret   TEXT COLLATE "C",
    totp_pending  TEXT COLLATE "C",
    totp_enrolled TEXT COLLATE "C",
    -- The last time step a code was accepted for: a code is accepted once (no replay).
    totp_last_step BIGINT,
    -- Consecutive failed sign-ins, and the temporary lock they set (NET-2).
    failures      BIGINT NOT NULL DEFAULT 0,
    locked_until  TEXT COLLATE "C"
);
CREATE TABLE tokens (
    id       TEXT COLLATE "C" PRIMARY KEY,
    hash     TEXT COLLATE "C" NOT NULL UNIQUE,
    handle   TEXT COLLATE "C" NOT NULL,
    label    TEXT COLLATE "C",
    created  TEXT COLLATE "C" NOT NULL,
    expires  TEXT COLLATE "C",
    revoked  TEXT COLLATE "C"
);
CREATE TABLE sessions (
    hash      TEXT COLLATE "C" PRIMARY KEY,
    handle    TEXT COLLATE "C" NOT NULL,
    created   TEXT COLLATE "C" NOT NULL,
    last_seen TEXT COLLATE "C" NOT NULL,
    -- The absolute end; idle expiry counts from last_seen.
    expires   TEXT COLLATE "C" NOT NULL,
    -- 'password' once the password was checked, 'full' once the second factor was too (or
    -- when none is needed).
    level     TEXT COLLATE "C" NOT NULL CHECK (level IN ('password', 'full')),
    -- The anti-CSRF token of this session's forms.
    csrf      TEXT COLLATE "C" NOT NULL,
    ended     TEXT COLLATE "C"
);
CREATE TABLE approval_views (
    approval TEXT COLLATE "C" NOT NULL,
    handle   TEXT COLLATE "C" NOT NULL,
    at       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (approval, handle)
);
CREATE TABLE drops (
    id           TEXT COLLATE "C" PRIMARY KEY,
    -- SHA-256 of the link's token, never the token.
    token_hash   TEXT COLLATE "C" NOT NULL UNIQUE,
    -- argon2id PHC string of the password.
    password     TEXT COLLATE "C" NOT NULL,
    client       TEXT COLLATE "C" NOT NULL,
    contract     TEXT COLLATE "C" NOT NULL,
    class        TEXT COLLATE "C" NOT NULL CHECK (class IN ('presales-sample', 'loading-data')),
    addressed_to TEXT COLLATE "C" NOT NULL,
    created_by   TEXT COLLATE "C" NOT NULL,
    label        TEXT COLLATE "C",
    max_size     BIGINT NOT NULL CHECK (max_size > 0),
    recipient    TEXT COLLATE "C" NOT NULL,
    -- Cleared when the drop ends: once received the key lives in the dataset's row only
    -- (so the sweeper's crypto-shredding leaves no other copy), and a drop that ended
    -- without a file keeps none.
    wrapped_key  TEXT COLLATE "C",
    created      TEXT COLLATE "C" NOT NULL,
    expires      TEXT COLLATE "C" NOT NULL,
    -- open, received (its one file became `dataset`), revoked, expired.
    state        TEXT COLLATE "C" NOT NULL CHECK (state IN ('open', 'received', 'revoked', 'expired')),
    -- Wrong passwords in a row (five revoke the drop, PRE-2).
    failures     BIGINT NOT NULL DEFAULT 0,
    ended        TEXT COLLATE "C",
    end_reason   TEXT COLLATE "C",
    dataset      TEXT COLLATE "C"
, receipt_to TEXT COLLATE "C", receipt_lang TEXT COLLATE "C");
CREATE TABLE drop_sessions (
    hash     TEXT COLLATE "C" PRIMARY KEY,
    drop_id  TEXT COLLATE "C" NOT NULL,
    created  TEXT COLLATE "C" NOT NULL,
    address  TEXT COLLATE "C" NOT NULL
);
CREATE TABLE drop_uploads (
    id        TEXT COLLATE "C" PRIMARY KEY,
    drop_id   TEXT COLLATE "C" NOT NULL,
    -- NULL while deferred (Upload-Defer-Length).
    length    BIGINT,
    -- none, partial, final.
    concat    TEXT COLLATE "C" NOT NULL CHECK (concat IN ('none', 'partial', 'final')),
    -- A final concatenation's parts, space-separated upload ids.
    parts     TEXT COLLATE "C",
    -- Upload-Metadata as the client sent it (base64 values: names of files stay encoded).
    metadata  TEXT COLLATE "C",
    created   TEXT COLLATE "C" NOT NULL,
    expires   TEXT COLLATE "C" NOT NULL,
    -- receiving, complete (a whole upload received, or a part ready), terminated, expired,
    -- refused (not an age file for the drop's key, or one that failed authentication).
    state     TEXT COLLATE "C" NOT NULL CHECK (state IN ('receiving', 'complete', 'terminated', 'expired', 'refused')),
    ended     TEXT COLLATE "C"
);
CREATE TABLE person_contacts (
    handle TEXT COLLATE "C" PRIMARY KEY,
    email  TEXT COLLATE "C",
    lang   TEXT COLLATE "C" NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en'))
);
CREATE TABLE webhooks (
    id             TEXT COLLATE "C" PRIMARY KEY,
    url            TEXT COLLATE "C" NOT NULL,
    -- The kinds it receives, comma-separated, or `*`.
    events         TEXT COLLATE "C" NOT NULL,
    -- Only this client's notifications (none: every client's, and the operator's own).
    client         TEXT COLLATE "C",
    wrapped_secret TEXT COLLATE "C" NOT NULL,
    created        TEXT COLLATE "C" NOT NULL,
    created_by     TEXT COLLATE "C" NOT NULL,
    removed        TEXT COLLATE "C"
);
CREATE TABLE outbox (
    id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind         TEXT COLLATE "C" NOT NULL,
    person       TEXT COLLATE "C",
    -- A drop sender's address, for their receipt, and the language they read.
    address      TEXT COLLATE "C",
    lang         TEXT COLLATE "C",
    webhook      TEXT COLLATE "C",
    client       TEXT COLLATE "C",
    subject      TEXT COLLATE "C" NOT NULL,
    facts        TEXT COLLATE "C" NOT NULL,
    created      TEXT COLLATE "C" NOT NULL,
    state        TEXT COLLATE "C" NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt TEXT COLLATE "C" NOT NULL,
    last_error   TEXT COLLATE "C",
    sent         TEXT COLLATE "C",
    message_id   TEXT COLLATE "C",
    CHECK ((person IS NOT NULL)::int + (address IS NOT NULL)::int + (webhook IS NOT NULL)::int = 1)
);
CREATE TABLE destruction_notices (
    dataset TEXT COLLATE "C" NOT NULL,
    days    BIGINT NOT NULL CHECK (days IN (1, 7, 21)),
    due     TEXT COLLATE "C" NOT NULL,
    written TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (dataset, days)
);
CREATE TABLE sites (
    slug        TEXT COLLATE "C" PRIMARY KEY,
    client      TEXT COLLATE "C" NOT NULL,
    contract    TEXT COLLATE "C" NOT NULL,
    db_url      TEXT COLLATE "C" NOT NULL,
    moodledata  TEXT COLLATE "C" NOT NULL,
    config_path TEXT COLLATE "C",
    created     TEXT COLLATE "C" NOT NULL
);
CREATE TABLE site_archives (
    dataset         TEXT COLLATE "C" PRIMARY KEY,
    site            TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL CHECK (kind IN ('restitution', 'backup')),
    recipient       TEXT COLLATE "C",
    top             TEXT COLLATE "C" NOT NULL,
    files           BIGINT NOT NULL,
    file_bytes      BIGINT NOT NULL,
    db_bytes        BIGINT NOT NULL,
    sums_sha256     TEXT COLLATE "C" NOT NULL,
    inconsistencies TEXT COLLATE "C" NOT NULL,
    -- A restitution's age header for its recipient, made once: the client's file is this
    -- header and the stored payload, the same bytes on every download (HTTP Range resumes).
    client_header   BYTEA,
    CHECK ((kind = 'restitution') = (recipient IS NOT NULL)),
    CHECK ((kind = 'restitution') = (client_header IS NOT NULL))
);
CREATE TABLE servers (
    name    TEXT COLLATE "C" PRIMARY KEY,
    site    TEXT COLLATE "C" NOT NULL,
    kind    TEXT COLLATE "C" NOT NULL CHECK (kind IN ('shared', 'dedicated', 'managed')),
    client  TEXT COLLATE "C",
    address TEXT COLLATE "C" NOT NULL,
    created TEXT COLLATE "C" NOT NULL,
    -- A shared server is no client's; a dedicated or managed one is one client's.
    CHECK ((kind = 'shared') = (client IS NULL))
);
CREATE TABLE server_apps (
    domain  TEXT COLLATE "C" PRIMARY KEY,
    server  TEXT COLLATE "C" NOT NULL,
    kind    TEXT COLLATE "C" NOT NULL CHECK (kind IN ('moodle', 'other')),
    created TEXT COLLATE "C" NOT NULL
, https TEXT COLLATE "C");
CREATE TABLE maneuvers (
    id          TEXT COLLATE "C" PRIMARY KEY,
    program     TEXT COLLATE "C" NOT NULL,
    fixed       TEXT COLLATE "C" NOT NULL,   -- JSON: the fixed leading arguments
    args        TEXT COLLATE "C" NOT NULL,   -- JSON: [[NAME, PATTERN], ...]
    max_ttl     BIGINT NOT NULL CHECK (max_ttl > 0),
    description TEXT COLLATE "C" NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL
);
CREATE TABLE bastion (
    id           BIGINT PRIMARY KEY CHECK (id = 1),
    site         TEXT COLLATE "C" NOT NULL,
    address      TEXT COLLATE "C" NOT NULL,
    egress       TEXT COLLATE "C" NOT NULL,
    login        TEXT COLLATE "C" NOT NULL,
    target_login TEXT COLLATE "C" NOT NULL,
    runner       TEXT COLLATE "C" NOT NULL,
    updated      TEXT COLLATE "C" NOT NULL
);
CREATE TABLE client_cas (
    client  TEXT COLLATE "C" PRIMARY KEY,
    public  TEXT COLLATE "C" NOT NULL,
    wrapped TEXT COLLATE "C" NOT NULL,
    created TEXT COLLATE "C" NOT NULL
);
CREATE TABLE grants (
    id           TEXT COLLATE "C" PRIMARY KEY,
    approval     TEXT COLLATE "C" NOT NULL,
    client       TEXT COLLATE "C" NOT NULL,
    server       TEXT COLLATE "C" NOT NULL,
    person       TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,   -- SHA256:... of the person's key
    serial       BIGINT NOT NULL,
    valid_after  TEXT COLLATE "C" NOT NULL,
    valid_before TEXT COLLATE "C" NOT NULL,
    revoked_at   TEXT COLLATE "C",
    revoked_by   TEXT COLLATE "C",
    created      TEXT COLLATE "C" NOT NULL
);
CREATE TABLE maneuver_runs (
    id       TEXT COLLATE "C" PRIMARY KEY,
    grant_id TEXT COLLATE "C" NOT NULL,
    maneuver TEXT COLLATE "C" NOT NULL,
    argv     TEXT COLLATE "C" NOT NULL,   -- JSON
    started  TEXT COLLATE "C" NOT NULL,
    ended    TEXT COLLATE "C",
    status   BIGINT
);
CREATE TABLE server_ports (
    server TEXT COLLATE "C" NOT NULL,
    port   BIGINT NOT NULL CHECK (port BETWEEN 1 AND 65535),
    PRIMARY KEY (server, port)
);
CREATE TABLE server_checks (
    server TEXT COLLATE "C" PRIMARY KEY,
    at     TEXT COLLATE "C" NOT NULL,
    report TEXT COLLATE "C" NOT NULL
);
CREATE TABLE acme_accounts (
    directory TEXT COLLATE "C" PRIMARY KEY,
    wrapped   TEXT COLLATE "C" NOT NULL,
    created   TEXT COLLATE "C" NOT NULL
);
CREATE TABLE app_certificates (
    domain    TEXT COLLATE "C" PRIMARY KEY,
    directory TEXT COLLATE "C" NOT NULL,
    chain     TEXT COLLATE "C" NOT NULL,
    key       TEXT COLLATE "C" NOT NULL,
    serial    TEXT COLLATE "C" NOT NULL,
    not_after TEXT COLLATE "C" NOT NULL,
    issued    TEXT COLLATE "C" NOT NULL,
    responder TEXT COLLATE "C" NOT NULL,
    out       TEXT COLLATE "C",
    root      TEXT COLLATE "C"
);
CREATE TABLE server_fail2ban (
    server TEXT COLLATE "C" PRIMARY KEY,
    at     TEXT COLLATE "C" NOT NULL,
    by     TEXT COLLATE "C" NOT NULL,
    report TEXT COLLATE "C" NOT NULL
);
CREATE TABLE stores (
    name        TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('local', 's3')),
    site        TEXT COLLATE "C" NOT NULL,
    -- A local store's directory; an S3 store's s3://BUCKET/PREFIX.
    location    TEXT COLLATE "C" NOT NULL,
    endpoint    TEXT COLLATE "C",
    region      TEXT COLLATE "C",
    credentials TEXT COLLATE "C",
    -- The certificate authorities an https endpoint is checked against besides the
    -- system's (a PEM file's path), for a private service.
    ca          TEXT COLLATE "C",
    created     TEXT COLLATE "C" NOT NULL,
    CHECK ((kind = 'local') = (endpoint IS NULL AND region IS NULL AND credentials IS NULL AND ca IS NULL)),
    CHECK (kind = 'local' OR (endpoint IS NOT NULL AND region IS NOT NULL))
);
CREATE INDEX contracts_client ON contracts(client);
CREATE INDEX datasets_client ON datasets(client);
CREATE INDEX datasets_contract ON datasets(contract);
CREATE INDEX datasets_state_class ON datasets(state, class);
CREATE INDEX holds_dataset ON holds(dataset);
CREATE INDEX out_copies_dataset ON out_copies(dataset);
CREATE INDEX contracts_presales ON contracts(presales_until);
CREATE INDEX contracts_deal_on ON contracts(deal_on);
CREATE INDEX contracts_vsr ON contracts(vsr_until);
CREATE INDEX contracts_ends ON contracts(ends);
CREATE INDEX datasets_contract_state ON datasets(contract, state, class);
CREATE INDEX datasets_state_created ON datasets(state, class, created);
CREATE INDEX approvals_client_for ON approvals(client, for_handle, status);
CREATE INDEX approval_datasets_dataset ON approval_datasets(dataset);
CREATE INDEX tokens_handle ON tokens(handle);
CREATE INDEX sessions_handle ON sessions(handle);
CREATE INDEX drops_client ON drops(client);
CREATE INDEX drop_uploads_drop ON drop_uploads(drop_id);
CREATE INDEX outbox_due ON outbox(state, next_attempt);
CREATE INDEX outbox_subject ON outbox(subject, kind);
CREATE INDEX sites_client ON sites(client);
CREATE INDEX site_archives_site ON site_archives(site);
CREATE INDEX servers_client ON servers(client);
CREATE INDEX server_apps_server ON server_apps(server);
CREATE INDEX grants_client ON grants(client);
CREATE INDEX grants_approval ON grants(approval);
CREATE INDEX maneuver_runs_grant ON maneuver_runs(grant_id);
CREATE UNIQUE INDEX grants_serial ON grants(serial);
ALTER TABLE copies ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE copies ADD FOREIGN KEY (store) REFERENCES stores(name);
ALTER TABLE contracts ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE datasets ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE datasets ADD FOREIGN KEY (contract) REFERENCES contracts(name);
ALTER TABLE datasets ADD FOREIGN KEY (addressed_to) REFERENCES persons(handle);
ALTER TABLE holds ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE out_copies ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE certificates ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE persons ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE environments ADD FOREIGN KEY (holder) REFERENCES persons(handle);
ALTER TABLE approvals ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE approvals ADD FOREIGN KEY (requester) REFERENCES persons(handle);
ALTER TABLE approvals ADD FOREIGN KEY (for_handle) REFERENCES persons(handle);
ALTER TABLE approvals ADD FOREIGN KEY (decided_by) REFERENCES persons(handle);
ALTER TABLE approval_datasets ADD FOREIGN KEY (approval) REFERENCES approvals(id);
ALTER TABLE approval_datasets ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE client_keys ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE client_keys ADD FOREIGN KEY (added_by) REFERENCES persons(handle);
ALTER TABLE client_keys ADD FOREIGN KEY (removed_by) REFERENCES persons(handle);
ALTER TABLE credentials ADD FOREIGN KEY (handle) REFERENCES persons(handle);
ALTER TABLE tokens ADD FOREIGN KEY (handle) REFERENCES persons(handle);
ALTER TABLE sessions ADD FOREIGN KEY (handle) REFERENCES persons(handle);
ALTER TABLE approval_views ADD FOREIGN KEY (approval) REFERENCES approvals(id);
ALTER TABLE approval_views ADD FOREIGN KEY (handle) REFERENCES persons(handle);
ALTER TABLE drops ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE drops ADD FOREIGN KEY (contract) REFERENCES contracts(name);
ALTER TABLE drops ADD FOREIGN KEY (addressed_to) REFERENCES persons(handle);
ALTER TABLE drops ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE drop_sessions ADD FOREIGN KEY (drop_id) REFERENCES drops(id);
ALTER TABLE drop_uploads ADD FOREIGN KEY (drop_id) REFERENCES drops(id);
ALTER TABLE person_contacts ADD FOREIGN KEY (handle) REFERENCES persons(handle);
ALTER TABLE webhooks ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE outbox ADD FOREIGN KEY (person) REFERENCES persons(handle);
ALTER TABLE outbox ADD FOREIGN KEY (webhook) REFERENCES webhooks(id);
ALTER TABLE destruction_notices ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE sites ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE sites ADD FOREIGN KEY (contract) REFERENCES contracts(name);
ALTER TABLE site_archives ADD FOREIGN KEY (dataset) REFERENCES datasets(id);
ALTER TABLE site_archives ADD FOREIGN KEY (site) REFERENCES sites(slug);
ALTER TABLE servers ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE server_apps ADD FOREIGN KEY (server) REFERENCES servers(name);
ALTER TABLE client_cas ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE grants ADD FOREIGN KEY (approval) REFERENCES approvals(id);
ALTER TABLE grants ADD FOREIGN KEY (client) REFERENCES clients(slug);
ALTER TABLE grants ADD FOREIGN KEY (server) REFERENCES servers(name);
ALTER TABLE grants ADD FOREIGN KEY (person) REFERENCES persons(handle);
ALTER TABLE maneuver_runs ADD FOREIGN KEY (grant_id) REFERENCES grants(id);
ALTER TABLE server_ports ADD FOREIGN KEY (server) REFERENCES servers(name);
ALTER TABLE server_checks ADD FOREIGN KEY (server) REFERENCES servers(name);
ALTER TABLE app_certificates ADD FOREIGN KEY (domain) REFERENCES server_apps(domain);
ALTER TABLE server_fail2ban ADD FOREIGN KEY (server) REFERENCES servers(name);

-- An approval's scope is frozen once requested (SQLite: the trigger approvals_scope_frozen).
CREATE FUNCTION approvals_scope_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.scope IS DISTINCT FROM OLD.scope OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.client IS DISTINCT FROM OLD.client OR NEW.requester IS DISTINCT FROM OLD.requester
       OR NEW.for_handle IS DISTINCT FROM OLD.for_handle OR NEW.server IS DISTINCT FROM OLD.server
       OR NEW.maneuvers IS DISTINCT FROM OLD.maneuvers OR NEW.until IS DISTINCT FROM OLD.until THEN
        RAISE EXCEPTION 'the scope of an approval cannot change after the request';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER approvals_scope_frozen BEFORE UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_scope_frozen();

-- SQLite's instr: the 1-based position of needle in haystack, 0 if absent.
CREATE FUNCTION instr(haystack BYTEA, needle BYTEA) RETURNS INTEGER LANGUAGE sql IMMUTABLE
    AS $$ SELECT position(needle IN haystack) $$;
CREATE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER LANGUAGE sql IMMUTABLE
    AS $$ SELECT position(needle IN haystack) $$;

-- SQLite's datetime(time, modifier...), for the modifiers the catalog uses ('+N months',
-- '-N days'): UTC, 'YYYY-MM-DD HH:MM:SS'. Month arithmetic differs at a month's end (SQLite:
-- 31 January + 1 month is 3 March; PostgreSQL: 29 February), by at most 3 days, which is why
-- the only query using it (sweep_candidates) keeps 4 days of margin and lets the lifecycle's
-- exact rules decide.
CREATE FUNCTION datetime(t TEXT, VARIADIC modifiers TEXT[] DEFAULT '{}') RETURNS TEXT
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v TIMESTAMP := t::timestamptz AT TIME ZONE 'UTC';
    m TEXT;
BEGIN
    FOREACH m IN ARRAY modifiers LOOP
        v := v + m::interval;
    END LOOP;
    RETURN to_char(v, 'YYYY-MM-DD HH24:MI:SS');
END $$;
