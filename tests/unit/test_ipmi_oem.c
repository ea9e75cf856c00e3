/* ipmi_oem: the OEM/Group (NetFn 2Eh) codec — decoding, every length and field check, the
 * completion codes, transport limits, UUIDs, and the response encoders. No registry here:
 * only paths that answer before ports.h is called go through ipmi_oem_handle(). */
#include "test.h"

#include "ipmi_oem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define IANA IPMI_OEM_IANA_DEFAULT

static const uint8_t uuid_bytes[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                       0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
static const char uuid_str[] = "12345678-9abc-def0-0123-456789abcdef";

static size_t put_iana(uint8_t *out)
{
    out[0] = 0xd9;
    out[1] = 0x7e;
    out[2] = 0x00;
    return 3;
}

/* IANA UUID count backend [len name]; `name` NULL: no length byte at all. */
static size_t alloc_req(uint8_t *out, uint8_t count, uint8_t backend, const char *name)
{
    size_t n = put_iana(out);
    memcpy(out + n, uuid_bytes, 16);
    n += 16;
    out[n++] = count;
    out[n++] = backend;
    if (name) {
        size_t len = strlen(name);
        out[n++] = (uint8_t)len;
        memcpy(out + n, name, len);
        n += len;
    }
    return n;
}

static size_t free_vm_req(uint8_t *out)
{
    size_t n = put_iana(out);
    out[n++] = IPMI_OEM_FREE_BY_VM;
    memcpy(out + n, uuid_bytes, 16);
    return n + 16;
}

static size_t free_port_req(uint8_t *out, uint32_t id)
{
    size_t n = put_iana(out);
    out[n++] = IPMI_OEM_FREE_BY_PORT;
    out[n++] = (uint8_t)id;
    out[n++] = (uint8_t)(id >> 8);
    out[n++] = (uint8_t)(id >> 16);
    out[n++] = (uint8_t)(id >> 24);
    return n;
}

/* IANA UUID [first]; first 0: no position byte. */
static size_t get_req(uint8_t *out, uint8_t first)
{
    size_t n = put_iana(out);
    memcpy(out + n, uuid_bytes, 16);
    n += 16;
    if (first)
        out[n++] = first;
    return n;
}

static int decode(enum ipmi_transport t, uint8_t cmd, const uint8_t *data, size_t len,
                  struct ipmi_oem_request *rq)
{
    return ipmi_oem_decode(IANA, t, IPMI_NETFN_OEM_GROUP, cmd, data, len, rq);
}

static bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n, int line)
{
    if (memcmp(a, b, n) == 0)
        return true;
    char got[3 * 200 + 1] = "", want[3 * 200 + 1] = "";
    for (size_t i = 0; i < n && i < 200; i++) {
        snprintf(got + 3 * i, 4, "%02x ", a[i]);
        snprintf(want + 3 * i, 4, "%02x ", b[i]);
    }
    return test_fail(__FILE__, line, "bytes differ:\n  got  %s\n  want %s", got, want);
}
#define CHECK_BYTES(a, b, n) bytes_eq((a), (b), (n), __LINE__)

/* ---- UUIDs and transports ------------------------------------------------------------------- */

