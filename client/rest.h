/* rest: the few Redfish requests vsc-console makes, over libwebsockets' HTTP client.
 *
 * A request runs the context's event loop until its answer is complete (the client does
 * one thing at a time before it attaches; nothing else is waiting). Bodies are bounded
 * (REST_MAX_BODY); the answer's body is NUL-terminated. TLS settings come from the
 * connection flags the caller chose (verify, or --insecure).
 */
#ifndef VSC_REST_H
#define VSC_REST_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

#define REST_MAX_BODY (4u << 20)

/* A service URL: scheme, host and port (no path). */
struct rest_url {
    bool tls;
    char host[256]; /* without brackets for IPv6 */
    int port;
    char host_header[272]; /* host[:port] as the Host header wants it */
};

/* Parses "https://host[:port][/]" or "http://..."; 0 or -EINVAL. */
int rest_url_parse(const char *s, struct rest_url *u);

struct rest {
    struct lws_context *ctx;
    struct rest_url url;
    int ssl_flags;            /* LCCSCF_* for every connection */
    const volatile int *stop; /* set by a signal: requests end with status 0 */
};

struct rest_resp {
    int status; /* HTTP status, 0 when no answer came */
    char *body; /* malloc'd, NUL-terminated, may be NULL */
    size_t len;
    char token[256]; /* the X-Auth-Token header, if any */
    char error[256]; /* why there was no answer (connection, TLS) */
};

/* Makes one request; token (may be NULL) goes in X-Auth-Token, body (may be NULL) is sent as
 * application/json. Returns 0 when an answer came (any status), -1 otherwise (resp->error
 * says why). Free resp with rest_resp_free() in both cases. */
int rest_request(struct rest *r, const char *method, const char *path, const char *token,
                 const char *body, struct rest_resp *resp);
void rest_resp_free(struct rest_resp *resp);

/* A GET that asks for a WebSocket upgrade as a client would, to read the Redfish error of a
 * refused upgrade (libwebsockets' WebSocket client drops the refusal's body). Only for a
 * URI whose upgrade was just refused: the caller never speaks WebSocket on this one. */
int rest_probe_upgrade(struct rest *r, const char *path, const char *token, struct rest_resp *resp);

/* The message of a Redfish error body (@Message.ExtendedInfo[0].Message, else
 * error.message), or a generic text for the status; written into buf. */
void rest_error_text(const struct rest_resp *resp, char *buf, size_t bufsz);

/* The lws protocol callback for these requests (list it in the context's protocols as
 * REST_PROTOCOL). */
#define REST_PROTOCOL "vsc-rest"
int rest_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

#endif
