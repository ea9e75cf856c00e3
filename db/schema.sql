-- The database schema as the migrations in db/migrations/ leave it (PRAGMA user_version 2).
-- Reference only: vscd applies the numbered migrations; a unit test checks that this file
-- and the migrated schema have the same tables, columns and indexes.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name      TEXT NOT NULL UNIQUE CHECK (length(user_name) BETWEEN 1 AND 64),
    password_hash  TEXT NOT NULL,
    role_id        TEXT NOT NULL CHECK (role_id IN ('Administrator', 'Operator', 'ReadOnly')),
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    last_failed_at INTEGER NOT NULL DEFAULT 0,
    locked_until   INTEGER NOT NULL DEFAULT 0
);
