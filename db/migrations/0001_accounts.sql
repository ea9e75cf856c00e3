-- 0001: service settings and local accounts.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a stale URI never names another user
    user_name     TEXT NOT NULL UNIQUE CHECK (length(user_name) BETWEEN 1 AND 64),
    password_hash TEXT NOT NULL,
    role_id       TEXT NOT NULL CHECK (role_id IN ('Administrator', 'Operator', 'ReadOnly')),
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at    INTEGER NOT NULL
);