TEST(ipmi_oem_uuid_binary_to_text)
{
    char text[37];
    ipmi_oem_uuid_text(uuid_bytes, text);
    CHECK_STREQ(text, uuid_str);

    /* RFC 4122 order: byte 0 is the first two digits; no SMBIOS-style field swapping. */
    const uint8_t edge[16] = {0x00, 0xff, 0x0a, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    ipmi_oem_uuid_text(edge, text);
    CHECK_STREQ(text, "00ff0aa0-0000-0000-0000-000000000001");

    uint8_t back[16];
    CHECK_EQ_INT(ipmi_oem_uuid_parse(uuid_str, back), 0);
    CHECK(memcmp(back, uuid_bytes, 16) == 0);
    CHECK_EQ_INT(ipmi_oem_uuid_parse("12345678-9ABC-DEF0-0123-456789ABCDEF", back), 0);
    CHECK(memcmp(back, uuid_bytes, 16) == 0);

    CHECK_EQ_INT(ipmi_oem_uuid_parse("12345678-9abc-def0-0123-456789abcde", back), -1);
    CHECK_EQ_INT(ipmi_oem_uuid_parse("12345678-9abc-def0-0123-456789abcdeff", back), -1);
    CHECK_EQ_INT(ipmi_oem_uuid_parse("123456789-abc-def0-0123-456789abcdef", back), -1);
    CHECK_EQ_INT(ipmi_oem_uuid_parse("12345678-9abc-def0-0123-456789abcdeg", back), -1);
    CHECK_EQ_INT(ipmi_oem_uuid_parse("", back), -1);
    CHECK_EQ_INT(ipmi_oem_uuid_parse(NULL, back), -1);
}

TEST(ipmi_oem_transport_names_and_limits)
{
    enum ipmi_transport t = IPMI_TRANSPORT_LAN;
    CHECK_EQ_INT(ipmi_transport_parse("IPMB", &t), 0);
    CHECK_EQ_INT(t, IPMI_TRANSPORT_IPMB);
    CHECK_EQ_INT(ipmi_transport_parse("lan", &t), 0);
    CHECK_EQ_INT(t, IPMI_TRANSPORT_LAN);
    CHECK_EQ_INT(ipmi_transport_parse("KCS2", &t), -1);
    CHECK_EQ_INT(ipmi_transport_parse("", &t), -1);
    CHECK_STREQ(ipmi_transport_name(IPMI_TRANSPORT_IPMB), "IPMB");
    CHECK_STREQ(ipmi_transport_name(IPMI_TRANSPORT_LAN), "LAN");
    CHECK_EQ_INT(ipmi_oem_request_limit(IPMI_TRANSPORT_IPMB), 25);
    CHECK_EQ_INT(ipmi_oem_response_limit(IPMI_TRANSPORT_IPMB), 25);
    CHECK_EQ_INT(ipmi_oem_request_limit(IPMI_TRANSPORT_LAN), 160);
    CHECK_EQ_INT(ipmi_oem_response_limit(IPMI_TRANSPORT_LAN), 160);
}

/* ---- decoding: each command ----------------------------------------------------------------- */

TEST(ipmi_oem_decode_allocate)
{
    uint8_t req[200];
    struct ipmi_oem_request rq;

    size_t n = alloc_req(req, 2, IPMI_OEM_BACKEND_UNIX, "web");
    CHECK_EQ_INT(n, 25); /* the longest allocate IPMB carries: a 3-character name */
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);
    CHECK_EQ_INT(rq.cmd, IPMI_OEM_CMD_ALLOCATE);
    CHECK_EQ_INT(rq.iana_len, 3);
    CHECK(memcmp(rq.iana, "\xd9\x7e\x00", 3) == 0);
    CHECK(memcmp(rq.uuid, uuid_bytes, 16) == 0);
    CHECK_STREQ(rq.uuid_text, uuid_str);
    CHECK_EQ_INT(rq.count, 2);
    CHECK_EQ_INT(rq.backend, IPMI_OEM_BACKEND_UNIX);
    CHECK(rq.name_given);
    CHECK_STREQ(rq.name, "web");

    /* No name: no length byte, or a length of 0. The default is vm-<8 hex digits>. */
    n = alloc_req(req, 1, IPMI_OEM_BACKEND_DEFAULT, NULL);
    CHECK_EQ_INT(n, IPMI_OEM_ALLOCATE_MIN);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);
    CHECK(!rq.name_given);
    CHECK_STREQ(rq.name, "vm-12345678");
    CHECK_EQ_INT(rq.backend, IPMI_OEM_BACKEND_DEFAULT);
    n = alloc_req(req, 1, IPMI_OEM_BACKEND_PTY, "");
    CHECK_EQ_INT(n, 22);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);
    CHECK(!rq.name_given);
    CHECK_STREQ(rq.name, "vm-12345678");

    /* Every backend byte 0..3; the longest name (64) over LAN. */
    for (uint8_t b = 0; b <= 3; b++) {
        n = alloc_req(req, 1, b, NULL);
        CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);
        CHECK_EQ_INT(rq.backend, b);
    }
    char longest[65];
    memset(longest, 'a', 64);
    longest[64] = '\0';
    n = alloc_req(req, 16, IPMI_OEM_BACKEND_PTY, longest);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);
    CHECK_STREQ(rq.name, longest);
    CHECK_EQ_INT(rq.count, 16);
}

