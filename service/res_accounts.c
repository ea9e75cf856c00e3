/*
 * /redfish/v1/AccountService and its Accounts: local accounts with salted yescrypt
 * hashes, the password length and lockout policy. Every change is checked in full
 * before it is written, and written in one statement or transaction.
 */
#include "app.h"
#include "audit.h"
#include "auth.h"
#include "base_registry.h"
#include "console_ws.h"
#include "db_accounts.h"
#include "jsonbody.h"
#include "log.h"
#include "resources.h"
#include "worker.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCOUNT_SERVICE_URI "/redfish/v1/AccountService"
#define ACCOUNTS_URI        ACCOUNT_SERVICE_URI "/Accounts"
#define MAX_ACCOUNTS        256

/* ---- AccountService ---------------------------------------------------------------- */

static void get_account_service(struct rf_request *req, struct rf_response *r)
{
    const struct auth_policy *p = &req->app->auth.policy;
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:b, "
                       "s:{s:s, s:s}, s:o, s:o}",
                       "@odata.id", ACCOUNT_SERVICE_URI, "@odata.type",
                       "#AccountService.v1_18_1.AccountService", "Id", "AccountService", "Name",
                       "Account Service", "Description", "Local accounts of the vsc service",
                       "ServiceEnabled", 1, "LocalAccountAuth", "Enabled", "MinPasswordLength",
                       (json_int_t)p->min_password_length, "MaxPasswordLength",
                       (json_int_t)p->max_password_length, "AccountLockoutThreshold",
                       (json_int_t)p->lockout_threshold, "AccountLockoutDuration",
                       (json_int_t)p->lockout_duration, "AccountLockoutCounterResetAfter",
                       (json_int_t)p->lockout_reset_after, "AccountLockoutCounterResetEnabled", 1,
                       "Status", "State", "Enabled", "Health", "OK", "Accounts",
                       rf_link(ACCOUNTS_URI), "Roles", rf_link(ACCOUNT_SERVICE_URI "/Roles")));
}

enum { AS_MIN, AS_MAX, AS_THRESHOLD, AS_DURATION, AS_RESET, AS_COUNT_WRITABLE };
static const struct jb_field account_service_fields[] = {
    [AS_MIN] = {"MinPasswordLength", JB_INT, 0, 1, 256},
    [AS_MAX] = {"MaxPasswordLength", JB_INT, 0, 1, 256},
    [AS_THRESHOLD] = {"AccountLockoutThreshold", JB_INT, 0, 0, 1000},
    [AS_DURATION] = {"AccountLockoutDuration", JB_INT, 0, 0, 86400 * 30},
    [AS_RESET] = {"AccountLockoutCounterResetAfter", JB_INT, 0, 0, 86400 * 30},
    {"@odata.id", JB_STRING, JB_READONLY, 0, 0},
    {"@odata.type", JB_STRING, JB_READONLY, 0, 0},
    {"Id", JB_STRING, JB_READONLY, 0, 0},
    {"Name", JB_STRING, JB_READONLY, 0, 0},
    {"Description", JB_STRING, JB_READONLY, 0, 0},
    {"ServiceEnabled", JB_BOOL, JB_READONLY, 0, 0},
    {"LocalAccountAuth", JB_STRING, JB_READONLY, 0, 0},
    {"AccountLockoutCounterResetEnabled", JB_BOOL, JB_READONLY, 0, 0},
    {"Status", JB_OBJECT, JB_READONLY, 0, 0},
    {"Accounts", JB_OBJECT, JB_READONLY, 0, 0},
    {"Roles", JB_OBJECT, JB_READONLY, 0, 0},
};
#define N_ACCOUNT_SERVICE (sizeof(account_service_fields) / sizeof(account_service_fields[0]))

