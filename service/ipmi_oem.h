/*
 * ipmi_oem — the hypervisor's port commands as raw IPMI bytes (docs/ipmi-oem.md).
 *
 * Owns: the byte layout of one OEM command set under the OEM/Group network function
 * (NetFn 2Eh, response 2Fh; IPMI v2.0 §5.1 Table 5-1: the first three data bytes of every
 * request and response are the IANA Enterprise Number, least significant byte first), its
 * validation, and the completion codes it answers (IPMI v2.0 §5.2 Table 5-2). It owns no
 * state: allocation, freeing and lookup are ports.h's.
 *
 * Commands (the IPMI Cmd byte): 01h allocate, 02h free, 03h get.
 *
 * Promises:
 * - A response always starts with the completion code. When the request carried at least
 *   the three IANA bytes, those three bytes follow the completion code — echoed as
 *   received, on errors too (as OpenBMC's ipmid does); a shorter request gets the
 *   completion code alone, and so does a wrong NetFn.
 * - Every length is checked before any field, and every field before ports.h is called:
 *   a rejected request changes nothing. A request longer than the transport carries
 *   (IPMB: 25 data bytes, the 32-byte IPMB message less its 7 bytes of header and
 *   checksums; LAN/KCS: 160) is 0xC8; a request of the wrong length for its command
 *   (truncated, extra bytes) is 0xC7.
 * - A response never exceeds the transport's limit (IPMB 25 bytes from the completion code
 *   on, LAN 160) nor resp_max: lists of ports stop early (their header says how many
 *   follow) and the `get` command pages through the rest.
 * - The decoder and encoders are pure (no registry, no heap, no globals) and can be
 *   tested alone; only ipmi_oem_handle() touches the registry.
 */
#ifndef VSC_IPMI_OEM_H
#define VSC_IPMI_OEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ports;

/* The network function (6 bits, no LUN) and the IANA number reserved for documentation. */
#define IPMI_NETFN_OEM_GROUP     0x2E
#define IPMI_NETFN_OEM_GROUP_RSP 0x2F
#define IPMI_OEM_IANA_DEFAULT    32473u /* d9 7e 00 on the wire */

/* Commands. */
#define IPMI_OEM_CMD_ALLOCATE 0x01
#define IPMI_OEM_CMD_FREE     0x02
#define IPMI_OEM_CMD_GET      0x03

/* Completion codes (IPMI v2.0 §5.2 Table 5-2), plus one device-specific code (01h-7Eh). */
#define IPMI_CC_OK                   0x00
#define IPMI_CC_OEM_NO_PORTS         0x01 /* OEM: the service-wide port limit is reached */
#define IPMI_CC_INVALID_COMMAND      0xC1
#define IPMI_CC_REQ_LENGTH_INVALID   0xC7
#define IPMI_CC_REQ_LENGTH_EXCEEDED  0xC8
#define IPMI_CC_PARAM_OUT_OF_RANGE   0xC9
#define IPMI_CC_NOT_PRESENT          0xCB
#define IPMI_CC_INVALID_DATA_FIELD   0xCC
#define IPMI_CC_RESPONSE_UNAVAILABLE 0xCE
#define IPMI_CC_NOT_IN_PRESENT_STATE 0xD5
#define IPMI_CC_UNSPECIFIED          0xFF

/* Backend byte: 0 = the service's default (requests only). */
#define IPMI_OEM_BACKEND_DEFAULT    0
#define IPMI_OEM_BACKEND_PTY        1
#define IPMI_OEM_BACKEND_UNIX       2
#define IPMI_OEM_BACKEND_USB_GADGET 3

/* Free: what the request names. */
#define IPMI_OEM_FREE_BY_VM   0x00
#define IPMI_OEM_FREE_BY_PORT 0x01

/* Port state byte: bits 0-3 the state, bit 7 set when the port is disabled. */
#define IPMI_OEM_STATE_DOWN      0
#define IPMI_OEM_STATE_WAITING   1
#define IPMI_OEM_STATE_CONNECTED 2
#define IPMI_OEM_STATE_DISABLED  0x80

#define IPMI_OEM_NO_USB_INTERFACE 0xFF

/* Sizes (data bytes after NetFn/Cmd; responses counted from the completion code on). */
#define IPMI_OEM_IPMB_MAX     25  /* a 32-byte IPMB message less 7 bytes of header/checksums */
#define IPMI_OEM_LAN_MAX      160 /* LAN and KCS (191 bytes went through ipmi_sim) */
#define IPMI_OEM_MAX_PORTS    16  /* port count of one allocate */
#define IPMI_OEM_NAME_MAX     64  /* VM name, as the Redfish action */
#define IPMI_OEM_ALLOCATE_MIN 21  /* IANA, UUID, count, backend (no name) */
#define IPMI_OEM_GET_MIN      19  /* IANA, UUID (the first position defaults to 1) */
#define IPMI_OEM_RESP_HDR     7   /* allocate and get: cc, IANA, three header bytes */
#define IPMI_OEM_ALLOC_ENTRY  5   /* Id (4, LE), USB interface (1) */
#define IPMI_OEM_GET_ENTRY    6   /* Id (4, LE), backend (1), state (1) [+ path length, path] */

