/*
 * The hypervisor's port commands, as OEM actions of Managers/bmc (DSP0266 §6.5 OEM
 * actions), each described by an ActionInfo resource:
 *   Vsc.AllocatePorts — all-or-nothing, idempotent per VM UUID
 *   Vsc.FreePorts     — by VM or by port; freeing twice is harmless, unknown is 404
 * (Vsc.IpmiRequest, the same command as IPMI bytes, is in res_ipmi.c; its ActionInfo here.)
 */
#include "app.h"
#include "audit.h"
#include "base_registry.h"
#include "db_ports.h"
#include "jsonbody.h"
#include "log.h"
#include "resources.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTION_ALLOCATE "Vsc.AllocatePorts"
#define ACTION_FREE     "Vsc.FreePorts"

bool rf_valid_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

void rf_lower_uuid(const char *in, char out[37])
{
    size_t i = 0;
    for (; in[i] && i < 36; i++)
        out[i] = (char)tolower((unsigned char)in[i]); /* one VM, one spelling */
    out[i] = '\0';
}

bool rf_canonical_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 18 || s[0] < '1' || s[0] > '9')
        return false;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return false;
    }
    return true;
}

bool rf_valid_vm_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || !isalnum((unsigned char)s[0]))
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    }
    return true;
}

static bool valid_host_name(const char *s)
{
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-')
            return false;
    }
    return true;
}

static bool valid_com_port(const char *s)
{
    size_t n = strlen(s);
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s))
            return false;
    }
    return n >= 1 && n <= 15;
}

static bool printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    }
    return true;
}

/* ---- AllocatePorts ------------------------------------------------------------------------ */

enum { AP_UUID, AP_NAME, AP_HOST, AP_COUNT, AP_BACKEND, AP_PORTS, AP_N };
static const struct jb_field allocate_fields[] = {
    [AP_UUID] = {"VMUUID", JB_STRING, JB_REQUIRED, 0, 0},
    [AP_NAME] = {"VMName", JB_STRING, JB_REQUIRED, 0, 0},
    [AP_HOST] = {"HostName", JB_STRING, 0, 0, 253},
    [AP_COUNT] = {"PortCount", JB_INT, JB_REQUIRED, 1, 16},
    [AP_BACKEND] = {"Backend", JB_STRING, 0, 0, 0},
    [AP_PORTS] = {"Ports", JB_ARRAY, 0, 0, 0},
};

static int bad_value(struct rf_response *r, const json_t *v, const char *param)
{
    char *text = jb_value_text(v);
    rf_error(r, 400, msg_action_parameter_value_format_error(text, param, ACTION_ALLOCATE));
    free(text);
    return -1;
}

/* Reads the Ports array: one {ComPort, Label} object per port. */
static int read_port_list(const json_t *list, struct allocate_request *req, struct rf_response *r)
{
    if ((int64_t)json_array_size(list) != req->count) {
        /* One entry per port: the list must be PortCount long (a conflict between the two). */
        char *text = jb_value_text(list);
        rf_error(r, 400, msg_action_parameter_value_conflict("Ports", text));
        free(text);
        return -1;
    }
    static const struct jb_field fields[] = {{"ComPort", JB_STRING, 0, 0, 0},
                                             {"Label", JB_STRING, 0, 0, PORT_LABEL_CHARS}};
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        struct jb_value v[2];
        if (!json_is_object(item))
            return bad_value(r, item, "Ports");
        if (jb_read(item, fields, 2, v, ACTION_ALLOCATE, r) < 0)
            return -1;
        if (v[0].present && !valid_com_port(v[0].s))
            return bad_value(r, v[0].json, "ComPort");
        if (v[1].present && !printable(v[1].s))
            return bad_value(r, v[1].json, "Label");
        snprintf(req->ports[i].com_port, sizeof(req->ports[i].com_port), "%s",
                 v[0].present ? v[0].s : "");
        snprintf(req->ports[i].label, sizeof(req->ports[i].label), "%s",
                 v[1].present ? v[1].s : "");
    }
    req->ports_given = true;
    return 0;
}

