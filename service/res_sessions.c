/*
 * /redfish/v1/SessionService and its Sessions (DSP0266 §13.3.4): POST logs in (no
 * credentials needed) and returns X-Auth-Token and Location; DELETE logs out.
 */
#include "app.h"
#include "audit.h"
#include "auth.h"
#include "base_registry.h"
#include "db_accounts.h"
#include "jsonbody.h"
#include "log.h"
#include "resources.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SESSION_SERVICE_URI "/redfish/v1/SessionService"
#define SESSIONS_URI        SESSION_SERVICE_URI "/Sessions"

static void get_session_service(struct rf_request *req, struct rf_response *r)
{
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:{s:s, s:s}, s:o}", "@odata.id",
                       SESSION_SERVICE_URI, "@odata.type", "#SessionService.v1_2_0.SessionService",
                       "Id", "SessionService", "Name", "Session Service", "Description",
                       "Redfish login sessions", "ServiceEnabled", 1, "SessionTimeout",
                       (json_int_t)req->app->auth.policy.session_timeout, "Status", "State",
                       "Enabled", "Health", "OK", "Sessions", rf_link(SESSIONS_URI)));
}

static const struct jb_field session_service_fields[] = {
    {"SessionTimeout", JB_INT, 0, 30, 86400},       {"@odata.id", JB_STRING, JB_READONLY, 0, 0},
    {"@odata.type", JB_STRING, JB_READONLY, 0, 0},  {"Id", JB_STRING, JB_READONLY, 0, 0},
    {"Name", JB_STRING, JB_READONLY, 0, 0},         {"Description", JB_STRING, JB_READONLY, 0, 0},
    {"ServiceEnabled", JB_BOOL, JB_READONLY, 0, 0}, {"Status", JB_OBJECT, JB_READONLY, 0, 0},
    {"Sessions", JB_OBJECT, JB_READONLY, 0, 0},
};
#define N_SESSION_SERVICE (sizeof(session_service_fields) / sizeof(session_service_fields[0]))

static void patch_session_service(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[N_SESSION_SERVICE];
    if (jb_read(req->body, session_service_fields, N_SESSION_SERVICE, v, NULL, r) < 0)
        return;
    if (v[0].present) {
        struct auth_policy p = req->app->auth.policy;
        p.session_timeout = v[0].i;
        if (auth_policy_store(&req->app->auth, &p, AUTH_POLICY_SESSION_TIMEOUT) < 0)
            rf_error(r, 500, msg_internal_error());
    }
}

static json_t *session_json(const struct session *s)
{
    char uri[128], created[32];
    snprintf(uri, sizeof(uri), SESSIONS_URI "/%s", s->id);
    app_format_time(s->created, created, sizeof(created));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:[s], s:s, s:s}", "@odata.id", uri,
                          "@odata.type", "#Session.v1_8_0.Session", "Id", s->id, "Name",
                          "User Session", "UserName", s->user, "Password", "Roles",
                          role_name(s->role), "SessionType", "Redfish", "CreatedTime", created);
    if (s->client_ip[0])
        json_object_set_new(j, "ClientOriginIPAddress", json_string(s->client_ip));
    if (s->context[0])
        json_object_set_new(j, "Context", json_string(s->context));
    return j;
}

static void get_sessions(struct rf_request *req, struct rf_response *r)
{
    json_t *c =
        rf_collection(SESSIONS_URI, "#SessionCollection.SessionCollection", "Session Collection");
    bool all = req->who.privileges & PRIV_CONFIGURE_MANAGER;
    char uri[128];
    for (struct session *s = req->app->auth.sessions; s; s = s->next) {
        if (!all && s->account_id != req->who.account_id)
            continue; /* others' sessions are not a Login-level secret to share */
        snprintf(uri, sizeof(uri), SESSIONS_URI "/%s", s->id);
        rf_collection_add(c, uri);
    }
    rf_reply(r, 200, c);
}

static const struct jb_field login_fields[] = {
    {"UserName", JB_STRING, JB_REQUIRED, 1, 64},
    {"Password", JB_STRING, JB_REQUIRED, 0, 0},
    {"Context", JB_STRING, 0, 0, 255},
};
#define N_LOGIN (sizeof(login_fields) / sizeof(login_fields[0]))

