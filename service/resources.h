/*
 * resources — the route table each resource file exports, and small helpers they share.
 * routes.c puts the tables together; one file per Redfish resource (or per resource and
 * its collection).
 */
#ifndef VSC_RESOURCES_H
#define VSC_RESOURCES_H

#include "router.h"

extern const struct route_table root_routes;
extern const struct route_table systems_routes;
extern const struct route_table managers_routes;
extern const struct route_table session_routes;
extern const struct route_table account_routes;
extern const struct route_table role_routes;
extern const struct route_table event_routes;
extern const struct route_table registry_routes;
extern const struct route_table schema_routes;

/* Replies 200 with a copy of a compiled-in file. */
void rf_reply_embedded(struct rf_response *r, const char *data, size_t len,
                       const char *content_type);

/*
 * For a failed pw_verify()/pw_hash()/auth call: -EINPROGRESS records nothing (the request
 * runs again when the worker is done), -EAGAIN answers 503, anything else 500.
 */
void rf_worker_error(struct rf_response *r, int rc);

/* Replies 404 ResourceNotFound for `type` named `id`. */
void rf_not_found(struct rf_response *r, const char *type, const char *id);

#endif
