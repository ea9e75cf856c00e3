#include "http.h"

#include "app.h"
#include "conn_limit.h"
#include "console_ws.h"
#include "dispatch.h"
#include "grow.h"
#include "log.h"
#include "tls.h"
#include "tls_front.h"
#include "worker.h"
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define DISCARD_LIMIT (16u << 20) /* larger declared bodies are refused without reading */

/* An upgraded connection (a console WebSocket), until ws.c releases it. libmicrohttpd let
 * go of it at the upgrade: the socket is ours (a dup of its descriptor, or over HTTPS the
 * TLS stream), and so is its place in the connection limits. */
struct http_upgrade {
    int fd;               /* ours to close; -1 over HTTPS (the TLS stream owns its socket) */
    struct tls_conn *tls; /* HTTPS: the TLS stream the WebSocket took over */
    struct conn_limit_addr *counted;
    struct http_server *srv;
    struct ws_conn *ws;
    struct http_upgrade *prev, *next;
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct tls_front *front; /* HTTPS: TLS is ours, libmicrohttpd sees plain HTTP */
    struct http_upgrade *upgrades;
    struct conn_limit limit; /* libmicrohttpd's connections and the WebSockets it let go */
    struct loop_watch watch;
    struct vsc_app *app;
    bool tls;
    char *cert_pem, *key_pem;
};

/* Per-request state, from the first access-handler call to the completion notice. */
struct request_state {
    char *body;
    size_t len, cap;
    bool too_large;
    bool answered; /* a response was queued before the body was read */
    struct MHD_Connection *conn;
    struct rf_async async;            /* password work; the connection is suspended meanwhile */
    struct console_ws_ticket *ticket; /* an admitted WebSocket upgrade */
};

int http_parse_listen(const char *listen, struct sockaddr_storage *ss, unsigned *len,
                      int *is_loopback)
{
    char host[128];
    const char *colon;
    memset(ss, 0, sizeof(*ss));
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof(host))
            return -1;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host))
            return -1;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return -1;
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        *is_loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        *is_loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        return -1;
    }
    return 0;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t outsz)
{
    snprintf(out, outsz, "?");
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)outsz);
}

static void client_ip(struct MHD_Connection *c, char *out, size_t outsz)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    addr_text(ci ? ci->client_addr : NULL, out, outsz);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct dispatch_input *in = cls;
    if (in->nquery >= DISPATCH_MAX_QUERY) {
        in->query_overflow = true;
        return MHD_NO;
    }
    in->query[in->nquery].key = key;
    in->query[in->nquery].value = value;
    in->nquery++;
    return MHD_YES;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static enum MHD_Result add_header(struct MHD_Response *resp, const char *name, const json_t *v)
{
    return MHD_add_response_header(resp, name, json_string_value(v));
}

/* A streamed body (rf_stream) on its connection: parked while it has nothing to send. */
struct http_stream {
    struct MHD_Connection *conn;
    struct rf_stream *s;
    struct loop *loop;
    struct loop_deferred resume; /* a wake-up, run from the loop (outside MHD_run) */
    bool parked;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct http_stream *hs = cls;
    long n = hs->s->read(hs->s, buf, max);
    if (n > 0)
        return (ssize_t)n;
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing now: suspending here is allowed (the content reader); rf_stream_wake()
     * resumes, and MHD calls us again. */
    hs->parked = true;
    MHD_suspend_connection(hs->conn);
    return 0;
}

/* Resumed from the loop, not from wherever the producer runs (often inside MHD_run(), a
 * request handler): libmicrohttpd 0.9.75 in external epoll mode only picks up a resume
 * made inside MHD_run() at a later wake-up; the loop's after-hook runs MHD_run() next. */
static void stream_resume(struct loop_deferred *d)
{
    struct http_stream *hs = d->data;
    if (hs->parked) {
        hs->parked = false;
        MHD_resume_connection(hs->conn);
    }
}

