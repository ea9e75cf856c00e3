/* ws: the frames a client receives (RFC 6455 5.2) at every length encoding, and the order
 * of data frames beside the control frames wslay answers with; each with the loop's send
 * batch (io_uring, and one send() each) and without one (a direct send per flush), on a
 * plain socket and through a sealing transport (a toy record layer standing for TLS). */
#include "test.h"

#include "loop.h"
#include "send_batch.h"
#include "ws.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GUARD_MS 5000

/*
 * The toy record layer: each record is 'R', a 16-bit length and at most RECORD_MAX bytes
 * XOR 0x5a; a read that got bytes makes the transport owe the peer a 'K' record (no
 * payload), as TLS may owe a key update. Client -> server bytes are not sealed.
 */
#define RECORD_MAX 1000

struct sealer {
    int fd;
    const char *held; /* sealed at attach, as TLS holds the 101 answer then */
    int (*sink)(void *arg, const void *data, size_t len);
    void *sink_arg;
    int reads, detached;
    size_t unsent;
};

static ssize_t sealer_recv(void *io, void *buf, size_t len)
{
    struct sealer *s = io;
    ssize_t n = recv(s->fd, buf, len, 0);
    if (n > 0) {
        s->reads++;
        if (s->sink(s->sink_arg, "K\0\0", 3) < 0)
            return -1;
    }
    return n;
}

static ssize_t sealer_seal(void *io, const void *data, size_t len);

static void sealer_attach(void *io, int (*sink)(void *, const void *, size_t), void *arg)
{
    struct sealer *s = io;
    s->sink = sink;
    s->sink_arg = arg;
    if (s->held)
        sealer_seal(s, s->held, strlen(s->held));
}

static ssize_t sealer_seal(void *io, const void *data, size_t len)
{
    struct sealer *s = io;
    const uint8_t *in = data;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < RECORD_MAX ? len - off : RECORD_MAX;
        uint8_t rec[3 + RECORD_MAX] = {'R', (uint8_t)(n >> 8), (uint8_t)n};
        for (size_t i = 0; i < n; i++)
            rec[3 + i] = in[off + i] ^ 0x5a;
        if (s->sink(s->sink_arg, rec, 3 + n) < 0)
            return -1;
        off += n;
    }
    return (ssize_t)len;
}

static void sealer_detach(void *io, const void *unsent, size_t len)
{
    (void)unsent;
    struct sealer *s = io;
    s->sink = NULL;
    s->detached++;
    s->unsent = len;
}

static const struct ws_io_ops sealer_ops = {sealer_recv, sealer_attach, sealer_seal, sealer_detach};

struct peer {
    int fd;
    bool sealed;
    uint8_t *buf;
    size_t len, want;
    uint8_t *raw; /* sealed: records not yet whole */
    size_t raw_len;
    int k_records;
};

/* Moves the whole records of p->raw into p->buf (unsealed). */
static void unseal(struct peer *p)
{
    size_t off = 0;
    while (p->raw_len - off >= 3) {
        const uint8_t *r = p->raw + off;
        size_t n = (size_t)r[1] << 8 | r[2];
        CHECK(r[0] == 'R' || (r[0] == 'K' && n == 0));
        if (p->raw_len - off < 3 + n)
            break;
        p->k_records += r[0] == 'K';
        for (size_t i = 0; i < n && p->len + i < p->want; i++)
            p->buf[p->len + i] = r[3 + i] ^ 0x5a;
        __atomic_store_n(&p->len, p->len + n, __ATOMIC_RELEASE);
        off += 3 + n;
    }
    memmove(p->raw, p->raw + off, p->raw_len - off);
    p->raw_len -= off;
}

/* Reads what the server sends until `want` bytes came or the socket closed. */
static void *peer_main(void *arg)
{
    struct peer *p = arg;
    while (p->len < p->want) {
        if (!p->sealed) {
            ssize_t n = read(p->fd, p->buf + p->len, p->want - p->len);
            if (n <= 0)
                break;
            __atomic_store_n(&p->len, p->len + (size_t)n, __ATOMIC_RELEASE);
            continue;
        }
        ssize_t n = read(p->fd, p->raw + p->raw_len, 3 + RECORD_MAX);
        if (n <= 0)
            break;
        p->raw_len += (size_t)n;
        unseal(p);
    }
    return NULL;
}

