/*
 * /redfish/v1/Managers/bmc/SerialInterfaces/{port}/Oem/Vsc/AccessRules: a port's access
 * rules (an OEM collection; #Vsc.v1_0_0.AccessRule). A rule grants or denies one console
 * right (Watch, Control, Observe, Private, Force) on the port to one account (UserName) or
 * to every account of a role (RoleId); port_rights.h says how rules combine.
 *
 * Privileges: the SerialInterface's (registry): reading is Login, changing is
 * ConfigureManager (Administrator). At most one rule per subject and right: a second POST
 * for the same pair is 409 ResourceAlreadyExists; PATCH changes a rule's Effect.
 * Every change is written to the database first, then the in-memory copy is reloaded.
 */
#include "app.h"
#include "audit.h"
#include "base_registry.h"
#include "console_ws.h"
#include "db_accounts.h"
#include "db_acl.h"
#include "jsonbody.h"
#include "log.h"
#include "port_rights.h"
#include "resources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RULES_PATTERN "/redfish/v1/Managers/{id}/SerialInterfaces/{port}/Oem/Vsc/AccessRules"

void rf_access_rules_uri(const struct port *p, char *out, size_t outsz)
{
    char port_uri[128];
    rf_port_uri(p, port_uri, sizeof(port_uri));
    snprintf(out, outsz, "%s/Oem/Vsc/AccessRules", port_uri);
}

static json_t *rule_json(const struct port *p, const struct db_acl_rule *rule)
{
    char uri[192], id[24], name[64];
    rf_access_rules_uri(p, uri, sizeof(uri));
    snprintf(uri + strlen(uri), sizeof(uri) - strlen(uri), "/%lld", (long long)rule->id);
    snprintf(id, sizeof(id), "%lld", (long long)rule->id);
    snprintf(name, sizeof(name), "Access rule %lld", (long long)rule->id);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@odata.id", uri, "@odata.type",
                             "#Vsc.v1_0_0.AccessRule", "Id", id, "Name", name, "Right",
                             port_right_name(rule->right), "Effect", rule->deny ? "Deny" : "Grant");
    if (rule->account_id > 0)
        json_object_set_new(body, "UserName", json_string(rule->user));
    else
        json_object_set_new(body, "RoleId", json_string(role_name(rule->role)));
    return body;
}

static void get_rules(struct rf_request *req, struct rf_response *r)
{
    struct port *p = rf_target_port(req, r);
    if (!p)
        return;
    char uri[192], member[224];
    rf_access_rules_uri(p, uri, sizeof(uri));
    json_t *c = rf_collection(uri, "#Vsc.v1_0_0.AccessRuleCollection", "Access Rules");
    size_t n;
    const struct db_acl_rule *rules = port_acl_of_port(&req->app->acl, p->id, &n);
    for (size_t i = 0; i < n; i++) {
        snprintf(member, sizeof(member), "%s/%lld", uri, (long long)rules[i].id);
        rf_collection_add(c, member);
    }
    rf_reply(r, 200, c);
}

/* The rule named by {rule} on the port named by {port}; canonical decimal Ids only. */
static const struct db_acl_rule *target_rule(struct rf_request *req, struct rf_response *r,
                                             struct port **port)
{
    struct port *p = rf_target_port(req, r);
    if (!p)
        return NULL;
    const char *s = req->params[2];
    const struct db_acl_rule *rule =
        rf_canonical_id(s) ? port_acl_find(&req->app->acl, p->id, strtoll(s, NULL, 10)) : NULL;
    if (!rule)
        rf_not_found(r, "AccessRule", s);
    *port = p;
    return rule;
}

static void get_rule(struct rf_request *req, struct rf_response *r)
{
    struct port *p;
    const struct db_acl_rule *rule = target_rule(req, r, &p);
    if (rule)
        rf_reply(r, 200, rule_json(p, rule));
}

enum { RF_USER, RF_ROLE, RF_RIGHT, RF_EFFECT };
#define READONLY_RULE_FIELDS                                                                       \
    {"@odata.id", JB_STRING, JB_READONLY, 0, 0}, {"@odata.type", JB_STRING, JB_READONLY, 0, 0},    \
        {"Id", JB_STRING, JB_READONLY, 0, 0}, {"Name", JB_STRING, JB_READONLY, 0, 0},              \
    {                                                                                              \
        "Description", JB_STRING, JB_READONLY, 0, 0                                                \
    }
