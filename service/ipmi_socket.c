#include "ipmi_socket.h"

#include "app.h"
#include "ipmi_serve.h"
#include "log.h"
#include "resources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LEN_BYTES 2   /* the frame's little-endian length */
#define REQ_HDR   4   /* netfn, cmd, transport, response max */
#define RESP_MAX  256 /* cc + data; the LAN limit (160) is what ipmi_oem answers at most */

struct ipmi_client {
    int fd;
    struct loop_watch watch;
    struct loop_timer idle;
    struct ipmi_socket *owner;
    struct ipmi_client *next;
    uint8_t in[LEN_BYTES + IPMI_SOCKET_FRAME_MAX]; /* at most one whole request */
    size_t in_len;
    uint8_t out[LEN_BYTES + RESP_MAX]; /* one response; no reading while it is pending */
    size_t out_len, out_sent;
};

struct ipmi_socket {
    struct vsc_app *app;
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct loop_watch watch;
    struct ipmi_client *clients;
    int nclients;
};

static void client_close(struct ipmi_client *c)
{
    struct ipmi_socket *s = c->owner;
    loop_del(&s->app->loop, &c->watch);
    loop_timer_cancel(&s->app->loop, &c->idle);
    close(c->fd);
    for (struct ipmi_client **pp = &s->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    s->nclients--;
    free(c);
}

static void on_idle(struct loop_timer *t)
{
    log_debug("ipmi socket: closing an idle connection");
    client_close(t->data);
}

/* Runs one request frame (netfn, cmd, transport, response max, data) into c->out; -1 when
 * it is garbage. */
static int serve_frame(struct ipmi_client *c, const uint8_t *frame, size_t len)
{
    uint8_t netfn = frame[0], cmd = frame[1], transport = frame[2];
    if (transport > IPMI_TRANSPORT_LAN || netfn > 0x3F)
        return -1;
    /* The front end's own buffer may be smaller than the transport's limit (ipmi_sim's is
     * 36 bytes): the codec then lists fewer ports and `get` pages, as over IPMB. */
    size_t resp_max = frame[3] ? frame[3] : RESP_MAX;
    const struct ipmi_origin from = {
        .client = "ipmi_socket", .target = MANAGER_URI, .via = c->owner->path};
    size_t n = ipmi_serve(c->owner->app, &from, (enum ipmi_transport)transport, netfn, cmd,
                          frame + REQ_HDR, len - REQ_HDR, c->out + LEN_BYTES, resp_max);
    c->out[0] = (uint8_t)(n & 0xFF);
    c->out[1] = (uint8_t)(n >> 8);
    c->out_len = LEN_BYTES + n;
    c->out_sent = 0;
    return 0;
}

/* Serves the complete frame at the head of c->in, if there is one and no response is
 * pending. Returns -1 when the connection must close (a bad length, garbage). */
static int serve_buffered(struct ipmi_client *c)
{
    if (c->out_len || c->in_len < LEN_BYTES)
        return 0;
    size_t len = (size_t)c->in[0] | (size_t)c->in[1] << 8;
    if (len < REQ_HDR || len > IPMI_SOCKET_FRAME_MAX) {
        log_warn("ipmi socket: a frame of %zu bytes (%d to %d allowed); closing the connection",
                 len, REQ_HDR, IPMI_SOCKET_FRAME_MAX);
        return -1;
    }
    if (c->in_len < LEN_BYTES + len)
        return 0;
    if (serve_frame(c, c->in + LEN_BYTES, len) < 0) {
        log_warn("ipmi socket: not a request (netfn %02X, transport %u); closing the connection",
                 c->in[LEN_BYTES], c->in[LEN_BYTES + 2]);
        return -1;
    }
    c->in_len -= LEN_BYTES + len;
    memmove(c->in, c->in + LEN_BYTES + len, c->in_len);
    loop_timer_arm(&c->owner->app->loop, &c->idle, IPMI_SOCKET_IDLE_MS);
    return 0;
}

/* Sends what is left of the pending response; -1 when the peer is gone. */
static int flush_output(struct ipmi_client *c)
{
    while (c->out_sent < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->out_sent += (size_t)w;
    }
    c->out_len = c->out_sent = 0;
    return 0;
}

static int read_input(struct ipmi_client *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    if (n > 0)
        c->in_len += (size_t)n;
    return 0;
}

/* Serve and send until a response waits for the peer or no whole frame is left; then
 * watch for writability (not reading meanwhile: the buffers stay bounded) or for input. */
static int pump(struct ipmi_client *c)
{
    for (;;) {
        if (flush_output(c) < 0)
            return -1;
        if (c->out_len)
            break;
        size_t before = c->in_len;
        if (serve_buffered(c) < 0)
            return -1;
        if (!c->out_len && c->in_len == before)
            break;
    }
    uint32_t want = c->out_len ? EPOLLOUT : EPOLLIN;
    if (want != c->watch.events)
        loop_mod(&c->owner->app->loop, &c->watch, want);
    return 0;
}

static int on_client(struct loop_watch *w, uint32_t events)
{
    struct ipmi_client *c = w->data;
    bool can_read = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->out_len;
    if ((can_read && read_input(c) < 0) || pump(c) < 0)
        client_close(c);
    return LOOP_OK;
}

static int on_accept(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct ipmi_socket *s = w->data;
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return LOOP_OK;
    struct ipmi_client *c = s->nclients < IPMI_SOCKET_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        log_warn("ipmi socket: %d connections open; refusing another", s->nclients);
        close(fd); /* the front end sees the end at once and answers its own error */
        return LOOP_OK;
    }
    c->fd = fd;
    c->owner = s;
    c->watch = (struct loop_watch){.fd = fd, .events = EPOLLIN, .cb = on_client, .data = c};
    c->idle = (struct loop_timer){.cb = on_idle, .data = c};
    if (loop_add(&s->app->loop, &c->watch) < 0) {
        close(fd);
        free(c);
        return LOOP_OK;
    }
    loop_timer_arm(&s->app->loop, &c->idle, IPMI_SOCKET_IDLE_MS);
    c->next = s->clients;
    s->clients = c;
    s->nclients++;
    return LOOP_OK;
}