static void stream_wake(struct rf_stream *s)
{
    struct http_stream *hs = s->wake_ctx;
    if (hs->parked)
        loop_defer(hs->loop, &hs->resume);
}

static void stream_free(void *cls)
{
    struct http_stream *hs = cls;
    loop_defer_cancel(hs->loop, &hs->resume);
    hs->s->wake = NULL;
    hs->s->closed(hs->s);
    free(hs);
}

static struct MHD_Response *stream_response(struct http_server *srv, struct MHD_Connection *c,
                                            struct rf_response *r)
{
    struct http_stream *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return NULL;
    hs->conn = c;
    hs->loop = &srv->app->loop;
    hs->resume = (struct loop_deferred){.cb = stream_resume, .data = hs};
    hs->s = r->stream;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, hs, stream_free);
    if (!resp) {
        free(hs);
        return NULL;
    }
    r->stream = NULL; /* stream_free() closes it now */
    hs->s->wake = stream_wake;
    hs->s->wake_ctx = hs;
    /* Quiet between events is normal: keep-alives (not MHD's idle timeout) find dead peers. */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    return resp;
}

static enum MHD_Result send_response(struct http_server *srv, struct MHD_Connection *c,
                                     struct rf_response *r)
{
    char *buf = NULL;
    size_t len = 0;
    struct MHD_Response *resp;
    bool streaming = r->stream != NULL;
    if (streaming) {
        resp = stream_response(srv, c, r);
        if (!resp)
            return MHD_NO;
    } else {
        if (dispatch_serialize(r, &buf, &len) < 0)
            return MHD_NO;
        resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(buf);
            return MHD_NO;
        }
    }
    const char *ctype = r->raw || streaming ? r->content_type : "application/json; charset=utf-8";
    if (len || r->raw || streaming)
        MHD_add_response_header(resp, "Content-Type", ctype);
    const char *name;
    json_t *value;
    json_object_foreach(r->headers, name, value) add_header(resp, name, value);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Answers at once, without reading the body (a declared length over the limit). */
static enum MHD_Result answer_early(struct http_server *srv, struct MHD_Connection *c,
                                    const char *url, const char *method)
{
    struct dispatch_input in = {
        .method = method, .path = url, .body_too_large = true, .tls = srv->tls};
    char ip[64];
    client_ip(c, ip, sizeof(ip));
    in.client_ip = ip;
    in.authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    in.x_auth_token = header(c, "X-Auth-Token");
    struct rf_response r;
    rf_response_init(&r);
    dispatch(srv->app, &in, &r);
    enum MHD_Result ok = send_response(srv, c, &r);
    rf_response_fini(&r);
    return ok;
}

static bool append_body(struct request_state *st, const char *data, size_t n, size_t limit)
{
    if (st->too_large || st->len + n > limit) {
        st->too_large = true;
        return false;
    }
    if (grow_bytes(&st->body, &st->cap, st->len + n, 1024) < 0) {
        st->too_large = true;
        return false;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    return true;
}

/* The worker finished this request's password job: let MHD call us again. */
static void resume_request(struct rf_async *async)
{
    struct request_state *st = async->ctx;
    MHD_resume_connection(st->conn);
}

static enum MHD_Result run_request(struct http_server *srv, struct MHD_Connection *c,
                                   const char *url, const char *method, struct request_state *st)
{
    char ip[64];
    client_ip(c, ip, sizeof(ip));
    struct dispatch_input in = {
        .method = method,
        .path = url,
        .authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION),
        .x_auth_token = header(c, "X-Auth-Token"),
        .content_type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
        .odata_version = header(c, "OData-Version"),
        .if_match = header(c, MHD_HTTP_HEADER_IF_MATCH),
        .if_none_match = header(c, MHD_HTTP_HEADER_IF_NONE_MATCH),
        .last_event_id = header(c, "Last-Event-ID"),
        .body = st->body,
        .body_len = st->len,
        .body_too_large = st->too_large,
        .client_ip = ip,
        .tls = srv->tls,
        .async = &st->async,
    };
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &in);
    struct rf_response r;
    rf_response_init(&r);
    enum MHD_Result ok = MHD_YES;
    if (dispatch(srv->app, &in, &r) == DISPATCH_PENDING) {
        st->conn = c;
        MHD_suspend_connection(c); /* resume_request() wakes it; then we run again */
    } else {
        ok = send_response(srv, c, &r);
    }
    rf_response_fini(&r);
    return ok;
}