static const struct jb_field post_fields[] = {
    [RF_USER] = {"UserName", JB_STRING, 0, 1, ACCOUNT_NAME_MAX},
    [RF_ROLE] = {"RoleId", JB_STRING, 0, 0, 0},
    [RF_RIGHT] = {"Right", JB_STRING, 0, 0, 0},
    [RF_EFFECT] = {"Effect", JB_STRING, 0, 0, 0},
    READONLY_RULE_FIELDS,
};
/* Only the effect changes; another subject or right is another rule. */
static const struct jb_field patch_fields[] = {
    [RF_USER] = {"UserName", JB_STRING, JB_READONLY, 0, 0},
    [RF_ROLE] = {"RoleId", JB_STRING, JB_READONLY, 0, 0},
    [RF_RIGHT] = {"Right", JB_STRING, JB_READONLY, 0, 0},
    [RF_EFFECT] = {"Effect", JB_STRING, 0, 0, 0},
    READONLY_RULE_FIELDS,
};
#define N_RULE_FIELDS (sizeof(post_fields) / sizeof(post_fields[0]))

/* Effect: "Grant" -> 0, "Deny" -> 1, else -1 with the error recorded. */
static int parse_effect(const struct jb_value *v, struct rf_response *r)
{
    if (strcmp(v->s, "Grant") == 0 || strcmp(v->s, "Deny") == 0)
        return v->s[0] == 'D';
    rf_error(r, 400, msg_property_value_not_in_list(v->s, "Effect"));
    return -1;
}

/* Whether the body names a property at all: one it named with a bad value was refused
 * already (jb_read), and is not reported as missing too. */
static bool given(const struct rf_request *req, int field)
{
    return json_object_get(req->body, post_fields[field].name) != NULL;
}

/* Checks a POST body's values and fills `rule`. Records every problem; 0 or -1. */
static int read_new_rule(struct rf_request *req, const struct jb_value *v, struct db_acl_rule *rule,
                         struct rf_response *r)
{
    int rc = 0;
    static const int required[] = {RF_RIGHT, RF_EFFECT};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!given(req, required[i])) {
            rf_error(r, 400,
                     msg_create_failed_missing_req_properties(post_fields[required[i]].name));
            rc = -1;
        }
    }
    if (v[RF_USER].present && v[RF_ROLE].present) {
        rf_error(r, 400, msg_property_value_conflict("UserName", "RoleId"));
        rc = -1;
    } else if (!given(req, RF_USER) && !given(req, RF_ROLE)) {
        rf_error(r, 400, msg_create_failed_missing_req_properties("UserName"));
        rc = -1;
    }
    if (v[RF_RIGHT].present) {
        rule->right = port_right_parse(v[RF_RIGHT].s) & PORT_RIGHTS_RULED;
        if (!rule->right) {
            rf_error(r, 400, msg_property_value_not_in_list(v[RF_RIGHT].s, "Right"));
            rc = -1;
        }
    }
    if (v[RF_EFFECT].present) {
        int deny = parse_effect(&v[RF_EFFECT], r);
        rc = deny < 0 ? -1 : rc;
        rule->deny = deny == 1;
    }
    if (v[RF_ROLE].present && (rule->role = role_parse(v[RF_ROLE].s)) == ROLE_NONE) {
        rf_error(r, 400, msg_property_value_not_in_list(v[RF_ROLE].s, "RoleId"));
        rc = -1;
    }
    if (rc == 0 && v[RF_USER].present) {
        struct account a;
        int found = db_account_find(&req->app->db, v[RF_USER].s, &a);
        if (found == -ENOENT) {
            rf_error(r, 400, msg_resource_not_found("ManagerAccount", v[RF_USER].s));
            return -1;
        }
        if (found < 0) {
            rf_error(r, 500, msg_internal_error());
            return -1;
        }
        rule->account_id = a.id;
        snprintf(rule->user, sizeof(rule->user), "%s", a.user);
    }
    return rc;
}

/* After a committed change to p's rules: the in-memory copy follows the database, open
 * consoles their rights, and event listeners (a dashboard) hear that the port's
 * SerialInterface (its EffectiveRights) changed. 0 or -1 (500). */
static int rules_changed(struct rf_request *req, struct port *p, struct rf_response *r)
{
    if (port_acl_load(&req->app->acl, &req->app->db) == 0) {
        console_ws_rights_changed(&req->app->ports, req->who.user); /* consoles follow at once */
        port_publish_changed(p);
        return 0;
    }
    rf_error(r, 500, msg_internal_error());
    return -1;
}

