#include "router.h"

#include <string.h>

static const struct {
    enum http_method method;
    const char *name;
} method_names[] = {
    {HTTP_GET, "GET"},     {HTTP_HEAD, "HEAD"}, {HTTP_POST, "POST"},
    {HTTP_PATCH, "PATCH"}, {HTTP_PUT, "PUT"},   {HTTP_DELETE, "DELETE"},
};
#define METHOD_COUNT (sizeof(method_names) / sizeof(method_names[0]))

const char *router_method_name(enum http_method method)
{
    for (size_t i = 0; i < METHOD_COUNT; i++) {
        if (method_names[i].method == method)
            return method_names[i].name;
    }
    return "?";
}

int router_method_parse(const char *name, enum http_method *out)
{
    for (size_t i = 0; i < METHOD_COUNT; i++) {
        if (strcmp(method_names[i].name, name) == 0) {
            *out = method_names[i].method;
            return 0;
        }
    }
    return -1;
}

void router_normalize(const char *path, char *out, size_t outsz)
{
    size_t n = strlen(path);
    if (n > 1 && path[n - 1] == '/')
        n--;
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

/* Length of the segment starting at p (up to '/' or the end). */
static size_t segment_len(const char *p)
{
    const char *slash = strchr(p, '/');
    return slash ? (size_t)(slash - p) : strlen(p);
}

/* Matches path against pattern segment by segment, capturing `{x}` segments. */
static bool pattern_match(const char *pattern, const char *path, struct router_match *m)
{
    int nparams = 0;
    const char *pp = pattern, *sp = path;
    while (*pp == '/' && *sp == '/') {
        pp++;
        sp++;
        size_t plen = segment_len(pp), slen = segment_len(sp);
        if (plen >= 2 && pp[0] == '{' && pp[plen - 1] == '}') {
            if (slen == 0 || slen >= RF_PARAM_MAX || nparams >= RF_MAX_PARAMS)
                return false;
            memcpy(m->params[nparams], sp, slen);
            m->params[nparams][slen] = '\0';
            nparams++;
        } else if (plen != slen || memcmp(pp, sp, plen) != 0) {
            return false;
        }
        pp += plen;
        sp += slen;
    }
    if (*pp != '\0' || *sp != '\0')
        return false;
    m->nparams = nparams;
    return true;
}

enum router_result router_find(const char *path, enum http_method method, struct router_match *m)
{
    memset(m, 0, sizeof(*m));
    enum http_method want = method == HTTP_HEAD ? HTTP_GET : method;
    struct router_match scratch;
    for (size_t t = 0; t < router_table_count; t++) {
        const struct route_table *table = router_tables[t];
        for (size_t i = 0; i < table->count; i++) {
            const struct route *r = &table->routes[i];
            if (!pattern_match(r->pattern, path, &scratch))
                continue;
            m->allowed |= r->method | (r->method == HTTP_GET ? HTTP_HEAD : 0);
            if (r->method == want && !m->route) {
                memcpy(m->params, scratch.params, sizeof(m->params));
                m->nparams = scratch.nparams;
                m->route = r;
            }
        }
    }
    if (m->route)
        return ROUTER_FOUND;
    return m->allowed ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

void router_allow_header(uint32_t methods, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < METHOD_COUNT; i++) {
        if (!(methods & method_names[i].method))
            continue;
        const char *sep = used ? ", " : "";
        size_t need = strlen(sep) + strlen(method_names[i].name);
        if (used + need + 1 > outsz)
            break;
        strcat(out + used, sep);
        strcat(out + used, method_names[i].name);
        used += need;
    }
}

static const char *const privilege_names[] = {"Login", "ConfigureManager", "ConfigureUsers",
                                              "ConfigureSelf", "ConfigureComponents"};

json_t *router_dump(void)
{
    json_t *out = json_array();
    for (size_t t = 0; t < router_table_count; t++) {
        for (size_t i = 0; i < router_tables[t]->count; i++) {
            const struct route *r = &router_tables[t]->routes[i];
            json_t *privs = json_array();
            for (unsigned b = 0; b < 5; b++) {
                if (r->privileges & (1u << b))
                    json_array_append_new(privs, json_string(privilege_names[b]));
            }
            json_array_append_new(
                out, json_pack("{s:s, s:s, s:o, s:b, s:s?}", "path", r->pattern, "method",
                               router_method_name(r->method), "privileges", privs, "no_auth",
                               (r->flags & ROUTE_NO_AUTH) != 0, "entity", r->entity));
        }
    }
    return out;
}
