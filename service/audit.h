/*
 * audit — the audit trail: who did what, when, from where. Logins (and failures), logouts
 * and session expiries; console attach and detach; the input sent to consoles (byte
 * counts, and the bytes themselves when `audit_console_input` is on); mode, access-rule,
 * account, allocation and state-rule changes. Kept in SQLite (audit_log, migration 0006),
 * at most `audit_entries` rows, the oldest dropped first; served to Administrators only as
 * the Manager's LogService `Audit` (res_audit.c). Never a password, a token or a ticket.
 *
 * Writes go to the database in the loop thread (one INSERT, no fsync: WAL with
 * synchronous=NORMAL). Console input is batched per connection (console_ws.c) so typing
 * costs one row per connection and minute, not one per key.
 */
#ifndef VSC_AUDIT_H
#define VSC_AUDIT_H

#include "db.h"
#include "rf.h"

#include <stdarg.h>
#include <stdint.h>

enum audit_action {
    AUDIT_LOGIN,           /* a session opened */
    AUDIT_LOGIN_FAILED,    /* wrong credentials (session login or HTTP Basic) */
    AUDIT_LOGOUT,          /* a session deleted */
    AUDIT_SESSION_EXPIRED, /* a session timed out */
    AUDIT_CONSOLE_ATTACH,  /* a console WebSocket opened */
    AUDIT_CONSOLE_DETACH,  /* ... closed (with its byte counts) */
    AUDIT_CONSOLE_INPUT,   /* input sent to a console (bytes, and the input if configured) */
    AUDIT_MODE_CHANGE,     /* a console's mode changed */
    AUDIT_ACCESS_RULE,     /* a port's access rule added, changed or deleted */
    AUDIT_ACCOUNT,         /* an account created, changed or deleted; AccountService changed */
    AUDIT_ALLOCATE,        /* serial ports allocated */
    AUDIT_FREE,            /* serial ports freed */
    AUDIT_STATE_RULE,      /* a console state rule added or deleted */
    AUDIT_AUDIT_CLEARED,   /* the audit log was cleared */
    AUDIT_TLS_RELOAD,      /* the TLS certificate and key were read again (SIGHUP) */
    AUDIT_ACTION_COUNT
};

/* "Login", "LoginFailed", ... (the Oem.Vsc.Action of an audit LogEntry). */
const char *audit_action_name(enum audit_action a);
/* "OK" or "Warning" (failures, forced changes are Warning). */
const char *audit_action_severity(enum audit_action a);

struct vsc_app;

/* Records one entry; user/client/target may be NULL (""). Failures are logged, not fatal. */
void audit(struct vsc_app *app, enum audit_action a, const char *user, const char *client,
           const char *target, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The same with the request's user and client address. */
void audit_req(const struct rf_request *req, enum audit_action a, const char *target,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Console input as audit text: printable ASCII as is, the rest as \r, \n, \t, \xNN;
 * cut (with "...") to fit outsz. */
void audit_escape(const void *data, size_t len, char *out, size_t outsz);

/* A stored entry. */
struct audit_entry {
    int64_t id;
    int64_t created_us;
    enum audit_action action;
    char user[65];
    char client[64];
    char target[256];
    char detail[2048];
};

/* Entry ids, oldest first, from the skip-th on (at most max); the count or -EIO. */
int audit_ids(struct db *db, size_t skip, int64_t *ids, size_t max);
/* 0, -ENOENT, -EIO. */
int audit_get(struct db *db, int64_t id, struct audit_entry *e);
int audit_count(struct db *db, int64_t *n);
int audit_clear(struct db *db);

#endif