enum ipmi_transport {
    IPMI_TRANSPORT_IPMB, /* 32-byte messages: the default, and the strict one */
    IPMI_TRANSPORT_LAN,  /* LAN (RMCP+) and KCS: longer messages, bind paths in `get` */
};

/* "IPMB" or "LAN" (any case): 0, or -1 for anything else. */
int ipmi_transport_parse(const char *name, enum ipmi_transport *out);
const char *ipmi_transport_name(enum ipmi_transport t);

/* The largest request (data bytes) and response (from the completion code) of a transport. */
size_t ipmi_oem_request_limit(enum ipmi_transport t);
size_t ipmi_oem_response_limit(enum ipmi_transport t);

/* A decoded request; only the fields of its command are set. */
struct ipmi_oem_request {
    uint8_t cmd;
    size_t iana_len;  /* 3 when the request carried the IANA bytes, else 0 */
    uint8_t iana[3];  /* as received: echoed in the response */
    uint8_t uuid[16]; /* allocate, free by VM, get: RFC 4122 byte order */
    char uuid_text[37];
    uint8_t count;    /* allocate: 1..IPMI_OEM_MAX_PORTS */
    uint8_t backend;  /* allocate: IPMI_OEM_BACKEND_* */
    bool name_given;  /* allocate: false = the default name below */
    char name[65];    /* allocate: as given, or "vm-" + the UUID's first 8 hex digits */
    uint8_t free_by;  /* free: IPMI_OEM_FREE_BY_* */
    uint32_t port_id; /* free by port */
    uint8_t first;    /* get: 1-based position of the first port listed */
    enum ipmi_transport transport;
};

/*
 * Decodes and checks one request. Returns IPMI_CC_OK, or the completion code to answer
 * (out->iana/iana_len are set as far as the request went, for the error response).
 */
int ipmi_oem_decode(uint32_t iana, enum ipmi_transport transport, uint8_t netfn, uint8_t cmd,
                    const uint8_t *data, size_t len, struct ipmi_oem_request *out);

/* One port as the responses carry it. */
struct ipmi_oem_port {
    uint32_t id;           /* SerialInterface Id */
    uint8_t backend;       /* IPMI_OEM_BACKEND_PTY.. */
    uint8_t state;         /* IPMI_OEM_STATE_* */
    uint8_t usb_interface; /* or IPMI_OEM_NO_USB_INTERFACE */
    const char *path;      /* bind path; NULL or "" when none */
};

/* cc [IANA]: the error response (IANA when rq->iana_len is 3). At most `max` bytes. */
size_t ipmi_oem_encode_error(const struct ipmi_oem_request *rq, uint8_t cc, uint8_t *resp,
                             size_t max);

/*
 * 00 IANA created total listed {Id(4) usb(1)}*listed — lists as many of `ports` as fit in
 * `max`. Returns the length, or 0 when not even the header and one entry fit.
 */
size_t ipmi_oem_encode_allocate(const uint8_t iana[3], bool created, size_t total,
                                const struct ipmi_oem_port *ports, size_t n, uint8_t *resp,
                                size_t max);

/* 00 IANA freed_now count. Returns 6, or 0 when `max` is smaller. */
size_t ipmi_oem_encode_free(const uint8_t iana[3], bool freed_now, size_t count, uint8_t *resp,
                            size_t max);

/*
 * 00 IANA total first listed {Id(4) backend state [len path]}*listed — `ports` are the
 * VM's ports from position `first` on. With `paths` each entry ends with a length-prefixed
 * bind path; a path that could not fit even alone in `max` is sent with length 0 (read it
 * through Redfish). Lists as many entries as fit (at least one when n > 0). Returns the
 * length, or 0 when not even the header and one entry fit.
 */
size_t ipmi_oem_encode_get(const uint8_t iana[3], size_t total, size_t first,
                           const struct ipmi_oem_port *ports, size_t n, bool paths, uint8_t *resp,
                           size_t max);

/* 16 bytes in RFC 4122 order -> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lowercase). */
void ipmi_oem_uuid_text(const uint8_t uuid[16], char out[37]);
/* The reverse (either case); 0 or -1. */
int ipmi_oem_uuid_parse(const char *text, uint8_t out[16]);

/*
 * Runs one request against the registry: decode, then ports_allocate() / ports_free_vm()
 * / ports_free_port() / ports_find_vm(), then encode. Writes the response (resp[0] the
 * completion code) and returns its length: at least 1 when resp_max > 0, never more than
 * resp_max or the transport's response limit. `iana` is the service's enterprise number
 * (24 bits). NetFn is the 6-bit value (2Eh), not shifted with the LUN.
 */
size_t ipmi_oem_handle(struct ports *ps, uint32_t iana, enum ipmi_transport transport,
                       uint8_t netfn, uint8_t cmd, const uint8_t *data, size_t len, uint8_t *resp,
                       size_t resp_max);

#endif
