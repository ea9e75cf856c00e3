/*
 * db — owns the SQLite connection: opening, numbered migrations (PRAGMA user_version),
 * transactions, a statement cache and the settings table. WAL mode, foreign keys on,
 * synchronous=NORMAL (a committed transaction survives a vscd crash; WAL keeps readers
 * and the writer apart).
 *
 * Other store modules (db_accounts.c, ...) run their SQL through db_stmt() and never
 * open or close the connection.
 */
#ifndef VSC_DB_H
#define VSC_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db_migration {
    int version;
    const char *name;
    const char *sql; /* NUL-terminated */
};

/* The migrations compiled into vscd, in order (versions 1..N). */
extern const struct db_migration db_migrations[];
extern const size_t db_migration_count;

#define DB_STMT_CACHE 96

struct db {
    sqlite3 *sql;
    struct {
        const char *text; /* identity of the (static) SQL string */
        sqlite3_stmt *stmt;
    } cache[DB_STMT_CACHE];
    bool full; /* a write found the disk full (SQLITE_FULL) since the flag was cleared */
    struct db_checkpointer *checkpointer; /* db_checkpoint.h; NULL: SQLite's own */
};

/*
 * Opens (creating if needed) the database at `path` and applies every migration in
 * `migs` above the file's user_version, each in its own transaction. Refuses a database
 * newer than the migrations know. Returns 0 or -1 (logged).
 */
int db_open(struct db *db, const char *path, const struct db_migration *migs, size_t count);
void db_close(struct db *db);
int db_user_version(struct db *db);

/*
 * A prepared statement for a static SQL string, reset and with bindings cleared.
 * Owned by the cache: do not finalize. NULL on error (logged).
 */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/* Logs a failed statement (`ext`: sqlite3_extended_errcode() taken before any reset) and
 * notes a full disk in db->full: dispatch answers such a failure 507, not 500. */
void db_error(struct db *db, int ext, const char *what);

/* Steps a write statement and resets it: 0, -ENOENT (no row changed, or a foreign key
 * names no row), -EEXIST (a unique constraint), -EIO (logged as `what`, see db_error). */
int db_step_change(struct db *db, sqlite3_stmt *st, const char *what);

/* Copies a text column ("" for NULL), cut to outsz. */
void db_column_text(sqlite3_stmt *st, int col, char *out, size_t outsz);

/* Runs SQL without results (may hold several statements). Returns 0 or -1. */
int db_exec(struct db *db, const char *sql);

int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Settings (key/value text). get: 0 found, 1 absent, -1 error. */
int db_setting_get(struct db *db, const char *key, char *out, size_t outsz);
int db_setting_set(struct db *db, const char *key, const char *value);
int64_t db_setting_get_int(struct db *db, const char *key, int64_t fallback);
int db_setting_set_int(struct db *db, const char *key, int64_t value);

#endif
