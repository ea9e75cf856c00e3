/*
 * /redfish/v1/Registries: the message registries our messages come from. DMTF's (Base for
 * errors, ResourceEvent for events) are their published documents (PublicationUri); vscd
 * does not copy them. vsc's own event registry (VscEvents) is compiled in and served here.
 */
#include "app.h"
#include "base_registry.h"
#include "embed.h"
#include "events.h"
#include "resources.h"

#include <string.h>

#define REGISTRIES_URI "/redfish/v1/Registries"
#define VSC_FILE       EVENTS_REGISTRY_PREFIX "." EVENTS_REGISTRY_VERSION ".json"

static const struct {
    const char *id, *version, *description;
    bool ours; /* served here; else at DMTF's PublicationUri */
} registries[] = {
    {"Base", BASE_REGISTRY_VERSION,
     "The DMTF Base message registry that vsc's error messages come from", false},
    {EVENTS_RESOURCE_PREFIX, EVENTS_RESOURCE_VERSION,
     "The DMTF ResourceEvent message registry: resources created, removed and changed", false},
    {EVENTS_REGISTRY_PREFIX, EVENTS_REGISTRY_VERSION,
     "vsc's own event messages: console states and panics, lost events", true},
};
#define REGISTRY_COUNT (sizeof(registries) / sizeof(registries[0]))

static void get_registries(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *c = rf_collection(REGISTRIES_URI,
                              "#MessageRegistryFileCollection.MessageRegistryFileCollection",
                              "Registry File Collection");
    for (size_t i = 0; i < REGISTRY_COUNT; i++) {
        char uri[128];
        snprintf(uri, sizeof(uri), REGISTRIES_URI "/%s", registries[i].id);
        rf_collection_add(c, uri);
    }
    rf_reply(r, 200, c);
}

static void get_registry(struct rf_request *req, struct rf_response *r)
{
    size_t i = 0;
    while (i < REGISTRY_COUNT && strcmp(req->params[0], registries[i].id) != 0)
        i++;
    if (i == REGISTRY_COUNT) {
        rf_not_found(r, "MessageRegistryFile", req->params[0]);
        return;
    }
    char uri[128], name[128], registry[64], location[256];
    snprintf(uri, sizeof(uri), REGISTRIES_URI "/%s", registries[i].id);
    snprintf(name, sizeof(name), "%s Message Registry File", registries[i].id);
    /* Registry is "Prefix.Major.Minor" (MessageRegistryFile), the file name the full version. */
    snprintf(registry, sizeof(registry), "%s.%.*s", registries[i].id,
             (int)(strrchr(registries[i].version, '.') - registries[i].version),
             registries[i].version);
    json_t *loc;
    if (registries[i].ours) {
        snprintf(location, sizeof(location), "%s/%s.%s.json", uri, registries[i].id,
                 registries[i].version);
        loc = json_pack("{s:s, s:s}", "Language", "en", "Uri", location);
    } else {
        snprintf(location, sizeof(location), "http://redfish.dmtf.org/registries/%s.%s.json",
                 registries[i].id, registries[i].version);
        loc = json_pack("{s:s, s:s}", "Language", "en", "PublicationUri", location);
    }
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:[o]}", "@odata.id", uri,
                       "@odata.type", "#MessageRegistryFile.v1_1_5.MessageRegistryFile", "Id",
                       registries[i].id, "Name", name, "Description", registries[i].description,
                       "Languages", "en", "Registry", registry, "Location", loc));
}

/* The VscEvents registry document itself (Location.Uri). */
static void get_registry_document(struct rf_request *req, struct rf_response *r)
{
    if (strcmp(req->params[0], EVENTS_REGISTRY_PREFIX) != 0 ||
        strcmp(req->params[1], VSC_FILE) != 0) {
        rf_not_found(r, "MessageRegistry", req->params[1]);
        return;
    }
    rf_reply_embedded(r, embed_event_registry, EMBED_LEN(embed_event_registry),
                      "application/json; charset=utf-8");
}

static const struct route routes[] = {
    {REGISTRIES_URI, HTTP_GET, get_registries, PRIV_LOGIN, 0, "MessageRegistryFileCollection"},
    {REGISTRIES_URI "/{id}", HTTP_GET, get_registry, PRIV_LOGIN, 0, "MessageRegistryFile"},
    {REGISTRIES_URI "/{id}/{file}", HTTP_GET, get_registry_document, PRIV_LOGIN, 0,
     "MessageRegistryFile"},
};
ROUTE_TABLE(registry_routes, routes);
