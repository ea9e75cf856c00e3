-- 0004: per-port access rules (docs/console-protocol.md, "Access rules"): grant or deny one
-- console right on one port to one account or to every account of a role.
-- A user rule names the account by id: renaming the account keeps its rules, deleting it
-- removes them (ON DELETE CASCADE), and a later account with the same name gets none.
-- Freeing a port removes its rules (trigger below: freed ports keep their row).
CREATE TABLE port_access_rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a stale URI names no other rule
    port_id     INTEGER NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    account_id  INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    role_id     TEXT CHECK (role_id IN ('Administrator', 'Operator', 'ReadOnly')),
    port_right  TEXT NOT NULL CHECK (port_right IN ('Watch', 'Control', 'Observe', 'Private', 'Force')),
    effect      TEXT NOT NULL CHECK (effect IN ('Grant', 'Deny')),
    created_at  INTEGER NOT NULL,
    CHECK ((account_id IS NULL) != (role_id IS NULL))
);
-- One rule per subject, right and port: to turn a grant into a deny, change its effect.
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
