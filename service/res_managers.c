/* /redfish/v1/Managers: the one Manager, `bmc` (the vsc service), and its SerialInterfaces. */
#include "app.h"
#include "resources.h"

#include <string.h>

#define MANAGER_ID  "bmc"
#define MANAGER_URI "/redfish/v1/Managers/" MANAGER_ID

static void get_managers(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *c = rf_collection("/redfish/v1/Managers", "#ManagerCollection.ManagerCollection",
                              "Manager Collection");
    rf_collection_add(c, MANAGER_URI);
    rf_reply(r, 200, c);
}

static bool is_our_manager(struct rf_request *req, struct rf_response *r)
{
    if (strcmp(req->params[0], MANAGER_ID) == 0)
        return true;
    rf_not_found(r, "Manager", req->params[0]);
    return false;
}

static void get_manager(struct rf_request *req, struct rf_response *r)
{
    if (!is_our_manager(req, r))
        return;
    char now[32];
    app_format_time(time(NULL), now, sizeof(now));
    json_t *m =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "@odata.id",
                  MANAGER_URI, "@odata.type", "#Manager.v1_24_0.Manager", "Id", MANAGER_ID, "Name",
                  "vsc Virtual Serial Concentrator", "Description",
                  "Serves the serial consoles of this host's virtual machines", "ManagerType",
                  "Service", "UUID", req->app->uuid, "FirmwareVersion", VSC_VERSION, "DateTime",
                  now, "Status", "State", "Enabled", "Health", "OK");
    json_object_set_new(m, "SerialInterfaces", rf_link(MANAGER_URI "/SerialInterfaces"));
    json_object_set_new(
        m, "Links",
        json_pack("{s:[], s:i}", "ManagerForServers", "ManagerForServers@odata.count", 0));
    json_object_set_new(m, "Oem",
                        json_pack("{s:{s:s, s:s, s:s, s:i, s:b}}", "Vsc", "@odata.type",
                                  "#Vsc.v1_0_0.Manager", "ServiceVersion", VSC_VERSION, "StartTime",
                                  req->app->started_iso, "DatabaseSchemaVersion",
                                  db_user_version(&req->app->db), "SessionsSurviveRestart", 0));
    rf_reply(r, 200, m);
}

static void get_serial_interfaces(struct rf_request *req, struct rf_response *r)
{
    if (!is_our_manager(req, r))
        return;
    rf_reply(r, 200,
             rf_collection(MANAGER_URI "/SerialInterfaces",
                           "#SerialInterfaceCollection.SerialInterfaceCollection",
                           "Serial Interface Collection"));
}

static const struct route routes[] = {
    {"/redfish/v1/Managers", HTTP_GET, get_managers, PRIV_LOGIN, 0, "ManagerCollection"},
    {"/redfish/v1/Managers/{id}", HTTP_GET, get_manager, PRIV_LOGIN, 0, "Manager"},
    {"/redfish/v1/Managers/{id}/SerialInterfaces", HTTP_GET, get_serial_interfaces, PRIV_LOGIN, 0,
     "SerialInterfaceCollection"},
};
ROUTE_TABLE(managers_routes, routes);