TEST(ipmi_oem_decode_free)
{
    uint8_t req[64];
    struct ipmi_oem_request rq;
    size_t n = free_vm_req(req);
    CHECK_EQ_INT(n, 20);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_FREE, req, n, &rq), IPMI_CC_OK);
    CHECK_EQ_INT(rq.free_by, IPMI_OEM_FREE_BY_VM);
    CHECK_STREQ(rq.uuid_text, uuid_str);

    n = free_port_req(req, 0x12345678u);
    CHECK_EQ_INT(n, 8);
    CHECK(memcmp(req + 4, "\x78\x56\x34\x12", 4) == 0); /* little-endian on the wire */
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_FREE, req, n, &rq), IPMI_CC_OK);
    CHECK_EQ_INT(rq.free_by, IPMI_OEM_FREE_BY_PORT);
    CHECK_EQ_INT(rq.port_id, 0x12345678u);
    n = free_port_req(req, 0xfffffffeu);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_FREE, req, n, &rq), IPMI_CC_OK);
    CHECK_EQ_INT(rq.port_id, 0xfffffffeu);

    /* A selector other than 00h/01h. */
    req[3] = 0x02;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_FREE, req, n, &rq),
                 IPMI_CC_INVALID_DATA_FIELD);
}

TEST(ipmi_oem_decode_get)
{
    uint8_t req[64];
    struct ipmi_oem_request rq;
    size_t n = get_req(req, 0);
    CHECK_EQ_INT(n, IPMI_OEM_GET_MIN);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_GET, req, n, &rq), IPMI_CC_OK);
    CHECK_STREQ(rq.uuid_text, uuid_str);
    CHECK_EQ_INT(rq.first, 1);
    CHECK_EQ_INT(rq.transport, IPMI_TRANSPORT_IPMB);

    n = get_req(req, 4);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_GET, req, n, &rq), IPMI_CC_OK);
    CHECK_EQ_INT(rq.first, 4);
    CHECK_EQ_INT(rq.transport, IPMI_TRANSPORT_LAN);

    req[n - 1] = 0; /* positions start at 1 */
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_GET, req, n, &rq),
                 IPMI_CC_PARAM_OUT_OF_RANGE);
}

/* ---- decoding: lengths ---------------------------------------------------------------------- */

/* Every prefix of a valid request is 0xC7, except those listed as valid themselves. */
static void check_prefixes(uint8_t cmd, const uint8_t *req, size_t full, size_t valid_prefix)
{
    struct ipmi_oem_request rq;
    for (size_t len = 0; len < full; len++) {
        int want = len == valid_prefix ? IPMI_CC_OK : IPMI_CC_REQ_LENGTH_INVALID;
        int got = decode(IPMI_TRANSPORT_LAN, cmd, req, len, &rq);
        if (got != want)
            test_fail(__FILE__, __LINE__, "cmd %02x, %zu of %zu bytes: cc %02x, want %02x", cmd,
                      len, full, (unsigned)got, (unsigned)want);
        CHECK_EQ_INT(rq.iana_len, len >= 3 ? 3 : 0);
    }
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, cmd, req, full, &rq), IPMI_CC_OK);
}

TEST(ipmi_oem_truncated_at_every_length)
{
    uint8_t req[200];
    size_t n = alloc_req(req, 2, IPMI_OEM_BACKEND_PTY, "web-01");
    check_prefixes(IPMI_OEM_CMD_ALLOCATE, req, n, IPMI_OEM_ALLOCATE_MIN); /* 21: no name */
    n = alloc_req(req, 2, IPMI_OEM_BACKEND_PTY, NULL);
    check_prefixes(IPMI_OEM_CMD_ALLOCATE, req, n, SIZE_MAX);
    n = free_vm_req(req);
    check_prefixes(IPMI_OEM_CMD_FREE, req, n, SIZE_MAX);
    n = free_port_req(req, 7);
    check_prefixes(IPMI_OEM_CMD_FREE, req, n, SIZE_MAX);
    n = get_req(req, 2);
    check_prefixes(IPMI_OEM_CMD_GET, req, n, IPMI_OEM_GET_MIN); /* 19: first defaults */
    n = get_req(req, 0);
    check_prefixes(IPMI_OEM_CMD_GET, req, n, SIZE_MAX);

    /* A NULL buffer is an empty request. */
    struct ipmi_oem_request rq;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_GET, NULL, 5, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);
}

