#include "ws.h"

#include "log.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_LINGER_MS 3000 /* how long a closing connection waits for the peer's close */
#define WS_PLAIN_BUF 4096 /* small frames of one loop iteration, sent with one send() */

/* The transport for a plain socket: small writes (a frame header, a console record) are
 * gathered and sent once per loop iteration; large ones go straight to the socket. */
struct plain_io {
    int fd;
    size_t len;
    uint8_t buf[WS_PLAIN_BUF];
};

struct ws_conn {
    struct loop *loop;
    struct loop_watch watch;
    struct loop_timer reaper;   /* frees a dead connection from the top of the loop */
    struct loop_timer kick;     /* reads the bytes the HTTP layer read ahead */
    struct loop_timer linger;   /* closing: give up waiting for the peer */
    struct loop_deferred flush; /* sends what this iteration queued */
    wslay_event_context_ptr ctx;
    struct ws_transport t;
    struct plain_io plain; /* t.io when the HTTP layer gave a plain socket */
    uint8_t *extra;
    size_t extra_len, extra_off;
    const struct ws_ops *ops;
    void *owner; /* NULL once the owner let go */
    bool in_wslay, dead;
};

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
        return -1;
    for (int i = 0; i < 22; i++) {
        if (!strchr(b64, key[i]))
            return -1;
    }
    char buf[24 + sizeof(WS_GUID)];
    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
    uint8_t digest[20];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, 24 + sizeof(WS_GUID) - 1, digest) < 0)
        return -1;
    gnutls_datum_t in = {digest, sizeof(digest)}, enc = {NULL, 0};
    if (gnutls_base64_encode2(&in, &enc) < 0)
        return -1;
    int rc = -1;
    if (enc.size >= WS_ACCEPT_LEN) {
        memcpy(out, enc.data, WS_ACCEPT_LEN);
        out[WS_ACCEPT_LEN] = '\0';
        rc = 0;
    }
    gnutls_free(enc.data);
    return rc;
}

static ssize_t plain_recv(void *io, void *buf, size_t len)
{
    struct plain_io *p = io;
    return recv(p->fd, buf, len, 0);
}

static int plain_flush(void *io)
{
    struct plain_io *p = io;
    while (p->len) {
        ssize_t n = send(p->fd, p->buf, p->len, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -EIO;
        memmove(p->buf, p->buf + n, p->len - (size_t)n);
        p->len -= (size_t)n;
    }
    return 0;
}

static ssize_t plain_send(void *io, const void *data, size_t len)
{
    struct plain_io *p = io;
    if (p->len + len > sizeof(p->buf)) {
        int rc = plain_flush(p);
        if (rc < 0) {
            errno = rc == -EAGAIN ? EAGAIN : EIO;
            return -1;
        }
    }
    if (len >= sizeof(p->buf)) /* nothing buffered now: no reordering */
        return send(p->fd, data, len, MSG_NOSIGNAL);
    memcpy(p->buf + p->len, data, len);
    p->len += len;
    return (ssize_t)len;
}

static const struct ws_io_ops plain_ops = {plain_recv, plain_send, plain_flush};

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct ws_conn *ws = user;
    if (ws->extra_off < ws->extra_len) {
        size_t n = ws->extra_len - ws->extra_off;
        n = n < len ? n : len;
        memcpy(buf, ws->extra + ws->extra_off, n);
        ws->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t n = ws->t.io_ops->recv(ws->t.io, buf, len);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)flags;
    struct ws_conn *ws = user;
    ssize_t n = ws->t.io_ops->send(ws->t.io, data, len);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user)
{
    (void)ctx;
    struct ws_conn *ws = user;
    bool binary = arg->opcode == WSLAY_BINARY_FRAME;
    if ((binary || arg->opcode == WSLAY_TEXT_FRAME) && ws->owner)
        ws->ops->message(ws->owner, binary, arg->msg, arg->msg_length);
}

static void destroy(struct ws_conn *ws)
{
    if (ws->watch.active)
        loop_del(ws->loop, &ws->watch);
    loop_timer_cancel(ws->loop, &ws->reaper);
    loop_timer_cancel(ws->loop, &ws->kick);
    loop_timer_cancel(ws->loop, &ws->linger);
    loop_defer_cancel(ws->loop, &ws->flush);
    wslay_event_context_free(ws->ctx);
    ws->t.release(ws->t.handle);
    free(ws->extra);
    free(ws);
}

/* The connection is over: stop watching it; free it from the top of the loop. */
static void die(struct ws_conn *ws)
{
    if (ws->dead)
        return;
    ws->dead = true;
    if (ws->watch.active)
        loop_del(ws->loop, &ws->watch);
    loop_timer_arm(ws->loop, &ws->reaper, 0);
}

static void on_reaper(struct loop_timer *t)
{
    struct ws_conn *ws = t->data;
    void *owner = ws->owner;
    ws->owner = NULL;
    if (owner)
        ws->ops->closed(owner);
    destroy(ws);
}

/* Bytes the transport accepted but has not written: 0, -EAGAIN, or -EIO. */
static int transport_flush(struct ws_conn *ws)
{
    return ws->t.io_ops->flush(ws->t.io);
}

