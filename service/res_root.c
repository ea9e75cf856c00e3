/*
 * The unauthenticated entry points (DSP0266 §6, §13.3.1): /redfish, the service root,
 * the OData service document, $metadata and the project's OEM CSDL.
 */
#include "app.h"
#include "embed.h"
#include "resources.h"
#include "router.h"

#include <stdlib.h>
#include <string.h>

#define REDFISH_PROTOCOL_VERSION "1.22.0"

static void get_redfish(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    rf_reply(r, 200, json_pack("{s:s}", "v1", "/redfish/v1/"));
}

static void get_service_root(struct rf_request *req, struct rf_response *r)
{
    json_t *root =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "@odata.id", "/redfish/v1",
                  "@odata.type", "#ServiceRoot.v1_20_0.ServiceRoot", "Id", "RootService", "Name",
                  "vsc Root Service", "RedfishVersion", REDFISH_PROTOCOL_VERSION, "UUID",
                  req->app->uuid, "Product", "vsc virtual serial concentrator", "Vendor", "vsc");
    json_object_set_new(root, "ProtocolFeaturesSupported",
                        json_pack("{s:b, s:b, s:b, s:b, s:b, s:{s:b, s:b, s:b, s:b}}",
                                  "TopSkipQuery", 1, "SelectQuery", 0, "FilterQuery", 0,
                                  "ExcerptQuery", 0, "OnlyMemberQuery", 0, "ExpandQuery",
                                  "ExpandAll", 0, "Levels", 0, "Links", 0, "NoLinks", 0));
    json_object_set_new(root, "Systems", rf_link("/redfish/v1/Systems"));
    json_object_set_new(root, "Managers", rf_link("/redfish/v1/Managers"));
    json_object_set_new(root, "SessionService", rf_link("/redfish/v1/SessionService"));
    json_object_set_new(root, "AccountService", rf_link("/redfish/v1/AccountService"));
    json_object_set_new(root, "EventService", rf_link("/redfish/v1/EventService"));
    json_object_set_new(root, "Registries", rf_link("/redfish/v1/Registries"));
    json_object_set_new(root, "JsonSchemas", rf_link("/redfish/v1/JsonSchemas"));
    json_object_set_new(
        root, "Links",
        json_pack("{s:o}", "Sessions", rf_link("/redfish/v1/SessionService/Sessions")));
    rf_reply(r, 200, root);
}

/* Top-level resources, for the OData service document. */
static const struct {
    const char *name, *url;
} singletons[] = {
    {"Service", "/redfish/v1/"},
    {"Systems", "/redfish/v1/Systems"},
    {"Managers", "/redfish/v1/Managers"},
    {"SessionService", "/redfish/v1/SessionService"},
    {"Sessions", "/redfish/v1/SessionService/Sessions"},
    {"AccountService", "/redfish/v1/AccountService"},
    {"EventService", "/redfish/v1/EventService"},
    {"Registries", "/redfish/v1/Registries"},
    {"JsonSchemas", "/redfish/v1/JsonSchemas"},
};

static void get_odata(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *value = json_array();
    for (size_t i = 0; i < sizeof(singletons) / sizeof(singletons[0]); i++)
        json_array_append_new(value, json_pack("{s:s, s:s, s:s}", "name", singletons[i].name,
                                               "kind", "Singleton", "url", singletons[i].url));
    rf_reply(r, 200,
             json_pack("{s:s, s:o}", "@odata.context", "/redfish/v1/$metadata", "value", value));
}