/* A socket file left by a vscd that did not exit cleanly is removed; a live socket (some
 * process accepts there) or anything that is not a socket is left alone: an error. */
static int clear_stale(const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return -errno;
    int live = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
    close(probe);
    if (live)
        return -EADDRINUSE;
    return unlink(sa->sun_path) < 0 ? -errno : 0;
}

static int listen_at(struct ipmi_socket *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, s->path); /* config.c bounds the setting to sun_path */
    int rc = clear_stale(&sa);
    if (rc < 0)
        return rc;
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -errno;
    /* umask 0077 (main.c) already keeps others out between bind and chmod. */
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    if (chmod(s->path, 0600) < 0 || listen(s->fd, IPMI_SOCKET_MAX_CLIENTS) < 0) {
        rc = -errno;
        unlink(s->path);
        return rc;
    }
    s->watch = (struct loop_watch){.fd = s->fd, .events = EPOLLIN, .cb = on_accept, .data = s};
    rc = loop_add(&s->app->loop, &s->watch);
    if (rc < 0)
        unlink(s->path);
    return rc;
}

int ipmi_socket_open(struct vsc_app *app, struct ipmi_socket **out)
{
    *out = NULL;
    if (!app->cfg.ipmi_socket[0])
        return 0;
    struct ipmi_socket *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->app = app;
    s->fd = -1;
    snprintf(s->path, sizeof(s->path), "%s", app->cfg.ipmi_socket);
    int rc = listen_at(s);
    if (rc < 0) {
        log_error("ipmi_socket %s: %s", s->path,
                  rc == -EADDRINUSE ? "another process listens there"
                  : rc == -EEXIST   ? "exists and is not a socket"
                                    : strerror(-rc));
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return rc;
    }
    log_info("IPMI OEM requests accepted on %s", s->path);
    *out = s;
    return 0;
}

void ipmi_socket_close(struct ipmi_socket *s)
{
    if (!s)
        return;
    while (s->clients)
        client_close(s->clients);
    loop_del(&s->app->loop, &s->watch);
    close(s->fd);
    unlink(s->path);
    free(s);
}
