/* db and db_accounts: migrations, the reference schema, settings, the accounts table. */
#include "test.h"

#include "db.h"
#include "db_accounts.h"
#include "db_checkpoint.h"
#include "embed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tmpdb {
    char dir[256];
    char path[320];
};

static int tmpdb_make(struct tmpdb *t)
{
    if (test_tmpdir(t->dir, sizeof(t->dir)) < 0)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/vsc.db", t->dir);
    return 0;
}

static struct account make_account(const char *user, enum role role)
{
    struct account a;
    memset(&a, 0, sizeof(a));
    snprintf(a.user, sizeof(a.user), "%s", user);
    snprintf(a.hash, sizeof(a.hash), "$y$not-a-real-hash-%s", user);
    a.role = role;
    a.enabled = true;
    a.created_at = 1700000000;
    return a;
}

/* One text row per result row of `sql`, columns joined by '|', rows by '\n', sorted. */
static char *query_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        test_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
        return NULL;
    }
    char **rows = NULL;
    size_t n = 0, total = 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char row[1024];
        size_t o = 0;
        row[0] = '\0';
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const unsigned char *v = sqlite3_column_text(st, c);
            int w = snprintf(row + o, sizeof(row) - o, "%s%s", c ? "|" : "",
                             v ? (const char *)v : "NULL");
            if (w > 0 && (size_t)w < sizeof(row) - o)
                o += (size_t)w;
        }
        char **grown = realloc(rows, (n + 1) * sizeof(*rows));
        if (!grown)
            break;
        rows = grown;
        rows[n] = strdup(row);
        total += strlen(row) + 1;
        n++;
    }
    sqlite3_finalize(st);
    /* Sort so that column/index order in the catalog does not matter for sets. */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(rows[j - 1], rows[j]) > 0; j--) {
            char *tmp = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = tmp;
        }
    }
    char *out = malloc(total);
    if (out) {
        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            strcat(out, rows[i]);
            strcat(out, "\n");
        }
    }
    for (size_t i = 0; i < n; i++)
        free(rows[i]);
    free(rows);
    return out;
}

static void check_same_rows(sqlite3 *a, sqlite3 *b, const char *sql, const char *what)
{
    char *ra = query_rows(a, sql), *rb = query_rows(b, sql);
    if (!ra || !rb || strcmp(ra, rb) != 0)
        test_fail(__FILE__, __LINE__, "%s differs: migrated [%s] vs schema.sql [%s]", what,
                  ra ? ra : "?", rb ? rb : "?");
    free(ra);
    free(rb);
}

static int int_query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

