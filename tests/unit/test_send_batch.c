/* send_batch: many sockets' sends in one system call per SEND_BATCH_MAX, answered as
 * send() answers (a full socket: -EAGAIN at once, never a wait), and requests that come
 * and go while the batch runs. Every test runs with io_uring and with one send() each. */
#include "test.h"

#include "send_batch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOCKETS 300 /* more than one ring's worth: two io_uring_enter() calls */

struct conn {
    struct send_req req;
    int peer;
    char msg[32];
    size_t len;
    ssize_t result;
    int done_calls;
    struct send_batch *batch;
    struct conn *cancel_in_done; /* done() cancels this one */
    int requeue_in_done;         /* done() queues itself again this many times */
};

static size_t conn_bytes(struct send_req *r, const void **data)
{
    struct conn *c = r->data;
    *data = c->msg;
    return c->len;
}

static void conn_done(struct send_req *r, ssize_t result)
{
    struct conn *c = r->data;
    c->result = result;
    c->done_calls++;
    if (c->cancel_in_done)
        send_batch_cancel(c->batch, &c->cancel_in_done->req);
    if (c->requeue_in_done > 0) {
        c->requeue_in_done--;
        snprintf(c->msg, sizeof(c->msg), "again %d", c->requeue_in_done);
        c->len = strlen(c->msg);
        send_batch_queue(c->batch, &c->req);
    }
}

static void conn_open(struct conn *c, struct send_batch *b, int i)
{
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    *c = (struct conn){.peer = sv[1], .batch = b};
    c->req = (struct send_req){
        .fd = sv[0], .bytes = conn_bytes, .done = conn_done, .data = c, .slot = -1};
    snprintf(c->msg, sizeof(c->msg), "socket %d", i);
    c->len = strlen(c->msg);
    c->result = -12345;
}

static void conn_close(struct conn *c)
{
    close(c->req.fd);
    close(c->peer);
}

/* What the peer has received (non-blocking), NUL-terminated. */
static size_t peer_read(struct conn *c, char *buf, size_t cap)
{
    ssize_t n = recv(c->peer, buf, cap - 1, MSG_DONTWAIT);
    n = n < 0 ? 0 : n;
    buf[n] = '\0';
    return (size_t)n;
}

static void batch_open(struct send_batch *b, bool io_uring)
{
    REQUIRE(send_batch_init(b, io_uring) == 0);
    if (io_uring)
        REQUIRE(send_batch_uses_io_uring(b)); /* vscd's CI kernels have it */
    else
        CHECK(!send_batch_uses_io_uring(b));
}

static void many_sockets(bool io_uring)
{
    struct send_batch b;
    batch_open(&b, io_uring);
    struct conn *c = calloc(SOCKETS, sizeof(*c));
    REQUIRE(c);
    for (int i = 0; i < SOCKETS; i++) {
        conn_open(&c[i], &b, i);
        send_batch_queue(&b, &c[i].req);
        send_batch_queue(&b, &c[i].req); /* queued twice: still one send */
    }
    c[7].len = 0; /* nothing to send: done() gets 0, no system call */
    send_batch_flush(&b);
    CHECK(b.head == NULL && b.tail == NULL);
    CHECK_EQ_INT((long long)b.sends, SOCKETS);
    /* io_uring: one call per ring's worth; else one send() per request with bytes. */
    CHECK_EQ_INT((long long)b.calls,
                 io_uring ? (SOCKETS + SEND_BATCH_MAX - 1) / SEND_BATCH_MAX : SOCKETS - 1);
    int right = 0;
    for (int i = 0; i < SOCKETS; i++) {
        char got[64], want[32];
        snprintf(want, sizeof(want), "socket %d", i);
        size_t n = peer_read(&c[i], got, sizeof(got));
        if (i == 7)
            right += c[i].result == 0 && n == 0 && c[i].done_calls == 1;
        else
            right += c[i].result == (ssize_t)strlen(want) && strcmp(got, want) == 0 &&
                     c[i].done_calls == 1;
        CHECK(c[i].req.queued_on == NULL);
    }
    CHECK_EQ_INT(right, SOCKETS);
    for (int i = 0; i < SOCKETS; i++)
        conn_close(&c[i]);
    free(c);
    send_batch_fini(&b);
}

TEST(send_batch_many_sockets_io_uring)
{
    many_sockets(true);
}