TEST(ipmi_oem_extra_bytes)
{
    uint8_t req[200];
    struct ipmi_oem_request rq;
    size_t n = alloc_req(req, 1, IPMI_OEM_BACKEND_PTY, "vm");
    req[n] = 'x';
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n + 1, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);
    /* A name length of 0 followed by bytes. */
    n = alloc_req(req, 1, IPMI_OEM_BACKEND_PTY, "");
    req[n] = 'x';
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n + 1, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);
    /* A name length that claims more than is there. */
    n = alloc_req(req, 1, IPMI_OEM_BACKEND_PTY, "abcd");
    req[IPMI_OEM_ALLOCATE_MIN] = 5;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);

    n = free_vm_req(req);
    req[n] = 0;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_FREE, req, n + 1, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);
    n = free_port_req(req, 1);
    req[n] = 0;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_FREE, req, n + 1, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);
    /* The selector decides the length: a port Id's selector with a UUID behind it. */
    n = free_vm_req(req);
    req[3] = IPMI_OEM_FREE_BY_PORT;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_FREE, req, n, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);

    n = get_req(req, 1);
    req[n] = 0;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_GET, req, n + 1, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);
}

TEST(ipmi_oem_ipmb_length_limit)
{
    uint8_t req[200];
    struct ipmi_oem_request rq;
    /* 26 bytes: too long for IPMB (0xC8), fine over LAN. */
    size_t n = alloc_req(req, 2, IPMI_OEM_BACKEND_PTY, "web1");
    CHECK_EQ_INT(n, 26);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_ALLOCATE, req, n, &rq),
                 IPMI_CC_REQ_LENGTH_EXCEEDED);
    CHECK_EQ_INT(rq.iana_len, 3); /* still echoed */
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);
    CHECK_STREQ(rq.name, "web1");

    /* The longest name: 86 bytes over LAN. */
    char name[65];
    memset(name, 'z', 64);
    name[64] = '\0';
    n = alloc_req(req, 1, IPMI_OEM_BACKEND_PTY, name);
    CHECK_EQ_INT(n, 86);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_ALLOCATE, req, n, &rq),
                 IPMI_CC_REQ_LENGTH_EXCEEDED);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);

    /* The limit is checked before the command: any command, any content. */
    memset(req, 0, sizeof(req));
    put_iana(req);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_GET, req, 26, &rq),
                 IPMI_CC_REQ_LENGTH_EXCEEDED);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_GET, req, 160, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID); /* within LAN's limit: just the wrong length */
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_GET, req, 161, &rq),
                 IPMI_CC_REQ_LENGTH_EXCEEDED);
    /* A name of 65 characters fits LAN but is out of range. */
    char too_long[66];
    memset(too_long, 'z', 65);
    too_long[65] = '\0';
    n = alloc_req(req, 1, IPMI_OEM_BACKEND_PTY, too_long);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq),
                 IPMI_CC_PARAM_OUT_OF_RANGE);
}

/* ---- decoding: fields ----------------------------------------------------------------------- */

