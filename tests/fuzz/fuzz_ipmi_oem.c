/* ipmi_oem: ipmi_oem_decode for both transports and every command byte, then the encoders
 * for what was decoded (lengths and limits checked), and the UUID text round trip.
 * Input: FLAGS CMD MAX DATA... — FLAGS bit 0: LAN (else IPMB), bit 1: a wrong NetFn;
 * MAX: the response room the encoders get (0: the transport's limit). */
#include "fuzz.h"

#include "ipmi_oem.h"

#define IANA IPMI_OEM_IANA_DEFAULT

static void check_len(size_t n, size_t max)
{
    if (n > max || n > IPMI_OEM_LAN_MAX)
        abort();
}

static void encoders(const struct ipmi_oem_request *rq, const uint8_t *data, size_t len, size_t max)
{
    uint8_t resp[IPMI_OEM_LAN_MAX + 16];
    /* Ports made of the request's own bytes: ids, states and paths of any value. */
    struct ipmi_oem_port ports[IPMI_OEM_MAX_PORTS];
    char paths[IPMI_OEM_MAX_PORTS][120];
    /* (A rejected request may hold any count.) */
    size_t n = (rq->count ? rq->count : len) % (IPMI_OEM_MAX_PORTS + 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = len ? data[i % len] : 0;
        size_t plen = len ? (size_t)b % sizeof(paths[i]) : 0;
        for (size_t k = 0; k < plen; k++)
            paths[i][k] = (char)(len ? (data[(i + k) % len] | 1) : 'x');
        paths[i][plen] = '\0';
        ports[i] = (struct ipmi_oem_port){.id = (uint32_t)b << 24 | (uint32_t)i,
                                          .backend = b & 3,
                                          .state = b,
                                          .usb_interface = b,
                                          .path = (b & 4) ? NULL : paths[i]};
    }
    check_len(ipmi_oem_encode_error(rq, IPMI_CC_INVALID_DATA_FIELD, resp, max), max);
    check_len(ipmi_oem_encode_allocate(rq->iana, n & 1, n + rq->first, ports, n, resp, max), max);
    check_len(ipmi_oem_encode_free(rq->iana, rq->free_by, n, resp, max), max);
    size_t first = rq->first ? rq->first : 1;
    size_t total = first - 1 + n;
    check_len(ipmi_oem_encode_get(rq->iana, total, first, ports, n, false, resp, max), max);
    check_len(ipmi_oem_encode_get(rq->iana, total, first, ports, n, true, resp, max), max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    enum ipmi_transport t = (data[0] & 1) ? IPMI_TRANSPORT_LAN : IPMI_TRANSPORT_IPMB;
    uint8_t netfn = (data[0] & 2) ? (uint8_t)(data[0] >> 2) : IPMI_NETFN_OEM_GROUP;
    uint8_t cmd = data[1];
    size_t limit = ipmi_oem_response_limit(t);
    size_t max = data[2] ? (size_t)data[2] % (limit + 1) : limit;
    data += 3;
    size -= 3;

    struct ipmi_oem_request rq;
    memset(&rq, 0, sizeof(rq));
    int cc = ipmi_oem_decode(IANA, t, netfn, cmd, data, size, &rq);
    if (cc < 0 || cc > 0xFF || (rq.iana_len != 0 && rq.iana_len != 3))
        abort();
    if (cc == IPMI_CC_OK) {
        if (!memchr(rq.name, '\0', sizeof(rq.name)) || !memchr(rq.uuid_text, '\0', 37))
            abort();
        if (cmd == IPMI_OEM_CMD_ALLOCATE && (rq.count < 1 || rq.count > IPMI_OEM_MAX_PORTS))
            abort();
        /* A decoded UUID formats and parses back to the same bytes. */
        char text[37];
        uint8_t back[16];
        ipmi_oem_uuid_text(rq.uuid, text);
        if (ipmi_oem_uuid_parse(text, back) != 0 || memcmp(back, rq.uuid, 16) != 0)
            abort();
    }
    encoders(&rq, data, size, max);

    /* The request bytes as UUID text: parses or not, never more. */
    char *s = fuzz_strndup(data, size < 40 ? size : 40);
    uint8_t u[16];
    if (ipmi_oem_uuid_parse(s, u) == 0) {
        char text[37];
        ipmi_oem_uuid_text(u, text);
        if (strcasecmp(text, s) != 0)
            abort();
    }
    free(s);
    return 0;
}
