-- 0007: each VM's current console state (docs/console-states.md), apart from its LogEntries:
-- ClearLog and the age cap empty the log, not what the console last said, which a restart
-- reads back from here.
CREATE TABLE console_states (
    vm_uuid  TEXT PRIMARY KEY REFERENCES vms (uuid),
    port_idx INTEGER NOT NULL,
    since_us INTEGER NOT NULL,                -- microseconds since the epoch
    state    TEXT NOT NULL,
    rule_id  TEXT NOT NULL,
    line     TEXT NOT NULL
) WITHOUT ROWID;
-- Where earlier versions read it back from: each VM's newest entry.
INSERT INTO console_states (vm_uuid, port_idx, since_us, state, rule_id, line)
    SELECT vm_uuid, port_idx, created_us, state, rule_id, line FROM console_log
    WHERE id IN (SELECT max(id) FROM console_log GROUP BY vm_uuid);
