#include "db_console.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int db_state_rule_insert(struct db *db, const struct db_state_rule *rule)
{
    sqlite3_stmt *st = db_stmt(db, "INSERT INTO console_state_rules (rule_id, pattern, state, "
                                   "created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, rule->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rule->pattern, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rule->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, rule->created_at);
    sqlite3_bind_text(st, 5, rule->created_by, -1, SQLITE_STATIC);
    return db_step_change(db, st, "state rule insert");
}

int db_state_rule_delete(struct db *db, const char *id)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM console_state_rules WHERE rule_id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return db_step_change(db, st, "state rule delete");
}

int db_state_rules_each(struct db *db, int (*cb)(void *ctx, const struct db_state_rule *rule),
                        void *ctx)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT rule_id, pattern, state, created_at, created_by "
                                   "FROM console_state_rules ORDER BY rowid");
    if (!st)
        return -EIO;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_state_rule rule = {.created_at = sqlite3_column_int64(st, 3)};
        db_column_text(st, 0, rule.id, sizeof(rule.id));
        db_column_text(st, 1, rule.pattern, sizeof(rule.pattern));
        db_column_text(st, 2, rule.state, sizeof(rule.state));
        db_column_text(st, 4, rule.created_by, sizeof(rule.created_by));
        stop = cb(ctx, &rule);
    }
    sqlite3_reset(st);
    if (stop)
        return stop;
    return rc == SQLITE_DONE ? 0 : -EIO;
}

void db_console_entry_fini(struct db_console_entry *e)
{
    json_decref(e->before);
    json_decref(e->after);
    e->before = e->after = NULL;
}

static char *lines_text(const json_t *lines)
{
    return json_dumps(lines ? lines : json_array(), JSON_COMPACT);
}

/* Keeps the newest `keep` entries of a VM. */
static int trim_vm(struct db *db, const char *vm_uuid, int64_t keep)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM console_log WHERE vm_uuid = ?1 AND id <= "
                                   "(SELECT id FROM console_log WHERE vm_uuid = ?1 "
                                   "ORDER BY id DESC LIMIT 1 OFFSET ?2)");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, keep);
    int rc = db_step_change(db, st, "console log trim");
    return rc == -ENOENT ? 0 : rc;
}

