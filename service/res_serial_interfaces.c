/*
 * /redfish/v1/Managers/bmc/SerialInterfaces: one SerialInterface per allocated port.
 * The standard properties describe the line; Oem.Vsc carries the runtime facts (backend,
 * bind path, state, clients) and Links.Oem.Vsc the VM's ComputerSystem. SerialInterface
 * has no Status property, so a port whose backend is down says so in Oem.Vsc.PortState
 * and Oem.Vsc.Error.
 */
#include "app.h"
#include "console_ws.h"
#include "base_registry.h"
#include "jsonbody.h"
#include "log.h"
#include "port_rights.h"
#include "resources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORTS_URI MANAGER_URI "/SerialInterfaces"

void rf_port_uri(const struct port *p, char *out, size_t outsz)
{
    snprintf(out, outsz, PORTS_URI "/%lld", (long long)p->id);
}

static void get_ports(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    json_t *c = rf_collection(PORTS_URI, "#SerialInterfaceCollection.SerialInterfaceCollection",
                              "Serial Interface Collection");
    char uri[128];
    for (struct port *p = req->app->ports.ports; p; p = p->next) {
        rf_port_uri(p, uri, sizeof(uri));
        rf_collection_add(c, uri);
    }
    rf_reply(r, 200, c);
}

struct port *rf_target_port(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return NULL;
    const char *s = req->params[1];
    struct port *p = rf_canonical_id(s) ? ports_find(&req->app->ports, strtoll(s, NULL, 10)) : NULL;
    if (!p)
        rf_not_found(r, "SerialInterface", s);
    return p;
}

static size_t attached_clients(const struct port *p)
{
    size_t n = 0;
    for (const struct console_reader *rd = p->console.readers; rd; rd = rd->next)
        n++;
    return n;
}

json_t *rf_port_oem(const struct port *p)
{
    json_t *oem = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:I}", "@odata.type",
        "#Vsc.v1_0_0.SerialInterface", "Backend", backend_name(p->kind), "BindPath", p->bind_path,
        "PortState", port_state_name(p->state), "Index", p->idx, "ComPort", p->com_port, "Label",
        p->label, "AttachedClients", (json_int_t)attached_clients(p), "BytesFromVM",
        (json_int_t)p->console.bytes_from_vm, "BytesToVM", (json_int_t)p->console.bytes_to_vm);
    json_object_set_new(oem, "Error", p->error[0] ? json_string(p->error) : json_null());
    char sock[PATH_MAX];
    snprintf(sock, sizeof(sock), "%s/consoles/%lld.sock", p->registry->app->cfg.state_dir,
             (long long)p->id);
    if (p->console_socket)
        json_object_set_new(oem, "ConsoleSocket", json_string(sock));
    char uri[160];
    snprintf(uri, sizeof(uri), PORTS_URI "/%lld/Oem/Vsc/Console", (long long)p->id);
    json_object_set_new(oem, "ConsoleURI", json_string(uri));
    json_object_set_new(oem, "Mode", json_string(console_mode_name(p->console.mode)));
    json_object_set_new(oem, "ModeHolder",
                        p->console.holder[0] ? json_string(p->console.holder) : json_null());
    json_object_set_new(oem, "Attached", console_ws_connections(p));
    snprintf(uri, sizeof(uri), PORTS_URI "/%lld/Oem/Vsc/Connections", (long long)p->id);
    json_object_set_new(oem, "Connections", rf_link(uri));
    json_object_set_new(oem, "SlowClientsDropped",
                        json_integer((json_int_t)p->console.slow_readers_dropped));
    return oem;
}

/* Oem.Vsc.AccessRules (the port's rules) and Oem.Vsc.EffectiveRights (the requesting
 * user's rights on the port, after its access rules: port_rights.h). */
static void add_access_oem(struct rf_request *req, const struct port *p, json_t *oem)
{
    char uri[192];
    rf_access_rules_uri(p, uri, sizeof(uri));
    json_object_set_new(oem, "AccessRules", rf_link(uri));
    json_t *rights = json_array();
    uint32_t mask = port_rights(req->app, p->id, req->who.user, req->who.role);
    for (uint32_t bit = 1; bit <= PORT_RIGHT_MANAGE; bit <<= 1) {
        if (mask & bit)
            json_array_append_new(rights, json_string(port_right_name(bit)));
    }
    json_object_set_new(oem, "EffectiveRights", rights);
}