/* ws.c is done with the stream: it closes, and stops counting against the limits. */
static void release_upgrade(void *handle)
{
    struct http_upgrade *u = handle;
    if (u->prev)
        u->prev->next = u->next;
    else
        u->srv->upgrades = u->next;
    if (u->next)
        u->next->prev = u->prev;
    if (u->fd >= 0)
        close(u->fd);
    tls_front_release(u->tls);
    conn_limit_close(&u->srv->limit, u->counted);
    free(u);
}

static const struct ws_io_ops tls_io = {tls_conn_recv, tls_conn_attach, tls_conn_seal,
                                        tls_conn_detach};

/* Over HTTPS the WebSocket talks to the TLS session directly (tls_front_adopt); bytes in
 * flight are kept in order: libmicrohttpd's read-ahead, then what it had not read. */
static void take_tls(struct http_server *srv, struct http_upgrade *u, struct ws_transport *t,
                     uint8_t **joined)
{
    uint8_t *more;
    size_t more_len;
    u->tls = srv->front ? tls_front_adopt(srv->front, t->fd, &more, &more_len) : NULL;
    if (!u->tls)
        return;
    t->fd = tls_conn_fd(u->tls);
    t->io_ops = &tls_io;
    t->io = u->tls;
    if (!more_len)
        return;
    *joined = malloc(t->extra_len + more_len);
    if (*joined) {
        memcpy(*joined, t->extra, t->extra_len);
        memcpy(*joined + t->extra_len, more, more_len);
        t->extra = *joined;
        t->extra_len += more_len;
    } else {
        t->fd = -1; /* ws_open fails cleanly: never lose client bytes silently */
    }
    free(more);
}

/* The WebSocket's own socket: the TLS stream's, or a duplicate of libmicrohttpd's
 * descriptor (which it closes once let go; the connection lives on in ours). */
static int take_socket(struct http_server *srv, struct http_upgrade *u, struct ws_transport *t,
                       uint8_t **joined)
{
    take_tls(srv, u, t, joined);
    if (u->tls)
        return 0;
    u->fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 0);
    t->fd = u->fd;
    return u->fd < 0 ? -1 : 0;
}

static void on_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra,
                        size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct http_server *srv = cls;
    struct request_state *st = req_cls;
    struct http_upgrade *u = st && st->ticket ? calloc(1, sizeof(*u)) : NULL;
    char ip[64];
    client_ip(c, ip, sizeof(ip));
    if (u) {
        u->fd = -1;
        u->srv = srv;
        /* Counted before libmicrohttpd's connection stops counting: never a moment below. */
        u->counted = conn_limit_open(&srv->limit, ip);
        u->next = srv->upgrades;
        if (u->next)
            u->next->prev = u;
        srv->upgrades = u;
    }
    struct ws_transport t = {.fd = sock,
                             .extra = extra,
                             .extra_len = extra_len,
                             .release = release_upgrade,
                             .handle = u};
    uint8_t *joined = NULL;
    if (u && take_socket(srv, u, &t, &joined) < 0) {
        log_warn("console websocket from %s: cannot take the socket over: %s", ip, strerror(errno));
        release_upgrade(u);
    } else if (u) {
        struct ws_conn *ws = console_ws_start(srv->app, st->ticket, &t);
        if (ws)
            u->ws = ws; /* else u is gone already */
    }
    free(joined); /* ws_open copied it */
    /* libmicrohttpd lets go: its connection and memory pool are freed at its next run. */
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static bool wants_websocket(struct MHD_Connection *c, const char *method)
{
    const char *up = header(c, MHD_HTTP_HEADER_UPGRADE);
    return strcmp(method, "GET") == 0 && up && strcasecmp(up, "websocket") == 0;
}

