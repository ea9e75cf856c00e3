/* vsc-console: attach a terminal to a VM's serial console served by vscd.
 *
 * Logs in with a Redfish session (or uses VSC_TOKEN), finds the console WebSocket of a VM
 * (by HostName, Name or Id) or of a port (-p), and relays: the terminal in raw mode, typed
 * bytes as binary frames (through the escape machine, escape.h), binary frames to stdout,
 * control messages as "[vsc: ...]" status lines (control.h). One libwebsockets context and
 * its poll loop carry everything: the REST requests (rest.h), the WebSocket, stdin and a
 * signalfd (adopted as raw files), so a signal ends the program through the same cleanup
 * as a detach: terminal restored, WebSocket closed, our session deleted.
 *
 * Exit status: 0 detached, 1 connection or HTTP error (or closed by the server, or a
 * signal), 2 usage, 3 authentication. docs/vsc-console.1 is the manual.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "escape.h"
#include "rest.h"
#include "term.h"

#define EXIT_DETACHED 0
#define EXIT_CONN     1
#define EXIT_USAGE    2
#define EXIT_AUTH     3

#define WS_PROTOCOL "vsc.v1"
#define FD_PROTOCOL "vsc-fd"
#define INPUT_MAX   (64 * 1024) /* typed bytes waiting for the WebSocket */
#define FRAME_MAX   4096        /* input bytes per binary frame */
#define TEXT_MAX    (64 * 1024) /* a control message from the server */
#define CTL_QUEUE   8           /* control messages waiting to be sent */
#define PING_USECS  (20 * LWS_USEC_PER_SEC)
#define DEFAULT_URL "https://127.0.0.1:8443"
#define SYSTEM_CA   "/etc/ssl/certs/ca-certificates.crt"

struct app {
    /* options */
    const char *url_arg;
    const char *target;
    const char *port_id;
    const char *cacert;
    const char *user_arg;
    bool insecure, readonly, quiet, verbose;
    long history;
    int esc_char;

    /* the service */
    struct lws_context *ctx;
    struct rest rest;
    volatile int interrupted; /* a terminating signal came */
    int sigfd;

    /* our session */
    char token[256];
    char session_uri[512];
    bool own_session;

    /* the console */
    char console_uri[512];
    char label[320];
    struct lws *ws;
    struct lws *stdin_wsi;
    bool connected, closed, detach_req, stdin_paused, stdin_eof;
    bool stdin_hup; /* libwebsockets closed its copy of stdin on a hang-up: read it ourselves */
    char conn_error[256];
    int close_code;
    char close_reason[128];
    struct escape esc;
    struct control ctl;
    unsigned char input[INPUT_MAX];
    size_t input_len;
    char ctl_out[CTL_QUEUE][160];
    size_t ctl_head, ctl_count;
    char last_mode_req[16];
    char text[TEXT_MAX];
    size_t text_len;
    bool text_overflow;
    bool at_line_start; /* the last byte written to the terminal ended a line */
    time_t ro_notice_at;
    int exit_code;
};

