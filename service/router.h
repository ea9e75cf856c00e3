/*
 * router — exact matching of request paths against the route tables that each resource
 * file exports (routes.c lists them).
 *
 * A pattern is a path of literal segments and `{name}` segments; `{name}` matches exactly
 * one non-empty segment. No prefix matching: an unknown path is 404, a known path with an
 * unsupported method is 405 with `Allow`. A GET route also serves HEAD.
 */
#ifndef VSC_ROUTER_H
#define VSC_ROUTER_H

#include "rf.h"

typedef void (*rf_handler)(struct rf_request *req, struct rf_response *resp);

enum route_flags {
    ROUTE_NO_AUTH = 1 << 0,      /* served without credentials (DSP0266 §13.3.1) */
    ROUTE_QUERY_FILTER = 1 << 1, /* the handler reads $filter (rf_request.filter) itself */
};

struct route {
    const char *pattern;
    enum http_method method;
    rf_handler handler;
    uint32_t privileges; /* any one suffices (the registry's alternatives) */
    unsigned flags;
    const char *entity; /* the privilege registry's entity name, checked by a test */
};

struct route_table {
    const struct route *routes;
    size_t count;
};

#define ROUTE_TABLE(name, array)                                                                   \
    const struct route_table name = {array, sizeof(array) / sizeof(array[0])}

enum router_result { ROUTER_FOUND, ROUTER_BAD_METHOD, ROUTER_NOT_FOUND };

struct router_match {
    const struct route *route; /* ROUTER_FOUND */
    uint32_t allowed;          /* methods the path supports (HEAD with GET) */
    char params[RF_MAX_PARAMS][RF_PARAM_MAX];
    int nparams;
};

/* All tables, from routes.c. */
extern const struct route_table *const router_tables[];
extern const size_t router_table_count;

/* Strips one trailing '/' (but keeps "/"); writes into `out` (size >= strlen(path)+1). */
void router_normalize(const char *path, char *out, size_t outsz);

enum router_result router_find(const char *path, enum http_method method, struct router_match *m);

/* Allow header value for a method mask ("GET, HEAD, PATCH"). */
void router_allow_header(uint32_t methods, char *out, size_t outsz);

const char *router_method_name(enum http_method method);
int router_method_parse(const char *name, enum http_method *out);

/* Every route as JSON, for `vscd --dump-routes` (the openapi and privilege tests). */
json_t *router_dump(void);

#endif