TEST(db_fresh_database_is_fully_migrated)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    CHECK(db_migration_count >= 2);
    CHECK_EQ_INT(db_user_version(&db), (int)db_migration_count);
    /* Versions are 1..N in order. */
    for (size_t i = 0; i < db_migration_count; i++) {
        CHECK_EQ_INT(db_migrations[i].version, (int)i + 1);
        CHECK(db_migrations[i].sql != NULL && strlen(db_migrations[i].sql) > 0);
    }
    /* WAL and foreign keys, as the header promises. */
    char *mode = query_rows(db.sql, "PRAGMA journal_mode");
    CHECK_STREQ(mode, "wal\n");
    free(mode);
    CHECK_EQ_INT(int_query(db.sql, "PRAGMA foreign_keys"), 1);
    db_close(&db);

    /* Reopening applies nothing and keeps the version. */
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    CHECK_EQ_INT(db_user_version(&db), (int)db_migration_count);
    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_upgrade_keeps_accounts)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, 1) == 0);
    CHECK_EQ_INT(db_user_version(&db), 1);
    /* The first schema has no lockout columns yet. */
    CHECK_EQ_INT(int_query(db.sql, "SELECT count(*) FROM pragma_table_info('accounts') "
                                   "WHERE name = 'locked_until'"),
                 0);
    struct account a = make_account("olduser", ROLE_OPERATOR);
    a.enabled = false;
    CHECK_EQ_INT(db_account_create(&db, &a), 0);
    CHECK(a.id > 0);
    CHECK_EQ_INT(db_setting_set(&db, "kept", "yes"), 0);
    db_close(&db);

    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    CHECK_EQ_INT(db_user_version(&db), (int)db_migration_count);
    struct account got;
    REQUIRE(db_account_find(&db, "olduser", &got) == 0);
    CHECK_EQ_INT(got.id, a.id);
    CHECK_STREQ(got.user, "olduser");
    CHECK_STREQ(got.hash, a.hash);
    CHECK_EQ_INT(got.role, ROLE_OPERATOR);
    CHECK(got.enabled == false);
    CHECK_EQ_INT(got.created_at, 1700000000);
    /* The new columns, with their defaults. */
    CHECK_EQ_INT(got.failed_logins, 0);
    CHECK_EQ_INT(got.last_failed_at, 0);
    CHECK_EQ_INT(got.locked_until, 0);
    char *cols = query_rows(db.sql, "SELECT name, type, \"notnull\", dflt_value FROM "
                                    "pragma_table_info('accounts') WHERE name IN "
                                    "('failed_logins', 'last_failed_at', 'locked_until')");
    CHECK_STREQ(cols, "failed_logins|INTEGER|1|0\n"
                      "last_failed_at|INTEGER|1|0\n"
                      "locked_until|INTEGER|1|0\n");
    free(cols);
    char v[16];
    CHECK_EQ_INT(db_setting_get(&db, "kept", v, sizeof(v)), 0);
    CHECK_STREQ(v, "yes");
    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_migrated_schema_equals_schema_sql)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    sqlite3 *ref = NULL;
    REQUIRE(sqlite3_open(":memory:", &ref) == SQLITE_OK);
    CHECK(EMBED_LEN(embed_schema_sql) > 0);
    char *err = NULL;
    if (sqlite3_exec(ref, embed_schema_sql, NULL, NULL, &err) != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "schema.sql: %s", err ? err : "?");
    sqlite3_free(err);

    /* The same tables, views and triggers (by name and kind). */
    static const char objects[] = "SELECT type, name, tbl_name FROM sqlite_master "
                                  "WHERE name NOT LIKE 'sqlite_%' AND type != 'index'";
    check_same_rows(db.sql, ref, objects, "schema objects");
    char *tables = query_rows(db.sql, "SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "AND name NOT LIKE 'sqlite_%'");
    REQUIRE(tables != NULL);
    CHECK(strstr(tables, "accounts\n") != NULL);
    CHECK(strstr(tables, "settings\n") != NULL);

    /* Every table's columns and indexes. */
    int ntables = 0;
    for (char *name = strtok(tables, "\n"); name; name = strtok(NULL, "\n")) {
        ntables++;
        char sql[512], what[256];
        snprintf(sql, sizeof(sql),
                 "SELECT cid, name, type, \"notnull\", dflt_value, pk "
                 "FROM pragma_table_info('%s')",
                 name);
        snprintf(what, sizeof(what), "table_info(%s)", name);
        check_same_rows(db.sql, ref, sql, what);
        snprintf(sql, sizeof(sql),
                 "SELECT il.name, il.\"unique\", il.origin, il.partial, ii.seqno, ii.name "
                 "FROM pragma_index_list('%s') AS il, pragma_index_info(il.name) AS ii",
                 name);
        snprintf(what, sizeof(what), "index_list(%s)", name);
        check_same_rows(db.sql, ref, sql, what);
        /* Index lists of expression indexes have no index_info rows: compare names too. */
        snprintf(sql, sizeof(sql), "SELECT name, \"unique\", origin FROM pragma_index_list('%s')",
                 name);
        check_same_rows(db.sql, ref, sql, what);
    }
    CHECK(ntables >= 2);
    free(tables);
    sqlite3_close(ref);
    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_newer_database_is_refused)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", (int)db_migration_count + 1);
    CHECK_EQ_INT(db_exec(&db, pragma), 0);
    db_close(&db);

    CHECK_EQ_INT(db_open(&db, t.path, db_migrations, db_migration_count), -1);
    CHECK(db.sql == NULL); /* nothing left open */

    /* Also when this build knows fewer migrations than the file has applied. */
    struct tmpdb t2;
    REQUIRE(tmpdb_make(&t2) == 0);
    REQUIRE(db_open(&db, t2.path, db_migrations, db_migration_count) == 0);
    db_close(&db);
    CHECK_EQ_INT(db_open(&db, t2.path, db_migrations, 1), -1);
    CHECK(db.sql == NULL);
    /* The refused file was not touched. */
    REQUIRE(db_open(&db, t2.path, db_migrations, db_migration_count) == 0);
    CHECK_EQ_INT(db_user_version(&db), (int)db_migration_count);
    db_close(&db);
    test_rmtree(t.dir);
    test_rmtree(t2.dir);
}