int db_console_entry_insert(struct db *db, struct db_console_entry *e, int64_t keep)
{
    sqlite3_stmt *st = db_stmt(db, "INSERT INTO console_log (vm_uuid, port_idx, created_us, state, "
                                   "previous, rule_id, line, before) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    char *before = lines_text(e->before);
    if (!st || !before) {
        free(before);
        return -EIO;
    }
    sqlite3_bind_text(st, 1, e->vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, e->port_idx);
    sqlite3_bind_int64(st, 3, e->created_us);
    sqlite3_bind_text(st, 4, e->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->previous, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, e->rule_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, e->line, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, before, -1, SQLITE_TRANSIENT);
    free(before);
    int rc = db_step_change(db, st, "console log insert");
    if (rc < 0)
        return rc;
    e->id = sqlite3_last_insert_rowid(db->sql);
    return trim_vm(db, e->vm_uuid, keep);
}

int db_console_entry_set_after(struct db *db, int64_t id, const json_t *after)
{
    sqlite3_stmt *st = db_stmt(db, "UPDATE console_log SET after = ?2 WHERE id = ?1");
    char *text = lines_text(after);
    if (!st || !text) {
        free(text);
        return -EIO;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    free(text);
    return db_step_change(db, st, "console log update");
}

#define ENTRY_COLUMNS                                                                              \
    "id, vm_uuid, port_idx, created_us, state, previous, rule_id, line, before, after"

static json_t *lines_column(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    json_t *v = s ? json_loads(s, 0, NULL) : NULL;
    if (v && !json_is_array(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static void entry_from_row(sqlite3_stmt *st, struct db_console_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->id = sqlite3_column_int64(st, 0);
    db_column_text(st, 1, e->vm_uuid, sizeof(e->vm_uuid));
    e->port_idx = sqlite3_column_int(st, 2);
    e->created_us = sqlite3_column_int64(st, 3);
    db_column_text(st, 4, e->state, sizeof(e->state));
    db_column_text(st, 5, e->previous, sizeof(e->previous));
    db_column_text(st, 6, e->rule_id, sizeof(e->rule_id));
    db_column_text(st, 7, e->line, sizeof(e->line));
    e->before = lines_column(st, 8);
    if (!e->before)
        e->before = json_array();
    e->after = lines_column(st, 9);
}

int db_console_entry_get(struct db *db, const char *vm_uuid, int64_t id, struct db_console_entry *e)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT " ENTRY_COLUMNS " FROM console_log WHERE id = ?1 AND vm_uuid = ?2");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, vm_uuid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        entry_from_row(st, e);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int db_console_entries_each(struct db *db, const char *vm_uuid, bool latest_only,
                            int (*cb)(void *ctx, const struct db_console_entry *e), void *ctx)
{
    sqlite3_stmt *st = db_stmt(
        db, latest_only
                ? "SELECT " ENTRY_COLUMNS " FROM console_log WHERE vm_uuid = ?1 ORDER BY id DESC "
                  "LIMIT 1"
                : "SELECT " ENTRY_COLUMNS " FROM console_log WHERE vm_uuid = ?1 ORDER BY id");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_console_entry e;
        entry_from_row(st, &e);
        stop = cb(ctx, &e);
        db_console_entry_fini(&e);
    }
    sqlite3_reset(st);
    if (stop)
        return stop;
    return rc == SQLITE_DONE ? 0 : -EIO;
}

int db_console_entry_ids(struct db *db, const char *vm_uuid, size_t skip, int64_t *ids, size_t max)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT id FROM console_log WHERE vm_uuid = ?1 ORDER BY id LIMIT ?2 OFFSET ?3");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)skip);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? (int)n : -EIO;
}

int db_console_entry_count(struct db *db, const char *vm_uuid, int64_t *n)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM console_log WHERE vm_uuid = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -EIO;
}

int db_console_entries_clear(struct db *db, const char *vm_uuid)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM console_log WHERE vm_uuid = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    int rc = db_step_change(db, st, "console log clear");
    return rc == -ENOENT ? 0 : rc;
}

int db_console_entries_expire(struct db *db, int64_t before_us)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM console_log WHERE created_us < ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, before_us);
    int rc = db_step_change(db, st, "console log expire");
    return rc == -ENOENT ? 0 : rc < 0 ? rc : sqlite3_changes(db->sql);
}

int db_console_state_put(struct db *db, const struct db_console_entry *e)
{
    sqlite3_stmt *st = db_stmt(db, "INSERT OR REPLACE INTO console_states (vm_uuid, port_idx, "
                                   "since_us, state, rule_id, line) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, e->vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, e->port_idx);
    sqlite3_bind_int64(st, 3, e->created_us);
    sqlite3_bind_text(st, 4, e->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->rule_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, e->line, -1, SQLITE_STATIC);
    return db_step_change(db, st, "console state put");
}

int db_console_state_delete(struct db *db, const char *vm_uuid)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM console_states WHERE vm_uuid = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    int rc = db_step_change(db, st, "console state delete");
    return rc == -ENOENT ? 0 : rc;
}

int db_console_state_get(struct db *db, const char *vm_uuid, struct db_console_entry *e)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT port_idx, since_us, state, rule_id, line "
                                   "FROM console_states WHERE vm_uuid = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(e, 0, sizeof(*e));
        snprintf(e->vm_uuid, sizeof(e->vm_uuid), "%s", vm_uuid);
        e->port_idx = sqlite3_column_int(st, 0);
        e->created_us = sqlite3_column_int64(st, 1);
        db_column_text(st, 2, e->state, sizeof(e->state));
        db_column_text(st, 3, e->rule_id, sizeof(e->rule_id));
        db_column_text(st, 4, e->line, sizeof(e->line));
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}
