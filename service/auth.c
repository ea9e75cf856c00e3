#include "auth.h"

#include "db_accounts.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

uint32_t auth_role_privileges(enum role role)
{
    switch (role) {
    case ROLE_ADMINISTRATOR:
        return PRIV_LOGIN | PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_USERS | PRIV_CONFIGURE_SELF |
               PRIV_CONFIGURE_COMPONENTS;
    case ROLE_OPERATOR:
        return PRIV_LOGIN | PRIV_CONFIGURE_SELF | PRIV_CONFIGURE_COMPONENTS;
    case ROLE_READONLY:
        return PRIV_LOGIN | PRIV_CONFIGURE_SELF;
    default:
        return 0;
    }
}

static void policy_load(struct auth *a, int64_t default_timeout)
{
    struct auth_policy *p = &a->policy;
    p->session_timeout = db_setting_get_int(a->db, "session_timeout", default_timeout);
    p->lockout_threshold = db_setting_get_int(a->db, "lockout_threshold", 5);
    p->lockout_duration = db_setting_get_int(a->db, "lockout_duration", 300);
    p->lockout_reset_after = db_setting_get_int(a->db, "lockout_reset_after", 300);
    p->min_password_length = db_setting_get_int(a->db, "min_password_length", 8);
    p->max_password_length = db_setting_get_int(a->db, "max_password_length", 128);
}

int auth_policy_store(struct auth *a, const struct auth_policy *p, unsigned fields)
{
    /* Only what the client set: storing every setting would pin the others at today's
     * value, and a later session_timeout_default would no longer apply. */
    const struct {
        unsigned bit;
        const char *key;
        int64_t value;
    } settings[] = {
        {AUTH_POLICY_SESSION_TIMEOUT, "session_timeout", p->session_timeout},
        {AUTH_POLICY_LOCKOUT_THRESHOLD, "lockout_threshold", p->lockout_threshold},
        {AUTH_POLICY_LOCKOUT_DURATION, "lockout_duration", p->lockout_duration},
        {AUTH_POLICY_LOCKOUT_RESET_AFTER, "lockout_reset_after", p->lockout_reset_after},
        {AUTH_POLICY_MIN_PASSWORD_LENGTH, "min_password_length", p->min_password_length},
        {AUTH_POLICY_MAX_PASSWORD_LENGTH, "max_password_length", p->max_password_length},
    };
    if (db_begin(a->db) < 0)
        return -EIO;
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if ((fields & settings[i].bit) &&
            db_setting_set_int(a->db, settings[i].key, settings[i].value) < 0) {
            db_rollback(a->db);
            return -EIO;
        }
    }
    if (db_commit(a->db) < 0) {
        db_rollback(a->db);
        return -EIO;
    }
    a->policy = *p;
    return 0;
}

int auth_init(struct auth *a, struct db *db, size_t max_sessions, int64_t default_timeout)
{
    memset(a, 0, sizeof(*a));
    a->db = db;
    a->max_sessions = max_sessions;
    policy_load(a, default_timeout);
    if (secret_random(a->cache_key, sizeof(a->cache_key)) < 0)
        return -1;
    char pw[24];
    if (secret_password(pw, 16) < 0 || secret_hash(pw, a->dummy_hash, sizeof(a->dummy_hash)) < 0)
        return -1;
    return 0;
}

void auth_fini(struct auth *a)
{
    while (a->sessions)
        auth_session_delete(a, a->sessions);
    explicit_bzero(a->cache_key, sizeof(a->cache_key));
}

bool auth_account_locked(const struct auth *a, const struct account *acct, int64_t now)
{
    (void)a;
    return acct->locked_until == -1 || acct->locked_until > now;
}

/* Counts a failed login against the account; locks it at the threshold. */
static void record_failure(struct auth *a, struct account *acct, int64_t now)
{
    const struct auth_policy *p = &a->policy;
    if (p->lockout_reset_after > 0 && now - acct->last_failed_at >= p->lockout_reset_after)
        acct->failed_logins = 0;
    acct->failed_logins++;
    acct->last_failed_at = now;
    if (p->lockout_threshold > 0 && p->lockout_duration > 0 &&
        acct->failed_logins >= p->lockout_threshold) {
        acct->locked_until = now + p->lockout_duration;
        acct->failed_logins = 0;
        memset(a->cache, 0, sizeof(a->cache)); /* cached Basic credentials end too */
        log_warn("account '%s' locked for %lld s after failed logins", acct->user,
                 (long long)p->lockout_duration);
    }
    db_account_update(a->db, acct);
}

