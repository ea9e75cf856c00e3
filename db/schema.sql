-- The database schema as the migrations in db/migrations/ leave it (PRAGMA user_version 3).
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
CREATE TABLE vms (
    uuid       TEXT PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    host_name  TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    freed_at   INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX vms_active_name ON vms (name) WHERE freed_at IS NULL;

CREATE TABLE ports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    vm_uuid     TEXT NOT NULL REFERENCES vms (uuid),
    idx         INTEGER NOT NULL CHECK (idx >= 1),
    com_port    TEXT NOT NULL DEFAULT '',
    label       TEXT NOT NULL DEFAULT '',
    backend     TEXT NOT NULL CHECK (backend IN ('pty', 'unix', 'usb-gadget')),
    bind_path   TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    bit_rate    INTEGER NOT NULL DEFAULT 115200,
    data_bits   INTEGER NOT NULL DEFAULT 8,
    parity      TEXT NOT NULL DEFAULT 'None',
    stop_bits   INTEGER NOT NULL DEFAULT 1,
    flow_control TEXT NOT NULL DEFAULT 'None',
    created_at  INTEGER NOT NULL,
    freed_at    INTEGER
);
CREATE UNIQUE INDEX ports_active_idx ON ports (vm_uuid, idx) WHERE freed_at IS NULL;
CREATE INDEX ports_vm ON ports (vm_uuid);
