#include "db_acl.h"

#include "db_accounts.h"
#include "log.h"
#include "port_rights.h"

#include <errno.h>
#include <stdio.h>

int db_acl_insert(struct db *db, struct db_acl_rule *rule)
{
    sqlite3_stmt *st =
        db_stmt(db, "INSERT INTO port_access_rules (port_id, account_id, role_id, port_right, "
                    "effect, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, rule->port_id);
    if (rule->account_id > 0)
        sqlite3_bind_int64(st, 2, rule->account_id);
    else
        sqlite3_bind_text(st, 3, role_name(rule->role), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, port_right_name(rule->right), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, rule->deny ? "Deny" : "Grant", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, rule->created_at);
    int rc = db_step_change(db, st, "access rule insert");
    if (rc == 0)
        rule->id = sqlite3_last_insert_rowid(db->sql);
    return rc;
}

int db_acl_set_effect(struct db *db, int64_t id, bool deny)
{
    sqlite3_stmt *st = db_stmt(db, "UPDATE port_access_rules SET effect = ?2 WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, deny ? "Deny" : "Grant", -1, SQLITE_STATIC);
    return db_step_change(db, st, "access rule update");
}

int db_acl_delete(struct db *db, int64_t id)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM port_access_rules WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    return db_step_change(db, st, "access rule delete");
}

int db_acl_each(struct db *db, int (*cb)(void *ctx, const struct db_acl_rule *rule), void *ctx)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT r.id, r.port_id, r.account_id, r.role_id, a.user_name, r.port_right, "
                    "r.effect, r.created_at FROM port_access_rules AS r "
                    "LEFT JOIN accounts AS a ON a.id = r.account_id ORDER BY r.port_id, r.id");
    if (!st)
        return -EIO;
    int rc = SQLITE_DONE, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_acl_rule rule = {.id = sqlite3_column_int64(st, 0),
                                   .port_id = sqlite3_column_int64(st, 1),
                                   .account_id = sqlite3_column_int64(st, 2),
                                   .role = ROLE_NONE,
                                   .created_at = sqlite3_column_int64(st, 7)};
        const char *role = (const char *)sqlite3_column_text(st, 3);
        const char *user = (const char *)sqlite3_column_text(st, 4);
        const char *effect = (const char *)sqlite3_column_text(st, 6);
        if (role)
            rule.role = role_parse(role);
        snprintf(rule.user, sizeof(rule.user), "%s", user ? user : "");
        rule.right = port_right_parse((const char *)sqlite3_column_text(st, 5));
        rule.deny = effect && effect[0] == 'D';
        stop = cb(ctx, &rule);
    }
    sqlite3_reset(st);
    if (!stop && rc != SQLITE_DONE) {
        log_error("database: reading access rules: %s", sqlite3_errmsg(db->sql));
        return -EIO;
    }
    return stop;
}
