/*
 * dispatch: the whole Redfish pipeline (route, authentication, privilege, query, JSON body,
 * If-Match, the handler, ETag/paging) through dispatch() with a real app: a database in a
 * temp directory, an Administrator and a ReadOnly account with sessions, the loop, events,
 * console state rules and the ports registry (ports allocated by fuzzed actions are real
 * PTYs/sockets; max_ports keeps them few). No HTTP server: http.c is not in the path.
 *
 * Password work: the request's rf_async points to a worker that was never started and is
 * "stopping", so pw_hash()/pw_verify() answer -EAGAIN at once and the handler answers 503
 * (the real "worker busy" path) — no input costs a yescrypt evaluation, and every handler
 * still parses its body up to the password step.
 *
 * Input: FLAGS METHOD NUL PATH[?QUERY] NUL BODY [NUL IF-MATCH [NUL IF-NONE-MATCH]]
 *   FLAGS bit 0: no credentials; 1: plain HTTP; 2: Content-Type text/plain; 3: body too
 *   large; 4: the ReadOnly user's session; 5: Basic credentials instead of the token;
 *   6: OData-Version 4.1; 7: Last-Event-ID from IF-NONE-MATCH.
 * QUERY is cut at '&' and '=' as the client sent it (already decoded).
 */
#include "fuzz.h"

#include "app.h"
#include "db_accounts.h"
#include "dispatch.h"
#include "log.h"

#include <errno.h>
#include <time.h>

static struct vsc_app app;
static struct worker busy_worker = {.lock = PTHREAD_MUTEX_INITIALIZER, .stopping = true};
static char admin_token[SECRET_TOKEN_LEN + 1], viewer_token[SECRET_TOKEN_LEN + 1];
static char admin_sid[SESSION_ID_LEN + 1], viewer_sid[SESSION_ID_LEN + 1];
static int64_t admin_id, viewer_id;
static char dir[256];

static int64_t add_account(const char *user, const char *password, enum role role)
{
    struct account a;
    memset(&a, 0, sizeof(a));
    snprintf(a.user, sizeof(a.user), "%s", user);
    a.role = role;
    a.enabled = true;
    a.created_at = time(NULL);
    if (secret_hash(password, a.hash, sizeof(a.hash)) < 0 || db_account_create(&app.db, &a) < 0)
        abort();
    return a.id;
}

/* (Re)creates the account's session when an input ended it (DELETE of the session, the
 * account disabled); an account that is gone keeps no session. */
static void session(int64_t id, char *sid, char *token)
{
    struct session *s;
    if (sid[0] && auth_session_find(&app.auth, sid))
        return;
    if (auth_session_create(&app.auth, id, "127.0.0.1", &s) < 0) {
        token[0] = '\0';
        return;
    }
    snprintf(sid, SESSION_ID_LEN + 1, "%s", s->id);
    snprintf(token, SECRET_TOKEN_LEN + 1, "%s", s->token);
}

static void cleanup(void)
{
    ports_fini(&app.ports);
    console_state_fini(&app.cstate);
    events_fini(&app.events);
    auth_fini(&app.auth);
    port_acl_fini(&app.acl);
    db_close(&app.db);
    loop_fini(&app.loop);
    fuzz_rmtree(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    fuzz_tmpdir(dir, sizeof(dir), "dispatch");
    config_defaults(&app.cfg);
    snprintf(app.cfg.state_dir, sizeof(app.cfg.state_dir), "%s", dir);
    app.cfg.max_ports = 8;
    app.cfg.max_ports_per_vm = 4;
    snprintf(app.uuid, sizeof(app.uuid), "%s", "6c2b1f3e-0d4a-4e8b-9f1a-2b3c4d5e6f70");
    app_format_time(time(NULL), app.started_iso, sizeof(app.started_iso));
    char path[320];
    snprintf(path, sizeof(path), "%s/vsc.db", dir);
    if (loop_init(&app.loop) < 0 || db_open(&app.db, path, db_migrations, db_migration_count) < 0 ||
        auth_init(&app.auth, &app.db, (size_t)app.cfg.max_sessions,
                  app.cfg.session_timeout_default) < 0 ||
        port_acl_load(&app.acl, &app.db) < 0 ||
        events_init(&app.events, &app.loop, (size_t)app.cfg.event_backlog) < 0 ||
        console_state_init(&app.cstate, &app) < 0 || ports_init(&app.ports, &app) < 0)
        abort();
    admin_id = add_account("admin", "Adm1n-Passw0rd", ROLE_ADMINISTRATOR);
    viewer_id = add_account("viewer", "View3r-Passw0rd", ROLE_READONLY);
    atexit(cleanup);
    return 0;
}

/* Cuts "a=1&b&c=" into query parameters (in place). */
static void split_query(char *q, struct dispatch_input *in)
{
    while (q) {
        char *next = strchr(q, '&');
        if (next)
            *next++ = '\0';
        char *eq = strchr(q, '=');
        if (eq)
            *eq++ = '\0';
        if (in->nquery >= DISPATCH_MAX_QUERY) {
            in->query_overflow = true;
            break;
        }
        in->query[in->nquery].key = q;
        in->query[in->nquery].value = eq;
        in->nquery++;
        q = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    char *buf, *f[5];
    size_t len[5];
    int n = fuzz_split(data + 1, size - 1, f, len, 5, &buf);
    if (n < 2) {
        free(buf);
        return 0;
    }
    session(admin_id, admin_sid, admin_token);
    session(viewer_id, viewer_sid, viewer_token);
    struct dispatch_input in;
    memset(&in, 0, sizeof(in));
    in.method = f[0];
    char *q = strchr(f[1], '?');
    if (q)
        *q++ = '\0';
    in.path = f[1];
    split_query(q, &in);
    if (n >= 3) {
        in.body = f[2];
        in.body_len = n == 3 ? len[2] : strlen(f[2]);
    }
    in.content_type = (flags & 4) ? "text/plain" : "application/json";
    in.body_too_large = flags & 8;
    in.client_ip = "127.0.0.1";
    in.tls = !(flags & 2);
    in.odata_version = (flags & 64) ? "4.1" : NULL;
    if (n >= 4)
        in.if_match = f[3];
    if (n >= 5) {
        if (flags & 128)
            in.last_event_id = f[4];
        else
            in.if_none_match = f[4];
    }
    if (!(flags & 1)) {
        if (flags & 32) /* admin:Adm1n-Passw0rd — verified through the busy worker */
            in.authorization = "Basic YWRtaW46QWRtMW4tUGFzc3cwcmQ=";
        else
            in.x_auth_token = (flags & 16) ? viewer_token : admin_token;
    }
    struct rf_async async = {.worker = &busy_worker};
    in.async = &async;

    struct rf_response r;
    rf_response_init(&r);
    enum dispatch_result res = dispatch(&app, &in, &r);
    if (res != DISPATCH_DONE || r.status < 200 || r.status > 599)
        abort();
    char *out = NULL;
    size_t outlen = 0;
    if (dispatch_serialize(&r, &out, &outlen) == 0)
        free(out);
    rf_response_fini(&r);
    rf_async_release(&async);
    free(buf);
    return 0;
}
