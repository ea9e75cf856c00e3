#include "db.h"

#include "db_checkpoint.h"
#include "embed.h"
#include "log.h"

#include <inttypes.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct db_migration db_migrations[] = {
    {1, "0001_accounts", embed_migration_0001},
    {2, "0002_account_lockout", embed_migration_0002},
    {3, "0003_ports", embed_migration_0003},
    {4, "0004_port_access_rules", embed_migration_0004},
    {5, "0005_console_state", embed_migration_0005},
    {6, "0006_audit", embed_migration_0006},
    {7, "0007_console_states", embed_migration_0007},
};
const size_t db_migration_count = sizeof(db_migrations) / sizeof(db_migrations[0]);

void db_error(struct db *db, int ext, const char *what)
{
    if ((ext & 0xff) == SQLITE_FULL)
        db->full = true;
    log_error("database: %s: %s", what, sqlite3_errstr(ext));
}

int db_step_change(struct db *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(db->sql);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return sqlite3_changes(db->sql) > 0 ? 0 : -ENOENT;
    if (ext == SQLITE_CONSTRAINT_UNIQUE)
        return -EEXIST;
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return -ENOENT;
    db_error(db, ext, what);
    return -EIO;
}

void db_column_text(sqlite3_stmt *st, int col, char *out, size_t outsz)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(out, outsz, "%s", s ? (const char *)s : "");
}

int db_exec(struct db *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db->sql, sql, NULL, NULL, &err) != SQLITE_OK) {
        if ((sqlite3_extended_errcode(db->sql) & 0xff) == SQLITE_FULL)
            db->full = true;
        log_error("database: %s", err ? err : sqlite3_errmsg(db->sql));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int db_begin(struct db *db)
{
    return db_exec(db, "BEGIN IMMEDIATE");
}

int db_commit(struct db *db)
{
    return db_exec(db, "COMMIT");
}

void db_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(db->sql))
        db_exec(db, "ROLLBACK");
}

int db_user_version(struct db *db)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db->sql, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

static int apply_migration(struct db *db, const struct db_migration *m)
{
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
    if (db_begin(db) < 0)
        return -1;
    if (db_exec(db, m->sql) < 0 || db_exec(db, pragma) < 0 || db_commit(db) < 0) {
        db_rollback(db);
        log_error("database: migration %s failed", m->name);
        return -1;
    }
    log_info("database: applied migration %s", m->name);
    return 0;
}

static int migrate(struct db *db, const struct db_migration *migs, size_t count)
{
    int current = db_user_version(db);
    if (current < 0)
        return -1;
    if ((size_t)current > count) {
        log_error("database: schema version %d is newer than this vscd knows (%zu)", current,
                  count);
        return -1;
    }
    for (size_t i = (size_t)current; i < count; i++) {
        if (apply_migration(db, &migs[i]) < 0)
            return -1;
    }
    return 0;
}

int db_open(struct db *db, const char *path, const struct db_migration *migs, size_t count)
{
    memset(db, 0, sizeof(*db));
    int rc = sqlite3_open_v2(
        path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("database: cannot open %s: %s", path,
                  db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
        db_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db->sql, 2000);
    if (db_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                    "PRAGMA foreign_keys = ON;") < 0 ||
        migrate(db, migs, count) < 0) {
        db_close(db);
        return -1;
    }
    return 0;
}

void db_close(struct db *db)
{
    db_checkpoints_stop(db); /* first: the last connection's close checkpoints the log */
    for (size_t i = 0; i < DB_STMT_CACHE; i++)
        sqlite3_finalize(db->cache[i].stmt);
    sqlite3_close(db->sql);
    memset(db, 0, sizeof(*db));
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
    size_t slot = DB_STMT_CACHE;
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        if (db->cache[i].text == sql) {
            sqlite3_reset(db->cache[i].stmt);
            sqlite3_clear_bindings(db->cache[i].stmt);
            return db->cache[i].stmt;
        }
        if (!db->cache[i].text && slot == DB_STMT_CACHE)
            slot = i;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_error("database: prepare failed: %s", sqlite3_errmsg(db->sql));
        return NULL;
    }
    if (slot == DB_STMT_CACHE) {
        /* Cache full: a programming error (raise DB_STMT_CACHE); recycle slot 0. */
        log_warn("database: statement cache full");
        slot = 0;
        sqlite3_finalize(db->cache[0].stmt);
    }
    db->cache[slot].text = sql;
    db->cache[slot].stmt = st;
    return st;
}

int db_setting_get(struct db *db, const char *key, char *out, size_t outsz)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT value FROM settings WHERE key = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 1;
    if (rc != SQLITE_ROW) {
        log_error("database: reading setting %s: %s", key, sqlite3_errmsg(db->sql));
        return -1;
    }
    snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return 0;
}

int db_setting_set(struct db *db, const char *key, const char *value)
{
    sqlite3_stmt *st = db_stmt(db, "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        db_error(db, sqlite3_extended_errcode(db->sql), "writing a setting");
        return -1;
    }
    return 0;
}

int64_t db_setting_get_int(struct db *db, const char *key, int64_t fallback)
{
    char buf[32];
    if (db_setting_get(db, key, buf, sizeof(buf)) != 0)
        return fallback;
    char *end;
    long long v = strtoll(buf, &end, 10);
    return *end ? fallback : (int64_t)v;
}

int db_setting_set_int(struct db *db, const char *key, int64_t value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, value);
    return db_setting_set(db, key, buf);
}
