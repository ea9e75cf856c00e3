/*
 * /redfish/v1/EventService. Event delivery (SSE, subscriptions) is not built yet, so the
 * service says so: ServiceEnabled false, and no Subscriptions collection is advertised.
 */
#include "app.h"
#include "resources.h"

static void get_event_service(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s}}", "@odata.id",
                       "/redfish/v1/EventService", "@odata.type",
                       "#EventService.v1_12_0.EventService", "Id", "EventService", "Name",
                       "Event Service", "ServiceEnabled", 0, "Status", "State", "Disabled",
                       "Health", "OK"));
}

static const struct route routes[] = {
    {"/redfish/v1/EventService", HTTP_GET, get_event_service, PRIV_LOGIN, 0, "EventService"},
};
ROUTE_TABLE(event_routes, routes);
