/*
 * The live consoles' Redfish side:
 *   .../SerialInterfaces/{port}/Oem/Vsc/Connections       who is attached (ConsoleConnection)
 *   .../SerialInterfaces/{port}/Oem/Vsc/Connections/{cid} one; DELETE disconnects it
 *   Managers/bmc/Actions/Oem/Vsc.SendInput                broadcast input (ConMan's -b)
 * Connections follow the privilege registry's Session entity (ConfigureManager, or
 * ConfigureSelf for one's own); SendInput admits Login and leaves every decision to each
 * port's rights and mode (port_rights(), console_may_input()), reported per port.
 */
#include "app.h"
#include "audit.h"
#include "base_registry.h"
#include "console_ws.h"
#include "jsonbody.h"
#include "log.h"
#include "port_rights.h"
#include "resources.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACTION_SEND     "Vsc.SendInput"
#define SEND_PORTS_MAX  64
#define SEND_DATA_MAX   4096 /* bytes after decoding */
#define CONNECTIONS_FMT MANAGER_URI "/SerialInterfaces/%lld/Oem/Vsc/Connections"

static void get_connections(struct rf_request *req, struct rf_response *r)
{
    struct port *p = rf_target_port(req, r);
    if (!p)
        return;
    char uri[160], member[200];
    snprintf(uri, sizeof(uri), CONNECTIONS_FMT, (long long)p->id);
    json_t *c = rf_collection(uri, "#Vsc.v1_0_0.ConsoleConnectionCollection",
                              "Console Connection Collection");
    json_t *list = console_ws_connections(p);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        snprintf(member, sizeof(member), "%s/%s", uri,
                 json_string_value(json_object_get(item, "Id")));
        rf_collection_add(c, member);
    }
    json_decref(list);
    rf_reply(r, 200, c);
}

/* The connection named by {cid} on {port}, if the caller may see it; else r holds the error. */
static json_t *target_connection(struct rf_request *req, struct rf_response *r, struct port **pp,
                                 uint64_t *id)
{
    struct port *p = *pp = rf_target_port(req, r);
    if (!p)
        return NULL;
    const char *s = req->params[2];
    *id = rf_canonical_id(s) ? strtoull(s, NULL, 10) : 0;
    json_t *c = *id ? console_ws_connection(p, *id) : NULL;
    if (!c) {
        rf_not_found(r, "ConsoleConnection", s);
        return NULL;
    }
    const char *user = json_string_value(json_object_get(c, "UserName"));
    if (req->self_only && strcmp(user, req->who.user) != 0) {
        rf_error(r, 403, msg_insufficient_privilege());
        json_decref(c);
        return NULL;
    }
    return c;
}

static void get_connection(struct rf_request *req, struct rf_response *r)
{
    struct port *p;
    uint64_t id;
    json_t *c = target_connection(req, r, &p, &id);
    if (!c)
        return;
    char uri[200], name[64], port_uri[128];
    snprintf(uri, sizeof(uri), CONNECTIONS_FMT "/%llu", (long long)p->id, (unsigned long long)id);
    snprintf(name, sizeof(name), "Console connection %llu", (unsigned long long)id);
    rf_port_uri(p, port_uri, sizeof(port_uri));
    json_object_set_new(c, "@odata.id", json_string(uri));
    json_object_set_new(c, "@odata.type", json_string("#Vsc.v1_0_0.ConsoleConnection"));
    json_object_set_new(c, "Name", json_string(name));
    json_object_set_new(c, "SessionType", json_string("HostConsole"));
    json_object_set_new(c, "Links", json_pack("{s:o}", "SerialInterface", rf_link(port_uri)));
    rf_reply(r, 200, c);
}

static void delete_connection(struct rf_request *req, struct rf_response *r)
{
    struct port *p;
    uint64_t id;
    json_t *c = target_connection(req, r, &p, &id);
    if (!c)
        return;
    json_decref(c);
    console_ws_disconnect(p, id, req->who.user);
    log_info("console %lld: connection %llu disconnected by '%s'", (long long)p->id,
             (unsigned long long)id, req->who.user);
    r->status = 204;
}

