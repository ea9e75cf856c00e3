/*
 * rf — a Redfish request and response as resource handlers see them.
 *
 * Handlers never see libmicrohttpd: http.c turns a connection into a struct rf_request,
 * runs authentication, privilege checks, query and body parsing, calls the handler, and
 * turns the struct rf_response into an HTTP response with the protocol headers
 * (DSP0266 §8). A handler only fills `status` and `body` (or calls rf_error()).
 */
#ifndef VSC_RF_H
#define VSC_RF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RF_MAX_PARAMS 4
#define RF_PARAM_MAX  128

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PATCH = 1 << 3,
    HTTP_PUT = 1 << 4,
    HTTP_DELETE = 1 << 5,
};

/* Privileges of the DMTF privilege registry (Redfish_1.8.0_PrivilegeRegistry). */
enum privilege {
    PRIV_LOGIN = 1 << 0,
    PRIV_CONFIGURE_MANAGER = 1 << 1,
    PRIV_CONFIGURE_USERS = 1 << 2,
    PRIV_CONFIGURE_SELF = 1 << 3,
    PRIV_CONFIGURE_COMPONENTS = 1 << 4,
};

enum role { ROLE_NONE = -1, ROLE_ADMINISTRATOR = 0, ROLE_OPERATOR, ROLE_READONLY, ROLE_COUNT };

struct session;
struct vsc_app;
struct rf_async;

struct rf_identity {
    bool authenticated;
    int64_t account_id;
    char user[65];
    enum role role;
    uint32_t privileges;
    struct session *session; /* NULL for Basic authentication */
};

/* A query parameter as the client sent it (decoded). */
struct rf_query_param {
    const char *key, *value; /* value may be NULL ("?flag") */
};

/* $skip and $top as dispatch parsed them (0 when absent), for its paging and for handlers
 * that page a collection themselves. */
struct rf_paging {
    bool has_top, has_skip;
    size_t top, skip;
};

struct rf_request {
    enum http_method method;
    const char *path; /* normalized: no trailing slash */
    char params[RF_MAX_PARAMS][RF_PARAM_MAX];
    int nparams;
    json_t *body; /* POST/PATCH: the parsed JSON object; borrowed */
    /* The query parameters; dispatch checked the $-ones, the rest are the handler's. */
    const struct rf_query_param *query;
    int nquery;
    struct rf_identity who;
    /* Granted only through ConfigureSelf: the handler must check the target is the
     * caller's own account or session. */
    bool self_only;
    const char *client_ip;
    bool tls;
    const char *last_event_id; /* the Last-Event-ID header (SSE resume), or NULL */
    const char *filter;        /* $filter, for ROUTE_QUERY_FILTER routes only, or NULL */
    struct rf_paging paging;
    struct vsc_app *app;
    struct rf_async *async; /* password work off the loop (worker.h) */
};

/*
 * A response body produced over time (text/event-stream), for handlers that must not see
 * the HTTP library: http.c pulls bytes with read(); when read() answers 0 it parks the
 * connection until the producer calls rf_stream_wake(). closed() runs once, when the
 * connection ends (or the response is dropped unsent); the producer may free it then.
 */
struct rf_stream {
    /* Up to `max` bytes into buf: > 0 bytes, 0 nothing now, < 0 the stream ends. */
    long (*read)(struct rf_stream *s, char *buf, size_t max);
    void (*closed)(struct rf_stream *s);
    /* Set by the HTTP side while the stream is being sent. */
    void (*wake)(struct rf_stream *s);
    void *wake_ctx;
};

/* Tells the HTTP side that read() has something now (harmless when it is not parked). */
void rf_stream_wake(struct rf_stream *s);

struct rf_response {
    int status;   /* 0 until a handler sets it */
    json_t *body; /* owned; JSON responses */
    char *raw;    /* owned; non-JSON responses (CSDL) */
    size_t raw_len;
    const char *content_type;
    struct rf_stream *stream; /* owned until sent: a streamed body (content_type says what) */
    json_t *headers;          /* owned; extra headers, name -> string */
    json_t *messages;         /* owned; @Message.ExtendedInfo collected by rf_error() */
    bool paged;               /* Members is the page already (rf_collection_paged()) */
};

void rf_response_init(struct rf_response *r);
void rf_response_fini(struct rf_response *r);

/* Sets an extra response header (copied). */
void rf_set_header(struct rf_response *r, const char *name, const char *value);

/* Sets the status and body (steals `body`). */
void rf_reply(struct rf_response *r, int status, json_t *body);

/*
 * Records an error: the first call sets the HTTP status, later calls add messages.
 * Steals `message` (from base_registry.h's msg_* builders). http.c turns the collected
 * messages into the error body of DSP0266 §9.6 when the response is sent.
 */
void rf_error(struct rf_response *r, int status, json_t *message);

/* The Redfish error body for the collected messages (new reference). */
json_t *rf_error_body(const json_t *messages);

/* A collection body with @odata.id/@odata.type/Name/Members/Members@odata.count. */
json_t *rf_collection(const char *odata_id, const char *odata_type, const char *name);
void rf_collection_add(json_t *collection, const char *member_uri);

/*
 * A collection too long to build whole (the audit trail, console log entries): the handler
 * builds only the page rf_page_window() gives — $skip and $top up to RF_PAGE_MAX, or
 * `server_top` (RF_PAGE) members when the client set no $top (server-driven paging, DSP0266
 * "Collections": the next link brings the rest) — then rf_collection_paged() states the
 * whole count and the next link, and marks r so that dispatch does not page it again.
 */
#define RF_PAGE     1000  /* members per page of such a collection without $top */
#define RF_PAGE_MAX 10000 /* and whatever $top says */
void rf_page_window(const struct rf_request *req, size_t server_top, size_t *skip, size_t *top);
void rf_collection_paged(struct rf_response *r, const char *path, size_t skip, size_t top,
                         size_t total);
/* Members@odata.nextLink for the page after [skip, skip + top) of `total` (dispatch's paging
 * and rf_collection_paged() alike); nothing when that page was the last. */
void rf_set_next_link(json_t *body, const char *path, size_t skip, size_t top, size_t total);

/* The value of query parameter `key` (first occurrence); NULL when absent. `*present`
 * (may be NULL) tells a valueless "?key" from an absent one. */
const char *rf_query_value(const struct rf_request *req, const char *key, bool *present);

/* {"@odata.id": uri} */
json_t *rf_link(const char *uri);

#endif