static void peer_init(struct peer *p, int fd, const struct sealer *s, size_t want)
{
    *p = (struct peer){.fd = fd, .sealed = s != NULL, .buf = malloc(want), .want = want};
    p->raw = s ? malloc(2 * (3 + RECORD_MAX)) : NULL;
    REQUIRE(p->buf && (!s || p->raw));
}

static void peer_fini(struct peer *p)
{
    free(p->buf);
    free(p->raw);
}

struct owner {
    struct ws_conn *ws;
    int messages;
    bool closed;
};

/* Echoes every text message: called from inside wslay's receive, where a pong is queued. */
static void on_message(void *data, bool binary, const uint8_t *msg, size_t len)
{
    struct owner *o = data;
    o->messages++;
    if (!binary)
        CHECK_EQ_INT(ws_send(o->ws, false, msg, len), 0);
}

static void on_writable(void *data)
{
    (void)data;
}

static void on_closed(void *data)
{
    ((struct owner *)data)->closed = true;
}

static const struct ws_ops owner_ops = {on_message, on_writable, on_closed};

static void release_fd(void *handle)
{
    close((int)(intptr_t)handle);
}

struct ticker {
    struct loop *loop;
    struct loop_timer t;
    struct peer *peer;
    uint64_t until;
};

/* Stops the loop once the peer has everything (or at the guard). */
static void on_tick(struct loop_timer *t)
{
    struct ticker *k = t->data;
    if (__atomic_load_n(&k->peer->len, __ATOMIC_ACQUIRE) >= k->peer->want ||
        loop_now_ms() >= k->until)
        loop_stop(k->loop);
    else
        loop_timer_arm(k->loop, t, 5);
}

/* Runs the loop while the peer thread collects `want` bytes. */
static void run_until_received(struct loop *loop, struct peer *p)
{
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, peer_main, p) == 0);
    struct ticker k = {.loop = loop, .peer = p, .until = loop_now_ms() + GUARD_MS};
    k.t = (struct loop_timer){.cb = on_tick, .data = &k};
    loop_timer_arm(loop, &k.t, 0);
    loop_run(loop);
    loop_timer_cancel(loop, &k.t);
    if (__atomic_load_n(&p->len, __ATOMIC_ACQUIRE) < p->want)
        shutdown(p->fd, SHUT_RD); /* ends the reader: bytes are missing */
    pthread_join(th, NULL);
}

struct frame {
    uint8_t opcode;
    bool fin, masked;
    size_t hdr, len;
    const uint8_t *payload;
};

/* Parses one server frame at buf; 0 if incomplete. Checks the length uses the shortest
 * encoding (RFC 6455 5.2: "the minimal number of bytes MUST be used"). */
static size_t parse_frame(const uint8_t *buf, size_t avail, struct frame *f)
{
    if (avail < 2)
        return 0;
    f->fin = buf[0] & 0x80;
    f->opcode = buf[0] & 0x0f;
    f->masked = buf[1] & 0x80;
    size_t len = buf[1] & 0x7f, hdr = 2;
    if (len == 126) {
        hdr = 4;
        len = avail >= 4 ? (size_t)buf[2] << 8 | buf[3] : 0;
        CHECK(len >= 126);
    } else if (len == 127) {
        hdr = 10;
        uint64_t v = 0;
        for (int i = 0; i < 8 && avail >= 10; i++)
            v = v << 8 | buf[2 + i];
        len = (size_t)v;
        CHECK(len > 0xffff);
    }
    if (avail < hdr + len)
        return 0;
    f->hdr = hdr;
    f->len = len;
    f->payload = buf + hdr;
    return hdr + len;
}

static uint8_t pattern(size_t i, size_t len)
{
    return (uint8_t)(i * 7 + len);
}

/* A WebSocket on a socket pair; through `s` (the toy record layer) when not NULL. */
static int open_pair(struct loop *loop, struct owner *o, int *peer_fd, struct sealer *s)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    struct ws_transport t = {.fd = sv[0], .release = release_fd, .handle = (void *)(intptr_t)sv[0]};
    if (s) {
        *s = (struct sealer){.fd = sv[0]};
        t.io_ops = &sealer_ops;
        t.io = s;
    }
    o->ws = ws_open(loop, &t, 1 << 20, &owner_ops, o);
    *peer_fd = sv[1];
    return o->ws ? 0 : -1;
}

enum batch_mode { NO_BATCH, BATCH_SEND, BATCH_IO_URING };

