-- fail2ban on each server (NET-2, issue 13), as the server last reported it
-- (contrib/fail2ban/gardien-fail2ban-report): when, by whom, and the report as read.
CREATE TABLE server_fail2ban (
    server TEXT PRIMARY KEY REFERENCES servers(name),
    at     TEXT NOT NULL,
    by     TEXT NOT NULL,
    report TEXT NOT NULL
) STRICT;
