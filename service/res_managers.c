/*
 * /redfish/v1/Managers: the one Manager, `bmc` (the vsc service). Its Oem.Vsc carries the
 * service's facts and limits; Actions.Oem the hypervisor's port commands (res_port_actions.c).
 */
#include "app.h"
#include "db_ports.h"
#include "resources.h"

#include <string.h>

static void get_managers(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *c = rf_collection("/redfish/v1/Managers", "#ManagerCollection.ManagerCollection",
                              "Manager Collection");
    rf_collection_add(c, MANAGER_URI);
    rf_reply(r, 200, c);
}

bool rf_is_our_manager(struct rf_request *req, struct rf_response *r)
{
    if (strcmp(req->params[0], MANAGER_ID) == 0)
        return true;
    rf_not_found(r, "Manager", req->params[0]);
    return false;
}

static json_t *oem_actions(void)
{
    static const char *const names[] = {"AllocatePorts", "FreePorts", "IpmiRequest", "SendInput"};
    json_t *actions = json_object();
    char key[64], target[160], info[160];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(key, sizeof(key), "#Vsc.%s", names[i]);
        snprintf(target, sizeof(target), MANAGER_URI "/Actions/Oem/Vsc.%s", names[i]);
        snprintf(info, sizeof(info), MANAGER_URI "/Oem/Vsc/%sActionInfo", names[i]);
        json_object_set_new(actions, key,
                            json_pack("{s:s, s:s}", "target", target, "@Redfish.ActionInfo", info));
    }
    return json_pack("{s:o}", "Oem", actions);
}

static int add_history(void *ctx, const struct vm *vm, int64_t freed_at)
{
    struct vsc_app *app = ((void **)ctx)[0];
    json_t *links = ((void **)ctx)[1];
    char uri[160];
    if (!freed_at || rf_console_history_kept(app, vm->uuid)) {
        rf_console_log_uri(vm->uuid, uri, sizeof(uri));
        json_array_append_new(links, rf_link(uri));
    }
    return 0;
}

/* The console LogServices of every VM, active or freed, with anything kept. */
static json_t *console_histories(struct vsc_app *app)
{
    json_t *links = json_array();
    void *ctx[2] = {app, links};
    db_vms_ever_each(&app->db, add_history, ctx);
    return links;
}

static json_t *oem_facts(struct vsc_app *app)
{
    const struct vsc_config *cfg = &app->cfg;
    json_t *histories = console_histories(app);
    return json_pack(
        "{s:{s:s, s:s, s:s, s:i, s:b, s:I, s:I, s:I, s:s, s:I, s:o, s:o, s:I}}", "Vsc",
        "@odata.type", "#Vsc.v1_0_0.Manager", "ServiceVersion", VSC_VERSION, "StartTime",
        app->started_iso, "DatabaseSchemaVersion", db_user_version(&app->db),
        "SessionsSurviveRestart", 0, "MaxPorts", (json_int_t)cfg->max_ports, "MaxPortsPerVM",
        (json_int_t)cfg->max_ports_per_vm, "PortsInUse", (json_int_t)ports_count(&app->ports, NULL),
        "DefaultBackend", cfg->default_backend, "ConsoleBatchTime",
        (json_int_t)ports_batch_ms(&app->ports), "ConsoleStateRules",
        rf_link(MANAGER_URI "/Oem/Vsc/ConsoleStateRules"), "ConsoleHistories", histories,
        "ConsoleHistories@odata.count", (json_int_t)json_array_size(histories));
}

static void get_manager(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    char now[32], uri[96];
    app_format_time(time(NULL), now, sizeof(now));
    json_t *m =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "@odata.id",
                  MANAGER_URI, "@odata.type", "#Manager.v1_24_0.Manager", "Id", MANAGER_ID, "Name",
                  "vsc Virtual Serial Concentrator", "Description",
                  "Serves the serial consoles of this host's virtual machines", "ManagerType",
                  "Service", "UUID", req->app->uuid, "FirmwareVersion", VSC_VERSION, "DateTime",
                  now, "Status", "State", "Enabled", "Health", "OK");
    json_object_set_new(m, "SerialInterfaces", rf_link(MANAGER_URI "/SerialInterfaces"));
    json_object_set_new(m, "LogServices", rf_link(MANAGER_URI "/LogServices"));
    json_t *servers = json_array();
    for (struct vm *vm = req->app->ports.vms; vm; vm = vm->next) {
        rf_system_uri(vm, uri, sizeof(uri));
        json_array_append_new(servers, rf_link(uri));
    }
    json_object_set_new(m, "Links",
                        json_pack("{s:I, s:o}", "ManagerForServers@odata.count",
                                  (json_int_t)json_array_size(servers), "ManagerForServers",
                                  servers));
    json_object_set_new(m, "Actions", oem_actions());
    json_object_set_new(m, "Oem", oem_facts(req->app));
    rf_reply(r, 200, m);
}

static const struct route routes[] = {
    {"/redfish/v1/Managers", HTTP_GET, get_managers, PRIV_LOGIN, 0, "ManagerCollection"},
    {"/redfish/v1/Managers/{id}", HTTP_GET, get_manager, PRIV_LOGIN, 0, "Manager"},
};
ROUTE_TABLE(managers_routes, routes);
