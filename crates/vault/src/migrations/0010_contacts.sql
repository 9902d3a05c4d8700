-- 0010: how a person is told of what awaits them (issue 15, notifications). Frozen once
-- shipped. An address and a language; none is needed to act through the door.
CREATE TABLE person_contacts (
    handle TEXT PRIMARY KEY REFERENCES persons(handle),
    email  TEXT,
    lang   TEXT NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en'))
) STRICT;