/* ---- output -------------------------------------------------------------------------- */

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) { /* stdin's O_NONBLOCK is shared with a tty's stdout */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void console_out(struct app *a, const void *buf, size_t n)
{
    if (!n)
        return;
    write_all(STDOUT_FILENO, buf, n);
    a->at_line_start = ((const char *)buf)[n - 1] == '\n';
}

/* A status line "[vsc: ...]" on stderr, on a line of its own, CRLF in raw mode. */
static void status(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status(struct app *a, const char *fmt, ...)
{
    char msg[2048], line[2100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *nl = term_is_raw() ? "\r\n" : "\n";
    int n = snprintf(line, sizeof(line), "%s[vsc: %s]%s", a->at_line_start ? "" : nl, msg, nl);
    if (n > 0)
        write_all(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    a->at_line_start = true;
}

/* Several lines, one status line each. */
static void status_lines(struct app *a, char *text)
{
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        status(a, "%s", l);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "vsc-console: %s\n", msg);
}

/* ---- sending ------------------------------------------------------------------------- */

static void want_write(struct app *a)
{
    if (a->ws)
        lws_callback_on_writable(a->ws);
}

static void queue_control(struct app *a, const char *json)
{
    if (a->ctl_count == CTL_QUEUE) {
        status(a, "too many requests waiting; try again");
        return;
    }
    size_t i = (a->ctl_head + a->ctl_count++) % CTL_QUEUE;
    snprintf(a->ctl_out[i], sizeof(a->ctl_out[i]), "%s", json);
    want_write(a);
}

static void request_mode(struct app *a, const char *mode, bool force)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "{\"type\":\"mode\",\"mode\":\"%s\",\"force\":%s}", mode,
             force ? "true" : "false");
    snprintf(a->last_mode_req, sizeof(a->last_mode_req), "%s", mode);
    if (!a->quiet)
        status(a, "asking for %s%s", strcmp(mode, "free") == 0 ? "free use" : mode,
               force ? " (force)" : "");
    queue_control(a, msg);
}

static void queue_input(struct app *a, const unsigned char *p, size_t n)
{
    if (a->readonly) {
        time_t now = time(NULL);
        if (now - a->ro_notice_at >= 2) {
            a->ro_notice_at = now;
            status(a, "read-only (-r): input not sent");
        }
        return;
    }
    if (n > sizeof(a->input) - a->input_len)
        n = sizeof(a->input) - a->input_len; /* cannot happen: stdin is read only into room */
    memcpy(a->input + a->input_len, p, n);
    a->input_len += n;
    want_write(a);
}

static void detach(struct app *a)
{
    a->detach_req = true;
    if (a->ws)
        want_write(a);
    lws_cancel_service(a->ctx);
}

/* ---- escapes --------------------------------------------------------------------------- */

static void show_help(struct app *a)
{
    char e[8];
    escape_name(a->esc_char, e, sizeof(e));
    status(a, "escapes, typed at the start of a line:");
    status(a, "  %s.  detach                  %s?  this help", e, e);
    status(a, "  %sw  who is attached         %sm  next mode (free, observe-only, private)", e, e);
    status(a, "  %su  free use  %so  observe-only  %sp  private", e, e, e);
    status(a, "  %sf  repeat the last mode request with force (Administrators)", e);
    status(a, "  %s%s  send %s", e, e, e);
}

static void run_escape(struct app *a, enum escape_cmd cmd)
{
    char buf[CONTROL_MAX_CONNS * 160 + 128];
    switch (cmd) {
    case ESC_DETACH:
        if (!a->quiet)
            status(a, "detaching");
        detach(a);
        break;
    case ESC_HELP:
        show_help(a);
        break;
    case ESC_WHO:
        control_who(&a->ctl, buf, sizeof(buf));
        status_lines(a, buf);
        break;
    case ESC_MODE_CYCLE:
        request_mode(a, control_next_mode(a->ctl.mode), false);
        break;
    case ESC_MODE_FREE:
        request_mode(a, "free", false);
        break;
    case ESC_MODE_OBSERVE:
        request_mode(a, "observe", false);
        break;
    case ESC_MODE_PRIVATE:
        request_mode(a, "private", false);
        break;
    case ESC_FORCE:
        if (a->last_mode_req[0])
            request_mode(a, a->last_mode_req, true);
        else
            status(a, "no mode request to force yet (use m, u, o or p first)");
        break;
    case ESC_NONE:
        break;
    }
}

/* Reads typed input once; returns the bytes read, 0 at the end, -1 when none now. */
static ssize_t on_stdin(struct app *a, int fd)
{
    unsigned char buf[FRAME_MAX], send[2 * FRAME_MAX];
    size_t room = sizeof(a->input) - a->input_len;
    size_t want = room / 2 < sizeof(buf) ? room / 2 : sizeof(buf); /* each byte may send 2 */
    if (want == 0) {
        if (a->stdin_wsi)
            lws_rx_flow_control(a->stdin_wsi, 0);
        a->stdin_paused = true;
        return -1;
    }
    ssize_t n = read(fd, buf, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return -1;
    if (n <= 0) { /* end of input: detach, or keep watching with -r */
        unsigned char last[2];
        size_t nlast;
        escape_end(&a->esc, last, &nlast);
        if (nlast)
            queue_input(a, last, nlast); /* fits: want > 0 left room for two */
        if (a->stdin_wsi)
            lws_rx_flow_control(a->stdin_wsi, 0);
        a->stdin_eof = true;
        if (!a->readonly)
            detach(a);
        return 0;
    }
    size_t ns = 0;
    for (ssize_t i = 0; i < n && !a->detach_req; i++) {
        unsigned char out[2];
        size_t nout;
        enum escape_cmd cmd = escape_byte(&a->esc, buf[i], out, &nout);
        memcpy(send + ns, out, nout);
        ns += nout;
        if (cmd != ESC_NONE) {
            queue_input(a, send, ns);
            ns = 0;
            run_escape(a, cmd);
        }
    }
    queue_input(a, send, ns);
    return n;
}

/* After a hang-up: reads what the pipe still holds, as far as there is room, then its end. */
static void drain_hup(struct app *a)
{
    while (a->stdin_hup && !a->stdin_eof && !a->detach_req && a->input_len < sizeof(a->input) / 2 &&
           on_stdin(a, STDIN_FILENO) > 0)
        ;
}

/* ---- signals --------------------------------------------------------------------------- */

static void on_signal(struct app *a)
{
    struct signalfd_siginfo si;
    while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGWINCH)
            continue; /* the protocol carries no window size (vsc-console(1), BUGS) */
        a->interrupted = 1;
        a->exit_code = EXIT_CONN;
        if (a->connected && !a->closed)
            status(a, "%s: detaching", strsignal((int)si.ssi_signo));
        detach(a);
    }
}