/* Every schema namespace a response of ours names in @odata.type (a test checks). */
static const struct {
    const char *file, *ns, *version;
} metadata_refs[] = {
    {"ServiceRoot", "ServiceRoot", "ServiceRoot.v1_20_0"},
    {"ComputerSystemCollection", "ComputerSystemCollection", NULL},
    {"ManagerCollection", "ManagerCollection", NULL},
    {"Manager", "Manager", "Manager.v1_24_0"},
    {"SerialInterfaceCollection", "SerialInterfaceCollection", NULL},
    {"SessionService", "SessionService", "SessionService.v1_2_0"},
    {"SessionCollection", "SessionCollection", NULL},
    {"Session", "Session", "Session.v1_8_0"},
    {"AccountService", "AccountService", "AccountService.v1_18_1"},
    {"ManagerAccountCollection", "ManagerAccountCollection", NULL},
    {"ManagerAccount", "ManagerAccount", "ManagerAccount.v1_14_1"},
    {"RoleCollection", "RoleCollection", NULL},
    {"Role", "Role", "Role.v1_3_3"},
    {"EventService", "EventService", "EventService.v1_12_0"},
    {"EventDestinationCollection", "EventDestinationCollection", NULL},
    {"EventDestination", "EventDestination", "EventDestination.v1_16_0"},
    {"Event", "Event", "Event.v1_13_0"},
    {"MessageRegistry", "MessageRegistry", "MessageRegistry.v1_6_3"},
    {"MessageRegistryFileCollection", "MessageRegistryFileCollection", NULL},
    {"MessageRegistryFile", "MessageRegistryFile", "MessageRegistryFile.v1_1_5"},
    {"JsonSchemaFileCollection", "JsonSchemaFileCollection", NULL},
    {"JsonSchemaFile", "JsonSchemaFile", "JsonSchemaFile.v1_1_5"},
    {"Message", "Message", "Message.v1_3_0"},
    {"ComputerSystem", "ComputerSystem", "ComputerSystem.v1_27_0"},
    {"SerialInterface", "SerialInterface", "SerialInterface.v1_3_0"},
    {"ActionInfo", "ActionInfo", "ActionInfo.v1_5_0"},
    {"LogServiceCollection", "LogServiceCollection", NULL},
    {"LogService", "LogService", "LogService.v1_9_0"},
    {"LogEntryCollection", "LogEntryCollection", NULL},
    {"LogEntry", "LogEntry", "LogEntry.v1_18_0"},
    {"RedfishExtensions", "RedfishExtensions.v1_0_0", NULL},
};

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t ncap = (*cap + n + 1) * 2;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static void get_metadata(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    char *xml = NULL, line[512];
    size_t len = 0, cap = 0;
    append(&xml, &len, &cap,
           "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n");
    for (size_t i = 0; i < sizeof(metadata_refs) / sizeof(metadata_refs[0]); i++) {
        snprintf(line, sizeof(line),
                 "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/%s_v1.xml\">\n"
                 "    <edmx:Include Namespace=\"%s\"/>\n",
                 metadata_refs[i].file, metadata_refs[i].ns);
        append(&xml, &len, &cap, line);
        if (metadata_refs[i].version) {
            snprintf(line, sizeof(line), "    <edmx:Include Namespace=\"%s\"/>\n",
                     metadata_refs[i].version);
            append(&xml, &len, &cap, line);
        }
        append(&xml, &len, &cap, "  </edmx:Reference>\n");
    }
    append(&xml, &len, &cap,
           "  <edmx:Reference Uri=\"/redfish/v1/schemas/Vsc_v1.xml\">\n"
           "    <edmx:Include Namespace=\"Vsc\"/>\n"
           "    <edmx:Include Namespace=\"Vsc.v1_0_0\"/>\n"
           "  </edmx:Reference>\n"
           "  <edmx:DataServices>\n"
           "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"Service\">\n"
           "      <EntityContainer Name=\"Service\" "
           "Extends=\"ServiceRoot.v1_20_0.ServiceContainer\"/>\n"
           "    </Schema>\n"
           "  </edmx:DataServices>\n"
           "</edmx:Edmx>\n");
    if (!xml) {
        rf_error(r, 500, NULL);
        return;
    }
    r->status = 200;
    r->raw = xml;
    r->raw_len = len;
    r->content_type = "application/xml";
}

void rf_reply_embedded(struct rf_response *r, const char *data, size_t len,
                       const char *content_type)
{
    r->raw = malloc(len ? len : 1);
    if (!r->raw) {
        rf_error(r, 500, NULL);
        return;
    }
    memcpy(r->raw, data, len);
    r->raw_len = len;
    r->content_type = content_type;
    r->status = 200;
}

static void get_oem_csdl(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    rf_reply_embedded(r, embed_oem_csdl, EMBED_LEN(embed_oem_csdl), "application/xml");
}

static const struct route routes[] = {
    {"/redfish", HTTP_GET, get_redfish, 0, ROUTE_NO_AUTH, NULL},
    {"/redfish/v1", HTTP_GET, get_service_root, 0, ROUTE_NO_AUTH, "ServiceRoot"},
    {"/redfish/v1/odata", HTTP_GET, get_odata, 0, ROUTE_NO_AUTH, NULL},
    {"/redfish/v1/$metadata", HTTP_GET, get_metadata, 0, ROUTE_NO_AUTH, NULL},
    {"/redfish/v1/schemas/Vsc_v1.xml", HTTP_GET, get_oem_csdl, 0, ROUTE_NO_AUTH, NULL},
};
ROUTE_TABLE(root_routes, routes);