static void get_port(struct rf_request *req, struct rf_response *r)
{
    struct port *p = rf_target_port(req, r);
    if (!p)
        return;
    char uri[128], sys[96], id[24], name[128], bit_rate[16], data_bits[4], stop_bits[4];
    rf_port_uri(p, uri, sizeof(uri));
    rf_system_uri(p->vm, sys, sizeof(sys));
    snprintf(id, sizeof(id), "%lld", (long long)p->id);
    snprintf(name, sizeof(name), "%s serial port %d", p->vm->name, p->idx);
    snprintf(bit_rate, sizeof(bit_rate), "%lld", (long long)p->line.bit_rate);
    snprintf(data_bits, sizeof(data_bits), "%d", p->line.data_bits);
    snprintf(stop_bits, sizeof(stop_bits), "%d", p->line.stop_bits);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "@odata.id",
                             uri, "@odata.type", "#SerialInterface.v1_3_0.SerialInterface", "Id",
                             id, "Name", name, "InterfaceEnabled", p->enabled, "SignalType",
                             "Rs232", "BitRate", bit_rate, "Parity", p->line.parity, "DataBits",
                             data_bits, "StopBits", stop_bits, "FlowControl", p->line.flow_control);
    if (p->com_port[0] || p->label[0]) {
        char desc[sizeof(p->com_port) + 2 + sizeof(p->label)];
        snprintf(desc, sizeof(desc), "%s%s%s", p->com_port,
                 p->com_port[0] && p->label[0] ? ": " : "", p->label);
        json_object_set_new(body, "Description", json_string(desc));
    }
    if (p->kind == BACKEND_USB_GADGET)
        json_object_set_new(body, "ConnectorType", json_string("USB"));
    json_object_set_new(body, "Links",
                        json_pack("{s:{s:{s:s, s:o}}}", "Oem", "Vsc", "@odata.type",
                                  "#Vsc.v1_0_0.SerialInterfaceLinks", "ComputerSystem",
                                  rf_link(sys)));
    json_object_set_new(body, "Oem", json_pack("{s:o}", "Vsc", rf_port_oem(p)));
    add_access_oem(req, p, json_object_get(json_object_get(body, "Oem"), "Vsc"));
    rf_reply(r, 200, body);
}

enum { SF_ENABLED, SF_BIT_RATE, SF_PARITY, SF_DATA_BITS, SF_STOP_BITS, SF_FLOW, SF_OEM };
static const struct jb_field port_fields[] = {
    [SF_ENABLED] = {"InterfaceEnabled", JB_BOOL, 0, 0, 0},
    [SF_BIT_RATE] = {"BitRate", JB_STRING, 0, 0, 0},
    [SF_PARITY] = {"Parity", JB_STRING, 0, 0, 0},
    [SF_DATA_BITS] = {"DataBits", JB_STRING, 0, 0, 0},
    [SF_STOP_BITS] = {"StopBits", JB_STRING, 0, 0, 0},
    [SF_FLOW] = {"FlowControl", JB_STRING, 0, 0, 0},
    [SF_OEM] = {"Oem", JB_OBJECT, 0, 0, 0},
    {"@odata.id", JB_STRING, JB_READONLY, 0, 0},
    {"@odata.type", JB_STRING, JB_READONLY, 0, 0},
    {"Id", JB_STRING, JB_READONLY, 0, 0},
    {"Name", JB_STRING, JB_READONLY, 0, 0},
    {"Description", JB_STRING, JB_READONLY, 0, 0},
    {"SignalType", JB_STRING, JB_READONLY, 0, 0},
    {"ConnectorType", JB_STRING, JB_READONLY, 0, 0},
    {"Links", JB_OBJECT, JB_READONLY, 0, 0},
};

