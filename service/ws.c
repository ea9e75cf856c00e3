#include "ws.h"

#include "grow.h"
#include "log.h"
#include "loop.h"
#include "send_batch.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_LINGER_MS 3000 /* how long a closing connection waits for the peer's close */
#define WS_OUT_KEEP  4096 /* an output buffer this large or smaller is kept once drained */
/* Bytes read from one peer per turn of the loop: a client that sends faster than we take
 * its frames must not keep the loop (every other connection) waiting. */
#define WS_READ_BUDGET (64 * 1024)
/* No reading while this much waits for the peer: what wslay answers by itself (pongs)
 * cannot pile up behind a client that sends and never reads. Above what an owner queues
 * (console_ws.h: 256 + 64 KiB), so the owner sees such a client first. */
#define WS_READ_PAUSE (1024 * 1024)

/* Bytes on their way out, in order: data frames that ws_send() encodes itself and what
 * wslay writes (control frames); over TLS, `out` is sealed into `wire` at the flush. One
 * loop iteration's bytes leave with one send(), which joins the loop's batch
 * (send_batch.h). */
struct outbuf {
    uint8_t *data;
    size_t off, len, cap; /* data[off..len) waits */
};

struct ws_conn {
    struct loop *loop;
    struct loop_watch watch;
    struct loop_timer reaper;   /* frees a dead connection from the top of the loop */
    struct loop_timer kick;     /* reads the bytes the HTTP layer read ahead */
    struct loop_timer linger;   /* closing: give up waiting for the peer */
    struct loop_deferred flush; /* sends what this iteration queued */
    struct send_req sending;    /* the flush's send, in the loop's batch */
    wslay_event_context_ptr ctx;
    struct ws_transport t;
    struct outbuf out;  /* frames */
    struct outbuf wire; /* over TLS: records for the socket */
    uint8_t *extra;
    size_t extra_len, extra_off;
    const struct ws_ops *ops;
    void *owner;      /* NULL once the owner let go */
    size_t read_left; /* of WS_READ_BUDGET, in this step */
    bool backlog;     /* the last read stopped at the budget, not at EAGAIN */
    bool broken;      /* the transport failed or ended (not a bad frame) */
    bool in_wslay, dead;
    bool interactive; /* TCP_NODELAY is on (ws_interactive) */
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

/* Room for `need` more bytes at the end; 0 or -ENOMEM. */
static int out_reserve(struct outbuf *o, size_t need)
{
    if (o->off && o->len + need > o->cap) {
        memmove(o->data, o->data + o->off, o->len - o->off);
        o->len -= o->off;
        o->off = 0;
    }
    return grow_bytes(&o->data, &o->cap, o->len + need, 1024);
}

static int out_append(struct outbuf *o, const void *data, size_t len)
{
    if (out_reserve(o, len) < 0)
        return -ENOMEM;
    memcpy(o->data + o->len, data, len);
    o->len += len;
    return 0;
}

/* Drained: start over at the front, and give back a buffer a burst made large. */
static void out_drained(struct outbuf *o)
{
    o->off = o->len = 0;
    if (o->cap > WS_OUT_KEEP) {
        free(o->data);
        *o = (struct outbuf){0};
    }
}

/* What the socket sends: the frames themselves, or the records they were sealed into. */
static struct outbuf *socket_bytes(struct ws_conn *ws)
{
    return ws->t.io_ops ? &ws->wire : &ws->out;
}

static int wire_sink(void *arg, const void *data, size_t len)
{
    struct ws_conn *ws = arg;
    return out_append(&ws->wire, data, len) == 0 ? 0 : -1;
}

/* Over TLS: the frames become records in `wire`. 0 or -EIO. */
static int seal_frames(struct ws_conn *ws)
{
    struct outbuf *o = &ws->out;
    if (!ws->t.io_ops || o->off == o->len)
        return 0;
    if (ws->t.io_ops->seal(ws->t.io, o->data + o->off, o->len - o->off) < 0)
        return -EIO;
    out_drained(o);
    return 0;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct ws_conn *ws = user;
    if (!ws->read_left) {
        ws->backlog = true; /* more next turn (on_kick: TLS may hold it decrypted) */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    len = len < ws->read_left ? len : ws->read_left;
    if (ws->extra_off < ws->extra_len) {
        size_t n = ws->extra_len - ws->extra_off;
        n = n < len ? n : len;
        memcpy(buf, ws->extra + ws->extra_off, n);
        ws->extra_off += n;
        ws->read_left -= n;
        return (ssize_t)n;
    }
    ssize_t n = ws->t.io_ops ? ws->t.io_ops->recv(ws->t.io, buf, len) : recv(ws->t.fd, buf, len, 0);
    if (n > 0) {
        ws->read_left -= (size_t)n;
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        ws->broken = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

/* wslay's bytes join the output buffer whole, so wslay never holds a half-sent frame and
 * ws_send() may append its own frames after them. */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)flags;
    struct ws_conn *ws = user;
    if (out_append(&ws->out, data, len) == 0)
        return (ssize_t)len;
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
    if (ws->loop->batch)
        send_batch_cancel(ws->loop->batch, &ws->sending);
    wslay_event_context_free(ws->ctx);
    if (ws->t.io_ops)
        ws->t.io_ops->detach(ws->t.io, ws->wire.data + ws->wire.off, ws->wire.len - ws->wire.off);
    ws->t.release(ws->t.handle);
    free(ws->out.data);
    free(ws->wire.data);
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

/* Sends what is queued, now: 0 (all written), -EAGAIN (wait for EPOLLOUT) or -EIO. */
static int transport_flush(struct ws_conn *ws)
{
    if (seal_frames(ws) < 0)
        return -EIO;
    struct outbuf *o = socket_bytes(ws);
    while (o->off < o->len) {
        ssize_t n = send(ws->t.fd, o->data + o->off, o->len - o->off, MSG_NOSIGNAL);
        if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
            return -EAGAIN;
        if (n < 0)
            return -EIO;
        o->off += (size_t)n;
    }
    out_drained(o);
    return 0;
}

/* wslay reads, and the peer takes what we have for it (WS_READ_PAUSE). */
static bool may_read(const struct ws_conn *ws)
{
    return wslay_event_want_read(ws->ctx) && ws_queued(ws) < WS_READ_PAUSE;
}

/* Lets wslay read (when `readable`; WS_READ_BUDGET at most) and write its frames into the
 * output buffer. */
static int wslay_step(struct ws_conn *ws, bool readable)
{
    ws->in_wslay = true;
    int rc = 0;
    if (readable && may_read(ws)) {
        ws->read_left = WS_READ_BUDGET;
        ws->backlog = false;
        rc = wslay_event_recv(ws->ctx);
        if (rc == WSLAY_ERR_CALLBACK_FAILURE && !ws->broken &&
            !wslay_event_get_close_sent(ws->ctx)) {
            /* A frame wslay cannot parse (a control frame over 125 bytes or fragmented, a
             * bad length): it stopped reading, and would close without a status; the peer
             * is told why instead (RFC 6455 7.1.7), then the connection ends. */
            static const uint8_t close_1002[] = {0x88, 0x02, WSLAY_CODE_PROTOCOL_ERROR >> 8,
                                                 WSLAY_CODE_PROTOCOL_ERROR & 0xff};
            wslay_event_shutdown_write(ws->ctx);
            rc = out_append(&ws->out, close_1002, sizeof(close_1002)) == 0 ? 0 : rc;
        }
    }
    if (rc == 0 && wslay_event_want_write(ws->ctx))
        rc = wslay_event_send(ws->ctx);
    ws->in_wslay = false;
    return rc;
}

/* After wslay's step `rc` and a flush that left `pending` (0, -EAGAIN or -EIO): the
 * connection ends, or its epoll interest follows what is left to do. */
static void settle(struct ws_conn *ws, int rc, int pending)
{
    bool want_read = wslay_event_want_read(ws->ctx);
    bool want_write = wslay_event_want_write(ws->ctx) || pending == -EAGAIN;
    if (rc != 0 || pending == -EIO || (!want_read && !want_write)) {
        die(ws);
        return;
    }
    bool reading = may_read(ws);
    uint32_t events = (reading ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0);
    if (events != ws->watch.events)
        loop_mod(ws->loop, &ws->watch, events);
    if (reading && ws->backlog && !ws->kick.armed)
        loop_timer_arm(ws->loop, &ws->kick, 0);
}

/* Reads (when `readable`) and writes what wslay wants; updates the epoll interest. */
static void service(struct ws_conn *ws, bool readable)
{
    if (ws->dead || ws->in_wslay)
        return;
    int rc = wslay_step(ws, readable);
    settle(ws, rc, rc == 0 ? transport_flush(ws) : 0);
}

/* An owner with more to send (a reader behind in its console) is asked again once the
 * output buffer has drained, as after EPOLLOUT. */
static void ask_for_more(struct ws_conn *ws)
{
    if (!ws->dead && ws->owner && !(ws->watch.events & EPOLLOUT))
        ws->ops->writable(ws->owner);
}

static size_t batch_bytes(struct send_req *r, const void **data)
{
    struct outbuf *o = socket_bytes(r->data);
    *data = o->data + o->off;
    return o->len - o->off;
}

/* The batch's send, taken as transport_flush() takes send()'s answer. */
static void batch_sent(struct send_req *r, ssize_t result)
{
    struct ws_conn *ws = r->data;
    if (ws->dead)
        return;
    struct outbuf *o = socket_bytes(ws);
    int pending = 0;
    if (result > 0)
        o->off += (size_t)result;
    if (o->off == o->len)
        out_drained(o);
    else if (result >= 0 || result == -EAGAIN || result == -EWOULDBLOCK || result == -EINTR)
        pending = -EAGAIN;
    else
        pending = -EIO;
    settle(ws, 0, pending);
    ask_for_more(ws);
}

/* Sends what was queued: through the loop's batch when there is one, else at once. */
static void on_flush(struct loop_deferred *d)
{
    struct ws_conn *ws = d->data;
    struct send_batch *batch = ws->loop->batch;
    if (!batch) {
        service(ws, false);
        ask_for_more(ws);
        return;
    }
    if (ws->dead || ws->in_wslay)
        return;
    int rc = wslay_step(ws, false);
    int pending = rc == 0 ? seal_frames(ws) : 0;
    struct outbuf *o = socket_bytes(ws);
    if (rc != 0 || pending < 0 || o->off == o->len) {
        settle(ws, rc, pending);
        ask_for_more(ws);
        return;
    }
    send_batch_queue(batch, &ws->sending);
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
    ws->ops = ops;
    ws->owner = owner;
    ws->reaper = (struct loop_timer){.cb = on_reaper, .data = ws};
    ws->kick = (struct loop_timer){.cb = on_kick, .data = ws};
    ws->linger = (struct loop_timer){.cb = on_linger, .data = ws};
    ws->flush = (struct loop_deferred){.cb = on_flush, .data = ws};
    ws->sending = (struct send_req){
        .fd = t->fd, .bytes = batch_bytes, .done = batch_sent, .data = ws, .slot = -1};
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
    /* Last: from here the stream's records live in `wire`, which the fail path would drop. */
    if (t->io_ops)
        t->io_ops->attach(t->io, wire_sink, ws);
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

/* A server's frame header (RFC 6455 5.2: FIN, opcode, unmasked length); its size. */
static size_t frame_header(uint8_t hdr[10], bool binary, size_t len)
{
    hdr[0] = 0x80 | (binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME);
    if (len < 126) {
        hdr[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (uint8_t)(len >> 8);
        hdr[3] = (uint8_t)len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* Data frames are encoded straight into the output buffer (no per-message allocation in
 * wslay); wslay keeps the control frames, and whatever it still queues goes first. */
int ws_send(struct ws_conn *ws, bool binary, const void *data, size_t len)
{
    if (ws->dead || !wslay_event_get_write_enabled(ws->ctx)) /* a close went out */
        return -EPIPE;
    if (wslay_event_get_queued_msg_count(ws->ctx)) {
        struct wslay_event_msg msg = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len};
        int rc = wslay_event_queue_msg(ws->ctx, &msg);
        if (rc != 0)
            return rc == WSLAY_ERR_NOMEM ? -ENOMEM : -EPIPE;
    } else {
        uint8_t hdr[10];
        size_t hlen = frame_header(hdr, binary, len);
        if (out_reserve(&ws->out, hlen + len) < 0)
            return -ENOMEM;
        out_append(&ws->out, hdr, hlen);
        out_append(&ws->out, data, len);
    }
    loop_defer(ws->loop, &ws->flush);
    return 0;
}

int ws_send_text(struct ws_conn *ws, const char *text)
{
    return ws_send(ws, false, text, strlen(text));
}

void ws_interactive(struct ws_conn *ws)
{
    if (ws->interactive || ws->dead)
        return;
    ws->interactive = true;
    /* Not a TCP socket (EOPNOTSUPP): nothing waits for an ACK there either. */
    (void)setsockopt(ws->t.fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
}

size_t ws_queued(const struct ws_conn *ws)
{
    return wslay_event_get_queued_msg_length(ws->ctx) + (ws->out.len - ws->out.off) +
           (ws->wire.len - ws->wire.off);
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
