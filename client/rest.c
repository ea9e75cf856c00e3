/* rest: see rest.h. */
#include "rest.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rest_url_parse(const char *s, struct rest_url *u)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (strncmp(s, "https://", 8) == 0) {
        u->tls = true;
        p = s + 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else {
        return -EINVAL;
    }
    const char *end = p + strcspn(p, "/?#");
    if (end[0] && strcmp(end, "/") != 0)
        return -EINVAL; /* a path: not a service root */
    const char *colon;
    size_t hlen;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return -EINVAL;
        hlen = (size_t)(rb - p - 1);
        if (hlen == 0 || hlen >= sizeof(u->host))
            return -EINVAL;
        memcpy(u->host, p + 1, hlen);
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb + 1 != end)
            return -EINVAL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hlen = (size_t)((colon ? colon : end) - p);
        if (hlen == 0 || hlen >= sizeof(u->host))
            return -EINVAL;
        memcpy(u->host, p, hlen);
    }
    u->port = u->tls ? 443 : 80;
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != end || colon + 1 == end || port < 1 || port > 65535)
            return -EINVAL;
        u->port = (int)port;
    }
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(u->host_header, sizeof(u->host_header), "%s%s%s:%d", v6 ? "[" : "", u->host,
             v6 ? "]" : "", u->port);
    return 0;
}

/* One request in flight (the wsi's opaque user data). */
struct req {
    const char *token;
    const char *body;
    bool upgrade; /* ask for a WebSocket upgrade, to read why it is refused */
    struct rest_resp *resp;
    size_t cap;
    bool done;
    bool overflow;
};

static void resp_append(struct req *q, const void *in, size_t len)
{
    struct rest_resp *r = q->resp;
    if (q->overflow || r->len + len + 1 > REST_MAX_BODY) {
        q->overflow = true;
        return;
    }
    if (r->len + len + 1 > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            q->overflow = true;
            return;
        }
        r->body = b;
        q->cap = cap;
    }
    memcpy(r->body + r->len, in, len);
    r->len += len;
    r->body[r->len] = '\0';
}

static int add_headers(struct lws *wsi, struct req *q, void *in, size_t len)
{
    unsigned char **p = (unsigned char **)in, *end = (*p) + len;
    if (q->token &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-auth-token:",
                                    (const unsigned char *)q->token, (int)strlen(q->token), p, end))
        return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCEPT,
                                     (const unsigned char *)"application/json", 16, p, end))
        return -1;
    if (q->upgrade) {
        static const char *const h[][2] = {
            {"upgrade:", "websocket"},
            {"connection:", "Upgrade"},
            {"sec-websocket-version:", "13"},
            {"sec-websocket-key:", "dnNjLWNvbnNvbGUtcHJvYmU="},
        };
        for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)h[i][0],
                                            (const unsigned char *)h[i][1], (int)strlen(h[i][1]), p,
                                            end))
                return -1;
    }
    if (!q->body)
        return 0;
    char clen[24];
    int n = snprintf(clen, sizeof(clen), "%zu", strlen(q->body));
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)"application/json", 16, p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
                                     (const unsigned char *)clen, n, p, end))
        return -1;
    lws_client_http_body_pending(wsi, 1);
    lws_callback_on_writable(wsi);
    return 0;
}

static int send_body(struct lws *wsi, struct req *q)
{
    size_t n = strlen(q->body);
    unsigned char *buf = malloc(LWS_PRE + n + 1);
    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, q->body, n);
    int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
    free(buf);
    lws_client_http_body_pending(wsi, 0);
    return w < (int)n ? -1 : 0;
}

int rest_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct req *q = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (q && !q->done) {
            snprintf(q->resp->error, sizeof(q->resp->error), "%s",
                     in ? (const char *)in : "connection failed");
            q->resp->status = 0;
            q->done = true;
        }
        break;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (q) {
            q->resp->status = (int)lws_http_client_http_response(wsi);
            int n = lws_hdr_copy(wsi, q->resp->token, (int)sizeof(q->resp->token),
                                 WSI_TOKEN_X_AUTH_TOKEN);
            if (n < 0)
                q->resp->token[0] = '\0';
        }
        break;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (q && add_headers(wsi, q, in, len))
            return -1;
        break;
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (q && q->body)
            return send_body(wsi, q);
        break;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (q)
            resp_append(q, in, len);
        break;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buffer[4096 + LWS_PRE];
        char *px = buffer + LWS_PRE;
        int lenx = (int)sizeof(buffer) - LWS_PRE;
        if (lws_http_client_read(wsi, &px, &lenx) < 0)
            return -1;
        break;
    }
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (q)
            q->done = true;
        lws_set_opaque_user_data(wsi, NULL);
        return -1; /* one request per connection */
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (q && !q->done) {
            snprintf(q->resp->error, sizeof(q->resp->error), "the connection closed early");
            q->resp->status = 0;
            q->done = true;
        }
        if (q)
            lws_set_opaque_user_data(wsi, NULL);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int request(struct rest *r, const char *method, const char *path, const char *token,
                   const char *body, bool upgrade, struct rest_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    struct req q = {.token = token, .body = body, .upgrade = upgrade, .resp = resp};
    struct lws_client_connect_info i = {
        .context = r->ctx,
        .address = r->url.host,
        .port = r->url.port,
        .path = path,
        .host = r->url.host_header,
        .method = method,
        .protocol = REST_PROTOCOL,
        .alpn = "http/1.1",
        .ssl_connection = (r->url.tls ? r->ssl_flags : 0) | LCCSCF_HTTP_NO_FOLLOW_REDIRECT,
        .opaque_user_data = &q,
    };
    struct lws *wsi = NULL;
    i.pwsi = &wsi;
    if (!lws_client_connect_via_info(&i) && !q.done) {
        snprintf(resp->error, sizeof(resp->error), "could not start a connection");
        return -1;
    }
    while (!q.done && !(r->stop && *r->stop))
        if (lws_service(r->ctx, 0) < 0)
            break;
    if (!q.done) {
        if (wsi)
            lws_set_opaque_user_data(wsi, NULL);
        snprintf(resp->error, sizeof(resp->error), "interrupted");
        return -1;
    }
    if (q.overflow) {
        snprintf(resp->error, sizeof(resp->error), "the answer is too large");
        resp->status = 0;
        return -1;
    }
    return resp->status ? 0 : -1;
}

int rest_request(struct rest *r, const char *method, const char *path, const char *token,
                 const char *body, struct rest_resp *resp)
{
    return request(r, method, path, token, body, false, resp);
}

int rest_probe_upgrade(struct rest *r, const char *path, const char *token, struct rest_resp *resp)
{
    return request(r, "GET", path, token, NULL, true, resp);
}

void rest_resp_free(struct rest_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

void rest_error_text(const struct rest_resp *resp, char *buf, size_t bufsz)
{
    json_t *j = resp->body ? json_loads(resp->body, 0, NULL) : NULL;
    json_t *err = json_object_get(j, "error");
    json_t *info = json_array_get(json_object_get(err, "@Message.ExtendedInfo"), 0);
    const char *msg = json_string_value(json_object_get(info, "Message"));
    if (!msg)
        msg = json_string_value(json_object_get(err, "message"));
    if (msg)
        snprintf(buf, bufsz, "%s (HTTP %d)", msg, resp->status);
    else
        snprintf(buf, bufsz, "HTTP %d", resp->status);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    json_decref(j);
}