/* Oem.Vsc: Mode is writable, the rest are facts. */
enum { OV_MODE, OV_N = 20 };
static const struct jb_field oem_fields[OV_N] = {
    [OV_MODE] = {"Mode", JB_STRING, 0, 0, 0},
    {"@odata.type", JB_STRING, JB_READONLY, 0, 0},
    {"Backend", JB_STRING, JB_READONLY, 0, 0},
    {"BindPath", JB_STRING, JB_READONLY, 0, 0},
    {"PortState", JB_STRING, JB_READONLY, 0, 0},
    {"Index", JB_INT, JB_READONLY, 0, 0},
    {"ComPort", JB_STRING, JB_READONLY, 0, 0},
    {"Label", JB_STRING, JB_READONLY, 0, 0},
    {"AttachedClients", JB_INT, JB_READONLY, 0, 0},
    {"BytesFromVM", JB_INT, JB_READONLY, 0, 0},
    {"BytesToVM", JB_INT, JB_READONLY, 0, 0},
    {"Error", JB_STRING, JB_READONLY, 0, 0},
    {"ConsoleSocket", JB_STRING, JB_READONLY, 0, 0},
    {"ConsoleURI", JB_STRING, JB_READONLY, 0, 0},
    {"ModeHolder", JB_STRING, JB_READONLY, 0, 0},
    {"Attached", JB_ARRAY, JB_READONLY, 0, 0},
    {"Connections", JB_OBJECT, JB_READONLY, 0, 0},
    {"SlowClientsDropped", JB_INT, JB_READONLY, 0, 0},
    {"AccessRules", JB_OBJECT, JB_READONLY, 0, 0},
    {"EffectiveRights", JB_ARRAY, JB_READONLY, 0, 0},
};

/* Reads Oem {"Vsc": {"Mode": ...}}: 0 with *mode set (or not present), -1 with errors. */
static int read_oem(const json_t *oem, bool *present, enum console_mode *mode,
                    struct rf_response *r)
{
    *present = false;
    const char *key;
    const json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)oem, key, v)
    {
        if (strcmp(key, "Vsc") != 0) {
            char name[160];
            snprintf(name, sizeof(name), "Oem/%s", key);
            rf_error(r, 400, msg_property_unknown(name));
            rc = -1;
        } else if (!json_is_object(v)) {
            char *text = jb_value_text(v);
            rf_error(r, 400, msg_property_value_type_error(text, "Oem/Vsc"));
            free(text);
            rc = -1;
        } else {
            struct jb_value ov[OV_N];
            if (jb_read(v, oem_fields, OV_N, ov, NULL, r) < 0)
                rc = -1;
            else if (ov[OV_MODE].present && console_mode_parse(ov[OV_MODE].s, true, mode) < 0) {
                rf_error(r, 400, msg_property_value_not_in_list(ov[OV_MODE].s, "Mode"));
                rc = -1;
            } else
                *present = ov[OV_MODE].present;
        }
    }
    return rc;
}
#define N_PORT_FIELDS (sizeof(port_fields) / sizeof(port_fields[0]))

/* Allowed values (SerialInterface v1_3_0 enums); NULL-terminated. */
static const char *const bit_rates[] = {"1200",  "2400",  "4800",   "9600",   "19200",
                                        "38400", "57600", "115200", "230400", NULL};
static const char *const parities[] = {"None", "Even", "Odd", "Mark", "Space", NULL};
static const char *const data_bits_values[] = {"5", "6", "7", "8", NULL};
static const char *const stop_bits_values[] = {"1", "2", NULL};
static const char *const flows[] = {"None", "Software", "Hardware", NULL};

static bool in_list(const char *v, const char *const *list)
{
    for (; *list; list++) {
        if (strcmp(v, *list) == 0)
            return true;
    }
    return false;
}

static int check_enums(const struct jb_value *v, struct rf_response *r)
{
    static const struct {
        int field;
        const char *const *values;
    } checks[] = {{SF_BIT_RATE, bit_rates},
                  {SF_PARITY, parities},
                  {SF_DATA_BITS, data_bits_values},
                  {SF_STOP_BITS, stop_bits_values},
                  {SF_FLOW, flows}};
    int rc = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        const struct jb_value *x = &v[checks[i].field];
        if (x->present && !in_list(x->s, checks[i].values)) {
            rf_error(r, 400,
                     msg_property_value_not_in_list(x->s, port_fields[checks[i].field].name));
            rc = -1;
        }
    }
    return rc;
}

/*
 * Oem.Vsc.Mode: the caller's rights on this port decide (port_rights()). PATCH states the
 * wanted mode, so a caller with PORT_RIGHT_FORCE takes over a mode another user holds
 * (announced as forced); without it that is 409 ResourceInUse.
 */
static int check_mode(struct rf_request *req, struct port *p, enum console_mode mode,
                      uint32_t *rights, struct rf_response *r)
{
    *rights = port_rights(req->app, p->id, req->who.user, req->who.role);
    int rc = console_mode_check(&p->console, mode, req->who.user, *rights,
                                (*rights & PORT_RIGHT_FORCE) != 0);
    if (rc == -EBUSY)
        rf_error(r, 409, msg_resource_in_use());
    else if (rc < 0)
        rf_error(r, 403, msg_insufficient_privilege());
    return rc;
}