/* Whether a header's comma-separated list holds `token`, in any case. */
static bool lists_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(p, token, n) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

/* Every Sec-WebSocket-Protocol line, joined into one list (RFC 6455 11.3.4: several lines
 * are one list); the buffer may hold a token. */
struct header_list {
    char *s;
    size_t len;
};

static enum MHD_Result join_protocols(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct header_list *l = cls;
    if (!key || !value || strcasecmp(key, "Sec-WebSocket-Protocol") != 0)
        return MHD_YES;
    size_t n = strlen(value);
    char *s = realloc(l->s, l->len + n + 3);
    if (!s)
        return MHD_NO; /* what was joined so far stands */
    if (l->len) {
        memcpy(s + l->len, ", ", 2);
        l->len += 2;
    }
    memcpy(s + l->len, value, n + 1);
    l->len += n;
    l->s = s;
    return MHD_YES;
}

/* A WebSocket handshake on a console URI: refused with a Redfish error, or 101. */
static enum MHD_Result upgrade_request(struct http_server *srv, struct MHD_Connection *c,
                                       const char *url, const char *method,
                                       struct request_state *st)
{
    char ip[64];
    client_ip(c, ip, sizeof(ip));
    st->ticket = calloc(1, sizeof(*st->ticket));
    if (!st->ticket)
        return MHD_NO;
    struct header_list protocols = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, join_protocols, &protocols);
    struct console_ws_request in = {
        .path = url,
        .x_auth_token = header(c, "X-Auth-Token"),
        .protocols = protocols.s,
        .origin = header(c, "Origin"),
        .host = header(c, MHD_HTTP_HEADER_HOST),
        .key = header(c, "Sec-WebSocket-Key"),
        .version = header(c, "Sec-WebSocket-Version"),
        .history = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "history"),
        .ticket = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ticket"),
        .client_ip = ip,
        .tls = srv->tls,
        .connection_upgrade = lists_token(header(c, MHD_HTTP_HEADER_CONNECTION), "upgrade"),
    };
    struct rf_response r;
    rf_response_init(&r);
    int admitted = console_ws_admit(srv->app, &in, st->ticket, &r);
    if (protocols.s)
        explicit_bzero(protocols.s, protocols.len);
    free(protocols.s);
    enum MHD_Result ok;
    if (admitted < 0) {
        struct dispatch_input din = {
            .method = method, .path = url, .client_ip = ip, .tls = srv->tls};
        dispatch_finish(srv->app, &din, &r);
        ok = send_response(srv, c, &r);
    } else {
        struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, srv);
        if (!resp) {
            rf_response_fini(&r);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
        MHD_add_response_header(resp, "Sec-WebSocket-Accept", st->ticket->accept);
        if (st->ticket->protocol_v1)
            MHD_add_response_header(resp, "Sec-WebSocket-Protocol", CONSOLE_WS_PROTOCOL);
        ok = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
        MHD_destroy_response(resp);
    }
    rf_response_fini(&r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct request_state *st = *con_cls;
    size_t limit = (size_t)srv->app->cfg.max_body_bytes;
    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        st->async.worker = &srv->app->worker;
        st->async.resume = resume_request;
        st->async.ctx = st;
        *con_cls = st;
        /* A body over the limit is answered at once only when the client waits for our
         * go-ahead (100-continue) or the body is absurd; otherwise it is read and thrown
         * away, so the 413 is not lost in a reset (RFC 9112 §9.6). */
        const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *expect = header(c, MHD_HTTP_HEADER_EXPECT);
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (declared > limit && (expect || declared > DISCARD_LIMIT)) {
            st->answered = true;
            return answer_early(srv, c, url, method);
        }
        return MHD_YES;
    }
    if (st->answered) {
        *upload_size = 0; /* already answered 413: discard; MHD closes the connection */
        return MHD_YES;
    }
    if (*upload_size) {
        append_body(st, upload, *upload_size, limit); /* overflow is reported at the end */
        *upload_size = 0;
        return MHD_YES;
    }
    if (wants_websocket(c, method) && console_ws_route(url))
        return upgrade_request(srv, c, url, method, st); /* the second call: see ADR 0001 */
    return run_request(srv, c, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct request_state *st = *con_cls;
    if (st) {
        rf_async_release(&st->async);
        if (st->body)
            explicit_bzero(st->body, st->len); /* may hold a password */
        free(st->body);
        free(st->ticket);
        free(st);
    }
    *con_cls = NULL;
}

