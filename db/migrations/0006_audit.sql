-- 0006: the audit trail (docs/SECURITY.md, "Audit trail"): who did what, when, from where.
-- At most `audit_entries` rows; the oldest go first. Never a password or a token.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a stale URI names no other entry
    created_us INTEGER NOT NULL,                   -- microseconds since the epoch
    action     TEXT NOT NULL,
    user_name  TEXT NOT NULL DEFAULT '',
    client     TEXT NOT NULL DEFAULT '',           -- the client's address; '' for the service
    target     TEXT NOT NULL DEFAULT '',           -- the resource acted on (a URI)
    detail     TEXT NOT NULL DEFAULT ''
);
