#include "console_ws.h"

#include "app.h"
#include "audit.h"
#include "base_registry.h"
#include "db_accounts.h"
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
#include <time.h>

#define CHECK_MS        1000  /* how often a console checks that its session still exists */
#define AUDIT_INPUT_MS  60000 /* input is audited at most this long after it was typed */
#define AUDIT_INPUT_MAX 256   /* input bytes per audit entry (audit_console_input): escaped, fits */

struct cw {
    struct console_reader reader; /* reader.user and reader.rights: who this is */
    struct ws_conn *ws;
    struct port *port;
    struct vsc_app *app;
    char session_id[SESSION_ID_LEN + 1];
    uint64_t id; /* the connection's Id, unique while vscd runs */
    enum role role;
    int64_t since; /* unix seconds */
    uint64_t missed_reported;
    uint64_t stuck_since_ms; /* its queue was full and it read nothing since; 0: not */
    bool overflow;           /* control messages piled up past the slack: drop it */
    struct loop_timer check;
    char client[64];
    uint64_t input_total;    /* bytes this connection sent to the VM */
    uint64_t input_unlogged; /* ... not yet in the audit trail */
    uint64_t input_since_ms; /* when the first of those was sent */
    uint8_t *input_copy;     /* with audit_console_input: those bytes (AUDIT_INPUT_MAX) */
    size_t input_copy_len;
};

static uint64_t next_id = 1;

static void on_output(struct console_reader *r);

static struct cw *cw_of(const struct console_reader *r)
{
    return r->notify == on_output ? r->data : NULL;
}

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

/*
 * Same origin: the Origin's host[:port] is the Host header (RFC 6454 origins; the check
 * that stops another site's page from opening a console with the browser's session).
 * The scheme may be http or https: the port serves one of them only, so a page from
 * this host:port can only be ours, and common tools (Python's websocket-client, its
 * wsdump) send "http://host:port" even over TLS.
 */
