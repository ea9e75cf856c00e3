#include "ipmi_serve.h"

#include "app.h"
#include "audit.h"

size_t ipmi_serve(struct vsc_app *app, const struct ipmi_origin *from,
                  enum ipmi_transport transport, uint8_t netfn, uint8_t cmd, const uint8_t *data,
                  size_t len, uint8_t *resp, size_t resp_max)
{
    size_t n = ipmi_oem_handle(&app->ports, (uint32_t)app->cfg.ipmi_iana, transport, netfn, cmd,
                               data, len, resp, resp_max);
    uint8_t cc = n ? resp[0] : IPMI_CC_UNSPECIFIED;
    /* Only the commands that change something are audited (get is a read). */
    if (netfn == IPMI_NETFN_OEM_GROUP && (cmd == IPMI_OEM_CMD_ALLOCATE || cmd == IPMI_OEM_CMD_FREE))
        audit(app, cmd == IPMI_OEM_CMD_ALLOCATE ? AUDIT_ALLOCATE : AUDIT_FREE, from->user,
              from->client, from->target,
              "IPMI OEM command %02X (%zu data bytes, %s) via %s: completion code %02X", cmd, len,
              ipmi_transport_name(transport), from->via ? from->via : "?", cc);
    return n;
}