/* ---- SendInput ------------------------------------------------------------------------------ */

enum { SI_PORTS, SI_DATA, SI_ENCODING, SI_N };
static const struct jb_field send_fields[] = {
    [SI_PORTS] = {"Ports", JB_ARRAY, JB_REQUIRED, 0, 0},
    /* Not empty; how long, read_data() says in bytes (ActionParameterValueFormatError). */
    [SI_DATA] = {"Data", JB_STRING, JB_REQUIRED, 1, INT64_MAX},
    [SI_ENCODING] = {"Encoding", JB_STRING, 0, 0, 0},
};

static int bad_param(struct rf_response *r, const json_t *v, const char *param)
{
    char *text = jb_value_text(v);
    rf_error(r, 400, msg_action_parameter_value_format_error(text, param, ACTION_SEND));
    free(text);
    return -1;
}

/* Decodes Data: UTF-8 text as is, or Base64. 0 or -1 (r holds the error). */
static int read_data(const struct jb_value *v, uint8_t *out, size_t *len, struct rf_response *r)
{
    bool b64 = v[SI_ENCODING].present && strcmp(v[SI_ENCODING].s, "Base64") == 0;
    if (v[SI_ENCODING].present && !b64 && strcmp(v[SI_ENCODING].s, "UTF-8") != 0) {
        rf_error(r, 400,
                 msg_action_parameter_value_not_in_list(v[SI_ENCODING].s, "Encoding", ACTION_SEND));
        return -1;
    }
    size_t n = json_string_length(v[SI_DATA].json);
    if (!b64) {
        if (n > SEND_DATA_MAX)
            return bad_param(r, v[SI_DATA].json, "Data");
        memcpy(out, v[SI_DATA].s, n);
        *len = n;
        return 0;
    }
    gnutls_datum_t in = {(unsigned char *)(uintptr_t)v[SI_DATA].s, (unsigned)n}, dec = {NULL, 0};
    if (gnutls_base64_decode2(&in, &dec) < 0 || dec.size == 0 || dec.size > SEND_DATA_MAX) {
        gnutls_free(dec.data);
        return bad_param(r, v[SI_DATA].json, "Data");
    }
    memcpy(out, dec.data, dec.size);
    *len = dec.size;
    gnutls_free(dec.data);
    return 0;
}

/* Ports: canonical Ids, none twice. 0 or -1 (r holds the error). */
static int read_ports(const json_t *list, int64_t *ids, size_t *n, struct rf_response *r)
{
    size_t i;
    const json_t *item;
    *n = 0;
    if (json_array_size(list) == 0 || json_array_size(list) > SEND_PORTS_MAX) {
        rf_error(r, 400, msg_action_parameter_value_error("Ports", ACTION_SEND));
        return -1;
    }
    json_array_foreach(list, i, item)
    {
        const char *s = json_string_value(item);
        if (!s || !rf_canonical_id(s))
            return bad_param(r, item, "Ports");
        ids[(*n)++] = strtoll(s, NULL, 10);
        for (size_t j = 0; j + 1 < *n; j++) {
            if (ids[j] == ids[*n - 1])
                return bad_param(r, item, "Ports");
        }
    }
    return 0;
}

/* One port's outcome: Sent, or Refused with a reason a program can test. */
static json_t *send_one(struct rf_request *req, int64_t id, const uint8_t *data, size_t len)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    struct port *p = ports_find(&req->app->ports, id);
    const char *reason = NULL;
    char text[160];
    const char *message = NULL;
    if (!p) {
        reason = "NotFound";
        message = "no such port";
    } else {
        uint32_t rights = port_rights(req->app, id, req->who.user, req->who.role);
        int rc = console_send_input(&p->console, req->who.user, rights, false, data, len);
        static const struct {
            int rc;
            const char *reason;
        } reasons[] = {
            {-EACCES, "Rights"}, {-EBUSY, "Mode"}, {-ENOTCONN, "NoVM"}, {-ENOSPC, "QueueFull"}};
        for (size_t i = 0; rc < 0 && i < sizeof(reasons) / sizeof(reasons[0]); i++) {
            if (reasons[i].rc == rc)
                reason = reasons[i].reason;
        }
        if (rc < 0) {
            reason = reason ? reason : "Failed";
            message = console_refusal_text(rc, &p->console, text, sizeof(text));
        }
    }
    json_t *o = json_pack("{s:s, s:s}", "Port", ids, "Result", reason ? "Refused" : "Sent");
    if (reason) {
        json_object_set_new(o, "Reason", json_string(reason));
        json_object_set_new(o, "Message", json_string(message));
    }
    return o;
}

