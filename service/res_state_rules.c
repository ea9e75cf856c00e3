/*
 * /redfish/v1/Managers/bmc/Oem/Vsc/ConsoleStateRules: the console state detector's rules
 * (an OEM collection; #Vsc.v1_0_0.ConsoleStateRule). The built-in rules are listed
 * read-only (BuiltIn true); an Administrator adds rules (POST: Id, Pattern, State) that
 * are tried before the built-ins, and deletes them. A rule is not changed in place: delete
 * it and add the new one. docs/console-states.md says how rules match.
 *
 * Privileges: the Manager's (registry): reading is Login, changing is ConfigureManager.
 */
#include "app.h"
#include "audit.h"
#include "base_registry.h"
#include "jsonbody.h"
#include "log.h"
#include "resources.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define RULES_URI     MANAGER_URI "/Oem/Vsc/ConsoleStateRules"
#define RULES_PATTERN "/redfish/v1/Managers/{id}/Oem/Vsc/ConsoleStateRules"

static json_t *rule_json(const struct detect_rule *rule)
{
    char uri[192];
    snprintf(uri, sizeof(uri), RULES_URI "/%s", rule->id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "@odata.id", uri, "@odata.type",
                     "#Vsc.v1_0_0.ConsoleStateRule", "Id", rule->id, "Name", rule->id, "Pattern",
                     rule->pattern, "State", vm_state_name(rule->state), "BuiltIn", rule->builtin);
}

static void get_rules(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    const struct detect_rules *rules = req->app->cstate.rules;
    json_t *c =
        rf_collection(RULES_URI, "#Vsc.v1_0_0.ConsoleStateRuleCollection", "Console State Rules");
    char member[192];
    for (size_t i = 0; i < detect_rules_count(rules); i++) {
        snprintf(member, sizeof(member), RULES_URI "/%s", detect_rules_at(rules, i)->id);
        rf_collection_add(c, member);
    }
    rf_reply(r, 200, c);
}

static const struct detect_rule *target_rule(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return NULL;
    const struct detect_rule *rule = detect_rules_find(req->app->cstate.rules, req->params[1]);
    if (!rule)
        rf_not_found(r, "ConsoleStateRule", req->params[1]);
    return rule;
}

static void get_rule(struct rf_request *req, struct rf_response *r)
{
    const struct detect_rule *rule = target_rule(req, r);
    if (rule)
        rf_reply(r, 200, rule_json(rule));
}

enum { RF_ID, RF_PATTERN, RF_STATE };
static const struct jb_field post_fields[] = {
    [RF_ID] = {"Id", JB_STRING, 0, 1, 64},         [RF_PATTERN] = {"Pattern", JB_STRING, 0, 1, 256},
    [RF_STATE] = {"State", JB_STRING, 0, 0, 0},    {"@odata.id", JB_STRING, JB_READONLY, 0, 0},
    {"@odata.type", JB_STRING, JB_READONLY, 0, 0}, {"Name", JB_STRING, JB_READONLY, 0, 0},
    {"Description", JB_STRING, JB_READONLY, 0, 0}, {"BuiltIn", JB_BOOL, JB_READONLY, 0, 0},
};
#define N_FIELDS (sizeof(post_fields) / sizeof(post_fields[0]))

static void post_rule(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[N_FIELDS];
    if (!rf_is_our_manager(req, r))
        return;
    int rc = jb_read(req->body, post_fields, N_FIELDS, v, NULL, r);
    for (int f = RF_ID; f <= RF_STATE; f++) {
        if (!json_object_get(req->body, post_fields[f].name)) {
            rf_error(r, 400, msg_create_failed_missing_req_properties(post_fields[f].name));
            rc = -1;
        }
    }
    enum vm_state state = VM_STATE_UNKNOWN;
    if (v[RF_STATE].present && vm_state_parse(v[RF_STATE].s, &state) < 0) {
        rf_error(r, 400, msg_property_value_not_in_list(v[RF_STATE].s, "State"));
        rc = -1;
    }
    if (rc < 0)
        return;
    char err[256] = "";
    rc = console_state_rule_add(&req->app->cstate, v[RF_ID].s, v[RF_PATTERN].s, state,
                                req->who.user, err, sizeof(err));
    switch (rc) {
    case 0:
        break;
    case -EEXIST:
        rf_error(r, 409, msg_resource_already_exists("ConsoleStateRule", "Id", v[RF_ID].s));
        return;
    case -EINVAL:
        /* The detector says what is wrong with the Id or the Pattern, in words. */
        rf_error(r, 400,
                 msg_property_value_error(detect_rule_id_valid(v[RF_ID].s) ? "Pattern" : "Id"));
        json_object_set_new(json_array_get(r->messages, json_array_size(r->messages) - 1),
                            "Resolution", json_string(err));
        return;
    case -ENOSPC:
        rf_error(r, 400, msg_create_limit_reached_for_resource());
        return;
    default:
        rf_error(r, 500, msg_internal_error());
        return;
    }
    log_info("console state rule '%s' (%s -> %s) added by '%s'", v[RF_ID].s, v[RF_PATTERN].s,
             vm_state_name(state), req->who.user);
    audit_req(req, AUDIT_STATE_RULE, RULES_URI, "rule '%s' added: /%s/ -> %s", v[RF_ID].s,
              v[RF_PATTERN].s, vm_state_name(state));
    json_t *body = rule_json(detect_rules_find(req->app->cstate.rules, v[RF_ID].s));
    rf_set_header(r, "Location", json_string_value(json_object_get(body, "@odata.id")));
    rf_reply(r, 201, body);
}

static void delete_rule(struct rf_request *req, struct rf_response *r)
{
    const struct detect_rule *rule = target_rule(req, r);
    if (!rule)
        return;
    char id[72];
    snprintf(id, sizeof(id), "%s", rule->id);
    int rc = console_state_rule_remove(&req->app->cstate, id);
    if (rc == -EPERM) {
        rf_error(r, 405, msg_resource_cannot_be_deleted());
        return;
    }
    if (rc < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    log_info("console state rule '%s' deleted by '%s'", id, req->who.user);
    audit_req(req, AUDIT_STATE_RULE, RULES_URI, "rule '%s' deleted", id);
    r->status = 204;
}

static const struct route routes[] = {
    {RULES_PATTERN, HTTP_GET, get_rules, PRIV_LOGIN, 0, "Manager"},
    {RULES_PATTERN, HTTP_POST, post_rule, PRIV_CONFIGURE_MANAGER, 0, "Manager"},
    {RULES_PATTERN "/{rule}", HTTP_GET, get_rule, PRIV_LOGIN, 0, "Manager"},
    {RULES_PATTERN "/{rule}", HTTP_DELETE, delete_rule, PRIV_CONFIGURE_MANAGER, 0, "Manager"},
};
ROUTE_TABLE(state_rule_routes, routes);
