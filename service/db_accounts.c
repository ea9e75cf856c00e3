#include "db_accounts.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const role_names[ROLE_COUNT] = {"Administrator", "Operator", "ReadOnly"};

const char *role_name(enum role role)
{
    return role >= 0 && role < ROLE_COUNT ? role_names[role] : "";
}

enum role role_parse(const char *name)
{
    for (int i = 0; i < ROLE_COUNT; i++) {
        if (strcmp(name, role_names[i]) == 0)
            return (enum role)i;
    }
    return ROLE_NONE;
}

#define ACCOUNT_COLUMNS                                                                            \
    "id, user_name, password_hash, role_id, enabled, created_at, failed_logins, "                  \
    "last_failed_at, locked_until"

static void read_row(sqlite3_stmt *st, struct account *a)
{
    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(st, 0);
    snprintf(a->user, sizeof(a->user), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(a->hash, sizeof(a->hash), "%s", (const char *)sqlite3_column_text(st, 2));
    a->role = role_parse((const char *)sqlite3_column_text(st, 3));
    a->enabled = sqlite3_column_int(st, 4) != 0;
    a->created_at = sqlite3_column_int64(st, 5);
    a->failed_logins = sqlite3_column_int(st, 6);
    a->last_failed_at = sqlite3_column_int64(st, 7);
    a->locked_until = sqlite3_column_int64(st, 8);
}

static int step_one(struct db *db, sqlite3_stmt *st, struct account *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_row(st, out);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    log_error("database: account lookup: %s", sqlite3_errmsg(db->sql));
    return -EIO;
}

int db_account_get(struct db *db, int64_t id, struct account *out)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    return step_one(db, st, out);
}

int db_account_find(struct db *db, const char *user, struct account *out)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE user_name = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    return step_one(db, st, out);
}

int db_account_ids(struct db *db, int64_t *ids, size_t max, size_t *count)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT id FROM accounts ORDER BY id");
    *count = 0;
    if (!st)
        return -EIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *count < max)
        ids[(*count)++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

static int finish_write(struct db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(db->sql);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (ext == SQLITE_CONSTRAINT_UNIQUE)
        return -EEXIST;
    db_error(db, ext, "account write");
    return -EIO;
}

int db_account_create(struct db *db, struct account *a)
{
    sqlite3_stmt *st = db_stmt(db, "INSERT INTO accounts (user_name, password_hash, role_id, "
                                   "enabled, created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, a->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, role_name(a->role), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, a->enabled);
    sqlite3_bind_int64(st, 5, a->created_at);
    int rc = finish_write(db, st);
    if (rc == 0)
        a->id = sqlite3_last_insert_rowid(db->sql);
    return rc;
}

int db_account_update(struct db *db, const struct account *a)
{
    sqlite3_stmt *st = db_stmt(db, "UPDATE accounts SET user_name = ?2, password_hash = ?3, "
                                   "role_id = ?4, enabled = ?5, failed_logins = ?6, "
                                   "last_failed_at = ?7, locked_until = ?8 WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, a->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, role_name(a->role), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, a->enabled);
    sqlite3_bind_int(st, 6, a->failed_logins);
    sqlite3_bind_int64(st, 7, a->last_failed_at);
    sqlite3_bind_int64(st, 8, a->locked_until);
    int rc = finish_write(db, st);
    if (rc == 0 && sqlite3_changes(db->sql) == 0)
        return -ENOENT;
    return rc;
}

int db_account_delete(struct db *db, int64_t id)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM accounts WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = finish_write(db, st);
    if (rc == 0 && sqlite3_changes(db->sql) == 0)
        return -ENOENT;
    return rc;
}

static int count_query(struct db *db, sqlite3_stmt *st, int *count)
{
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        log_error("database: count: %s", sqlite3_errmsg(db->sql));
        return -EIO;
    }
    return 0;
}

int db_account_count_admins(struct db *db, int64_t except_id, int *count)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM accounts WHERE role_id = "
                                   "'Administrator' AND enabled = 1 AND id != ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, except_id);
    return count_query(db, st, count);
}

int db_account_total(struct db *db, int *count)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM accounts");
    if (!st)
        return -EIO;
    return count_query(db, st, count);
}
