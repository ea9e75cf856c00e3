/* /redfish/v1/AccountService/Roles: the three predefined roles and their fixed privileges. */
#include "app.h"
#include "db_accounts.h"
#include "resources.h"

#include <stdio.h>

#define ROLES_URI "/redfish/v1/AccountService/Roles"

static const char *const role_descriptions[ROLE_COUNT] = {
    "Manages the service, its accounts and every console, including private mode",
    "Watches and types on consoles, allocates ports, invokes observe-only mode",
    "Watches consoles and reads the service",
};

static void get_roles(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *c = rf_collection(ROLES_URI, "#RoleCollection.RoleCollection", "Roles Collection");
    char uri[96];
    for (int i = 0; i < ROLE_COUNT; i++) {
        snprintf(uri, sizeof(uri), ROLES_URI "/%s", role_name((enum role)i));
        rf_collection_add(c, uri);
    }
    rf_reply(r, 200, c);
}

static json_t *privilege_names(uint32_t privs)
{
    static const char *const names[] = {"Login", "ConfigureManager", "ConfigureUsers",
                                        "ConfigureSelf", "ConfigureComponents"};
    json_t *a = json_array();
    for (unsigned b = 0; b < sizeof(names) / sizeof(names[0]); b++) {
        if (privs & (1u << b))
            json_array_append_new(a, json_string(names[b]));
    }
    return a;
}

static void get_role(struct rf_request *req, struct rf_response *r)
{
    enum role role = role_parse(req->params[0]);
    if (role == ROLE_NONE) {
        rf_not_found(r, "Role", req->params[0]);
        return;
    }
    char uri[96];
    snprintf(uri, sizeof(uri), ROLES_URI "/%s", role_name(role));
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:[]}", "@odata.id", uri,
                       "@odata.type", "#Role.v1_3_3.Role", "Id", role_name(role), "Name",
                       role_name(role), "RoleId", role_name(role), "Description",
                       role_descriptions[role], "IsPredefined", 1, "AssignedPrivileges",
                       privilege_names(auth_role_privileges(role)), "OemPrivileges"));
}

static const struct route routes[] = {
    {ROLES_URI, HTTP_GET, get_roles, PRIV_LOGIN, 0, "RoleCollection"},
    {ROLES_URI "/{id}", HTTP_GET, get_role, PRIV_LOGIN, 0, "Role"},
};
ROUTE_TABLE(role_routes, routes);