static void post_session(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[N_LOGIN];
    if (jb_read(req->body, login_fields, N_LOGIN, v, NULL, r) < 0)
        return;
    int64_t account_id;
    uint32_t retry_s;
    if (!login_limit_allowed(&req->app->login_limit, req->client_ip, loop_now_ms(), &retry_s)) {
        rf_login_limited(req, r, v[0].s, retry_s);
        return;
    }
    int rc = auth_check_password(&req->app->auth, req->async, v[0].s, v[1].s, &account_id);
    if (rc < 0 && rc != -EACCES) {
        rf_worker_error(r, rc); /* -EINPROGRESS: runs again once the password is verified */
        return;
    }
    if (rc < 0) {
        log_warn("failed login for '%s' from %s", v[0].s, req->client_ip);
        audit(req->app, AUDIT_LOGIN_FAILED, v[0].s, req->client_ip, SESSIONS_URI,
              "session login refused");
        login_limit_failed(&req->app->login_limit, req->client_ip, loop_now_ms());
        rf_error(r, 401, msg_resource_at_uri_unauthorized(SESSIONS_URI, "Unauthorized"));
        return;
    }
    struct session *s;
    rc = auth_session_create(&req->app->auth, account_id, req->client_ip, &s);
    if (rc == -ENOSPC || rc == -EDQUOT) {
        rf_error(r, 503, msg_session_limit_exceeded());
        return;
    }
    if (rc < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    if (v[2].present)
        snprintf(s->context, sizeof(s->context), "%s", v[2].s);
    log_info("session %s opened for '%s' from %s", s->id, s->user, req->client_ip);
    audit(req->app, AUDIT_LOGIN, s->user, req->client_ip, SESSIONS_URI, "session %s opened", s->id);
    json_t *body = session_json(s);
    rf_set_header(r, "Location", json_string_value(json_object_get(body, "@odata.id")));
    rf_set_header(r, "X-Auth-Token", s->token);
    rf_reply(r, 201, body);
}

/* The session named in the path, if the caller may see it; else r holds the error. */
static struct session *target_session(struct rf_request *req, struct rf_response *r)
{
    struct session *s = auth_session_find(&req->app->auth, req->params[0]);
    if (!s) {
        rf_not_found(r, "Session", req->params[0]);
        return NULL;
    }
    if (req->self_only && s->account_id != req->who.account_id) {
        rf_error(r, 403, msg_insufficient_privilege());
        return NULL;
    }
    return s;
}

static void get_session(struct rf_request *req, struct rf_response *r)
{
    struct session *s = target_session(req, r);
    if (s)
        rf_reply(r, 200, session_json(s));
}

static void delete_session(struct rf_request *req, struct rf_response *r)
{
    struct session *s = target_session(req, r);
    if (!s)
        return;
    log_info("session %s of '%s' closed", s->id, s->user);
    audit_req(req, AUDIT_LOGOUT, SESSIONS_URI, "session %s of '%s' (opened from %s) closed", s->id,
              s->user, s->client_ip);
    auth_session_delete(&req->app->auth, s);
    r->status = 204;
}

static const struct route routes[] = {
    {SESSION_SERVICE_URI, HTTP_GET, get_session_service, PRIV_LOGIN, 0, "SessionService"},
    {SESSION_SERVICE_URI, HTTP_PATCH, patch_session_service, PRIV_CONFIGURE_MANAGER, 0,
     "SessionService"},
    {SESSIONS_URI, HTTP_GET, get_sessions, PRIV_LOGIN, 0, "SessionCollection"},
    /* Login needs no credentials (DSP0266 §13.3.4), whatever the registry says. */
    {SESSIONS_URI, HTTP_POST, post_session, 0, ROUTE_NO_AUTH, "SessionCollection"},
    {SESSIONS_URI "/{id}", HTTP_GET, get_session, PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_SELF, 0,
     "Session"},
    {SESSIONS_URI "/{id}", HTTP_DELETE, delete_session,
     PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_SELF, 0, "Session"},
};
ROUTE_TABLE(session_routes, routes);