/* One audit entry for a broadcast: which ports took it, how many bytes (and which, when
 * audit_console_input is on). */
static void audit_send_input(struct rf_request *req, const json_t *results, const uint8_t *data,
                             size_t len)
{
    char ports[512] = "", text[1536] = ""; /* the audit detail holds 2 KiB */
    size_t i, at = 0;
    json_t *o;
    json_array_foreach(results, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "Result")), "Sent") == 0 &&
            at + 24 < sizeof(ports))
            at += (size_t)snprintf(ports + at, sizeof(ports) - at, "%s%s", at ? "," : "",
                                   json_string_value(json_object_get(o, "Port")));
    }
    if (req->app->cfg.audit_console_input)
        audit_escape(data, len, text, sizeof(text));
    audit_req(req, AUDIT_CONSOLE_INPUT, MANAGER_URI "/Actions/Oem/Vsc.SendInput",
              "SendInput: %zu byte(s) to port(s) [%s]%s%s%s", len, ports, text[0] ? ": \"" : "",
              text, text[0] ? "\"" : "");
}

static void send_input(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[SI_N];
    int64_t ids[SEND_PORTS_MAX];
    size_t n = 0, len = 0;
    uint8_t data[SEND_DATA_MAX];
    if (!rf_is_our_manager(req, r) ||
        jb_read(req->body, send_fields, SI_N, v, ACTION_SEND, r) < 0 ||
        read_ports(v[SI_PORTS].json, ids, &n, r) < 0 || read_data(v, data, &len, r) < 0)
        return;
    json_t *results = json_array();
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = send_one(req, ids[i], data, len);
        sent += strcmp(json_string_value(json_object_get(o, "Result")), "Sent") == 0;
        json_array_append_new(results, o);
    }
    log_info("SendInput by '%s': %zu bytes to %zu of %zu ports", req->who.user, len, sent, n);
    if (sent) /* the trail keeps input a VM took, as for a WebSocket (docs/SECURITY.md) */
        audit_send_input(req, results, data, len);
    rf_reply(r, 200,
             json_pack("{s:s, s:o}", "@odata.type", "#Vsc.v1_0_0.SendInputResponse", "Results",
                       results));
}

json_t *rf_send_input_action_params(void)
{
    json_t *ports =
        json_pack("{s:s, s:b, s:s}", "Name", "Ports", "Required", 1, "DataType", "StringArray");
    json_t *data =
        json_pack("{s:s, s:b, s:s}", "Name", "Data", "Required", 1, "DataType", "String");
    json_t *enc = json_pack("{s:s, s:b, s:s, s:[s, s]}", "Name", "Encoding", "Required", 0,
                            "DataType", "String", "AllowableValues", "UTF-8", "Base64");
    return json_pack("[o, o, o]", ports, data, enc);
}

static const struct route routes[] = {
    {"/redfish/v1/Managers/{id}/SerialInterfaces/{port}/Oem/Vsc/Connections", HTTP_GET,
     get_connections, PRIV_LOGIN, 0, "SessionCollection"},
    {"/redfish/v1/Managers/{id}/SerialInterfaces/{port}/Oem/Vsc/Connections/{cid}", HTTP_GET,
     get_connection, PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_SELF, 0, "Session"},
    {"/redfish/v1/Managers/{id}/SerialInterfaces/{port}/Oem/Vsc/Connections/{cid}", HTTP_DELETE,
     delete_connection, PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_SELF, 0, "Session"},
    {"/redfish/v1/Managers/{id}/Actions/Oem/" ACTION_SEND, HTTP_POST, send_input, PRIV_LOGIN, 0,
     "Manager"},
};
ROUTE_TABLE(console_routes, routes);