TEST(db_failed_migration_rolls_back)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    const struct db_migration bad[] = {
        db_migrations[0],
        {2, "0002_broken", "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;"},
    };
    struct db db;
    CHECK_EQ_INT(db_open(&db, t.path, bad, 2), -1);
    /* Migration 1 stays applied; none of the broken one does. */
    REQUIRE(db_open(&db, t.path, db_migrations, 1) == 0);
    CHECK_EQ_INT(db_user_version(&db), 1);
    CHECK_EQ_INT(int_query(db.sql, "SELECT count(*) FROM sqlite_master WHERE name = 'half'"), 0);
    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_settings_get_set)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    char v[64] = "untouched";
    CHECK_EQ_INT(db_setting_get(&db, "missing", v, sizeof(v)), 1);
    CHECK_STREQ(v, "untouched");
    CHECK_EQ_INT(db_setting_set(&db, "color", "blue"), 0);
    CHECK_EQ_INT(db_setting_get(&db, "color", v, sizeof(v)), 0);
    CHECK_STREQ(v, "blue");
    CHECK_EQ_INT(db_setting_set(&db, "color", "green"), 0); /* overwrite */
    CHECK_EQ_INT(db_setting_get(&db, "color", v, sizeof(v)), 0);
    CHECK_STREQ(v, "green");
    CHECK_EQ_INT(int_query(db.sql, "SELECT count(*) FROM settings"), 1);
    CHECK_EQ_INT(db_setting_set(&db, "empty", ""), 0);
    CHECK_EQ_INT(db_setting_get(&db, "empty", v, sizeof(v)), 0);
    CHECK_STREQ(v, "");
    /* A small buffer gets a truncated, terminated value. */
    char small[4];
    CHECK_EQ_INT(db_setting_get(&db, "color", small, sizeof(small)), 0);
    CHECK_STREQ(small, "gre");

    CHECK_EQ_INT(db_setting_get_int(&db, "n", 42), 42);
    CHECK_EQ_INT(db_setting_set_int(&db, "n", -1234567890123LL), 0);
    CHECK_EQ_INT(db_setting_get_int(&db, "n", 42), -1234567890123LL);
    CHECK_EQ_INT(db_setting_set(&db, "n", "12x"), 0);
    CHECK_EQ_INT(db_setting_get_int(&db, "n", 42), 42); /* not a number: the fallback */
    db_close(&db);

    /* Settings persist. */
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    CHECK_EQ_INT(db_setting_get(&db, "color", v, sizeof(v)), 0);
    CHECK_STREQ(v, "green");
    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_transactions)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    char v[16];
    CHECK_EQ_INT(db_begin(&db), 0);
    CHECK_EQ_INT(db_setting_set(&db, "a", "1"), 0);
    db_rollback(&db);
    CHECK_EQ_INT(db_setting_get(&db, "a", v, sizeof(v)), 1);
    CHECK_EQ_INT(db_begin(&db), 0);
    CHECK_EQ_INT(db_setting_set(&db, "a", "2"), 0);
    CHECK_EQ_INT(db_commit(&db), 0);
    CHECK_EQ_INT(db_setting_get(&db, "a", v, sizeof(v)), 0);
    CHECK_STREQ(v, "2");
    db_rollback(&db); /* outside a transaction: harmless */
    CHECK_EQ_INT(db_setting_get(&db, "a", v, sizeof(v)), 0);
    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_accounts_crud)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);

    struct account admin = make_account("admin", ROLE_ADMINISTRATOR);
    struct account op = make_account("op", ROLE_OPERATOR);
    struct account ro = make_account("viewer", ROLE_READONLY);
    CHECK_EQ_INT(db_account_create(&db, &admin), 0);
    CHECK_EQ_INT(db_account_create(&db, &op), 0);
    CHECK_EQ_INT(db_account_create(&db, &ro), 0);
    CHECK(admin.id > 0 && op.id > admin.id && ro.id > op.id);

    int n = -1;
    CHECK_EQ_INT(db_account_total(&db, &n), 0);
    CHECK_EQ_INT(n, 3);

    /* find and get */
    struct account got;
    REQUIRE(db_account_find(&db, "op", &got) == 0);
    CHECK_EQ_INT(got.id, op.id);
    CHECK_EQ_INT(got.role, ROLE_OPERATOR);
    CHECK(got.enabled);
    CHECK_STREQ(got.hash, op.hash);
    REQUIRE(db_account_get(&db, ro.id, &got) == 0);
    CHECK_STREQ(got.user, "viewer");
    CHECK_EQ_INT(got.role, ROLE_READONLY);
    CHECK_EQ_INT(db_account_find(&db, "nobody", &got), -ENOENT);
    CHECK_EQ_INT(db_account_find(&db, "OP", &got), -ENOENT); /* names are case-sensitive */
    CHECK_EQ_INT(db_account_get(&db, 9999, &got), -ENOENT);

    /* -EEXIST for a taken name, on create and on rename */
    struct account dup = make_account("op", ROLE_READONLY);
    CHECK_EQ_INT(db_account_create(&db, &dup), -EEXIST);
    struct account rename = op;
    snprintf(rename.user, sizeof(rename.user), "admin");
    CHECK_EQ_INT(db_account_update(&db, &rename), -EEXIST);
    REQUIRE(db_account_get(&db, op.id, &got) == 0);
    CHECK_STREQ(got.user, "op");

    /* update every field */
    struct account upd = op;
    snprintf(upd.user, sizeof(upd.user), "operator2");
    snprintf(upd.hash, sizeof(upd.hash), "$y$other");
    upd.role = ROLE_ADMINISTRATOR;
    upd.enabled = false;
    upd.failed_logins = 3;
    upd.last_failed_at = 1700000100;
    upd.locked_until = -1;
    CHECK_EQ_INT(db_account_update(&db, &upd), 0);
    REQUIRE(db_account_get(&db, op.id, &got) == 0);
    CHECK_STREQ(got.user, "operator2");
    CHECK_STREQ(got.hash, "$y$other");
    CHECK_EQ_INT(got.role, ROLE_ADMINISTRATOR);
    CHECK(!got.enabled);
    CHECK_EQ_INT(got.failed_logins, 3);
    CHECK_EQ_INT(got.last_failed_at, 1700000100);
    CHECK_EQ_INT(got.locked_until, -1);
    CHECK_EQ_INT(got.created_at, 1700000000); /* not an updatable field */
    CHECK_EQ_INT(db_account_find(&db, "op", &got), -ENOENT);

    struct account ghost = make_account("ghost", ROLE_READONLY);
    ghost.id = 9999;
    CHECK_EQ_INT(db_account_update(&db, &ghost), -ENOENT);

    /* admins: admin (enabled) counts; operator2 is an Administrator but disabled */
    int admins = -1;
    CHECK_EQ_INT(db_account_count_admins(&db, 0, &admins), 0);
    CHECK_EQ_INT(admins, 1);
    CHECK_EQ_INT(db_account_count_admins(&db, admin.id, &admins), 0);
    CHECK_EQ_INT(admins, 0);

    /* ids, in ascending order, bounded by max */
    int64_t ids[8];
    size_t count = 99;
    CHECK_EQ_INT(db_account_ids(&db, ids, 8, &count), 0);
    CHECK_EQ_INT(count, 3);
    CHECK(ids[0] == admin.id && ids[1] == op.id && ids[2] == ro.id);
    CHECK_EQ_INT(db_account_ids(&db, ids, 2, &count), 0);
    CHECK_EQ_INT(count, 2);

    /* delete */
    CHECK_EQ_INT(db_account_delete(&db, ro.id), 0);
    CHECK_EQ_INT(db_account_get(&db, ro.id, &got), -ENOENT);
    CHECK_EQ_INT(db_account_delete(&db, ro.id), -ENOENT);
    CHECK_EQ_INT(db_account_total(&db, &n), 0);
    CHECK_EQ_INT(n, 2);
    /* the name is free again */
    struct account again = make_account("viewer", ROLE_READONLY);
    CHECK_EQ_INT(db_account_create(&db, &again), 0);
    CHECK(again.id != 0);

    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_accounts_constraints)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    /* The schema's CHECKs: a role outside the three, an empty name. */
    struct account bad_role = make_account("x", ROLE_NONE);
    CHECK_EQ_INT(db_account_create(&db, &bad_role), -EIO);
    struct account empty = make_account("", ROLE_READONLY);
    CHECK_EQ_INT(db_account_create(&db, &empty), -EIO);
    int n = -1;
    CHECK_EQ_INT(db_account_total(&db, &n), 0);
    CHECK_EQ_INT(n, 0);
    db_close(&db);
    test_rmtree(t.dir);
}