static void patch_account_service(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[N_ACCOUNT_SERVICE];
    if (jb_read(req->body, account_service_fields, N_ACCOUNT_SERVICE, v, NULL, r) < 0)
        return;
    struct auth_policy p = req->app->auth.policy;
    int64_t *targets[AS_COUNT_WRITABLE] = {&p.min_password_length, &p.max_password_length,
                                           &p.lockout_threshold, &p.lockout_duration,
                                           &p.lockout_reset_after};
    static const unsigned bits[AS_COUNT_WRITABLE] = {
        AUTH_POLICY_MIN_PASSWORD_LENGTH, AUTH_POLICY_MAX_PASSWORD_LENGTH,
        AUTH_POLICY_LOCKOUT_THRESHOLD, AUTH_POLICY_LOCKOUT_DURATION,
        AUTH_POLICY_LOCKOUT_RESET_AFTER};
    unsigned given = 0;
    for (int i = 0; i < AS_COUNT_WRITABLE; i++) {
        if (v[i].present) {
            *targets[i] = v[i].i;
            given |= bits[i];
        }
    }
    if (p.min_password_length > p.max_password_length) {
        rf_error(r, 400, msg_property_value_conflict("MinPasswordLength", "MaxPasswordLength"));
        return;
    }
    if (p.lockout_duration > 0 && p.lockout_reset_after > p.lockout_duration) {
        rf_error(r, 400,
                 msg_property_value_conflict("AccountLockoutCounterResetAfter",
                                             "AccountLockoutDuration"));
        return;
    }
    if (auth_policy_store(&req->app->auth, &p, given) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    audit_req(req, AUDIT_ACCOUNT, ACCOUNT_SERVICE_URI,
              "AccountService set: password length %lld..%lld, lockout after %lld failure(s) "
              "for %lld s, reset after %lld s",
              (long long)p.min_password_length, (long long)p.max_password_length,
              (long long)p.lockout_threshold, (long long)p.lockout_duration,
              (long long)p.lockout_reset_after);
}

/* ---- Accounts ------------------------------------------------------------------------ */

static void account_uri(int64_t id, char *out, size_t outsz)
{
    snprintf(out, outsz, ACCOUNTS_URI "/%lld", (long long)id);
}

static json_t *account_json(struct vsc_app *app, const struct account *a)
{
    char uri[96], role_uri[96], id[24];
    account_uri(a->id, uri, sizeof(uri));
    snprintf(role_uri, sizeof(role_uri), ACCOUNT_SERVICE_URI "/Roles/%s", role_name(a->role));
    snprintf(id, sizeof(id), "%lld", (long long)a->id);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:n, s:[s], s:b, s:{s:o}}", "@odata.id", uri,
        "@odata.type", "#ManagerAccount.v1_14_1.ManagerAccount", "Id", id, "Name", "User Account",
        "Description", "A local vsc account", "UserName", a->user, "RoleId", role_name(a->role),
        "Enabled", a->enabled, "Locked", auth_account_locked(&app->auth, a, time(NULL)), "Password",
        "AccountTypes", "Redfish", "PasswordChangeRequired", 0, "Links", "Role", rf_link(role_uri));
}

/* Parses the {id} segment; canonical decimal only, so one account has one URI. */
static int parse_account_id(const char *s, int64_t *id)
{
    if (!*s || strlen(s) > 18 || (s[0] == '0' && s[1]) || s[0] == '-')
        return -1;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
    }
    *id = strtoll(s, NULL, 10);
    return 0;
}

/* Loads the account named by the path; applies the ConfigureSelf restriction. */
static int target_account(struct rf_request *req, struct rf_response *r, struct account *a)
{
    int64_t id;
    int rc =
        parse_account_id(req->params[0], &id) < 0 ? -ENOENT : db_account_get(&req->app->db, id, a);
    if (rc == -ENOENT) {
        rf_not_found(r, "ManagerAccount", req->params[0]);
        return -1;
    }
    if (rc < 0) {
        rf_error(r, 500, msg_internal_error());
        return -1;
    }
    if (req->self_only && a->id != req->who.account_id) {
        rf_error(r, 403, msg_insufficient_privilege());
        return -1;
    }
    return 0;
}

