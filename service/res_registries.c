/*
 * /redfish/v1/Registries: the message registries our messages come from. The registry
 * files themselves are DMTF's published documents (PublicationUri); vscd does not copy them.
 */
#include "app.h"
#include "base_registry.h"
#include "resources.h"

#include <string.h>

#define REGISTRIES_URI "/redfish/v1/Registries"

static void get_registries(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *c = rf_collection(REGISTRIES_URI,
                              "#MessageRegistryFileCollection.MessageRegistryFileCollection",
                              "Registry File Collection");
    rf_collection_add(c, REGISTRIES_URI "/Base");
    rf_reply(r, 200, c);
}

static void get_registry(struct rf_request *req, struct rf_response *r)
{
    if (strcmp(req->params[0], "Base") != 0) {
        rf_not_found(r, "MessageRegistryFile", req->params[0]);
        return;
    }
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:[{s:s, s:s}]}", "@odata.id",
                       REGISTRIES_URI "/Base", "@odata.type",
                       "#MessageRegistryFile.v1_1_5.MessageRegistryFile", "Id", "Base", "Name",
                       "Base Message Registry File", "Description",
                       "The DMTF Base message registry that vsc's error messages come from",
                       "Languages", "en", "Registry", BASE_REGISTRY_PREFIX, "Location", "Language",
                       "en", "PublicationUri",
                       "http://redfish.dmtf.org/registries/Base." BASE_REGISTRY_VERSION ".json"));
}

static const struct route routes[] = {
    {REGISTRIES_URI, HTTP_GET, get_registries, PRIV_LOGIN, 0, "MessageRegistryFileCollection"},
    {REGISTRIES_URI "/{id}", HTTP_GET, get_registry, PRIV_LOGIN, 0, "MessageRegistryFile"},
};
ROUTE_TABLE(registry_routes, routes);