TEST(db_role_names)
{
    CHECK_STREQ(role_name(ROLE_ADMINISTRATOR), "Administrator");
    CHECK_STREQ(role_name(ROLE_OPERATOR), "Operator");
    CHECK_STREQ(role_name(ROLE_READONLY), "ReadOnly");
    CHECK_STREQ(role_name(ROLE_NONE), "");
    CHECK_STREQ(role_name(ROLE_COUNT), "");
    CHECK_EQ_INT(role_parse("Administrator"), ROLE_ADMINISTRATOR);
    CHECK_EQ_INT(role_parse("ReadOnly"), ROLE_READONLY);
    CHECK_EQ_INT(role_parse("readonly"), ROLE_NONE);
    CHECK_EQ_INT(role_parse(""), ROLE_NONE);
}

TEST(db_open_bad_path)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/no/such/dir/vsc.db", t.dir);
    struct db db;
    memset(&db, 0x5a, sizeof(db));
    CHECK_EQ_INT(db_open(&db, path, db_migrations, db_migration_count), -1);
    CHECK(db.sql == NULL);
    CHECK(access(path, F_OK) != 0);
    test_rmtree(t.dir);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* db_checkpoint: commits that leave the log past its pages wake the thread, which copies the
 * log into the database file; the committing connection does not (SQLite's own checkpoint
 * would need 1000 pages). Everything written is there after close, which removes the log. */
