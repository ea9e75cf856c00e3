/*
 * ipmi_serve — one IPMI OEM request (docs/ipmi-oem.md) from any front end: the Redfish
 * action Vsc.IpmiRequest (res_ipmi.c) and the local IPMI socket (ipmi_socket.c) both end
 * here, so they answer the same bytes, publish the same events (ports.c does, on every
 * change) and leave the same audit record, which names where the request came from.
 */
#ifndef VSC_IPMI_SERVE_H
#define VSC_IPMI_SERVE_H

#include "ipmi_oem.h"

#include <stddef.h>
#include <stdint.h>

struct vsc_app;

/* Who sent the request, for the audit trail; any field may be NULL. */
struct ipmi_origin {
    const char *user;   /* the Redfish account; NULL for the socket (root on the host) */
    const char *client; /* the client address, or "ipmi_socket" */
    const char *target; /* what took the request: the action's URI, or the Manager's */
    const char *via;    /* "Redfish" or the socket's path */
};

/*
 * Runs the request with the service's IANA (ipmi_oem_handle) and audits allocate and
 * free. Writes cc [data...] to resp; returns its length (at least 1 when resp_max > 0).
 */
size_t ipmi_serve(struct vsc_app *app, const struct ipmi_origin *from,
                  enum ipmi_transport transport, uint8_t netfn, uint8_t cmd, const uint8_t *data,
                  size_t len, uint8_t *resp, size_t resp_max);

#endif
