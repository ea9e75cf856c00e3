#include "dispatch.h"

#include "app.h"
#include "audit.h"
#include "resources.h"
#include "auth.h"
#include "base_registry.h"
#include "log.h"
#include "router.h"
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parses a non-negative decimal query value. */
static int parse_count(const char *s, long long *out)
{
    if (!s || !*s || strlen(s) > 9)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
    }
    *out = strtoll(s, NULL, 10);
    return 0;
}

/*
 * DSP0266 §7.3: $top/$skip are supported; other $-parameters and the Redfish parameters
 * we do not implement answer 501; unknown non-$ parameters are ignored.
 */
static int parse_query(const struct dispatch_input *in, struct rf_request *req,
                       const struct route *route, struct rf_response *r)
{
    struct rf_paging *q = &req->paging;
    enum http_method method = req->method;
    static const char *const unsupported[] = {
        "$expand", "$select", "$filter", "$levels", "$orderby",
        "$count",  "$search", "only",    "excerpt", "includeoriginofcondition"};
    memset(q, 0, sizeof(*q));
    if (in->query_overflow) {
        rf_error(r, 400, msg_query_combination_invalid());
        return -1;
    }
    for (int i = 0; i < in->nquery; i++) {
        const char *k = in->query[i].key, *v = in->query[i].value;
        bool is_top = strcmp(k, "$top") == 0, is_skip = strcmp(k, "$skip") == 0;
        if (is_top || is_skip) {
            if (method != HTTP_GET && method != HTTP_HEAD) {
                rf_error(r, 400, msg_query_not_supported_on_operation());
                return -1;
            }
            long long n;
            if (parse_count(v, &n) < 0) {
                rf_error(r, 400, msg_query_parameter_value_type_error(v ? v : "", k));
                return -1;
            }
            if ((is_top && q->has_top) || (is_skip && q->has_skip)) {
                rf_error(r, 400, msg_query_combination_invalid());
                return -1;
            }
            *(is_top ? &q->top : &q->skip) = (size_t)n;
            *(is_top ? &q->has_top : &q->has_skip) = true;
            continue;
        }
        if ((route->flags & ROUTE_QUERY_FILTER) && strcmp(k, "$filter") == 0) {
            if (req->filter) {
                rf_error(r, 400, msg_query_combination_invalid());
                return -1;
            }
            req->filter = v ? v : "";
            continue;
        }
        bool known_unsupported = false;
        for (size_t u = 0; u < sizeof(unsupported) / sizeof(unsupported[0]); u++)
            known_unsupported |= strcasecmp(k, unsupported[u]) == 0;
        if (known_unsupported || k[0] == '$') {
            rf_error(r, 501, msg_query_parameter_unsupported(k));
            return -1;
        }
    }
    return 0;
}

