/*
 * /redfish/v1/Systems: one ComputerSystem (SystemType Virtual) per VM that has ports.
 * Id is the VM's UUID, stable for its life; the links to its serial ports are in
 * Links.Oem.Vsc (SerialInterface has no standard link to a ComputerSystem).
 */
#include "app.h"
#include "resources.h"

#include <stdio.h>

void rf_system_uri(const struct vm *vm, char *out, size_t outsz)
{
    snprintf(out, outsz, "/redfish/v1/Systems/%s", vm->uuid);
}

static void get_systems(struct rf_request *req, struct rf_response *r)
{
    json_t *c =
        rf_collection("/redfish/v1/Systems", "#ComputerSystemCollection.ComputerSystemCollection",
                      "Computer System Collection");
    char uri[96];
    for (struct vm *vm = req->app->ports.vms; vm; vm = vm->next) {
        rf_system_uri(vm, uri, sizeof(uri));
        rf_collection_add(c, uri);
    }
    rf_reply(r, 200, c);
}

static json_t *port_links(struct ports *ps, const struct vm *vm)
{
    json_t *links = json_array();
    char uri[128];
    for (struct port *p = ps->ports; p; p = p->next) {
        if (p->vm != vm)
            continue;
        rf_port_uri(p, uri, sizeof(uri));
        json_array_append_new(links, rf_link(uri));
    }
    return links;
}

/* The VM's first port (index 1, usually COM1), the console Redfish's SerialConsole names. */
static struct port *first_port(const struct ports *ps, const struct vm *vm)
{
    struct port *first = NULL;
    for (struct port *p = ps->ports; p; p = p->next) {
        if (p->vm == vm && (!first || p->idx < first->idx))
            first = p;
    }
    return first;
}

/* SerialConsole.WebSocket (ComputerSystem v1_26_0+): the first port's console WebSocket.
 * It carries input both ways (Interactive); whether a given user may type is that user's
 * rights on the port (docs/console-protocol.md), not a property of the resource, which
 * reads the same for everyone. The other ports' consoles are linked from their
 * SerialInterfaces (Oem.Vsc.ConsoleURI). */
static json_t *serial_console(struct rf_request *req, const struct vm *vm)
{
    struct port *p = first_port(&req->app->ports, vm);
    if (!p)
        return NULL;
    char uri[128], console[160];
    rf_port_uri(p, uri, sizeof(uri));
    snprintf(console, sizeof(console), "%s/Oem/Vsc/Console", uri);
    return json_pack("{s:{s:b, s:s, s:b}}", "WebSocket", "ServiceEnabled", p->enabled, "ConsoleURI",
                     console, "Interactive", 1);
}

/* Status, PowerState and BootProgress from what the VM's console said (console_state.h). */
static void add_console_state(struct rf_request *req, json_t *sys, const struct vm *vm)
{
    const struct vm_console_state *cs = &vm->cstate;
    struct vm_state_view v;
    console_state_view(cs->state, &v);
    json_object_set_new(sys, "Status",
                        json_pack("{s:s, s:s}", "State", v.status_state, "Health", v.health));
    json_object_set_new(sys, "PowerState", json_string(v.power_state));
    json_t *oem =
        json_pack("{s:s, s:s, s:I}", "@odata.type", "#Vsc.v1_0_0.ComputerSystem", "ConsoleState",
                  vm_state_name(cs->state), "StateChangesSuppressed", (json_int_t)cs->suppressed);
    if (cs->since_us) {
        char when[40];
        app_format_time_us(cs->since_us, when, sizeof(when));
        json_t *bp = json_pack("{s:s, s:s}", "LastState", v.boot_last_state, "LastStateTime", when);
        if (v.boot_oem_state)
            json_object_set_new(bp, "OemLastState", json_string(v.boot_oem_state));
        json_object_set_new(sys, "BootProgress", bp);
        json_object_set_new(oem, "ConsoleStateTime", json_string(when));
        json_object_set_new(oem, "ConsoleStateLine",
                            json_string(rf_may_watch_port(req, vm, cs->port_idx)
                                            ? cs->line
                                            : RF_LINE_NOT_WATCHABLE));
        json_object_set_new(oem, "ConsoleStateRule", json_string(cs->rule_id));
        json_object_set_new(oem, "ConsoleStatePort", json_integer(cs->port_idx));
    }
    json_object_set_new(sys, "Oem", json_pack("{s:o}", "Vsc", oem));
}

/* Boot and Actions, empty: vsc neither overrides a VM's boot nor resets it (the hypervisor
 * does), but OpenStack's sushy refuses a ComputerSystem without them, as bmcweb always
 * sends both. BootProgress, what vsc does know of booting, is a property of its own. */
static void add_client_expected(json_t *sys)
{
    json_object_set_new(sys, "Boot", json_object());
    json_object_set_new(sys, "Actions", json_object());
}

static void get_system(struct rf_request *req, struct rf_response *r)
{
    struct vm *vm = ports_find_vm(&req->app->ports, req->params[0]);
    if (!vm) {
        rf_not_found(r, "ComputerSystem", req->params[0]);
        return;
    }
    char uri[96], logs[128];
    rf_system_uri(vm, uri, sizeof(uri));
    snprintf(logs, sizeof(logs), "%s/LogServices", uri);
    json_t *ports = port_links(&req->app->ports, vm);
    json_t *sys =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "@odata.id", uri, "@odata.type",
                  "#ComputerSystem.v1_27_0.ComputerSystem", "Id", vm->uuid, "Name", vm->name,
                  "SystemType", "Virtual", "UUID", vm->uuid, "Description",
                  "A virtual machine whose serial ports vsc serves", "LogServices", rf_link(logs));
    add_console_state(req, sys, vm);
    add_client_expected(sys);
    if (vm->host_name[0])
        json_object_set_new(sys, "HostName", json_string(vm->host_name));
    json_t *console = serial_console(req, vm);
    if (console)
        json_object_set_new(sys, "SerialConsole", console);
    json_object_set_new(sys, "Links",
                        json_pack("{s:[o], s:i, s:{s:{s:s, s:o, s:I}}}", "ManagedBy",
                                  rf_link("/redfish/v1/Managers/bmc"), "ManagedBy@odata.count", 1,
                                  "Oem", "Vsc", "@odata.type", "#Vsc.v1_0_0.ComputerSystemLinks",
                                  "SerialInterfaces", ports, "SerialInterfaces@odata.count",
                                  (json_int_t)json_array_size(ports)));
    rf_reply(r, 200, sys);
}

static const struct route routes[] = {
    {"/redfish/v1/Systems", HTTP_GET, get_systems, PRIV_LOGIN, 0, "ComputerSystemCollection"},
    {"/redfish/v1/Systems/{id}", HTTP_GET, get_system, PRIV_LOGIN, 0, "ComputerSystem"},
};
ROUTE_TABLE(systems_routes, routes);