TEST(ipmi_oem_wrong_iana)
{
    uint8_t req[64];
    struct ipmi_oem_request rq;
    size_t n = get_req(req, 0);
    for (int i = 0; i < 3; i++) {
        req[i] ^= 0x01;
        CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_GET, req, n, &rq),
                     IPMI_CC_INVALID_DATA_FIELD);
        CHECK_EQ_INT(rq.iana_len, 3);
        CHECK_EQ_INT(rq.iana[i], req[i]); /* the request's, for the echo */
        req[i] ^= 0x01;
    }
    /* The number is configurable: 0x0a1b2c on the wire is 2c 1b 0a. */
    req[0] = 0x2c;
    req[1] = 0x1b;
    req[2] = 0x0a;
    CHECK_EQ_INT(ipmi_oem_decode(0x0a1b2c, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP,
                                 IPMI_OEM_CMD_GET, req, n, &rq),
                 IPMI_CC_OK);
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_GET, req, n, &rq),
                 IPMI_CC_INVALID_DATA_FIELD);
    /* Only 24 bits of the configured number count. */
    CHECK_EQ_INT(ipmi_oem_decode(0xff0a1b2c, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP,
                                 IPMI_OEM_CMD_GET, req, n, &rq),
                 IPMI_CC_OK);
}

TEST(ipmi_oem_wrong_netfn)
{
    uint8_t req[64];
    struct ipmi_oem_request rq;
    size_t n = get_req(req, 0);
    const uint8_t netfns[] = {0x2F, 0x2C, 0x30, 0x06, 0x00, 0x2E << 2, 0x3F};
    for (size_t i = 0; i < ARRAY_LEN(netfns); i++) {
        CHECK_EQ_INT(
            ipmi_oem_decode(IANA, IPMI_TRANSPORT_IPMB, netfns[i], IPMI_OEM_CMD_GET, req, n, &rq),
            IPMI_CC_INVALID_COMMAND);
        CHECK_EQ_INT(rq.iana_len, 0); /* not an OEM/Group message: no IANA in the answer */
    }
    /* Through the entry point: the completion code alone. */
    uint8_t resp[64];
    memset(resp, 0xee, sizeof(resp));
    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_IPMB, 0x30, IPMI_OEM_CMD_GET, req, n,
                                 resp, sizeof(resp)),
                 1);
    CHECK_EQ_INT(resp[0], IPMI_CC_INVALID_COMMAND);
    CHECK_EQ_INT(resp[1], 0xee);
}

TEST(ipmi_oem_unknown_command)
{
    uint8_t req[64];
    struct ipmi_oem_request rq;
    size_t n = get_req(req, 0);
    const uint8_t cmds[] = {0x00, 0x04, 0x10, 0x80, 0xFF};
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, cmds[i], req, n, &rq), IPMI_CC_INVALID_COMMAND);
        CHECK_EQ_INT(rq.iana_len, 3);
    }
    /* Wrong IANA wins over an unknown command: the command set is not ours. */
    req[0] = 0;
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, 0x04, req, n, &rq), IPMI_CC_INVALID_DATA_FIELD);
}

TEST(ipmi_oem_bad_count_and_backend)
{
    uint8_t req[64];
    struct ipmi_oem_request rq;
    const struct {
        uint8_t count, backend;
        int cc;
    } cases[] = {
        {0, 0, IPMI_CC_PARAM_OUT_OF_RANGE},
        {17, 0, IPMI_CC_PARAM_OUT_OF_RANGE},
        {255, 0, IPMI_CC_PARAM_OUT_OF_RANGE},
        {1, 4, IPMI_CC_INVALID_DATA_FIELD},
        {1, 0xFF, IPMI_CC_INVALID_DATA_FIELD},
        {16, 3, IPMI_CC_OK},
        {1, 1, IPMI_CC_OK},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        size_t n = alloc_req(req, cases[i].count, cases[i].backend, NULL);
        int cc = decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_ALLOCATE, req, n, &rq);
        if (cc != cases[i].cc)
            test_fail(__FILE__, __LINE__, "count %u backend %u: cc %02x, want %02x", cases[i].count,
                      cases[i].backend, (unsigned)cc, (unsigned)cases[i].cc);
    }
}

