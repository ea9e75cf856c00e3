/*
 * send_batch — the sends of one loop iteration leave in one system call.
 *
 * Fan-out makes vscd's loop a sender above all: one console read becomes a send to every
 * viewer, and on a virtual machine each system call's entry and exit costs about as much
 * as the send's own work (docs/BENCHMARKS.md). Connections queue a request during the
 * iteration; the loop flushes the batch once its deferred work has run: with io_uring, one
 * io_uring_enter() for up to SEND_BATCH_MAX sends, each non-blocking (MSG_DONTWAIT, which
 * send_batch_init() checks finishes inline on this kernel, else io_uring is not used);
 * without it, one send() each. Each request's done() then gets what send() would have
 * returned.
 *
 * A request names its bytes only when the flush asks for them (bytes()), so its owner may
 * append to or move its buffer until then; the bytes are sent before done() runs and the
 * batch keeps no pointer to them afterwards. done() may queue, cancel or free any request.
 */
#ifndef VSC_SEND_BATCH_H
#define VSC_SEND_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEND_BATCH_MAX 256 /* sends per system call (the ring's size) */

struct send_batch;

struct send_req {
    int fd;
    /* The bytes to send now (NULL/0: nothing, done() gets 0). */
    size_t (*bytes)(struct send_req *r, const void **data);
    /* Bytes sent (> 0), 0 when there was nothing to send, or -errno (-EAGAIN: full). */
    void (*done)(struct send_req *r, ssize_t result);
    void *data;
    /* The batch's bookkeeping. */
    struct send_req *prev, *next;
    struct send_batch *queued_on; /* NULL when neither queued nor being flushed */
    int slot;                     /* index in the batch being flushed, -1 when queued */
};

struct send_batch_ring; /* io_uring, when the kernel has it */

struct send_batch {
    struct send_req *head, *tail; /* queued, in order */
    struct send_req *flushing[SEND_BATCH_MAX];
    ssize_t results[SEND_BATCH_MAX];
    struct send_batch_ring *ring; /* NULL: one send() per request */
    uint64_t sends, calls;        /* requests flushed and the system calls they took */
};

/* With use_io_uring, io_uring is used when the kernel offers it and a full socket's send
 * answers -EAGAIN inline; otherwise (and always without) every request is one send().
 * Returns 0: a batch without a ring still works (the reason is logged). */
int send_batch_init(struct send_batch *b, bool use_io_uring);
void send_batch_fini(struct send_batch *b);
bool send_batch_uses_io_uring(const struct send_batch *b);

/* Queues r (a no-op while it is queued); its fd must stay open until done() or a cancel. */
void send_batch_queue(struct send_batch *b, struct send_req *r);
/* Forgets r: its done() will not run. Safe at any time, also from another done(). */
void send_batch_cancel(struct send_batch *b, struct send_req *r);
/* Sends everything queued, including what done() callbacks queue meanwhile. */
void send_batch_flush(struct send_batch *b);

#endif
