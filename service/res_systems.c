/* /redfish/v1/Systems: one ComputerSystem (SystemType Virtual) per VM with ports. */
#include "app.h"
#include "resources.h"

static void get_systems(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    /* VMs appear here once the port lifecycle registers them (docs/ROADMAP). */
    rf_reply(r, 200,
             rf_collection("/redfish/v1/Systems",
                           "#ComputerSystemCollection.ComputerSystemCollection",
                           "Computer System Collection"));
}

static const struct route routes[] = {
    {"/redfish/v1/Systems", HTTP_GET, get_systems, PRIV_LOGIN, 0, "ComputerSystemCollection"},
};
ROUTE_TABLE(systems_routes, routes);