static void get_accounts(struct rf_request *req, struct rf_response *r)
{
    int64_t ids[MAX_ACCOUNTS];
    size_t n;
    if (db_account_ids(&req->app->db, ids, MAX_ACCOUNTS, &n) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    json_t *c = rf_collection(ACCOUNTS_URI, "#ManagerAccountCollection.ManagerAccountCollection",
                              "Accounts Collection");
    /* Lists only what the caller may GET: ConfigureSelf alone reads just the own account, so
     * clients that fetch every member (Ansible's ListUsers) do not stop at a 403. */
    bool all = req->who.privileges & (PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_USERS);
    char uri[96];
    for (size_t i = 0; i < n; i++) {
        if (!all && ids[i] != req->who.account_id)
            continue;
        account_uri(ids[i], uri, sizeof(uri));
        rf_collection_add(c, uri);
    }
    rf_reply(r, 200, c);
}

static void get_account(struct rf_request *req, struct rf_response *r)
{
    struct account a;
    if (target_account(req, r, &a) == 0)
        rf_reply(r, 200, account_json(req->app, &a));
}

/* User names: letters, digits, '.', '_', '-'; not starting with '.' or '-'. */
static bool valid_user_name(const char *s)
{
    if (!*s || s[0] == '.' || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    }
    return true;
}

static bool valid_account_types(const json_t *types)
{
    size_t i;
    const json_t *t;
    json_array_foreach(types, i, t)
    {
        if (!json_is_string(t) || strcmp(json_string_value(t), "Redfish") != 0)
            return false;
    }
    return true;
}

enum { AF_USER, AF_PASSWORD, AF_ROLE, AF_ENABLED, AF_LOCKED, AF_TYPES, AF_WRITABLE };
static const struct jb_field account_fields[] = {
    [AF_USER] = {"UserName", JB_STRING, 0, 1, ACCOUNT_NAME_MAX},
    [AF_PASSWORD] = {"Password", JB_STRING, 0, 0, 0},
    [AF_ROLE] = {"RoleId", JB_STRING, 0, 0, 0},
    [AF_ENABLED] = {"Enabled", JB_BOOL, 0, 0, 0},
    [AF_LOCKED] = {"Locked", JB_BOOL, 0, 0, 0},
    [AF_TYPES] = {"AccountTypes", JB_ARRAY, 0, 0, 0},
    {"@odata.id", JB_STRING, JB_READONLY, 0, 0},
    {"@odata.type", JB_STRING, JB_READONLY, 0, 0},
    {"Id", JB_STRING, JB_READONLY, 0, 0},
    {"Name", JB_STRING, JB_READONLY, 0, 0},
    {"Description", JB_STRING, JB_READONLY, 0, 0},
    {"PasswordChangeRequired", JB_BOOL, JB_READONLY, 0, 0},
    {"Links", JB_OBJECT, JB_READONLY, 0, 0},
};
#define N_ACCOUNT (sizeof(account_fields) / sizeof(account_fields[0]))

static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80; /* count all but continuation bytes */
    return n;
}

/* Checks the values' content (types were checked by jb_read). Records every problem. */
static int check_account_values(struct rf_request *req, const struct jb_value *v,
                                struct rf_response *r)
{
    int rc = 0;
    if (v[AF_USER].present && !valid_user_name(v[AF_USER].s)) {
        rf_error(r, 400, msg_property_value_format_error(v[AF_USER].s, "UserName"));
        rc = -1;
    }
    if (v[AF_PASSWORD].present) {
        const struct auth_policy *p = &req->app->auth.policy;
        size_t len = utf8_length(v[AF_PASSWORD].s); /* characters, not bytes */
        if ((int64_t)len < p->min_password_length || (int64_t)len > p->max_password_length) {
            rf_error(r, 400, msg_password_incorrect_length());
            rc = -1;
        }
    }
    if (v[AF_ROLE].present && role_parse(v[AF_ROLE].s) == ROLE_NONE) {
        rf_error(r, 400, msg_property_value_not_in_list(v[AF_ROLE].s, "RoleId"));
        rc = -1;
    }
    if (v[AF_LOCKED].present && v[AF_LOCKED].b) {
        /* Only the service locks an account; an Administrator may only unlock it. */
        rf_error(r, 400, msg_property_value_not_in_list("true", "Locked"));
        rc = -1;
    }
    if (v[AF_TYPES].present && !valid_account_types(v[AF_TYPES].json)) {
        char *text = jb_value_text(v[AF_TYPES].json);
        rf_error(r, 400, msg_property_value_not_in_list(text, "AccountTypes"));
        free(text);
        rc = -1;
    }
    return rc;
}