static bool is_json_media_type(const char *ct)
{
    if (!ct)
        return true; /* tools like redfishtool omit it on small bodies */
    size_t n = strcspn(ct, "; \t");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static int parse_body(const struct dispatch_input *in, enum http_method method, json_t **body,
                      struct rf_response *r)
{
    *body = NULL;
    if (method != HTTP_POST && method != HTTP_PATCH && method != HTTP_PUT)
        return 0;
    if (in->body_len == 0) {
        if (method == HTTP_POST) {
            *body = json_object(); /* an action with no parameters */
            return 0;
        }
        rf_error(r, 400, msg_malformed_json());
        return -1;
    }
    if (!is_json_media_type(in->content_type)) {
        rf_error(r, 415, msg_header_invalid("Content-Type"));
        return -1;
    }
    json_error_t jerr;
    json_t *j = json_loadb(in->body, in->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        rf_error(r, 400, msg_malformed_json());
        return -1;
    }
    *body = j;
    return 0;
}

/*
 * Strong ETag over the canonical (sorted, compact) body, without @odata.etag and without
 * DateTime (a clock, not state: it would change the Manager's ETag every second).
 */
static void compute_etag(json_t *body, char out[24])
{
    json_object_del(body, "@odata.etag");
    json_t *clock = json_incref(json_object_get(body, "DateTime"));
    json_object_del(body, "DateTime");
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (clock)
        json_object_set_new(body, "DateTime", clock);
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
    for (const char *p = text ? text : ""; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 1099511628211ull;
    }
    free(text);
    snprintf(out, 24, "\"%016" PRIx64 "\"", h);
}

static void run_handler(const struct route *route, struct rf_request *req, struct rf_response *r)
{
    route->handler(req, r);
    if (r->status == 0 && (r->body || r->raw || r->stream))
        r->status = 200;
}

/* Renders the resource at req->path as GET would; for ETags and PATCH replies. */
static int render_get(struct rf_request *req, struct rf_response *r)
{
    struct router_match m;
    if (router_find(req->path, HTTP_GET, &m) != ROUTER_FOUND)
        return -1;
    struct rf_request get = *req;
    get.method = HTTP_GET;
    get.body = NULL;
    memcpy(get.params, m.params, sizeof(get.params));
    get.nparams = m.nparams;
    run_handler(m.route, &get, r);
    return r->status == 200 && r->body ? 0 : -1;
}

/* RFC 9110 §13.1: If-Match compares strongly, If-None-Match weakly (a W/ prefix matches). */
static bool etag_listed(const char *header, const char *etag, bool weak)
{
    if (strcmp(header, "*") == 0)
        return true;
    size_t n = strlen(etag);
    for (const char *p = strstr(header, etag); p; p = strstr(p + n, etag)) {
        const char *start = p;
        if (weak && p - header >= 2 && p[-2] == 'W' && p[-1] == '/')
            start = p - 2;
        bool start_ok = start == header || start[-1] == ' ' || start[-1] == ',';
        bool end_ok = p[n] == '\0' || p[n] == ',' || p[n] == ' ';
        if (start_ok && end_ok)
            return true;
    }
    return false;
}

static int check_if_match(struct rf_request *req, const char *if_match, struct rf_response *r)
{
    if (!if_match)
        return 0;
    struct rf_response cur;
    rf_response_init(&cur);
    char etag[24] = "";
    int found = render_get(req, &cur);
    if (found == 0)
        compute_etag(cur.body, etag);
    /* No such resource: the handler answers 404, as without the header (RFC 9110
     * §13.2.1: such failures take precedence over preconditions). Any other failure to
     * read it (a 403 to a GET need not be the change's answer) fails the precondition. */
    bool missing = found < 0 && cur.status == 404;
    rf_response_fini(&cur);
    if (missing)
        return 0;
    if (found < 0 || !etag_listed(if_match, etag, false)) {
        rf_error(r, 412, msg_precondition_failed());
        return -1;
    }
    return 0;
}

static void apply_paging(const char *path, const struct rf_paging *q, struct rf_response *r)
{
    json_t *members = json_object_get(r->body, "Members");
    size_t total = json_array_size(members);
    size_t skip = q->skip; /* 0 when absent */
    size_t top = q->has_top ? q->top : total;
    json_t *page = json_array();
    for (size_t i = skip; i < total && i - skip < top; i++)
        json_array_append(page, json_array_get(members, i));
    json_object_set_new(r->body, "Members", page);
    rf_set_next_link(r->body, path, skip, top, total);
}

/* Adds the describedby Link for the body's @odata.type (DSP0266 §8.2). */
static void set_link_header(struct rf_response *r)
{
    const char *type = json_string_value(json_object_get(r->body, "@odata.type"));
    if (!type || type[0] != '#')
        return;
    char ns[128];
    const char *last_dot = strrchr(type, '.');
    size_t n = last_dot ? (size_t)(last_dot - type - 1) : 0;
    if (n == 0 || n >= sizeof(ns))
        return;
    memcpy(ns, type + 1, n);
    ns[n] = '\0';
    char link[256];
    if (strncmp(ns, "Vsc", 3) == 0)
        snprintf(link, sizeof(link), "</redfish/v1/JsonSchemas/%.*s/%s.json>; rel=describedby",
                 (int)strcspn(ns, "."), ns, ns);
    else
        snprintf(link, sizeof(link),
                 "<http://redfish.dmtf.org/schemas/v1/%s.json>; rel=describedby", ns);
    rf_set_header(r, "Link", link);
}

static void finish(struct vsc_app *app, const struct dispatch_input *in, enum http_method method,
                   uint32_t allowed, struct rf_response *r)
{
    if (r->status == 0)
        r->status = r->body || r->raw || r->stream ? 200 : 204;
    if (r->status >= 400 || json_array_size(r->messages)) {
        if (r->status < 400) {
            r->status = 500;
        }
        json_decref(r->body);
        r->body = rf_error_body(r->messages);
        free(r->raw);
        r->raw = NULL;
        if (r->stream)
            r->stream->closed(r->stream);
        r->stream = NULL;
    }
    rf_set_header(r, "OData-Version", "4.0");
    if (!json_object_get(r->headers, "Cache-Control") || r->status >= 300)
        rf_set_header(r, "Cache-Control", "no-store"); /* the dashboard's files set their own */
    rf_set_header(r, "X-Content-Type-Options", "nosniff");
    rf_set_header(r, "X-Frame-Options", "DENY");
    if (in->tls)
        rf_set_header(r, "Strict-Transport-Security", "max-age=31536000");
    char allow[64];
    if (allowed && (r->status == 405 || ((method & (HTTP_GET | HTTP_HEAD)) && r->status < 300))) {
        router_allow_header(allowed, allow, sizeof(allow));
        rf_set_header(r, "Allow", allow);
    }
    if (r->status == 401 && in->tls)
        rf_set_header(r, "WWW-Authenticate", "Basic realm=\"vsc\", charset=\"UTF-8\"");
    if (r->body && r->status < 300)
        set_link_header(r);
    if (r->status >= 500)
        log_error("%s %s -> %d", in->method, in->path, r->status);
    else if (r->status == 401 || r->status == 403)
        log_warn("%s %s from %s -> %d", in->method, in->path, in->client_ip ? in->client_ip : "?",
                 r->status);
    else
        log_debug("%s %s -> %d", in->method, in->path, r->status);
    (void)app;
}

static bool privileged(struct rf_request *req, const struct route *route)
{
    uint32_t need = route->privileges;
    if (!need)
        return true;
    if (req->who.privileges & need & ~(uint32_t)PRIV_CONFIGURE_SELF)
        return true;
    if ((need & PRIV_CONFIGURE_SELF) && (req->who.privileges & PRIV_CONFIGURE_SELF)) {
        req->self_only = true; /* the handler checks the target is the caller's own */
        return true;
    }
    return false;
}

/* Route, authenticate, authorize. Returns the route to run, or NULL with r filled. */
static const struct route *admit(struct vsc_app *app, const struct dispatch_input *in,
                                 struct rf_request *req, uint32_t *allowed, struct rf_response *r)
{
    struct router_match m;
    enum router_result found = router_find(req->path, req->method, &m);
    *allowed = m.allowed;
    bool public_route = found == ROUTER_FOUND && (m.route->flags & ROUTE_NO_AUTH);
    if (!public_route) {
        uint32_t retry_s;
        bool basic = in->authorization && strncasecmp(in->authorization, "Basic ", 6) == 0;
        if (basic &&
            !login_limit_allowed(&app->login_limit, in->client_ip, loop_now_ms(), &retry_s)) {
            rf_login_limited(req, r, "", retry_s);
            return NULL;
        }
        enum auth_result a = auth_request(&app->auth, req->async, in->authorization,
                                          in->x_auth_token, in->tls, &req->who);
        if (a == AUTH_PENDING)
            return NULL; /* req->async->pending: the request runs again */
        if (a == AUTH_BUSY) {
            rf_error(r, 503, msg_service_temporarily_unavailable("1"));
            return NULL;
        }
        if (a != AUTH_OK) {
            if (a == AUTH_FAILED && basic) {
                audit(app, AUDIT_LOGIN_FAILED, req->who.user, in->client_ip, req->path,
                      "HTTP Basic credentials refused");
                login_limit_failed(&app->login_limit, in->client_ip, loop_now_ms());
            }
            rf_error(r, 401, msg_no_valid_session());
            return NULL;
        }
    }
    if (found == ROUTER_NOT_FOUND) {
        rf_error(r, 404, msg_resource_missing_at_uri(req->path));
        return NULL;
    }
    if (found == ROUTER_BAD_METHOD) {
        rf_error(r, 405, msg_operation_not_allowed());
        return NULL;
    }
    if (!privileged(req, m.route)) {
        rf_error(r, 403, msg_insufficient_privilege());
        return NULL;
    }
    memcpy(req->params, m.params, sizeof(req->params));
    req->nparams = m.nparams;
    return m.route;
}

enum dispatch_result dispatch(struct vsc_app *app, const struct dispatch_input *in,
                              struct rf_response *r)
{
    char path[1024];
    struct rf_async local = {0}; /* no worker: password work runs in place */
    struct rf_request req = {.app = app,
                             .client_ip = in->client_ip,
                             .tls = in->tls,
                             .query = in->query,
                             .nquery = in->nquery,
                             .last_event_id = in->last_event_id,
                             .async = in->async ? in->async : &local};
    uint32_t allowed = 0;
    app->db.full = false; /* db_error() sets it when this request's write finds no space */
    json_t *body = NULL;
    const struct route *route = NULL;

    if (strlen(in->path) >= sizeof(path)) {
        rf_error(r, 404, msg_resource_missing_at_uri("(too long)"));
        goto out;
    }
    router_normalize(in->path, path, sizeof(path));
    req.path = path;
    if (router_method_parse(in->method, &req.method) < 0)
        req.method = 0; /* matches no route: 405 (or 404) after authentication */
    if (in->body_too_large) {
        /* Answered before authentication: the body was never read. */
        rf_error(r, 413, msg_payload_too_large());
        goto out;
    }
    if (in->odata_version && strcmp(in->odata_version, "4.0") != 0) {
        rf_error(r, 412, msg_header_invalid("OData-Version"));
        goto out;
    }
    route = admit(app, in, &req, &allowed, r);
    if (req.async->pending)
        goto pending;
    if (!route || parse_query(in, &req, route, r) < 0 || parse_body(in, req.method, &body, r) < 0)
        goto out;
    req.body = body;
    bool changes = req.method & (HTTP_PATCH | HTTP_PUT | HTTP_DELETE);
    if (changes && check_if_match(&req, in->if_match, r) < 0)
        goto out;

    run_handler(route, &req, r);
    if (r->stream && r->status == 200) {
        /* A stream is no resource: no ETag, no paging; this answer stays open. */
        r->content_type = "text/event-stream";
        rf_set_header(r, "Connection", "close"); /* ends with the stream */
        goto out;
    }
    if (req.async->pending)
        goto pending;

    if (req.method == HTTP_PATCH && r->status == 0 && !json_array_size(r->messages))
        render_get(&req, r); /* a successful PATCH answers with the updated resource */
    bool is_get = req.method == HTTP_GET || req.method == HTTP_HEAD;
    if (is_get && r->status == 200) {
        if (json_is_array(json_object_get(r->body, "Members"))) {
            if (!r->paged)
                apply_paging(path, &req.paging, r);
        } else if (req.paging.has_top || req.paging.has_skip) {
            json_decref(r->body);
            r->body = NULL;
            free(r->raw);
            r->raw = NULL;
            r->status = 0;
            rf_error(r, 400, msg_query_not_supported_on_resource());
            goto out;
        }
    }
    if (r->status == 200 && r->body && json_object_get(r->body, "@odata.id")) {
        char etag[24];
        compute_etag(r->body, etag);
        json_object_set_new(r->body, "@odata.etag", json_string(etag));
        rf_set_header(r, "ETag", etag);
        if (is_get && in->if_none_match && etag_listed(in->if_none_match, etag, true)) {
            /* The representation stays (as raw bytes) only so that Content-Length states
             * the 200's length (RFC 9110 §8.6); libmicrohttpd never sends a 304's body. */
            r->raw = json_dumps(r->body, JSON_COMPACT);
            r->raw_len = r->raw ? strlen(r->raw) : 0;
            r->content_type = "application/json; charset=utf-8";
            json_decref(r->body);
            r->body = NULL;
            r->status = 304;
        }
    }
out:
    if (r->status == 500 && app->db.full) {
        /* The handler's write failed for want of space: say so (507), not "internal". */
        json_array_clear(r->messages);
        r->status = 0;
        rf_error(r, 507, msg_insufficient_storage());
    }
    json_decref(body);
    rf_async_release(&local);
    finish(app, in, req.method, allowed, r);
    return DISPATCH_DONE;
pending:
    json_decref(body);
    return DISPATCH_PENDING;
}

void dispatch_finish(struct vsc_app *app, const struct dispatch_input *in, struct rf_response *r)
{
    enum http_method method = 0;
    router_method_parse(in->method, &method);
    finish(app, in, method, 0, r);
}

int dispatch_serialize(const struct rf_response *r, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (r->raw) {
        *buf = malloc(r->raw_len ? r->raw_len : 1);
        if (!*buf)
            return -ENOMEM;
        memcpy(*buf, r->raw, r->raw_len);
        *len = r->raw_len;
        return 0;
    }
    if (!r->body)
        return 0;
    *buf = json_dumps(r->body, JSON_COMPACT);
    if (!*buf)
        return -ENOMEM;
    *len = strlen(*buf);
    return 0;
}
