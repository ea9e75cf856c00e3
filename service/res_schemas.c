/* /redfish/v1/JsonSchemas: the project's own OEM JSON schemas, served from the binary. */
#include "app.h"
#include "embed.h"
#include "resources.h"

#include <string.h>

#define SCHEMAS_URI "/redfish/v1/JsonSchemas"

static const struct {
    const char *id;
    const char *file;
    const char *data, *end;
} schema_files[] = {
    {"Vsc", "Vsc.json", embed_oem_json, embed_oem_json_end},
    {"Vsc", "Vsc.v1_0_0.json", embed_oem_json_v1_0_0, embed_oem_json_v1_0_0_end},
};
#define SCHEMA_FILE_COUNT (sizeof(schema_files) / sizeof(schema_files[0]))

static void get_schemas(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *c = rf_collection(SCHEMAS_URI, "#JsonSchemaFileCollection.JsonSchemaFileCollection",
                              "JSON Schema File Collection");
    rf_collection_add(c, SCHEMAS_URI "/Vsc");
    rf_reply(r, 200, c);
}

static void get_schema(struct rf_request *req, struct rf_response *r)
{
    if (strcmp(req->params[0], "Vsc") != 0) {
        rf_not_found(r, "JsonSchemaFile", req->params[0]);
        return;
    }
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[{s:s, s:s}]}", "@odata.id",
                       SCHEMAS_URI "/Vsc", "@odata.type", "#JsonSchemaFile.v1_1_5.JsonSchemaFile",
                       "Id", "Vsc", "Name", "Vsc Schema File", "Description",
                       "vsc's OEM schema: Oem.Vsc objects and the port actions", "Schema",
                       "#Vsc.v1_0_0.Manager", "Languages", "en", "Location", "Language", "en",
                       "Uri", SCHEMAS_URI "/Vsc/Vsc.v1_0_0.json"));
}

static void get_schema_file(struct rf_request *req, struct rf_response *r)
{
    for (size_t i = 0; i < SCHEMA_FILE_COUNT; i++) {
        if (strcmp(req->params[0], schema_files[i].id) == 0 &&
            strcmp(req->params[1], schema_files[i].file) == 0) {
            rf_reply_embedded(r, schema_files[i].data,
                              (size_t)(schema_files[i].end - schema_files[i].data),
                              "application/schema+json");
            return;
        }
    }
    rf_not_found(r, "JsonSchemaFile", req->params[1]);
}

static const struct route routes[] = {
    {SCHEMAS_URI, HTTP_GET, get_schemas, PRIV_LOGIN, 0, "JsonSchemaFileCollection"},
    {SCHEMAS_URI "/{id}", HTTP_GET, get_schema, PRIV_LOGIN, 0, "JsonSchemaFile"},
    {SCHEMAS_URI "/{id}/{file}", HTTP_GET, get_schema_file, PRIV_LOGIN, 0, "JsonSchemaFile"},
};
ROUTE_TABLE(schema_routes, routes);