/* Maps a db_account_create/update result to the answer; true when it was written. */
static bool account_written(int rc, const char *user, struct rf_response *r)
{
    if (rc == -EEXIST)
        rf_error(r, 409, msg_resource_already_exists("ManagerAccount", "UserName", user));
    else if (rc < 0)
        rf_error(r, 500, msg_internal_error());
    return rc == 0;
}

static void post_account(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[N_ACCOUNT];
    int rc = jb_read(req->body, account_fields, N_ACCOUNT, v, NULL, r);
    static const int required[] = {AF_USER, AF_PASSWORD, AF_ROLE};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!v[required[i]].present) {
            rf_error(r, 400,
                     msg_create_failed_missing_req_properties(account_fields[required[i]].name));
            rc = -1;
        }
    }
    if (rc < 0 || check_account_values(req, v, r) < 0)
        return;
    int total;
    if (db_account_total(&req->app->db, &total) == 0 && total >= MAX_ACCOUNTS) {
        rf_error(r, 400, msg_create_limit_reached_for_resource());
        return;
    }
    struct account a = {.role = role_parse(v[AF_ROLE].s),
                        .enabled = v[AF_ENABLED].present ? v[AF_ENABLED].b : true,
                        .created_at = time(NULL)};
    snprintf(a.user, sizeof(a.user), "%s", v[AF_USER].s);
    if ((rc = pw_hash(req->async, v[AF_PASSWORD].s, a.hash, sizeof(a.hash))) < 0) {
        rf_worker_error(r, rc);
        return;
    }
    if (!account_written(db_account_create(&req->app->db, &a), a.user, r))
        return;
    log_info("account '%s' (%s) created by '%s'", a.user, role_name(a.role), req->who.user);
    char uri[96];
    account_uri(a.id, uri, sizeof(uri));
    audit_req(req, AUDIT_ACCOUNT, uri, "account '%s' created, role %s%s", a.user, role_name(a.role),
              a.enabled ? "" : ", disabled");
    json_t *body = account_json(req->app, &a);
    rf_set_header(r, "Location", json_string_value(json_object_get(body, "@odata.id")));
    rf_reply(r, 201, body);
}

/* True when the change would leave no enabled Administrator. */
static bool removes_last_admin(struct vsc_app *app, const struct account *before, bool stays_admin)
{
    if (before->role != ROLE_ADMINISTRATOR || !before->enabled || stays_admin)
        return false;
    int others;
    return db_account_count_admins(&app->db, before->id, &others) < 0 || others == 0;
}

/* ConfigureSelf alone may change the caller's own password and nothing else. */
static int check_self_patch(const struct jb_value *v, struct rf_response *r)
{
    for (int i = 0; i < AF_WRITABLE; i++) {
        if (i != AF_PASSWORD && v[i].present) {
            rf_error(r, 403, msg_insufficient_privilege());
            return -1;
        }
    }
    return 0;
}

