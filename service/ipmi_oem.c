/*
 * ipmi_oem — the port commands as OEM/Group IPMI bytes; see ipmi_oem.h for the contract
 * and docs/ipmi-oem.md for the byte layout.
 */
#include "ipmi_oem.h"

#include "app.h"
#include "log.h"
#include "ports.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- transports ----------------------------------------------------------------------------- */

int ipmi_transport_parse(const char *name, enum ipmi_transport *out)
{
    if (!name)
        return -1;
    if (strcasecmp(name, "IPMB") == 0)
        *out = IPMI_TRANSPORT_IPMB;
    else if (strcasecmp(name, "LAN") == 0)
        *out = IPMI_TRANSPORT_LAN;
    else
        return -1;
    return 0;
}

const char *ipmi_transport_name(enum ipmi_transport t)
{
    return t == IPMI_TRANSPORT_LAN ? "LAN" : "IPMB";
}

size_t ipmi_oem_request_limit(enum ipmi_transport t)
{
    return t == IPMI_TRANSPORT_LAN ? IPMI_OEM_LAN_MAX : IPMI_OEM_IPMB_MAX;
}

size_t ipmi_oem_response_limit(enum ipmi_transport t)
{
    return t == IPMI_TRANSPORT_LAN ? IPMI_OEM_LAN_MAX : IPMI_OEM_IPMB_MAX;
}

/* ---- UUIDs ---------------------------------------------------------------------------------- */