int auth_check_password(struct auth *a, struct rf_async *async, const char *user,
                        const char *password, int64_t *account_id)
{
    struct account acct;
    int rc = db_account_find(a->db, user, &acct);
    if (rc == -EIO)
        return -EIO;
    if (rc == -ENOENT) {
        /* Same cost as a real account, so timing does not tell which names exist. */
        rc = pw_verify(async, password, a->dummy_hash);
        return rc < 0 ? rc : -EACCES;
    }
    int64_t now = time(NULL);
    if (auth_account_locked(a, &acct, now)) {
        /* Refused whatever the password, at the same cost: a quick answer would tell that
         * the name exists (a few wrong passwords lock only real accounts). */
        rc = pw_verify(async, password, a->dummy_hash);
        return rc < 0 ? rc : -EACCES;
    }
    rc = pw_verify(async, password, acct.hash);
    if (rc < 0)
        return rc; /* nothing is recorded until the verification is done */
    if (rc == 0) {
        record_failure(a, &acct, now);
        return -EACCES;
    }
    if (acct.failed_logins || acct.locked_until) {
        acct.failed_logins = 0;
        acct.locked_until = 0;
        db_account_update(a->db, &acct);
    }
    if (!acct.enabled)
        return -EACCES;
    *account_id = acct.id;
    return 0;
}

static int fill_identity(struct auth *a, int64_t account_id, struct rf_identity *who)
{
    struct account acct;
    /* Checked on every request, cached Basic credentials included. */
    if (db_account_get(a->db, account_id, &acct) < 0 || !acct.enabled ||
        auth_account_locked(a, &acct, time(NULL)))
        return -1;
    who->authenticated = true;
    who->account_id = acct.id;
    snprintf(who->user, sizeof(who->user), "%s", acct.user);
    who->role = acct.role;
    who->privileges = auth_role_privileges(acct.role);
    who->session = NULL;
    return 0;
}

/* HMAC of "user\0password" under the per-process key. */
static void basic_digest(struct auth *a, const char *user, const char *pw, uint8_t out[32])
{
    size_t ul = strlen(user), pl = strlen(pw);
    char *buf = malloc(ul + pl + 2);
    if (!buf) {
        memset(out, 0, 32);
        return;
    }
    memcpy(buf, user, ul + 1);
    memcpy(buf + ul + 1, pw, pl + 1);
    gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->cache_key, sizeof(a->cache_key), buf, ul + pl + 1, out);
    explicit_bzero(buf, ul + pl + 2);
    free(buf);
}

static struct basic_cache_entry *basic_cache_lookup(struct auth *a, const uint8_t digest[32])
{
    uint64_t now = loop_now_ms();
    for (size_t i = 0; i < AUTH_BASIC_CACHE; i++) {
        struct basic_cache_entry *e = &a->cache[i];
        if (e->expires_ms > now && secret_equal(e->digest, 32, digest, 32))
            return e;
    }
    return NULL;
}

static void basic_cache_store(struct auth *a, const uint8_t digest[32], int64_t account_id)
{
    struct basic_cache_entry *victim = &a->cache[0];
    for (size_t i = 1; i < AUTH_BASIC_CACHE; i++) {
        if (a->cache[i].expires_ms < victim->expires_ms)
            victim = &a->cache[i];
    }
    memcpy(victim->digest, digest, 32);
    victim->account_id = account_id;
    victim->expires_ms = loop_now_ms() + AUTH_BASIC_CACHE_TTL;
}

static int base64_decode(const char *in, char *out, size_t outsz)
{
    gnutls_datum_t src = {(unsigned char *)in, (unsigned)strlen(in)}, dst = {0};
    if (gnutls_base64_decode2(&src, &dst) < 0)
        return -1;
    int rc = -1;
    if (dst.size < outsz && !memchr(dst.data, '\0', dst.size)) {
        memcpy(out, dst.data, dst.size);
        out[dst.size] = '\0';
        rc = 0;
    }
    explicit_bzero(dst.data, dst.size);
    gnutls_free(dst.data);
    return rc;
}

static enum auth_result auth_basic(struct auth *a, struct rf_async *async, const char *b64,
                                   struct rf_identity *who)
{
    char creds[512];
    if (strlen(b64) > 680 || base64_decode(b64, creds, sizeof(creds)) < 0)
        return AUTH_FAILED;
    char *colon = strchr(creds, ':');
    enum auth_result res = AUTH_FAILED;
    if (!colon)
        goto out;
    *colon = '\0';
    const char *user = creds, *pw = colon + 1;
    uint8_t digest[32];
    basic_digest(a, user, pw, digest);
    struct basic_cache_entry *hit = basic_cache_lookup(a, digest);
    int rc;
    int64_t id;
    if (hit) {
        id = hit->account_id;
    } else if ((rc = auth_check_password(a, async, user, pw, &id)) == 0) {
        basic_cache_store(a, digest, id);
    } else {
        res = rc == -EINPROGRESS ? AUTH_PENDING : rc == -EAGAIN ? AUTH_BUSY : AUTH_FAILED;
        if (res == AUTH_FAILED)
            snprintf(who->user, sizeof(who->user), "%.64s", user);
        goto out;
    }
    if (fill_identity(a, id, who) == 0)
        res = AUTH_OK;
out:
    explicit_bzero(creds, sizeof(creds));
    return res;
}

