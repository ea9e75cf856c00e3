/*
 * console — one serial console's byte streams, knowing nothing of HTTP or of the
 * backend behind it.
 *
 * Output (VM -> users): every byte goes into the ring; readers (local sockets now,
 * WebSockets later) keep their own offset and are notified when bytes arrive. A reader
 * that falls a whole ring behind skips ahead and is told how many bytes it missed; a
 * reader never slows the console or another reader.
 *
 * Input (users -> VM): console_input() queues bytes in a bounded buffer that the backend
 * drains when its fd is writable (EAGAIN and partial writes just wait). All or nothing:
 * when the bytes do not fit, nothing is queued and the writer is told (-ENOSPC); when
 * the VM side is not connected, input is refused (-ENOTCONN). Never silently dropped.
 */
#ifndef VSC_CONSOLE_H
#define VSC_CONSOLE_H

#include "ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_INPUT_MAX (64 * 1024)

struct console;

struct console_reader {
    uint64_t offset; /* next byte to deliver (absolute) */
    uint64_t missed; /* bytes skipped so far because the reader fell behind */
    void (*notify)(struct console_reader *r); /* new bytes or a state change */
    void *data;
    struct console_reader *next;
};

struct console {
    struct ring ring;
    struct console_reader *readers;
    uint8_t *input;
    size_t input_len, input_cap;
    bool connected;                         /* the VM side is present: input is accepted */
    void (*input_ready)(struct console *c); /* the backend should drain the input queue */
    void *owner;
    uint64_t bytes_from_vm, bytes_to_vm;
};

int console_init(struct console *c, size_t ring_size);
void console_fini(struct console *c);

/* Bytes the VM printed. */
void console_output(struct console *c, const void *data, size_t len);

/* Queues input for the VM: 0, -ENOSPC (queue full), -ENOTCONN (no VM attached). */
int console_input(struct console *c, const void *data, size_t len);

/* For the backend: the queued input, and how much of it was written. */
size_t console_input_pending(const struct console *c, const uint8_t **data);
void console_input_consumed(struct console *c, size_t n);

/* The VM side came or went; going drops queued input (it was for that VM session). */
void console_set_connected(struct console *c, bool connected);

/* Attaches a reader that first receives up to `history` bytes already in the ring. */
void console_attach(struct console *c, struct console_reader *r, uint64_t history);
void console_detach(struct console *c, struct console_reader *r);

/* Next chunk for a reader (see ring_peek); advance with r->offset += n. */
size_t console_peek(struct console *c, struct console_reader *r, const uint8_t **data, size_t max);

#endif