void ipmi_oem_uuid_text(const uint8_t uuid[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 0x0f];
    }
    out[o] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ipmi_oem_uuid_parse(const char *text, uint8_t out[16])
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (!text || strlen(text) != sizeof(shape) - 1)
        return -1;
    size_t b = 0;
    for (size_t i = 0; shape[i];) {
        if (shape[i] == '-') {
            if (text[i] != '-')
                return -1;
            i++;
            continue;
        }
        int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[b++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------------- */

static bool name_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static bool name_first_char(uint8_t c)
{
    return name_char(c) && c != '.' && c != '_' && c != '-';
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static void set_uuid(struct ipmi_oem_request *rq, const uint8_t *b)
{
    memcpy(rq->uuid, b, 16);
    ipmi_oem_uuid_text(rq->uuid, rq->uuid_text);
}

/* After the IANA: UUID(16) count(1) backend(1) [name length(1) name(N)]. */
static int decode_allocate(const uint8_t *b, size_t n, struct ipmi_oem_request *rq)
{
    if (n < IPMI_OEM_ALLOCATE_MIN - 3)
        return IPMI_CC_REQ_LENGTH_INVALID;
    size_t name_len = n > 18 ? b[18] : 0;
    if (n > 18 && n != 19 + name_len)
        return IPMI_CC_REQ_LENGTH_INVALID;
    set_uuid(rq, b);
    rq->count = b[16];
    rq->backend = b[17];
    if (rq->count == 0 || rq->count > IPMI_OEM_MAX_PORTS)
        return IPMI_CC_PARAM_OUT_OF_RANGE;
    if (rq->backend > IPMI_OEM_BACKEND_USB_GADGET)
        return IPMI_CC_INVALID_DATA_FIELD;
    if (name_len > IPMI_OEM_NAME_MAX)
        return IPMI_CC_PARAM_OUT_OF_RANGE;
    if (name_len == 0) {
        snprintf(rq->name, sizeof(rq->name), "vm-%.8s", rq->uuid_text);
        return IPMI_CC_OK;
    }
    const uint8_t *name = b + 19;
    if (!name_first_char(name[0]))
        return IPMI_CC_INVALID_DATA_FIELD;
    for (size_t i = 1; i < name_len; i++) {
        if (!name_char(name[i]))
            return IPMI_CC_INVALID_DATA_FIELD;
    }
    memcpy(rq->name, name, name_len);
    rq->name[name_len] = '\0';
    rq->name_given = true;
    return IPMI_CC_OK;
}

/* After the IANA: 00h UUID(16) | 01h Id(4, LE). */
static int decode_free(const uint8_t *b, size_t n, struct ipmi_oem_request *rq)
{
    if (n < 1)
        return IPMI_CC_REQ_LENGTH_INVALID;
    rq->free_by = b[0];
    switch (b[0]) {
    case IPMI_OEM_FREE_BY_VM:
        if (n != 17)
            return IPMI_CC_REQ_LENGTH_INVALID;
        set_uuid(rq, b + 1);
        return IPMI_CC_OK;
    case IPMI_OEM_FREE_BY_PORT:
        if (n != 5)
            return IPMI_CC_REQ_LENGTH_INVALID;
        rq->port_id = get_le32(b + 1);
        return IPMI_CC_OK;
    default:
        return IPMI_CC_INVALID_DATA_FIELD;
    }
}

/* After the IANA: UUID(16) [first position(1), default 1]. */
static int decode_get(const uint8_t *b, size_t n, struct ipmi_oem_request *rq)
{
    if (n != 16 && n != 17)
        return IPMI_CC_REQ_LENGTH_INVALID;
    set_uuid(rq, b);
    rq->first = n == 17 ? b[16] : 1;
    return rq->first == 0 ? IPMI_CC_PARAM_OUT_OF_RANGE : IPMI_CC_OK;
}

int ipmi_oem_decode(uint32_t iana, enum ipmi_transport transport, uint8_t netfn, uint8_t cmd,
                    const uint8_t *data, size_t len, struct ipmi_oem_request *out)
{
    memset(out, 0, sizeof(*out));
    out->cmd = cmd;
    out->transport = transport;
    if (netfn != IPMI_NETFN_OEM_GROUP)
        return IPMI_CC_INVALID_COMMAND;
    if (!data)
        len = 0;
    if (len >= 3) {
        memcpy(out->iana, data, 3);
        out->iana_len = 3;
    }
    if (len > ipmi_oem_request_limit(transport))
        return IPMI_CC_REQ_LENGTH_EXCEEDED;
    if (len < 3)
        return IPMI_CC_REQ_LENGTH_INVALID;
    if (data[0] != (uint8_t)iana || data[1] != (uint8_t)(iana >> 8) ||
        data[2] != (uint8_t)(iana >> 16))
        return IPMI_CC_INVALID_DATA_FIELD;
    switch (cmd) {
    case IPMI_OEM_CMD_ALLOCATE:
        return decode_allocate(data + 3, len - 3, out);
    case IPMI_OEM_CMD_FREE:
        return decode_free(data + 3, len - 3, out);
    case IPMI_OEM_CMD_GET:
        return decode_get(data + 3, len - 3, out);
    default:
        return IPMI_CC_INVALID_COMMAND;
    }
}

/* ---- encoding ------------------------------------------------------------------------------- */

static size_t clamp_u8(size_t v)
{
    return v > 255 ? 255 : v;
}

size_t ipmi_oem_encode_error(const struct ipmi_oem_request *rq, uint8_t cc, uint8_t *resp,
                             size_t max)
{
    if (max < 1)
        return 0;
    resp[0] = cc;
    if (rq->iana_len != 3 || max < 4)
        return 1;
    memcpy(resp + 1, rq->iana, 3);
    return 4;
}

static size_t put_header(uint8_t *resp, const uint8_t iana[3])
{
    resp[0] = IPMI_CC_OK;
    memcpy(resp + 1, iana, 3);
    return 4;
}

size_t ipmi_oem_encode_allocate(const uint8_t iana[3], bool created, size_t total,
                                const struct ipmi_oem_port *ports, size_t n, uint8_t *resp,
                                size_t max)
{
    if (max < IPMI_OEM_RESP_HDR + (n > 0 ? IPMI_OEM_ALLOC_ENTRY : 0))
        return 0;
    size_t listed = (max - IPMI_OEM_RESP_HDR) / IPMI_OEM_ALLOC_ENTRY;
    if (listed > n)
        listed = n;
    listed = clamp_u8(listed);
    size_t o = put_header(resp, iana);
    resp[o++] = created ? 1 : 0;
    resp[o++] = (uint8_t)clamp_u8(total);
    resp[o++] = (uint8_t)listed;
    for (size_t i = 0; i < listed; i++) {
        put_le32(resp + o, ports[i].id);
        resp[o + 4] = ports[i].usb_interface;
        o += IPMI_OEM_ALLOC_ENTRY;
    }
    return o;
}

size_t ipmi_oem_encode_free(const uint8_t iana[3], bool freed_now, size_t count, uint8_t *resp,
                            size_t max)
{
    if (max < 6)
        return 0;
    size_t o = put_header(resp, iana);
    resp[o++] = freed_now ? 1 : 0;
    resp[o++] = (uint8_t)clamp_u8(count);
    return o;
}

size_t ipmi_oem_encode_get(const uint8_t iana[3], size_t total, size_t first,
                           const struct ipmi_oem_port *ports, size_t n, bool paths, uint8_t *resp,
                           size_t max)
{
    size_t fixed = IPMI_OEM_GET_ENTRY + (paths ? 1 : 0);
    if (max < IPMI_OEM_RESP_HDR + (n > 0 ? fixed : 0))
        return 0;
    size_t o = put_header(resp, iana);
    resp[o++] = (uint8_t)clamp_u8(total);
    resp[o++] = (uint8_t)clamp_u8(first);
    size_t count_at = o++;
    size_t listed = 0;
    for (size_t i = 0; i < n && listed < 255; i++) {
        size_t plen = 0;
        if (paths && ports[i].path) {
            plen = strlen(ports[i].path);
            /* A path that cannot fit even as the only entry is never sent. */
            if (plen > 255 || IPMI_OEM_RESP_HDR + fixed + plen > max)
                plen = 0;
        }
        if (o + fixed + plen > max)
            break;
        put_le32(resp + o, ports[i].id);
        resp[o + 4] = ports[i].backend;
        resp[o + 5] = ports[i].state;
        o += IPMI_OEM_GET_ENTRY;
        if (paths) {
            resp[o++] = (uint8_t)plen;
            memcpy(resp + o, plen ? ports[i].path : "", plen);
            o += plen;
        }
        listed++;
    }
    resp[count_at] = (uint8_t)listed;
    return o;
}

/* ---- the registry --------------------------------------------------------------------------- */

static uint8_t wire_backend(enum backend_kind k)
{
    switch (k) {
    case BACKEND_PTY:
        return IPMI_OEM_BACKEND_PTY;
    case BACKEND_UNIX:
        return IPMI_OEM_BACKEND_UNIX;
    case BACKEND_USB_GADGET:
        return IPMI_OEM_BACKEND_USB_GADGET;
    case BACKEND_COUNT:
        break;
    }
    return 0;
}

static uint8_t wire_state(const struct port *p)
{
    uint8_t s = p->state == PORT_CONNECTED ? IPMI_OEM_STATE_CONNECTED
                : p->state == PORT_WAITING ? IPMI_OEM_STATE_WAITING
                                           : IPMI_OEM_STATE_DOWN;
    return p->enabled ? s : (uint8_t)(s | IPMI_OEM_STATE_DISABLED);
}

/*
 * The VM's ports in ascending Id order (the registry's order), as wire entries.
 * Returns how many were written (at most `max`), or -1 when an Id does not fit 32 bits.
 */
static int vm_ports(struct ports *ps, const struct vm *vm, struct ipmi_oem_port *out, size_t max)
{
    size_t n = 0;
    for (struct port *p = ps->ports; p && n < max; p = p->next) {
        if (p->vm != vm)
            continue;
        if (p->id < 0 || p->id > (int64_t)UINT32_MAX)
            return -1;
        out[n++] = (struct ipmi_oem_port){
            .id = (uint32_t)p->id,
            .backend = wire_backend(p->kind),
            .state = wire_state(p),
            /* A gadget port's ACM control interface: 2 per port before it (its BindPath's
             * -ifNN, docs/usb-gadget.md). */
            .usb_interface = p->kind == BACKEND_USB_GADGET && p->idx >= 1 && p->idx <= 16
                                 ? (uint8_t)(2 * (p->idx - 1))
                                 : IPMI_OEM_NO_USB_INTERFACE,
            .path = p->bind_path,
        };
    }
    return (int)n;
}

static size_t handle_allocate(struct ports *ps, const struct ipmi_oem_request *rq, uint8_t *resp,
                              size_t limit)
{
    if (limit < IPMI_OEM_RESP_HDR + IPMI_OEM_ALLOC_ENTRY)
        return ipmi_oem_encode_error(rq, IPMI_CC_RESPONSE_UNAVAILABLE, resp, limit);
    /* A field of the request, checked before what exists (the VM, the name): the Redfish
     * action's PortCount is out of range first too. */
    if (rq->count > ps->app->cfg.max_ports_per_vm)
        return ipmi_oem_encode_error(rq, IPMI_CC_PARAM_OUT_OF_RANGE, resp, limit);

    struct allocate_request req;
    memset(&req, 0, sizeof(req));
    snprintf(req.uuid, sizeof(req.uuid), "%s", rq->uuid_text);
    snprintf(req.name, sizeof(req.name), "%s", rq->name);
    req.name_given = rq->name_given;
    req.count = rq->count;
    req.kind_given = rq->backend != IPMI_OEM_BACKEND_DEFAULT;
    req.kind = rq->backend == IPMI_OEM_BACKEND_UNIX         ? BACKEND_UNIX
               : rq->backend == IPMI_OEM_BACKEND_USB_GADGET ? BACKEND_USB_GADGET
                                                            : BACKEND_PTY;

    struct vm *vm = NULL;
    char err[256];
    enum allocate_result res = ports_allocate(ps, &req, &vm, err, sizeof(err));
    uint8_t cc = IPMI_CC_UNSPECIFIED;
    switch (res) {
    case ALLOC_CREATED:
    case ALLOC_EXISTING:
        cc = IPMI_CC_OK;
        break;
    case ALLOC_CONFLICT:
        log_warn("IPMI allocate: %s", err);
        cc = IPMI_CC_NOT_IN_PRESENT_STATE;
        break;
    case ALLOC_EXHAUSTED:
        /* The per-VM limit was checked above: the service-wide pool is used up. */
        log_warn("IPMI allocate: %s", err);
        cc = IPMI_CC_OEM_NO_PORTS;
        break;
    case ALLOC_BACKEND:
        log_error("IPMI allocate: %s", err);
        break;
    case ALLOC_FAILED:
        log_error("IPMI allocate: database error");
        break;
    }
    if (cc == IPMI_CC_OK && !vm)
        cc = IPMI_CC_UNSPECIFIED;
    if (cc != IPMI_CC_OK)
        return ipmi_oem_encode_error(rq, cc, resp, limit);

    struct ipmi_oem_port list[IPMI_OEM_MAX_PORTS];
    int n = vm_ports(ps, vm, list, IPMI_OEM_MAX_PORTS);
    if (n < 0) {
        log_error("IPMI allocate: a port Id of VM %s does not fit 32 bits", vm->uuid);
        return ipmi_oem_encode_error(rq, IPMI_CC_RESPONSE_UNAVAILABLE, resp, limit);
    }
    return ipmi_oem_encode_allocate(rq->iana, res == ALLOC_CREATED, ports_count(ps, vm), list,
                                    (size_t)n, resp, limit);
}

static uint8_t free_status_cc(int rc)
{
    return rc == -ENOENT ? IPMI_CC_NOT_PRESENT : IPMI_CC_UNSPECIFIED;
}

static size_t handle_free(struct ports *ps, const struct ipmi_oem_request *rq, uint8_t *resp,
                          size_t limit)
{
    if (limit < 6)
        return ipmi_oem_encode_error(rq, IPMI_CC_RESPONSE_UNAVAILABLE, resp, limit);
    size_t count = 0;
    int rc;
    if (rq->free_by == IPMI_OEM_FREE_BY_VM) {
        const struct vm *vm = ports_find_vm(ps, rq->uuid_text);
        count = vm ? ports_count(ps, vm) : 0;
        rc = ports_free_vm(ps, rq->uuid_text);
    } else {
        count = 1;
        rc = ports_free_port(ps, rq->port_id);
    }
    if (rc < 0) {
        if (rc != -ENOENT)
            log_error("IPMI free: %s", strerror(-rc));
        return ipmi_oem_encode_error(rq, free_status_cc(rc), resp, limit);
    }
    return ipmi_oem_encode_free(rq->iana, rc == 1, rc == 1 ? count : 0, resp, limit);
}

static size_t handle_get(struct ports *ps, const struct ipmi_oem_request *rq, uint8_t *resp,
                         size_t limit)
{
    bool paths = rq->transport == IPMI_TRANSPORT_LAN;
    if (limit < IPMI_OEM_RESP_HDR + IPMI_OEM_GET_ENTRY + (paths ? 1 : 0))
        return ipmi_oem_encode_error(rq, IPMI_CC_RESPONSE_UNAVAILABLE, resp, limit);
    const struct vm *vm = ports_find_vm(ps, rq->uuid_text);
    if (!vm)
        return ipmi_oem_encode_error(rq, IPMI_CC_NOT_PRESENT, resp, limit);
    struct ipmi_oem_port list[IPMI_OEM_MAX_PORTS];
    int n = vm_ports(ps, vm, list, IPMI_OEM_MAX_PORTS);
    if (n < 0)
        return ipmi_oem_encode_error(rq, IPMI_CC_RESPONSE_UNAVAILABLE, resp, limit);
    if (rq->first > n)
        return ipmi_oem_encode_error(rq, IPMI_CC_PARAM_OUT_OF_RANGE, resp, limit);
    size_t skip = rq->first - 1u;
    return ipmi_oem_encode_get(rq->iana, ports_count(ps, vm), rq->first, list + skip,
                               (size_t)n - skip, paths, resp, limit);
}

size_t ipmi_oem_handle(struct ports *ps, uint32_t iana, enum ipmi_transport transport,
                       uint8_t netfn, uint8_t cmd, const uint8_t *data, size_t len, uint8_t *resp,
                       size_t resp_max)
{
    if (!resp || resp_max == 0)
        return 0;
    size_t limit = ipmi_oem_response_limit(transport);
    if (limit > resp_max)
        limit = resp_max;
    struct ipmi_oem_request rq;
    int cc = ipmi_oem_decode(iana, transport, netfn, cmd, data, len, &rq);
    if (cc != IPMI_CC_OK)
        return ipmi_oem_encode_error(&rq, (uint8_t)cc, resp, limit);
    switch (rq.cmd) {
    case IPMI_OEM_CMD_ALLOCATE:
        return handle_allocate(ps, &rq, resp, limit);
    case IPMI_OEM_CMD_FREE:
        return handle_free(ps, &rq, resp, limit);
    default:
        return handle_get(ps, &rq, resp, limit);
    }
}