/* libmicrohttpd's limits count only its own connections: these count the WebSockets too. */
static enum MHD_Result admit_client(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    struct http_server *srv = cls;
    char ip[64];
    addr_text(addr, ip, sizeof(ip));
    if (conn_limit_admits(&srv->limit, ip))
        return MHD_YES;
    log_debug("http: connection from %s refused: %u open (max_connections %u, "
              "max_connections_per_ip %u)",
              ip, srv->limit.total, srv->limit.max_total, srv->limit.max_per_addr);
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        char ip[64];
        client_ip(c, ip, sizeof(ip));
        *socket_context = conn_limit_open(&srv->limit, ip);
    } else {
        conn_limit_close(&srv->limit, *socket_context);
        *socket_context = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("http: %s", msg);
}

static int on_mhd_ready(struct loop_watch *w, uint32_t events)
{
    (void)w;
    (void)events;
    return LOOP_OK; /* the loop's after-hook runs MHD_run() */
}

static int64_t mhd_timeout(void *data)
{
    struct vsc_app *app = data;
    MHD_UNSIGNED_LONG_LONG ms;
    if (!app->http || MHD_get_timeout(app->http->mhd, &ms) != MHD_YES)
        return -1;
    return (int64_t)ms;
}

static void mhd_run(void *data)
{
    struct vsc_app *app = data;
    if (app->http)
        MHD_run(app->http->mhd);
}

/* Reads the pair; at start (`create`) makes the self-signed one when none exists yet. */
static int load_tls(struct http_server *srv, const struct vsc_config *cfg, bool create)
{
    char cert[PATH_MAX], key[PATH_MAX];
    if (cfg->tls_cert[0]) {
        snprintf(cert, sizeof(cert), "%s", cfg->tls_cert);
        snprintf(key, sizeof(key), "%s", cfg->tls_key[0] ? cfg->tls_key : cfg->tls_cert);
    } else {
        snprintf(cert, sizeof(cert), "%s/tls/cert.pem", cfg->state_dir);
        snprintf(key, sizeof(key), "%s/tls/key.pem", cfg->state_dir);
        if (create && tls_ensure_self_signed(cert, key) < 0)
            return -1;
    }
    int rc = tls_read_file(cert, &srv->cert_pem);
    if (rc == 0)
        rc = tls_read_file(key, &srv->key_pem);
    if (rc < 0) {
        log_error("tls: cannot read %s / %s: %s", cert, key, strerror(-rc));
        return -1;
    }
    return 0;
}

static void server_free(struct http_server *srv)
{
    if (!srv)
        return;
    conn_limit_fini(&srv->limit);
    if (srv->key_pem)
        explicit_bzero(srv->key_pem, strlen(srv->key_pem));
    free(srv->key_pem);
    free(srv->cert_pem);
    free(srv);
}

int http_reload_tls(struct vsc_app *app)
{
    struct http_server *srv = app->http;
    if (!srv || !srv->front)
        return -ENOTSUP; /* plain HTTP */
    struct http_server fresh = {0};
    int rc = load_tls(&fresh, &app->cfg, false) == 0 && /* a reload never writes a pair */
                     tls_front_reload(srv->front, fresh.cert_pem, fresh.key_pem) == 0
                 ? 0
                 : -EINVAL;
    if (rc == 0) {
        char *old_cert = srv->cert_pem, *old_key = srv->key_pem;
        srv->cert_pem = fresh.cert_pem;
        srv->key_pem = fresh.key_pem;
        fresh.cert_pem = old_cert;
        fresh.key_pem = old_key;
    }
    if (fresh.key_pem)
        explicit_bzero(fresh.key_pem, strlen(fresh.key_pem));
    free(fresh.key_pem);
    free(fresh.cert_pem);
    return rc;
}