static int read_allocate(struct rf_request *rq, struct allocate_request *req, struct rf_response *r)
{
    struct jb_value v[AP_N];
    memset(req, 0, sizeof(*req));
    if (jb_read(rq->body, allocate_fields, AP_N, v, ACTION_ALLOCATE, r) < 0)
        return -1;
    if (!rf_valid_uuid(v[AP_UUID].s))
        return bad_value(r, v[AP_UUID].json, "VMUUID");
    if (!rf_valid_vm_name(v[AP_NAME].s))
        return bad_value(r, v[AP_NAME].json, "VMName");
    if (v[AP_HOST].present && !valid_host_name(v[AP_HOST].s))
        return bad_value(r, v[AP_HOST].json, "HostName");
    if (v[AP_COUNT].i > rq->app->cfg.max_ports_per_vm) {
        char text[24];
        snprintf(text, sizeof(text), "%lld", (long long)v[AP_COUNT].i);
        rf_error(r, 400,
                 msg_action_parameter_value_out_of_range(text, "PortCount", ACTION_ALLOCATE));
        return -1;
    }
    rf_lower_uuid(v[AP_UUID].s, req->uuid);
    snprintf(req->name, sizeof(req->name), "%s", v[AP_NAME].s);
    req->name_given = true;
    snprintf(req->host_name, sizeof(req->host_name), "%s", v[AP_HOST].present ? v[AP_HOST].s : "");
    req->count = (int)v[AP_COUNT].i;
    if (v[AP_BACKEND].present) {
        if (backend_parse(v[AP_BACKEND].s, &req->kind) < 0) {
            rf_error(r, 400,
                     msg_action_parameter_value_not_in_list(v[AP_BACKEND].s, "Backend",
                                                            ACTION_ALLOCATE));
            return -1;
        }
        req->kind_given = true;
    }
    return v[AP_PORTS].present ? read_port_list(v[AP_PORTS].json, req, r) : 0;
}

json_t *rf_allocation_json(struct ports *ps, struct vm *vm, bool created)
{
    char sys[96], uri[128], id[24];
    rf_system_uri(vm, sys, sizeof(sys));
    json_t *list = json_array();
    for (struct port *p = ps->ports; p; p = p->next) {
        if (p->vm != vm)
            continue;
        rf_port_uri(p, uri, sizeof(uri));
        snprintf(id, sizeof(id), "%lld", (long long)p->id);
        json_t *item =
            json_pack("{s:o, s:s, s:i, s:s, s:s, s:s, s:s}", "SerialInterface", rf_link(uri), "Id",
                      id, "Index", p->idx, "ComPort", p->com_port, "Label", p->label, "Backend",
                      backend_name(p->kind), "BindPath", p->bind_path);
        json_t *oem = rf_port_oem(p);
        json_t *sock = json_object_get(oem, "ConsoleSocket");
        if (sock)
            json_object_set(item, "ConsoleSocket", sock);
        json_decref(oem);
        json_array_append_new(list, item);
    }
    return json_pack("{s:s, s:s, s:o, s:b, s:o}", "@odata.type",
                     "#Vsc.v1_0_0.AllocatePortsResponse", "VMUUID", vm->uuid, "System",
                     rf_link(sys), "Created", created, "Ports", list);
}

static void allocate_ports(struct rf_request *rq, struct rf_response *r)
{
    struct allocate_request req;
    if (!rf_is_our_manager(rq, r) || read_allocate(rq, &req, r) < 0)
        return;
    struct vm *vm = NULL;
    char err[256];
    enum allocate_result res = ports_allocate(&rq->app->ports, &req, &vm, err, sizeof(err));
    switch (res) {
    case ALLOC_CREATED:
    case ALLOC_EXISTING:
        break;
    case ALLOC_CONFLICT:
        log_warn("AllocatePorts: %s", err);
        rf_error(r, 409,
                 ports_find_vm(&rq->app->ports, req.uuid)
                     ? msg_resource_already_exists("ComputerSystem", "VMUUID", req.uuid)
                     : msg_resource_already_exists("ComputerSystem", "VMName", req.name));
        return;
    case ALLOC_EXHAUSTED:
        log_warn("AllocatePorts: %s", err);
        rf_error(r, 409, msg_resource_exhaustion(err));
        return;
    case ALLOC_BACKEND:
        log_error("AllocatePorts: %s", err);
        rf_error(r, 503, msg_resource_exhaustion(err));
        return;
    case ALLOC_FAILED:
        rf_error(r, 500, msg_internal_error());
        return;
    }
    if (res == ALLOC_CREATED) {
        char sys[96];
        rf_system_uri(vm, sys, sizeof(sys));
        audit_req(rq, AUDIT_ALLOCATE, sys, "%d %s port(s) for VM '%s'%s%s", req.count,
                  backend_name(req.kind), vm->name, vm->host_name[0] ? ", host " : "",
                  vm->host_name);
    }
    rf_reply(r, 200, rf_allocation_json(&rq->app->ports, vm, res == ALLOC_CREATED));
}

