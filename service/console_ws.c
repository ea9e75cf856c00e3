#include "console_ws.h"

#include "app.h"
#include "base_registry.h"
#include "log.h"
#include "port_rights.h"
#include "ports.h"
#include "resources.h"
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK_MS 1000 /* how often a console checks that its session still exists */

struct cw {
    struct console_reader reader;
    struct ws_conn *ws;
    struct port *port;
    struct vsc_app *app;
    char session_id[SESSION_ID_LEN + 1];
    uint64_t missed_reported;
    struct loop_timer check;
};

bool console_ws_route(const char *path)
{
    char norm[1024];
    struct router_match m;
    if (strlen(path) >= sizeof(norm))
        return false;
    router_normalize(path, norm, sizeof(norm));
    return router_find(norm, HTTP_GET, &m) == ROUTER_FOUND &&
           strcmp(m.route->pattern, CONSOLE_WS_PATTERN) == 0;
}

/* Same origin: the Origin's scheme is ours and its host[:port] is the Host header. */
static bool same_origin(const char *origin, const char *host, bool tls)
{
    const char *scheme = tls ? "https://" : "http://";
    size_t n = strlen(scheme);
    return host && strncasecmp(origin, scheme, n) == 0 && strcasecmp(origin + n, host) == 0;
}

/* Copies the rest of `item` (n bytes) after `prefix` into out, when it starts so. */
static bool take_prefixed(const char *item, size_t n, const char *prefix, char *out, size_t outsz)
{
    size_t plen = strlen(prefix);
    if (n <= plen || n - plen >= outsz || strncmp(item, prefix, plen) != 0)
        return false;
    snprintf(out, outsz, "%.*s", (int)(n - plen), item + plen);
    return true;
}

/* Finds vsc.v1, a vsc.token.<token> and a vsc.ticket.<ticket> in a Sec-WebSocket-Protocol
 * list. */
static void parse_protocols(const char *list, bool *v1, char *token, char *ticket, size_t sz)
{
    *v1 = false;
    token[0] = ticket[0] = '\0';
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (n == strlen(CONSOLE_WS_PROTOCOL) && strncmp(p, CONSOLE_WS_PROTOCOL, n) == 0)
            *v1 = true;
        else if (!take_prefixed(p, n, CONSOLE_WS_TOKEN_PREFIX, token, sz))
            take_prefixed(p, n, CONSOLE_WS_TICKET_PREFIX, ticket, sz);
        p += n;
    }
}

/* A ticket (console_ticket.h) stands for its session's token; it is redeemed against the
 * port named in the path, existing or not, so a refusal says nothing about ports. */
static const char *ticket_token(struct vsc_app *app, const char *path, const char *ticket)
{
    char norm[1024], session_id[SESSION_ID_LEN + 1];
    struct router_match m;
    if (!ticket || !*ticket || strlen(path) >= sizeof(norm))
        return "";
    router_normalize(path, norm, sizeof(norm));
    if (router_find(norm, HTTP_GET, &m) != ROUTER_FOUND || !rf_canonical_id(m.params[1]))
        return "";
    if (console_ticket_redeem(&app->tickets, ticket, strtoll(m.params[1], NULL, 10), loop_now_ms(),
                              session_id) < 0)
        return "";
    struct session *s = auth_session_find(&app->auth, session_id);
    return s ? s->token : "";
}

static int parse_history(const char *s, uint64_t *out)
{
    *out = 0;
    if (!s)
        return 0;
    if (!*s || strlen(s) > 12 || strspn(s, "0123456789") != strlen(s))
        return -1;
    *out = strtoull(s, NULL, 10);
    return 0;
}

int console_ws_admit(struct vsc_app *app, const struct console_ws_request *in,
                     struct console_ws_ticket *t, struct rf_response *r)
{
    memset(t, 0, sizeof(*t));
    char token[SECRET_TOKEN_LEN + 8], ticket[SECRET_TOKEN_LEN + 8];
    parse_protocols(in->protocols, &t->protocol_v1, token, ticket, sizeof(token));
    const char *cred = in->x_auth_token && *in->x_auth_token ? in->x_auth_token : token;
    if (!*cred)
        cred = ticket_token(app, in->path, in->ticket ? in->ticket : ticket);
    struct rf_identity who = {0};
    /* Tokens only: a session, never a password per connection (and no worker wait). */
    if (!*cred || auth_request(&app->auth, NULL, NULL, cred, in->tls, &who) != AUTH_OK ||
        !who.session) {
        rf_error(r, 401, msg_no_valid_session());
        return -1;
    }
    if (in->origin && !same_origin(in->origin, in->host, in->tls)) {
        rf_error(r, 403, msg_access_denied(in->origin));
        return -1;
    }
    char norm[1024];
    struct router_match m;
    router_normalize(in->path, norm, sizeof(norm));
    if (router_find(norm, HTTP_GET, &m) != ROUTER_FOUND) {
        rf_error(r, 404, msg_resource_missing_at_uri(norm));
        return -1;
    }
    if (!(who.privileges & PRIV_LOGIN)) {
        rf_error(r, 403, msg_insufficient_privilege());
        return -1;
    }
    const char *id = m.params[1];
    struct port *p = strcmp(m.params[0], MANAGER_ID) == 0 && rf_canonical_id(id)
                         ? ports_find(&app->ports, strtoll(id, NULL, 10))
                         : NULL;
    if (!p) {
        rf_error(r, 404, msg_resource_missing_at_uri(norm));
        return -1;
    }
    if (!(port_rights(app, p->id, who.user, who.role) & PORT_RIGHT_WATCH)) {
        rf_error(r, 403, msg_insufficient_privilege()); /* an access rule denies Watch */
        return -1;
    }
    if (!in->version || strcmp(in->version, "13") != 0) {
        rf_error(r, 400, msg_header_invalid("Sec-WebSocket-Version"));
        return -1;
    }
    if (ws_accept_key(in->key, t->accept) < 0) {
        rf_error(r, 400, msg_header_invalid("Sec-WebSocket-Key"));
        return -1;
    }
    if (parse_history(in->history, &t->history) < 0) {
        rf_error(r, 400, msg_query_parameter_value_type_error(in->history, "history"));
        return -1;
    }
    t->port_id = p->id;
    snprintf(t->session_id, sizeof(t->session_id), "%s", who.session->id);
    snprintf(t->user, sizeof(t->user), "%s", who.user);
    return 0;
}