static bool same_origin(const char *origin, const char *host)
{
    size_t n = strncasecmp(origin, "https://", 8) == 0  ? 8
               : strncasecmp(origin, "http://", 7) == 0 ? 7
                                                        : 0;
    return host && n && strcasecmp(origin + n, host) == 0;
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
static const char *ticket_token(struct vsc_app *app, const char *port_id, const char *ticket)
{
    char session_id[SESSION_ID_LEN + 1];
    if (!ticket || !*ticket || !port_id || !rf_canonical_id(port_id))
        return "";
    if (console_ticket_redeem(&app->tickets, ticket, strtoll(port_id, NULL, 10), loop_now_ms(),
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
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return -1;
    *out = strtoull(s, NULL, 10); /* saturates: past the ring is the whole ring anyway */
    return 0;
}

int console_ws_admit(struct vsc_app *app, const struct console_ws_request *in,
                     struct console_ws_ticket *t, struct rf_response *r)
{
    memset(t, 0, sizeof(*t));
    char norm[1024];
    struct router_match m;
    router_normalize(in->path, norm, sizeof(norm));
    bool routed = router_find(norm, HTTP_GET, &m) == ROUTER_FOUND; /* refused below, after 401 */
    char token[SECRET_TOKEN_LEN + 8], ticket[SECRET_TOKEN_LEN + 8];
    parse_protocols(in->protocols, &t->protocol_v1, token, ticket, sizeof(token));
    const char *cred = in->x_auth_token && *in->x_auth_token ? in->x_auth_token : token;
    if (!*cred)
        cred = ticket_token(app, routed ? m.params[1] : NULL, in->ticket ? in->ticket : ticket);
    struct rf_identity who = {0};
    /* Tokens only: a session, never a password per connection (and no worker wait). */
    if (!*cred || auth_request(&app->auth, NULL, NULL, cred, in->tls, &who) != AUTH_OK ||
        !who.session) {
        rf_error(r, 401, msg_no_valid_session());
        return -1;
    }
    if (in->origin && !same_origin(in->origin, in->host)) {
        rf_error(r, 403, msg_access_denied(in->origin));
        return -1;
    }
    if (!routed) {
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
    if (!in->connection_upgrade) {
        rf_error(r, 400, msg_header_invalid("Connection")); /* no handshake (RFC 6455 4.2.1) */
        return -1;
    }
    if (!in->version || strcmp(in->version, "13") != 0) {
        rf_set_header(r, "Sec-WebSocket-Version", "13"); /* ours (RFC 6455 4.4) */
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
    snprintf(t->client, sizeof(t->client), "%s", in->client_ip ? in->client_ip : "");
    return 0;
}

static void send_json(struct cw *cw, json_t *msg);
static void announce_attached(struct cw *cw, const char *event);

static void port_uri_of(const struct cw *cw, char *out, size_t outsz)
{
    rf_port_uri(cw->port, out, outsz);
}

/* Writes the input not yet audited as one entry (its count; its bytes when configured). */
static void audit_input(struct cw *cw)
{
    if (!cw->input_unlogged)
        return;
    char uri[128], text[1536] = ""; /* the audit detail holds 2 KiB */
    port_uri_of(cw, uri, sizeof(uri));
    if (cw->input_copy)
        audit_escape(cw->input_copy, cw->input_copy_len, text, sizeof(text));
    audit(cw->app, AUDIT_CONSOLE_INPUT, cw->reader.user, cw->client, uri,
          "connection %llu sent %llu byte(s)%s%s%s", (unsigned long long)cw->id,
          (unsigned long long)cw->input_unlogged, cw->input_copy ? ": \"" : "", text,
          cw->input_copy ? "\"" : "");
    cw->input_unlogged = 0;
    cw->input_copy_len = 0;
}

/* Counts input the VM accepted; audits it when a minute passed or the copy is full. */
static void note_input(struct cw *cw, const uint8_t *data, size_t len)
{
    if (cw->app->cfg.audit_console_input && !cw->input_copy)
        cw->input_copy = malloc(AUDIT_INPUT_MAX);
    while (len) {
        if (!cw->input_unlogged)
            cw->input_since_ms = loop_now_ms();
        size_t take = len;
        if (cw->input_copy) {
            take = len < AUDIT_INPUT_MAX - cw->input_copy_len
                       ? len
                       : AUDIT_INPUT_MAX - cw->input_copy_len;
            memcpy(cw->input_copy + cw->input_copy_len, data, take);
            cw->input_copy_len += take;
        }
        cw->input_unlogged += take;
        cw->input_total += take;
        data += take;
        len -= take;
        if (cw->input_copy && cw->input_copy_len == AUDIT_INPUT_MAX)
            audit_input(cw);
    }
}

static void cw_free(struct cw *cw)
{
    char uri[128];
    audit_input(cw);
    port_uri_of(cw, uri, sizeof(uri));
    audit(cw->app, AUDIT_CONSOLE_DETACH, cw->reader.user, cw->client, uri,
          "connection %llu closed after %lld s; %llu byte(s) of input", (unsigned long long)cw->id,
          (long long)(time(NULL) - cw->since), (unsigned long long)cw->input_total);
    free(cw->input_copy);
    console_detach(&cw->port->console, &cw->reader);
    loop_timer_cancel(&cw->app->loop, &cw->check);
    announce_attached(cw, "detach");
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
    if (ws_queued(cw->ws) >= CONSOLE_WS_QUEUE_MAX + CONSOLE_WS_CONTROL_SLACK) {
        /* Never grow without bound (a client that sends and never reads): it is dropped
         * from on_check(), at the end of this loop iteration, not here in some caller's
         * walk over the console's readers. */
        json_decref(msg);
        if (!cw->overflow) {
            cw->overflow = true;
            loop_timer_arm(&cw->app->loop, &cw->check, 0);
        }
        return;
    }
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

/* Re-reads the connection's rights (a rule, or the account's role or name, may have
 * changed: user rules name the account by its current name, as the session does). */
static uint32_t cw_refresh_rights(struct cw *cw)
{
    struct session *s = cw_session(cw);
    if (s)
        cw->role = s->role;
    cw->reader.rights = port_rights(cw->app, cw->port->id, s ? s->user : cw->reader.user, cw->role);
    return cw->reader.rights;
}

static json_t *cw_json(const struct cw *cw)
{
    char id[24], since[32];
    struct tm tm;
    time_t t = (time_t)cw->since;
    gmtime_r(&t, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(id, sizeof(id), "%llu", (unsigned long long)cw->id);
    const struct console *c = &cw->port->console;
    bool interactive =
        console_may_input(c, cw->reader.user, cw->reader.rights, cw->reader.local) == 0;
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "Id", id, "UserName", cw->reader.user,
                     "Role", role_name(cw->role), "Since", since, "Interactive", interactive,
                     "ReceivesOutput", console_reader_sees(c, &cw->reader));
}

/* The port's mode as a `mode` message. `reason` NULL: the last change's reason. The greeting
 * passes "current": it tells the newcomer how things stand, not a change, and clients
 * (vsc-console, the dashboard) tell the two apart by it. */
static json_t *mode_json(const struct console *c, const char *reason)
{
    if (!reason)
        reason = c->reason ? c->reason : "current";
    json_t *m = json_pack("{s:s, s:s, s:b, s:s}", "type", "mode", "mode",
                          console_mode_name(c->mode), "forced", c->forced, "reason", reason);
    json_object_set_new(m, "holder", c->holder[0] ? json_string(c->holder) : json_null());
    json_object_set_new(m, "by", c->changed_by[0] ? json_string(c->changed_by) : json_null());
    return m;
}

/* The port's mode changed: every connection is told (and its rights re-read). */
static void on_mode(struct console_reader *r)
{
    struct cw *cw = r->data;
    cw_refresh_rights(cw);
    const struct console *c = &cw->port->console;
    send_json(cw, mode_json(c, NULL));
    if (c->mode == CONSOLE_PRIVATE && !console_reader_sees(c, r)) {
        char text[160];
        snprintf(text, sizeof(text), "port is private to '%s'; output is hidden", c->holder);
        notice(cw, text);
    }
}

/* Tells every other connection on the port that `cw` came or went. */
static void announce_attached(struct cw *cw, const char *event)
{
    json_t *who = cw_json(cw);
    for (struct console_reader *r = cw->port->console.readers; r; r = r->next) {
        struct cw *o = cw_of(r);
        if (o && o != cw)
            send_json(o, json_pack("{s:s, s:s, s:O}", "type", "attached", "event", event,
                                   "connection", who));
    }
    json_decref(who);
}

json_t *console_ws_connections(const struct port *p)
{
    json_t *list = json_array();
    for (const struct console_reader *r = p->console.readers; r; r = r->next) {
        struct cw *cw = cw_of(r);
        if (cw)
            json_array_append_new(list, cw_json(cw));
    }
    return list;
}

static struct cw *find_cw(struct port *p, uint64_t id)
{
    for (struct console_reader *r = p->console.readers; r; r = r->next) {
        struct cw *cw = cw_of(r);
        if (cw && cw->id == id)
            return cw;
    }
    return NULL;
}

json_t *console_ws_connection(struct port *p, uint64_t id)
{
    struct cw *cw = find_cw(p, id);
    return cw ? cw_json(cw) : NULL;
}

const char *console_ws_connection_user(struct port *p, uint64_t id)
{
    struct cw *cw = find_cw(p, id);
    return cw ? cw->reader.user : NULL;
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
    /* The soft limit is the ring (skip ahead, say how much); the hard limit is time: a
     * client whose queue stays full, reading nothing, is dropped by on_check(). Any
     * drain brings us back here below the limit and clears the clock. */
    if (ws_queued(cw->ws) < CONSOLE_WS_QUEUE_MAX)
        cw->stuck_since_ms = 0;
    else if (!cw->stuck_since_ms)
        cw->stuck_since_ms = loop_now_ms();
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
    /* Past the slack without a message of ours: ws.c's own answers (pongs) piled up. */
    if (ws_queued(cw->ws) >= CONSOLE_WS_QUEUE_MAX + CONSOLE_WS_CONTROL_SLACK)
        cw->overflow = true;
    uint64_t limit_ms = (uint64_t)cw->app->cfg.console_stall_timeout * 1000;
    bool stalled = cw->stuck_since_ms && loop_now_ms() - cw->stuck_since_ms >= limit_ms;
    if (stalled || cw->overflow) {
        cw->port->console.slow_readers_dropped++;
        if (cw->overflow)
            log_warn("console %lld: dropping '%s' (connection %llu): control messages queued "
                     "past %d KiB (it sends without reading)",
                     (long long)cw->port->id, cw->reader.user, (unsigned long long)cw->id,
                     (CONSOLE_WS_QUEUE_MAX + CONSOLE_WS_CONTROL_SLACK) / 1024);
        else
            log_warn("console %lld: dropping '%s' (connection %llu): read nothing for %lld s "
                     "with a full queue",
                     (long long)cw->port->id, cw->reader.user, (unsigned long long)cw->id,
                     (long long)cw->app->cfg.console_stall_timeout);
        cw_end(cw, WS_POLICY, "too slow");
        return;
    }
    if (cw->input_unlogged && loop_now_ms() - cw->input_since_ms >= AUDIT_INPUT_MS)
        audit_input(cw);
    loop_timer_arm(&cw->app->loop, &cw->check, CHECK_MS);
}

const char *console_mode_refusal(int rc)
{
    switch (rc) {
    case -EPERM:
        return "not allowed: this mode (or force) needs a right you do not have on this port";
    case -EBUSY:
        return "another user holds the mode; send force to take it over (Administrators)";
    default:
        return "mode not changed";
    }
}

void console_ws_control_parse(const uint8_t *data, size_t len, struct console_ws_control *out)
{
    *out = (struct console_ws_control){.type = CONSOLE_WS_CONTROL_UNKNOWN};
    json_t *msg = json_loadb((const char *)data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (type && strcmp(type, "ping") == 0) {
        out->type = CONSOLE_WS_CONTROL_PING;
    } else if (type && strcmp(type, "mode") == 0) {
        const json_t *force = json_object_get(msg, "force");
        if (console_mode_parse(json_string_value(json_object_get(msg, "mode")), false, &out->mode) <
                0 ||
            (force && !json_is_boolean(force))) {
            out->type = CONSOLE_WS_CONTROL_BAD_MODE;
        } else {
            out->type = CONSOLE_WS_CONTROL_MODE;
            out->force = json_is_true(force);
        }
    }
    json_decref(msg);
}

static void mode_request(struct cw *cw, enum console_mode mode, bool force)
{
    cw->port->mode_client = cw->client;
    int rc =
        console_set_mode(&cw->port->console, mode, cw->reader.user, cw_refresh_rights(cw), force);
    cw->port->mode_client = NULL;
    if (rc < 0)
        notice(cw, console_mode_refusal(rc));
    else if (rc == 0)
        send_json(cw, mode_json(&cw->port->console, NULL)); /* already so: this client is told */
    else
        log_info("console %lld: mode %s by '%s'%s", (long long)cw->port->id,
                 console_mode_name(mode), cw->reader.user,
                 cw->port->console.forced ? " (forced)" : "");
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
        struct console *c = &cw->port->console;
        int rc = console_send_input(c, cw->reader.user, cw_refresh_rights(cw), false, data, len);
        char text[160];
        if (rc < 0) {
            notice(cw, console_refusal_text(rc, c, text, sizeof(text)));
            return;
        }
        note_input(cw, data, len);
        ws_interactive(cw->ws); /* its echo comes next */
        return;
    }
    struct console_ws_control ctl;
    console_ws_control_parse(data, len, &ctl);
    switch (ctl.type) {
    case CONSOLE_WS_CONTROL_PING:
        send_json(cw, json_pack("{s:s}", "type", "pong"));
        break;
    case CONSOLE_WS_CONTROL_MODE:
        mode_request(cw, ctl.mode, ctl.force);
        break;
    case CONSOLE_WS_CONTROL_BAD_MODE:
        notice(cw, "bad mode message: mode must be free, observe or private; force a boolean");
        break;
    case CONSOLE_WS_CONTROL_UNKNOWN:
        notice(cw, "unknown message");
        break;
    }
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
    cw->reader = (struct console_reader){.notify = on_output, .mode = on_mode, .data = cw};
    snprintf(cw->reader.user, sizeof(cw->reader.user), "%s", t->user);
    cw->id = next_id++;
    cw->since = (int64_t)time(NULL);
    snprintf(cw->client, sizeof(cw->client), "%s", t->client);
    cw->role = ROLE_NONE;
    cw_refresh_rights(cw);
    cw->check = (struct loop_timer){.cb = on_check, .data = cw};
    cw->ws = ws_open(&app->loop, tr, CONSOLE_WS_MSG_MAX, &cw_ops, cw);
    if (!cw->ws) {
        free(cw);
        return NULL;
    }
    console_attach(&p->console, &cw->reader, t->history);
    loop_timer_arm(&app->loop, &cw->check, CHECK_MS);
    log_info("console %lld: websocket %llu opened by '%s'", (long long)p->id,
             (unsigned long long)cw->id, t->user);
    char uri[128];
    port_uri_of(cw, uri, sizeof(uri));
    audit(app, AUDIT_CONSOLE_ATTACH, t->user, t->client, uri, "connection %llu opened%s",
          (unsigned long long)cw->id, t->history ? " with history" : "");
    /* The newcomer learns who it is, the mode and who is attached; the others learn of it. */
    json_t *hello = json_pack("{s:s, s:o, s:o}", "type", "hello", "connection", cw_json(cw),
                              "attached", console_ws_connections(p));
    send_json(cw, hello);
    send_json(cw, mode_json(&p->console, "current"));
    announce_attached(cw, "attach");
    pump(cw);
    return cw->ws;
}

/* A holder demoted (an Operator made ReadOnly) or denied by a rule would keep the port to
 * itself with no right to: everyone else locked out of typing by a mode nobody may hold. */
static void release_unheld_mode(struct port *p, const char *by)
{
    struct console *c = &p->console;
    if (c->mode == CONSOLE_FREE)
        return;
    struct account a;
    if (db_account_find(&p->registry->app->db, c->holder, &a) < 0)
        return; /* a deleted holder's mode went with the account (console_user_renamed) */
    uint32_t need = c->mode == CONSOLE_PRIVATE ? PORT_RIGHT_PRIVATE : PORT_RIGHT_OBSERVE;
    if (port_rights(p->registry->app, p->id, a.user, a.role) & need)
        return;
    log_info("console %lld: '%s' may no longer hold %s", (long long)p->id, c->holder,
             console_mode_name(c->mode));
    console_holder_lost_right(c, by);
}

void console_ws_rights_changed(struct ports *ps, const char *by)
{
    for (struct port *p = ps->ports; p; p = p->next) {
        release_unheld_mode(p, by);
        for (struct console_reader *r = p->console.readers, *next; r; r = next) {
            next = r->next;
            if (r->notify != on_output || (cw_refresh_rights(r->data) & PORT_RIGHT_WATCH))
                continue;
            log_info("console %lld: '%s' may no longer watch", (long long)p->id, r->user);
            cw_end(r->data, WS_POLICY, "access revoked");
        }
    }
}

void console_ws_port_closing(struct port *p)
{
    for (struct console_reader *r = p->console.readers, *next; r; r = next) {
        next = r->next;
        if (r->notify == on_output)
            cw_end(r->data, WS_GOING_AWAY, "port freed");
    }
}

int console_ws_disconnect(struct port *p, uint64_t id, const char *by)
{
    struct cw *cw = find_cw(p, id);
    if (!cw)
        return -ENOENT;
    char reason[120];
    snprintf(reason, sizeof(reason), "disconnected by %s", by);
    cw_end(cw, WS_POLICY, reason);
    return 0;
}
