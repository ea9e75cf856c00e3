-- The database schema as the migrations in db/migrations/ leave it (PRAGMA user_version 7).
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

CREATE TABLE port_access_rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    port_id     INTEGER NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    account_id  INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    role_id     TEXT CHECK (role_id IN ('Administrator', 'Operator', 'ReadOnly')),
    port_right  TEXT NOT NULL CHECK (port_right IN ('Watch', 'Control', 'Observe', 'Private', 'Force')),
    effect      TEXT NOT NULL CHECK (effect IN ('Grant', 'Deny')),
    created_at  INTEGER NOT NULL,
    CHECK ((account_id IS NULL) != (role_id IS NULL))
);
CREATE UNIQUE INDEX port_access_rules_user ON port_access_rules (port_id, account_id, port_right)
    WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX port_access_rules_role ON port_access_rules (port_id, role_id, port_right)
    WHERE role_id IS NOT NULL;
CREATE INDEX port_access_rules_account ON port_access_rules (account_id);
CREATE TRIGGER port_access_rules_port_freed AFTER UPDATE OF freed_at ON ports
    WHEN NEW.freed_at IS NOT NULL
BEGIN
    DELETE FROM port_access_rules WHERE port_id = NEW.id;
END;

-- 0005
CREATE TABLE console_state_rules (
    rule_id    TEXT NOT NULL UNIQUE CHECK (length(rule_id) BETWEEN 1 AND 64),
    pattern    TEXT NOT NULL CHECK (length(pattern) BETWEEN 1 AND 256),
    state      TEXT NOT NULL
               CHECK (state IN ('Firmware', 'Booting', 'Running', 'Panic', 'Rebooting', 'Off')),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE console_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    vm_uuid    TEXT NOT NULL REFERENCES vms (uuid),
    port_idx   INTEGER NOT NULL,
    created_us INTEGER NOT NULL,
    state      TEXT NOT NULL,
    previous   TEXT NOT NULL,
    rule_id    TEXT NOT NULL,
    line       TEXT NOT NULL,
    before     TEXT NOT NULL DEFAULT '[]',
    after      TEXT
);
CREATE INDEX console_log_vm ON console_log (vm_uuid, id);

-- 0006
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_us INTEGER NOT NULL,
    action     TEXT NOT NULL,
    user_name  TEXT NOT NULL DEFAULT '',
    client     TEXT NOT NULL DEFAULT '',
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT ''
);

-- 0007
CREATE TABLE console_states (
    vm_uuid  TEXT PRIMARY KEY REFERENCES vms (uuid),
    port_idx INTEGER NOT NULL,
    since_us INTEGER NOT NULL,
    state    TEXT NOT NULL,
    rule_id  TEXT NOT NULL,
    line     TEXT NOT NULL
) WITHOUT ROWID;
