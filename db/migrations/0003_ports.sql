-- 0003: virtual machines and their serial ports (the hypervisor's allocate/free command).
-- Rows are kept after a free (freed_at set) so that freeing twice is harmless and a
-- port's Id is never reused; active rows have freed_at NULL.
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