TEST(ipmi_oem_name_characters)
{
    uint8_t req[200];
    struct ipmi_oem_request rq;
    const char *good[] = {"a", "Z9", "web-01.prod_x", "0vm"};
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        size_t n = alloc_req(req, 1, 0, good[i]);
        CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq), IPMI_CC_OK);
        CHECK_STREQ(rq.name, good[i]);
    }
    const char *bad[] = {"-vm", ".vm", "_vm", "a b", "a/b", "a:b", "vm\x7f", "v\xc3\xa9", "a\tb"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        size_t n = alloc_req(req, 1, 0, bad[i]);
        int cc = decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq);
        if (cc != IPMI_CC_INVALID_DATA_FIELD)
            test_fail(__FILE__, __LINE__, "name '%s': cc %02x", bad[i], (unsigned)cc);
    }
    /* A NUL inside the name (strings would cut it short). */
    size_t n = alloc_req(req, 1, 0, "abc");
    req[IPMI_OEM_ALLOCATE_MIN + 2] = '\0';
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_LAN, IPMI_OEM_CMD_ALLOCATE, req, n, &rq),
                 IPMI_CC_INVALID_DATA_FIELD);
}

/* ---- encoding ------------------------------------------------------------------------------- */

TEST(ipmi_oem_encode_error_response)
{
    uint8_t req[64], resp[8];
    struct ipmi_oem_request rq;
    size_t n = get_req(req, 0);
    req[0] = 0x01; /* wrong IANA: echoed as received */
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_GET, req, n, &rq),
                 IPMI_CC_INVALID_DATA_FIELD);
    CHECK_EQ_INT(ipmi_oem_encode_error(&rq, IPMI_CC_INVALID_DATA_FIELD, resp, sizeof(resp)), 4);
    CHECK_BYTES(resp, (const uint8_t *)"\xcc\x01\x7e\x00", 4);
    /* Too small for the IANA: the completion code alone; no room at all: nothing. */
    CHECK_EQ_INT(ipmi_oem_encode_error(&rq, IPMI_CC_UNSPECIFIED, resp, 3), 1);
    CHECK_EQ_INT(resp[0], IPMI_CC_UNSPECIFIED);
    CHECK_EQ_INT(ipmi_oem_encode_error(&rq, IPMI_CC_UNSPECIFIED, resp, 0), 0);
    /* A request shorter than the IANA. */
    CHECK_EQ_INT(decode(IPMI_TRANSPORT_IPMB, IPMI_OEM_CMD_GET, req, 2, &rq),
                 IPMI_CC_REQ_LENGTH_INVALID);
    CHECK_EQ_INT(ipmi_oem_encode_error(&rq, IPMI_CC_REQ_LENGTH_INVALID, resp, sizeof(resp)), 1);
    CHECK_EQ_INT(resp[0], IPMI_CC_REQ_LENGTH_INVALID);
}

static const uint8_t iana_bytes[3] = {0xd9, 0x7e, 0x00};

TEST(ipmi_oem_encode_allocate_response)
{
    const struct ipmi_oem_port ports[] = {
        {.id = 5, .usb_interface = IPMI_OEM_NO_USB_INTERFACE},
        {.id = 0x01020304, .usb_interface = 2},
    };
    uint8_t resp[64];
    size_t n = ipmi_oem_encode_allocate(iana_bytes, true, 2, ports, 2, resp, sizeof(resp));
    const uint8_t want[] = {0x00, 0xd9, 0x7e, 0x00, 0x01, 0x02, 0x02, 0x05, 0x00,
                            0x00, 0x00, 0xff, 0x04, 0x03, 0x02, 0x01, 0x02};
    CHECK_EQ_INT(n, sizeof(want));
    CHECK_BYTES(resp, want, sizeof(want));

    /* The same request again: created 0. */
    n = ipmi_oem_encode_allocate(iana_bytes, false, 2, ports, 2, resp, sizeof(resp));
    CHECK_EQ_INT(resp[4], 0);

    /* IPMB: 8 ports, 3 fit in 25 bytes; the header still says 8. */
    struct ipmi_oem_port eight[8];
    for (int i = 0; i < 8; i++)
        eight[i] = (struct ipmi_oem_port){.id = (uint32_t)(100 + i), .usb_interface = 0xff};
    n = ipmi_oem_encode_allocate(iana_bytes, true, 8, eight, 8, resp, IPMI_OEM_IPMB_MAX);
    CHECK_EQ_INT(n, 22);
    CHECK_EQ_INT(resp[5], 8);
    CHECK_EQ_INT(resp[6], 3);
    CHECK_EQ_INT(resp[7 + 2 * 5], 102);
    /* LAN: all 8. */
    n = ipmi_oem_encode_allocate(iana_bytes, true, 8, eight, 8, resp, IPMI_OEM_LAN_MAX);
    CHECK_EQ_INT(n, 7 + 8 * 5);
    CHECK_EQ_INT(resp[6], 8);
    /* No room for the header and one entry. */
    CHECK_EQ_INT(ipmi_oem_encode_allocate(iana_bytes, true, 2, ports, 2, resp, 11), 0);
    CHECK_EQ_INT(ipmi_oem_encode_allocate(iana_bytes, true, 2, ports, 2, resp, 12), 12);
}

