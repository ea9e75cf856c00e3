/*
 * auth — who is calling: Redfish sessions (X-Auth-Token), HTTP Basic (TLS only),
 * account lockout and the fixed roles' privileges.
 *
 * Sessions live in memory only: a restart logs everyone out (docs/ARCHITECTURE.md).
 * Account lockout counters live in the database, so a restart does not reset them.
 * Basic credentials that verified recently are cached as an HMAC under a per-process
 * key, so repeated Basic requests cost one HMAC, not one yescrypt; any account change
 * empties the cache. Tokens are compared in constant time.
 */
#ifndef VSC_AUTH_H
#define VSC_AUTH_H

#include "db.h"
#include "rf.h"
#include "secret.h"
#include "worker.h"

#include <stdint.h>

#define AUTH_BASIC_CACHE     32
#define AUTH_BASIC_CACHE_TTL 60000 /* ms */
#define SESSION_ID_LEN       32

struct session {
    char id[SESSION_ID_LEN + 1];
    char token[SECRET_TOKEN_LEN + 1];
    int64_t account_id;
    char user[65];
    enum role role;
    int64_t created; /* unix seconds */
    uint64_t last_used_ms;
    char client_ip[64];
    char context[256]; /* the client's own label (Session.Context) */
    struct session *next;
};

struct auth_policy {
    int64_t session_timeout;     /* s, 30..86400 */
    int64_t lockout_threshold;   /* failed logins; 0 = never lock */
    int64_t lockout_duration;    /* s; 0 = no lockout */
    int64_t lockout_reset_after; /* s since the last failure; <= duration */
    int64_t min_password_length;
    int64_t max_password_length;
};

struct basic_cache_entry {
    int64_t account_id;
    uint8_t digest[32];
    uint64_t expires_ms;
};

struct auth {
    struct db *db;
    struct session *sessions;
    size_t session_count;
    size_t max_sessions;
    size_t max_sessions_per_user; /* 0 = max_sessions */
    struct auth_policy policy;
    uint8_t cache_key[32];
    struct basic_cache_entry cache[AUTH_BASIC_CACHE];
    char dummy_hash[SECRET_HASH_MAX]; /* verified against for unknown users (timing) */
    /* Told of each session that times out, before it is freed (may be NULL). */
    void (*expired)(void *ctx, const struct session *s);
    void *expired_ctx;
};

int auth_init(struct auth *a, struct db *db, size_t max_sessions, int64_t default_timeout);
void auth_fini(struct auth *a);

uint32_t auth_role_privileges(enum role role);

enum auth_result { AUTH_OK, AUTH_NO_CREDENTIALS, AUTH_FAILED, AUTH_PENDING, AUTH_BUSY };

/*
 * Authenticates a request from its Authorization and X-Auth-Token headers (either may
 * be NULL). Basic is honoured only when `tls` is true. On AUTH_FAILED for Basic
 * credentials, who->user names the user that was tried (for the audit trail). Fills *who on AUTH_OK
 * and refreshes the session's idle timer. An uncached Basic password is verified through `async`
 * (AUTH_PENDING: run the request again when it resumes; AUTH_BUSY: worker full).
 */
enum auth_result auth_request(struct auth *a, struct rf_async *async, const char *authorization,
                              const char *token, bool tls, struct rf_identity *who);

/*
 * Checks a user name and password (lockout applied once the verification is done).
 * 0, -EACCES, -EIO, or from the worker -EINPROGRESS / -EAGAIN (see worker.h).
 */
int auth_check_password(struct auth *a, struct rf_async *async, const char *user,
                        const char *password, int64_t *account_id);

/* Creates a session for a verified account. 0, -ENOSPC (the service's limit), -EDQUOT (the
 * user's), -ENOENT, -EIO. */
int auth_session_create(struct auth *a, int64_t account_id, const char *client_ip,
                        struct session **out);
struct session *auth_session_find(struct auth *a, const char *id);
void auth_session_delete(struct auth *a, struct session *s);

/* Drops expired sessions; returns how many. */
size_t auth_sweep(struct auth *a);

/*
 * Tells auth an account changed: empties the Basic cache, gives the account's sessions
 * its new role, and ends them when the account is gone or disabled.
 */
void auth_account_changed(struct auth *a, int64_t account_id);

/* The settings of struct auth_policy, as bits for auth_policy_store(). */
enum {
    AUTH_POLICY_SESSION_TIMEOUT = 1 << 0,
    AUTH_POLICY_LOCKOUT_THRESHOLD = 1 << 1,
    AUTH_POLICY_LOCKOUT_DURATION = 1 << 2,
    AUTH_POLICY_LOCKOUT_RESET_AFTER = 1 << 3,
    AUTH_POLICY_MIN_PASSWORD_LENGTH = 1 << 4,
    AUTH_POLICY_MAX_PASSWORD_LENGTH = 1 << 5,
};

/* Writes the settings named by `fields` (AUTH_POLICY_* bits, those a client set) to the
 * database in one transaction and takes the whole policy into use. Settings not written
 * keep following their default (session_timeout_default for SessionTimeout). 0 or -EIO. */
int auth_policy_store(struct auth *a, const struct auth_policy *p, unsigned fields);

/* True when the account is locked now (reading its stored lockout fields). */
struct account;
bool auth_account_locked(const struct auth *a, const struct account *acct, int64_t now);

#endif