/* The loop with the send batch of `mode`. */
static void loop_with_batch(struct loop *loop, struct send_batch *b, enum batch_mode mode)
{
    REQUIRE(loop_init(loop) == 0);
    REQUIRE(send_batch_init(b, mode == BATCH_IO_URING) == 0);
    if (mode == BATCH_IO_URING)
        REQUIRE(send_batch_uses_io_uring(b)); /* vscd's CI kernels have it */
    loop->batch = mode == NO_BATCH ? NULL : b;
}

static void loop_done(struct loop *loop, struct send_batch *b)
{
    loop->batch = NULL;
    send_batch_fini(b);
    loop_fini(loop);
}

/* 200 KiB in frames of every length: more than the socket pair holds, so the sends stop
 * short and the rest waits for EPOLLOUT. */
static void frames_at_every_length(enum batch_mode mode, bool sealed)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    struct loop loop;
    struct send_batch batch;
    loop_with_batch(&loop, &batch, mode);
    struct owner o = {0};
    struct sealer sealer;
    int pfd = -1;
    REQUIRE(open_pair(&loop, &o, &pfd, sealed ? &sealer : NULL) == 0);
    size_t want = 0;
    uint8_t *data = malloc(70000);
    REQUIRE(data);
    for (size_t k = 0; k < ARRAY_LEN(lens); k++) {
        for (size_t i = 0; i < lens[k]; i++)
            data[i] = pattern(i, lens[k]);
        CHECK_EQ_INT(ws_send(o.ws, true, data, lens[k]), 0);
        want += lens[k] + (lens[k] < 126 ? 2 : lens[k] <= 0xffff ? 4 : 10);
    }
    CHECK_EQ_INT(ws_send_text(o.ws, "{\"type\":\"x\"}"), 0);
    want += 2 + 12;
    CHECK(ws_queued(o.ws) == want); /* nothing leaves before the loop runs */

    struct peer p;
    peer_init(&p, pfd, sealed ? &sealer : NULL, want);
    run_until_received(&loop, &p);
    CHECK_EQ_INT((long long)p.len, (long long)want);
    CHECK_EQ_INT((long long)ws_queued(o.ws), 0);

    size_t off = 0;
    for (size_t k = 0; k <= ARRAY_LEN(lens); k++) {
        struct frame f;
        size_t used = parse_frame(p.buf + off, p.len - off, &f);
        REQUIRE(used);
        CHECK(f.fin);
        CHECK(!f.masked); /* a server never masks */
        if (k == ARRAY_LEN(lens)) {
            CHECK_EQ_INT(f.opcode, 1);
            CHECK(f.len == 12 && memcmp(f.payload, "{\"type\":\"x\"}", 12) == 0);
        } else {
            CHECK_EQ_INT(f.opcode, 2);
            CHECK_EQ_INT((long long)f.len, (long long)lens[k]);
            bool same = true;
            for (size_t i = 0; i < f.len && same; i++)
                same = f.payload[i] == pattern(i, lens[k]);
            CHECK(same);
        }
        off += used;
    }
    CHECK_EQ_INT((long long)off, (long long)p.len);
    if (mode != NO_BATCH)
        CHECK(batch.sends > 0); /* the flushes went through the batch */
    ws_abort(o.ws, WS_GOING_AWAY);
    if (sealed) { /* the close frame was sealed too, and the transport was given back */
        CHECK_EQ_INT(sealer.detached, 1);
        CHECK_EQ_INT((long long)sealer.unsent, 0);
        uint8_t rec[3 + 4];
        CHECK_EQ_INT(read(pfd, rec, sizeof(rec)), sizeof(rec));
        CHECK(rec[0] == 'R' && rec[1] == 0 && rec[2] == 4);
        CHECK((rec[3] ^ 0x5a) == 0x88 && (rec[4] ^ 0x5a) == 2); /* FIN close, code only */
        CHECK_EQ_INT(p.k_records, 0);
    }
    peer_fini(&p);
    free(data);
    close(pfd);
    loop_done(&loop, &batch);
}

TEST(ws_data_frames_at_every_length_encoding)
{
    frames_at_every_length(NO_BATCH, false);
    frames_at_every_length(NO_BATCH, true);
}

TEST(ws_data_frames_at_every_length_encoding_batched_send)
{
    frames_at_every_length(BATCH_SEND, false);
    frames_at_every_length(BATCH_SEND, true);
}

TEST(ws_data_frames_at_every_length_encoding_batched_io_uring)
{
    frames_at_every_length(BATCH_IO_URING, false);
    frames_at_every_length(BATCH_IO_URING, true);
}

