#include "audit.h"

#include "app.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TRIM_EVERY 256 /* rows between two trims to audit_entries */

static const struct {
    const char *name;
    bool warning;
} actions[AUDIT_ACTION_COUNT] = {
    [AUDIT_LOGIN] = {"Login", false},
    [AUDIT_LOGIN_FAILED] = {"LoginFailed", true},
    [AUDIT_LOGOUT] = {"Logout", false},
    [AUDIT_SESSION_EXPIRED] = {"SessionExpired", false},
    [AUDIT_CONSOLE_ATTACH] = {"ConsoleAttach", false},
    [AUDIT_CONSOLE_DETACH] = {"ConsoleDetach", false},
    [AUDIT_CONSOLE_INPUT] = {"ConsoleInput", false},
    [AUDIT_MODE_CHANGE] = {"ModeChange", false},
    [AUDIT_ACCESS_RULE] = {"AccessRuleChange", false},
    [AUDIT_ACCOUNT] = {"AccountChange", false},
    [AUDIT_ALLOCATE] = {"PortsAllocated", false},
    [AUDIT_FREE] = {"PortsFreed", false},
    [AUDIT_STATE_RULE] = {"StateRuleChange", false},
    [AUDIT_AUDIT_CLEARED] = {"AuditLogCleared", true},
    [AUDIT_TLS_RELOAD] = {"TlsReload", false},
};

const char *audit_action_name(enum audit_action a)
{
    return a < AUDIT_ACTION_COUNT ? actions[a].name : "Unknown";
}

const char *audit_action_severity(enum audit_action a)
{
    return a < AUDIT_ACTION_COUNT && actions[a].warning ? "Warning" : "OK";
}

static enum audit_action action_parse(const char *name)
{
    for (int a = 0; a < AUDIT_ACTION_COUNT; a++) {
        if (strcmp(actions[a].name, name) == 0)
            return (enum audit_action)a;
    }
    return AUDIT_ACTION_COUNT;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Keeps the newest `keep` rows. */
static void trim(struct db *db, int64_t keep)
{
    sqlite3_stmt *st = db_stmt(db, "DELETE FROM audit_log WHERE id <= "
                                   "(SELECT max(id) FROM audit_log) - ?1");
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, keep);
    if (sqlite3_step(st) != SQLITE_DONE)
        log_error("database: audit trim: %s", sqlite3_errmsg(db->sql));
    sqlite3_reset(st);
}

static void vaudit(struct vsc_app *app, enum audit_action a, const char *user, const char *client,
                   const char *target, const char *fmt, va_list ap)
{
    char detail[2048];
    vsnprintf(detail, sizeof(detail), fmt, ap);
    sqlite3_stmt *st = db_stmt(&app->db, "INSERT INTO audit_log (created_us, action, user_name, "
                                         "client, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, now_us());
    sqlite3_bind_text(st, 2, audit_action_name(a), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, user ? user : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, client ? client : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, target ? target : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, detail, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        db_error(&app->db, sqlite3_extended_errcode(app->db.sql), "audit insert");
    sqlite3_reset(st);
    /* Every TRIM_EVERY rows (the row id counts them), or every row under a small cap. */
    if (rc == SQLITE_DONE && (sqlite3_last_insert_rowid(app->db.sql) % TRIM_EVERY == 0 ||
                              app->cfg.audit_entries < TRIM_EVERY))
        trim(&app->db, app->cfg.audit_entries);
}

void audit(struct vsc_app *app, enum audit_action a, const char *user, const char *client,
           const char *target, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vaudit(app, a, user, client, target, fmt, ap);
    va_end(ap);
}

void audit_req(const struct rf_request *req, enum audit_action a, const char *target,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vaudit(req->app, a, req->who.user, req->client_ip, target, fmt, ap);
    va_end(ap);
}

void audit_escape(const void *data, size_t len, char *out, size_t outsz)
{
    const unsigned char *s = data;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char one[8];
        unsigned char c = s[i];
        if (c == '\r' || c == '\n' || c == '\t')
            snprintf(one, sizeof(one), "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
        else if (c == '\\')
            snprintf(one, sizeof(one), "\\\\");
        else if (c >= 0x20 && c < 0x7f)
            snprintf(one, sizeof(one), "%c", c);
        else
            snprintf(one, sizeof(one), "\\x%02x", c);
        size_t n = strlen(one);
        if (o + n + 4 > outsz) {
            if (outsz >= 4) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, one, n);
        o += n;
    }
    if (outsz)
        out[o < outsz ? o : outsz - 1] = '\0';
}

int audit_ids(struct db *db, size_t skip, int64_t *ids, size_t max)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT id FROM audit_log ORDER BY id LIMIT ?1 OFFSET ?2");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)skip);
    size_t n = 0;
    int rc;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return (int)n;
}

int audit_get(struct db *db, int64_t id, struct audit_entry *e)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT id, created_us, action, user_name, client, target, "
                                   "detail FROM audit_log WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        char action[32];
        e->id = sqlite3_column_int64(st, 0);
        e->created_us = sqlite3_column_int64(st, 1);
        db_column_text(st, 2, action, sizeof(action));
        e->action = action_parse(action);
        db_column_text(st, 3, e->user, sizeof(e->user));
        db_column_text(st, 4, e->client, sizeof(e->client));
        db_column_text(st, 5, e->target, sizeof(e->target));
        db_column_text(st, 6, e->detail, sizeof(e->detail));
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int audit_count(struct db *db, int64_t *n)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM audit_log");
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -EIO;
}

int audit_clear(struct db *db)
{
    return db_exec(db, "DELETE FROM audit_log") == 0 ? 0 : -EIO;
}