/* Reads (when `readable`) and writes what wslay wants; updates the epoll interest. */
static void service(struct ws_conn *ws, bool readable)
{
    if (ws->dead || ws->in_wslay)
        return;
    ws->in_wslay = true;
    int rc = 0;
    if (readable && wslay_event_want_read(ws->ctx))
        rc = wslay_event_recv(ws->ctx);
    if (rc == 0 && wslay_event_want_write(ws->ctx))
        rc = wslay_event_send(ws->ctx);
    int pending = rc == 0 ? transport_flush(ws) : 0;
    ws->in_wslay = false;
    bool want_read = wslay_event_want_read(ws->ctx);
    bool want_write = wslay_event_want_write(ws->ctx) || pending == -EAGAIN;
    if (rc != 0 || pending == -EIO || (!want_read && !want_write)) {
        die(ws);
        return;
    }
    uint32_t events = (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0);
    if (events != ws->watch.events)
        loop_mod(ws->loop, &ws->watch, events);
}

/* Sends what was queued; an owner with more to send (a reader behind in its console) is
 * asked again when the queue has drained, as after EPOLLOUT. */
static void on_flush(struct loop_deferred *d)
{
    struct ws_conn *ws = d->data;
    service(ws, false);
    if (!ws->dead && ws->owner && !(ws->watch.events & EPOLLOUT))
        ws->ops->writable(ws->owner);
}

static int on_ready(struct loop_watch *w, uint32_t events)
{
    struct ws_conn *ws = w->data;
    service(ws, events & (EPOLLIN | EPOLLHUP | EPOLLERR));
    if (!ws->dead && (events & EPOLLOUT) && ws->owner)
        ws->ops->writable(ws->owner);
    return LOOP_OK;
}

static void on_kick(struct loop_timer *t)
{
    service(t->data, true);
}

static void on_linger(struct loop_timer *t)
{
    die(t->data);
}

struct ws_conn *ws_open(struct loop *loop, const struct ws_transport *t, size_t max_msg,
                        const struct ws_ops *ops, void *owner)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = recv_cb, .send_callback = send_cb, .on_msg_recv_callback = on_msg};
    struct ws_conn *ws = calloc(1, sizeof(*ws));
    if (!ws) {
        t->release(t->handle);
        return NULL;
    }
    ws->loop = loop;
    ws->t = *t;
    if (!ws->t.io_ops) {
        ws->plain.fd = t->fd;
        ws->t.io_ops = &plain_ops;
        ws->t.io = &ws->plain;
    }
    ws->ops = ops;
    ws->owner = owner;
    ws->reaper = (struct loop_timer){.cb = on_reaper, .data = ws};
    ws->kick = (struct loop_timer){.cb = on_kick, .data = ws};
    ws->linger = (struct loop_timer){.cb = on_linger, .data = ws};
    ws->flush = (struct loop_deferred){.cb = on_flush, .data = ws};
    ws->watch = (struct loop_watch){.fd = t->fd, .events = EPOLLIN, .cb = on_ready, .data = ws};
    int fl = fcntl(t->fd, F_GETFL);
    if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        goto fail;
    if (t->extra_len) {
        ws->extra = malloc(t->extra_len);
        if (!ws->extra)
            goto fail;
        memcpy(ws->extra, t->extra, t->extra_len);
        ws->extra_len = t->extra_len;
    }
    ws->t.extra = NULL;
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0) {
        ws->ctx = NULL;
        goto fail;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_msg);
    if (loop_add(loop, &ws->watch) < 0)
        goto fail;
    if (ws->extra_len)
        loop_timer_arm(loop, &ws->kick, 0);
    loop_defer(loop, &ws->flush); /* the transport may hold bytes already (the 101 answer) */
    return ws;
fail:
    log_warn("websocket: cannot take over the connection");
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    free(ws->extra);
    t->release(t->handle);
    free(ws);
    return NULL;
}

int ws_send(struct ws_conn *ws, bool binary, const void *data, size_t len)
{
    if (ws->dead || wslay_event_get_close_sent(ws->ctx))
        return -EPIPE;
    struct wslay_event_msg msg = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len};
    int rc = wslay_event_queue_msg(ws->ctx, &msg);
    if (rc != 0)
        return rc == WSLAY_ERR_NOMEM ? -ENOMEM : -EPIPE;
    loop_defer(ws->loop, &ws->flush);
    return 0;
}

int ws_send_text(struct ws_conn *ws, const char *text)
{
    return ws_send(ws, false, text, strlen(text));
}

size_t ws_queued(const struct ws_conn *ws)
{
    return wslay_event_get_queued_msg_length(ws->ctx);
}

void ws_close(struct ws_conn *ws, uint16_t code, const char *reason)
{
    ws->owner = NULL;
    if (ws->dead)
        return;
    size_t rlen = reason ? strlen(reason) : 0;
    if (wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, rlen) != 0) {
        die(ws);
        return;
    }
    loop_timer_arm(ws->loop, &ws->linger, WS_LINGER_MS);
    service(ws, false);
}

void ws_abort(struct ws_conn *ws, uint16_t code)
{
    void *owner = ws->owner;
    ws->owner = NULL;
    if (owner)
        ws->ops->closed(owner);
    if (!ws->dead && !ws->in_wslay &&
        wslay_event_queue_close(ws->ctx, code, (const uint8_t *)"", 0) == 0) {
        wslay_event_send(ws->ctx); /* best effort: the service is going away */
        transport_flush(ws);
    }
    destroy(ws);
}