static void post_rule(struct rf_request *req, struct rf_response *r)
{
    struct port *p = rf_target_port(req, r);
    struct jb_value v[N_RULE_FIELDS];
    struct db_acl_rule rule = {.role = ROLE_NONE, .created_at = time(NULL)};
    if (!p)
        return;
    int rc = jb_read(req->body, post_fields, N_RULE_FIELDS, v, NULL, r);
    if (read_new_rule(req, v, &rule, r) < 0 || rc < 0)
        return;
    size_t n;
    port_acl_of_port(&req->app->acl, p->id, &n);
    if (n >= PORT_ACL_MAX_PER_PORT) {
        rf_error(r, 400, msg_create_limit_reached_for_resource());
        return;
    }
    rule.port_id = p->id;
    rc = db_acl_insert(&req->app->db, &rule);
    if (rc == -EEXIST) {
        rf_error(r, 409,
                 msg_resource_already_exists("AccessRule", "Right", port_right_name(rule.right)));
        return;
    }
    if (rc < 0) { /* -ENOENT: the account went away meanwhile; the check above saw it */
        rf_error(r, 500, msg_internal_error());
        return;
    }
    if (rules_changed(req, p, r) < 0)
        return;
    log_info("port %lld: access rule %lld (%s %s to %s) added by '%s'", (long long)p->id,
             (long long)rule.id, rule.deny ? "deny" : "grant", port_right_name(rule.right),
             rule.account_id > 0 ? rule.user : role_name(rule.role), req->who.user);
    char port_uri[128];
    rf_port_uri(p, port_uri, sizeof(port_uri));
    audit_req(req, AUDIT_ACCESS_RULE, port_uri, "rule %lld added: %s %s to %s %s",
              (long long)rule.id, rule.deny ? "deny" : "grant", port_right_name(rule.right),
              rule.account_id > 0 ? "user" : "role",
              rule.account_id > 0 ? rule.user : role_name(rule.role));
    json_t *body = rule_json(p, &rule);
    rf_set_header(r, "Location", json_string_value(json_object_get(body, "@odata.id")));
    rf_reply(r, 201, body);
}

static void patch_rule(struct rf_request *req, struct rf_response *r)
{
    struct port *p;
    struct jb_value v[N_RULE_FIELDS];
    const struct db_acl_rule *rule = target_rule(req, r, &p);
    if (!rule || jb_read(req->body, patch_fields, N_RULE_FIELDS, v, NULL, r) < 0 ||
        !v[RF_EFFECT].present)
        return;
    int deny = parse_effect(&v[RF_EFFECT], r);
    if (deny < 0)
        return;
    int64_t id = rule->id;
    if (db_acl_set_effect(&req->app->db, id, deny) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    if (rules_changed(req, p, r) < 0)
        return;
    log_info("port %lld: access rule %lld set to %s by '%s'", (long long)p->id, (long long)id,
             deny ? "deny" : "grant", req->who.user);
    char port_uri[128];
    rf_port_uri(p, port_uri, sizeof(port_uri));
    audit_req(req, AUDIT_ACCESS_RULE, port_uri, "rule %lld set to %s", (long long)id,
              deny ? "deny" : "grant");
}

static void delete_rule(struct rf_request *req, struct rf_response *r)
{
    struct port *p;
    const struct db_acl_rule *rule = target_rule(req, r, &p);
    if (!rule)
        return;
    int64_t id = rule->id;
    if (db_acl_delete(&req->app->db, id) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    if (rules_changed(req, p, r) < 0)
        return;
    log_info("port %lld: access rule %lld deleted by '%s'", (long long)p->id, (long long)id,
             req->who.user);
    char port_uri[128];
    rf_port_uri(p, port_uri, sizeof(port_uri));
    audit_req(req, AUDIT_ACCESS_RULE, port_uri, "rule %lld deleted", (long long)id);
    r->status = 204;
}

static const struct route routes[] = {
    {RULES_PATTERN, HTTP_GET, get_rules, PRIV_LOGIN, 0, "SerialInterface"},
    {RULES_PATTERN, HTTP_POST, post_rule, PRIV_CONFIGURE_MANAGER, 0, "SerialInterface"},
    {RULES_PATTERN "/{rule}", HTTP_GET, get_rule, PRIV_LOGIN, 0, "SerialInterface"},
    {RULES_PATTERN "/{rule}", HTTP_PATCH, patch_rule, PRIV_CONFIGURE_MANAGER, 0, "SerialInterface"},
    {RULES_PATTERN "/{rule}", HTTP_DELETE, delete_rule, PRIV_CONFIGURE_MANAGER, 0,
     "SerialInterface"},
};
ROUTE_TABLE(access_rule_routes, routes);
