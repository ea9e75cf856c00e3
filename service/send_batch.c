#include "send_batch.h"

#include "log.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)
#define NO_RESULT  (-SSIZE_MAX - 1) /* a slot the ring did not answer */

struct send_batch_ring {
    struct io_uring ring;
};

/* The ring with the cheapest settings this kernel knows; NULL without io_uring. */
static struct send_batch_ring *ring_open(void)
{
    struct send_batch_ring *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    /* SUBMIT_ALL: one bad request does not hold back the rest (5.18); COOP_TASKRUN and
     * SINGLE_ISSUER: no interrupts for completions of this one thread's sends (6.0). */
    static const unsigned tries[] = {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                                         IORING_SETUP_SINGLE_ISSUER,
                                     IORING_SETUP_SUBMIT_ALL, 0};
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]) && rc == -EINVAL; i++) {
        struct io_uring_params p = {.flags = tries[i]};
        rc = io_uring_queue_init_params(SEND_BATCH_MAX, &r->ring, &p);
    }
    if (rc < 0) {
        log_info("console sends: no io_uring (%s), one send() per viewer", strerror(-rc));
        free(r);
        return NULL;
    }
    return r;
}

static void ring_close(struct send_batch_ring *r)
{
    io_uring_queue_exit(&r->ring);
    free(r);
}

/* The batch relies on a full socket's send answering -EAGAIN at once rather than waiting
 * in the kernel for room (which would keep its bytes in flight past the flush): tried on
 * a socket pair filled to the brim. The bytes are static: a parked send may outlive us. */
static bool ring_sends_inline(struct send_batch_ring *r)
{
    static char bytes[4096];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return false;
    while (send(sv[0], bytes, sizeof(bytes), SEND_FLAGS) > 0)
        ;
    bool ok = false;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (sqe) {
        io_uring_prep_send(sqe, sv[0], bytes, sizeof(bytes), SEND_FLAGS);
        struct io_uring_cqe *cqe = NULL;
        if (io_uring_submit(&r->ring) == 1 && io_uring_peek_cqe(&r->ring, &cqe) == 0) {
            ok = cqe->res == -EAGAIN;
            io_uring_cqe_seen(&r->ring, cqe);
        }
    }
    close(sv[0]);
    close(sv[1]);
    return ok;
}

int send_batch_init(struct send_batch *b, bool use_io_uring)
{
    memset(b, 0, sizeof(*b));
    if (!use_io_uring)
        return 0;
    b->ring = ring_open();
    if (b->ring && !ring_sends_inline(b->ring)) {
        log_warn("console sends: this kernel's io_uring would wait on a full socket; "
                 "one send() per viewer");
        ring_close(b->ring);
        b->ring = NULL;
    }
    return 0;
}

void send_batch_fini(struct send_batch *b)
{
    while (b->head)
        send_batch_cancel(b, b->head);
    if (b->ring)
        ring_close(b->ring);
    b->ring = NULL;
}

bool send_batch_uses_io_uring(const struct send_batch *b)
{
    return b->ring != NULL;
}

void send_batch_queue(struct send_batch *b, struct send_req *r)
{
    if (r->queued_on)
        return;
    r->queued_on = b;
    r->slot = -1;
    r->next = NULL;
    r->prev = b->tail;
    if (b->tail)
        b->tail->next = r;
    else
        b->head = r;
    b->tail = r;
}

static void unlink_queued(struct send_batch *b, struct send_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        b->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        b->tail = r->prev;
    r->prev = r->next = NULL;
}

void send_batch_cancel(struct send_batch *b, struct send_req *r)
{
    if (r->queued_on != b)
        return;
    if (r->slot >= 0)
        b->flushing[r->slot] = NULL; /* its done() was still to come */
    else
        unlink_queued(b, r);
    r->queued_on = NULL;
    r->slot = -1;
}

/* Moves up to SEND_BATCH_MAX queued requests into flushing[]; returns how many. */
static int take_chunk(struct send_batch *b)
{
    int n = 0;
    while (b->head && n < SEND_BATCH_MAX) {
        struct send_req *r = b->head;
        unlink_queued(b, r);
        r->slot = n;
        b->flushing[n] = r;
        b->results[n++] = NO_RESULT;
    }
    return n;
}

static ssize_t send_one(int fd, const void *data, size_t len)
{
    ssize_t n = send(fd, data, len, SEND_FLAGS);
    return n < 0 ? -errno : n;
}

/* One io_uring_enter() for the chunk. What the ring did not answer (it failed as a whole)
 * is left NO_RESULT for send_plain(), and the ring is given up. */
static void send_ring(struct send_batch *b, int n)
{
    struct io_uring *ring = &b->ring->ring;
    unsigned want = 0;
    for (int i = 0; i < n; i++) {
        const void *data = NULL;
        size_t len = b->flushing[i]->bytes(b->flushing[i], &data);
        if (!len) {
            b->results[i] = 0;
            continue;
        }
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring); /* room: the ring holds a chunk */
        io_uring_prep_send(sqe, b->flushing[i]->fd, data, len, SEND_FLAGS);
        io_uring_sqe_set_data64(sqe, (uint64_t)i);
        want++;
    }
    if (!want)
        return;
    int rc;
    do
        rc = io_uring_submit_and_wait(ring, want);
    while (rc == -EINTR);
    b->calls++;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(ring, head, cqe)
    {
        uint64_t i = io_uring_cqe_get_data64(cqe);
        if (i < (uint64_t)n)
            b->results[i] = cqe->res;
        seen++;
    }
    io_uring_cq_advance(ring, seen);
    if (rc < 0 || seen != want) {
        log_warn("console sends: io_uring failed (%s); one send() per viewer from now on",
                 rc < 0 ? strerror(-rc) : "sends left waiting");
        ring_close(b->ring);
        b->ring = NULL;
    }
}

static void send_plain(struct send_batch *b, int n)
{
    for (int i = 0; i < n; i++) {
        if (b->results[i] != NO_RESULT)
            continue;
        const void *data = NULL;
        size_t len = b->flushing[i]->bytes(b->flushing[i], &data);
        b->results[i] = len ? send_one(b->flushing[i]->fd, data, len) : 0;
        b->calls += len != 0;
    }
}

/* Every send of the chunk is done before the first done(), which may cancel later ones. */
static void finish_chunk(struct send_batch *b, int n)
{
    b->sends += (uint64_t)n;
    for (int i = 0; i < n; i++) {
        struct send_req *r = b->flushing[i];
        if (!r)
            continue;
        b->flushing[i] = NULL;
        r->queued_on = NULL;
        r->slot = -1;
        r->done(r, b->results[i]);
    }
}

void send_batch_flush(struct send_batch *b)
{
    while (b->head) {
        int n = take_chunk(b);
        if (b->ring)
            send_ring(b, n);
        send_plain(b, n);
        finish_chunk(b, n);
    }
}