TEST(send_batch_many_sockets_one_send_each)
{
    many_sockets(false);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A socket whose peer never reads answers -EAGAIN in the batch, at once; the sockets
 * beside it in the same batch are not held up. A closed peer answers -EPIPE. */
static void full_and_closed_sockets(bool io_uring)
{
    struct send_batch b;
    batch_open(&b, io_uring);
    struct conn c[3];
    for (int i = 0; i < 3; i++)
        conn_open(&c[i], &b, i);
    static char fill[4096];
    while (send(c[1].req.fd, fill, sizeof(fill), MSG_DONTWAIT) > 0)
        ;
    close(c[2].peer);
    c[2].peer = -1;
    for (int i = 0; i < 3; i++)
        send_batch_queue(&b, &c[i].req);
    double t0 = now_s();
    send_batch_flush(&b);
    CHECK(now_s() - t0 < 1.0);
    CHECK_EQ_INT((long long)c[0].result, (long long)strlen("socket 0"));
    CHECK_EQ_INT((long long)c[1].result, -EAGAIN);
    CHECK_EQ_INT((long long)c[2].result, -EPIPE);
    CHECK(send_batch_uses_io_uring(&b) == io_uring); /* an error is not the ring's failure */
    /* The full socket drained: its next send in a batch goes through. */
    char sink[65536];
    while (recv(c[1].peer, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
    send_batch_queue(&b, &c[1].req);
    send_batch_flush(&b);
    CHECK_EQ_INT((long long)c[1].result, (long long)strlen("socket 1"));
    for (int i = 0; i < 3; i++)
        conn_close(&c[i]);
    send_batch_fini(&b);
}

TEST(send_batch_full_socket_answers_eagain_at_once)
{
    full_and_closed_sockets(true);
    full_and_closed_sockets(false);
}

/* Requests come and go while the batch runs: one cancelled before the flush, one
 * cancelled by an earlier done() of the same chunk (its bytes left, its done() never
 * runs), one that queues itself again from its done() (sent again in the same flush), and
 * bytes named only at the flush (changed after queueing). */
static void requests_come_and_go(bool io_uring)
{
    struct send_batch b;
    batch_open(&b, io_uring);
    struct conn c[5];
    for (int i = 0; i < 5; i++) {
        conn_open(&c[i], &b, i);
        send_batch_queue(&b, &c[i].req);
    }
    send_batch_cancel(&b, &c[1].req);
    send_batch_cancel(&b, &c[1].req); /* twice: harmless */
    c[0].cancel_in_done = &c[3];
    c[2].requeue_in_done = 2;
    snprintf(c[4].msg, sizeof(c[4].msg), "changed");
    c[4].len = strlen(c[4].msg);
    send_batch_flush(&b);

    char got[128];
    CHECK_EQ_INT(c[0].done_calls, 1);
    CHECK_EQ_INT(c[1].done_calls, 0);
    CHECK_EQ_INT((long long)peer_read(&c[1], got, sizeof(got)), 0);
    CHECK_EQ_INT(c[2].done_calls, 3);
    peer_read(&c[2], got, sizeof(got));
    CHECK_STREQ(got, "socket 2again 1again 0");
    CHECK_EQ_INT(c[3].done_calls, 0);
    peer_read(&c[3], got, sizeof(got));
    CHECK_STREQ(got, "socket 3"); /* sent with its chunk before the cancel */
    CHECK(c[3].req.queued_on == NULL);
    peer_read(&c[4], got, sizeof(got));
    CHECK_STREQ(got, "changed");
    CHECK(b.head == NULL);
    /* Cancelled from the queue, then queued again: sent once. */
    send_batch_queue(&b, &c[1].req);
    send_batch_flush(&b);
    CHECK_EQ_INT(c[1].done_calls, 1);
    peer_read(&c[1], got, sizeof(got));
    CHECK_STREQ(got, "socket 1");
    /* fini forgets what is still queued, without calling it. */
    send_batch_queue(&b, &c[0].req);
    send_batch_fini(&b);
    CHECK_EQ_INT(c[0].done_calls, 1);
    CHECK(c[0].req.queued_on == NULL);
    for (int i = 0; i < 5; i++)
        conn_close(&c[i]);
}

TEST(send_batch_requests_come_and_go_while_it_runs)
{
    requests_come_and_go(true);
    requests_come_and_go(false);
}
