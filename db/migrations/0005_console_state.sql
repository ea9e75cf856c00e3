-- 0005: what vscd learns from the consoles (docs/console-states.md).
-- Administrator rules for the console state detector, tried before the built-in rules, in
-- the order they were added (rowid). The built-in rules are data compiled into vscd.
CREATE TABLE console_state_rules (
    rule_id    TEXT NOT NULL UNIQUE CHECK (length(rule_id) BETWEEN 1 AND 64),
    pattern    TEXT NOT NULL CHECK (length(pattern) BETWEEN 1 AND 256),
    state      TEXT NOT NULL
               CHECK (state IN ('Firmware', 'Booting', 'Running', 'Panic', 'Rebooting', 'Off')),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);

-- Every detected state change of a VM (its console LogService's entries). Kept after the
-- VM is freed, until the caps (entries per VM, age) drop them.
CREATE TABLE console_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a stale URI names no other entry
    vm_uuid    TEXT NOT NULL REFERENCES vms (uuid),
    port_idx   INTEGER NOT NULL,
    created_us INTEGER NOT NULL,              -- microseconds since the epoch
    state      TEXT NOT NULL,
    previous   TEXT NOT NULL,
    rule_id    TEXT NOT NULL,
    line       TEXT NOT NULL,
    before     TEXT NOT NULL DEFAULT '[]',    -- JSON array of the lines before it
    after      TEXT                           -- JSON array of the lines after a panic
);
CREATE INDEX console_log_vm ON console_log (vm_uuid, id);