/* ---- the WebSocket --------------------------------------------------------------------- */

static void on_text(struct app *a)
{
    char line[512];
    enum control_kind k = control_apply(&a->ctl, a->text, a->text_len, line, sizeof(line));
    switch (k) {
    case CTL_INFO:
        if (!a->quiet && line[0])
            status(a, "%s", line);
        break;
    case CTL_MODE:
    case CTL_NOTICE:
    case CTL_MISSED:
    case CTL_BAD:
        status(a, "%s", line);
        break;
    case CTL_IGNORED:
        break;
    }
}

static void on_receive(struct app *a, struct lws *wsi, const void *in, size_t len)
{
    if (lws_frame_is_binary(wsi)) {
        console_out(a, in, len);
        return;
    }
    if (lws_is_first_fragment(wsi) && a->text_len == 0)
        a->text_overflow = false;
    if (a->text_len + len > sizeof(a->text))
        a->text_overflow = true;
    else {
        memcpy(a->text + a->text_len, in, len);
        a->text_len += len;
    }
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
        if (!a->text_overflow)
            on_text(a);
        a->text_len = 0;
        a->text_overflow = false;
    }
}

/* Sends one frame: a control message first, then typed input; the close when detaching. */
static int on_writeable(struct app *a, struct lws *wsi)
{
    unsigned char buf[LWS_PRE + FRAME_MAX];
    if (a->ctl_count) {
        const char *msg = a->ctl_out[a->ctl_head];
        size_t n = strlen(msg);
        memcpy(buf + LWS_PRE, msg, n);
        a->ctl_head = (a->ctl_head + 1) % CTL_QUEUE;
        a->ctl_count--;
        if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
            return -1;
    } else if (a->input_len) {
        size_t n = a->input_len < FRAME_MAX ? a->input_len : FRAME_MAX;
        memcpy(buf + LWS_PRE, a->input, n);
        if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_BINARY) < (int)n)
            return -1;
        memmove(a->input, a->input + n, a->input_len - n);
        a->input_len -= n;
        if (!a->stdin_eof && a->input_len < sizeof(a->input) / 2) {
            if (a->stdin_hup) {
                drain_hup(a);
            } else if (a->stdin_paused) {
                a->stdin_paused = false;
                lws_rx_flow_control(a->stdin_wsi, 1);
            }
        }
    } else if (a->detach_req) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"detached", 8);
        return -1;
    }
    if (a->ctl_count || a->input_len || a->detach_req)
        lws_callback_on_writable(wsi);
    return 0;
}