TEST(db_checkpoints_run_on_their_thread)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    CHECK_EQ_INT(db_checkpoints_done(&db), 0);
    REQUIRE(db_checkpoints_start(&db, t.path, 8) == 0);
    char wal[400];
    snprintf(wal, sizeof(wal), "%s-wal", t.path);
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        REQUIRE(db_setting_set_int(&db, key, i) == 0);
    }
    for (int tries = 0; tries < 500 && db_checkpoints_done(&db) == 0; tries++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    CHECK(db_checkpoints_done(&db) > 0);
    CHECK(file_size(wal) > 0);
    db_close(&db);
    CHECK(db.checkpointer == NULL);
    CHECK(access(wal, F_OK) != 0);
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    CHECK_EQ_INT(db_setting_get_int(&db, "k0", -1), 0);
    CHECK_EQ_INT(db_setting_get_int(&db, "k199", -1), 199);
    db_close(&db);
    test_rmtree(t.dir);
}

/* Without the thread (never started, or its connection cannot open) SQLite keeps
 * checkpointing as before, and stopping is harmless. */
TEST(db_checkpoints_not_started)
{
    struct tmpdb t;
    REQUIRE(tmpdb_make(&t) == 0);
    struct db db;
    REQUIRE(db_open(&db, t.path, db_migrations, db_migration_count) == 0);
    db_checkpoints_stop(&db);
    char bad[400];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/vsc.db", t.dir);
    CHECK_EQ_INT(db_checkpoints_start(&db, bad, 8), -1);
    CHECK(db.checkpointer == NULL);
    CHECK_EQ_INT(db_setting_set_int(&db, "after", 1), 0);
    CHECK_EQ_INT(db_setting_get_int(&db, "after", 0), 1);
    db_close(&db);
    test_rmtree(t.dir);
}