/* ---- FreePorts ---------------------------------------------------------------------------- */

enum { FP_UUID, FP_PORTS, FP_N };
static const struct jb_field free_fields[] = {
    [FP_UUID] = {"VMUUID", JB_STRING, 0, 0, 0},
    [FP_PORTS] = {"SerialInterfaces", JB_ARRAY, 0, 0, 0},
};

#define FREE_MAX PORTS_FREE_MAX

/* Parses and checks every named port before freeing any: all known, or nothing happens. */
static int read_port_ids(struct rf_request *rq, const json_t *list, int64_t *ids, size_t *n,
                         struct rf_response *r)
{
    size_t i;
    const json_t *item;
    *n = 0;
    if (json_array_size(list) == 0 || json_array_size(list) > FREE_MAX) {
        rf_error(r, 400, msg_action_parameter_value_error("SerialInterfaces", ACTION_FREE));
        return -1;
    }
    json_array_foreach(list, i, item)
    {
        const char *s = json_string_value(item);
        long long id = s && rf_canonical_id(s) ? strtoll(s, NULL, 10) : 0;
        if (id < 1) {
            char *text = jb_value_text(item);
            rf_error(
                r, 400,
                msg_action_parameter_value_format_error(text, "SerialInterfaces", ACTION_FREE));
            free(text);
            return -1;
        }
        int status = ports_find(&rq->app->ports, id) ? 1 : db_port_status(&rq->app->db, id);
        if (status == -ENOENT) {
            rf_not_found(r, "SerialInterface", s);
            return -1;
        }
        if (status < 0) {
            rf_error(r, 500, msg_internal_error());
            return -1;
        }
        ids[(*n)++] = id;
    }
    return 0;
}

static void free_ports(struct rf_request *rq, struct rf_response *r)
{
    struct jb_value v[FP_N];
    if (!rf_is_our_manager(rq, r) || jb_read(rq->body, free_fields, FP_N, v, ACTION_FREE, r) < 0)
        return;
    if (v[FP_UUID].present == v[FP_PORTS].present) {
        /* Exactly one of them names what to free: both conflict. */
        char *text = v[FP_PORTS].present ? jb_value_text(v[FP_PORTS].json) : NULL;
        rf_error(r, 400,
                 text ? msg_action_parameter_value_conflict("SerialInterfaces", text)
                      : msg_action_parameter_missing(ACTION_FREE, "VMUUID"));
        free(text);
        return;
    }
    char uuid[37] = "";
    if (v[FP_UUID].present) {
        if (!rf_valid_uuid(v[FP_UUID].s)) {
            char *text = jb_value_text(v[FP_UUID].json);
            rf_error(r, 400, msg_action_parameter_value_format_error(text, "VMUUID", ACTION_FREE));
            free(text);
            return;
        }
        rf_lower_uuid(v[FP_UUID].s, uuid);
    }
    json_t *freed = json_array(), *already = json_array();
    char id[24];
    if (v[FP_UUID].present) {
        struct vm *vm = ports_find_vm(&rq->app->ports, uuid);
        for (struct port *p = vm ? rq->app->ports.ports : NULL; p; p = p->next) {
            if (p->vm == vm) {
                snprintf(id, sizeof(id), "%lld", (long long)p->id);
                json_array_append_new(freed, json_string(id));
            }
        }
        int rc = ports_free_vm(&rq->app->ports, uuid);
        if (rc == -ENOENT)
            rf_not_found(r, "ComputerSystem", uuid);
        else if (rc < 0)
            rf_error(r, 500, msg_internal_error());
    } else {
        int64_t ids[FREE_MAX];
        bool now[FREE_MAX];
        size_t n;
        if (read_port_ids(rq, v[FP_PORTS].json, ids, &n, r) == 0) {
            if (ports_free_ports(&rq->app->ports, ids, n, now) < 0) /* all or nothing */
                rf_error(r, 500, msg_internal_error());
            for (size_t i = 0; r->status < 400 && i < n; i++) {
                snprintf(id, sizeof(id), "%lld", (long long)ids[i]);
                json_array_append_new(now[i] ? freed : already, json_string(id));
            }
        }
    }
    if (r->status >= 400) {
        json_decref(freed);
        json_decref(already);
        return;
    }
    log_info("FreePorts by '%s': %zu freed", rq->who.user, json_array_size(freed));
    if (json_array_size(freed)) {
        char *ids = json_dumps(freed, JSON_COMPACT);
        audit_req(rq, AUDIT_FREE, MANAGER_URI "/SerialInterfaces", "port(s) %s freed%s%s",
                  ids ? ids : "?", v[FP_UUID].present ? " of VM " : "",
                  v[FP_UUID].present ? v[FP_UUID].s : "");
        free(ids);
    }
    rf_reply(r, 200,
             json_pack("{s:s, s:o, s:o}", "@odata.type", "#Vsc.v1_0_0.FreePortsResponse", "Freed",
                       freed, "AlreadyFreed", already));
}

