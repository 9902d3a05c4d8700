-- Servers (issue 13): where the operator hosts its clients' sites, so that server access
-- can be limited by what each server is (ACC-1: never on a shared one; ACC-2: a dedicated
-- one belongs to one client) and where it is (LOC-1: Roubaix or Strasbourg only).
CREATE TABLE servers (
    name    TEXT PRIMARY KEY,
    site    TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('shared', 'dedicated', 'managed')),
    client  TEXT REFERENCES clients(slug),
    address TEXT NOT NULL,
    created TEXT NOT NULL,
    -- A shared server is no client's; a dedicated or managed one is one client's.
    CHECK ((kind = 'shared') = (client IS NULL))
) STRICT;
CREATE INDEX servers_client ON servers(client);

-- The web applications a server hosts, by domain (WEB-2: only Moodle on a shared server).
CREATE TABLE server_apps (
    domain  TEXT PRIMARY KEY,
    server  TEXT NOT NULL REFERENCES servers(name),
    kind    TEXT NOT NULL CHECK (kind IN ('moodle', 'other')),
    created TEXT NOT NULL
) STRICT;
CREATE INDEX server_apps_server ON server_apps(server);