int http_listen_address(const struct vsc_config *cfg, struct sockaddr_storage *ss, unsigned *len)
{
    int loopback;
    if (http_parse_listen(cfg->listen, ss, len, &loopback) < 0) {
        log_error("listen: cannot parse '%s' (want host:port or [v6]:port)", cfg->listen);
        return -1;
    }
    if (cfg->insecure_http && !loopback) {
        log_error("insecure_http is allowed on loopback addresses only, not %s", cfg->listen);
        return -1;
    }
    return 0;
}

int http_start(struct vsc_app *app)
{
    const struct vsc_config *cfg = &app->cfg;
    struct sockaddr_storage ss;
    unsigned sslen;
    if (http_listen_address(cfg, &ss, &sslen) < 0)
        return -1;
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -1;
    srv->app = app;
    srv->tls = !cfg->insecure_http;
    if (srv->tls && load_tls(srv, cfg, true) < 0) {
        server_free(srv);
        return -1;
    }
    /* With TLS, tls_front owns the listening socket and the TLS sessions (ADR 0002). */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE |
                     MHD_ALLOW_SUSPEND_RESUME | (srv->tls ? MHD_USE_NO_LISTEN_SOCKET : 0) |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    conn_limit_init(&srv->limit, (unsigned)cfg->max_connections,
                    (unsigned)cfg->max_connections_per_ip);
    srv->mhd = MHD_start_daemon(
        flags, srv->tls ? 0 : port, admit_client, srv, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_END);
    if (srv->mhd && srv->tls) {
        srv->front = tls_front_start(&app->loop, srv->mhd, (struct sockaddr *)&ss, sslen,
                                     srv->cert_pem, srv->key_pem, TLS_PRIORITIES);
        if (!srv->front) {
            int e = errno;
            MHD_stop_daemon(srv->mhd);
            srv->mhd = NULL;
            errno = e;
        }
    }
    if (!srv->mhd) {
        log_error("cannot serve on %s: %s", cfg->listen, strerror(errno ? errno : EADDRINUSE));
        server_free(srv);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    srv->watch = (struct loop_watch){
        .fd = info->epoll_fd, .events = EPOLLIN, .cb = on_mhd_ready, .data = srv};
    if (loop_add(&app->loop, &srv->watch) < 0) {
        tls_front_stop(srv->front);
        MHD_stop_daemon(srv->mhd);
        server_free(srv);
        return -1;
    }
    app->http = srv;
    app->loop.prepare = mhd_timeout;
    app->loop.after = mhd_run;
    app->loop.hook_data = app;
    log_info("serving %s on %s", srv->tls ? "HTTPS" : "plain HTTP (loopback only)", cfg->listen);
    return 0;
}

void http_stop(struct vsc_app *app)
{
    struct http_server *srv = app->http;
    if (!srv)
        return;
    while (srv->upgrades)
        ws_abort(srv->upgrades->ws, WS_GOING_AWAY); /* releases it: unlinks the head */
    /* Streams ended by the caller (events_end_all) resume from deferred work, which the
     * stopped loop no longer runs: libmicrohttpd refuses to stop with a connection
     * still suspended. */
    loop_run_deferred(&app->loop);
    MHD_run(srv->mhd);
    tls_front_stop(srv->front); /* sends what is left (close frames), then closes */
    loop_del(&app->loop, &srv->watch);
    MHD_stop_daemon(srv->mhd);
    app->loop.prepare = NULL;
    app->loop.after = NULL;
    app->http = NULL;
    server_free(srv);
}