TEST(ipmi_oem_encode_free_response)
{
    uint8_t resp[16];
    CHECK_EQ_INT(ipmi_oem_encode_free(iana_bytes, true, 3, resp, sizeof(resp)), 6);
    CHECK_BYTES(resp, (const uint8_t *)"\x00\xd9\x7e\x00\x01\x03", 6);
    CHECK_EQ_INT(ipmi_oem_encode_free(iana_bytes, false, 0, resp, sizeof(resp)), 6);
    CHECK_BYTES(resp, (const uint8_t *)"\x00\xd9\x7e\x00\x00\x00", 6);
    CHECK_EQ_INT(ipmi_oem_encode_free(iana_bytes, true, 1, resp, 5), 0);
}

TEST(ipmi_oem_encode_get_response)
{
    const struct ipmi_oem_port ports[] = {
        {.id = 7, .backend = 1, .state = IPMI_OEM_STATE_CONNECTED, .path = "/dev/pts/3"},
        {.id = 8, .backend = 2, .state = IPMI_OEM_STATE_WAITING, .path = "/run/vsc/a/2.sock"},
        {.id = 9,
         .backend = 1,
         .state = IPMI_OEM_STATE_DOWN | IPMI_OEM_STATE_DISABLED,
         .path = NULL},
        {.id = 10, .backend = 3, .state = IPMI_OEM_STATE_WAITING, .path = ""},
    };
    uint8_t resp[256];

    /* IPMB: no paths, 3 entries fit (7 + 3*6 = 25). */
    size_t n = ipmi_oem_encode_get(iana_bytes, 4, 1, ports, 4, false, resp, IPMI_OEM_IPMB_MAX);
    const uint8_t want[] = {0x00, 0xd9, 0x7e, 0x00, 0x04, 0x01, 0x03, 0x07, 0x00,
                            0x00, 0x00, 0x01, 0x02, 0x08, 0x00, 0x00, 0x00, 0x02,
                            0x01, 0x09, 0x00, 0x00, 0x00, 0x01, 0x80};
    CHECK_EQ_INT(n, sizeof(want));
    CHECK_BYTES(resp, want, sizeof(want));
    /* The next page: position 4. */
    n = ipmi_oem_encode_get(iana_bytes, 4, 4, ports + 3, 1, false, resp, IPMI_OEM_IPMB_MAX);
    CHECK_EQ_INT(n, 13);
    CHECK_BYTES(resp, (const uint8_t *)"\x00\xd9\x7e\x00\x04\x04\x01\x0a\x00\x00\x00\x03\x01", 13);

    /* LAN: each entry ends with its path, length-prefixed (0 when none). */
    n = ipmi_oem_encode_get(iana_bytes, 4, 1, ports, 4, true, resp, IPMI_OEM_LAN_MAX);
    CHECK_EQ_INT(n, 7 + (7 + 10) + (7 + 17) + 7 + 7);
    CHECK_EQ_INT(resp[6], 4);
    CHECK_EQ_INT(resp[13], 10);
    CHECK(memcmp(resp + 14, "/dev/pts/3", 10) == 0);
    CHECK_EQ_INT(resp[24], 8);
    CHECK_EQ_INT(resp[30], 17);
    CHECK(memcmp(resp + 31, "/run/vsc/a/2.sock", 17) == 0);
    CHECK_EQ_INT(resp[48 + 6], 0); /* port 9: no path */
    CHECK_EQ_INT(resp[55 + 6], 0); /* port 10: empty path */

    /* A path that fits when alone stops the list (the caller pages on); one that never
     * fits is sent with length 0 so paging always progresses. */
    char big[200];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char mid[141];
    memset(mid, 'm', sizeof(mid) - 1);
    mid[sizeof(mid) - 1] = '\0';
    const struct ipmi_oem_port paged[] = {
        {.id = 1, .backend = 1, .path = "/dev/pts/1"},
        {.id = 2, .backend = 1, .path = mid}, /* 7 + 17 + 7 + 140 > 160, 7 + 7 + 140 <= 160 */
    };
    n = ipmi_oem_encode_get(iana_bytes, 2, 1, paged, 2, true, resp, IPMI_OEM_LAN_MAX);
    CHECK_EQ_INT(resp[6], 1);
    CHECK_EQ_INT(n, 7 + 7 + 10);
    n = ipmi_oem_encode_get(iana_bytes, 2, 2, paged + 1, 1, true, resp, IPMI_OEM_LAN_MAX);
    CHECK_EQ_INT(resp[6], 1);
    CHECK_EQ_INT(n, 7 + 7 + 140);
    CHECK_EQ_INT(resp[13], 140);
    const struct ipmi_oem_port huge[] = {{.id = 3, .backend = 2, .path = big}};
    n = ipmi_oem_encode_get(iana_bytes, 1, 1, huge, 1, true, resp, IPMI_OEM_LAN_MAX);
    CHECK_EQ_INT(n, 14);
    CHECK_EQ_INT(resp[6], 1);
    CHECK_EQ_INT(resp[13], 0);

    /* No room for the header and one entry. */
    CHECK_EQ_INT(ipmi_oem_encode_get(iana_bytes, 1, 1, ports, 1, false, resp, 12), 0);
    CHECK_EQ_INT(ipmi_oem_encode_get(iana_bytes, 1, 1, ports, 1, true, resp, 13), 0);
}

