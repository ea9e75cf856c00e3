/*
 * Vsc.IpmiRequest: the hypervisor's port command as raw IPMI bytes (docs/ipmi-oem.md),
 * through the same codec an IPMI front end (ipmi_sim plugin, OpenBMC ipmid) would use.
 * The answer is the IPMI completion code and response bytes; an IPMI-level error is
 * still an HTTP 200 (the request was delivered and answered, as a BMC would).
 */
#include "app.h"
#include "base_registry.h"
#include "ipmi_serve.h"
#include "jsonbody.h"
#include "resources.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTION_IPMI "Vsc.IpmiRequest"
#define DATA_MAX    256

/* Hex digits (spaces and a 0x prefix per byte allowed) to bytes; -1 when malformed. */
static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
    *len = 0;
    while (*s) {
        if (*s == ' ' || *s == ':') {
            s++;
            continue;
        }
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
            s += 2;
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) || *len >= max)
            return -1;
        char byte[3] = {s[0], s[1], 0};
        out[(*len)++] = (uint8_t)strtoul(byte, NULL, 16);
        s += 2;
    }
    return 0;
}

static int parse_byte(const char *s, uint8_t *out)
{
    uint8_t b[2];
    size_t n;
    if (parse_hex(s, b, sizeof(b), &n) < 0 || n != 1)
        return -1;
    *out = b[0];
    return 0;
}

enum { IP_NETFN, IP_CMD, IP_DATA, IP_TRANSPORT, IP_N };
static const struct jb_field ipmi_fields[] = {
    [IP_NETFN] = {"NetFn", JB_STRING, JB_REQUIRED, 1, 4},
    [IP_CMD] = {"Command", JB_STRING, JB_REQUIRED, 1, 4},
    [IP_DATA] = {"Data", JB_STRING, JB_REQUIRED, 0, 4 * DATA_MAX},
    [IP_TRANSPORT] = {"Transport", JB_STRING, 0, 0, 0},
};

static int format_error(struct rf_response *r, const json_t *v, const char *param)
{
    char *text = jb_value_text(v);
    rf_error(r, 400, msg_action_parameter_value_format_error(text, param, ACTION_IPMI));
    free(text);
    return -1;
}

static void ipmi_request(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[IP_N];
    if (!rf_is_our_manager(req, r) || jb_read(req->body, ipmi_fields, IP_N, v, ACTION_IPMI, r) < 0)
        return;
    uint8_t netfn, cmd, data[DATA_MAX];
    size_t len;
    enum ipmi_transport transport = IPMI_TRANSPORT_IPMB;
    if (parse_byte(v[IP_NETFN].s, &netfn) < 0 || netfn > 0x3F) {
        format_error(r, v[IP_NETFN].json, "NetFn");
        return;
    }
    if (parse_byte(v[IP_CMD].s, &cmd) < 0) {
        format_error(r, v[IP_CMD].json, "Command");
        return;
    }
    if (parse_hex(v[IP_DATA].s, data, sizeof(data), &len) < 0) {
        format_error(r, v[IP_DATA].json, "Data");
        return;
    }
    if (v[IP_TRANSPORT].present && ipmi_transport_parse(v[IP_TRANSPORT].s, &transport) < 0) {
        rf_error(
            r, 400,
            msg_action_parameter_value_not_in_list(v[IP_TRANSPORT].s, "Transport", ACTION_IPMI));
        return;
    }
    uint8_t resp[DATA_MAX];
    const struct ipmi_origin from = {.user = req->who.user,
                                     .client = req->client_ip,
                                     .target = MANAGER_URI "/Actions/Oem/" ACTION_IPMI,
                                     .via = "Redfish"};
    size_t n = ipmi_serve(req->app, &from, transport, netfn, cmd, data, len, resp, sizeof(resp));
    char cc[3], hex[2 * DATA_MAX + 1] = "";
    snprintf(cc, sizeof(cc), "%02X", n ? resp[0] : IPMI_CC_UNSPECIFIED);
    for (size_t i = 1; i < n; i++)
        snprintf(hex + 2 * (i - 1), 3, "%02X", resp[i]);
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s}", "@odata.type", "#Vsc.v1_0_0.IpmiResponse",
                       "CompletionCode", cc, "Data", hex));
}

json_t *rf_ipmi_action_params(void)
{
    json_t *params = json_array();
    static const char *const names[] = {"NetFn", "Command", "Data"};
    for (size_t i = 0; i < 3; i++)
        json_array_append_new(
            params,
            json_pack("{s:s, s:b, s:s, s:s}", "Name", names[i], "Required", 1, "DataType", "String",
                      "AllowablePattern",
                      i < 2 ? "^(0[xX])?[0-9A-Fa-f]{2}$" : "^((0[xX])?[0-9A-Fa-f]{2}[ :]?)*$"));
    json_array_append_new(params,
                          json_pack("{s:s, s:b, s:s, s:[s, s]}", "Name", "Transport", "Required", 0,
                                    "DataType", "String", "AllowableValues", "IPMB", "LAN"));
    return params;
}

static const struct route routes[] = {
    {"/redfish/v1/Managers/{id}/Actions/Oem/Vsc.IpmiRequest", HTTP_POST, ipmi_request,
     PRIV_CONFIGURE_MANAGER, 0, "Manager"},
};
ROUTE_TABLE(ipmi_routes, routes);
