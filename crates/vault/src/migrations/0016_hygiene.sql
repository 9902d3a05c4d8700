-- Hygiene checks (issue 13): the TCP ports a server needs open to the internet (NET-1:
-- what else answers is reported), and where a web application's HTTPS is reached when its
-- domain does not point there (yet).
CREATE TABLE server_ports (
    server TEXT NOT NULL REFERENCES servers(name),
    port   INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    PRIMARY KEY (server, port)
) STRICT;
ALTER TABLE server_apps ADD COLUMN https TEXT;

-- Server access (issue 13, after a review): a certificate serial is one grant's; two grants
-- made at once never share one.
CREATE UNIQUE INDEX grants_serial ON grants(serial);