/* ---- ActionInfo ------------------------------------------------------------------------------ */

static json_t *param(const char *name, bool required, const char *type)
{
    return json_pack("{s:s, s:b, s:s}", "Name", name, "Required", required, "DataType", type);
}

static json_t *allocate_info(struct vsc_app *app)
{
    json_t *params = json_array();
    json_t *uuid = param("VMUUID", true, "String");
    json_object_set_new(uuid, "AllowablePattern",
                        json_string("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                                    "[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"));
    json_array_append_new(params, uuid);
    json_t *name = param("VMName", true, "String");
    json_object_set_new(name, "AllowablePattern", json_string("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"));
    json_array_append_new(params, name);
    json_array_append_new(params, param("HostName", false, "String"));
    json_t *count = param("PortCount", true, "Number");
    json_object_set_new(count, "MinimumValue", json_integer(1));
    json_object_set_new(count, "MaximumValue", json_integer(app->cfg.max_ports_per_vm));
    json_array_append_new(params, count);
    json_t *backend = param("Backend", false, "String");
    json_object_set_new(backend, "AllowableValues",
                        json_pack("[s, s, s]", "pty", "unix", "usb-gadget"));
    json_array_append_new(params, backend);
    json_t *ports = param("Ports", false, "ObjectArray");
    json_object_set_new(ports, "ObjectDataType", json_string("#Vsc.v1_0_0.PortRequest"));
    json_array_append_new(params, ports);
    return params;
}

static json_t *free_info(void)
{
    return json_pack("[o, o]", param("VMUUID", false, "String"),
                     param("SerialInterfaces", false, "StringArray"));
}

static void get_action_info(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    const char *which = req->params[1];
    json_t *params;
    if (strcmp(which, "AllocatePortsActionInfo") == 0)
        params = allocate_info(req->app);
    else if (strcmp(which, "FreePortsActionInfo") == 0)
        params = free_info();
    else if (strcmp(which, "IpmiRequestActionInfo") == 0)
        params = rf_ipmi_action_params();
    else if (strcmp(which, "SendInputActionInfo") == 0)
        params = rf_send_input_action_params();
    else {
        rf_not_found(r, "ActionInfo", which);
        return;
    }
    char uri[256], name[160];
    snprintf(uri, sizeof(uri), MANAGER_URI "/Oem/Vsc/%s", which);
    snprintf(name, sizeof(name), "%.*s Action Info", (int)(strlen(which) - 10), which);
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:o}", "@odata.id", uri, "@odata.type",
                       "#ActionInfo.v1_5_0.ActionInfo", "Id", which, "Name", name, "Parameters",
                       params));
}

static const struct route routes[] = {
    {"/redfish/v1/Managers/{id}/Actions/Oem/Vsc.AllocatePorts", HTTP_POST, allocate_ports,
     PRIV_CONFIGURE_MANAGER, 0, "Manager"},
    {"/redfish/v1/Managers/{id}/Actions/Oem/Vsc.FreePorts", HTTP_POST, free_ports,
     PRIV_CONFIGURE_MANAGER, 0, "Manager"},
    {"/redfish/v1/Managers/{id}/Oem/Vsc/{info}", HTTP_GET, get_action_info, PRIV_LOGIN, 0,
     "ActionInfo"},
};
ROUTE_TABLE(port_action_routes, routes);