static void on_established(struct app *a, struct lws *wsi)
{
    a->connected = true;
    lws_set_timer_usecs(wsi, PING_USECS);
    int raw = term_raw(STDIN_FILENO);
    if (raw < 0 && raw != -ENOTTY)
        status(a, "cannot set the terminal to raw mode: %s", strerror(-raw));
    if (!a->quiet) {
        char e[8];
        escape_name(a->esc_char, e, sizeof(e));
        if (a->esc_char >= 0)
            status(a, "connected to %s%s; %s. detaches, %s? for help", a->label,
                   a->readonly ? " (read-only)" : "", e, e);
        else
            status(a, "connected to %s%s; no escape character", a->label,
                   a->readonly ? " (read-only)" : "");
    }
    /* A copy: libwebsockets closes the descriptor it watches (on a hang-up too), and a pipe
     * may still hold input then. */
    lws_sock_file_fd_type fd = {.filefd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)};
    a->stdin_wsi = fd.filefd < 0
                       ? NULL
                       : lws_adopt_descriptor_vhost(lws_get_vhost(wsi), LWS_ADOPT_RAW_FILE_DESC, fd,
                                                    FD_PROTOCOL, NULL);
    if (!a->stdin_wsi) {
        status(a, "cannot read the terminal");
        a->exit_code = EXIT_CONN;
        detach(a);
    }
    if (a->detach_req) /* a signal came while connecting */
        lws_callback_on_writable(wsi);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct app *a = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = (*p) + len;
        if (lws_add_http_header_by_name(
                wsi, (const unsigned char *)"x-auth-token:", (const unsigned char *)a->token,
                (int)strlen(a->token), p, end))
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(a->conn_error, sizeof(a->conn_error), "%s",
                 in ? (const char *)in : "connection failed");
        a->closed = true;
        a->ws = NULL;
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        on_established(a, wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        on_receive(a, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(a, wsi);
    case LWS_CALLBACK_TIMER:
        queue_control(a, "{\"type\":\"ping\"}");
        lws_set_timer_usecs(wsi, PING_USECS);
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            a->close_code = b[0] << 8 | b[1];
            size_t rl =
                len - 2 < sizeof(a->close_reason) - 1 ? len - 2 : sizeof(a->close_reason) - 1;
            memcpy(a->close_reason, b + 2, rl);
            a->close_reason[rl] = '\0';
            for (char *c = a->close_reason; *c; c++)
                if ((unsigned char)*c < 0x20)
                    *c = '?';
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        a->closed = true;
        a->ws = NULL;
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int fd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct app *a = lws_context_user(lws_get_context(wsi));
    if (reason == LWS_CALLBACK_RAW_RX_FILE) {
        int fd = lws_get_socket_fd(wsi);
        if (fd == a->sigfd)
            on_signal(a);
        else
            (void)on_stdin(a, fd);
        return 0;
    }
    /* libwebsockets closes a raw file that polls as hung up without readable data (a pipe
     * whose writer left, while empty or while we paused reading it) and says only this. */
    if (reason == LWS_CALLBACK_RAW_CLOSE_FILE && wsi == a->stdin_wsi) {
        a->stdin_wsi = NULL;
        if (!a->closed && !a->stdin_eof) {
            a->stdin_hup = true;
            if (a->readonly)
                a->stdin_eof = true; /* -r keeps watching */
            else
                drain_hup(a);
        }
        return 0;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {REST_PROTOCOL, rest_callback, 0, 0, 0, NULL, 0},
    {WS_PROTOCOL, ws_callback, 0, 16384, 0, NULL, 0},
    {FD_PROTOCOL, fd_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- Redfish: session and lookup ------------------------------------------------------- */

/* A failed request's message and exit code: 3 for 401, else 1. */
static int request_failed(struct app *a, const char *what, const struct rest_resp *r)
{
    if (a->interrupted) {
        fail("%s: interrupted", what);
        return EXIT_CONN;
    }
    if (r->status == 0) {
        const char *e = r->error;
        bool tls = strcasestr(e, "tls") || strcasestr(e, "ssl") || strcasestr(e, "cert");
        fail("%s: cannot reach %s: %s%s", what, a->url_arg, e,
             tls ? " (TLS: the service's certificate is not trusted here; give it with "
                   "--cacert FILE, e.g. <state_dir>/tls/cert.pem, or use --insecure)"
                 : "");
        return EXIT_CONN;
    }
    char msg[512];
    rest_error_text(r, msg, sizeof(msg));
    fail("%s: %s", what, msg);
    return r->status == 401 ? EXIT_AUTH : EXIT_CONN;
}

static int get_json(struct app *a, const char *path, const char *what, json_t **out)
{
    struct rest_resp r;
    *out = NULL;
    int rc = rest_request(&a->rest, "GET", path, a->token, NULL, &r);
    if (rc == 0 && r.status == 200) {
        *out = json_loads(r.body ? r.body : "", 0, NULL);
        rest_resp_free(&r);
        if (!*out) {
            fail("%s: the answer to GET %s is not JSON", what, path);
            return EXIT_CONN;
        }
        return 0;
    }
    rc = r.status == 404 ? -404 : request_failed(a, what, &r);
    rest_resp_free(&r);
    return rc;
}

static int login(struct app *a)
{
    const char *env_token = getenv("VSC_TOKEN");
    if (env_token && *env_token) {
        snprintf(a->token, sizeof(a->token), "%s", env_token);
        return 0;
    }
    char user[128], password[256];
    const char *u = a->user_arg ? a->user_arg : getenv("VSC_USER");
    const char *p = getenv("VSC_PASSWORD");
    int rc = 0;
    if (u && *u)
        snprintf(user, sizeof(user), "%s", u);
    else
        rc = term_prompt("User: ", false, user, sizeof(user), a->sigfd);
    if (rc == 0 && p)
        snprintf(password, sizeof(password), "%s", p);
    else if (rc == 0) {
        char prompt[200];
        snprintf(prompt, sizeof(prompt), "Password for %s at %s: ", user, a->url_arg);
        rc = term_prompt(prompt, true, password, sizeof(password), a->sigfd);
    }
    if (rc == -EINTR) {
        fail("interrupted");
        return EXIT_CONN;
    }
    if (rc < 0) {
        fail("no credentials: set VSC_USER and VSC_PASSWORD (or VSC_TOKEN), or run on a "
             "terminal");
        return EXIT_AUTH;
    }
    json_t *body = json_pack("{s:s, s:s}", "UserName", user, "Password", password);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    explicit_bzero(password, sizeof(password));
    struct rest_resp r;
    rc = text
             ? rest_request(&a->rest, "POST", "/redfish/v1/SessionService/Sessions", NULL, text, &r)
             : -1;
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    } else {
        fail("out of memory");
        return EXIT_CONN;
    }
    if (rc == 0 && r.status == 201 && r.token[0]) {
        json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
        const char *id = json_string_value(json_object_get(j, "@odata.id"));
        snprintf(a->token, sizeof(a->token), "%s", r.token);
        snprintf(a->session_uri, sizeof(a->session_uri), "%s", id ? id : "");
        a->own_session = true;
        json_decref(j);
        rest_resp_free(&r);
        return 0;
    }
    rc = request_failed(a, "login", &r);
    if (r.status == 400 || r.status == 403)
        rc = EXIT_AUTH;
    rest_resp_free(&r);
    return rc;
}

static void logout(struct app *a)
{
    if (!a->own_session || !a->session_uri[0])
        return;
    int stop = a->interrupted;
    a->interrupted = 0; /* let the DELETE run */
    struct rest_resp r;
    if (rest_request(&a->rest, "DELETE", a->session_uri, a->token, NULL, &r) < 0 ||
        (r.status != 200 && r.status != 204 && r.status != 401))
        fail("could not delete the session %s: %s", a->session_uri,
             r.status ? "HTTP error" : r.error);
    rest_resp_free(&r);
    a->own_session = false;
    a->interrupted = stop;
}

static bool safe_id(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static int find_port(struct app *a)
{
    char path[160];
    if (!safe_id(a->port_id)) {
        fail("no serial port '%s': not a port Id", a->port_id);
        return EXIT_CONN;
    }
    snprintf(path, sizeof(path), "/redfish/v1/Managers/bmc/SerialInterfaces/%s", a->port_id);
    json_t *j;
    int rc = get_json(a, path, "port", &j);
    if (rc == -404) {
        fail("no serial port '%s' at %s", a->port_id, a->url_arg);
        return EXIT_CONN;
    }
    if (rc)
        return rc;
    json_t *vsc = json_object_get(json_object_get(j, "Oem"), "Vsc");
    const char *uri = json_string_value(json_object_get(vsc, "ConsoleURI"));
    const char *name = json_string_value(json_object_get(j, "Name"));
    if (!uri) {
        fail("serial port '%s' has no console WebSocket", a->port_id);
        json_decref(j);
        return EXIT_CONN;
    }
    snprintf(a->console_uri, sizeof(a->console_uri), "%s", uri);
    snprintf(a->label, sizeof(a->label), "port %s%s%s%s", a->port_id, name ? " (" : "",
             name ? name : "", name ? ")" : "");
    json_decref(j);
    return 0;
}

/* How well a system matches the target: 3 HostName, 2 Name, 1 Id, 0 not. */
static int match_rank(const char *target, json_t *sys)
{
    const char *host = json_string_value(json_object_get(sys, "HostName"));
    const char *name = json_string_value(json_object_get(sys, "Name"));
    const char *id = json_string_value(json_object_get(sys, "Id"));
    if (host && strcasecmp(host, target) == 0)
        return 3;
    if (name && strcmp(name, target) == 0)
        return 2;
    if (id && strcasecmp(id, target) == 0)
        return 1;
    return 0;
}

/* Walks the Systems collection (following nextLink); keeps the best matches. */
static int find_system(struct app *a)
{
    char next[512] = "/redfish/v1/Systems";
    json_t *best = json_array();
    int best_rank = 0, rc = 0;
    while (next[0] && rc == 0) {
        json_t *coll;
        rc = get_json(a, next, "list of VMs", &coll);
        if (rc) {
            rc = rc == -404 ? EXIT_CONN : rc;
            break;
        }
        const char *nl = json_string_value(json_object_get(coll, "Members@odata.nextLink"));
        snprintf(next, sizeof(next), "%s", nl ? nl : "");
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(coll, "Members"), i, m)
        {
            const char *uri = json_string_value(json_object_get(m, "@odata.id"));
            json_t *sys;
            if (!uri || get_json(a, uri, "VM", &sys) != 0)
                continue; /* freed meanwhile */
            int rank = match_rank(a->target, sys);
            if (rank > best_rank) {
                json_array_clear(best);
                best_rank = rank;
            }
            if (rank && rank == best_rank)
                json_array_append(best, sys);
            json_decref(sys);
        }
        json_decref(coll);
    }
    if (rc == 0 && json_array_size(best) == 0) {
        fail("no VM named '%s' (HostName, Name or Id) at %s", a->target, a->url_arg);
        rc = EXIT_CONN;
    } else if (rc == 0 && json_array_size(best) > 1) {
        fail("'%s' names %zu VMs; attach by Id or with -p PORT-ID", a->target,
             json_array_size(best));
        size_t i;
        json_t *s;
        json_array_foreach(best, i, s)
            fprintf(stderr, "  %s  %s\n", json_string_value(json_object_get(s, "Id")),
                    json_string_value(json_object_get(s, "Name")));
        rc = EXIT_CONN;
    } else if (rc == 0) {
        json_t *sys = json_array_get(best, 0);
        json_t *ws = json_object_get(json_object_get(sys, "SerialConsole"), "WebSocket");
        const char *uri = json_string_value(json_object_get(ws, "ConsoleURI"));
        const char *name = json_string_value(json_object_get(sys, "Name"));
        if (!uri || json_is_false(json_object_get(ws, "ServiceEnabled"))) {
            fail("VM '%s' has no console WebSocket", a->target);
            rc = EXIT_CONN;
        } else {
            snprintf(a->console_uri, sizeof(a->console_uri), "%s", uri);
            snprintf(a->label, sizeof(a->label), "%s", name ? name : a->target);
        }
    }
    json_decref(best);
    return rc;
}

/* ---- attaching --------------------------------------------------------------------------- */

/* Why the upgrade was refused: the same request again, read as HTTP, carries the Redfish
 * error. */
static int explain_refusal(struct app *a, const char *path)
{
    struct rest_resp r;
    int rc = EXIT_CONN;
    if (rest_probe_upgrade(&a->rest, path, a->token, &r) == 0 && r.status >= 400) {
        rc = request_failed(a, "console", &r);
    } else {
        fail("console: %s", a->conn_error);
    }
    rest_resp_free(&r);
    return rc;
}

static int attach(struct app *a)
{
    char path[600];
    if (a->history > 0)
        snprintf(path, sizeof(path), "%s%shistory=%ld", a->console_uri,
                 strchr(a->console_uri, '?') ? "&" : "?", a->history);
    else
        snprintf(path, sizeof(path), "%s", a->console_uri);
    struct lws_client_connect_info i = {
        .context = a->ctx,
        .address = a->rest.url.host,
        .port = a->rest.url.port,
        .path = path,
        .host = a->rest.url.host_header,
        .protocol = WS_PROTOCOL,
        .alpn = "http/1.1",
        .ssl_connection = a->rest.url.tls ? a->rest.ssl_flags : 0,
    };
    i.pwsi = &a->ws;
    escape_init(&a->esc, a->esc_char);
    control_init(&a->ctl);
    a->at_line_start = true;
    if (!lws_client_connect_via_info(&i) && !a->closed) {
        fail("console: could not start a connection");
        return EXIT_CONN;
    }
    while (!a->closed)
        if (lws_service(a->ctx, 0) < 0)
            break;
    if (!a->connected) {
        term_restore();
        return a->interrupted ? EXIT_CONN : explain_refusal(a, path);
    }
    if (a->detach_req)
        return a->exit_code;
    if (a->close_code)
        status(a, "the server closed the console: %d%s%s", a->close_code,
               a->close_reason[0] ? " " : "", a->close_reason);
    else
        status(a, "the connection was lost");
    return EXIT_CONN;
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vsc-console [options] HOST-NAME | VM-NAME | VM-ID\n"
            "       vsc-console [options] -p PORT-ID\n"
            "Attach this terminal to a VM's serial console served by vscd.\n\n"
            "  -s, --server URL   the service (default $VSC_URL, else %s)\n"
            "  -p, --port ID      attach to a serial port by its Id\n"
            "  -u, --user USER    log in as USER (default $VSC_USER, else asked)\n"
            "  -e, --escape C     escape character (default &; ^X for a control key; none)\n"
            "  -r, --read-only    never send input\n"
            "  -H, --history N    replay up to N bytes of earlier output on attach\n"
            "  -q, --quiet        no informational status lines\n"
            "  -v, --verbose      libwebsockets' log on stderr\n"
            "      --cacert FILE  trust the certificate(s) in FILE (e.g. the service's\n"
            "                     <state_dir>/tls/cert.pem) instead of the system's CAs\n"
            "      --insecure     accept any certificate (self-signed, other host name)\n"
            "  -h, --help         this help\n\n"
            "Environment: VSC_URL, VSC_USER, VSC_PASSWORD, VSC_TOKEN (a session token).\n"
            "Exit status: 0 detached, 1 connection or HTTP error, 2 usage, 3 authentication.\n"
            "Escapes at a line start: &. detach, &? help. See vsc-console(1).\n",
            DEFAULT_URL);
}

static int parse_args(struct app *a, int argc, char **argv)
{
    enum { OPT_CACERT = 256, OPT_INSECURE };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},
        {"port", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},
        {"escape", required_argument, NULL, 'e'},
        {"read-only", no_argument, NULL, 'r'},
        {"history", required_argument, NULL, 'H'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "s:p:u:e:rH:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            a->url_arg = optarg;
            break;
        case 'p':
            a->port_id = optarg;
            break;
        case 'u':
            a->user_arg = optarg;
            break;
        case 'e':
            a->esc_char = escape_parse(optarg);
            if (a->esc_char == -2) {
                fail("-e: '%s' is not a character, ^X or none", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'r':
            a->readonly = true;
            break;
        case 'H':
            errno = 0;
            a->history = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || a->history < 0) {
                fail("-H: '%s' is not a number of bytes", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'v':
            a->verbose = true;
            break;
        case OPT_CACERT:
            a->cacert = optarg;
            break;
        case OPT_INSECURE:
            a->insecure = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    int left = argc - optind;
    if (a->port_id ? left != 0 : left != 1) {
        fail(a->port_id ? "-p takes no VM name as well" : "which VM? give its host name or name");
        usage(stderr);
        return EXIT_USAGE;
    }
    a->target = a->port_id ? NULL : argv[optind];
    if (!a->url_arg)
        a->url_arg = getenv("VSC_URL") && *getenv("VSC_URL") ? getenv("VSC_URL") : DEFAULT_URL;
    if (rest_url_parse(a->url_arg, &a->rest.url) < 0) {
        fail("'%s' is not a service URL (https://host[:port])", a->url_arg);
        return EXIT_USAGE;
    }
    if (a->cacert && access(a->cacert, R_OK) < 0) {
        fail("--cacert %s: %s", a->cacert, strerror(errno));
        return EXIT_USAGE;
    }
    return 0;
}

static int setup(struct app *a)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGWINCH);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
        (a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        fail("signalfd: %s", strerror(errno));
        return EXIT_CONN;
    }
    lws_set_log_level(a->verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE : 0, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = a;
    info.timeout_secs = 15;
    info.connect_timeout_secs = 10;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (a->cacert)
        info.client_ssl_ca_filepath = a->cacert;
    else if (!a->insecure && access(SYSTEM_CA, R_OK) == 0)
        info.client_ssl_ca_filepath = SYSTEM_CA;
    a->ctx = lws_create_context(&info);
    if (!a->ctx) {
        fail("cannot start libwebsockets (TLS setup failed?)");
        return EXIT_CONN;
    }
    lws_sock_file_fd_type fd = {.filefd = a->sigfd};
    struct lws_vhost *vh = lws_get_vhost_by_name(a->ctx, "default");
    if (!vh || !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd, FD_PROTOCOL, NULL)) {
        fail("cannot watch for signals");
        return EXIT_CONN;
    }
    a->rest.ctx = a->ctx;
    a->rest.stop = &a->interrupted;
    a->rest.ssl_flags = LCCSCF_USE_SSL;
    if (a->insecure)
        a->rest.ssl_flags |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    return 0;
}

int main(int argc, char **argv)
{
    static struct app app; /* large buffers: not on the stack */
    struct app *a = &app;
    a->esc_char = '&';
    a->sigfd = -1;
    int rc = parse_args(a, argc, argv);
    if (rc == 0)
        rc = setup(a);
    if (rc == 0)
        rc = login(a);
    if (rc == 0)
        rc = a->port_id ? find_port(a) : find_system(a);
    if (rc == 0 && a->interrupted)
        rc = EXIT_CONN;
    if (rc == 0)
        rc = attach(a);
    term_restore();
    if (a->ctx) {
        logout(a);
        lws_context_destroy(a->ctx);
    }
    if (a->sigfd >= 0)
        close(a->sigfd);
    explicit_bzero(a->token, sizeof(a->token));
    return rc;
}