static void cw_free(struct cw *cw)
{
    console_detach(&cw->port->console, &cw->reader);
    loop_timer_cancel(&cw->app->loop, &cw->check);
    free(cw);
}

/* We end the stream: close the WebSocket with `code`. */
static void cw_end(struct cw *cw, uint16_t code, const char *reason)
{
    log_info("console %lld: websocket closed (%s)", (long long)cw->port->id, reason);
    ws_close(cw->ws, code, reason);
    cw_free(cw);
}

static struct session *cw_session(struct cw *cw)
{
    return auth_session_find(&cw->app->auth, cw->session_id);
}

static void send_json(struct cw *cw, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text)
        ws_send_text(cw->ws, text);
    free(text);
}

static void notice(struct cw *cw, const char *error)
{
    send_json(cw, json_pack("{s:s, s:s}", "type", "notice", "error", error));
}

/* Sends what the client has not seen, while its queue has room. */
static void pump(struct cw *cw)
{
    struct console *con = &cw->port->console;
    while (ws_queued(cw->ws) < CONSOLE_WS_QUEUE_MAX) {
        const uint8_t *data;
        size_t n = console_peek(con, &cw->reader, &data, CONSOLE_WS_FRAME_MAX);
        if (cw->reader.missed != cw->missed_reported) {
            send_json(cw, json_pack("{s:s, s:I}", "type", "missed", "bytes",
                                    (json_int_t)(cw->reader.missed - cw->missed_reported)));
            cw->missed_reported = cw->reader.missed;
        }
        if (!n || ws_send(cw->ws, true, data, n) < 0)
            break;
        cw->reader.offset += n;
    }
}

static void on_output(struct console_reader *r)
{
    struct cw *cw = r->data;
    if (!cw_session(cw))
        cw_end(cw, WS_POLICY, "session ended");
    else
        pump(cw);
}

static void on_check(struct loop_timer *t)
{
    struct cw *cw = t->data;
    if (!cw_session(cw)) {
        cw_end(cw, WS_POLICY, "session ended");
        return;
    }
    loop_timer_arm(&cw->app->loop, &cw->check, CHECK_MS);
}

static void on_message(void *owner, bool binary, const uint8_t *data, size_t len)
{
    struct cw *cw = owner;
    struct session *s = cw_session(cw);
    if (!s) {
        cw_end(cw, WS_POLICY, "session ended");
        return;
    }
    s->last_used_ms = loop_now_ms(); /* a client's message is activity on its session */
    if (binary) {
        int rc = console_input(&cw->port->console, data, len);
        if (rc == -ENOTCONN)
            notice(cw, "no VM is attached to this port; input not sent");
        else if (rc == -ENOSPC)
            notice(cw, "input queue full; input not sent");
        else if (rc < 0)
            notice(cw, "input not sent");
        return;
    }
    json_t *msg = json_loadb((const char *)data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (type && strcmp(type, "ping") == 0)
        send_json(cw, json_pack("{s:s}", "type", "pong"));
    else
        notice(cw, "unknown message");
    json_decref(msg);
}

static void on_writable(void *owner)
{
    pump(owner);
}

static void on_closed(void *owner)
{
    struct cw *cw = owner;
    log_info("console %lld: websocket closed by the client", (long long)cw->port->id);
    cw_free(cw);
}

static const struct ws_ops cw_ops = {
    .message = on_message, .writable = on_writable, .closed = on_closed};

struct ws_conn *console_ws_start(struct vsc_app *app, const struct console_ws_ticket *t,
                                 const struct ws_transport *tr)
{
    struct port *p = ports_find(&app->ports, t->port_id);
    struct cw *cw = p ? calloc(1, sizeof(*cw)) : NULL;
    if (!cw) {
        tr->release(tr->handle);
        return NULL;
    }
    cw->port = p;
    cw->app = app;
    snprintf(cw->session_id, sizeof(cw->session_id), "%s", t->session_id);
    cw->reader = (struct console_reader){.notify = on_output, .data = cw};
    cw->check = (struct loop_timer){.cb = on_check, .data = cw};
    cw->ws = ws_open(&app->loop, tr, CONSOLE_WS_MSG_MAX, &cw_ops, cw);
    if (!cw->ws) {
        free(cw);
        return NULL;
    }
    console_attach(&p->console, &cw->reader, t->history);
    loop_timer_arm(&app->loop, &cw->check, CHECK_MS);
    log_info("console %lld: websocket opened by '%s'", (long long)p->id, t->user);
    pump(cw);
    return cw->ws;
}

void console_ws_port_closing(struct port *p)
{
    for (struct console_reader *r = p->console.readers, *next; r; r = next) {
        next = r->next;
        if (r->notify == on_output)
            cw_end(r->data, WS_GOING_AWAY, "port freed");
    }
}
