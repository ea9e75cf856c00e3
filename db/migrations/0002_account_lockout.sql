-- 0002: failed-login counting and lockout survive restarts (AccountService lockout).
ALTER TABLE accounts ADD COLUMN failed_logins  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN last_failed_at INTEGER NOT NULL DEFAULT 0;
-- Unix seconds until which the account is locked; 0 = not locked; -1 = until an
-- Administrator unlocks it.
ALTER TABLE accounts ADD COLUMN locked_until   INTEGER NOT NULL DEFAULT 0;