/* ---- the entry point, up to the registry ----------------------------------------------------- */

TEST(ipmi_oem_handle_rejects_before_the_registry)
{
    /* ps is NULL: any of these reaching ports.h would crash the test. */
    uint8_t req[200], resp[200];
    size_t n = alloc_req(req, 2, IPMI_OEM_BACKEND_PTY, "web1"); /* 26 bytes */
    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP,
                                 IPMI_OEM_CMD_ALLOCATE, req, n, resp, sizeof(resp)),
                 4);
    CHECK_BYTES(resp, (const uint8_t *)"\xc8\xd9\x7e\x00", 4);

    n = alloc_req(req, 0, IPMI_OEM_BACKEND_PTY, NULL);
    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_LAN, IPMI_NETFN_OEM_GROUP,
                                 IPMI_OEM_CMD_ALLOCATE, req, n, resp, sizeof(resp)),
                 4);
    CHECK_EQ_INT(resp[0], IPMI_CC_PARAM_OUT_OF_RANGE);

    n = free_port_req(req, 1);
    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP,
                                 IPMI_OEM_CMD_FREE, req, n - 1, resp, sizeof(resp)),
                 4);
    CHECK_EQ_INT(resp[0], IPMI_CC_REQ_LENGTH_INVALID);

    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP, 0x09, req,
                                 n, resp, sizeof(resp)),
                 4);
    CHECK_EQ_INT(resp[0], IPMI_CC_INVALID_COMMAND);

    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP,
                                 IPMI_OEM_CMD_GET, req, 1, resp, sizeof(resp)),
                 1);
    CHECK_EQ_INT(resp[0], IPMI_CC_REQ_LENGTH_INVALID);

    /* resp_max bounds the answer; 0 gives nothing. */
    memset(resp, 0xee, sizeof(resp));
    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP, 0x09, req,
                                 n, resp, 2),
                 1);
    CHECK_EQ_INT(resp[1], 0xee);
    resp[0] = 0xee;
    CHECK_EQ_INT(ipmi_oem_handle(NULL, IANA, IPMI_TRANSPORT_IPMB, IPMI_NETFN_OEM_GROUP, 0x09, req,
                                 n, resp, 0),
                 0);
    CHECK_EQ_INT(resp[0], 0xee);
}