/* Applies and stores the line settings and InterfaceEnabled: 0, or -1 (500; unchanged). */
static int update_line(struct rf_request *req, struct port *p, const struct jb_value *v,
                       struct rf_response *r)
{
    struct port before = *p;
    if (v[SF_BIT_RATE].present)
        p->line.bit_rate = strtoll(v[SF_BIT_RATE].s, NULL, 10);
    if (v[SF_PARITY].present)
        snprintf(p->line.parity, sizeof(p->line.parity), "%s", v[SF_PARITY].s);
    if (v[SF_DATA_BITS].present)
        p->line.data_bits = atoi(v[SF_DATA_BITS].s);
    if (v[SF_STOP_BITS].present)
        p->line.stop_bits = atoi(v[SF_STOP_BITS].s);
    if (v[SF_FLOW].present)
        snprintf(p->line.flow_control, sizeof(p->line.flow_control), "%s", v[SF_FLOW].s);
    if (v[SF_ENABLED].present)
        p->enabled = v[SF_ENABLED].b;
    if (ports_update(&req->app->ports, p, before.enabled) < 0) {
        p->line = before.line;
        p->enabled = before.enabled;
        rf_error(r, 500, msg_internal_error());
        return -1;
    }
    log_info("port %lld changed by '%s'", (long long)p->id, req->who.user);
    return 0;
}

static void patch_port(struct rf_request *req, struct rf_response *r)
{
    struct port *p = rf_target_port(req, r);
    struct jb_value v[N_PORT_FIELDS];
    bool mode_given = false;
    enum console_mode mode = CONSOLE_FREE;
    uint32_t rights = 0;
    if (!p || jb_read(req->body, port_fields, N_PORT_FIELDS, v, NULL, r) < 0 ||
        (v[SF_OEM].present && read_oem(v[SF_OEM].json, &mode_given, &mode, r) < 0) ||
        check_enums(v, r) < 0)
        return;
    bool line_given = false;
    for (int i = SF_ENABLED; i < SF_OEM; i++)
        line_given |= v[i].present;
    /* The route admits Login for Oem.Vsc.Mode; the line and InterfaceEnabled keep the
     * registry's ConfigureManager (docs/console-protocol.md, "Privileges"). */
    if (line_given && !(req->who.privileges & PRIV_CONFIGURE_MANAGER)) {
        rf_error(r, 403, msg_insufficient_privilege());
        return;
    }
    if (mode_given && check_mode(req, p, mode, &rights, r) < 0)
        return;
    /* The line settings first: when they cannot be stored, the mode stays as it was. */
    if (line_given && update_line(req, p, v, r) < 0)
        return;
    if (!mode_given)
        return;
    p->mode_client = req->client_ip;
    if (console_set_mode(&p->console, mode, req->who.user, rights,
                         (rights & PORT_RIGHT_FORCE) != 0) > 0)
        log_info("port %lld: mode %s by '%s'%s", (long long)p->id, console_mode_name(mode),
                 req->who.user, p->console.forced ? " (forced)" : "");
    p->mode_client = NULL;
}

/* The console WebSocket's URI without "Upgrade: websocket": http.c upgrades real
 * handshakes before dispatch, so a plain GET only learns what it should have sent. */
static void get_console(struct rf_request *req, struct rf_response *r)
{
    if (!rf_target_port(req, r))
        return;
    rf_set_header(r, "Upgrade", "websocket");
    rf_error(r, 426, msg_header_missing("Upgrade"));
}

static const struct route routes[] = {
    {"/redfish/v1/Managers/{id}/SerialInterfaces", HTTP_GET, get_ports, PRIV_LOGIN, 0,
     "SerialInterfaceCollection"},
    {"/redfish/v1/Managers/{id}/SerialInterfaces/{port}", HTTP_GET, get_port, PRIV_LOGIN, 0,
     "SerialInterface"},
    {"/redfish/v1/Managers/{id}/SerialInterfaces/{port}", HTTP_PATCH, patch_port,
     PRIV_CONFIGURE_MANAGER | PRIV_LOGIN, 0, "SerialInterface"},
    {CONSOLE_WS_PATTERN, HTTP_GET, get_console, PRIV_LOGIN, 0, "SerialInterface"},
};
ROUTE_TABLE(serial_interface_routes, routes);