static void patch_account(struct rf_request *req, struct rf_response *r)
{
    struct account a;
    struct jb_value v[N_ACCOUNT];
    if (target_account(req, r, &a) < 0 ||
        jb_read(req->body, account_fields, N_ACCOUNT, v, NULL, r) < 0 ||
        (req->self_only && check_self_patch(v, r) < 0) || check_account_values(req, v, r) < 0)
        return;
    struct account updated = a;
    if (v[AF_USER].present)
        snprintf(updated.user, sizeof(updated.user), "%s", v[AF_USER].s);
    if (v[AF_ROLE].present)
        updated.role = role_parse(v[AF_ROLE].s);
    if (v[AF_ENABLED].present)
        updated.enabled = v[AF_ENABLED].b;
    if (v[AF_LOCKED].present) {
        updated.locked_until = 0;
        updated.failed_logins = 0;
    }
    if (removes_last_admin(req->app, &a, updated.role == ROLE_ADMINISTRATOR && updated.enabled)) {
        const char *prop = v[AF_ROLE].present ? "RoleId" : "Enabled";
        const char *val = v[AF_ROLE].present ? v[AF_ROLE].s : "false";
        rf_error(r, 409, msg_property_value_incorrect(prop, val));
        return;
    }
    int rc;
    if (v[AF_PASSWORD].present &&
        (rc = pw_hash(req->async, v[AF_PASSWORD].s, updated.hash, sizeof(updated.hash))) < 0) {
        rf_worker_error(r, rc); /* nothing changed yet: the request runs again when hashed */
        return;
    }
    if (!account_written(db_account_update(&req->app->db, &updated), updated.user, r))
        return;
    auth_account_changed(&req->app->auth, a.id);
    if (strcmp(a.user, updated.user) != 0) {
        port_acl_load(&req->app->acl, &req->app->db); /* rules show the new name */
        ports_user_renamed(&req->app->ports, a.user, updated.user, req->who.user);
    }
    console_ws_rights_changed(&req->app->ports, req->who.user); /* a new role or name */
    log_info("account '%s' changed by '%s'", updated.user, req->who.user);
    char uri[96];
    account_uri(updated.id, uri, sizeof(uri));
    audit_req(req, AUDIT_ACCOUNT, uri, "account '%s' changed: role %s, %s, %s%s", updated.user,
              role_name(updated.role), updated.enabled ? "enabled" : "disabled",
              updated.locked_until == -1 || updated.locked_until > time(NULL) ? "locked"
                                                                              : "unlocked",
              json_object_get(req->body, "Password") ? ", password set" : "");
}

static void delete_account(struct rf_request *req, struct rf_response *r)
{
    struct account a;
    if (target_account(req, r, &a) < 0)
        return;
    if (removes_last_admin(req->app, &a, false)) {
        rf_error(r, 409, msg_resource_cannot_be_deleted());
        return;
    }
    if (db_account_delete(&req->app->db, a.id) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    auth_account_changed(&req->app->auth, a.id);
    port_acl_load(&req->app->acl, &req->app->db); /* its rules went with it (migration 0004) */
    ports_user_renamed(&req->app->ports, a.user, NULL, req->who.user);
    log_info("account '%s' deleted by '%s'", a.user, req->who.user);
    char uri[96];
    account_uri(a.id, uri, sizeof(uri));
    audit_req(req, AUDIT_ACCOUNT, uri, "account '%s' deleted", a.user);
    r->status = 204;
}

static const struct route routes[] = {
    {ACCOUNT_SERVICE_URI, HTTP_GET, get_account_service, PRIV_LOGIN, 0, "AccountService"},
    {ACCOUNT_SERVICE_URI, HTTP_PATCH, patch_account_service, PRIV_CONFIGURE_USERS, 0,
     "AccountService"},
    {ACCOUNTS_URI, HTTP_GET, get_accounts, PRIV_LOGIN, 0, "ManagerAccountCollection"},
    {ACCOUNTS_URI, HTTP_POST, post_account, PRIV_CONFIGURE_USERS, 0, "ManagerAccountCollection"},
    {ACCOUNTS_URI "/{id}", HTTP_GET, get_account,
     PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_USERS | PRIV_CONFIGURE_SELF, 0, "ManagerAccount"},
    /* ConfigureSelf: own Password only (the registry's PropertyOverrides). */
    {ACCOUNTS_URI "/{id}", HTTP_PATCH, patch_account, PRIV_CONFIGURE_USERS | PRIV_CONFIGURE_SELF, 0,
     "ManagerAccount"},
    {ACCOUNTS_URI "/{id}", HTTP_DELETE, delete_account, PRIV_CONFIGURE_USERS, 0, "ManagerAccount"},
};
ROUTE_TABLE(account_routes, routes);