static bool session_expired(const struct auth *a, const struct session *s, uint64_t now_ms)
{
    return now_ms - s->last_used_ms > (uint64_t)a->policy.session_timeout * 1000u;
}

static enum auth_result auth_token(struct auth *a, const char *token, struct rf_identity *who)
{
    size_t len = strlen(token);
    uint64_t now = loop_now_ms();
    for (struct session *s = a->sessions; s; s = s->next) {
        if (!secret_equal(s->token, SECRET_TOKEN_LEN, token, len))
            continue;
        if (session_expired(a, s, now)) {
            if (a->expired) /* timed out, as if the sweep had come first */
                a->expired(a->expired_ctx, s);
            auth_session_delete(a, s);
            return AUTH_FAILED;
        }
        s->last_used_ms = now;
        who->authenticated = true;
        who->account_id = s->account_id;
        snprintf(who->user, sizeof(who->user), "%s", s->user);
        who->role = s->role;
        who->privileges = auth_role_privileges(s->role);
        who->session = s;
        return AUTH_OK;
    }
    return AUTH_FAILED;
}

enum auth_result auth_request(struct auth *a, struct rf_async *async, const char *authorization,
                              const char *token, bool tls, struct rf_identity *who)
{
    memset(who, 0, sizeof(*who));
    who->role = ROLE_NONE;
    if (token && *token)
        return auth_token(a, token, who);
    if (authorization && strncasecmp(authorization, "Basic ", 6) == 0) {
        /* Basic sends the password with every request: never over plain HTTP. */
        return tls ? auth_basic(a, async, authorization + 6, who) : AUTH_FAILED;
    }
    return authorization ? AUTH_FAILED : AUTH_NO_CREDENTIALS;
}

int auth_session_create(struct auth *a, int64_t account_id, const char *client_ip,
                        struct session **out)
{
    auth_sweep(a);
    if (a->session_count >= a->max_sessions)
        return -ENOSPC;
    size_t mine = 0;
    for (struct session *s = a->sessions; s; s = s->next)
        mine += s->account_id == account_id;
    if (a->max_sessions_per_user && mine >= a->max_sessions_per_user)
        return -EDQUOT;
    struct account acct;
    int rc = db_account_get(a->db, account_id, &acct);
    if (rc < 0)
        return rc;
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    uint8_t raw[SESSION_ID_LEN / 2];
    if (secret_token(s->token, sizeof(s->token)) < 0 || secret_random(raw, sizeof(raw)) < 0) {
        free(s);
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
    s->account_id = acct.id;
    snprintf(s->user, sizeof(s->user), "%s", acct.user);
    s->role = acct.role;
    s->created = time(NULL);
    s->last_used_ms = loop_now_ms();
    snprintf(s->client_ip, sizeof(s->client_ip), "%s", client_ip ? client_ip : "");
    s->next = a->sessions;
    a->sessions = s;
    a->session_count++;
    *out = s;
    return 0;
}

struct session *auth_session_find(struct auth *a, const char *id)
{
    uint64_t now = loop_now_ms();
    for (struct session *s = a->sessions; s; s = s->next) {
        if (strcmp(s->id, id) == 0)
            return session_expired(a, s, now) ? NULL : s;
    }
    return NULL;
}

void auth_session_delete(struct auth *a, struct session *s)
{
    for (struct session **p = &a->sessions; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            a->session_count--;
            explicit_bzero(s, sizeof(*s));
            free(s);
            return;
        }
    }
}

size_t auth_sweep(struct auth *a)
{
    uint64_t now = loop_now_ms();
    size_t n = 0;
    struct session **p = &a->sessions;
    while (*p) {
        struct session *s = *p;
        if (session_expired(a, s, now)) {
            if (a->expired)
                a->expired(a->expired_ctx, s);
            *p = s->next;
            a->session_count--;
            explicit_bzero(s, sizeof(*s));
            free(s);
            n++;
        } else {
            p = &s->next;
        }
    }
    return n;
}

void auth_account_changed(struct auth *a, int64_t account_id)
{
    memset(a->cache, 0, sizeof(a->cache));
    struct account acct;
    bool gone = db_account_get(a->db, account_id, &acct) < 0 || !acct.enabled;
    struct session **p = &a->sessions;
    while (*p) {
        struct session *s = *p;
        if (s->account_id != account_id) {
            p = &s->next;
            continue;
        }
        if (gone) {
            *p = s->next;
            a->session_count--;
            explicit_bzero(s, sizeof(*s));
            free(s);
            continue;
        }
        s->role = acct.role;
        snprintf(s->user, sizeof(s->user), "%s", acct.user);
        p = &s->next;
    }
}
