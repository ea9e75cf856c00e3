/*
 * dispatch — the Redfish request pipeline, free of any HTTP library:
 * route → authenticate → privilege → query → body → If-Match → handler → ETag, paging,
 * protocol headers (DSP0266 §8, §9). http.c feeds it what libmicrohttpd parsed and
 * sends what it returns; unit tests call it directly.
 */
#ifndef VSC_DISPATCH_H
#define VSC_DISPATCH_H

#include "rf.h"

#define DISPATCH_MAX_QUERY 16

struct dispatch_input {
    const char *method;
    const char *path;
    const char *authorization;
    const char *x_auth_token;
    const char *content_type;
    const char *odata_version;
    const char *if_match;
    const char *if_none_match;
    const char *last_event_id;
    struct rf_query_param query[DISPATCH_MAX_QUERY];
    int nquery;
    bool query_overflow;
    const char *body;
    size_t body_len;
    bool body_too_large;
    const char *client_ip;
    bool tls;
    /* Password work for this request (worker.h); NULL: done in place. */
    struct rf_async *async;
};

enum dispatch_result {
    DISPATCH_DONE,    /* `out` holds the answer */
    DISPATCH_PENDING, /* waits for the worker; run the same request again on resume */
};

/*
 * Runs one request. When done, `out` holds the final status, the body (JSON `body` or
 * `raw`) and every header to send besides Content-Length; internal errors become a
 * Redfish 500 body. When pending, nothing was changed and `out` must be discarded.
 */
enum dispatch_result dispatch(struct vsc_app *app, const struct dispatch_input *in,
                              struct rf_response *out);

/* Completes a response made outside dispatch() (the WebSocket upgrade's refusals): the
 * Redfish error body for its messages and the protocol headers. */
void dispatch_finish(struct vsc_app *app, const struct dispatch_input *in, struct rf_response *r);

/* Serializes out->body (or returns raw) for sending: malloc'd bytes in *buf. */
int dispatch_serialize(const struct rf_response *out, char **buf, size_t *len);

#endif