/* A client frame: FIN, opcode, masked (RFC 6455 5.3), payload < 126 bytes. */
static size_t client_frame(uint8_t *out, uint8_t opcode, const char *payload)
{
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t len = strlen(payload);
    out[0] = 0x80 | opcode;
    out[1] = 0x80 | (uint8_t)len;
    memcpy(out + 2, key, 4);
    for (size_t i = 0; i < len; i++)
        out[6 + i] = (uint8_t)payload[i] ^ key[i % 4];
    return 6 + len;
}

static void frames_behind_the_pong(enum batch_mode mode, bool sealed)
{
    struct loop loop;
    struct send_batch batch;
    loop_with_batch(&loop, &batch, mode);
    struct owner o = {0};
    struct sealer sealer;
    int pfd = -1;
    REQUIRE(open_pair(&loop, &o, &pfd, sealed ? &sealer : NULL) == 0);
    /* A ping then a text message in one write: the echo is sent from inside the receive,
     * while the pong is still queued in wslay; it must not overtake it. */
    uint8_t in[64];
    size_t n = client_frame(in, 0x9, "p1");
    n += client_frame(in + n, 0x1, "echo me");
    REQUIRE(write(pfd, in, n) == (ssize_t)n);
    CHECK_EQ_INT(ws_send_text(o.ws, "first"), 0); /* before either arrived */

    size_t want = (2 + 5) + (2 + 2) + (2 + 7);
    struct peer p;
    peer_init(&p, pfd, sealed ? &sealer : NULL, want);
    run_until_received(&loop, &p);
    CHECK_EQ_INT(o.messages, 1);
    REQUIRE(p.len == want);
    struct frame f;
    size_t off = parse_frame(p.buf, p.len, &f);
    CHECK(off && f.opcode == 1 && f.len == 5 && memcmp(f.payload, "first", 5) == 0);
    size_t used = parse_frame(p.buf + off, p.len - off, &f);
    CHECK(used && f.opcode == 0xA && f.len == 2 && memcmp(f.payload, "p1", 2) == 0);
    off += used;
    used = parse_frame(p.buf + off, p.len - off, &f);
    CHECK(used && f.opcode == 1 && f.len == 7 && memcmp(f.payload, "echo me", 7) == 0);
    CHECK(!o.closed);
    if (sealed) /* what the read made the transport owe went out too, before the rest */
        CHECK(sealer.reads > 0 && p.k_records == sealer.reads);
    ws_abort(o.ws, WS_GOING_AWAY);
    peer_fini(&p);
    close(pfd);
    loop_done(&loop, &batch);
}

TEST(ws_data_frames_queue_behind_the_pong_wslay_owes)
{
    frames_behind_the_pong(NO_BATCH, false);
    frames_behind_the_pong(NO_BATCH, true);
}

TEST(ws_data_frames_queue_behind_the_pong_wslay_owes_batched)
{
    frames_behind_the_pong(BATCH_SEND, false);
    frames_behind_the_pong(BATCH_IO_URING, false);
    frames_behind_the_pong(BATCH_SEND, true);
    frames_behind_the_pong(BATCH_IO_URING, true);
}

/* What the transport holds when it is attached leaves at once, with no frame queued. */
TEST(ws_bytes_a_sealing_transport_holds_at_attach_leave_without_frames)
{
    for (enum batch_mode mode = NO_BATCH; mode <= BATCH_IO_URING; mode++) {
        struct loop loop;
        struct send_batch batch;
        loop_with_batch(&loop, &batch, mode);
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        struct sealer sealer = {.fd = sv[0], .held = "HTTP/1.1 101"};
        struct ws_transport t = {.fd = sv[0],
                                 .io_ops = &sealer_ops,
                                 .io = &sealer,
                                 .release = release_fd,
                                 .handle = (void *)(intptr_t)sv[0]};
        struct owner o = {0};
        o.ws = ws_open(&loop, &t, 1 << 20, &owner_ops, &o);
        REQUIRE(o.ws);
        struct peer p;
        peer_init(&p, sv[1], &sealer, 12);
        run_until_received(&loop, &p);
        CHECK(p.len == 12 && memcmp(p.buf, "HTTP/1.1 101", 12) == 0);
        ws_abort(o.ws, WS_GOING_AWAY);
        peer_fini(&p);
        close(sv[1]);
        loop_done(&loop, &batch);
    }
}
